"""The progress tables (see the package's docstring), and the mapping of their rows."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    bindparam,
    cast,
    column,
    func,
    literal,
    null,
    select,
    table,
    tuple_,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Uuid

from elearning_adapters.sql.engine import UtcDateTime, metadata
from elearning_core.progress.model import (
    CompletionRules,
    CompletionSource,
    CourseProgress,
    LastActivity,
    LearnerFactsInCourse,
    QuizOutcome,
    default_rules,
)

PROGRESS_TABLES = (
    "progress_lesson_completions",
    "progress_courses",
    "progress_audit",
    "progress_rules",
    "progress_quiz_outcomes",
    "progress_video_watches",
    "progress_lesson_marks",
)
"""Children first (what a test empties)."""

lesson_marks = Table(
    "progress_lesson_marks",
    metadata,
    Column("course_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("lesson_id", Uuid, nullable=False),
    Column("viewed_at", UtcDateTime, nullable=True),
    Column("done_at", UtcDateTime, nullable=True),
    PrimaryKeyConstraint("course_id", "user_id", "lesson_id"),
)

video_watches = Table(
    "progress_video_watches",
    metadata,
    Column("course_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("video_id", Uuid, nullable=False),
    Column("intervals", JSON, nullable=False),
    Column("watched_seconds", Float, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("course_id", "user_id", "video_id"),
)

quiz_outcomes = Table(
    "progress_quiz_outcomes",
    metadata,
    Column("course_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("assessment_id", Uuid, nullable=False),
    Column("best_percent", Float, nullable=True),
    Column("passed", Boolean, nullable=False),
    Column("submitted", Boolean, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("course_id", "user_id", "assessment_id"),
)

completion_rules = Table(
    "progress_rules",
    metadata,
    Column("course_id", Uuid, primary_key=True),
    Column("text_requires_done", Boolean, nullable=False),
    Column("video_percent", Integer, nullable=False),
    Column("assessment_requires_pass", Boolean, nullable=False),
    Column("min_grade_percent", Float, nullable=True),
    Column("optional_lesson_ids", JSON, nullable=False),
)

audit_trail = Table(
    "progress_audit",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("course_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("by_user_id", Uuid, nullable=True),
    Column("reason", String(1000), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)
Index("ix_progress_audit_course_id_user_id_id", audit_trail.c.course_id, audit_trail.c.user_id, audit_trail.c.id)

course_progress = Table(
    "progress_courses",
    metadata,
    Column("course_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("required_lessons", Integer, nullable=False, server_default="0"),
    Column("required_completed", Integer, nullable=False, server_default="0"),
    Column("percent", Float, nullable=False, server_default="0"),
    Column("completed_at", UtcDateTime, nullable=True),
    Column("completion_source", String(16), nullable=True),
    Column("version_number", Integer, nullable=True),
    Column("last_lesson_id", Uuid, nullable=True),
    Column("last_video_id", Uuid, nullable=True),
    Column("last_position_seconds", Float, nullable=True),
    Column("last_activity_at", UtcDateTime, nullable=True),
    PrimaryKeyConstraint("course_id", "user_id"),
)
# /me/progress: a learner's courses in course-id order (keyset).
Index("ix_progress_courses_user_id_course_id", course_progress.c.user_id, course_progress.c.course_id)

lesson_completions = Table(
    "progress_lesson_completions",
    metadata,
    Column("course_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("lesson_id", Uuid, nullable=False),
    Column("completed_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("course_id", "user_id", "lesson_id"),
)
# Per-lesson completion counts of a course.
Index(
    "ix_progress_lesson_completions_course_id_lesson_id", lesson_completions.c.course_id, lesson_completions.c.lesson_id
)


_courses = table("courses", column("id", Uuid), column("title", String))
"""The course module's table, read for the title /me/progress shows (a read, as the enrollment reads do)."""


def _pair(table: Table, course_id: uuid.UUID, user_id: uuid.UUID) -> Any:
    return (table.c.course_id == course_id) & (table.c.user_id == user_id)


def _unnest_insert(table: Table, columns: Sequence[str]) -> Any:
    """PostgreSQL: ``INSERT INTO table (columns) SELECT * FROM unnest(:columns...)``, one array parameter per
    column: any number of rows in one statement whose text never changes (compiled once, prepared by the
    server), where an executemany pays a round of the protocol per row."""
    arrays = [bindparam(name, type_=postgresql.ARRAY(table.c[name].type)) for name in columns]
    rows = func.unnest(*arrays).table_valued(*columns).render_derived()
    return postgresql.insert(table).from_select(list(columns), select(*(rows.c[name] for name in columns)))


def _as_arrays(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in columns}


def _facts_query(course_id: uuid.UUID, user_id: uuid.UUID) -> Any:
    """Every fact and lesson completion of the learner in the course, in ONE statement (the hot read):
    rows of (kind, id, number, flags)."""
    return _facts_union(lambda t: _pair(t, course_id, user_id), keyed=False)


def _facts_query_of(conn: AsyncConnection, pairs: Collection[tuple[uuid.UUID, uuid.UUID]]) -> Any:
    """The same for many (course, learner) pairs at once (a projection batch, a rebuild chunk): rows of
    (course_id, user_id, kind, id, number, flags)."""
    return _facts_union(lambda t: _pairs_in(conn, t, pairs), keyed=True)


def _pairs_in(conn: AsyncConnection, table: Table, pairs: Collection[tuple[uuid.UUID, uuid.UUID]]) -> Any:
    """``(course_id, user_id) IN (...)``, served by every progress table's key (or index) prefix. On PostgreSQL
    the pairs are two array parameters (``unnest``): one statement text whatever their number, so it is
    compiled once and prepared by the server, instead of a new text with two parameters a pair."""
    wanted = sorted(pairs)
    key = tuple_(table.c.course_id, table.c.user_id)
    if conn.dialect.name != "postgresql":
        return key.in_(wanted)
    arrays = (
        bindparam(name, [pair[n] for pair in wanted], type_=postgresql.ARRAY(Uuid))
        for n, name in enumerate(("pair_course_ids", "pair_user_ids"))
    )
    given = func.unnest(*arrays).table_valued("course_id", "user_id").render_derived()
    return key.in_(select(given.c.course_id, given.c.user_id))


def _facts_union(match: Callable[[Table], Any], *, keyed: bool) -> Any:
    m, v, q, c = lesson_marks, video_watches, quiz_outcomes, lesson_completions

    def pick(t: Table, *columns: Any) -> Any:
        return select(*((t.c.course_id, t.c.user_id) if keyed else ()), *columns).where(match(t))

    return union_all(
        pick(
            m,
            literal("viewed").label("kind"),
            m.c.lesson_id.label("id"),
            cast(null(), Float).label("number"),
            literal(0).label("flags"),
        ).where(m.c.viewed_at.is_not(None)),
        pick(m, literal("done"), m.c.lesson_id, cast(null(), Float), literal(0)).where(m.c.done_at.is_not(None)),
        pick(v, literal("watched"), v.c.video_id, v.c.watched_seconds, literal(0)),
        pick(
            q,
            literal("quiz"),
            q.c.assessment_id,
            q.c.best_percent,
            q.c.passed.cast(Integer) + 2 * q.c.submitted.cast(Integer),
        ),
        pick(c, literal("completed"), c.c.lesson_id, cast(null(), Float), literal(0)),
    )


def _facts_from(rows: Sequence[Any]) -> tuple[LearnerFactsInCourse, frozenset[uuid.UUID]]:
    viewed, done, completed = set(), set(), set()
    watched: dict[uuid.UUID, float] = {}
    quizzes: dict[uuid.UUID, QuizOutcome] = {}
    for kind, key, number, flags in rows:
        if kind == "viewed":
            viewed.add(key)
        elif kind == "done":
            done.add(key)
        elif kind == "watched":
            watched[key] = float(number)
        elif kind == "quiz":
            quizzes[key] = QuizOutcome(number, passed=bool(flags & 1), submitted=bool(flags & 2))
        else:
            completed.add(key)
    return LearnerFactsInCourse(frozenset(viewed), frozenset(done), watched, quizzes), frozenset(completed)


def _rules_from(course_id: uuid.UUID, row: Any) -> CompletionRules:
    if row is None:
        return default_rules(course_id)
    return CompletionRules(
        course_id,
        text_requires_done=row.text_requires_done,
        video_percent=row.video_percent,
        assessment_requires_pass=row.assessment_requires_pass,
        min_grade_percent=row.min_grade_percent,
        optional_lesson_ids=frozenset(uuid.UUID(i) for i in row.optional_lesson_ids),
    )


def _progress_from(row: Any, completed: frozenset[uuid.UUID]) -> CourseProgress:
    return CourseProgress(
        course_id=row.course_id,
        user_id=row.user_id,
        completed_lesson_ids=completed,
        required_lessons=row.required_lessons,
        required_completed=row.required_completed,
        percent=row.percent,
        completed_at=row.completed_at,
        completion_source=CompletionSource(row.completion_source) if row.completion_source else None,
        version_number=row.version_number,
    )


def _last_from(row: Any) -> LastActivity | None:
    if row is None or row.last_lesson_id is None or row.last_activity_at is None:
        return None
    return LastActivity(row.last_lesson_id, row.last_activity_at, row.last_video_id, row.last_position_seconds)
