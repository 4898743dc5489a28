"""The outbox relay: moves committed domain events from the outbox to the broker.

Each round claims a batch (a transaction held open), publishes it, and marks
it published in that same transaction before committing. A failed publish
releases the claim with the rows still unpublished (their attempt and error
recorded) and the relay backs off exponentially, bounded by ``max_backoff``.
Stopping is checked between rounds only: a batch in flight finishes (it is
bounded by the publisher's delivery timeout) and is marked, or fails and is
not; a cancelled round rolls back and marks nothing. Between rounds, rows
published longer ago than ``retention`` are pruned (every ten minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from elearning_adapters import metrics
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.outbox_store import OutboxRecord, OutboxStore, Retention

log = logging.getLogger(__name__)

TRANSPORT = "kafka"


class EventPublisher(Protocol):
    """Delivers a batch in order; returns only when every record was acknowledged, raises otherwise."""

    async def publish(self, records: Sequence[OutboxRecord]) -> None: ...


@dataclass
class RelayStats:
    batches: int = 0
    published: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None


class OutboxRelay:
    def __init__(
        self,
        database: Database,
        publisher: EventPublisher,
        batch_size: int = 500,
        idle_sleep: float = 0.1,
        max_backoff: float = 30.0,
        *,
        initial_backoff: float = 0.2,
        retention: timedelta | None = None,
        inbox_retention: timedelta | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if idle_sleep < 0 or max_backoff <= 0 or initial_backoff <= 0:
            raise ValueError("idle_sleep must be >= 0, max_backoff and initial_backoff > 0")
        self._store = OutboxStore(database)
        self._retention = Retention(self._store, retention, keep_inbox=inbox_retention)
        self._publisher = publisher
        self._batch_size = batch_size
        # 0.1 s by default: an empty claim (one indexed query) ten times a second; at 0.5 s the idle sleep was
        # most of a committed event's way to Kafka (completion-to-visible p50 490 ms, about 200 ms at 0.1 s).
        self._idle_sleep = idle_sleep
        self._max_backoff = max_backoff
        self._initial_backoff = min(initial_backoff, max_backoff)
        self.stats = RelayStats()

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set; errors are logged and retried, never raised."""
        log.info("outbox relay started (batch size %d)", self._batch_size)
        warm_up = getattr(self._publisher, "warm_up", None)  # connect before the first batch, if it can
        if warm_up is not None:
            await warm_up()
        while not stop.is_set():
            try:
                relayed = await self.relay_once()
            except Exception as exc:
                delay = self._backoff_after_failure(exc)
                await _sleep_unless(stop, delay)
                continue
            try:
                await self._retention.maybe_prune()
            except Exception as exc:
                log.warning("could not prune the outbox (retried later): %s", exc)
            if self.stats.consecutive_failures:
                log.info("outbox relay recovered after %d failed rounds", self.stats.consecutive_failures)
                self.stats.consecutive_failures = 0
            if relayed < self._batch_size:
                await _sleep_unless(stop, self._idle_sleep)
        log.info("outbox relay stopped: %d events in %d batches", self.stats.published, self.stats.batches)

    async def relay_once(self) -> int:
        """Claim, publish and mark one batch; returns how many events were published."""
        async with self._store.claim_batch(self._batch_size) as batch:
            if not batch.records:
                await batch.mark_published()  # ends the (empty) claim
                return 0
            started = time.monotonic()
            try:
                await self._publisher.publish(batch.records)
            except Exception as exc:
                try:
                    await batch.release(f"{type(exc).__name__}: {exc}")
                except Exception:
                    # Leaving the claim rolls it back instead: the rows stay unpublished either way.
                    log.exception("could not record the failed publish attempt")
                raise
            marked = await batch.mark_published()
        self.stats.batches += 1
        self.stats.published += marked
        metrics.RELAYED.labels(TRANSPORT).inc(marked)
        metrics.RELAY_BATCHES.labels(TRANSPORT).inc()
        log.debug("relayed %d events in %.3fs", marked, time.monotonic() - started)
        return len(batch.records)

    def _backoff_after_failure(self, exc: Exception) -> float:
        self.stats.failures += 1
        self.stats.consecutive_failures += 1
        metrics.RELAY_FAILURES.labels(TRANSPORT).inc()
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        exponent = min(self.stats.consecutive_failures - 1, 30)
        delay: float = min(self._max_backoff, self._initial_backoff * float(2**exponent))
        log.warning(
            "outbox relay round failed (%d in a row), retrying in %.1fs: %s",
            self.stats.consecutive_failures,
            delay,
            self.stats.last_error,
        )
        return delay


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
