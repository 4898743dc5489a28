"""Video: videos, resumable uploads in flight, captions per language, playback positions per learner.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-11
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "videos",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.String(length=1000), nullable=False),
        sa.Column("source_key", sa.String(length=500), nullable=True),
        sa.Column("source_size", sa.BigInteger(), nullable=True),
        sa.Column("source_sha256", sa.String(length=64), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("renditions", sa.JSON(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processing_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_videos_course_id_courses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_videos")),
    )
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.create_index("ix_videos_course_id_id", ["course_id", "id"], unique=False)

    op.create_table(
        "video_uploads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("video_id", sa.Uuid(), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("upload_offset", sa.BigInteger(), nullable=False),
        sa.Column("expected_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"], ["videos.id"], name=op.f("fk_video_uploads_video_id_videos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_uploads")),
    )
    with op.batch_alter_table("video_uploads", schema=None) as batch_op:
        batch_op.create_index("ix_video_uploads_video_id", ["video_id"], unique=False)

    op.create_table(
        "video_captions",
        sa.Column("video_id", sa.Uuid(), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"], ["videos.id"], name=op.f("fk_video_captions_video_id_videos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("video_id", "language", name=op.f("pk_video_captions")),
    )

    op.create_table(
        "playback_positions",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("video_id", sa.Uuid(), nullable=False),
        sa.Column("position_seconds", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"], ["videos.id"], name=op.f("fk_playback_positions_video_id_videos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "video_id", name=op.f("pk_playback_positions")),
    )
    with op.batch_alter_table("playback_positions", schema=None) as batch_op:
        batch_op.create_index("ix_playback_positions_video_id", ["video_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("playback_positions", schema=None) as batch_op:
        batch_op.drop_index("ix_playback_positions_video_id")
    op.drop_table("playback_positions")
    op.drop_table("video_captions")
    with op.batch_alter_table("video_uploads", schema=None) as batch_op:
        batch_op.drop_index("ix_video_uploads_video_id")
    op.drop_table("video_uploads")
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_index("ix_videos_course_id_id")
    op.drop_table("videos")
