"""Progress: the learners' facts (lesson marks, merged watched intervals, quiz outcomes), the audit trail
of overrides and resets, the courses' completion rules, and the derived rows the projection keeps.

Existing completed enrollments are backfilled as completions by override (the staff "mark complete"
that made them), so prerequisites answered by progress keep holding.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _pair(*more: sa.Column) -> list[sa.Column]:
    return [sa.Column("course_id", sa.Uuid(), nullable=False), sa.Column("user_id", sa.Uuid(), nullable=False), *more]


def upgrade() -> None:
    op.create_table(
        "progress_lesson_marks",
        *_pair(
            sa.Column("lesson_id", sa.Uuid(), nullable=False),
            sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        ),
        sa.PrimaryKeyConstraint("course_id", "user_id", "lesson_id", name=op.f("pk_progress_lesson_marks")),
    )
    op.create_table(
        "progress_video_watches",
        *_pair(
            sa.Column("video_id", sa.Uuid(), nullable=False),
            sa.Column("intervals", sa.JSON(), nullable=False),
            sa.Column("watched_seconds", sa.Float(), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        ),
        sa.PrimaryKeyConstraint("course_id", "user_id", "video_id", name=op.f("pk_progress_video_watches")),
    )
    op.create_table(
        "progress_quiz_outcomes",
        *_pair(
            sa.Column("assessment_id", sa.Uuid(), nullable=False),
            sa.Column("best_percent", sa.Float(), nullable=True),
            sa.Column("passed", sa.Boolean(), nullable=False),
            sa.Column("submitted", sa.Boolean(), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        ),
        sa.PrimaryKeyConstraint("course_id", "user_id", "assessment_id", name=op.f("pk_progress_quiz_outcomes")),
    )
    op.create_table(
        "progress_rules",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("text_requires_done", sa.Boolean(), nullable=False),
        sa.Column("video_percent", sa.Integer(), nullable=False),
        sa.Column("assessment_requires_pass", sa.Boolean(), nullable=False),
        sa.Column("min_grade_percent", sa.Float(), nullable=True),
        sa.Column("optional_lesson_ids", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("course_id", name=op.f("pk_progress_rules")),
    )
    op.create_table(
        "progress_audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        *_pair(
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("by_user_id", sa.Uuid(), nullable=True),
            sa.Column("reason", sa.String(length=1000), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_progress_audit")),
    )
    with op.batch_alter_table("progress_audit", schema=None) as batch_op:
        batch_op.create_index("ix_progress_audit_course_id_user_id_id", ["course_id", "user_id", "id"], unique=False)
    op.create_table(
        "progress_courses",
        *_pair(
            sa.Column("required_lessons", sa.Integer(), server_default="0", nullable=False),
            sa.Column("required_completed", sa.Integer(), server_default="0", nullable=False),
            sa.Column("percent", sa.Float(), server_default="0", nullable=False),
            sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("completion_source", sa.String(length=16), nullable=True),
            sa.Column("version_number", sa.Integer(), nullable=True),
            sa.Column("last_lesson_id", sa.Uuid(), nullable=True),
            sa.Column("last_video_id", sa.Uuid(), nullable=True),
            sa.Column("last_position_seconds", sa.Float(), nullable=True),
            sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True),
        ),
        sa.PrimaryKeyConstraint("course_id", "user_id", name=op.f("pk_progress_courses")),
    )
    with op.batch_alter_table("progress_courses", schema=None) as batch_op:
        batch_op.create_index("ix_progress_courses_user_id_course_id", ["user_id", "course_id"], unique=False)
    op.create_table(
        "progress_lesson_completions",
        *_pair(
            sa.Column("lesson_id", sa.Uuid(), nullable=False),
            sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        ),
        sa.PrimaryKeyConstraint("course_id", "user_id", "lesson_id", name=op.f("pk_progress_lesson_completions")),
    )
    with op.batch_alter_table("progress_lesson_completions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_progress_lesson_completions_course_id_lesson_id", ["course_id", "lesson_id"], unique=False
        )
    # Backfill: every completed enrollment is a completion by override (staff marked it), with its trail.
    op.execute(
        "INSERT INTO progress_courses (course_id, user_id, required_lessons, required_completed, percent,"
        " completed_at, completion_source)"
        " SELECT course_id, user_id, 0, 0, 0, completed_at, 'override' FROM enrollments"
        " WHERE status = 'completed' AND completed_at IS NOT NULL"
    )
    op.execute(
        "INSERT INTO progress_audit (course_id, user_id, kind, by_user_id, reason, at)"
        " SELECT course_id, user_id, 'override', NULL, 'completed before progress was tracked', completed_at"
        " FROM enrollments WHERE status = 'completed' AND completed_at IS NOT NULL ORDER BY completed_at"
    )


def downgrade() -> None:
    with op.batch_alter_table("progress_lesson_completions", schema=None) as batch_op:
        batch_op.drop_index("ix_progress_lesson_completions_course_id_lesson_id")
    op.drop_table("progress_lesson_completions")
    with op.batch_alter_table("progress_courses", schema=None) as batch_op:
        batch_op.drop_index("ix_progress_courses_user_id_course_id")
    op.drop_table("progress_courses")
    with op.batch_alter_table("progress_audit", schema=None) as batch_op:
        batch_op.drop_index("ix_progress_audit_course_id_user_id_id")
    op.drop_table("progress_audit")
    op.drop_table("progress_rules")
    op.drop_table("progress_quiz_outcomes")
    op.drop_table("progress_video_watches")
    op.drop_table("progress_lesson_marks")
