"""The in-process transport of the embedded default, on SQLite and PostgreSQL.

Events are committed through the real course service; the transport relays
the real outbox to real ``EventDispatcher``s whose handlers write effect rows
(in the connection that holds the inbox row), so "once per event", "nothing
lost" and "dead-lettered, then replayed" are counted in the database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters import Platform, Settings, bootstrap
from elearning_adapters.analytics.projection import ANALYTICS
from elearning_adapters.container._billing import BILLING_DOCUMENTS
from elearning_adapters.container._certificate import CERTIFICATES
from elearning_adapters.container._checkout import CHECKOUT_INVOICING, CHECKOUT_PAYMENTS
from elearning_adapters.container._entitlement import ENTITLEMENT_CACHE
from elearning_adapters.container._notification import NOTIFICATIONS
from elearning_adapters.container._subscription import SUBSCRIPTION_BILLING, SUBSCRIPTION_PAYMENTS
from elearning_adapters.enrollment_completion import ENROLLMENT_COMPLETION
from elearning_adapters.events import InProcessEventTransport, Subscription
from elearning_adapters.events.subscriptions import CATALOG_CACHE
from elearning_adapters.learning_path_events import PATH_ENROLLER, PATH_PROGRESS
from elearning_adapters.media.processor import VIDEO_PROCESSING
from elearning_adapters.progress import PROGRESS
from elearning_adapters.search.projection import SEARCH
from elearning_adapters.sql.dead_letters import DeadLetterStore
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.inbox import inbox, record_processed
from elearning_adapters.sql.outbox import outbox
from elearning_adapters.sql.outbox_store import OutboxStore, Retention
from elearning_core.course import events as ev
from elearning_core.course.commands import CourseRef, CreateCourse, UpdateCourse
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ports import ANONYMOUS, SYSTEM
from tests.integration import test_consumer as consumer_tests
from tests.integration.test_relay import wait_until, write_course_events

COURSE_TYPES = [
    ev.CourseCreated.type,
    ev.SectionAdded.type,
    ev.LessonAdded.type,
    ev.LessonRenamed.type,
    ev.CourseDetailsChanged.type,
    ev.CoursePublished.type,
]


class Effects(consumer_tests.Effects):
    """The consumer tests' effect table (one row per handled event), plus failures on demand."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.failing: set[str] = set()  # event types whose handling raises

    async def handler(self, event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
        await super().handler(event, envelope, conn)
        if envelope.type in self.failing:
            raise RuntimeError(f"cannot handle {envelope.type}")

    def subscription(self, name: str = "test-effects") -> Subscription:
        return Subscription(name=name, description="test", handlers=dict.fromkeys(COURSE_TYPES, self.handler))


@pytest.fixture
async def effects(platform: Platform) -> AsyncIterator[Effects]:
    fx = Effects(platform.database)
    await fx.create()
    try:
        yield fx
    finally:
        await fx.drop()


def transport(platform: Platform, *subscriptions: Subscription, **options: Any) -> InProcessEventTransport:
    options = {"max_attempts": 3, "initial_backoff": 0.0, "max_backoff": 0.0, "batch_size": 7} | options
    return InProcessEventTransport(platform.database, subscriptions, **options)


async def committed_event_ids(db: Database) -> list[uuid.UUID]:
    async with db.read() as conn:
        return list((await conn.execute(select(outbox.c.event_id).order_by(outbox.c.id))).scalars())


async def unpublished(db: Database) -> int:
    return (await OutboxStore(db).pending_stats()).count


# -- delivery --------------------------------------------------------------------------------


async def test_every_committed_event_has_exactly_one_effect_and_is_marked_published(
    platform: Platform, effects: Effects
) -> None:
    await write_course_events(platform, courses=3)
    events = transport(platform, effects.subscription())

    delivered = await events.drain()

    ids = await committed_event_ids(platform.database)
    assert delivered == len(ids) == 18  # 6 events per course, in batches of 7: several rounds
    assert await effects.counts() == Counter(dict.fromkeys(ids, 1))
    assert await unpublished(platform.database) == 0
    assert await events.drain() == 0  # nothing left, nothing redone


async def test_a_redelivery_after_a_crash_before_the_mark_has_no_second_effect(
    platform: Platform, effects: Effects
) -> None:
    """The process dies after the handlers committed, before the rows were marked: they come again."""
    await write_course_events(platform, courses=2)
    first = transport(platform, effects.subscription())
    records = await OutboxStore(platform.database).peek(100)
    for record in records:  # what deliver_once does, minus the mark: the "crash" point
        assert await first._deliver(record)
    assert await unpublished(platform.database) == len(records)

    second = transport(platform, effects.subscription())
    assert await second.drain() == len(records)

    assert await effects.counts() == Counter({r.event_id: 1 for r in records})
    assert sum(effects.calls.values()) == len(records)  # the redelivery never reached the handler
    assert await unpublished(platform.database) == 0


async def test_two_subscriptions_each_get_every_event_once(platform: Platform, effects: Effects) -> None:
    other = Effects(platform.database)
    await other.create()
    await write_course_events(platform, courses=1)

    await transport(platform, effects.subscription("first"), other.subscription("second")).drain()

    ids = await committed_event_ids(platform.database)
    assert await effects.counts() == Counter(dict.fromkeys(ids, 1))
    assert await other.counts() == Counter(dict.fromkeys(ids, 1))
    async with platform.database.read() as conn:
        consumers = Counter((await conn.execute(select(inbox.c.consumer))).scalars())
    assert consumers == {"first": len(ids), "second": len(ids)}


async def test_the_background_transport_handles_a_commit_without_waiting_for_the_poll(
    platform: Platform, effects: Effects
) -> None:
    events = transport(platform, effects.subscription(), poll_seconds=30.0)  # only wake() can make it look
    events.start()
    try:
        await asyncio.sleep(0.1)  # its first (empty) round is over; it now waits for up to 30 s
        course = await platform.courses.create(SYSTEM, CreateCourse(title="Woken"))
        events.wake()  # what the container's after-commit hook does
        await wait_until(lambda: _has_effects(effects, 1), "the woken transport to handle the event", 10.0)
    finally:
        await events.stop()
    assert [r.message_key for r in await _all_outbox(platform.database)] == [str(course.id)]
    assert await unpublished(platform.database) == 0


async def _has_effects(effects: Effects, count: int) -> bool:
    return sum((await effects.counts()).values()) >= count


async def test_the_platform_wakes_its_transport_after_every_commit(tmp_path: Path) -> None:
    """bootstrap() wires the after-commit hook: a started transport handles a commit at once (poll: 1 minute)."""
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'wake.db'}", data_dir=tmp_path, events_poll_seconds=60
    )
    async with await bootstrap(settings) as platform:
        assert platform.events is not None
        platform.events.start()
        await asyncio.sleep(0.1)
        await platform.courses.create(SYSTEM, CreateCourse(title="Committed"))
        await wait_until(lambda: _drained(platform.database), "the transport to relay the commit", 10.0)


async def _drained(db: Database) -> bool:
    return await unpublished(db) == 0


# -- failures: dead letters and replay ----------------------------------------------------------


async def test_a_failing_handler_ends_in_the_dead_letter_table_after_n_tries_and_the_rest_flows_on(
    platform: Platform, effects: Effects
) -> None:
    effects.failing = {ev.CoursePublished.type}
    await write_course_events(platform, courses=2)
    events = transport(platform, effects.subscription())

    await events.drain()

    rows = await OutboxStore(platform.database).peek(100)
    assert rows == []  # every row is marked: the failures are kept as dead letters, not as a stuck outbox
    dead = await DeadLetterStore(platform.database).all()
    published = [e for e in await _all_outbox(platform.database) if e.event_type == ev.CoursePublished.type]
    assert sorted(d.event_id for d in dead if d.event_id) == sorted(e.event_id for e in published)
    assert all(d.attempts == 3 and d.consumer == "test-effects" for d in dead)
    assert all(d.error == f"RuntimeError: cannot handle {ev.CoursePublished.type}" for d in dead)
    assert all(d.topic == "elearning.course" for d in dead)
    for event in published:  # three tries, each rolled back with its inbox row: no effect
        assert effects.calls[event.event_id] == 3
    counts = await effects.counts()
    assert not any(counts[e.event_id] for e in published)
    assert sum(counts.values()) == 10  # the other 5 events of each course
    assert events.stats.dead_lettered == 2

    # Fixed: replay flags the dead letters, the transport dispatches them again and removes them.
    effects.failing = set()
    assert await DeadLetterStore(platform.database).request_replay() == 2
    await events.drain()
    assert await DeadLetterStore(platform.database).all() == []
    counts = await effects.counts()
    assert all(counts[e.event_id] == 1 for e in published)
    assert sum(counts.values()) == 12
    assert events.stats.replayed == 2


async def _all_outbox(db: Database) -> list[Any]:
    async with db.read() as conn:
        return list((await conn.execute(select(outbox).order_by(outbox.c.id))).all())


async def test_a_replay_that_fails_again_keeps_the_dead_letter_with_the_new_error(
    platform: Platform, effects: Effects
) -> None:
    effects.failing = {ev.CourseCreated.type}
    await platform.courses.create(SYSTEM, CreateCourse(title="Poison"))
    events = transport(platform, effects.subscription())
    await events.drain()
    store = DeadLetterStore(platform.database)
    (dead,) = await store.all()

    await store.request_replay([dead.id])
    await events.drain()

    (again,) = await store.all()
    assert again.id == dead.id
    assert again.attempts == 6  # 3 + 3
    assert again.replay_requested_at is None  # not retried in a loop: it waits for the next request
    assert sum((await effects.counts()).values()) == 0


@pytest.mark.parametrize(
    ("event_type", "reason"),
    [
        (ev.CourseCreated.type, "invalid payload"),  # no slug, no aggregate_id, a title of the wrong type
        ("course.teleported.v1", "course.teleported.v1: unknown event type"),  # written by a newer release
    ],
)
async def test_an_unreadable_event_is_dead_lettered_at_once_without_a_handler_call(
    platform: Platform, effects: Effects, event_type: str, reason: str
) -> None:
    now = datetime.now(UTC)
    bad_id = uuid.uuid4()
    async with platform.database.write() as conn:
        await conn.execute(
            insert(outbox).values(
                event_id=bad_id,
                topic="elearning.course",
                message_key=str(uuid.uuid4()),
                event_type=event_type,
                payload={"event_id": str(bad_id), "title": 42},
                occurred_at=now,
                created_at=now,
            )
        )
        await conn.commit()

    await transport(platform, effects.subscription()).drain()

    (dead,) = await DeadLetterStore(platform.database).all()
    assert dead.event_id == bad_id
    assert dead.attempts == 1
    assert reason in dead.error
    assert not effects.calls
    assert await unpublished(platform.database) == 0


async def test_stopping_while_a_handler_is_retried_leaves_the_row_for_the_next_run(
    platform: Platform, effects: Effects
) -> None:
    effects.failing = {ev.CourseCreated.type}
    await platform.courses.create(SYSTEM, CreateCourse(title="Stopped"))
    events = transport(platform, effects.subscription(), max_attempts=50, initial_backoff=0.2, max_backoff=0.2)
    events.start()
    await wait_until(_calls_at_least(effects, 2), "two failed attempts", 10.0)
    await events.stop()

    assert await unpublished(platform.database) == 1  # abandoned, not dead-lettered, not marked
    assert await DeadLetterStore(platform.database).all() == []

    effects.failing = set()
    await transport(platform, effects.subscription()).drain()
    assert sum((await effects.counts()).values()) == 1
    assert await unpublished(platform.database) == 0


def _calls_at_least(effects: Effects, n: int) -> Any:
    async def check() -> bool:
        return sum(effects.calls.values()) >= n

    return check


# -- retention -------------------------------------------------------------------------------


async def test_retention_prunes_old_published_rows_at_most_once_per_interval(platform: Platform) -> None:
    await write_course_events(platform, courses=1)
    store = OutboxStore(platform.database)
    rows = await store.peek(100)
    old, recent = [r.id for r in rows[:4]], [r.id for r in rows[4:]]
    await store.mark_published(old, at=datetime.now(UTC) - timedelta(days=8))
    await store.mark_published(recent[:1])
    ticks = iter([0.0, 0.0, 10.0, 700.0, 700.0])
    retention = Retention(store, timedelta(days=7), every=600.0, clock=lambda: next(ticks))

    assert await retention.maybe_prune() == 4
    assert await retention.maybe_prune() == 0  # 10 s later: not yet looked again
    await store.mark_published(recent[1:], at=datetime.now(UTC) - timedelta(days=9))
    assert await retention.maybe_prune() == 1  # 700 s later: looks again
    remaining = await _all_outbox(platform.database)
    assert [r.id for r in remaining] == recent[:1]


async def test_retention_forgets_inbox_rows_older_than_the_inbox_retention(platform: Platform) -> None:
    now = datetime.now(UTC)
    old, recent = uuid.uuid4(), uuid.uuid4()
    async with platform.database.write() as conn:
        await record_processed(conn, "c", old, at=now - timedelta(days=8))
        await record_processed(conn, "c", recent, at=now - timedelta(days=6))
        await conn.commit()

    await Retention(OutboxStore(platform.database), timedelta(days=1)).maybe_prune()  # the outbox's retention only
    async with platform.database.read() as conn:
        assert set((await conn.execute(select(inbox.c.event_id))).scalars()) == {old, recent}

    await Retention(OutboxStore(platform.database), None, keep_inbox=timedelta(days=7)).maybe_prune()

    async with platform.database.read() as conn:
        assert list((await conn.execute(select(inbox.c.event_id))).scalars()) == [recent]


async def test_no_retention_never_prunes(platform: Platform) -> None:
    await write_course_events(platform, courses=1)
    store = OutboxStore(platform.database)
    await store.mark_published([r.id for r in await store.peek(100)], at=datetime.now(UTC) - timedelta(days=365))
    assert await Retention(store, None).maybe_prune() == 0
    assert len(await _all_outbox(platform.database)) == 6


# -- the catalog cache, invalidated through the transport ----------------------------------------


async def test_a_change_committed_by_another_process_reaches_the_cached_catalog_through_the_transport(
    tmp_path: Path,
) -> None:
    """The reader caches in memory; the writer (another platform: think the CLI) cannot touch that cache.

    Only the reader's transport, handling the writer's course events from the
    shared outbox, can make the change visible.
    """
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    reader = await bootstrap(Settings(database_url=url, data_dir=tmp_path, cache="memory"))
    writer = await bootstrap(Settings(database_url=url, data_dir=tmp_path, cache="none"), run_migrations=False)
    try:
        assert reader.events is not None
        assert [s.name for s in reader.events.subscriptions] == [
            CATALOG_CACHE,
            ENROLLMENT_COMPLETION,
            VIDEO_PROCESSING,
            PATH_ENROLLER,
            PATH_PROGRESS,
            PROGRESS,
            CERTIFICATES,
            BILLING_DOCUMENTS,
            CHECKOUT_PAYMENTS,
            CHECKOUT_INVOICING,
            ENTITLEMENT_CACHE,
            SUBSCRIPTION_PAYMENTS,
            SUBSCRIPTION_BILLING,
            NOTIFICATIONS,
            SEARCH,
            ANALYTICS,
        ]
        (course_id,) = await write_course_events(writer, courses=1, title="Cached")
        await reader.events.drain()
        before = await reader.courses.get_outline(ANONYMOUS, course_id)
        assert (await reader.courses.get_outline(SYSTEM, course_id)).title == before.title  # the draft, cached too
        listed = await reader.courses.list_courses(ANONYMOUS)
        assert [c.id for c in listed.items] == [course_id]

        await writer.courses.update(SYSTEM, UpdateCourse(course_id=course_id, title="Renamed elsewhere"))
        await writer.courses.unpublish(SYSTEM, CourseRef(course_id=course_id))
        stale = await reader.courses.get_outline(SYSTEM, course_id)
        assert stale.title == before.title  # served from the reader's cache: nobody told it yet
        assert [c.id for c in (await reader.courses.list_courses(ANONYMOUS)).items] == [course_id]

        assert await reader.events.drain() == 2
        fresh = await reader.courses.get_outline(SYSTEM, course_id)
        assert fresh.title == "Renamed elsewhere"
        assert (await reader.courses.list_courses(ANONYMOUS)).items == []
    finally:
        await writer.aclose()
        await reader.aclose()


async def test_a_writer_reads_its_own_write_through_its_cache_at_once(tmp_path: Path) -> None:
    """The after-commit hook drops the writer's own cache entries: no wait for the transport."""
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'own.db'}", data_dir=tmp_path, cache="memory")
    async with await bootstrap(settings) as platform:
        (course_id,) = await write_course_events(platform, courses=1, title="Own")
        assert (await platform.courses.get_outline(ANONYMOUS, course_id)).summary == "updated"
        assert (await platform.courses.get_outline(SYSTEM, course_id)).summary == "updated"  # the draft, cached too
        await platform.courses.update(SYSTEM, UpdateCourse(course_id=course_id, summary="again"))
        assert (await platform.courses.get_outline(SYSTEM, course_id)).summary == "again"
        # Learners read published versions: theirs changes with the next publish, as soon.
        await platform.courses.publish(SYSTEM, CourseRef(course_id=course_id))
        assert (await platform.courses.get_outline(ANONYMOUS, course_id)).summary == "again"
        assert await unpublished(platform.database) > 0  # the transport has not run: the hook did it


async def test_a_bulk_import_invalidates_the_catalog_cache_at_once_not_course_by_course(tmp_path: Path) -> None:
    """An import of many courses commits once: one namespace bump, not several cache round trips per course."""
    from elearning_adapters.cache import BULK_INVALIDATION, CachedCatalogQueries, CatalogCodec, InMemoryCache
    from elearning_core.course.commands import CourseSpec, LessonSpec, SectionSpec

    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'bulk.db'}", data_dir=tmp_path, cache="memory")
    async with await bootstrap(settings) as platform:
        cache = platform.container.adapters.cache()
        assert isinstance(cache, InMemoryCache)
        assert isinstance(platform.container.course.catalog_queries(), CachedCatalogQueries)
        assert (await platform.courses.list_courses(ANONYMOUS)).items == []  # cached: an empty first page
        section = SectionSpec(title="S", lessons=[LessonSpec(title="L")])
        specs = [
            CourseSpec(slug=f"bulk-{i}", title=f"Bulk {i}", status="published", sections=[section])
            for i in range(BULK_INVALIDATION + 1)
        ]
        imported = await platform.courses.import_courses(SYSTEM, specs)

        assert len((await platform.courses.list_courses(ANONYMOUS, limit=100)).items) == len(specs)
        prefix = f"catalog:{CatalogCodec.VERSION}:"
        assert await cache.get(f"{prefix}ver:all") == b"1"  # one bump for the whole import
        for course in imported:  # and no per-course invalidation token was written
            assert await cache.get(f"{prefix}gen:{course.id}") is None
