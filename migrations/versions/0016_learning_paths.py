"""Learning paths: paths with their parts, path enrollments, course outcomes and the completion facts.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learning_paths",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("prerequisites", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_paths")),
        sa.UniqueConstraint("slug", name=op.f("uq_learning_paths_slug")),
    )
    op.create_index("ix_learning_paths_status_id", "learning_paths", ["status", "id"], unique=False)
    op.create_table(
        "path_enrollments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("path_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["path_id"], ["learning_paths.id"], name=op.f("fk_path_enrollments_path_id_learning_paths")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_path_enrollments")),
        sa.UniqueConstraint("path_id", "user_id", name=op.f("uq_path_enrollments_path_id_user_id")),
    )
    op.create_index("ix_path_enrollments_user_id_id", "path_enrollments", ["user_id", "id"], unique=False)
    op.create_table(
        "path_course_outcomes",
        sa.Column("path_enrollment_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.String(length=1000), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["path_enrollment_id"],
            ["path_enrollments.id"],
            name=op.f("fk_path_course_outcomes_path_enrollment_id_path_enrollments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("path_enrollment_id", "course_id", name=op.f("pk_path_course_outcomes")),
    )
    op.create_table(
        "path_course_completions",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "course_id", name=op.f("pk_path_course_completions")),
    )


def downgrade() -> None:
    op.drop_table("path_course_completions")
    op.drop_table("path_course_outcomes")
    op.drop_index("ix_path_enrollments_user_id_id", table_name="path_enrollments")
    op.drop_table("path_enrollments")
    op.drop_index("ix_learning_paths_status_id", table_name="learning_paths")
    op.drop_table("learning_paths")
