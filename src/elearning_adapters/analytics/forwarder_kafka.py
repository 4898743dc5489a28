"""Forwarding to a Kafka topic (the route to a warehouse such as ClickHouse, whose Kafka engine reads it).

Each statement is one message: key = the statement id (a consumer deduplicates on it; a redelivered batch
repeats ids, never invents new ones), value = the statement's JSON as stored. The producer is idempotent
with ``acks=all``, as the event relay's (``elearning_adapters.kafka.producer``); a batch counts as sent only
when every message of it was acknowledged, and otherwise fails as a whole (retryable).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaException, Producer

from elearning_adapters.kafka import KafkaEventPublisher
from elearning_adapters.kafka.producer import _Reports
from elearning_core.analytics.forwarder import DeliveryFailed, OutgoingStatement, StatementDestination

CONTENT_TYPE = b"application/json"
XAPI_VERSION = b"1.0.3"


class KafkaStatementDestination(StatementDestination):
    def __init__(self, bootstrap_servers: str, topic: str, *, timeout: float = 10.0) -> None:
        self._bootstrap, self._topic, self._timeout = bootstrap_servers, topic, timeout
        self.name = f"kafka:{topic}"
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "client.id": "elearning-statement-forwarder",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "message.timeout.ms": int(timeout * 1000),
        }
        self._producer: Producer | None = None
        self._topic_checked = False

    async def send(self, statements: Sequence[OutgoingStatement]) -> None:
        if not statements:
            return
        if not self._topic_checked:
            try:  # clusters often disable auto-creation (best effort, as the relay does)
                await asyncio.to_thread(
                    KafkaEventPublisher(self._bootstrap).ensure_topics, [self._topic], timeout=self._timeout
                )
                self._topic_checked = True
            except Exception as exc:
                raise DeliveryFailed(f"kafka topic {self._topic}: {exc}", retryable=True) from exc
        if self._producer is None:
            self._producer = Producer(self._config)
        producer, reports = self._producer, _Reports()
        try:
            for statement in statements:
                producer.produce(
                    self._topic,
                    key=str(statement.id).encode(),
                    value=json.dumps(statement.data, separators=(",", ":")).encode(),
                    headers=[("content-type", CONTENT_TYPE), ("x-experience-api-version", XAPI_VERSION)],
                    on_delivery=reports.on_delivery,
                )
                reports.enqueued += 1
                producer.poll(0)
        except (KafkaException, BufferError) as exc:
            reports.first_error = reports.first_error or f"could not enqueue: {exc}"
        deadline = time.monotonic() + self._timeout + 5.0
        while not reports.complete() and time.monotonic() < deadline:
            await asyncio.to_thread(producer.flush, min(1.0, max(deadline - time.monotonic(), 0.0)))
        if reports.fatal or not reports.complete():
            self._discard()
        if reports.delivered < len(statements):
            raise DeliveryFailed(
                f"{len(statements) - reports.delivered} of {len(statements)} statement(s) not acknowledged by "
                f"{self._topic}: {reports.first_error or 'no delivery report before the deadline'}",
                retryable=True,
            )

    def _discard(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.purge(in_queue=True, in_flight=True, blocking=False)

    async def aclose(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await asyncio.to_thread(producer.flush, 5.0)
