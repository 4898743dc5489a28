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
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters import metrics
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.inbox import record_processed
from elearning_core.shared.envelope import EventEnvelope, UndecodableEvent, decode
from elearning_core.shared.events import DomainEvent, event_class

log = logging.getLogger(__name__)

Handler = Callable[[DomainEvent, EventEnvelope, AsyncConnection], Awaitable[None]]
"""``async def handler(event, envelope, conn)``: ``conn`` holds the transaction that also holds the inbox row."""

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

    def backoff(self, attempt: int) -> float:
        return float(min(self._max_backoff, self._initial_backoff * 2 ** min(attempt - 1, 30)))

    async def dispatch(self, raw: bytes, *, where: str, sleep: SleepUnlessStopped) -> Dispatched:
        """Decode and handle one message; ``where`` names its origin in log lines."""
        result = await self._dispatch(raw, where, sleep)
        if result.outcome is not Outcome.ABANDONED:
            metrics.HANDLED.labels(self.consumer_name, result.outcome.value).inc()
        return result

    async def _dispatch(self, raw: bytes, where: str, sleep: SleepUnlessStopped) -> Dispatched:
        try:
            envelope = decode(raw)
        except UndecodableEvent as exc:
            log.warning("undecodable message at %s: %s", where, exc)
            return Dispatched(Outcome.DEAD_LETTER, error=exc, attempts=1)
        if event_class(envelope.type) is None:
            # A newer producer's type (or a typo): keep it for a replay once this consumer knows it.
            unknown = UndecodableEvent("unknown event type", event_type=envelope.type)
            log.warning("event %s at %s has a type this release does not know: %s", envelope.event_id, where, unknown)
            return Dispatched(Outcome.DEAD_LETTER, envelope, unknown, attempts=1)
        handler = self.handlers.get(envelope.type)
        if handler is None:
            log.debug("no handler for %s (event %s): skipped", envelope.type, envelope.event_id)
            self.stats.skipped += 1
            return Dispatched(Outcome.SKIPPED, envelope)
        try:
            event = envelope.event()
        except UndecodableEvent as exc:
            log.warning("event %s at %s cannot be read: %s", envelope.event_id, where, exc)
            return Dispatched(Outcome.DEAD_LETTER, envelope, exc, attempts=1)
        attempt = 0
        while True:
            attempt += 1
            try:
                duplicate = not await self._handle(handler, event, envelope)
            except Exception as exc:
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
                continue
            if duplicate:
                return Dispatched(Outcome.DUPLICATE, envelope, attempts=attempt)
            return Dispatched(Outcome.HANDLED, envelope, attempts=attempt)

    async def _handle(self, handler: Handler, event: DomainEvent, envelope: EventEnvelope) -> bool:
        """Run the handler with the inbox row in one transaction; False if it was handled before."""
        async with self._db.write() as conn, conn.begin():
            if not await record_processed(conn, self.consumer_name, envelope.event_id):
                log.debug("event %s already handled by %s: skipped", envelope.event_id, self.consumer_name)
                self.stats.duplicates += 1
                return False
            await handler(event, envelope, conn)
        self.stats.handled += 1
        return True


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
