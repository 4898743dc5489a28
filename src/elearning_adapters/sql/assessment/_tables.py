"""The assessment tables.

Questions: ``questions`` holds the aggregate's mutable head (current version,
archived); ``question_versions`` every immutable version (body and tags as
JSON, exactly the pydantic body's JSON form); ``question_tags`` the current
version's tags, one row each, so ``tagged()`` and the bank listing filter by
an index instead of reading JSON. It carries ``course_id`` (a question never
changes course) so a tag lookup starts from (course, tag) and never walks
other courses' questions that share a popular tag.

Quizzes: the columns a listing, the gradebook and the sweep filter or sort
on are columns; the slots and the rules (shuffling, limits, late and grading
policy, review) are two JSON documents, ``slots`` apart so summaries never
read it.

Attempts: ``uq_attempts_quiz_id_user_id_number`` makes a second attempt with
the same number fail the commit, and the partial unique index
``uq_attempts_one_in_progress`` (quiz, learner) WHERE status = 'in_progress'
refuses a second attempt in progress; both surface as ``AttemptExists``. The
unique key doubles as the (quiz, learner) index. ``expires_at`` is
``time_ends_at + grace_seconds``, kept by the repository, behind a partial
index on in-progress rows for the sweep. Items are their own rows so an
autosave rewrites one of them, not the attempt.

Foreign keys stay inside the module (and to ``courses``, whose deletion takes
its assessment data along, ``ON DELETE CASCADE`` all the way down); no foreign
key to ``users``, as elsewhere.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import Uuid

from elearning_adapters.sql.engine import UtcDateTime, metadata

ASSESSMENT_TABLES = (
    "attempt_items",
    "attempts",
    "quiz_grades",
    "quiz_extensions",
    "quizzes",
    "question_tags",
    "question_versions",
    "questions",
    "grading_schemes",
)
"""This module's tables, children first (an order that deletes cleanly)."""

IN_PROGRESS = text("status = 'in_progress'")
"""The partial indexes' predicates. Queries that should use them spell the same condition with a
literal (``status_is_in_progress``), as SQLite uses a partial index only for a matching literal term."""


def _json() -> JSON:
    # A None attribute is SQL NULL (not the JSON literal null), so IS NULL means "not set".
    return JSON(none_as_null=True)


questions = Table(
    "questions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("current_version", Integer, nullable=False),
    Column("archived", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
# The bank listing: a course's questions in id order.
Index("ix_questions_course_id_id", questions.c.course_id, questions.c.id)

question_versions = Table(
    "question_versions",
    metadata,
    Column("question_id", Uuid, ForeignKey("questions.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("course_id", Uuid, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("prompt", Text, nullable=False),
    Column("points", Float, nullable=False),
    Column("body", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("feedback", Text, nullable=True),
    Column("key_fix_of", Integer, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("question_id", "version"),
)

question_tags = Table(
    "question_tags",
    metadata,
    Column("question_id", Uuid, ForeignKey("questions.id", ondelete="CASCADE"), nullable=False),
    Column("tag", String(40), nullable=False),
    Column("course_id", Uuid, nullable=False),
    PrimaryKeyConstraint("question_id", "tag"),
)
# tagged() and the listing's tag filter: (course, tag) -> question ids, index-only.
Index(
    "ix_question_tags_course_id_tag_question_id",
    question_tags.c.course_id,
    question_tags.c.tag,
    question_tags.c.question_id,
)

quizzes = Table(
    "quizzes",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("category", String(60), nullable=False),
    Column("status", String(16), nullable=False),
    Column("slots", JSON, nullable=False),
    Column("settings", JSON, nullable=False),
    Column("opens_at", UtcDateTime, nullable=True),
    Column("due_at", UtcDateTime, nullable=True),
    Column("closes_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime, nullable=True),
)
Index("ix_quizzes_course_id", quizzes.c.course_id)

quiz_extensions = Table(
    "quiz_extensions",
    metadata,
    Column("quiz_id", Uuid, ForeignKey("quizzes.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("due_at", UtcDateTime, nullable=True),
    Column("closes_at", UtcDateTime, nullable=True),
    Column("extra_attempts", Integer, nullable=False),
    Column("extra_time_seconds", Integer, nullable=False),
    PrimaryKeyConstraint("quiz_id", "user_id"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("quiz_id", Uuid, ForeignKey("quizzes.id", ondelete="CASCADE"), nullable=False),
    Column("course_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("number", Integer, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("time_ends_at", UtcDateTime, nullable=True),
    Column("grace_seconds", Integer, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("submitted_at", UtcDateTime, nullable=True),
    Column("submit_reason", String(16), nullable=True),
    Column("late_seconds", Integer, nullable=False),
    Column("score", Float, nullable=True),
    Column("max_score", Float, nullable=False),
    Column("penalty_percent", Float, nullable=False),
    Column("percent", Float, nullable=True),
    Column("passed", Boolean, nullable=True),
    Column("feedback", Text, nullable=True),
    Column("graded_at", UtcDateTime, nullable=True),
    # The quiz's rules when the attempt was submitted, which its later regrades keep.
    Column("late_policy", _json(), nullable=True),
    Column("pass_mark_percent", Float, nullable=True),
    Column("version", Integer, nullable=False),
    # Also the (quiz, learner) index: a learner's attempts, a quiz's attempts, item scores per quiz.
    UniqueConstraint("quiz_id", "user_id", "number"),
)
# At most one attempt in progress per learner and quiz, whatever its number.
Index(
    "uq_attempts_one_in_progress",
    attempts.c.quiz_id,
    attempts.c.user_id,
    unique=True,
    postgresql_where=IN_PROGRESS,
    sqlite_where=IN_PROGRESS,
)
# A quiz's attempts, paged in id order (keyset).
Index("ix_attempts_quiz_id_id", attempts.c.quiz_id, attempts.c.id)
# The sweep: in-progress attempts whose time (with grace) is over.
Index("ix_attempts_expires_at", attempts.c.expires_at, postgresql_where=IN_PROGRESS, sqlite_where=IN_PROGRESS)

attempt_items = Table(
    "attempt_items",
    metadata,
    Column("attempt_id", Uuid, ForeignKey("attempts.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("question_id", Uuid, nullable=False),
    Column("version", Integer, nullable=False),
    Column("key_version", Integer, nullable=False),
    Column("points", Float, nullable=False),
    # Not "order": a reserved word in SQL.
    Column("option_order", JSON, nullable=False),
    Column("response", _json(), nullable=True),
    Column("saved_at", UtcDateTime, nullable=True),
    Column("fraction", Float, nullable=True),
    Column("score", Float, nullable=True),
    Column("needs_grading", Boolean, nullable=False),
    Column("grading_note", Text, nullable=True),
    Column("rubric", _json(), nullable=True),
    Column("feedback", Text, nullable=True),
    Column("graded_by", Uuid, nullable=True),
    Column("graded_at", UtcDateTime, nullable=True),
    PrimaryKeyConstraint("attempt_id", "position"),
)
# A regrade finds the attempts that showed a question.
Index("ix_attempt_items_question_id", attempt_items.c.question_id)
# The grading queue starts from the (few) items waiting for a person.
Index(
    "ix_attempt_items_pending",
    attempt_items.c.attempt_id,
    postgresql_where=text("needs_grading"),
    sqlite_where=text("needs_grading = 1"),
)

quiz_grades = Table(
    "quiz_grades",
    metadata,
    Column("quiz_id", Uuid, ForeignKey("quizzes.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("course_id", Uuid, nullable=False),
    Column("percent", Float, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("pending", Integer, nullable=False),
    Column("passed", Boolean, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("quiz_id", "user_id"),
)
# The gradebook reads a course's grades at once.
Index("ix_quiz_grades_course_id", quiz_grades.c.course_id)

grading_schemes = Table(
    "grading_schemes",
    metadata,
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True),
    Column("categories", JSON, nullable=False),
)
