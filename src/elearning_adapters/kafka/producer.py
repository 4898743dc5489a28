"""Publishing outbox rows to Kafka with an idempotent producer.

``publish()`` is all-or-nothing from the caller's point of view: it returns
only once the broker acknowledged (``acks=all``) every message of the batch,
and raises ``PublishFailed`` otherwise, so the relay marks rows published only
when they really are. librdkafka's own ``message.timeout.ms`` equals the
publish timeout, so a failed batch has no message left to surface later;
a message it could not confirm may still have been written, which makes
delivery at-least-once (consumers deduplicate on ``event-id``).

The blocking waits for delivery reports run in a worker thread, never on the
event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from elearning_adapters.kafka.headers import EVENT_ID, EVENT_TYPE
from elearning_adapters.sql.outbox_store import OutboxRecord
from elearning_core.shared.envelope import CONTENT_TYPE, EventEnvelope, schema_version_of

log = logging.getLogger(__name__)

DEFAULT_PRODUCER_NAME = "elearning-platform"


class PublishFailed(Exception):
    """Not every message of a batch was acknowledged; the batch must be retried."""

    def __init__(self, message: str, *, delivered: int, failed: int) -> None:
        super().__init__(message)
        self.delivered = delivered
        self.failed = failed


def envelope_for(record: OutboxRecord, producer: str, correlation_id: str | None = None) -> EventEnvelope:
    """The wire envelope of a stored row, built without loading the event class.

    Rows written by a newer release (types this process does not know) are
    still relayed unchanged.
    """
    return EventEnvelope(
        event_id=record.event_id,
        type=record.event_type,
        occurred_at=record.occurred_at,
        aggregate_id=uuid.UUID(record.message_key),
        producer=producer,
        schema_version=schema_version_of(record.event_type),
        correlation_id=correlation_id,
        payload=record.payload,
    )


class KafkaEventPublisher:
    """Produces outbox rows to ``row.topic`` keyed by aggregate id (per-aggregate order holds per partition)."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        producer_name: str = DEFAULT_PRODUCER_NAME,
        delivery_timeout: float = 10.0,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        if delivery_timeout <= 0:
            raise ValueError("delivery_timeout must be positive")
        self._bootstrap = bootstrap_servers
        self._producer_name = producer_name
        self._timeout = delivery_timeout
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "client.id": producer_name,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "message.timeout.ms": int(delivery_timeout * 1000),
            **(config or {}),
        }
        self._producer: Producer | None = None
        self._known_topics: set[str] = set()
        self._lock = asyncio.Lock()  # one batch at a time: flush() waits for the whole queue

    @property
    def producer_name(self) -> str:
        return self._producer_name

    def _get_producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(self._config)
        return self._producer

    async def warm_up(self, within_s: float = 5.0) -> bool:
        """Connect now rather than on the first batch (best effort; False if the broker did not answer).

        Creating the producer and fetching metadata opens the connection and
        starts the idempotent producer's id request, which otherwise add
        about half a second to the first event after a start.
        """
        try:
            await asyncio.to_thread(self._get_producer().list_topics, timeout=within_s)
        except KafkaException as exc:
            log.warning("kafka not reachable yet (%s); the relay will keep trying", exc)
            return False
        return True

    async def publish(self, records: Sequence[OutboxRecord]) -> None:
        if not records:
            return
        async with self._lock:
            await self._publish(records)

    async def _publish(self, records: Sequence[OutboxRecord]) -> None:
        new_topics = {r.topic for r in records} - self._known_topics
        if new_topics:
            # Clusters often disable auto-creation; a topic that exists before its first event
            # is also one the consumers subscribed to it already see (best effort).
            try:
                await asyncio.to_thread(self.ensure_topics, sorted(new_topics), timeout=self._timeout)
                self._known_topics |= new_topics
            except Exception as exc:
                log.warning("could not check topics %s (relying on auto-creation): %s", sorted(new_topics), exc)
        producer = self._get_producer()
        reports = _Reports()
        enqueue_error: str | None = None
        try:
            for record in records:
                self._produce(producer, record, envelope_for(record, self._producer_name), reports)
                reports.enqueued += 1
        except (KafkaException, BufferError, ValueError) as exc:
            # What was queued still gets its reports (librdkafka times it out); wait for them below.
            enqueue_error = f"could not enqueue {records[reports.enqueued].event_id}: {exc}"
        deadline = time.monotonic() + self._timeout + 5.0
        while not reports.complete() and time.monotonic() < deadline:
            await asyncio.to_thread(producer.flush, min(1.0, max(deadline - time.monotonic(), 0.0)))
        if not reports.complete():
            # librdkafka should have reported every message by now; a fresh producer guarantees none shows up later.
            enqueue_error = enqueue_error or "no delivery report before the deadline"
            reports.fatal = True
        if reports.fatal:
            self._discard_producer()
        if reports.delivered < len(records):
            raise PublishFailed(
                f"{len(records) - reports.delivered} of {len(records)} messages not delivered: "
                f"{reports.first_error or enqueue_error}",
                delivered=reports.delivered,
                failed=len(records) - reports.delivered,
            )

    def _produce(self, producer: Producer, record: OutboxRecord, envelope: EventEnvelope, reports: _Reports) -> None:
        producer.produce(
            record.topic,
            key=record.message_key.encode(),
            value=envelope.to_json(),
            headers=[
                (EVENT_TYPE, record.event_type.encode()),
                (EVENT_ID, str(record.event_id).encode()),
                ("content-type", CONTENT_TYPE.encode()),
            ],
            on_delivery=reports.on_delivery,
        )
        producer.poll(0)

    def _discard_producer(self) -> None:
        """After a fatal error (e.g. an idempotence sequence gap) the producer must be replaced."""
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.purge(in_queue=True, in_flight=True, blocking=False)
            log.warning("kafka producer hit a fatal error; a new one will be created")

    def ensure_topics(
        self, topics: Iterable[str], *, partitions: int = 6, replication_factor: int = 1, timeout: float = 10.0
    ) -> list[str]:
        """Create the topics that do not exist yet (clusters often disable auto-creation); returns the created ones."""
        admin = AdminClient({"bootstrap.servers": self._bootstrap})
        existing = set(admin.list_topics(timeout=timeout).topics)
        wanted = [t for t in dict.fromkeys(topics) if t not in existing]
        if not wanted:
            return []
        futures = admin.create_topics(
            [NewTopic(t, num_partitions=partitions, replication_factor=replication_factor) for t in wanted],
            request_timeout=timeout,
        )
        created = []
        for topic, future in futures.items():
            try:
                future.result(timeout)
                created.append(topic)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
        return created

    async def aclose(self, flush_seconds: float = 5.0) -> None:
        """Deliver what is still queued (bounded) and drop the producer."""
        producer, self._producer = self._producer, None
        if producer is not None:
            remaining = await asyncio.to_thread(producer.flush, flush_seconds)
            if remaining:
                log.warning("kafka producer closed with %d undelivered messages", remaining)


class _Reports:
    """Delivery reports of one batch; written from the thread that runs librdkafka's callbacks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.enqueued = 0
        self.delivered = 0
        self.failed = 0
        self.fatal = False
        self.first_error: str | None = None

    def on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        with self._lock:
            if err is None:
                self.delivered += 1
                return
            self.failed += 1
            self.fatal = self.fatal or err.fatal()
            if self.first_error is None:
                self.first_error = f"{err.name()}: {err.str()} (topic {msg.topic()})"

    def complete(self) -> bool:
        with self._lock:
            return self.delivered + self.failed >= self.enqueued
