"""kill -9 of the relay between produce and mark: the events arrive, the duplicates have one effect each.

A real relay process (``crashing_relay.py``: the real ``OutboxRelay`` and ``KafkaEventPublisher``)
is killed by SIGKILL right after the broker acknowledged its batch and before it marked the rows.
The claim dies with the process, so the rows stay unpublished and a normal relay delivers them
again: every event is on the topic twice. A ``ConsumerRunner`` then reads the topic and its handler
writes one effect row per event in the transaction of the inbox row; the counts are checked in the
database, on SQLite and PostgreSQL.

The course topic is shared by the whole session, so everything is counted for this test's event ids only.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from elearning_adapters import Platform
from elearning_adapters.events.dispatch import Handler
from elearning_adapters.kafka import KafkaEventPublisher
from elearning_adapters.sql.inbox import inbox
from elearning_core.course import events as ev
from elearning_core.shared.events import DomainEvent
from elearning_workers.consumer import ConsumerRunner
from elearning_workers.relay import OutboxRelay
from tests.integration.conftest import COURSE_TOPIC
from tests.integration.test_consumer import Effects, committed_offsets, end_offsets
from tests.integration.test_relay import (
    assert_per_key_order,
    consume_everything,
    drained,
    ours,
    outbox_rows,
    run_relay_until_drained,
    write_course_events,
)

pytest_plugins = ["tests.integration.kafka_broker"]

TOPIC = COURSE_TOPIC  # where the platform's outbox rows go
WAIT = 20.0  # the bound of every wait in this module, in seconds
CRASHING_RELAY = Path(__file__).with_name("crashing_relay.py")
COURSE_EVENT_TYPES = sorted(
    cls.type for cls in vars(ev).values() if isinstance(cls, type) and issubclass(cls, DomainEvent) and cls.type
)


@pytest.fixture
async def effects(platform: Platform) -> AsyncIterator[Effects]:
    fx = Effects(platform.database)
    await fx.create()
    try:
        yield fx
    finally:
        await fx.drop()


async def run_crashing_relay(database_url: str, bootstrap_servers: str, marker: Path) -> tuple[int | None, str]:
    """Run the relay process that kills itself after its first acknowledged batch; (returncode, output)."""
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, str(CRASHING_RELAY), database_url, bootstrap_servers, str(marker)],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), WAIT)
    except TimeoutError:
        process.kill()  # it never published: fail with what it said
        output, _ = await asyncio.wait_for(process.communicate(), WAIT)
        raise AssertionError(f"the crashing relay did not die within {WAIT}s:\n{output.decode()}") from None
    return process.returncode, output.decode()


async def consume_until_caught_up(runner: ConsumerRunner, bootstrap_servers: str, ends: dict[int, int]) -> None:
    """Run the consumer until its group committed every offset up to ``ends``, then stop it (bounded)."""
    task = asyncio.create_task(runner.run())
    try:
        deadline = time.monotonic() + WAIT
        while True:
            committed = await asyncio.to_thread(committed_offsets, bootstrap_servers, runner.group, TOPIC)
            if all(committed.get(p, -1) >= end for p, end in ends.items() if end > 0):
                return
            if task.done():
                await task
                raise AssertionError(f"the consumer stopped early: {runner.stats}")
            assert time.monotonic() < deadline, f"consumer not caught up: {committed} < {ends}, {runner.stats}"
            await asyncio.sleep(0.1)
    finally:
        runner.stop()
        await asyncio.wait_for(task, WAIT)


async def test_a_relay_killed_between_produce_and_mark_redelivers_and_each_duplicate_has_one_effect(
    platform: Platform,
    effects: Effects,
    kafka_broker: str,
    course_topic: str,
    tmp_path: Path,
) -> None:
    db = platform.database
    await write_course_events(platform, courses=4, title="Crash")
    rows = await outbox_rows(db)
    assert len(rows) == 4 * 6
    event_ids = {r.event_id for r in rows}

    # 1. kill -9 after the acknowledgement, before the mark.
    marker = tmp_path / "acknowledged.json"
    returncode, output = await run_crashing_relay(platform.settings.resolved_database_url, kafka_broker, marker)
    assert returncode == -9, f"expected death by SIGKILL, got {returncode}:\n{output}"
    assert marker.exists(), f"the relay died before the broker acknowledged a batch:\n{output}"
    assert [uuid.UUID(e) for e in json.loads(marker.read_text())] == [r.event_id for r in rows]

    after_crash = await outbox_rows(db)
    assert [r.id for r in after_crash] == [r.id for r in rows]
    assert all(r.published_at is None for r in after_crash), "a row was marked by the killed relay"
    assert all(r.attempts == 0 and r.last_error is None for r in after_crash), "the dead claim left a trace"
    on_topic = ours(await asyncio.to_thread(consume_everything, kafka_broker), rows)
    assert Counter(m.event_id for m in on_topic) == dict.fromkeys(event_ids, 1), "acknowledged, so on the topic"

    # 2. A normal relay delivers the unmarked rows again: duplicates on the topic.
    publisher = KafkaEventPublisher(kafka_broker, delivery_timeout=5.0)
    relay = OutboxRelay(db, publisher, batch_size=10, idle_sleep=0.02, max_backoff=0.5)
    try:
        await run_relay_until_drained(relay, db)
    finally:
        await publisher.aclose()
    assert relay.stats.published == len(rows)
    received = ours(await asyncio.to_thread(consume_everything, kafka_broker), rows)
    deliveries = Counter(m.event_id for m in received)
    assert set(deliveries) == event_ids
    assert all(n >= 2 for n in deliveries.values()), f"not redelivered: {deliveries}"
    assert_per_key_order(received, rows)

    # 3. A consumer reads everything; the inbox turns each duplicate into no second effect.
    ends = await asyncio.to_thread(end_offsets, kafka_broker, TOPIC)
    consumer_name = f"crash-{uuid.uuid4().hex[:8]}"
    handlers: dict[str, Handler] = dict.fromkeys(COURSE_EVENT_TYPES, effects.handler)
    runner = ConsumerRunner(
        f"g-{consumer_name}",
        kafka_broker,
        [TOPIC],
        handlers,
        db,
        consumer_name=consumer_name,
        max_attempts=3,
        initial_backoff=0.01,
        max_backoff=0.05,
        poll_timeout=0.1,
        config={"session.timeout.ms": 6000},
    )
    await consume_until_caught_up(runner, kafka_broker, ends)

    counts = await effects.counts()
    assert {e: counts[e] for e in event_ids} == dict.fromkeys(event_ids, 1), "an event lost, or a second effect"
    assert {e: effects.calls[e] for e in event_ids} == dict.fromkeys(event_ids, 1)
    assert runner.stats.duplicates >= len(event_ids), runner.stats
    async with db.read() as conn:
        inboxed = set((await conn.execute(select(inbox.c.event_id).where(inbox.c.consumer == consumer_name))).scalars())
    assert event_ids <= inboxed
    assert await drained(db), "something is left unpublished"
    final = await outbox_rows(db)
    assert all(r.published_at is not None and r.attempts == 1 and r.last_error is None for r in final)
