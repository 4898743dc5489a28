"""Forwarding stored statements to another learning record store or a stream, and pruning old raw statements.

The forwarder is at-least-once: it reads the statements after its destination's checkpoint in stored
order, sends a batch, and only then moves the checkpoint past it. A crash between the two sends the
batch again on the next run; statement ids make that harmless at a conforming LRS (an id it holds with
the same content is a no-op) and give a Kafka consumer its deduplication key.

Retention deletes raw statements stored before a cut-off, oldest first in bounded batches, and never one
a configured destination has not received yet. Aggregates are kept elsewhere and are not touched.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from elearning_core.shared.clock import Clock


@dataclass(frozen=True, slots=True)
class OutgoingStatement:
    """A stored statement as it is forwarded: its place in stored order and its JSON as the store keeps it."""

    seq: int
    id: uuid.UUID
    data: dict[str, Any]


class DeliveryFailed(Exception):
    """A batch did not reach the destination. ``retryable``: a later try may succeed (a 5xx, a timeout, a
    broker away); otherwise the destination refused it (bad credentials, a 4xx) and retrying cannot help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class ForwardingStalled(Exception):
    """Delivery kept failing: the run stops with the checkpoint before the undelivered batch."""


class StatementDestination(Protocol):
    name: str
    """The checkpoint's key: names the destination (kind and address), so a new one starts from the beginning."""

    async def send(self, statements: Sequence[OutgoingStatement]) -> None:
        """Deliver the batch (all of it, or raise ``DeliveryFailed``)."""
        ...


@dataclass(frozen=True, slots=True)
class Lag:
    """How far a destination is behind: statements stored after its checkpoint (counted up to a cap) and
    when the oldest of them was stored."""

    statements: int
    oldest_stored: datetime | None


class StatementFeed(Protocol):
    """The store as the forwarder and retention read it: stored order, checkpoints, pruning."""

    async def position(self, destination: str) -> int:
        """The seq of the last statement the destination received (0: none yet)."""
        ...

    async def horizon(self, *, beyond: int) -> int:
        """A seq at or below which no statement can still appear (every writer that took such a seq has
        committed or rolled back): reading up to it never skips a statement committed later. When no
        committed statement lies ``beyond`` (the caller's position), it may answer that at once, without
        waiting for open writers (their statements are for a later call)."""
        ...

    async def after(self, position: int, *, upto: int, limit: int) -> list[OutgoingStatement]:
        """Up to ``limit`` statements with ``position < seq <= upto``, in stored order."""
        ...

    async def advance(self, destination: str, position: int, *, at: datetime) -> None:
        """Record the destination's checkpoint; it never moves backwards."""
        ...

    async def lag(self, destination: str, *, cap: int) -> Lag: ...

    async def prune(self, *, stored_before: datetime, upto: int | None, limit: int) -> int:
        """Delete up to ``limit`` of the oldest statements stored before ``stored_before`` (and with
        ``seq <= upto`` when given), never the newest statement (its seq keeps later ones above every
        checkpoint); returns how many went."""
        ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: the n-th wait is uniform in [d/2, d], d = ``first`` x 2^(n-1) capped at
    ``longest``; a batch is given up after ``budget`` seconds of trying (its checkpoint stays)."""

    first: float = 0.5
    longest: float = 30.0
    budget: float = 60.0

    def delay(self, failures: int, rand: float) -> float:
        ceiling = min(self.first * 2.0 ** max(failures - 1, 0), self.longest)
        return ceiling / 2 + ceiling / 2 * rand


@dataclass(frozen=True, slots=True)
class ForwardReport:
    forwarded: int
    batches: int
    position: int
    lag: Lag
    retries: int = 0

    def line(self, now: datetime) -> str:
        behind = (
            f", oldest {round((now - self.lag.oldest_stored).total_seconds())} s old" if self.lag.oldest_stored else ""
        )
        return (
            f"forwarded {self.forwarded} statement(s) in {self.batches} batch(es), {self.retries} retr(ies); "
            f"checkpoint {self.position}, {self.lag.statements} behind{behind}"
        )


LAG_CAP = 1_000_000
"""Lag is counted up to this many statements (a count past it is a range scan for a figure nobody needs)."""


class StatementForwarder:
    def __init__(
        self,
        feed: StatementFeed,
        destination: StatementDestination,
        clock: Clock,
        *,
        batch_size: int = 100,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._feed, self._destination, self._clock = feed, destination, clock
        self._batch, self._retry = batch_size, retry
        self._sleep, self._monotonic, self._rand = sleep, monotonic, rand

    @property
    def destination(self) -> str:
        return self._destination.name

    async def run(self, *, max_batches: int) -> ForwardReport:
        """Forward up to ``max_batches`` batches in stored order, each followed by its checkpoint; stops early
        when caught up. ``ForwardingStalled`` or ``DeliveryFailed`` (not retryable) when a batch cannot go."""
        name = self._destination.name
        position = await self._feed.position(name)
        horizon = await self._feed.horizon(beyond=position)
        forwarded = batches = retries = 0
        while batches < max_batches and position < horizon:
            batch = await self._feed.after(position, upto=horizon, limit=self._batch)
            if not batch:
                break
            retries += await self._deliver(batch)
            position = batch[-1].seq
            await self._feed.advance(name, position, at=self._clock.now())
            forwarded += len(batch)
            batches += 1
        return ForwardReport(forwarded, batches, position, await self._feed.lag(name, cap=LAG_CAP), retries)

    async def _deliver(self, batch: Sequence[OutgoingStatement]) -> int:
        """Send with retries; returns how many retries it took."""
        deadline = self._monotonic() + self._retry.budget
        failures = 0
        while True:
            try:
                await self._destination.send(batch)
                return failures
            except DeliveryFailed as exc:
                if not exc.retryable:
                    raise
                failures += 1
                wait = self._retry.delay(failures, self._rand())
                if self._monotonic() + wait > deadline:
                    raise ForwardingStalled(
                        f"{self._destination.name}: batch after seq {batch[0].seq - 1} still failing after "
                        f"{failures} tr(ies): {exc}"
                    ) from exc
                await self._sleep(wait)


@dataclass(frozen=True, slots=True)
class PruneReport:
    deleted: int
    batches: int
    cutoff: datetime
    held_at: int | None
    """The checkpoint that held pruning back (None: no destination configured)."""

    def line(self) -> str:
        held = "" if self.held_at is None else f", not past forwarding checkpoint {self.held_at}"
        return f"pruned {self.deleted} statement(s) stored before {self.cutoff.isoformat()}{held}"


class StatementRetention:
    """Deletes raw statements older than ``days``; with a destination, only those it has received."""

    def __init__(
        self,
        feed: StatementFeed,
        clock: Clock,
        *,
        days: int,
        destination: str | None,
        batch_size: int = 1_000,
    ) -> None:
        if days < 1 or batch_size < 1:
            raise ValueError("retention needs at least one day and a positive batch size")
        self._feed, self._clock, self._days = feed, clock, days
        self._destination, self._batch = destination, batch_size

    async def prune(self, *, max_batches: int) -> PruneReport:
        cutoff = self._clock.now() - timedelta(days=self._days)
        upto = None if self._destination is None else await self._feed.position(self._destination)
        deleted = batches = 0
        while batches < max_batches and upto != 0:
            gone = await self._feed.prune(stored_before=cutoff, upto=upto, limit=self._batch)
            deleted += gone
            batches += 1
            if gone < self._batch:
                break
        return PruneReport(deleted, batches, cutoff, upto)
