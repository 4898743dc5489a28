"""The aggregates the ``analytics`` projection keeps in SQL, after a random event history (random order,
batches, redeliveries, grades and regrades, LRS statements and voidings beside), equal the reference
computation over the stored statements, and equal what ``rebuild_aggregates`` recomputes from them; on SQLite
and PostgreSQL. Also: a read limited to the most viewed videos, the learner rename keeps the counts, and the
reads of a course that does not exist."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError
from sqlalchemy import delete, func, insert, select

from elearning_adapters.analytics.projection import project
from elearning_adapters.settings import Settings
from elearning_adapters.sql.analytics import (
    AGGREGATE_TABLES,
    SqlAggregateReads,
    SqlStatementStore,
    rebuild_aggregates,
    rename_learner,
    xapi_statements,
)
from elearning_adapters.sql.course import courses
from elearning_adapters.sql.engine import Database, metadata
from elearning_adapters.sql.identity import organizations
from elearning_core.analytics import vocabulary as v
from elearning_core.analytics.aggregates import CourseAggregates, Grain, PlatformAggregates
from elearning_core.analytics.model import Account, Activity, Agent, Statement, StatementRef, Verb
from elearning_core.progress import events as progress
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.events import DomainEvent
from tests.analytics_history import (
    BASE,
    COURSE_ZONE,
    COURSES,
    KINDS,
    LEARNERS,
    LESSON_COUNT,
    LESSONS,
    MAPPER,
    ORGANIZATION,
    PLATFORM_ZONE,
    SINCE,
    UNTIL,
    build,
    histories,
    reference,
    statements_of,
)
from tests.conftest import migrated_sqlite

NOW = datetime(2026, 5, 1, tzinfo=UTC)
_files = itertools.count()


async def setup(db: Database) -> None:
    async with db.write() as conn, conn.begin():
        ledger = (
            "ledger_entries",
            "ledger_transactions",
            "credit_notes",
            "invoice_lines",
            "invoices",
        )
        for name in (*AGGREGATE_TABLES, *ledger, "xapi_statements", "courses", "organizations"):
            await conn.execute(delete(metadata.tables[name]))
        await conn.execute(
            insert(organizations).values(id=ORGANIZATION, slug="org", name="Org", created_at=NOW, time_zone=COURSE_ZONE)
        )
        for n, course in enumerate(COURSES):
            await conn.execute(
                insert(courses).values(
                    id=course, slug=f"c{n}", title="C", summary="", description="", language="en", level="beginner",
                    tags=[], status="published", version=1, created_at=NOW, updated_at=NOW, section_count=1,
                    lesson_count=LESSON_COUNT, search_text="c", organization_id=ORGANIZATION if n == 0 else None,
                )
            )  # fmt: skip


async def lrs_statements(db: Database) -> None:
    """An organization's LRS client writes about the platform's course, then voids it: neither counts."""
    store = SqlStatementStore(db, FixedClock(NOW))
    about = Statement(
        id=uuid.uuid4(),
        actor=Agent(account=Account(home_page=BASE, name=str(LEARNERS[0]))),
        verb=Verb.of(v.REGISTERED),
        object=Activity(id=f"{BASE}/xapi/activities/course/{COURSES[0]}"),
        timestamp=NOW,
    )
    voiding = Statement(
        id=uuid.uuid4(), actor=about.actor, verb=Verb.of(v.VOIDED), object=StatementRef(id=about.id), timestamp=NOW
    )
    await store.append([about], organization=ORGANIZATION)
    await store.append([voiding], organization=ORGANIZATION)


async def read(db: Database, *, videos: int | None = None) -> tuple[list[CourseAggregates | None], PlatformAggregates]:
    reads = SqlAggregateReads(db, PLATFORM_ZONE)
    courses = [await reads.course(c, SINCE, UNTIL, videos=videos) for c in COURSES]
    return courses, await reads.platform(SINCE, UNTIL)


async def stored(db: Database) -> list[dict[str, object]]:
    s = xapi_statements
    async with db.read() as conn:
        rows = await conn.execute(
            select(s.c.statement).where(s.c.organization_id.is_(None), s.c.voided.is_(False)).order_by(s.c.seq)
        )
        return [row[0] for row in rows]


async def check(db: Database, batches: list[list[DomainEvent]]) -> None:
    await setup(db)
    await lrs_statements(db)
    for batch in batches:
        async with db.write() as conn, conn.begin():
            await project(MAPPER, FixedClock(NOW), batch, conn, platform_zone=PLATFORM_ZONE)
    statements = await stored(db)
    expected = reference(statements)
    assert expected == reference(statements_of([e for batch in batches for e in batch]))
    assert await read(db) == expected
    assert await read(db, videos=1) == reference(statements, videos=1)  # the most viewed, as the reference ranks
    await rebuild_aggregates(db, PLATFORM_ZONE, chunk_size=7)
    assert await read(db) == expected


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "sqlite" if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))


def test_the_kept_aggregates_equal_the_reference_and_the_rebuild(backend: str, tmp_path: Path) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(histories())
    def run(batches: list[list[DomainEvent]]) -> None:
        url = migrated_sqlite(tmp_path / f"{next(_files)}.db") if backend == "sqlite" else backend

        async def go() -> None:
            db = Database(url)
            try:
                await check(db, batches)
            finally:
                await db.dispose()

        asyncio.run(go())

    run()


def test_renaming_a_learner_keeps_the_counts_and_the_rebuild_agrees(backend: str, tmp_path: Path) -> None:
    url = migrated_sqlite(tmp_path / "rename.db") if backend == "sqlite" else backend

    async def go() -> None:
        db = Database(url)
        try:
            await setup(db)
            ada = str(LEARNERS[0])
            batch = [build("enrolled", 0, 0, 10, 1, 0.1, 0), build("viewed", 0, 0, 20, 1, 0.1, 0)]
            async with db.write() as conn, conn.begin():
                await project(MAPPER, FixedClock(NOW), batch, conn, platform_zone=PLATFORM_ZONE)
            before = await read(db)
            async with db.write() as conn, conn.begin():
                await rename_learner(conn, ada, "pseudonym-1")
                await conn.execute(
                    xapi_statements.update()
                    .where(xapi_statements.c.actor == f"account:{BASE}|{ada}")
                    .values(actor=f"account:{BASE}|pseudonym-1")
                )
            assert await read(db) == before
            course = before[0][0]
            assert course is not None
            assert course.funnel["started"] == 1
            assert course.active_learners[Grain.DAY][0].value == 1
            learners = metadata.tables["analytics_learners"]
            async with db.read() as conn:
                named = select(func.count()).select_from(learners).where(learners.c.learner == "pseudonym-1")
                assert (await conn.execute(named)).scalar_one() == 1
            assert await SqlAggregateReads(db, PLATFORM_ZONE).course(uuid.uuid4(), SINCE, UNTIL) is None
        finally:
            await db.dispose()

    asyncio.run(go())


def watched(video: int, learner: int, end: float, length: float | None = 60.0, course: int = 0) -> DomainEvent:
    """A heartbeat: ``learner`` watched ``video`` from 0 to ``end`` (nothing with ``end`` 0)."""
    user, where = uuid.UUID(int=0x900 + learner), COURSES[course]
    return progress.VideoWatched(
        occurred_at=NOW, course_id=where, user_id=user, aggregate_id=progress.progress_key(where, user),
        lesson_id=LESSONS[0], video_id=uuid.UUID(int=0xB00 + video), start_seconds=0, end_seconds=end,
        position_seconds=end, state="paused", playback_rate=1.0, player_session_id="s", duration_seconds=length,
    )  # fmt: skip


TOP_VIDEOS = [
    watched(0, 0, 50),  # 1 viewer
    *(watched(1, n, 10) for n in range(3)),  # 3 viewers, the first of whom watches on (a move past second 0)
    watched(1, 0, 30),
    *(watched(2, n, 20) for n in range(2)),  # 2 viewers each: 2 and 4 known, 3 not (its length is 0)
    *(watched(3, n, 20, length=None) for n in range(2)),
    *(watched(4, n, 20) for n in range(2)),
    watched(5, 0, 0),  # nobody watched it, its length known
    watched(6, 0, 0, length=None),  # nobody watched it, its length unknown: nothing to draw
    *(watched(7, n, 5, course=1) for n in range(4)),  # the other course's
]


def test_a_limited_read_has_the_most_viewed_videos_whole(backend: str, tmp_path: Path) -> None:
    url = migrated_sqlite(tmp_path / "top.db") if backend == "sqlite" else backend
    ids = {n: uuid.UUID(int=0xB00 + n) for n in range(8)}

    async def go() -> None:
        db = Database(url)
        try:
            await setup(db)
            for batch in (TOP_VIDEOS[:5], TOP_VIDEOS[5:]):
                async with db.write() as conn, conn.begin():
                    await project(MAPPER, FixedClock(NOW), batch, conn, platform_zone=PLATFORM_ZONE)
            for _ in range(2):  # as projected, then as rebuilt
                (everything, _), _ = await read(db)
                (top, _), _ = await read(db, videos=3)
                assert everything is not None
                assert top is not None
                whole = {v.video_id: v for v in everything.videos}
                assert [whole[ids[n]].viewers for n in range(7)] == [1, 3, 2, 2, 2, 0, 0]
                assert whole[ids[3]].length_seconds == 20  # no length given: the seconds watched
                assert top.videos == [whole[ids[n]] for n in (1, 2, 3)]  # 2 and 3 before 4 by id, each whole
                assert replace(top, videos=everything.videos) == everything
                (wide, _), _ = await read(db, videos=100)
                assert wide is not None
                assert wide.videos == [whole[ids[n]] for n in range(6)]  # never the one with nothing to draw
                (none, _), _ = await read(db, videos=0)
                assert none is not None
                assert none.videos == []
                assert await read(db, videos=3) == reference(await stored(db), videos=3)
                await rebuild_aggregates(db, PLATFORM_ZONE, chunk_size=4)
        finally:
            await db.dispose()

    asyncio.run(go())


@pytest.mark.postgres
def test_a_rebuild_beside_the_running_projection_loses_and_doubles_nothing(postgres_url: str) -> None:
    """Batches projected while a rebuild runs (in small chunks, so they interleave) wait on its advisory lock
    or finish before it reads: every statement is counted once either way."""
    first = [build(kind, n % 2, n % 2, 30 * n, n, (n % 10) / 10, n % 4) for n, kind in enumerate(KINDS * 3)]
    later = [build(kind, n % 2, (n + 1) % 2, 45 * n, n + 7, (n % 7) / 7, n % 4) for n, kind in enumerate(KINDS * 3)]

    async def go() -> None:
        db = Database(postgres_url)
        try:
            await setup(db)
            async with db.write() as conn, conn.begin():
                await project(MAPPER, FixedClock(NOW), first, conn, platform_zone=PLATFORM_ZONE)

            async def projecting() -> None:
                for start in range(0, len(later), 3):
                    async with db.write() as conn, conn.begin():
                        await project(
                            MAPPER, FixedClock(NOW), later[start : start + 3], conn, platform_zone=PLATFORM_ZONE
                        )
                    await asyncio.sleep(0)

            await asyncio.gather(rebuild_aggregates(db, PLATFORM_ZONE, chunk_size=2), projecting())
            expected = reference(await stored(db))
            assert expected == reference(statements_of(first + later))
            assert await read(db) == expected
        finally:
            await db.dispose()

    asyncio.run(go())


@pytest.mark.postgres
def test_two_consumers_batches_at_once_on_the_same_rows_neither_deadlock_nor_lose_anything(postgres_url: str) -> None:
    """Two workers of the consumer group (their partitions' batches in transactions at once), about the same
    learners, courses and videos, so both write the same aggregate rows: no batch fails, and every statement is
    counted once. (A lock-order mistake shows at the benchmark's scale, hundreds of rows a batch in two processes,
    not reliably at this one's: ``benchmarks/analytics_ingest.py --consumers 2`` checks the same outcome.)"""
    events = [build(kind, n % 2, (n // 2) % 2, 20 * n, n, (n % 10) / 10, n % 4) for n, kind in enumerate(KINDS * 8)]
    partitions = [events[0::2], events[1::2]]  # both about both learners in both courses

    async def go() -> None:
        db = Database(postgres_url)
        try:
            await setup(db)

            async def consumer(events: list[DomainEvent]) -> None:
                for start in range(0, len(events), 10):
                    async with db.write() as conn, conn.begin():
                        await project(
                            MAPPER, FixedClock(NOW), events[start : start + 10], conn, platform_zone=PLATFORM_ZONE
                        )
                    await asyncio.sleep(0)

            await asyncio.gather(*(consumer(p) for p in partitions))
            expected = reference(await stored(db))
            assert expected == reference(statements_of(events))
            assert await read(db) == expected
        finally:
            await db.dispose()

    asyncio.run(go())


def test_the_platform_time_zone_setting_takes_iana_names_only() -> None:
    assert Settings.in_memory(analytics_time_zone="Europe/Paris").analytics_time_zone == "Europe/Paris"
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus': use an IANA name"):
        Settings.in_memory(analytics_time_zone="Mars/Olympus")
