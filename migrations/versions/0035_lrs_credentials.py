"""The learning record store's credentials, and the organization of each statement.

``lrs_credentials``: a client credential of the LRS (``GET/POST/PUT /xapi/statements``), scoped to one
organization, its secret kept as a SHA-256 digest (as the platform keeps its one-time tokens: the secret
is 32 random bytes, so a slow password hash would buy nothing and cost every request). ``xapi_statements``
gains ``organization_id``: the organization whose credential wrote a statement (NULL: the platform's own),
with an index ending in ``seq`` for a credential's pages.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lrs_credentials",
        sa.Column("key", sa.String(40), primary_key=True),
        sa.Column("secret_digest", sa.String(64), nullable=False),
        sa.Column("organization_id", sa.Uuid(), sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("scopes", sa.String(100), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_lrs_credentials_organization", "lrs_credentials", ["organization_id"])
    with op.batch_alter_table("xapi_statements") as batch:
        batch.add_column(sa.Column("organization_id", sa.Uuid(), nullable=True))
    op.create_index("ix_xapi_statements_organization_seq", "xapi_statements", ["organization_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_xapi_statements_organization_seq", table_name="xapi_statements")
    with op.batch_alter_table("xapi_statements") as batch:
        batch.drop_column("organization_id")
    op.drop_index("ix_lrs_credentials_organization", table_name="lrs_credentials")
    op.drop_table("lrs_credentials")
