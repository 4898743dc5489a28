"""The consumer runner against a real Kafka-protocol broker, on SQLite and PostgreSQL.

Course events are built by the real aggregate and produced with the real
``KafkaEventPublisher`` (the relay's producer), each test on a topic of its
own. Handlers write an effect row into a table the test creates, through the
connection that also holds the inbox row, so "once per event" is counted in
the database, not assumed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.kafka import KafkaEventPublisher
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.inbox import inbox, is_processed, record_processed
from elearning_adapters.sql.outbox_store import OutboxRecord
from elearning_core.course import events as ev
from elearning_core.course.model import Course
from elearning_core.shared.envelope import EventEnvelope, to_envelope
from elearning_core.shared.events import DomainEvent
from elearning_workers.consumer import ConsumerRunner, ConsumerStats, Handler, dlq_topic, run_consumer
from tests.conftest import migrated_sqlite
from tests.fakes import T0
from tests.integration.test_relay import Received, consume_everything

pytest_plugins = ["tests.integration.kafka_broker"]

WAIT = 15.0  # the bound of every wait in this module, in seconds
CREATED = ev.CourseCreated.type
SECTION_ADDED = ev.SectionAdded.type


# -- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def topic(kafka_broker: str) -> str:
    """A topic of this test's own, with two partitions."""
    name = f"test.consumer.{uuid.uuid4().hex[:10]}"
    KafkaEventPublisher(kafka_broker).ensure_topics([name], partitions=2)
    return name


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQLite file, for the tests where the backend makes no difference."""
    db = Database(migrated_sqlite(tmp_path / "consumer.db"))
    try:
        yield db
    finally:
        await db.dispose()


class Effects:
    """A side table the handlers write to: one row per handler effect (no unique key, duplicates would show)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.table = f"fx_{uuid.uuid4().hex[:10]}"
        self.calls: Counter[uuid.UUID] = Counter()

    async def create(self) -> None:
        async with self.db.write() as conn:
            await conn.execute(text(f"CREATE TABLE {self.table} (event_id VARCHAR(36) NOT NULL)"))
            await conn.commit()

    async def drop(self) -> None:
        async with self.db.write() as conn:
            await conn.execute(text(f"DROP TABLE IF EXISTS {self.table}"))
            await conn.commit()

    async def handler(self, event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert event.event_id == envelope.event_id
        self.calls[event.event_id] += 1
        await conn.execute(text(f"INSERT INTO {self.table} (event_id) VALUES (:id)"), {"id": str(event.event_id)})

    async def counts(self) -> Counter[uuid.UUID]:
        async with self.db.read() as conn:
            rows = (await conn.execute(text(f"SELECT event_id FROM {self.table}"))).scalars()
            return Counter(uuid.UUID(r) for r in rows)


@pytest.fixture
async def effects(database: Database) -> AsyncIterator[Effects]:
    fx = Effects(database)
    await fx.create()
    try:
        yield fx
    finally:
        await fx.drop()


@pytest.fixture
async def sqlite_effects(sqlite_db: Database) -> Effects:
    fx = Effects(sqlite_db)
    await fx.create()
    return fx


def course_events(courses: int) -> list[DomainEvent]:
    """Per course: created, then a section added (same key, so the same partition, in this order)."""
    events: list[DomainEvent] = []
    for i in range(courses):
        course = Course.create(title=f"Consumed {i}", slug=f"consumed-{i}-{uuid.uuid4().hex[:6]}", at=T0)
        course.add_section("Basics", T0)
        events.extend(course.pull_events())
    return events


def record(topic: str, event: DomainEvent) -> OutboxRecord:
    return OutboxRecord(
        id=0,
        event_id=event.event_id,
        topic=topic,
        message_key=str(event.aggregate_id),
        event_type=event.type,
        payload=event.payload(),
        occurred_at=event.occurred_at,
        created_at=datetime.now(UTC),
        attempts=0,
    )


async def publish(bootstrap: str, topic: str, events: list[DomainEvent]) -> None:
    publisher = KafkaEventPublisher(bootstrap, delivery_timeout=5.0)
    try:
        await publisher.publish([record(topic, e) for e in events])
    finally:
        await publisher.aclose()


def produce_raw(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in messages:
        producer.produce(topic, key=key, value=value, headers=[("origin", b"test")])
    assert producer.flush(5.0) == 0


def runner(
    db: Database,
    bootstrap: str,
    topic: str,
    handlers: dict[str, Handler],
    group: str,
    *,
    cls: type[ConsumerRunner] = ConsumerRunner,
    **options: Any,
) -> ConsumerRunner:
    settings: dict[str, Any] = {
        "consumer_name": "projector",
        "max_attempts": 3,
        "initial_backoff": 0.01,
        "max_backoff": 0.05,
        "poll_timeout": 0.1,
        "config": {"session.timeout.ms": 6000},
        **options,
    }
    return cls(group, bootstrap, [topic], handlers, db, **settings)


async def run_until(consumer: ConsumerRunner, condition: Callable[[ConsumerStats], bool], what: str) -> None:
    """Run the consumer until the condition holds on its stats, then stop it gracefully (bounded)."""
    task = asyncio.create_task(consumer.run())
    try:
        deadline = time.monotonic() + WAIT
        while not condition(consumer.stats):
            if task.done():
                await task
                raise AssertionError(f"the consumer stopped before {what}: {consumer.stats}")
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {consumer.stats}"
            await asyncio.sleep(0.02)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, WAIT)


def seen(stats: ConsumerStats) -> int:
    return stats.handled + stats.duplicates


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition (negative: nothing committed)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "session.timeout.ms": 6000})
    try:
        partitions = consumer.list_topics(topic, timeout=5).topics[topic].partitions
        return {tp.partition: tp.offset for tp in consumer.committed([TopicPartition(topic, p) for p in partitions], 5)}
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4()}"})
    try:
        partitions = consumer.list_topics(topic, timeout=5).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1] for p in partitions}
    finally:
        consumer.close()


def assert_everything_committed(bootstrap: str, group: str, topic: str) -> None:
    ends = end_offsets(bootstrap, topic)
    committed = committed_offsets(bootstrap, group, topic)
    assert {p: committed[p] for p, end in ends.items() if end > 0} == {p: e for p, e in ends.items() if e > 0}


async def inbox_count(db: Database, consumer: str = "projector") -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).where(inbox.c.consumer == consumer))).scalar_one())


# -- the inbox ------------------------------------------------------------------------------


async def test_the_inbox_records_an_event_once_per_consumer(database: Database) -> None:
    event_id = uuid.uuid4()
    async with database.write() as conn, conn.begin():
        assert not await is_processed(conn, "a", event_id)
        assert await record_processed(conn, "a", event_id)
        assert not await record_processed(conn, "a", event_id)
        assert await record_processed(conn, "b", event_id)
        assert await is_processed(conn, "a", event_id)
    async with database.write() as conn:
        await conn.begin()
        assert await record_processed(conn, "c", event_id)
        await conn.rollback()  # rolled back with the handler's effect: not processed
    async with database.read() as conn:
        assert not await is_processed(conn, "c", event_id)
    assert await inbox_count(database, "a") == 1
    assert await inbox_count(database, "b") == 1


# -- once per event ---------------------------------------------------------------------------


async def test_each_event_has_one_effect_even_when_delivered_twice(
    database: Database, effects: Effects, kafka_broker: str, topic: str
) -> None:
    events = course_events(3)
    await publish(kafka_broker, topic, events + events)  # every event twice on the topic
    handlers: dict[str, Handler] = {CREATED: effects.handler, SECTION_ADDED: effects.handler}

    first = runner(database, kafka_broker, topic, handlers, f"g-{uuid.uuid4().hex}")
    await run_until(first, lambda s: seen(s) == 12, "12 deliveries")
    assert (first.stats.handled, first.stats.duplicates, first.stats.dead_lettered) == (6, 6, 0)

    # Everything again, from the start: a new group with the same consumer (inbox) name.
    second = runner(database, kafka_broker, topic, handlers, f"g-{uuid.uuid4().hex}")
    await run_until(second, lambda s: seen(s) == 12, "12 redeliveries")
    assert (second.stats.handled, second.stats.duplicates) == (0, 12)

    assert await effects.counts() == {e.event_id: 1 for e in events}
    assert effects.calls == {e.event_id: 1 for e in events}
    assert await inbox_count(database) == 6
    assert_everything_committed(kafka_broker, first.group, topic)


class _CrashBeforeOffsetCommit(ConsumerRunner):
    """Hangs once the first message is handled and its transaction committed, before its offset is."""

    crashed = asyncio.Event()

    async def _mark_handled(self, topic: str, partition: int, offset: int) -> None:
        self.crashed.set()
        await asyncio.Event().wait()


@pytest.mark.parametrize("crash_point", ["after-the-handler-committed", "inside-the-handler"])
async def test_a_crash_before_the_offset_commit_redelivers_the_message_with_one_effect(
    database: Database, effects: Effects, kafka_broker: str, topic: str, crash_point: str
) -> None:
    events = course_events(1)  # one key: both events on one partition, created first
    await publish(kafka_broker, topic, events)
    group = f"g-{uuid.uuid4().hex}"
    crashed = asyncio.Event()

    async def hanging_handler(event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
        await effects.handler(event, envelope, conn)
        crashed.set()
        await asyncio.Event().wait()  # the effect row is written but never committed

    if crash_point == "inside-the-handler":
        doomed = runner(database, kafka_broker, topic, {CREATED: hanging_handler}, group)
    else:
        doomed = runner(database, kafka_broker, topic, {CREATED: effects.handler}, group, cls=_CrashBeforeOffsetCommit)
        assert isinstance(doomed, _CrashBeforeOffsetCommit)
        doomed.crashed = crashed
    committed_before = 1 if crash_point == "after-the-handler-committed" else 0
    await crash_then_restart(doomed, crashed, effects, kafka_broker, topic, events, committed_before=committed_before)
    assert await inbox_count(database) == 2


async def crash_then_restart(
    doomed: ConsumerRunner,
    crashed: asyncio.Event,
    effects: Effects,
    bootstrap: str,
    topic: str,
    events: list[DomainEvent],
    *,
    committed_before: int,
    **options: Any,
) -> None:
    """Run ``doomed`` until ``crashed``, kill it (nothing committed to the broker), restart its group: each
    event then has one effect, ``committed_before`` of them (committed to the database) as duplicates."""
    task = asyncio.create_task(doomed.run())
    await asyncio.wait_for(crashed.wait(), WAIT)
    task.cancel()  # the process dies here
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT)
    assert all(o < 0 for o in committed_offsets(bootstrap, doomed.group, topic).values()), "nothing was committed"
    assert sum((await effects.counts()).values()) == committed_before

    handlers: dict[str, Handler] = {CREATED: effects.handler, SECTION_ADDED: effects.handler}
    restarted = runner(effects.db, bootstrap, topic, handlers, doomed.group, **options)
    await run_until(restarted, lambda s: seen(s) == len(events), "the redelivery and the rest")
    assert (restarted.stats.handled, restarted.stats.duplicates) == (len(events) - committed_before, committed_before)
    assert await effects.counts() == {e.event_id: 1 for e in events}
    assert_everything_committed(bootstrap, doomed.group, topic)


# -- dead letters -----------------------------------------------------------------------------


async def test_a_poison_message_is_dead_lettered_after_exactly_n_attempts_and_committed(
    database: Database, effects: Effects, kafka_broker: str, topic: str
) -> None:
    events = course_events(1)
    created, section_added = events
    await publish(kafka_broker, topic, events)
    attempts: list[uuid.UUID] = []

    async def poison(event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
        await effects.handler(event, envelope, conn)  # written, then rolled back with the failure
        attempts.append(event.event_id)
        raise RuntimeError("cannot digest this")

    group = f"g-{uuid.uuid4().hex}"
    handlers: dict[str, Handler] = {CREATED: poison, SECTION_ADDED: effects.handler}
    consumer = runner(database, kafka_broker, topic, handlers, group, max_attempts=4)
    await run_until(consumer, lambda s: s.dead_lettered == 1 and s.handled == 1, "a dead letter and the next event")
    assert attempts == [created.event_id] * 4
    assert consumer.stats.failed_attempts == 4
    assert await effects.counts() == {section_added.event_id: 1}, "the failed attempts left an effect"
    assert await inbox_count(database) == 1

    original = _only(m for m in consume_everything(kafka_broker, topic) if _event_id(m) == created.event_id)
    letter = _only(consume_everything(kafka_broker, dlq_topic(topic)))
    assert (letter.key, letter.value) == (original.key, original.value)
    assert letter.headers == {
        **original.headers,
        "dlq-error": b"RuntimeError: cannot digest this",
        "dlq-attempts": b"4",
        "dlq-original-topic": topic.encode(),
        "dlq-original-partition": str(original.partition).encode(),
        "dlq-original-offset": str(original.offset).encode(),
        "dlq-consumer": b"projector",
    }
    assert set(original.headers) == {"event-type", "event-id", "content-type"}
    assert_everything_committed(kafka_broker, group, topic)

    # A new member of the group starts after the dead letter: it never sees the poison message again.
    sentinel = course_events(1)
    await publish(kafka_broker, topic, sentinel)
    attempts.clear()
    again = runner(database, kafka_broker, topic, handlers, group)
    await run_until(again, lambda s: s.handled == 1 and s.dead_lettered == 1, "the sentinel events")
    assert attempts == [sentinel[0].event_id] * 3  # only the new created event hit the poison handler
    assert (await effects.counts())[sentinel[1].event_id] == 1
    assert len(consume_everything(kafka_broker, dlq_topic(topic))) == 2


async def test_undecodable_messages_and_invalid_payloads_are_dead_lettered_without_a_handler_call(
    sqlite_db: Database, sqlite_effects: Effects, kafka_broker: str, topic: str
) -> None:
    valid = course_events(1)
    envelope = json.loads(to_envelope(valid[0], "tests").to_json())
    invalid_payload = json.dumps({**envelope, "payload": {**envelope["payload"], "title": None}}).encode()
    await asyncio.to_thread(
        produce_raw,
        kafka_broker,
        topic,
        [(b"raw", b"\xffnot json at all"), (b"raw", b'{"type": "course.created.v1"}'), (b"bad", invalid_payload)],
    )
    await publish(kafka_broker, topic, valid)
    group = f"g-{uuid.uuid4().hex}"
    handlers: dict[str, Handler] = {CREATED: sqlite_effects.handler, SECTION_ADDED: sqlite_effects.handler}
    consumer = runner(sqlite_db, kafka_broker, topic, handlers, group)
    await run_until(consumer, lambda s: s.dead_lettered == 3 and s.handled == 2, "three dead letters")
    assert consumer.stats.failed_attempts == 0, "an undecodable message is never retried"
    assert sqlite_effects.calls == {e.event_id: 1 for e in valid}

    letters = consume_everything(kafka_broker, dlq_topic(topic))
    assert sorted(m.value for m in letters) == sorted(
        [b"\xffnot json at all", b'{"type": "course.created.v1"}', invalid_payload]
    )
    for letter in letters:
        assert letter.headers["origin"] == b"test"
        assert letter.headers["dlq-error"].startswith(b"UndecodableEvent: ")
        assert letter.headers["dlq-attempts"] == b"1"
        assert letter.headers["dlq-original-topic"] == topic.encode()
    by_value = {m.value: m for m in letters}
    assert b"invalid payload" in by_value[invalid_payload].headers["dlq-error"]
    assert b"invalid envelope" in by_value[b"\xffnot json at all"].headers["dlq-error"]
    assert_everything_committed(kafka_broker, group, topic)


async def test_an_event_of_an_unhandled_type_is_skipped_and_one_of_an_unknown_type_is_dead_lettered(
    sqlite_db: Database, sqlite_effects: Effects, kafka_broker: str, topic: str
) -> None:
    events = course_events(2)
    envelope = json.loads(to_envelope(events[0], "tests").to_json())
    unknown = json.dumps({**envelope, "event_id": str(uuid.uuid4()), "type": "course.teleported.v1"}).encode()
    await asyncio.to_thread(produce_raw, kafka_broker, topic, [(b"unknown", unknown)])
    await publish(kafka_broker, topic, events)
    group = f"g-{uuid.uuid4().hex}"
    consumer = runner(sqlite_db, kafka_broker, topic, {SECTION_ADDED: sqlite_effects.handler}, group)
    await run_until(
        consumer, lambda s: s.handled == 2 and s.skipped == 2 and s.dead_lettered == 1, "handled, skipped, dead"
    )
    assert (consumer.stats.failed_attempts, consumer.stats.duplicates) == (0, 0)
    assert await sqlite_effects.counts() == {e.event_id: 1 for e in events if e.type == SECTION_ADDED}
    assert await inbox_count(sqlite_db) == 2, "skipped and dead-lettered events leave no inbox row"
    assert_everything_committed(kafka_broker, group, topic)
    (letter,) = consume_everything(kafka_broker, dlq_topic(topic))
    assert letter.value == unknown
    assert letter.headers["dlq-error"] == b"UndecodableEvent: course.teleported.v1: unknown event type"
    assert letter.headers["dlq-attempts"] == b"1"


# -- stopping and rebalancing -----------------------------------------------------------------


async def test_a_graceful_stop_leaves_no_handled_message_uncommitted(
    database: Database, effects: Effects, kafka_broker: str, topic: str
) -> None:
    events = course_events(4)
    await publish(kafka_broker, topic, events)
    group = f"g-{uuid.uuid4().hex}"
    handled: list[uuid.UUID] = []
    box: list[ConsumerRunner] = []

    async def stop_after_three(event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
        await effects.handler(event, envelope, conn)
        handled.append(event.event_id)
        if len(handled) == 3:
            box[0].stop()  # stop mid-stream: this message is finished and committed

    handlers: dict[str, Handler] = {CREATED: stop_after_three, SECTION_ADDED: stop_after_three}
    first = runner(database, kafka_broker, topic, handlers, group)
    box.append(first)
    await asyncio.wait_for(first.run(), WAIT)
    assert first.stats.handled == 3

    positions = {_event_id(m): (m.partition, m.offset) for m in consume_everything(kafka_broker, topic)}
    expected: dict[int, int] = {}
    for event_id in handled:
        partition, offset = positions[event_id]
        expected[partition] = max(expected.get(partition, 0), offset + 1)
    committed = committed_offsets(kafka_broker, group, topic)
    assert {p: o for p, o in committed.items() if o >= 0} == expected

    second = runner(database, kafka_broker, topic, {CREATED: effects.handler, SECTION_ADDED: effects.handler}, group)
    await run_until(second, lambda s: seen(s) == 5, "the five remaining events")
    assert (second.stats.handled, second.stats.duplicates) == (5, 0), "a handled message was delivered again"
    assert await effects.counts() == {e.event_id: 1 for e in events}
    assert_everything_committed(kafka_broker, group, topic)


async def two_members_through_a_rebalance(
    db: Database, effects: Effects, bootstrap: str, topic: str, *, courses: int, join_after: int, **options: Any
) -> tuple[ConsumerRunner, ConsumerRunner, list[DomainEvent]]:
    """Member one handles ``courses`` courses' events; member two joins once ``join_after`` are seen, then as
    many again are published. Returns both members (stopped, every event handled) and the events."""
    first_events = course_events(courses)
    await publish(bootstrap, topic, first_events)
    group = f"g-{uuid.uuid4().hex}"
    handlers: dict[str, Handler] = {CREATED: effects.handler, SECTION_ADDED: effects.handler}
    one = runner(db, bootstrap, topic, handlers, group, **options)
    two = runner(db, bootstrap, topic, handlers, group, **options)
    total = 4 * courses
    task_one = asyncio.create_task(one.run())
    try:
        deadline = time.monotonic() + WAIT
        while seen(one.stats) < join_after:
            assert time.monotonic() < deadline, one.stats
            await asyncio.sleep(0.02)
        task_two = asyncio.create_task(two.run())  # joins mid-stream: the partitions are rebalanced
        try:
            while not (one.assignment and two.assignment):
                assert time.monotonic() < deadline, (one.assignment, two.assignment)
                await asyncio.sleep(0.02)
            second_events = course_events(courses)
            await publish(bootstrap, topic, second_events)
            while one.stats.handled + two.stats.handled < total:
                assert time.monotonic() < deadline, (one.stats, two.stats)
                await asyncio.sleep(0.02)
        finally:
            two.stop()
            await asyncio.wait_for(task_two, WAIT)
    finally:
        one.stop()
        await asyncio.wait_for(task_one, WAIT)
    assert_everything_committed(bootstrap, group, topic)
    return one, two, first_events + second_events


async def test_two_members_of_a_group_share_the_partitions_and_handle_each_event_once(
    sqlite_db: Database, sqlite_effects: Effects, kafka_broker: str, topic: str
) -> None:
    one, two, events = await two_members_through_a_rebalance(
        sqlite_db, sqlite_effects, kafka_broker, topic, courses=6, join_after=3
    )
    # A commit racing the rebalance may fail (its generation is gone) and the message be redelivered to the
    # new owner: the inbox turns that into a duplicate, never a second effect.
    assert one.stats.handled + two.stats.handled == 24
    assert one.stats.duplicates + two.stats.duplicates <= one.stats.commit_failures + two.stats.commit_failures
    assert await sqlite_effects.counts() == {e.event_id: 1 for e in events}


async def test_run_consumer_stops_gracefully_on_sigterm(
    sqlite_db: Database, sqlite_effects: Effects, kafka_broker: str, topic: str
) -> None:
    events = course_events(1)
    await publish(kafka_broker, topic, events)
    group = f"g-{uuid.uuid4().hex}"
    both = asyncio.Event()

    async def handler(event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
        await sqlite_effects.handler(event, envelope, conn)
        if len(sqlite_effects.calls) == 2:
            both.set()

    task = asyncio.create_task(
        run_consumer(
            group,
            kafka_broker,
            [topic],
            {CREATED: handler, SECTION_ADDED: handler},
            sqlite_db,
            poll_timeout=0.1,
            config={"session.timeout.ms": 6000},
        )
    )
    await asyncio.wait_for(both.wait(), WAIT)
    os.kill(os.getpid(), signal.SIGTERM)
    stats = await asyncio.wait_for(task, WAIT)
    assert stats.handled == 2
    assert_everything_committed(kafka_broker, group, topic)


def _only(items: Any) -> Any:
    found = list(items)
    assert len(found) == 1, found
    return found[0]


def _event_id(message: Received) -> uuid.UUID:
    return uuid.UUID(message.headers["event-id"].decode())


async def test_a_consumer_started_before_its_topic_exists_handles_the_first_events(
    sqlite_db: Database, sqlite_effects: Effects, kafka_broker: str
) -> None:
    """A fresh deployment: the consumer subscribes before the relay has produced (and created) anything."""
    topic = f"test.fresh.{uuid.uuid4().hex[:10]}"  # does not exist yet; the runner makes sure it does
    group = f"g-{uuid.uuid4().hex}"
    consumer = runner(sqlite_db, kafka_broker, topic, {CREATED: sqlite_effects.handler}, group)
    task = asyncio.create_task(consumer.run())
    try:
        deadline = time.monotonic() + WAIT
        while not consumer.assignment:  # joined, with the topic's partitions assigned
            assert time.monotonic() < deadline, "the consumer was never assigned the new topic"
            assert not task.done()
            await asyncio.sleep(0.05)
        events = course_events(1)
        await publish(kafka_broker, topic, events)
        while consumer.stats.handled < 1:
            assert time.monotonic() < deadline, f"the first event was not handled: {consumer.stats}"
            await asyncio.sleep(0.05)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, WAIT)
    assert await sqlite_effects.counts() == {events[0].event_id: 1}
