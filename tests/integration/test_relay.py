"""The event backbone's first half: envelope, outbox claims and the relay into a real Kafka-protocol broker.

Events are written through the real services and unit of work, relayed by
``OutboxRelay`` with ``KafkaEventPublisher``, and read back with a plain
consumer, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import select, update

from elearning_adapters import Platform, Settings, bootstrap
from elearning_adapters.kafka import KafkaEventPublisher
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.outbox import outbox
from elearning_adapters.sql.outbox_store import OutboxRecord, OutboxStore
from elearning_core.course import events as ev
from elearning_core.course.commands import AddLesson, AddSection, CourseRef, CreateCourse, RenameLesson, UpdateCourse
from elearning_core.course.model import Course, LessonContent, SectionRelease
from elearning_core.course.requirements import Requirement, RequirementKind
from elearning_core.shared.envelope import UndecodableEvent, decode, to_envelope
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ports import SYSTEM
from elearning_workers.main import main as workers_main
from elearning_workers.relay import OutboxRelay
from tests.fakes import T0, minutes
from tests.integration.conftest import COURSE_TOPIC

if TYPE_CHECKING:
    from tests.integration.kafka_broker import KafkaBroker

# The broker fixtures (kafka_broker, kafka_control); loaded as a plugin so pytest rewrites its asserts.
pytest_plugins = ["tests.integration.kafka_broker"]

TOPIC = COURSE_TOPIC
WAIT = 20.0  # the bound of every wait in this module, in seconds


# -- envelope (pure) ----------------------------------------------------------------


def every_course_event() -> list[DomainEvent]:
    course = Course.create(title="All events", slug="all-events", at=T0, owner_id=uuid.uuid4())  # type: ignore[arg-type]
    a = course.add_section("A", T0)
    b = course.add_section("B", T0)
    course.rename_section(a.id, "A!", T0)
    course.reorder_sections([b.id, a.id], T0)
    one = course.add_lesson(a.id, "One", T0)
    two = course.add_lesson(a.id, "Two", T0)
    course.rename_lesson(a.id, one.id, "One!", T0)
    course.reorder_lessons(a.id, [two.id, one.id], T0)
    course.remove_lesson(a.id, two.id, T0)
    course.remove_section(b.id, T0)
    course.change_details(T0, level="advanced", tags=["t"], summary="sum")
    course.set_lesson_content(a.id, one.id, LessonContent(body_markdown="text", duration_seconds=3), T0)
    course.set_section_release(a.id, SectionRelease(release_after_days=7), T0)
    three = course.add_lesson(a.id, "Three", T0)
    course.set_lesson_requirements(a.id, three.id, [Requirement(RequirementKind.LESSON, lesson_id=one.id)], T0)
    course.publish(T0 + minutes(1))
    course.unpublish(T0 + minutes(2))
    course.archive(T0 + minutes(3))
    draft = Course.create(title="Deleted", slug=None, at=T0)
    draft.pull_events()
    draft.mark_deleted(T0 + minutes(4))
    # No longer written, but old outbox rows and messages of the first published event must still decode.
    old_published = ev.CoursePublishedV1(
        occurred_at=T0, aggregate_id=course.id, slug=course.slug, published_at=T0 + minutes(1)
    )
    return [*course.pending_events, *draft.pending_events, old_published]


def test_every_course_event_type_round_trips_through_the_envelope() -> None:
    events = every_course_event()
    course_event_types = {
        cls.type for cls in vars(ev).values() if isinstance(cls, type) and issubclass(cls, DomainEvent) and cls.type
    }
    assert {e.type for e in events} == course_event_types
    for event in events:
        envelope = decode(to_envelope(event, "tests", correlation_id="corr-1").to_json())
        assert (envelope.event_id, envelope.type, envelope.aggregate_id) == (
            event.event_id,
            event.type,
            event.aggregate_id,
        )
        assert (envelope.producer, envelope.correlation_id, envelope.schema_version) == (
            "tests",
            "corr-1",
            type(event).schema_version(),
        )
        assert envelope.occurred_at == event.occurred_at
        back = envelope.event()
        assert type(back) is type(event)
        assert back == event


def a_wire_envelope(**changes: Any) -> dict[str, Any]:
    event = every_course_event()[0]
    data: dict[str, Any] = json.loads(to_envelope(event, "tests").to_json())
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"{not json", id="invalid-json"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(json.dumps({"type": "course.created.v1"}).encode(), id="missing-fields"),
        pytest.param(json.dumps(a_wire_envelope(event_id="nope")).encode(), id="bad-event-id"),
        pytest.param(json.dumps(a_wire_envelope(type="course.created")).encode(), id="unversioned-type"),
        pytest.param(json.dumps(a_wire_envelope(schema_version=2)).encode(), id="version-contradicts-type"),
    ],
)
def test_malformed_envelopes_are_undecodable(data: bytes) -> None:
    with pytest.raises(UndecodableEvent):
        decode(data)


def test_an_unknown_event_type_is_undecodable() -> None:
    envelope = decode(json.dumps(a_wire_envelope(type="course.teleported.v1")).encode())
    with pytest.raises(UndecodableEvent, match="unknown event type") as info:
        envelope.event()
    assert info.value.event_type == "course.teleported.v1"


@pytest.mark.parametrize(
    "payload_change",
    [
        pytest.param({"title": None}, id="wrong-field-type"),
        pytest.param({"unexpected": 1}, id="unknown-field"),
        pytest.param({"slug": "__drop__"}, id="missing-field"),
        pytest.param({"event_id": str(uuid.uuid4())}, id="id-contradicts-envelope"),
    ],
)
def test_an_invalid_payload_is_undecodable(payload_change: dict[str, Any]) -> None:
    data = a_wire_envelope()
    payload = {**data["payload"], **payload_change}
    payload = {k: v for k, v in payload.items() if v != "__drop__"}
    envelope = decode(json.dumps({**data, "payload": payload}).encode())
    with pytest.raises(UndecodableEvent) as info:
        envelope.event()
    assert info.value.event_type == "course.created.v1"


# -- helpers (the platform and course_topic fixtures are in conftest.py) ----------------------


async def write_course_events(platform: Platform, courses: int, *, title: str = "Course") -> list[uuid.UUID]:
    """Interleave commands over several courses so their outbox rows alternate between keys."""
    svc = platform.courses
    created = [
        await svc.create(SYSTEM, CreateCourse(title=f"{title} {i} {uuid.uuid4().hex[:6]}")) for i in range(courses)
    ]
    ids: list[uuid.UUID] = [c.id for c in created]
    sections = [await svc.add_section(SYSTEM, AddSection(course_id=cid, title="Basics")) for cid in ids]
    lessons = [
        await svc.add_lesson(SYSTEM, AddLesson(course_id=cid, section_id=s.id, title="First"))
        for cid, s in zip(ids, sections, strict=True)
    ]
    for cid, s, lesson in zip(ids, sections, lessons, strict=True):
        await svc.rename_lesson(SYSTEM, RenameLesson(course_id=cid, section_id=s.id, lesson_id=lesson.id, title="1st"))
    for cid in ids:
        await svc.update(SYSTEM, UpdateCourse(course_id=cid, summary="updated"))
    for cid in ids:
        await svc.publish(SYSTEM, CourseRef(course_id=cid))
    return ids


async def outbox_rows(db: Database) -> list[Any]:
    async with db.read() as conn:
        return list((await conn.execute(select(outbox).order_by(outbox.c.id))).all())


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str, seconds: float = WAIT) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


async def drained(db: Database) -> bool:
    return (await OutboxStore(db).pending_stats()).count == 0


@dataclass
class Received:
    partition: int
    offset: int
    key: bytes
    headers: dict[str, bytes]
    value: bytes

    @property
    def event_id(self) -> uuid.UUID:
        return uuid.UUID(self.headers["event-id"].decode())


def consume_everything(bootstrap_servers: str, topic: str = TOPIC) -> list[Received]:
    """Every message on the topic, from the start up to the end as of now (bounded in time)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"test-relay-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=5).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1] for p in partitions}
        consumer.subscribe([topic])
        position = {p: 0 for p in partitions}
        received: list[Received] = []
        deadline = time.monotonic() + WAIT
        while any(position[p] < ends[p] for p in partitions):
            assert time.monotonic() < deadline, f"consumed {position}, expected up to {ends}"
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            partition, offset, key, value = msg.partition(), msg.offset(), msg.key(), msg.value()
            assert partition is not None
            assert offset is not None
            assert isinstance(key, bytes)
            assert value is not None
            position[partition] = offset + 1
            if offset < ends[partition]:
                raw = msg.headers() or []
                pairs = list(raw.items()) if isinstance(raw, dict) else raw
                headers = {name: data for name, data in pairs if isinstance(data, bytes)}
                received.append(Received(partition, offset, key, headers, value))
        return received
    finally:
        consumer.close()


def ours(received: list[Received], rows: Sequence[Any]) -> list[Received]:
    """The messages of this test's rows (the topic is shared by the whole session)."""
    wanted = {row.event_id for row in rows}
    return [m for m in received if m.event_id in wanted]


def assert_delivered_exactly_once_in_order(received: list[Received], rows: Sequence[Any]) -> None:
    mine = ours(received, rows)
    counts = Counter(m.event_id for m in mine)
    assert {row.event_id for row in rows} == set(counts), "some events never arrived"
    assert set(counts.values()) == {1}, f"duplicates: {[e for e, n in counts.items() if n > 1]}"
    assert_per_key_order(mine, rows)
    by_id = {row.event_id: row for row in rows}
    for message in mine:
        row = by_id[message.event_id]
        assert message.key == row.message_key.encode()
        assert message.headers == {
            "event-type": row.event_type.encode(),
            "event-id": str(row.event_id).encode(),
            "content-type": b"application/json",
        }
        envelope = decode(message.value)
        assert (envelope.event_id, envelope.type, str(envelope.aggregate_id)) == (
            row.event_id,
            row.event_type,
            row.message_key,
        )
        assert envelope.occurred_at == row.occurred_at
        assert envelope.producer == "elearning-platform"
        assert envelope.event().payload() == row.payload


def assert_per_key_order(messages: list[Received], rows: Sequence[Any]) -> None:
    """For every aggregate, the first delivery of each event follows commit (outbox id) order."""
    expected: dict[str, list[uuid.UUID]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.id):
        expected[row.message_key].append(row.event_id)
    seen: dict[str, list[uuid.UUID]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    for message in sorted(messages, key=lambda m: (m.partition, m.offset)):
        key = message.key.decode()
        partitions[key].add(message.partition)
        if message.event_id not in seen[key]:
            seen[key].append(message.event_id)
    assert all(len(p) == 1 for p in partitions.values()), "a key spread over several partitions"
    assert dict(seen) == dict(expected)


async def run_relay_until_drained(relay: OutboxRelay, db: Database) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await wait_until(lambda: drained(db), "the outbox to drain")
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT)


def publisher(bootstrap_servers: str, **kwargs: Any) -> KafkaEventPublisher:
    return KafkaEventPublisher(bootstrap_servers, **kwargs)


# -- the relay --------------------------------------------------------------------------


async def test_the_relay_delivers_every_event_once_in_commit_order_per_key(
    platform: Platform,
    kafka_broker: str,
    course_topic: str,
) -> None:
    await write_course_events(platform, courses=6)
    rows = await outbox_rows(platform.database)
    assert len(rows) == 6 * 6
    pub = publisher(kafka_broker)
    relay = OutboxRelay(platform.database, pub, batch_size=7, idle_sleep=0.02, max_backoff=0.5)

    await run_relay_until_drained(relay, platform.database)
    await pub.aclose()

    after = await outbox_rows(platform.database)
    assert all(r.published_at is not None and r.attempts == 1 and r.last_error is None for r in after)
    assert relay.stats.published == len(rows)
    assert relay.stats.batches == -(-len(rows) // 7)
    received = await asyncio.to_thread(consume_everything, kafka_broker)
    assert_delivered_exactly_once_in_order(received, rows)


@pytest.mark.postgres
@pytest.mark.parametrize("platform", ["postgres"], indirect=True)
async def test_two_relays_on_postgresql_never_claim_the_same_row_and_keep_per_key_order(
    platform: Platform,
    kafka_broker: str,
    course_topic: str,
) -> None:
    db = platform.database
    await write_course_events(platform, courses=8, title="Before")
    pubs = [publisher(kafka_broker), publisher(kafka_broker)]
    relays = [OutboxRelay(db, p, batch_size=5, idle_sleep=0.01, max_backoff=0.5) for p in pubs]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in relays]
    try:
        # Keep writing while both relays run, so claims race with fresh commits.
        await write_course_events(platform, courses=8, title="During")
        await wait_until(lambda: drained(db), "the outbox to drain")
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), WAIT)
        for p in pubs:
            await p.aclose()

    rows = await outbox_rows(db)
    assert len(rows) == 2 * 8 * 6
    assert all(r.published_at is not None for r in rows)
    assert sum(r.stats.published for r in relays) == len(rows)
    assert all(r.stats.published > 0 for r in relays), [r.stats for r in relays]
    received = await asyncio.to_thread(consume_everything, kafka_broker)
    assert_delivered_exactly_once_in_order(received, rows)


async def test_with_the_broker_down_writes_succeed_nothing_is_marked_and_the_backlog_drains_later(
    platform: Platform,
    kafka_broker: str,
    kafka_control: KafkaBroker,
    course_topic: str,
) -> None:
    db = platform.database
    pub = publisher(kafka_broker, delivery_timeout=1.0)
    relay = OutboxRelay(db, pub, batch_size=10, idle_sleep=0.02, max_backoff=0.3, initial_backoff=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await write_course_events(platform, courses=2, title="Up")
        await wait_until(lambda: drained(db), "the first events to drain")
        published_before = {r.id for r in await outbox_rows(db)}

        kafka_control.stop()
        await write_course_events(platform, courses=3, title="Down")  # the relay is failing meanwhile
        await wait_until(lambda: _true(relay.stats.consecutive_failures >= 2), "two failed relay rounds")
        backlog = [r for r in await outbox_rows(db) if r.id not in published_before]
        assert len(backlog) == 3 * 6
        assert all(r.published_at is None for r in backlog), "a row was marked while the broker was down"
        assert any(r.attempts >= 1 and r.last_error for r in backlog)

        await asyncio.to_thread(kafka_control.start)
        await wait_until(lambda: drained(db), "the backlog to drain after the restart")
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT)
        await pub.aclose()

    rows = await outbox_rows(db)
    assert all(r.published_at is not None for r in rows)
    received = ours(await asyncio.to_thread(consume_everything, kafka_broker), rows)
    assert {m.event_id for m in received} == {r.event_id for r in rows}, "an event was lost"
    assert_per_key_order(received, rows)  # at-least-once: a redelivery never reorders a key


class _Gate:
    """Wraps the real publisher to pause a chosen batch (the relay under test is not faked)."""

    def __init__(self, inner: KafkaEventPublisher, pause_on_batch: int, *, after_delivery: bool) -> None:
        self.inner = inner
        self.pause_on_batch = pause_on_batch
        self.after_delivery = after_delivery
        self.calls = 0
        self.paused = asyncio.Event()
        self.resume = asyncio.Event()
        self.delivered: list[uuid.UUID] = []

    async def publish(self, records: Sequence[OutboxRecord]) -> None:
        self.calls += 1
        pausing = self.calls == self.pause_on_batch
        if pausing and not self.after_delivery:
            self.paused.set()
            await self.resume.wait()
        await self.inner.publish(records)
        self.delivered.extend(r.event_id for r in records)
        if pausing and self.after_delivery:
            self.paused.set()
            await self.resume.wait()


async def test_a_stop_mid_run_finishes_the_batch_in_flight_and_marks_only_delivered_rows(
    platform: Platform,
    kafka_broker: str,
    course_topic: str,
) -> None:
    db = platform.database
    await write_course_events(platform, courses=5)
    gate = _Gate(publisher(kafka_broker), pause_on_batch=2, after_delivery=False)
    relay = OutboxRelay(db, gate, batch_size=4, idle_sleep=0.02, max_backoff=0.5)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await asyncio.wait_for(gate.paused.wait(), WAIT)
    stop.set()  # the second batch is in flight
    gate.resume.set()
    await asyncio.wait_for(task, WAIT)
    await gate.inner.aclose()

    rows = await outbox_rows(db)
    marked = [r for r in rows if r.published_at is not None]
    assert [r.id for r in marked] == [r.id for r in rows[:8]], "exactly the two batches, the last one completed"
    assert {r.event_id for r in marked} == set(gate.delivered)
    received = ours(await asyncio.to_thread(consume_everything, kafka_broker), rows)
    assert {m.event_id for m in received} == {r.event_id for r in marked}, "marked without delivery, or vice versa"


async def test_a_cancelled_relay_rolls_its_claim_back_and_marks_nothing_of_it(
    platform: Platform,
    kafka_broker: str,
    course_topic: str,
) -> None:
    db = platform.database
    await write_course_events(platform, courses=3)
    gate = _Gate(publisher(kafka_broker), pause_on_batch=2, after_delivery=True)
    relay = OutboxRelay(db, gate, batch_size=5, idle_sleep=0.02, max_backoff=0.5)
    task = asyncio.create_task(relay.run(asyncio.Event()))
    await asyncio.wait_for(gate.paused.wait(), WAIT)
    task.cancel()  # delivered but not yet marked: at-least-once means it is sent again, never lost
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT)

    rows = await outbox_rows(db)
    marked = {r.event_id for r in rows if r.published_at is not None}
    assert marked == {r.event_id for r in rows[:5]}
    assert marked < set(gate.delivered)

    await run_relay_until_drained(OutboxRelay(db, gate.inner, batch_size=50, idle_sleep=0.02), db)
    await gate.inner.aclose()
    received = ours(await asyncio.to_thread(consume_everything, kafka_broker), await outbox_rows(db))
    counts = Counter(m.event_id for m in received)
    assert set(counts) == {r.event_id for r in rows}
    assert {e for e, n in counts.items() if n == 2} == {r.event_id for r in rows[5:10]}
    assert_per_key_order(received, rows)


# -- outbox store -----------------------------------------------------------------------


async def test_pending_stats_and_prune(platform: Platform) -> None:
    db = platform.database
    store = OutboxStore(db)
    assert (await store.pending_stats()).count == 0
    assert (await store.pending_stats()).oldest_age is None
    await write_course_events(platform, courses=2)
    rows = await outbox_rows(db)
    stats = await store.pending_stats()
    assert stats.count == len(rows)
    assert stats.oldest_age is not None
    assert timedelta(0) <= stats.oldest_age < timedelta(minutes=5)

    first = [r.id for r in rows[:4]]
    assert await store.mark_published(first) == 4
    assert await store.mark_published(first) == 0  # already published: untouched
    assert (await store.pending_stats()).count == len(rows) - 4
    assert await store.prune(timedelta(hours=1)) == 0  # published just now: kept
    async with db.write() as conn:  # age two of them
        await conn.execute(
            update(outbox).where(outbox.c.id.in_(first[:2])).values(published_at=rows[0].created_at - timedelta(days=8))
        )
        await conn.commit()
    assert await store.prune(timedelta(days=7)) == 2
    remaining = await outbox_rows(db)
    assert [r.id for r in remaining] == [r.id for r in rows[2:]]


async def test_a_claim_left_without_finishing_marks_nothing(platform: Platform) -> None:
    db = platform.database
    await write_course_events(platform, courses=1)
    store = OutboxStore(db)
    claimed: list[int] = []

    async def claim_then_fail() -> None:
        async with store.claim_batch(3) as batch:
            claimed.append(len(batch))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await claim_then_fail()
    assert claimed == [3]
    async with store.claim_batch(100) as batch:
        assert len(batch) == 6
        with pytest.raises(ValueError, match="not part of this claim"):
            await batch.mark_published([10_000])
        assert await batch.mark_published([batch.records[0].id]) == 1
    assert [r.published_at is not None for r in await outbox_rows(db)] == [True] + [False] * 5


# -- the worker process -----------------------------------------------------------------


def test_the_relay_command_explains_a_missing_kafka_address(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ELEARNING_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert workers_main(["relay"]) == 2
    assert "ELEARNING_KAFKA_BOOTSTRAP_SERVERS is not set" in capsys.readouterr().err


async def test_the_relay_process_drains_the_outbox_and_stops_on_sigterm(
    tmp_path: Path,
    kafka_broker: str,
    course_topic: str,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'worker.db'}"
    async with await bootstrap(Settings(database_url=url)) as platform:
        await write_course_events(platform, courses=2)
        env = {
            **os.environ,
            "ELEARNING_DATABASE_URL": url,
            "ELEARNING_KAFKA_BOOTSTRAP_SERVERS": kafka_broker,
            "ELEARNING_LOG_LEVEL": "INFO",
        }
        process = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "elearning_workers", "relay", "--idle-sleep", "0.05"],
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await wait_until(lambda: drained(platform.database), "the worker to drain the outbox")
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(process.communicate(), WAIT)
        assert process.returncode == 0, output.decode()
        assert b"outbox relay stopped: 12 events" in output
        rows = await outbox_rows(platform.database)
    received = ours(await asyncio.to_thread(consume_everything, kafka_broker), rows)
    assert {m.event_id for m in received} == {r.event_id for r in rows}


async def _true(value: bool) -> bool:
    return value
