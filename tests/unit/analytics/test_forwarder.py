"""The statement forwarder and retention on fakes: stored order, a checkpoint after every batch, retries
with bounded exponential backoff and jitter, resuming without loss, and pruning held back by the checkpoint."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from elearning_core.analytics import vocabulary as v
from elearning_core.analytics.forwarder import (
    DeliveryFailed,
    ForwardingStalled,
    RetryPolicy,
    StatementForwarder,
    StatementRetention,
)
from elearning_core.analytics.model import Account, Activity, Agent, Statement, Verb
from elearning_core.shared.clock import FixedClock
from tests.analytics_fakes import InMemoryStatementStore
from tests.fakes import T0
from tests.forwarding_fakes import FakeDestination, InMemoryStatementFeed

HOME = "https://learn.example.org"


def statements(n: int) -> list[Statement]:
    return [
        Statement(
            id=uuid.uuid4(),
            actor=Agent(account=Account(home_page=HOME, name=str(i))),
            verb=Verb.of(v.EXPERIENCED),
            object=Activity(id=f"{HOME}/xapi/activities/lesson/{i}"),
            timestamp=T0,
        )
        for i in range(n)
    ]


class Waits:
    """A fake clock for the retry budget: each sleep advances it, and is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def a_feed(n: int, clock: FixedClock | None = None) -> tuple[InMemoryStatementFeed, list[Statement]]:
    store = InMemoryStatementStore(clock or FixedClock(T0))
    written = statements(n)
    await store.append(written)
    return InMemoryStatementFeed(store), written


def forwarder(
    feed: InMemoryStatementFeed, destination: FakeDestination, waits: Waits, **kw: object
) -> StatementForwarder:
    return StatementForwarder(
        feed,
        destination,
        FixedClock(T0),
        batch_size=kw.pop("batch_size", 3),  # type: ignore[arg-type]
        retry=kw.pop("retry", RetryPolicy(first=1, longest=8, budget=30)),  # type: ignore[arg-type]
        sleep=waits.sleep,
        monotonic=waits.monotonic,
        rand=lambda: 1.0,
    )


async def test_forwards_every_statement_in_stored_order_in_batches_with_a_checkpoint_each() -> None:
    feed, written = await a_feed(7)
    destination = FakeDestination()
    report = await forwarder(feed, destination, Waits()).run(max_batches=10)
    assert [s.id for s in destination.received] == [s.id for s in written]
    assert destination.attempts == 3  # 3 + 3 + 1
    assert (report.forwarded, report.batches, report.position) == (7, 3, 7)
    assert await feed.position(destination.name) == 7
    assert report.lag.statements == 0
    assert report.lag.oldest_stored is None


async def test_a_run_is_bounded_and_the_next_resumes_after_the_checkpoint() -> None:
    feed, written = await a_feed(7)
    destination = FakeDestination()
    first = await forwarder(feed, destination, Waits()).run(max_batches=1)
    assert (first.forwarded, first.position, first.lag.statements) == (3, 3, 4)
    assert first.lag.oldest_stored == T0
    second = await forwarder(feed, destination, Waits()).run(max_batches=10)
    assert second.forwarded == 4
    assert [s.id for s in destination.received] == [s.id for s in written]  # nothing twice, nothing lost


async def test_retries_a_failing_batch_with_doubling_jittered_waits_then_succeeds() -> None:
    feed, written = await a_feed(2)
    destination, waits = FakeDestination(failures=3), Waits()
    report = await forwarder(feed, destination, waits).run(max_batches=10)
    assert waits.slept == [1, 2, 4]  # rand=1.0: the top of each [d/2, d] window
    assert report.retries == 3
    assert [s.id for s in destination.received] == [s.id for s in written]


def test_the_jitter_stays_within_half_to_the_whole_capped_delay() -> None:
    policy = RetryPolicy(first=0.5, longest=30, budget=60)
    assert policy.delay(1, 0.0) == 0.25
    assert policy.delay(1, 1.0) == 0.5
    assert policy.delay(4, 0.5) == pytest.approx(3.0)
    assert policy.delay(20, 1.0) == 30
    assert policy.delay(20, 0.0) == 15


async def test_gives_up_past_the_retry_budget_and_keeps_the_checkpoint_before_the_batch() -> None:
    feed, _ = await a_feed(5)
    destination, waits = FakeDestination(), Waits()
    first = forwarder(feed, destination, waits, retry=RetryPolicy(first=1, longest=8, budget=20))
    await first.run(max_batches=1)
    destination.failures = 100
    with pytest.raises(ForwardingStalled, match="still failing"):
        await first.run(max_batches=10)
    assert sum(waits.slept) <= 20
    assert await feed.position(destination.name) == 3
    destination.failures = 0
    await first.run(max_batches=10)
    assert len(destination.received) == 5
    assert len({s.id for s in destination.received}) == 5


async def test_a_refusal_is_not_retried() -> None:
    feed, _ = await a_feed(2)
    destination, waits = FakeDestination(failures=1, retryable=False), Waits()
    with pytest.raises(DeliveryFailed):
        await forwarder(feed, destination, waits).run(max_batches=10)
    assert waits.slept == []
    assert destination.attempts == 1
    assert await feed.position(destination.name) == 0


async def test_a_crash_after_delivery_redelivers_the_batch_and_loses_nothing() -> None:
    feed, written = await a_feed(6)
    destination = FakeDestination()

    class CrashAfterSending(FakeDestination):
        async def send(self, batch: object) -> None:
            await destination.send(batch)  # type: ignore[arg-type]
            if len(destination.received) == 6:
                raise RuntimeError("killed before the checkpoint")

    with pytest.raises(RuntimeError):
        await forwarder(feed, CrashAfterSending(name=destination.name), Waits()).run(max_batches=10)
    assert await feed.position(destination.name) == 3
    await forwarder(feed, destination, Waits()).run(max_batches=10)
    ids = [s.id for s in destination.received]
    assert ids == [s.id for s in written] + [s.id for s in written[3:]]  # the second batch twice, in order


async def test_retention_deletes_only_old_statements_the_destination_received() -> None:
    clock = FixedClock(T0)
    feed, old = await a_feed(5, clock)
    clock.advance(timedelta(days=40))
    recent = statements(2)
    await feed.store.append(recent)
    destination = FakeDestination()
    await forwarder(feed, destination, Waits()).run(max_batches=1)  # the first 3 of the old ones
    retention = StatementRetention(feed, clock, days=30, destination=destination.name, batch_size=2)
    report = await retention.prune(max_batches=10)
    assert report.deleted == 3
    assert report.held_at == 3
    assert {r.statement.id for r in feed.store.rows.values()} == {s.id for s in [*old[3:], *recent]}
    assert "not past forwarding checkpoint 3" in report.line()


async def test_retention_without_a_destination_deletes_old_statements_in_bounded_batches_but_the_newest() -> None:
    clock = FixedClock(T0)
    feed, written = await a_feed(6, clock)
    clock.advance(timedelta(days=31))
    retention = StatementRetention(feed, clock, days=30, destination=None, batch_size=2)
    first = await retention.prune(max_batches=2)
    assert (first.deleted, first.batches) == (4, 2)
    assert (await retention.prune(max_batches=2)).deleted == 1
    assert list(feed.store.rows) == [written[-1].id]  # its seq keeps the next statement's above it


async def test_retention_deletes_nothing_before_a_destination_received_anything() -> None:
    clock = FixedClock(T0)
    feed, _ = await a_feed(3, clock)
    clock.advance(timedelta(days=31))
    report = await StatementRetention(feed, clock, days=30, destination="lrs:x").prune(max_batches=5)
    assert report.deleted == 0
    assert len(feed.store.rows) == 3
