"""Applying a ``Delta`` (``elearning_core.analytics.aggregating``) to the aggregates' tables, on SQLite and
PostgreSQL, inside the caller's transaction: the projection's batch, or a chunk of the rebuild.

Every write is one statement for all of the delta's rows: on PostgreSQL over one array per column (``unnest``),
elsewhere executed for each row (executemany); rows in key order, so two concurrent batches (two consumers of the
group) take their row locks in the same order and wait for each other instead of deadlocking. Counters are
``n = n + excluded.n``; a distinct count moves only by the keys a ``ON CONFLICT DO NOTHING ... RETURNING``
reports as new; flags are OR-ed, furthest seconds and lengths take the greater value, an attempt keeps its
earliest times and its latest grade: none of it depends on the order batches arrive in. An attempt's time and
day are set after its row is written (and locked by this transaction), from the row as merged.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Table, and_, bindparam, case, column, func, or_, select, table, text, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import String, Uuid

from elearning_adapters.sql.analytics._aggregate_tables import (
    REACHED,
    WATCHED,
    analytics_attempts,
    analytics_counts,
    analytics_distinct,
    analytics_learners,
    analytics_lessons_done,
    analytics_video_marks,
    analytics_video_reach,
    analytics_videos,
)
from elearning_adapters.sql.engine import dialect_insert
from elearning_core.analytics.aggregating import Attempt, AttemptKey, Delta, Zones, score_bin

_CHUNK = 500
# The course and identity modules' tables, as far as the aggregates read them (no import of their adapters).
COURSES = table("courses", column("id", Uuid), column("organization_id", Uuid), column("lesson_count"))
ORGANIZATIONS = table("organizations", column("id", Uuid), column("time_zone", String))


async def course_zones(conn: AsyncConnection, courses: Iterable[uuid.UUID], platform: str) -> Zones:
    """The time zones of ``courses`` (their organization's; the platform's for a course without one)."""
    wanted = sorted(set(courses))
    found: dict[uuid.UUID, str] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = await conn.execute(
            select(COURSES.c.id, ORGANIZATIONS.c.time_zone)
            .select_from(COURSES.join(ORGANIZATIONS, ORGANIZATIONS.c.id == COURSES.c.organization_id))
            .where(COURSES.c.id.in_(wanted[start : start + _CHUNK]))
        )
        found.update({course: zone for course, zone in rows if zone})
    return Zones(platform, found)


def _greatest(conn: AsyncConnection, a: Any, b: Any) -> Any:
    return func.greatest(a, b) if conn.dialect.name == "postgresql" else func.max(a, b)


class AggregateWriter:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def apply(self, delta: Delta, zones: Zones) -> None:
        counts = Counter(delta.counts)
        for scope, metric, period, n in await self.new_keys(
            analytics_distinct, sorted(delta.distinct), ("scope", "metric", "period", "learner")
        ):
            counts[scope, metric, period] += n
        await self._add_counts(counts)
        await self._learners(delta)
        await self._videos(delta)
        await self._attempts(delta.attempts, zones)

    async def new_keys(self, target: Table, keys: Sequence[tuple[Any, ...]], names: Sequence[str]) -> list[Any]:
        """Insert the keys; how many were new, per value of their first three columns."""
        if not keys:
            return []
        if self._conn.dialect.name == "postgresql":
            # One statement for the whole batch: the keys as one array per column, the new ones counted by
            # the server. A RETURNING insert of many rows is otherwise sent as pages of multi-row VALUES
            # (SQLAlchemy's insertmanyvalues): 1.7 s per rebuild chunk of 5,000 statements against ~0.3 s.
            columns = ", ".join(names)
            first = ", ".join(names[:3])
            arrays = [
                bindparam(f"a{i}", [key[i] for key in keys], type_=ARRAY(target.c[n].type)) for i, n in enumerate(names)
            ]
            unnest = ", ".join(f":a{i}" for i in range(len(names)))
            statement = text(
                f"WITH new AS (INSERT INTO {target.name} ({columns}) SELECT * FROM unnest({unnest}) "
                f"ON CONFLICT DO NOTHING RETURNING {first}) SELECT {first}, count(*) FROM new GROUP BY {first}"
            ).bindparams(*arrays)
            return [tuple(row) for row in await self._conn.execute(statement)]
        c = target.c
        insert = dialect_insert(self._conn, target).on_conflict_do_nothing()
        rows = [dict(zip(names, key, strict=True)) for key in keys]
        result = await self._conn.execute(insert.returning(c[names[0]], c[names[1]], c[names[2]]), rows)
        return [(*row, 1) for row in result]

    async def _add_counts(self, counts: Mapping[tuple[str, str, date], int]) -> None:
        rows = [{"scope": s, "metric": m, "period": p, "n": n} for (s, m, p), n in sorted(counts.items()) if n]
        await self._increment(analytics_counts, rows, ["scope", "metric", "period"])

    async def _increment(self, target: Table, rows: list[dict[str, Any]], keys: list[str]) -> None:
        await self.upsert(target, rows, keys, lambda x: {"n": target.c.n + x.n})

    async def upsert(
        self, target: Table, rows: list[dict[str, Any]], keys: list[str], set_: Callable[[Any], dict[str, Any]] | None
    ) -> None:
        """``INSERT rows ON CONFLICT (keys) DO UPDATE SET set_(excluded)`` (``DO NOTHING`` when ``set_`` is None);
        ``rows`` have distinct keys and the same columns. On PostgreSQL one statement over one array per column,
        its rows in key order (the order concurrent batches lock them in): an executemany of the hundreds of rows
        a batch moves took more than twice as long, most of it sending and binding each row. Elsewhere an
        executemany of the rows as the caller sorted them."""
        if not rows:
            return
        insert = dialect_insert(self._conn, target)

        def on_conflict(statement: Any) -> Any:
            if set_ is None:
                return statement.on_conflict_do_nothing(index_elements=keys)
            return statement.on_conflict_do_update(index_elements=keys, set_=set_(insert.excluded))

        if self._conn.dialect.name != "postgresql":
            await self._conn.execute(on_conflict(insert), rows)
            return
        source = _arrays(target, rows)
        ordered = select(*source.c).order_by(*(source.c[k] for k in keys))
        await self._conn.execute(on_conflict(insert.from_select(list(rows[0]), ordered)))

    async def _locked(self, rows: list[dict[str, Any]], keys: list[str], value: Any) -> list[Any]:
        """The rows of ``value``'s table with the keys of ``rows`` (their ``keys`` and ``value``), locked ``FOR UPDATE``
        in key order: on PostgreSQL one join with the keys as arrays (an IN list of hundreds of row values took
        longer to plan than to run), elsewhere in chunks of an IN list."""
        target = value.table
        columns = [*(target.c[k] for k in keys), value]
        if self._conn.dialect.name == "postgresql":
            source = _arrays(target, [{k: row[k] for k in keys} for row in rows])
            joined = target.join(source, and_(*(target.c[k] == source.c[k] for k in keys)))
            query = select(*columns).select_from(joined).order_by(*columns[:-1]).with_for_update(of=target)
            return list(await self._conn.execute(query))
        found: list[Any] = []
        wanted = [tuple(row[k] for k in keys) for row in rows]
        for start in range(0, len(wanted), _CHUNK):
            chunk = tuple_(*columns[:-1]).in_(wanted[start : start + _CHUNK])
            found.extend(
                await self._conn.execute(select(*columns).where(chunk).order_by(*columns[:-1]).with_for_update())
            )
        return found

    async def _update(self, target: Table, rows: list[dict[str, Any]], keys: list[str]) -> None:
        """Set the other columns of ``rows`` on the rows of ``target`` with their ``keys`` (rows this transaction
        has locked already): on PostgreSQL one ``UPDATE ... FROM unnest(...)``, elsewhere an executemany."""
        names = [n for n in rows[0] if n not in keys]
        if self._conn.dialect.name == "postgresql":
            source = _arrays(target, rows)
            matched = [target.c[k] == source.c[k] for k in keys]
            await self._conn.execute(update(target).where(*matched).values({n: source.c[n] for n in names}))
            return
        bound = [{f"k_{n}" if n in keys else n: v for n, v in row.items()} for row in rows]
        await self._conn.execute(
            update(target)
            .where(*(target.c[k] == bindparam(f"k_{k}") for k in keys))
            .values({n: bindparam(n) for n in names}),
            bound,
        )

    async def _learners(self, delta: Delta) -> None:
        done = await self.new_keys(analytics_lessons_done, sorted(delta.lessons), ("course_id", "learner", "lesson_id"))
        lessons: Counter[tuple[uuid.UUID, str]] = Counter()
        for course, learner, _lesson, n in done:
            lessons[course, learner] += n
        keys = sorted(set(delta.learners) | set(lessons))
        if not keys:
            return
        rows = []
        for key in keys:
            flags = delta.learners.get(key)
            rows.append(
                {
                    "course_id": key[0],
                    "learner": key[1],
                    "enrolled": bool(flags and flags.enrolled),
                    "started": bool(flags and flags.started),
                    "completed": bool(flags and flags.completed),
                    "lessons": lessons.get(key, 0),
                }
            )
        t = analytics_learners
        await self.upsert(
            t,
            rows,
            ["course_id", "learner"],
            lambda x: {
                "enrolled": or_(t.c.enrolled, x.enrolled),
                "started": or_(t.c.started, x.started),
                "completed": or_(t.c.completed, x.completed),
                "lessons": t.c.lessons + x.lessons,
            },
        )

    async def _videos(self, delta: Delta) -> None:
        t = analytics_videos
        rows = [
            {"video_id": video, "course_id": i.course, "lesson_id": i.lesson, "length_seconds": i.length}
            for video, i in sorted(delta.videos.items())
        ]
        await self.upsert(
            t,
            rows,
            ["video_id"],
            lambda x: {
                "length_seconds": _greatest(self._conn, t.c.length_seconds, x.length_seconds),
                "lesson_id": func.coalesce(t.c.lesson_id, x.lesson_id),
            },
        )
        marks = Counter({(v, WATCHED, s): n for (v, s), n in delta.marks.items()})
        if delta.reach:
            marks.update(await self._reach(delta.reach))
        counters: list[dict[str, Any]] = [
            {"video_id": v, "series": k, "second": s, "n": n} for (v, k, s), n in sorted(marks.items()) if n
        ]
        await self._increment(analytics_video_marks, counters, ["video_id", "series", "second"])

    async def _reach(self, reach: Mapping[tuple[uuid.UUID, str], int]) -> Counter[tuple[uuid.UUID, str, int]]:
        """Move the learners' furthest seconds forward; the drop-off's difference array moves with them.

        Each key's row is made (at -1: nothing watched) then read ``FOR UPDATE`` in key order, so a
        concurrent batch moving the same learner's furthest second waits for this one and then reads what it
        wrote: the move from the old value to the new is counted once."""
        t = analytics_video_reach
        keys = sorted(reach)
        made = [{"video_id": v, "learner": lr, "furthest": -1} for v, lr in keys]
        await self.upsert(t, made, ["video_id", "learner"], None)
        current = {(v, lr): int(f) for v, lr, f in await self._locked(made, ["video_id", "learner"], t.c.furthest)}
        moves: Counter[tuple[uuid.UUID, str, int]] = Counter()
        changes = []
        for key in keys:
            old, new = current[key], reach[key]
            if new > old:
                moves[key[0], REACHED, old + 1] += 1
                moves[key[0], REACHED, new + 1] -= 1
                changes.append({"video_id": key[0], "learner": key[1], "furthest": new})
        if changes:
            await self._update(t, changes, ["video_id", "learner"])
        return moves

    async def _attempts(self, attempts: Mapping[AttemptKey, Attempt], zones: Zones) -> None:
        if not attempts:
            return
        t = analytics_attempts
        rows = [
            {
                "course_id": course,
                "quiz_id": quiz,
                "learner": learner,
                "number": number,
                "attempted_at": a.attempted_at,
                "submitted_at": a.submitted_at,
                "graded_at": a.graded_at,
                "grade_id": a.grade_id,
                "scaled": a.scaled,
                "bin": score_bin(a.scaled),
                "success": a.success,
                "seconds": None,
                "submitted_day": None,
            }
            for (course, quiz, learner, number), a in sorted(attempts.items(), key=lambda item: _attempt_order(item[0]))
        ]
        insert = dialect_insert(self._conn, t)
        x = insert.excluded
        newer = and_(
            x.graded_at.is_not(None),
            or_(
                t.c.graded_at.is_(None),
                x.graded_at > t.c.graded_at,
                and_(x.graded_at == t.c.graded_at, x.grade_id > t.c.grade_id),
            ),
        )
        graded = {
            name: case((newer, x[name]), else_=t.c[name])
            for name in ("graded_at", "grade_id", "scaled", "bin", "success")
        }
        await self._conn.execute(
            insert.on_conflict_do_update(
                index_elements=["course_id", "quiz_id", "learner", "number"],
                set_={
                    "attempted_at": _earliest(t.c.attempted_at, x.attempted_at),
                    "submitted_at": _earliest(t.c.submitted_at, x.submitted_at),
                    **graded,
                },
            ),
            rows,
        )
        timed = [key for key, a in attempts.items() if a.attempted_at is not None or a.submitted_at is not None]
        await self._time(timed, zones)

    async def _time(self, keys: Sequence[AttemptKey], zones: Zones) -> None:
        """Set the time and submission day of the attempts ``keys`` from their merged rows."""
        t = analytics_attempts
        columns = (t.c.course_id, t.c.quiz_id, t.c.learner, t.c.number)
        changes = []
        wanted = sorted(keys, key=_attempt_order)
        for start in range(0, len(wanted), _CHUNK):
            found = await self._conn.execute(
                select(*columns, t.c.attempted_at, t.c.submitted_at, t.c.seconds, t.c.submitted_day).where(
                    tuple_(*columns).in_(wanted[start : start + _CHUNK]),
                    t.c.attempted_at.is_not(None),
                    t.c.submitted_at.is_not(None),
                )
            )
            for course, quiz, learner, number, attempted, submitted, seconds, day in found:
                merged = Attempt(attempted_at=attempted, submitted_at=submitted)
                now = (merged.seconds(), zones.day(submitted, course))
                if (seconds, day) != now:
                    changes.append(
                        {"c": course, "q": quiz, "l": learner, "n": number, "seconds": now[0], "submitted_day": now[1]}
                    )
        if changes:
            await self._conn.execute(
                update(t)
                .where(
                    t.c.course_id == bindparam("c"),
                    t.c.quiz_id == bindparam("q"),
                    t.c.learner == bindparam("l"),
                    t.c.number == bindparam("n"),
                )
                .values(seconds=bindparam("seconds"), submitted_day=bindparam("submitted_day")),
                changes,
            )


def _arrays(target: Table, rows: Sequence[Mapping[str, Any]]) -> Any:
    """``rows`` as a PostgreSQL ``unnest`` of one typed array per column, named as ``target``'s columns."""
    names = list(rows[0])
    arrays = [bindparam(f"a{i}", [row[n] for row in rows], type_=ARRAY(target.c[n].type)) for i, n in enumerate(names)]
    return func.unnest(*arrays).table_valued(*names).render_derived(name="input")


def _attempt_order(key: AttemptKey) -> tuple[str, str, str, int]:
    return (str(key[0]), str(key[1]), key[2], key[3])


def _earliest(stored: Any, new: Any) -> Any:
    return case((stored.is_(None), new), (new.is_(None), stored), (new < stored, new), else_=stored)
