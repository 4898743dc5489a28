"""Progress tables: the facts (compact), the derived rows the projection keeps, and their reads.

Facts: one row per learner and lesson for the view/done marks, one per learner and video for the
merged watched intervals (not one per heartbeat), one per learner and assessment for the quiz
outcome, an audit row per staff override or reset, a rules row per course. Derived: one row per
learner and course (percentages, completion, and the last activity the commands touch) and one per
completed lesson. Every fact write is a union or a maximum, so writing it twice changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
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
    cast,
    column,
    delete,
    func,
    literal,
    null,
    select,
    table,
    union,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Uuid

from elearning_adapters.sql.engine import Database, UtcDateTime, metadata
from elearning_adapters.sql.enrollment import enrollments
from elearning_adapters.sql.identity import users
from elearning_core.course.requirements import LearnerFacts, LearnerFactsReader
from elearning_core.enrollment.ports import PrerequisiteChecker
from elearning_core.progress.model import (
    CompletionRules,
    CompletionSource,
    CourseProgress,
    Interval,
    LastActivity,
    LearnerFactsInCourse,
    Override,
    QuizOutcome,
    covered_seconds,
    default_rules,
    merge_intervals,
)
from elearning_core.progress.ports import ProgressRepository
from elearning_core.progress.queries import LearnerCourseRead, LearnerProgressRow, ProgressFilter, ProgressQueries
from elearning_core.shared.events import DomainEvent

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


def _insert(conn: AsyncConnection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _pair(table: Table, course_id: uuid.UUID, user_id: uuid.UUID) -> Any:
    return (table.c.course_id == course_id) & (table.c.user_id == user_id)


def _facts_query(course_id: uuid.UUID, user_id: uuid.UUID) -> Any:
    """Every fact and lesson completion of the learner in the course, in ONE statement (the hot read):
    rows of (kind, id, number, flags)."""
    m, v, q, c = lesson_marks, video_watches, quiz_outcomes, lesson_completions
    return union_all(
        select(
            literal("viewed").label("kind"),
            m.c.lesson_id.label("id"),
            cast(null(), Float).label("number"),
            literal(0).label("flags"),
        ).where(_pair(m, course_id, user_id), m.c.viewed_at.is_not(None)),
        select(literal("done"), m.c.lesson_id, cast(null(), Float), literal(0)).where(
            _pair(m, course_id, user_id), m.c.done_at.is_not(None)
        ),
        select(literal("watched"), v.c.video_id, v.c.watched_seconds, literal(0)).where(_pair(v, course_id, user_id)),
        select(
            literal("quiz"),
            q.c.assessment_id,
            q.c.best_percent,
            q.c.passed.cast(Integer) + 2 * q.c.submitted.cast(Integer),
        ).where(_pair(q, course_id, user_id)),
        select(literal("completed"), c.c.lesson_id, cast(null(), Float), literal(0)).where(
            _pair(c, course_id, user_id)
        ),
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


class SqlProgressRepository(ProgressRepository):
    """On the caller's connection and transaction: the service's unit of work, or a projection handler's."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self.pending_events: list[DomainEvent] = []

    # -- the unit of work's view of an aggregate: the events to append at commit ---------------

    def record(self, events: Sequence[DomainEvent]) -> None:
        self.pending_events.extend(events)

    def pull_events(self) -> list[DomainEvent]:
        events, self.pending_events = self.pending_events, []
        return events

    def seen(self) -> list[SqlProgressRepository]:
        return [self]

    # -- facts -------------------------------------------------------------------------------

    async def _mark(
        self, column: str, course_id: uuid.UUID, user_id: uuid.UUID, lesson_id: uuid.UUID, at: datetime
    ) -> None:
        statement = _insert(self._conn)(lesson_marks).values(
            course_id=course_id, user_id=user_id, lesson_id=lesson_id, **{column: at}
        )
        # The first time stands: a later mark never moves it (and marking twice changes nothing).
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=["course_id", "user_id", "lesson_id"],
                set_={column: func.coalesce(lesson_marks.c[column], statement.excluded[column])},
            )
        )

    async def mark_viewed(self, course_id: uuid.UUID, user_id: uuid.UUID, lesson_id: uuid.UUID, at: datetime) -> None:
        await self._mark("viewed_at", course_id, user_id, lesson_id, at)

    async def mark_done(self, course_id: uuid.UUID, user_id: uuid.UUID, lesson_id: uuid.UUID, at: datetime) -> None:
        await self._mark("done_at", course_id, user_id, lesson_id, at)

    async def add_watched(
        self,
        course_id: uuid.UUID,
        user_id: uuid.UUID,
        video_id: uuid.UUID,
        interval: Interval,
        duration: float | None,
        at: datetime,
    ) -> float:
        where = _pair(video_watches, course_id, user_id) & (video_watches.c.video_id == video_id)
        locked = select(video_watches.c.intervals).where(where).with_for_update()
        current = (await self._conn.execute(locked)).scalar_one_or_none()
        if current is None:
            merged = merge_intervals([interval], duration)
            statement = _insert(self._conn)(video_watches).values(
                course_id=course_id,
                user_id=user_id,
                video_id=video_id,
                intervals=[list(i) for i in merged],
                watched_seconds=covered_seconds(merged),
                updated_at=at,
            )
            inserted = await self._conn.execute(statement.on_conflict_do_nothing())
            if inserted.rowcount == 1:
                return covered_seconds(merged)
            current = (await self._conn.execute(locked)).scalar_one()  # a concurrent first heartbeat won
        merged = merge_intervals([*(tuple(i) for i in current), interval], duration)
        await self._conn.execute(
            update(video_watches)
            .where(where)
            .values(intervals=[list(i) for i in merged], watched_seconds=covered_seconds(merged), updated_at=at)
        )
        return covered_seconds(merged)

    async def record_quiz(
        self, course_id: uuid.UUID, user_id: uuid.UUID, assessment_id: uuid.UUID, outcome: QuizOutcome, at: datetime
    ) -> None:
        q = quiz_outcomes
        statement = _insert(self._conn)(q).values(
            course_id=course_id,
            user_id=user_id,
            assessment_id=assessment_id,
            best_percent=outcome.best_percent,
            passed=outcome.passed,
            submitted=outcome.submitted,
            updated_at=at,
        )
        excluded = statement.excluded
        best = func.coalesce(
            # the larger of the two, either may be NULL
            func.max(q.c.best_percent, excluded.best_percent)
            if self._conn.dialect.name == "sqlite"
            else func.greatest(q.c.best_percent, excluded.best_percent),
            q.c.best_percent,
            excluded.best_percent,
        )
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=["course_id", "user_id", "assessment_id"],
                set_={
                    "best_percent": best,
                    "passed": q.c.passed | excluded.passed,
                    "submitted": q.c.submitted | excluded.submitted,
                    "updated_at": excluded.updated_at,
                },
            )
        )

    async def touch(self, course_id: uuid.UUID, user_id: uuid.UUID, last: LastActivity) -> None:
        p = course_progress
        statement = _insert(self._conn)(p).values(
            course_id=course_id,
            user_id=user_id,
            last_lesson_id=last.lesson_id,
            last_video_id=last.video_id,
            last_position_seconds=last.position_seconds,
            last_activity_at=last.at,
        )
        excluded = statement.excluded
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=["course_id", "user_id"],
                set_={
                    "last_lesson_id": excluded.last_lesson_id,
                    "last_video_id": excluded.last_video_id,
                    "last_position_seconds": excluded.last_position_seconds,
                    "last_activity_at": excluded.last_activity_at,
                },
                where=p.c.last_activity_at.is_(None) | (p.c.last_activity_at <= excluded.last_activity_at),
            )
        )

    async def facts(self, course_id: uuid.UUID, user_id: uuid.UUID) -> LearnerFactsInCourse:
        rows = (await self._conn.execute(_facts_query(course_id, user_id))).all()
        return _facts_from(rows)[0]

    async def clear_facts(self, course_id: uuid.UUID, user_id: uuid.UUID) -> None:
        for facts in (lesson_marks, video_watches, quiz_outcomes, lesson_completions, course_progress):
            await self._conn.execute(delete(facts).where(_pair(facts, course_id, user_id)))

    # -- audit -------------------------------------------------------------------------------

    async def add_audit(self, course_id: uuid.UUID, user_id: uuid.UUID, entry: Override) -> None:
        await self._conn.execute(
            audit_trail.insert().values(
                course_id=course_id,
                user_id=user_id,
                kind=entry.kind,
                by_user_id=entry.by,
                reason=entry.reason,
                at=entry.at,
            )
        )

    async def audit(self, course_id: uuid.UUID, user_id: uuid.UUID) -> list[Override]:
        rows = await self._conn.execute(
            select(audit_trail.c.kind, audit_trail.c.by_user_id, audit_trail.c.reason, audit_trail.c.at)
            .where(_pair(audit_trail, course_id, user_id))
            .order_by(audit_trail.c.id)
        )
        return [Override(r.kind, r.by_user_id, r.reason, r.at) for r in rows]

    # -- rules -------------------------------------------------------------------------------

    async def rules(self, course_id: uuid.UUID) -> CompletionRules:
        row = (
            await self._conn.execute(select(completion_rules).where(completion_rules.c.course_id == course_id))
        ).first()
        return _rules_from(course_id, row)

    async def save_rules(self, rules: CompletionRules) -> None:
        values = {
            "text_requires_done": rules.text_requires_done,
            "video_percent": rules.video_percent,
            "assessment_requires_pass": rules.assessment_requires_pass,
            "min_grade_percent": rules.min_grade_percent,
            "optional_lesson_ids": sorted(str(i) for i in rules.optional_lesson_ids),
        }
        statement = _insert(self._conn)(completion_rules).values(course_id=rules.course_id, **values)
        await self._conn.execute(statement.on_conflict_do_update(index_elements=["course_id"], set_=values))

    # -- derived -----------------------------------------------------------------------------

    async def progress(self, course_id: uuid.UUID, user_id: uuid.UUID) -> CourseProgress | None:
        row = (
            await self._conn.execute(select(course_progress).where(_pair(course_progress, course_id, user_id)))
        ).first()
        if row is None:
            return None
        completed = await self._conn.execute(
            select(lesson_completions.c.lesson_id).where(_pair(lesson_completions, course_id, user_id))
        )
        return _progress_from(row, frozenset(completed.scalars()))

    async def save_progress(self, progress: CourseProgress) -> None:
        course_id, user_id = progress.course_id, progress.user_id
        values = {
            "required_lessons": progress.required_lessons,
            "required_completed": progress.required_completed,
            "percent": progress.percent,
            "completed_at": progress.completed_at,
            "completion_source": progress.completion_source.value if progress.completion_source else None,
            "version_number": progress.version_number,
        }
        statement = _insert(self._conn)(course_progress).values(course_id=course_id, user_id=user_id, **values)
        await self._conn.execute(statement.on_conflict_do_update(index_elements=["course_id", "user_id"], set_=values))
        stored = set(
            (
                await self._conn.execute(
                    select(lesson_completions.c.lesson_id).where(_pair(lesson_completions, course_id, user_id))
                )
            ).scalars()
        )
        new = progress.completed_lesson_ids - stored
        if new:
            at = datetime.now(UTC)  # when the projection recorded it
            await self._conn.execute(
                lesson_completions.insert(),
                [
                    {"course_id": course_id, "user_id": user_id, "lesson_id": lesson_id, "completed_at": at}
                    for lesson_id in new
                ],
            )
        gone = stored - progress.completed_lesson_ids
        if gone:
            await self._conn.execute(
                delete(lesson_completions).where(
                    _pair(lesson_completions, course_id, user_id), lesson_completions.c.lesson_id.in_(list(gone))
                )
            )

    async def learners(self, course_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
        known = union(
            select(course_progress.c.user_id.label("user_id")).where(course_progress.c.course_id == course_id),
            select(enrollments.c.user_id).where(
                enrollments.c.course_id == course_id, enrollments.c.status.in_(["active", "completed"])
            ),
        ).subquery()
        query = select(known.c.user_id).order_by(known.c.user_id).limit(limit)
        if after is not None:
            query = query.where(known.c.user_id > after)
        return list((await self._conn.execute(query)).scalars())

    async def courses(self, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
        known = union(
            select(course_progress.c.course_id.label("course_id")),
            select(enrollments.c.course_id).where(enrollments.c.status.in_(["active", "completed"])),
        ).subquery()
        query = select(known.c.course_id).order_by(known.c.course_id).limit(limit)
        if after is not None:
            query = query.where(known.c.course_id > after)
        return list((await self._conn.execute(query)).scalars())

    async def wipe_derived(self, course_id: uuid.UUID | None) -> None:
        """Forget the derived state (not the facts, nor the last activity): what a rebuild from scratch starts from."""
        completions = delete(lesson_completions)
        progress = update(course_progress).values(
            required_lessons=0,
            required_completed=0,
            percent=0.0,
            completed_at=None,
            completion_source=None,
            version_number=None,
        )
        if course_id is not None:
            completions = completions.where(lesson_completions.c.course_id == course_id)
            progress = progress.where(course_progress.c.course_id == course_id)
        await self._conn.execute(completions)
        await self._conn.execute(progress)


class SqlProgressQueries(ProgressQueries):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def course_state(self, course_id: uuid.UUID, user_id: uuid.UUID) -> LearnerCourseRead:
        """Two small keyed statements: the facts and completions (one union), then the learner's row and the
        course's rules together (both outer-joined to one row, either may be missing)."""
        r = completion_rules
        one = select(literal(1).label("one")).subquery()
        state = select(
            course_progress,
            r.c.course_id.label("rules_course_id"),
            r.c.text_requires_done,
            r.c.video_percent,
            r.c.assessment_requires_pass,
            r.c.min_grade_percent,
            r.c.optional_lesson_ids,
        ).select_from(
            one.outerjoin(r, r.c.course_id == course_id).outerjoin(
                course_progress, _pair(course_progress, course_id, user_id)
            )
        )
        async with self._db.read() as conn:
            facts, completed = _facts_from((await conn.execute(_facts_query(course_id, user_id))).all())
            row = (await conn.execute(state)).one()
        found = row.course_id is not None
        return LearnerCourseRead(
            rules=_rules_from(course_id, row if row.rules_course_id is not None else None),
            facts=facts,
            progress=_progress_from(row, completed) if found else None,
            last=_last_from(row) if found else None,
        )

    async def my_courses(self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[LearnerProgressRow]:
        query = (
            select(course_progress, _courses.c.title)
            .select_from(course_progress.outerjoin(_courses, _courses.c.id == course_progress.c.course_id))
            .where(course_progress.c.user_id == user_id)
        )
        if after is not None:
            query = query.where(course_progress.c.course_id > after)
        async with self._db.read() as conn:
            rows = await conn.execute(query.order_by(course_progress.c.course_id).limit(limit))
            return [_row_from(r) for r in rows]

    async def learners(
        self, course_id: uuid.UUID, where: ProgressFilter, after: uuid.UUID | None, limit: int
    ) -> list[LearnerProgressRow]:
        query = (
            select(course_progress, users.c.display_name, users.c.email)
            .select_from(course_progress.outerjoin(users, users.c.id == course_progress.c.user_id))
            .where(course_progress.c.course_id == course_id)
        )
        if after is not None:
            query = query.where(course_progress.c.user_id > after)
        if where.completed is True:
            query = query.where(course_progress.c.completed_at.is_not(None))
        elif where.completed is False:
            query = query.where(course_progress.c.completed_at.is_(None))
        async with self._db.read() as conn:
            rows = await conn.execute(query.order_by(course_progress.c.user_id).limit(limit))
            return [_row_from(r) for r in rows]

    async def lesson_counts(self, course_id: uuid.UUID) -> dict[uuid.UUID, int]:
        query = (
            select(lesson_completions.c.lesson_id, func.count())
            .where(lesson_completions.c.course_id == course_id)
            .group_by(lesson_completions.c.lesson_id)
        )
        async with self._db.read() as conn:
            return {lesson_id: int(count) for lesson_id, count in await conn.execute(query)}


def _row_from(row: Any) -> LearnerProgressRow:
    return LearnerProgressRow(
        course_id=row.course_id,
        user_id=row.user_id,
        percent=row.percent,
        required_lessons=row.required_lessons,
        required_completed=row.required_completed,
        completed_at=row.completed_at,
        completion_source=row.completion_source,
        last_lesson_id=row.last_lesson_id,
        last_activity_at=row.last_activity_at,
        course_title=getattr(row, "title", None) or "",
        display_name=getattr(row, "display_name", None) or "",
        email=getattr(row, "email", None) or "",
    )


class SqlLearnerFactsReader(LearnerFactsReader):
    """What conditional release needs: the learner's completed lessons and quiz outcomes (one statement)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def learner_facts(self, user_id: uuid.UUID, course_id: uuid.UUID) -> LearnerFacts:
        async with self._db.read() as conn:
            facts, completed = _facts_from((await conn.execute(_facts_query(course_id, user_id))).all())
        return LearnerFacts(
            completed_lesson_ids=completed,
            best_quiz_percent={q: o.best_percent for q, o in facts.quizzes.items() if o.best_percent is not None},
            passed_quiz_ids=frozenset(q for q, o in facts.quizzes.items() if o.passed),
        )


class SqlCourseCompletions(PrerequisiteChecker):
    """The enrollment module's prerequisite check, answered by progress: the courses the learner completed."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def completed(self, user_id: uuid.UUID, course_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        if not course_ids:
            return set()
        query = select(course_progress.c.course_id).where(
            course_progress.c.user_id == user_id,
            course_progress.c.course_id.in_(list(course_ids)),
            course_progress.c.completed_at.is_not(None),
        )
        async with self._db.read() as conn:
            return set((await conn.execute(query)).scalars())
