"""Enrollment: each course's enrollment settings, cohorts, and enrollments (one row per course and learner).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "course_enrollment_settings",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("self_enrollment", sa.Boolean(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("prerequisites", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("course_id", name=op.f("pk_course_enrollment_settings")),
    )
    op.create_table(
        "cohorts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohorts")),
        sa.UniqueConstraint("course_id", "name", name=op.f("uq_cohorts_course_id_name")),
    )
    op.create_table(
        "enrollments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("cohort_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unenrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohorts.id"], name=op.f("fk_enrollments_cohort_id_cohorts"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollments")),
        sa.UniqueConstraint("course_id", "user_id", name=op.f("uq_enrollments_course_id_user_id")),
    )
    op.create_index(
        "ix_enrollments_user_id_course_id_status", "enrollments", ["user_id", "course_id", "status"], unique=False
    )
    op.create_index(
        "ix_enrollments_course_id_status_cohort_id", "enrollments", ["course_id", "status", "cohort_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_enrollments_course_id_status_cohort_id", table_name="enrollments")
    op.drop_index("ix_enrollments_user_id_course_id_status", table_name="enrollments")
    op.drop_table("enrollments")
    op.drop_table("cohorts")
    op.drop_table("course_enrollment_settings")
