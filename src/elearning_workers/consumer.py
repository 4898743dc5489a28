"""The event consumer runner: Kafka messages to idempotent handlers, offsets committed only after handling.

One runner is one member of a consumer group. Messages are handled in
batches, in partition order, by an ``EventDispatcher`` (decode, inbox dedupe,
retries with backoff; see ``elearning_adapters.events.dispatch``), the same
one the in-process transport uses: the runner polls one message (waiting up to
``poll_timeout``), then takes up to ``batch_size - 1`` more that arrive within
``batch_max_wait`` (``consume``), and the dispatcher handles the batch in one
transaction (one at a time if the batch fails, so a poison message is isolated).
With ``batch_size=1`` (the constructor's default) each message is its own
batch; the workers pass ``ELEARNING_CONSUMER_BATCH_SIZE`` (500 by default).
What the dispatcher gives up on is produced to ``<topic>.dlq`` (same key and
value, the original headers, plus ``dlq-*`` headers naming the error, the
attempts and the origin) and, only once the broker acknowledged it, counts as
handled. If the dead letter cannot be delivered the runner keeps trying
(backing off) and commits nothing past it. The offsets of a batch are committed
synchronously, ONCE, after the whole batch is handled and before the next poll.

Every call into the librdkafka consumer runs on one dedicated thread, so the
event loop never blocks on the broker and rebalance callbacks (which
librdkafka runs inside ``poll``) never race the handling of a message: when a
partition is revoked nothing is in flight, and what was handled is committed
first.

``stop()`` is graceful: the batch in hand is finished (a message still being
retried is abandoned uncommitted, so it and the rest of its batch are
redelivered), the handled offsets committed,
and the consumer closed. Without an ``instance_id`` that leaves the group at
once; a static member (``group.instance.id``) keeps its partitions for the
session timeout instead, so a restart (or a kill -9 and restart) takes them
back without a rebalance. Cancelling ``run()``
is treated like a crash: nothing more is committed, the consumer is closed,
and whatever was not committed is delivered again (the inbox dedupes it).

A handler blocks polling while it retries: keep ``max_attempts`` and the
backoff well below ``max.poll.interval.ms`` (five minutes by default), or the
broker hands the partitions to another member meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from elearning_adapters import metrics
from elearning_adapters.events.dispatch import (
    BatchHandler,
    Dispatched,
    DispatchStats,
    EventDispatcher,
    Outcome,
    describe,
)
from elearning_adapters.events.dispatch import Handler as Handler  # re-exported: handlers are typed with it
from elearning_adapters.kafka import KafkaEventPublisher
from elearning_adapters.kafka.headers import (
    DLQ_ATTEMPTS,
    DLQ_CONSUMER,
    DLQ_ERROR,
    DLQ_ORIGINAL_OFFSET,
    DLQ_ORIGINAL_PARTITION,
    DLQ_ORIGINAL_TOPIC,
    DLQ_SUFFIX,
)
from elearning_adapters.sql.engine import Database

log = logging.getLogger(__name__)

_ERROR_MAX = 2000

T = TypeVar("T")


def dlq_topic(topic: str) -> str:
    return f"{topic}{DLQ_SUFFIX}"


class DeadLetterFailed(Exception):
    """The broker did not acknowledge a dead letter; the message stays uncommitted."""


@dataclass
class ConsumerStats(DispatchStats):
    dead_lettered: int = 0
    committed: int = 0  # partitions whose offset was committed, summed over the commits
    offset_commits: int = 0  # successful commit calls (one per batch, plus those of rebalances and the stop)
    commit_failures: int = 0


class ConsumerRunner:
    def __init__(
        self,
        group: str,
        bootstrap_servers: str,
        topics: Sequence[str],
        handlers: Mapping[str, Handler],
        database: Database,
        *,
        consumer_name: str | None = None,
        instance_id: str | None = None,
        max_attempts: int = 5,
        initial_backoff: float = 0.2,
        max_backoff: float = 10.0,
        poll_timeout: float = 0.5,
        dlq_timeout: float = 10.0,
        ensure_dlq_topics: bool = True,
        config: Mapping[str, Any] | None = None,
        batch_size: int = 1,
        batch_max_wait: float = 0.05,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        if batch_size < 1 or batch_max_wait < 0:
            raise ValueError("batch_size must be at least 1 and batch_max_wait >= 0")
        if not group:
            raise ValueError("a consumer group is required")
        if not topics:
            raise ValueError("subscribe to at least one topic")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if initial_backoff < 0 or max_backoff < 0 or poll_timeout <= 0 or dlq_timeout <= 0:
            raise ValueError("backoffs must be >= 0, poll_timeout and dlq_timeout > 0")
        self.group = group
        self.consumer_name = consumer_name or group
        self.topics = list(dict.fromkeys(topics))
        self._bootstrap = bootstrap_servers
        self._poll_timeout = poll_timeout
        self._batch_size = batch_size
        self._batch_max_wait = batch_max_wait
        self._dlq_timeout = dlq_timeout
        self._ensure_dlq_topics = ensure_dlq_topics
        self._consumer_config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group,
            "client.id": f"{self.consumer_name}-consumer",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 1000,
            # A topic created after the subscription is seen within 10 s rather than librdkafka's 5 minutes.
            "topic.metadata.refresh.interval.ms": 10000,
            # Static membership: a restarted member with the same id takes its partitions back within the
            # session timeout, without a rebalance of the group.
            **({"group.instance.id": instance_id} if instance_id else {}),
            **(config or {}),
        }
        self._producer_config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "client.id": f"{self.consumer_name}-dlq",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 0,
            "message.timeout.ms": int(dlq_timeout * 1000),
        }
        self.stats = ConsumerStats()
        self._dispatcher = EventDispatcher(
            self.consumer_name,
            handlers,
            database,
            max_attempts=max_attempts,
            initial_backoff=initial_backoff,
            max_backoff=max_backoff,
            stats=self.stats,
            batch_handler=batch_handler,
        )
        self._stop = asyncio.Event()
        self._started = False
        self._aborted = False
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        # Next offset to commit per (topic, partition): handled, not yet committed. Touched by the
        # event loop and by rebalance callbacks on the consumer thread (never at the same time, the lock is a guard).
        self._pending: dict[tuple[str, int], int] = {}
        self._pending_lock = threading.Lock()
        self.assignment: set[tuple[str, int]] = set()

    # -- lifecycle ----------------------------------------------------------------------

    def stop(self) -> None:
        """Finish the message in hand, commit, leave the group (``run()`` then returns)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run(self) -> None:
        """Consume until ``stop()``; handler failures are retried or dead-lettered, never raised."""
        if self._started:
            raise RuntimeError("a ConsumerRunner runs once; create a new one")
        self._started = True
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"consumer-{self.group}")
        try:
            if self._ensure_dlq_topics:
                await self._create_topics()
            self._consumer = await self._on_consumer_thread(Consumer, self._consumer_config)
            await self._on_consumer_thread(
                self._consumer.subscribe,
                self.topics,
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            log.info("consumer %s (group %s) subscribed to %s", self.consumer_name, self.group, self.topics)
            while not self._stop.is_set():
                messages = await self._on_consumer_thread(self._fetch, self._consumer)
                if len(messages) == 1:
                    await self._process(messages[0])
                elif messages:
                    await self._process_batch(messages)
        except asyncio.CancelledError:
            self._aborted = True  # a crash: commit nothing more
            raise
        finally:
            await self._shutdown()
        log.info("consumer %s stopped: %s", self.consumer_name, self.stats)

    async def _shutdown(self) -> None:
        consumer, self._consumer = self._consumer, None
        executor = self._executor
        try:
            if consumer is not None and executor is not None:
                if not self._aborted:
                    await self._commit_pending(consumer)
                # close() revokes the assignment (our callback commits what is left, unless aborted) and leaves the group.
                await asyncio.shield(asyncio.wrap_future(executor.submit(consumer.close)))
        finally:
            self._executor = None
            if executor is not None:
                executor.shutdown(wait=False)
            producer, self._producer = self._producer, None
            if producer is not None:
                await asyncio.to_thread(producer.flush, 1.0)

    async def _on_consumer_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._executor is None:
            raise RuntimeError("the consumer is not running")
        return await asyncio.wrap_future(self._executor.submit(lambda: fn(*args, **kwargs)))

    async def _create_topics(self) -> None:
        """Make sure the subscribed and dead-letter topics exist (best effort).

        Clusters often disable auto-creation, and a consumer that subscribes to a
        topic before it exists only notices it at its next metadata refresh: on
        a fresh deployment the consumer would sit idle until then.
        """
        admin = KafkaEventPublisher(self._bootstrap)
        try:
            await asyncio.to_thread(admin.ensure_topics, self.topics)
            await asyncio.to_thread(admin.ensure_topics, [dlq_topic(t) for t in self.topics], partitions=1)
        except Exception as exc:
            log.warning("could not check the topics (they may be created on first use): %s", exc)

    def _fetch(self, consumer: Consumer) -> list[Message]:
        """On the consumer thread: one message (waiting up to ``poll_timeout``), then the batch's others.

        A rebalance callback may run inside ``consume``: a message of a partition
        revoked meanwhile is dropped (uncommitted), its new owner gets it.
        """
        first = consumer.poll(self._poll_timeout)
        if first is None:
            return []
        fetched = [first]
        batching = self._batch_size > 1 and first.error() is None
        if batching:
            fetched.extend(consumer.consume(self._batch_size - 1, self._batch_max_wait))
        messages: list[Message] = []
        for message in fetched:
            error = message.error()
            if error is not None:
                self._on_poll_error(error)
            elif not batching or (message.topic(), message.partition()) in self.assignment:
                messages.append(message)
        return messages

    def _on_poll_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise KafkaException(error)
        log.warning("consumer %s: %s", self.consumer_name, error)

    # -- one message ------------------------------------------------------------------

    async def _process(self, message: Message) -> None:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if topic is None or partition is None or offset is None:
            return
        result = await self._dispatcher.dispatch(
            message.value() or b"", where=f"{topic}[{partition}]@{offset}", sleep=self._sleep_unless_stopped
        )
        if await self._settle(message, result):
            await self._mark_handled(topic, partition, offset)

    async def _process_batch(self, messages: Sequence[Message]) -> None:
        """Handle a batch in one transaction, then commit its offsets once."""
        located = [(m, m.topic(), m.partition(), m.offset()) for m in messages]
        batch = [(m, t, p, o) for m, t, p, o in located if t is not None and p is not None and o is not None]
        results = await self._dispatcher.dispatch_batch(
            [m.value() or b"" for m, _, _, _ in batch],
            where=[f"{t}[{p}]@{o}" for _, t, p, o in batch],
            sleep=self._sleep_unless_stopped,
        )
        for (message, topic, partition, offset), result in zip(batch, results, strict=False):
            if not await self._settle(message, result):
                break  # stopping: this message and the rest of the batch come again
            with self._pending_lock:
                self._pending[(topic, partition)] = offset + 1
        # Not in a ``finally``: a cancelled run is a crash and commits nothing more.
        if self._consumer is not None:
            await self._commit_pending(self._consumer)

    async def _settle(self, message: Message, result: Dispatched) -> bool:
        """What a result needs before its offset may be committed; False if it may not (stopping)."""
        if result.outcome is Outcome.ABANDONED:
            return False
        if result.outcome is Outcome.DEAD_LETTER:
            assert result.error is not None
            return await self._dead_letter(message, result.error, attempts=result.attempts)
        return True

    async def _sleep_unless_stopped(self, seconds: float) -> bool:
        """Sleep; True if ``stop()`` was called meanwhile (or before)."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        return self._stop.is_set()

    # -- dead letters -------------------------------------------------------------------

    async def _dead_letter(self, message: Message, error: BaseException, *, attempts: int) -> bool:
        """Produce the message to its DLQ and wait for the acknowledgement; False if stopped before that."""
        failures = 0
        while True:
            try:
                await self._produce_dead_letter(message, error, attempts)
                self.stats.dead_lettered += 1
                metrics.DEAD_LETTERED.labels(self.consumer_name, message.topic() or "").inc()
                return True
            except (DeadLetterFailed, KafkaException, BufferError) as exc:
                failures += 1
                delay = self._dispatcher.backoff(failures) or 0.1
                log.error(
                    "could not dead-letter %s[%s]@%s (try %d), retrying in %.2fs: %s",
                    message.topic(),
                    message.partition(),
                    message.offset(),
                    failures,
                    delay,
                    exc,
                )
                if await self._sleep_unless_stopped(delay):
                    return False

    async def _produce_dead_letter(self, message: Message, error: BaseException, attempts: int) -> None:
        if self._producer is None:
            self._producer = Producer(self._producer_config)
        producer = self._producer
        topic = message.topic() or ""
        outcome: list[KafkaError | None] = []

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            outcome.append(err)

        producer.produce(
            dlq_topic(topic),
            key=message.key(),
            value=message.value(),
            headers=dead_letter_headers(message, error, attempts, consumer=self.consumer_name),
            on_delivery=on_delivery,
        )
        deadline = time.monotonic() + self._dlq_timeout + 5.0
        while not outcome and time.monotonic() < deadline:
            await asyncio.to_thread(producer.flush, min(1.0, max(deadline - time.monotonic(), 0.0)))
        if not outcome:
            self._discard_producer()
            raise DeadLetterFailed("no delivery report before the deadline")
        if outcome[0] is not None:
            if outcome[0].fatal():
                self._discard_producer()
            raise DeadLetterFailed(f"{outcome[0].name()}: {outcome[0].str()}")
        log.info("dead-lettered %s[%s]@%s to %s", topic, message.partition(), message.offset(), dlq_topic(topic))

    def _discard_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.purge(in_queue=True, in_flight=True, blocking=False)

    # -- offsets ------------------------------------------------------------------------

    async def _mark_handled(self, topic: str, partition: int, offset: int) -> None:
        with self._pending_lock:
            self._pending[(topic, partition)] = offset + 1
        if self._consumer is not None:
            await self._commit_pending(self._consumer)

    async def _commit_pending(self, consumer: Consumer) -> None:
        await self._on_consumer_thread(self._commit_now, consumer, None)

    def _commit_now(self, consumer: Consumer, only: set[tuple[str, int]] | None) -> None:
        """On the consumer thread: synchronously commit the handled offsets (of ``only``, if given)."""
        with self._pending_lock:
            chosen = {tp: o for tp, o in self._pending.items() if only is None or tp in only}
        if not chosen:
            return
        try:
            consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in chosen.items()],
                asynchronous=False,
            )
        except KafkaException as exc:
            # Kept pending: the next commit (or the revocation) tries again; at worst the messages are redelivered.
            self.stats.commit_failures += 1
            log.warning("consumer %s could not commit %s: %s", self.consumer_name, chosen, exc)
            return
        with self._pending_lock:
            for tp, committed in chosen.items():
                if self._pending.get(tp) == committed:
                    del self._pending[tp]
        self.stats.committed += len(chosen)
        self.stats.offset_commits += 1

    # -- rebalances (called by librdkafka on the consumer thread, inside poll/close) -------------

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assignment |= {(p.topic, p.partition) for p in partitions}
        log.info("consumer %s assigned %s", self.consumer_name, _names(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(p.topic, p.partition) for p in partitions}
        if not self._aborted:
            self._commit_now(consumer, revoked)
        self._forget(revoked)
        log.info("consumer %s revoked %s", self.consumer_name, _names(partitions))

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another member may own them already: committing now could move its offsets. Redelivery is safe.
        self._forget({(p.topic, p.partition) for p in partitions})
        log.warning("consumer %s lost %s", self.consumer_name, _names(partitions))

    def _forget(self, partitions: set[tuple[str, int]]) -> None:
        with self._pending_lock:
            for tp in partitions:
                self._pending.pop(tp, None)
        self.assignment -= partitions


def dead_letter_headers(
    message: Message, error: BaseException, attempts: int, *, consumer: str
) -> list[tuple[str, str | bytes | None]]:
    """The original headers (minus earlier ``dlq-*`` ones) and the ``dlq-*`` headers naming the failure."""
    raw = message.headers() or []
    pairs: Iterable[tuple[str, Any]] = raw.items() if isinstance(raw, dict) else raw
    original: list[tuple[str, str | bytes | None]] = [(n, v) for n, v in pairs if not n.startswith("dlq-")]
    return [
        *original,
        (DLQ_ERROR, describe(error)[:_ERROR_MAX].encode()),
        (DLQ_ATTEMPTS, str(attempts).encode()),
        (DLQ_ORIGINAL_TOPIC, (message.topic() or "").encode()),
        (DLQ_ORIGINAL_PARTITION, str(message.partition()).encode()),
        (DLQ_ORIGINAL_OFFSET, str(message.offset()).encode()),
        (DLQ_CONSUMER, consumer.encode()),
    ]


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing"


async def run_consumer(
    group: str,
    bootstrap_servers: str,
    topics: Sequence[str],
    handlers: Mapping[str, Handler],
    database: Database,
    **options: Any,
) -> ConsumerStats:
    """Run one consumer until SIGTERM or SIGINT, then stop it gracefully; returns its counters.

    ``options`` are ``ConsumerRunner``'s keyword arguments. The database stays
    the caller's to dispose of.
    """
    runner = ConsumerRunner(group, bootstrap_servers, topics, handlers, database, **options)
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, runner.stop)
    try:
        await runner.run()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
    return runner.stats
