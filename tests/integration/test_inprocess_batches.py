"""The in-process transport hands each subscription its rows in batches, on SQLite and PostgreSQL.

One round: one transaction per subscription (or per ``batch_size`` rows of a
subscription that asks for smaller batches), dead letters and stopping as
with one row at a time; counted in the database and in the engine's commits.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters import Platform
from elearning_adapters.events import Subscription
from elearning_adapters.sql.dead_letters import DeadLetterStore
from elearning_core.course import events as ev
from elearning_core.course.commands import CreateCourse
from elearning_core.course.model import Course
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ports import SYSTEM
from tests.fakes import T0
from tests.integration.test_batched_dispatch import counting_commits, course_titles
from tests.integration.test_inprocess_events import (
    COURSE_TYPES,
    Effects,
    _calls_at_least,
    committed_event_ids,
    transport,
    unpublished,
)
from tests.integration.test_relay import wait_until, write_course_events

pytest_plugins = ["tests.integration.test_inprocess_events"]  # its ``effects`` fixture


async def test_each_subscription_gets_a_round_in_one_transaction_or_in_its_own_batch_size(
    platform: Platform, effects: Effects
) -> None:
    other = Effects(platform.database)
    await other.create()
    await write_course_events(platform, courses=3)  # 18 rows
    small = Subscription(
        name="small", description="test", handlers=dict.fromkeys(COURSE_TYPES, other.handler), batch_size=4
    )
    events = transport(platform, effects.subscription("whole"), small, batch_size=50)

    with counting_commits(platform.database) as commits:
        assert await events.drain() == 18

    stats = events.dispatch_stats()
    assert (stats["whole"].batches, stats["whole"].handled) == (1, 18)
    assert (stats["small"].batches, stats["small"].handled) == (5, 18)  # 4 + 4 + 4 + 4 + 2
    assert commits == [1 + 5 + 1], "one per batch, and one that marks the round's rows published"
    ids = await committed_event_ids(platform.database)
    assert await effects.counts() == Counter(dict.fromkeys(ids, 1))
    assert await other.counts() == Counter(dict.fromkeys(ids, 1))
    assert await unpublished(platform.database) == 0


async def test_a_poison_row_in_a_batch_is_dead_lettered_and_the_round_flows_on(
    platform: Platform, effects: Effects
) -> None:
    effects.failing = {ev.LessonAdded.type}
    await write_course_events(platform, courses=2)  # 12 rows, two lessons added among them
    events = transport(platform, effects.subscription(), batch_size=50)

    assert await events.drain() == 12

    dead = await DeadLetterStore(platform.database).all()
    assert sorted(d.event_type or "" for d in dead) == [ev.LessonAdded.type] * 2
    assert all(d.attempts == 3 for d in dead)
    counts = await effects.counts()
    assert sum(counts.values()) == 10
    assert set(counts.values()) == {1}
    # Each poison row rolled a batch back once; the rows around it went on in batches.
    assert events.dispatch_stats()["test-effects"].batch_fallbacks == 2


async def test_stopping_mid_round_marks_only_the_rows_every_subscription_handled(
    platform: Platform, effects: Effects
) -> None:
    other = Effects(platform.database)
    await other.create()
    other.failing = {ev.LessonAdded.type}  # the second subscription stops at the fifth row (a lesson added)
    await write_course_events(platform, courses=2)
    ids = await committed_event_ids(platform.database)
    options = {"max_attempts": 50, "initial_backoff": 0.2, "max_backoff": 0.2, "batch_size": 50}
    events = transport(platform, effects.subscription("first"), other.subscription("second"), **options)
    events.start()
    await wait_until(_calls_at_least(other, 5 + 2), "the poison row's second failure", 10.0)
    await events.stop()

    assert await unpublished(platform.database) == 12 - 4  # the four rows before the poison one are marked
    assert await DeadLetterStore(platform.database).all() == []
    assert await effects.counts() == Counter(dict.fromkeys(ids, 1))  # the first subscription had its whole batch
    assert await other.counts() == Counter(dict.fromkeys(ids[:4], 1))

    other.failing = set()
    again = transport(platform, effects.subscription("first"), other.subscription("second"), batch_size=50)
    assert await again.drain() == 8
    assert again.dispatch_stats()["first"].duplicates == 8, "redelivered to the first: no second effect"
    assert await effects.counts() == Counter(dict.fromkeys(ids, 1))
    assert await other.counts() == Counter(dict.fromkeys(ids, 1))


async def test_a_subscription_with_a_batch_handler_gets_the_round_in_one_call(
    platform: Platform, effects: Effects
) -> None:
    await write_course_events(platform, courses=2)
    calls: list[list[uuid.UUID]] = []

    async def batch_handler(items: Sequence[tuple[DomainEvent, EventEnvelope]], conn: AsyncConnection) -> None:
        calls.append([e.event_id for e, _ in items])
        for event, envelope in items:
            await effects.handler(event, envelope, conn)

    setwise = Subscription(
        name="setwise",
        description="test",
        handlers=dict.fromkeys(COURSE_TYPES, effects.handler),
        batch_handler=batch_handler,
    )
    await transport(platform, setwise, batch_size=50).drain()
    assert calls == [await committed_event_ids(platform.database)]
    assert set((await effects.counts()).values()) == {1}


async def test_a_handler_calls_the_domain_in_the_platforms_joined_unit_of_work_and_its_events_flow_on(
    platform: Platform, effects: Effects
) -> None:
    """The wiring's ``joined_unit_of_work``: the handler's course and its event commit with the batch."""
    joined = platform.container.adapters.joined_unit_of_work
    follow_ups: list[uuid.UUID] = []

    async def create_follow_up(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        if event.aggregate_id in follow_ups:
            return  # a follow-up's own creation: nothing to follow
        async with joined(conn) as uow:
            course = Course.create(title=f"Follow-up {event.aggregate_id}", slug=None, at=T0)
            uow.courses.add(course)
            await uow.commit()
        follow_ups.append(course.id)

    reacting = Subscription(name="reacting", description="test", handlers={ev.CourseCreated.type: create_follow_up})
    original = await platform.courses.create(SYSTEM, CreateCourse(title="Original"))
    events = transport(platform, reacting, effects.subscription("watching"), batch_size=50)
    assert await events.drain() == 2  # the original's event, then the follow-up's (committed by the batch)
    assert len(follow_ups) == 1
    assert await course_titles(platform.database) == ["Follow-up " + str(original.id), "Original"]
    watched = await effects.counts()
    assert len(watched) == 2, "the follow-up's event reached the other subscription through the outbox"
