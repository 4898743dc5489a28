"""Analytics: the aggregates' tables, kept by the ``analytics`` projection as statements arrive and rebuilt
from the statements by ``elearning analytics rebuild`` (docs/modules/analytics.md, "Aggregates").

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None

_LEARNER = 255


def upgrade() -> None:
    op.create_table(
        "analytics_counts",
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("metric", sa.String(16), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "metric", "period", name="pk_analytics_counts"),
    )
    op.create_index("ix_analytics_counts_metric_period", "analytics_counts", ["metric", "period"])
    op.create_table(
        "analytics_distinct",
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("metric", sa.String(16), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("learner", sa.String(_LEARNER), nullable=False),
        sa.PrimaryKeyConstraint("scope", "metric", "period", "learner", name="pk_analytics_distinct"),
    )
    op.create_table(
        "analytics_learners",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("learner", sa.String(_LEARNER), nullable=False),
        sa.Column("enrolled", sa.Boolean(), nullable=False),
        sa.Column("started", sa.Boolean(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("lessons", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("course_id", "learner", name="pk_analytics_learners"),
    )
    op.create_table(
        "analytics_lessons_done",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("learner", sa.String(_LEARNER), nullable=False),
        sa.Column("lesson_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("course_id", "learner", "lesson_id", name="pk_analytics_lessons_done"),
    )
    op.create_table(
        "analytics_videos",
        sa.Column("video_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("lesson_id", sa.Uuid(), nullable=True),
        sa.Column("length_seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("video_id", name="pk_analytics_videos"),
    )
    op.create_index("ix_analytics_videos_course_id", "analytics_videos", ["course_id"])
    op.create_table(
        "analytics_video_marks",
        sa.Column("video_id", sa.Uuid(), nullable=False),
        sa.Column("series", sa.String(1), nullable=False),
        sa.Column("second", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("video_id", "series", "second", name="pk_analytics_video_marks"),
    )
    op.create_table(
        "analytics_video_reach",
        sa.Column("video_id", sa.Uuid(), nullable=False),
        sa.Column("learner", sa.String(_LEARNER), nullable=False),
        sa.Column("furthest", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("video_id", "learner", name="pk_analytics_video_reach"),
    )
    op.create_table(
        "analytics_attempts",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("quiz_id", sa.Uuid(), nullable=False),
        sa.Column("learner", sa.String(_LEARNER), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("graded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("grade_id", sa.String(36), nullable=True),
        sa.Column("scaled", sa.Float(), nullable=True),
        sa.Column("bin", sa.Integer(), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=True),
        sa.Column("seconds", sa.Integer(), nullable=True),
        sa.Column("submitted_day", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("course_id", "quiz_id", "learner", "number", name="pk_analytics_attempts"),
    )

    op.create_table(
        "analytics_revenue",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("net_minor", sa.BigInteger(), nullable=False),
        sa.Column("purchasers", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("course_id", "month", "currency", name="pk_analytics_revenue"),
    )
    op.create_table(
        "analytics_revenue_buyers",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("customer", sa.String(_LEARNER), nullable=False),
        sa.PrimaryKeyConstraint("course_id", "month", "currency", "customer", name="pk_analytics_revenue_buyers"),
    )
    op.create_table(
        "analytics_revenue_counted",
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("transaction_id", name="pk_analytics_revenue_counted"),
    )


def downgrade() -> None:
    for name in (
        "analytics_revenue_counted",
        "analytics_revenue_buyers",
        "analytics_revenue",
        "analytics_attempts",
        "analytics_video_reach",
        "analytics_video_marks",
        "analytics_videos",
        "analytics_lessons_done",
        "analytics_learners",
        "analytics_distinct",
        "analytics_counts",
    ):
        op.drop_table(name)
