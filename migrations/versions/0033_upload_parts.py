"""tus uploads onto the object store: the upload's multipart upload, staged pieces and PATCH lease on
``video_uploads``, and its parts in ``video_upload_parts`` (elearning_adapters/sql/upload_parts.py).

Why: a tus upload's state must live in the database so that the next PATCH can land on any API process.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("video_uploads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("multipart_id", sa.String(1024), nullable=True))
        batch_op.add_column(sa.Column("staged", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("lease_holder", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "video_upload_parts",
        sa.Column("upload_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("etag", sa.String(200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["video_uploads.id"],
            name=op.f("fk_video_upload_parts_upload_id_video_uploads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("upload_id", "number", name=op.f("pk_video_upload_parts")),
    )


def downgrade() -> None:
    op.drop_table("video_upload_parts")
    with op.batch_alter_table("video_uploads", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_holder")
        batch_op.drop_column("staged")
        batch_op.drop_column("multipart_id")
