"""The in-process event transport: the embedded default's Kafka, inside the API process.

With no Kafka configured, ``elearning serve`` runs this transport in the
background. It relays the same outbox to the same subscriptions through the
same ``EventDispatcher`` as the Kafka consumers, so behaviour never forks
between modes:

- Rows are read in ``id`` order without a claim (``OutboxStore.peek``): the
  handlers write their inbox rows in transactions of their own, and on
  SQLite a claim would hold the only write lock they need.
- Each round peeks up to ``batch_size`` rows and hands every subscription the
  rows of its topics in batches (``EventDispatcher.dispatch_batch``: one
  transaction per subscription per batch, the subscription's ``batch_size``
  capping it), then marks published the longest prefix of rows that every
  subscription concerned has handled. A crash before the mark redelivers the
  rows; the inbox turns the second delivery into a no-op (at-least-once
  delivery, one effect).
- What a dispatcher gives up on is stored in the ``dead_letters`` table
  before the row is marked, never dropped. ``elearning events dlq replay``
  flags dead letters; this transport dispatches flagged ones again.
- A round that fails (the database is down) is retried with exponential
  backoff; ``wake()`` (called after every commit) cuts the poll interval
  short, so handlers usually run within milliseconds of the commit.
- Published rows older than the retention are pruned between rounds.

Several API processes on one PostgreSQL database each run a transport; they
may dispatch the same row twice, which the inbox absorbs, but per-aggregate
order across processes is only guaranteed with Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from elearning_adapters import metrics
from elearning_adapters.events.dispatch import Dispatched, DispatchStats, EventDispatcher, Outcome, describe
from elearning_adapters.events.subscriptions import Subscription
from elearning_adapters.kafka.producer import DEFAULT_PRODUCER_NAME, envelope_for
from elearning_adapters.sql.dead_letters import DeadLetterStore
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.outbox_store import OutboxRecord, OutboxStore, Retention

log = logging.getLogger(__name__)

TRANSPORT = "in-process"


@dataclass
class TransportStats:
    delivered: int = 0  # outbox rows dispatched to every subscription and marked published
    rounds: int = 0
    failed_rounds: int = 0
    consecutive_failures: int = 0
    dead_lettered: int = 0
    replayed: int = 0
    last_error: str | None = None


MAX_REST_SECONDS = 1.0
"""The longest the transport rests after a round for its own sake (``yield_factor``): what it adds to a
consumer's latency under load."""


def rest_after(delivered: int, batch_size: int, took: float, max_wait: float, yield_factor: float) -> float:
    """Seconds to rest after a round that ``delivered`` rows in ``took`` seconds: none after an empty round
    (the transport waits for a wake-up) or a full one (a backlog: go on at once); else the batch wait, or
    ``yield_factor`` times the round's duration when that is longer, capped at ``MAX_REST_SECONDS``."""
    if delivered == 0 or delivered >= batch_size:
        return 0.0
    return max(max_wait, min(yield_factor * took, MAX_REST_SECONDS))


class InProcessEventTransport:
    def __init__(
        self,
        database: Database,
        subscriptions: Sequence[Subscription],
        *,
        producer_name: str = DEFAULT_PRODUCER_NAME,
        batch_size: int = 200,
        poll_seconds: float = 0.2,
        batch_max_wait: float = 0.0,
        yield_factor: float = 0.0,
        max_attempts: int = 5,
        initial_backoff: float = 0.2,
        max_backoff: float = 10.0,
        retention: timedelta | None = None,
        inbox_retention: timedelta | None = None,
    ) -> None:
        if batch_size < 1 or poll_seconds <= 0:
            raise ValueError("batch_size must be at least 1 and poll_seconds positive")
        self._store = OutboxStore(database)
        self._dead_letters = DeadLetterStore(database)
        self._retention = Retention(self._store, retention, keep_inbox=inbox_retention)
        self._producer = producer_name
        self._batch_size = batch_size
        self._poll = poll_seconds
        # Under load (a round delivered events), the next round waits this long for more: a stream of
        # events (heartbeats) is handled in batches, not one transaction per event; a lone event after a
        # quiet moment is delivered at once.
        self._batch_max_wait = batch_max_wait
        # The consumers share the API process's one event loop (and GIL) with its requests: after a round that
        # delivered events, the transport also rests ``yield_factor`` times the round's own duration, so under
        # load the consumers take at most 1 / (1 + yield_factor) of the process and the backlog they leave
        # makes the next batch bigger, and cheaper per event, instead of starving requests.
        if yield_factor < 0:
            raise ValueError("yield_factor must be >= 0")
        self._yield_factor = yield_factor
        self._replays_checked = -math.inf
        self._initial_backoff = initial_backoff
        self._max_backoff = max(max_backoff, initial_backoff)
        self.subscriptions = list(subscriptions)
        self._dispatchers = {
            s.name: (
                frozenset(s.topics),
                EventDispatcher(
                    s.name,
                    s.handlers,
                    database,
                    max_attempts=max_attempts,
                    initial_backoff=initial_backoff,
                    max_backoff=max_backoff,
                    batch_handler=s.batch_handler,
                ),
                s.batch_size_within(batch_size),
            )
            for s in self.subscriptions
        }
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.stats = TransportStats()

    def dispatch_stats(self) -> dict[str, DispatchStats]:
        """Per subscription: what its dispatcher handled, and in how many batches."""
        return {name: dispatcher.stats for name, (_, dispatcher, _) in self._dispatchers.items()}

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Run in the background of the current event loop until ``stop()``."""
        if self._task is None or self._task.done():
            self._stop.clear()
            self._task = asyncio.get_running_loop().create_task(self.run(), name="in-process-events")

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Finish the row in hand (a handler being retried is abandoned: it comes again) and return."""
        self._stop.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), grace_seconds)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def running(self) -> bool:
        """Started and not stopped: this process relays the outbox."""
        return self._task is not None and not self._task.done()

    def wake(self) -> None:
        """New events were committed: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        log.info("in-process event transport started (%d subscriptions)", len(self.subscriptions))
        while not self._stop.is_set():
            self._wake.clear()
            began = time.monotonic()
            try:
                delivered = await self.deliver_once()
                if time.monotonic() - self._replays_checked >= self._poll:  # not a query every round
                    self._replays_checked = time.monotonic()
                    await self._replay_requested()
                await self._retention.maybe_prune()
            except Exception as exc:
                await self._sleep_unless_stopped(self._after_failure(exc))
                continue
            if self.stats.consecutive_failures:
                log.info("in-process event transport recovered after %d failed rounds", self.stats.consecutive_failures)
                self.stats.consecutive_failures = 0
            pause = rest_after(
                delivered, self._batch_size, time.monotonic() - began, self._batch_max_wait, self._yield_factor
            )
            if pause > 0:
                await self._sleep_unless_stopped(pause)
            elif delivered < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)
        log.info("in-process event transport stopped: %d events delivered", self.stats.delivered)

    async def drain(self, max_rounds: int = 10_000) -> int:
        """Deliver until the outbox is empty (scripts and tests that want the effects now)."""
        total = 0
        for _ in range(max_rounds):
            delivered = await self.deliver_once()
            total += delivered
            if delivered == 0:
                break
        await self._replay_requested()
        return total

    # -- one round -----------------------------------------------------------------------

    async def deliver_once(self) -> int:
        """Dispatch one batch of outbox rows and mark the delivered ones; returns how many were."""
        records = await self._store.peek(self._batch_size)
        raws = [envelope_for(record, self._producer).to_json() for record in records]
        # How many subscriptions still have to handle each row; a row is delivered at 0.
        pending = [sum(1 for topics, _, _ in self._dispatchers.values() if r.topic in topics) for r in records]
        try:
            for name, (topics, dispatcher, chunk) in self._dispatchers.items():
                mine = [i for i, record in enumerate(records) if record.topic in topics]
                if not await self._deliver_to(name, dispatcher, chunk, mine, records, raws, pending):
                    break  # stopping: what is not handled yet comes again
        finally:
            delivered = list(itertools.takewhile(lambda i: pending[i] == 0, range(len(records))))
            if delivered:
                await self._store.mark_published([records[i].id for i in delivered])
                self.stats.delivered += len(delivered)
                metrics.RELAYED.labels(TRANSPORT).inc(len(delivered))
                metrics.RELAY_BATCHES.labels(TRANSPORT).inc()
        self.stats.rounds += 1
        return len(delivered)

    async def _deliver(self, record: OutboxRecord) -> bool:
        """Dispatch one row to each subscription of its topic; False if stopped before all were done."""
        raws, pending = [envelope_for(record, self._producer).to_json()], [len(self._dispatchers)]
        for name, (topics, dispatcher, chunk) in self._dispatchers.items():
            indexes = [0] if record.topic in topics else []
            if not await self._deliver_to(name, dispatcher, chunk, indexes, [record], raws, pending):
                return False
        return True

    async def _deliver_to(
        self,
        name: str,
        dispatcher: EventDispatcher,
        chunk: int,
        indexes: list[int],
        records: Sequence[OutboxRecord],
        raws: Sequence[bytes],
        pending: list[int],
    ) -> bool:
        """The rows at ``indexes`` to one subscription, ``chunk`` per transaction; False if stopped before all."""
        for start in range(0, len(indexes), chunk):
            batch = indexes[start : start + chunk]
            results = await dispatcher.dispatch_batch(
                [raws[i] for i in batch],
                where=[f"outbox row {records[i].id}" for i in batch],
                sleep=self._sleep_unless_stopped,
            )
            for i, result in zip(batch, results, strict=False):
                if result.outcome is Outcome.ABANDONED:
                    return False
                if result.outcome is Outcome.DEAD_LETTER:
                    await self._store_dead_letter(name, records[i], raws[i], result)
                pending[i] -= 1
        return True

    async def _store_dead_letter(self, consumer: str, record: OutboxRecord, raw: bytes, result: Dispatched) -> None:
        await self._dead_letters.add(
            consumer=consumer,
            topic=record.topic,
            message_key=record.message_key,
            message=raw,
            error=describe(result.error) if result.error else "unknown error",
            attempts=result.attempts,
            event_id=record.event_id,
            event_type=record.event_type,
            outbox_id=record.id,
        )
        self.stats.dead_lettered += 1
        metrics.DEAD_LETTERED.labels(consumer, record.topic).inc()

    async def _replay_requested(self) -> None:
        for dead in await self._dead_letters.replay_requested(self._batch_size):
            entry = self._dispatchers.get(dead.consumer)
            if entry is None:
                await self._dead_letters.failed_again(dead.id, f"no consumer named {dead.consumer} runs here", 0)
                continue
            result = await entry[1].dispatch(
                dead.message.encode(), where=f"dead letter {dead.id}", sleep=self._sleep_unless_stopped
            )
            if result.outcome is Outcome.ABANDONED:
                return
            if result.outcome is Outcome.DEAD_LETTER:
                error = describe(result.error) if result.error else "unknown error"
                await self._dead_letters.failed_again(dead.id, error, result.attempts)
                log.warning("replayed dead letter %d failed again: %s", dead.id, error)
                continue
            await self._dead_letters.resolve(dead.id)
            self.stats.replayed += 1
            log.info("replayed dead letter %d (%s) for %s", dead.id, dead.event_type, dead.consumer)

    # -- helpers -------------------------------------------------------------------------

    def _after_failure(self, exc: Exception) -> float:
        self.stats.failed_rounds += 1
        self.stats.consecutive_failures += 1
        self.stats.last_error = describe(exc)
        metrics.RELAY_FAILURES.labels(TRANSPORT).inc()
        exponent = min(self.stats.consecutive_failures - 1, 30)
        delay = float(min(self._max_backoff, max(self._initial_backoff, 0.05) * 2**exponent))
        log.warning(
            "in-process event round failed (%d in a row), retrying in %.1fs: %s",
            self.stats.consecutive_failures,
            delay,
            self.stats.last_error,
        )
        return delay

    async def _sleep_unless_stopped(self, seconds: float) -> bool:
        if seconds > 0 and not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()
