"""The progress store on a caller's connection: the service's unit of work, or a projection handler's."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    bindparam,
    delete,
    func,
    select,
    tuple_,
    union,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Uuid

from elearning_adapters.sql.engine import dialect_insert
from elearning_adapters.sql.enrollment import enrollments
from elearning_adapters.sql.progress._tables import (
    _as_arrays,
    _facts_from,
    _facts_query,
    _facts_query_of,
    _pair,
    _pairs_in,
    _progress_from,
    _rules_from,
    _unnest_insert,
    audit_trail,
    completion_rules,
    course_progress,
    lesson_completions,
    lesson_marks,
    quiz_outcomes,
    video_watches,
)
from elearning_core.progress.model import (
    CompletionRules,
    CourseProgress,
    Interval,
    LastActivity,
    LearnerFactsInCourse,
    Override,
    QuizOutcome,
    Watch,
    WatchKey,
    covered_seconds,
    merge_watches,
)
from elearning_core.progress.ports import Pair, ProgressRepository
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.group_commit import latest_per_key


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
        statement = dialect_insert(self._conn, lesson_marks).values(
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
        watch = Watch(course_id, user_id, video_id, interval, duration, at)
        return (await self.add_watched_many([watch]))[watch.key]

    async def add_watched_many(self, watches: Sequence[Watch]) -> dict[WatchKey, float]:
        """Lock the touched unions (in key order, so two groups never deadlock), merge in Python, then one
        insert for the new unions and one update for the others (statements built once: the hot path)."""
        if not watches:
            return {}
        at = max(w.at for w in watches)
        current = await self._locked_unions({w.key for w in watches})
        merged = merge_watches(current, watches)
        fresh = [key for key in sorted(merged) if key not in current]
        if fresh:
            rows = [_union_row(key, merged[key], at) for key in fresh]
            won = {tuple(row) for row in await self._conn.execute(_statements(self._conn).insert_unions, rows)}
            raced = {key for key in fresh if key not in won}
            if raced:  # a concurrent first heartbeat of the same union won: merge into what it wrote
                current.update(await self._locked_unions(raced))
                merged.update(merge_watches(current, [w for w in watches if w.key in raced]))
        existing = [key for key in sorted(merged) if key in current]
        if existing:
            rows = [
                {f"b_{name}": value for name, value in _union_row(key, merged[key], at).items()} for key in existing
            ]
            await self._conn.execute(_statements(self._conn).update_union, rows)
        return {key: covered_seconds(union) for key, union in merged.items()}

    async def _locked_unions(self, keys: set[WatchKey]) -> dict[WatchKey, tuple[Interval, ...]]:
        wanted = sorted(keys)
        statements = _statements(self._conn)
        if self._conn.dialect.name == "postgresql":
            columns = ("w_course_ids", "w_user_ids", "w_video_ids")
            rows = await self._conn.execute(
                statements.locked_unions, {name: [key[n] for key in wanted] for n, name in enumerate(columns)}
            )
        else:
            rows = await self._conn.execute(statements.locked_unions, {"w_keys": wanted})
        return {(c, u, vid): tuple(tuple(i) for i in intervals) for c, u, vid, intervals in rows}

    async def record_quiz(
        self, course_id: uuid.UUID, user_id: uuid.UUID, assessment_id: uuid.UUID, outcome: QuizOutcome, at: datetime
    ) -> None:
        q = quiz_outcomes
        statement = dialect_insert(self._conn, q).values(
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
        await self.touch_many([(course_id, user_id, last)])

    async def touch_many(self, entries: Sequence[tuple[uuid.UUID, uuid.UUID, LastActivity]]) -> None:
        latest = latest_per_key(((c, u), last.at, last) for c, u, last in entries)
        if not latest:
            return
        rows = [
            {
                "course_id": c,
                "user_id": u,
                "last_lesson_id": last.lesson_id,
                "last_video_id": last.video_id,
                "last_position_seconds": last.position_seconds,
                "last_activity_at": last.at,
            }
            for (c, u), last in sorted(latest.items(), key=lambda item: item[0])
        ]
        if self._conn.dialect.name == "postgresql":
            await self._conn.execute(_statements(self._conn).touch, _as_arrays(_TOUCH_COLUMNS, rows))
        else:
            await self._conn.execute(_statements(self._conn).touch, rows)

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
        statement = dialect_insert(self._conn, completion_rules).values(course_id=rules.course_id, **values)
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
        await self.save_progress_many([progress])

    # -- set-wise --------------------------------------------------------------------------

    async def facts_of(self, pairs: Collection[Pair]) -> dict[Pair, LearnerFactsInCourse]:
        rows: dict[Pair, list[Any]] = {pair: [] for pair in pairs}
        if rows:
            for course_id, user_id, *fact in await self._conn.execute(_facts_query_of(self._conn, rows)):
                rows[(course_id, user_id)].append(fact)
        return {pair: _facts_from(facts)[0] for pair, facts in rows.items()}

    async def _completed_of(self, pairs: Collection[Pair]) -> dict[Pair, set[uuid.UUID]]:
        c = lesson_completions
        completed: dict[Pair, set[uuid.UUID]] = {pair: set() for pair in pairs}
        if completed:
            query = select(c.c.course_id, c.c.user_id, c.c.lesson_id).where(_pairs_in(self._conn, c, completed))
            for course_id, user_id, lesson_id in await self._conn.execute(query):
                completed[(course_id, user_id)].add(lesson_id)
        return completed

    async def progress_of(self, pairs: Collection[Pair]) -> dict[Pair, CourseProgress]:
        if not pairs:
            return {}
        rows = (
            await self._conn.execute(select(course_progress).where(_pairs_in(self._conn, course_progress, pairs)))
        ).all()
        completed = await self._completed_of([(r.course_id, r.user_id) for r in rows])
        return {
            (r.course_id, r.user_id): _progress_from(r, frozenset(completed[(r.course_id, r.user_id)])) for r in rows
        }

    async def audits_of(self, pairs: Collection[Pair]) -> dict[Pair, list[Override]]:
        if not pairs:
            return {}
        a = audit_trail
        query = (
            select(a.c.course_id, a.c.user_id, a.c.kind, a.c.by_user_id, a.c.reason, a.c.at)
            .where(_pairs_in(self._conn, a, pairs))
            .order_by(a.c.course_id, a.c.user_id, a.c.id)
        )
        audits: dict[Pair, list[Override]] = {}
        for r in await self._conn.execute(query):
            audits.setdefault((r.course_id, r.user_id), []).append(Override(r.kind, r.by_user_id, r.reason, r.at))
        return audits

    async def save_progress_many(self, states: Sequence[CourseProgress]) -> None:
        """Three statements for any number of learners: the rows upserted, their completions read, the new ones
        inserted (a completion that is gone, only after a reset, is deleted per learner)."""
        if not states:
            return
        rows = [
            {
                "course_id": p.course_id,
                "user_id": p.user_id,
                "required_lessons": p.required_lessons,
                "required_completed": p.required_completed,
                "percent": p.percent,
                "completed_at": p.completed_at,
                "completion_source": p.completion_source.value if p.completion_source else None,
                "version_number": p.version_number,
            }
            for p in sorted(states, key=lambda p: (p.course_id, p.user_id))  # one lock order for every writer
        ]
        columns = list(rows[0])
        derived = columns[2:]
        postgres = self._conn.dialect.name == "postgresql"
        statement = (
            _unnest_insert(course_progress, columns) if postgres else dialect_insert(self._conn, course_progress)
        )
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=["course_id", "user_id"], set_={k: statement.excluded[k] for k in derived}
            ),
            _as_arrays(columns, rows) if postgres else rows,
        )
        stored = await self._completed_of([(p.course_id, p.user_id) for p in states])
        at = datetime.now(UTC)  # when the projection recorded it
        new = [
            {"course_id": p.course_id, "user_id": p.user_id, "lesson_id": lesson_id, "completed_at": at}
            for p in states
            for lesson_id in sorted(p.completed_lesson_ids - stored[(p.course_id, p.user_id)])
        ]
        if new and self._conn.dialect.name == "postgresql":
            columns = list(new[0])
            await self._conn.execute(_unnest_insert(lesson_completions, columns), _as_arrays(columns, new))
        elif new:
            await self._conn.execute(lesson_completions.insert(), new)
        for p in states:
            gone = stored[(p.course_id, p.user_id)] - p.completed_lesson_ids
            if gone:
                await self._conn.execute(
                    delete(lesson_completions).where(
                        _pair(lesson_completions, p.course_id, p.user_id),
                        lesson_completions.c.lesson_id.in_(sorted(gone)),
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

    async def ensure_enrolled_rows(self, course_id: uuid.UUID | None) -> None:
        """A derived row for every enrolled learner that has none yet (what the live projection gives on
        enrollment): then the derived rows alone name every learner a rebuild walks."""
        e = enrollments
        enrolled = select(e.c.course_id, e.c.user_id).where(e.c.status.in_(["active", "completed"])).distinct()
        if course_id is not None:
            enrolled = enrolled.where(e.c.course_id == course_id)
        statement = dialect_insert(self._conn, course_progress).from_select(["course_id", "user_id"], enrolled)
        await self._conn.execute(statement.on_conflict_do_nothing(index_elements=["course_id", "user_id"]))

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


def _union_row(key: WatchKey, union: tuple[Interval, ...], at: datetime) -> dict[str, Any]:
    course_id, user_id, video_id = key
    return {
        "course_id": course_id,
        "user_id": user_id,
        "video_id": video_id,
        "intervals": [list(i) for i in union],
        "watched_seconds": covered_seconds(union),
        "updated_at": at,
    }


_TOUCH_COLUMNS = (
    "course_id",
    "user_id",
    "last_lesson_id",
    "last_video_id",
    "last_position_seconds",
    "last_activity_at",
)


@dataclass(frozen=True)
class _HotStatements:
    """The heartbeat path's statements, built once per dialect (building an upsert costs more CPU than
    sending it); their parameters are bound per call."""

    locked_unions: Any
    insert_unions: Any
    update_union: Any
    touch: Any


@functools.cache
def _hot_statements(dialect: str) -> _HotStatements:
    v = video_watches.c
    triple = tuple_(v.course_id, v.user_id, v.video_id)
    if dialect == "postgresql":
        arrays = [
            bindparam(name, type_=postgresql.ARRAY(Uuid)) for name in ("w_course_ids", "w_user_ids", "w_video_ids")
        ]
        given = func.unnest(*arrays).table_valued("course_id", "user_id", "video_id").render_derived()
        wanted: Any = triple.in_(select(given.c.course_id, given.c.user_id, given.c.video_id))
    else:
        wanted = triple.in_(bindparam("w_keys", expanding=True))
    locked = (
        select(v.course_id, v.user_id, v.video_id, v.intervals)
        .where(wanted)
        .order_by(v.course_id, v.user_id, v.video_id)
        .with_for_update()
    )
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    insert_unions = insert(video_watches).on_conflict_do_nothing().returning(v.course_id, v.user_id, v.video_id)
    update_union = (
        update(video_watches)
        .where(
            v.course_id == bindparam("b_course_id"),
            v.user_id == bindparam("b_user_id"),
            v.video_id == bindparam("b_video_id"),
        )
        .values(
            intervals=bindparam("b_intervals"),
            watched_seconds=bindparam("b_watched_seconds"),
            updated_at=bindparam("b_updated_at"),
        )
    )
    p = course_progress
    touch = _unnest_insert(p, _TOUCH_COLUMNS) if dialect == "postgresql" else sqlite.insert(p)
    excluded = touch.excluded
    touch = touch.on_conflict_do_update(
        index_elements=["course_id", "user_id"],
        set_={name: excluded[name] for name in _TOUCH_COLUMNS[2:]},
        where=p.c.last_activity_at.is_(None) | (p.c.last_activity_at <= excluded.last_activity_at),
    )
    return _HotStatements(locked, insert_unions, update_union, touch)


def _statements(conn: AsyncConnection) -> _HotStatements:
    return _hot_statements(conn.dialect.name)
