"""One message to its handler, exactly once in effect: the part every transport shares.

The Kafka consumer runner and the in-process transport of the embedded
default both hand each message to an ``EventDispatcher``, so the rules below
never fork between modes:

1. The envelope is decoded. What cannot be decoded (not JSON, no envelope, a
   version that contradicts its type) is a dead letter at once: never retried.
2. A type this release does not know is a dead letter (attempts 1): a newer
   producer's event waits there to be replayed once this consumer is upgraded.
   A known type this consumer has no handler for is skipped.
3. The event is rebuilt from the payload; a payload its class refuses is a
   dead letter too.
4. The handler runs in a transaction of its own that first writes the inbox
   row ``(consumer, event_id)``. If the row was already there the event was
   handled before (a redelivery) and the handler is not called. The handler's
   database effect and the inbox row commit together.
5. A failing attempt rolls back and is retried with exponential backoff; after
   ``max_attempts`` the outcome is a dead letter, which the transport stores
   (``<topic>.dlq`` on Kafka, the ``dead_letters`` table in-process) before it
   moves past the message.

``dispatch_batch`` applies the same rules to many messages in ONE transaction
(projections handle thousands of events a second that way): the inbox rows of
the whole batch go in with one multi-row insert whose RETURNING names the new
events, the handlers of the new ones run in order on the same connection, and
everything commits once. If anything in the batch fails, the transaction rolls
back and the batch is dispatched again one message at a time (rule 5 per
message), so a poison message is retried and dead-lettered alone while the
others commit exactly once. After-commit hooks of units of work joined to the
transaction (``SqlUnitOfWork.joining``) run after the real commit.

A dispatcher may also be given a ``batch_handler``: called once per batch with
all its new events (in order) instead of the per-type handlers, for a projection
that writes set-wise. It must have the effect of calling the per-type handlers
in that order, which still serve the one-at-a-time fallback.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters import metrics
from elearning_adapters.sql import commit_hooks
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.inbox import record_processed_many
from elearning_core.shared.envelope import EventEnvelope, UndecodableEvent, decode
from elearning_core.shared.events import DomainEvent, event_class

log = logging.getLogger(__name__)

Handler = Callable[[DomainEvent, EventEnvelope, AsyncConnection], Awaitable[None]]
"""``async def handler(event, envelope, conn)``: ``conn`` holds the transaction that also holds the inbox row."""

BatchHandler = Callable[[Sequence[tuple[DomainEvent, EventEnvelope]], AsyncConnection], Awaitable[None]]
"""``async def handle_batch(items, conn)``: every new event of a batch, in order, in the batch's transaction."""

SleepUnlessStopped = Callable[[float], Awaitable[bool]]
"""Sleeps up to the given seconds; True when the transport is stopping (then the message is abandoned)."""


class Outcome(enum.Enum):
    HANDLED = "handled"  # the handler's effect committed
    DUPLICATE = "duplicate"  # already in the inbox: the handler was not called
    SKIPPED = "skipped"  # no handler for the type
    DEAD_LETTER = "dead_letter"  # unreadable, or failed max_attempts times: store it, then move on
    ABANDONED = "abandoned"  # stopped while retrying: leave it unacknowledged, it comes again


@dataclass(frozen=True, slots=True)
class Dispatched:
    outcome: Outcome
    envelope: EventEnvelope | None = None
    error: BaseException | None = None
    attempts: int = 0


@dataclass
class DispatchStats:
    handled: int = 0
    duplicates: int = 0
    skipped: int = 0
    failed_attempts: int = 0
    batches: int = 0  # batches committed in one transaction
    batch_fallbacks: int = 0  # batches that failed and were dispatched again one message at a time


class EventDispatcher:
    def __init__(
        self,
        consumer_name: str,
        handlers: Mapping[str, Handler],
        database: Database,
        *,
        max_attempts: int = 5,
        initial_backoff: float = 0.2,
        max_backoff: float = 10.0,
        stats: DispatchStats | None = None,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        if not consumer_name:
            raise ValueError("a consumer name is required")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if initial_backoff < 0 or max_backoff < 0:
            raise ValueError("backoffs must be >= 0")
        self.consumer_name = consumer_name
        self.handlers = dict(handlers)
        for type_name in self.handlers:
            if event_class(type_name) is None:
                log.warning("a handler is registered for %s, an event type this release does not know", type_name)
        self._db = database
        self._max_attempts = max_attempts
        self._initial_backoff = initial_backoff
        self._max_backoff = max(max_backoff, initial_backoff)
        self.stats = stats if stats is not None else DispatchStats()
        self._batch_handler = batch_handler

    def backoff(self, attempt: int) -> float:
        return float(min(self._max_backoff, self._initial_backoff * 2 ** min(attempt - 1, 30)))

    async def dispatch(self, raw: bytes, *, where: str, sleep: SleepUnlessStopped) -> Dispatched:
        """Decode and handle one message; ``where`` names its origin in log lines."""
        return await self._dispatch_counted(raw, where, sleep, None)

    async def _dispatch_counted(
        self, raw: bytes, where: str, sleep: SleepUnlessStopped, failed_once: Exception | None
    ) -> Dispatched:
        result = await self._dispatch(raw, where, sleep, failed_once)
        if result.outcome is not Outcome.ABANDONED:
            metrics.HANDLED.labels(self.consumer_name, result.outcome.value).inc()
        return result

    async def _dispatch(
        self, raw: bytes, where: str, sleep: SleepUnlessStopped, failed_once: Exception | None
    ) -> Dispatched:
        """Rules 1 to 5 for one message; ``failed_once``: its handler already failed once (in a batch)."""
        decoded = self._decode(raw, where)
        if isinstance(decoded, Dispatched):
            if decoded.outcome is Outcome.SKIPPED:
                self.stats.skipped += 1
            return decoded
        event, envelope = decoded
        handler = self.handlers[envelope.type]
        attempt = 0
        earlier_failure = failed_once
        while True:
            attempt += 1
            if earlier_failure is not None:
                exc, earlier_failure = earlier_failure, None
            else:
                try:
                    duplicate = not await self._handle(handler, event, envelope)
                except Exception as failure:
                    exc = failure
                else:
                    outcome = Outcome.DUPLICATE if duplicate else Outcome.HANDLED
                    return Dispatched(outcome, envelope, attempts=attempt)
            self.stats.failed_attempts += 1
            metrics.HANDLER_FAILURES.labels(self.consumer_name).inc()
            if attempt >= self._max_attempts:
                log.error(
                    "event %s (%s) failed %d times, dead-lettering it: %s",
                    envelope.event_id,
                    envelope.type,
                    attempt,
                    describe(exc),
                )
                return Dispatched(Outcome.DEAD_LETTER, envelope, exc, attempts=attempt)
            delay = self.backoff(attempt)
            log.warning(
                "event %s (%s) failed (attempt %d of %d), retrying in %.2fs: %s",
                envelope.event_id,
                envelope.type,
                attempt,
                self._max_attempts,
                delay,
                describe(exc),
            )
            if await sleep(delay):
                log.info("stopping: event %s left unacknowledged, it will be delivered again", envelope.event_id)
                return Dispatched(Outcome.ABANDONED, envelope, exc, attempts=attempt)

    async def _handle(self, handler: Handler, event: DomainEvent, envelope: EventEnvelope) -> bool:
        """Run the handler with the inbox row in one transaction; False if it was handled before."""
        async with self._db.write() as conn:
            with commit_hooks.collecting(conn) as hooks:
                async with conn.begin():
                    if not await record_processed_many(conn, self.consumer_name, [envelope.event_id]):
                        log.debug("event %s already handled by %s: skipped", envelope.event_id, self.consumer_name)
                        self.stats.duplicates += 1
                        return False
                    await handler(event, envelope, conn)
        self.stats.handled += 1
        await commit_hooks.run(hooks)
        return True

    # -- batches -----------------------------------------------------------------------------

    async def dispatch_batch(
        self, raws: Sequence[bytes], *, where: Sequence[str], sleep: SleepUnlessStopped
    ) -> list[Dispatched]:
        """Decode and handle many messages in one transaction; one result per message, in order.

        ``where[i]`` names message i's origin in log lines. When the handler of
        message i raises, the batch rolls back; the messages before it are
        handled again as a batch, message i alone with rule 5 (the batch's try
        counts as its first attempt), and those after it as a batch again. Any
        other failure (the inbox insert, the commit, a ``batch_handler``) sends
        the whole batch one message at a time. The results cover every message
        unless the transport stopped while one was being retried: then the list
        ends with that message, ``ABANDONED``, and the messages after it were
        not touched.
        """
        if len(where) != len(raws):
            raise ValueError("one origin per message")
        results: list[Dispatched] = []
        start = 0
        while start < len(raws):
            if len(raws) - start == 1:
                results.append(await self.dispatch(raws[start], where=where[start], sleep=sleep))
                return results
            began = time.perf_counter()
            try:
                done = await self._dispatch_batch(raws[start:], where[start:])
            except _HandlerFailed as failed:
                self._fell_back(len(raws) - start, failed.error)
                poison = start + failed.index
                results.extend(await self.dispatch_batch(raws[start:poison], where=where[start:poison], sleep=sleep))
                if results and results[-1].outcome is Outcome.ABANDONED:
                    return results
                results.append(await self._dispatch_counted(raws[poison], where[poison], sleep, failed.error))
                if results[-1].outcome is Outcome.ABANDONED:
                    return results
                start = poison + 1
                continue
            except Exception as exc:
                self._fell_back(len(raws) - start, exc)
                results.extend(await self._one_at_a_time(raws[start:], where[start:], sleep))
                return results
            self.stats.batches += 1
            metrics.BATCH_SIZE.labels(self.consumer_name).observe(len(done))
            metrics.BATCH_SECONDS.labels(self.consumer_name).observe(time.perf_counter() - began)
            for result in done:
                metrics.HANDLED.labels(self.consumer_name, result.outcome.value).inc()
            results.extend(done)
            break
        return results

    def _fell_back(self, size: int, exc: BaseException) -> None:
        self.stats.batch_fallbacks += 1
        metrics.BATCH_FALLBACKS.labels(self.consumer_name).inc()
        log.warning("a batch of %d events failed and was rolled back (%s); isolating the failure", size, describe(exc))

    async def _one_at_a_time(
        self, raws: Sequence[bytes], where: Sequence[str], sleep: SleepUnlessStopped
    ) -> list[Dispatched]:
        results: list[Dispatched] = []
        for raw, origin in zip(raws, where, strict=True):
            result = await self.dispatch(raw, where=origin, sleep=sleep)
            results.append(result)
            if result.outcome is Outcome.ABANDONED:
                break
        return results

    async def _dispatch_batch(self, raws: Sequence[bytes], where: Sequence[str]) -> list[Dispatched]:
        """One transaction for the batch; raises (having rolled back) if anything in it fails.

        ``_HandlerFailed`` names the message whose handler raised.
        """
        results: list[Dispatched | None] = []
        candidates: list[tuple[int, DomainEvent, EventEnvelope]] = []
        for index, (raw, origin) in enumerate(zip(raws, where, strict=True)):
            decoded = self._decode(raw, origin)
            if isinstance(decoded, Dispatched):
                results.append(decoded)
            else:
                results.append(None)
                candidates.append((index, *decoded))
        skipped = sum(1 for r in results if r is not None and r.outcome is Outcome.SKIPPED)
        handled: list[tuple[int, DomainEvent, EventEnvelope]] = []
        if candidates:
            async with self._db.write() as conn:
                with commit_hooks.collecting(conn) as hooks:
                    async with conn.begin():
                        new = await record_processed_many(
                            conn, self.consumer_name, [e.event_id for _, e, _ in candidates]
                        )
                        for index, event, envelope in candidates:
                            if envelope.event_id in new:
                                new.discard(envelope.event_id)  # a second copy in this batch is a duplicate
                                handled.append((index, event, envelope))
                                results[index] = Dispatched(Outcome.HANDLED, envelope, attempts=1)
                            else:
                                results[index] = Dispatched(Outcome.DUPLICATE, envelope, attempts=1)
                        await self._run_handlers(handled, conn)
            await commit_hooks.run(hooks)
        done = [r for r in results if r is not None]
        self.stats.skipped += skipped
        self.stats.handled += len(handled)
        self.stats.duplicates += len(candidates) - len(handled)
        return done

    async def _run_handlers(
        self, items: Sequence[tuple[int, DomainEvent, EventEnvelope]], conn: AsyncConnection
    ) -> None:
        if not items:
            return
        if self._batch_handler is not None:
            await self._batch_handler([(event, envelope) for _, event, envelope in items], conn)
            return
        for index, event, envelope in items:
            try:
                await self.handlers[envelope.type](event, envelope, conn)
            except Exception as exc:
                raise _HandlerFailed(index, exc) from exc

    def _decode(self, raw: bytes, where: str) -> Dispatched | tuple[DomainEvent, EventEnvelope]:
        """Rules 1 to 3 for one message: its final result, or the event to hand to its handler."""
        try:
            envelope = decode(raw)
        except UndecodableEvent as exc:
            log.warning("undecodable message at %s: %s", where, exc)
            return Dispatched(Outcome.DEAD_LETTER, error=exc, attempts=1)
        if event_class(envelope.type) is None:
            unknown = UndecodableEvent("unknown event type", event_type=envelope.type)
            log.warning("event %s at %s has a type this release does not know: %s", envelope.event_id, where, unknown)
            return Dispatched(Outcome.DEAD_LETTER, envelope, unknown, attempts=1)
        if envelope.type not in self.handlers:
            log.debug("no handler for %s (event %s): skipped", envelope.type, envelope.event_id)
            return Dispatched(Outcome.SKIPPED, envelope)
        try:
            event = envelope.event()
        except UndecodableEvent as exc:
            log.warning("event %s at %s cannot be read: %s", envelope.event_id, where, exc)
            return Dispatched(Outcome.DEAD_LETTER, envelope, exc, attempts=1)
        return event, envelope


class _HandlerFailed(Exception):
    """The handler of the batch's message at ``index`` raised ``error``."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(describe(error))
        self.index = index
        self.error = error


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
