"""The aggregates' tables (migration 0038), kept by the ``analytics`` projection in its batches' transactions
and recomputed by ``elearning analytics rebuild`` (``elearning_core.analytics.aggregating`` says what counts).

- ``analytics_counts``: counters per (scope, metric, period): a scope is a course id, ``platform``, or
  ``p:<course id>`` (a course's enrollments on the platform's days, for the top courses); distinct counts
  (active learners, posters) are counters too, moved only by a key newly inserted into
- ``analytics_distinct``: one row per (scope, metric, period, learner) counted.
- ``analytics_learners`` (funnel flags and distinct completed lessons per course and learner) and
  ``analytics_lessons_done`` (which lessons, so a lesson completed twice counts once).
- ``analytics_video_marks``: a video's heatmap (series ``w``) and drop-off (series ``r``) as difference arrays
  (+1 at a segment's first second, -1 past its last; +1 past a learner's previous furthest second, -1 past
  the new one): ingest adds two counters per segment or furthest move, the read sums at most two rows per
  second. ``analytics_video_reach``: each learner's furthest second (what the drop-off moves from);
  ``analytics_videos``: course, lesson and length.
- ``analytics_revenue`` (net and purchasers per course, month and currency; the platform's under the nil
  UUID), ``analytics_revenue_buyers`` (which purchasers) and ``analytics_revenue_counted`` (which ledger
  transactions are in), from the billing ledger (``elearning_core.analytics.revenue``).
- ``analytics_attempts``: each quiz attempt's first attempted / submitted times, its latest grade (by
  statement timestamp, then statement id) with its score bin, and its time (seconds, on its submission day).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Date, Float, Index, Integer, PrimaryKeyConstraint, String, Table
from sqlalchemy.types import Uuid

from elearning_adapters.sql.engine import UtcDateTime, metadata

LEARNER_MAX = 255

analytics_counts = Table(
    "analytics_counts",
    metadata,
    Column("scope", String(64), nullable=False),
    Column("metric", String(16), nullable=False),
    Column("period", Date, nullable=False),
    Column("n", BigInteger, nullable=False),
    PrimaryKeyConstraint("scope", "metric", "period"),
)
Index("ix_analytics_counts_metric_period", analytics_counts.c.metric, analytics_counts.c.period)

analytics_distinct = Table(
    "analytics_distinct",
    metadata,
    Column("scope", String(64), nullable=False),
    Column("metric", String(16), nullable=False),
    Column("period", Date, nullable=False),
    Column("learner", String(LEARNER_MAX), nullable=False),
    PrimaryKeyConstraint("scope", "metric", "period", "learner"),
)

analytics_learners = Table(
    "analytics_learners",
    metadata,
    Column("course_id", Uuid, nullable=False),
    Column("learner", String(LEARNER_MAX), nullable=False),
    Column("enrolled", Boolean, nullable=False),
    Column("started", Boolean, nullable=False),
    Column("completed", Boolean, nullable=False),
    Column("lessons", Integer, nullable=False),
    PrimaryKeyConstraint("course_id", "learner"),
)

analytics_lessons_done = Table(
    "analytics_lessons_done",
    metadata,
    Column("course_id", Uuid, nullable=False),
    Column("learner", String(LEARNER_MAX), nullable=False),
    Column("lesson_id", Uuid, nullable=False),
    PrimaryKeyConstraint("course_id", "learner", "lesson_id"),
)

analytics_videos = Table(
    "analytics_videos",
    metadata,
    Column("video_id", Uuid, primary_key=True),
    Column("course_id", Uuid, nullable=False),
    Column("lesson_id", Uuid, nullable=True),
    Column("length_seconds", Integer, nullable=False),
)
Index("ix_analytics_videos_course_id", analytics_videos.c.course_id)

analytics_video_marks = Table(
    "analytics_video_marks",
    metadata,
    Column("video_id", Uuid, nullable=False),
    Column("series", String(1), nullable=False),  # WATCHED or REACHED
    Column("second", Integer, nullable=False),
    Column("n", BigInteger, nullable=False),
    PrimaryKeyConstraint("video_id", "series", "second"),
)
WATCHED, REACHED = "w", "r"

analytics_video_reach = Table(
    "analytics_video_reach",
    metadata,
    Column("video_id", Uuid, nullable=False),
    Column("learner", String(LEARNER_MAX), nullable=False),
    Column("furthest", Integer, nullable=False),
    PrimaryKeyConstraint("video_id", "learner"),
)

analytics_attempts = Table(
    "analytics_attempts",
    metadata,
    Column("course_id", Uuid, nullable=False),
    Column("quiz_id", Uuid, nullable=False),
    Column("learner", String(LEARNER_MAX), nullable=False),
    Column("number", Integer, nullable=False),
    Column("attempted_at", UtcDateTime, nullable=True),
    Column("submitted_at", UtcDateTime, nullable=True),
    Column("graded_at", UtcDateTime, nullable=True),
    Column("grade_id", String(36), nullable=True),
    Column("scaled", Float, nullable=True),
    Column("bin", Integer, nullable=True),
    Column("success", Boolean, nullable=True),
    Column("seconds", Integer, nullable=True),
    Column("submitted_day", Date, nullable=True),
    PrimaryKeyConstraint("course_id", "quiz_id", "learner", "number"),
)

analytics_revenue = Table(
    "analytics_revenue",
    metadata,
    Column("course_id", Uuid, nullable=False),  # the platform's total: the nil UUID
    Column("month", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("net_minor", BigInteger, nullable=False),
    Column("purchasers", BigInteger, nullable=False),
    PrimaryKeyConstraint("course_id", "month", "currency"),
)

analytics_revenue_buyers = Table(
    "analytics_revenue_buyers",
    metadata,
    Column("course_id", Uuid, nullable=False),
    Column("month", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("customer", String(LEARNER_MAX), nullable=False),
    PrimaryKeyConstraint("course_id", "month", "currency", "customer"),
)

analytics_revenue_counted = Table(
    "analytics_revenue_counted",
    metadata,
    Column("transaction_id", Uuid, primary_key=True),
)
"""The ledger transactions already counted: the projection (on an invoice's events) and the rebuild (from the
ledger) may both meet one; whichever inserts it first counts it."""

AGGREGATE_TABLES = (
    "analytics_counts",
    "analytics_distinct",
    "analytics_learners",
    "analytics_lessons_done",
    "analytics_videos",
    "analytics_video_marks",
    "analytics_video_reach",
    "analytics_attempts",
    "analytics_revenue",
    "analytics_revenue_buyers",
    "analytics_revenue_counted",
)
