"""The consumer runner in batches against a real Kafka-protocol broker, on SQLite and PostgreSQL.

A batch is up to ``batch_size`` messages handled in one database transaction
and committed to the broker with ONE offset commit after handling. The
handlers and helpers are the one-message tests' (``test_consumer``): effects
are rows in a table without a unique key, so a second effect would show.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.engine import Database
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent
from elearning_workers.consumer import ConsumerRunner, Handler, dlq_topic
from tests.integration.test_batched_dispatch import counting_commits
from tests.integration.test_consumer import (
    CREATED,
    SECTION_ADDED,
    WAIT,
    Effects,
    assert_everything_committed,
    course_events,
    crash_then_restart,
    inbox_count,
    publish,
    run_until,
    runner,
    seen,
)
from tests.integration.test_relay import consume_everything

pytest_plugins = ["tests.integration.kafka_broker", "tests.integration.test_consumer"]  # topic, effects

BATCH = {"batch_size": 100, "batch_max_wait": 1.0}  # everything published before the start comes in one batch


def both(effects: Effects) -> dict[str, Handler]:
    return {CREATED: effects.handler, SECTION_ADDED: effects.handler}


async def test_a_batch_is_one_transaction_and_one_offset_commit(
    database: Database, effects: Effects, kafka_broker: str, topic: str
) -> None:
    events = course_events(20)  # 40 messages over the topic's two partitions
    await publish(kafka_broker, topic, events)
    consumer = runner(database, kafka_broker, topic, both(effects), f"g-{uuid.uuid4().hex}", **BATCH)
    with counting_commits(database) as commits:
        await run_until(consumer, lambda s: s.handled == 40, "40 events")
    assert (consumer.stats.batches, consumer.stats.offset_commits) == (1, 1)
    assert commits == [1]
    assert await effects.counts() == {e.event_id: 1 for e in events}
    assert_everything_committed(kafka_broker, consumer.group, topic)


async def test_redelivered_events_have_one_effect_inside_and_across_batches(
    database: Database, effects: Effects, kafka_broker: str, topic: str
) -> None:
    events = course_events(3)
    await publish(kafka_broker, topic, events + events)  # every event twice, in one batch
    first = runner(database, kafka_broker, topic, both(effects), f"g-{uuid.uuid4().hex}", **BATCH)
    await run_until(first, lambda s: seen(s) == 12, "12 deliveries")
    assert (first.stats.handled, first.stats.duplicates) == (6, 6)

    second = runner(database, kafka_broker, topic, both(effects), f"g-{uuid.uuid4().hex}", **BATCH)
    await run_until(second, lambda s: seen(s) == 12, "12 redeliveries")
    assert (second.stats.handled, second.stats.duplicates) == (0, 12)
    assert await effects.counts() == {e.event_id: 1 for e in events}
    assert effects.calls == {e.event_id: 1 for e in events}
    assert await inbox_count(database) == 6


async def test_a_poison_message_in_a_batch_is_dead_lettered_and_the_rest_committed_once(
    database: Database, effects: Effects, kafka_broker: str, topic: str
) -> None:
    events = course_events(5)
    poison = events[4]
    tries: list[uuid.UUID] = []

    async def handler(event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
        await effects.handler(event, envelope, conn)  # written, then rolled back with the failure
        if event.event_id == poison.event_id:
            tries.append(event.event_id)
            raise RuntimeError("cannot digest this")

    await publish(kafka_broker, topic, events)
    group = f"g-{uuid.uuid4().hex}"
    handlers: dict[str, Handler] = {CREATED: handler, SECTION_ADDED: handler}
    consumer = runner(database, kafka_broker, topic, handlers, group, max_attempts=3, **BATCH)
    await run_until(consumer, lambda s: s.dead_lettered == 1 and s.handled == 9, "a dead letter and nine events")
    assert tries == [poison.event_id] * 3  # the batch's try was the first of three
    assert consumer.stats.offset_commits == 1
    assert await effects.counts() == {e.event_id: 1 for e in events if e is not poison}
    (letter,) = consume_everything(kafka_broker, dlq_topic(topic))
    assert letter.headers["event-id"] == str(poison.event_id).encode()
    assert letter.headers["dlq-attempts"] == b"3"
    assert_everything_committed(kafka_broker, group, topic)


async def test_a_stop_mid_batch_finishes_the_batch_commits_it_and_loses_nothing(
    database: Database, effects: Effects, kafka_broker: str, topic: str
) -> None:
    events = course_events(10)
    await publish(kafka_broker, topic, events)
    group = f"g-{uuid.uuid4().hex}"
    box: list[ConsumerRunner] = []

    async def stop_at_the_fifth(event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
        await effects.handler(event, envelope, conn)
        if len(effects.calls) == 5:
            box[0].stop()  # mid-batch: the batch in hand is finished and committed

    handlers: dict[str, Handler] = {CREATED: stop_at_the_fifth, SECTION_ADDED: stop_at_the_fifth}
    first = runner(database, kafka_broker, topic, handlers, group, **BATCH)
    box.append(first)
    await asyncio.wait_for(first.run(), WAIT)
    assert first.stats.handled >= 5

    second = runner(database, kafka_broker, topic, both(effects), group, **BATCH)
    await run_until(second, lambda s: first.stats.handled + s.handled == 20, "the rest")
    assert second.stats.duplicates == 0, "a handled message was delivered again"
    assert await effects.counts() == {e.event_id: 1 for e in events}
    assert_everything_committed(kafka_broker, group, topic)


class _CrashBeforeTheBatchOffsetCommit(ConsumerRunner):
    """Hangs once a batch's transaction has committed, before its offsets are."""

    crashed: asyncio.Event

    async def _commit_pending(self, consumer: object) -> None:
        self.crashed.set()
        await asyncio.Event().wait()


@pytest.mark.parametrize("crash_point", ["inside-the-batch", "after-the-batch-committed"])
async def test_a_crash_mid_batch_redelivers_the_batch_with_one_effect_per_event(
    database: Database, effects: Effects, kafka_broker: str, topic: str, crash_point: str
) -> None:
    events = course_events(10)
    await publish(kafka_broker, topic, events)
    group = f"g-{uuid.uuid4().hex}"
    crashed = asyncio.Event()

    async def hanging_at_the_fifth(event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
        await effects.handler(event, envelope, conn)
        if len(effects.calls) == 5:
            crashed.set()
            await asyncio.Event().wait()  # four effects written in the batch's transaction, never committed

    if crash_point == "inside-the-batch":
        handlers: dict[str, Handler] = {CREATED: hanging_at_the_fifth, SECTION_ADDED: hanging_at_the_fifth}
        doomed = runner(database, kafka_broker, topic, handlers, group, **BATCH)
    else:
        doomed = runner(
            database, kafka_broker, topic, both(effects), group, cls=_CrashBeforeTheBatchOffsetCommit, **BATCH
        )
        assert isinstance(doomed, _CrashBeforeTheBatchOffsetCommit)
        doomed.crashed = crashed
    committed_before = 20 if crash_point == "after-the-batch-committed" else 0
    await crash_then_restart(
        doomed, crashed, effects, kafka_broker, topic, events, committed_before=committed_before, **BATCH
    )
