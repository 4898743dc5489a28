"""Shared Kafka plumbing of the operator commands.

Reading Kafka never joins a consumer group and never commits an offset: the
partitions are assigned explicitly, from offsets computed here, so an
operator's look cannot move a worker's position. Every wait on the broker is
bounded; an unreachable broker is one line and exit code 1.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from elearning_adapters.kafka.headers import (
    DLQ_SUFFIX,
)
from elearning_cli._common import (
    CliError,
)

if TYPE_CHECKING:
    from confluent_kafka import Consumer, KafkaException

    from elearning_adapters.settings import Settings
    from elearning_core.shared.envelope import EventEnvelope

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for the broker's metadata (reachability) and for each offset look-up."""
READ_TIMEOUT = 15.0
"""Seconds a dead-letter read may take before it stops with what it has."""
POLL_INTERVAL = 0.2
"""Seconds per consumer poll: short, so Ctrl-C and the deadlines are noticed promptly."""


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka message, copied out of librdkafka."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    timestamp: datetime | None = None

    def header(self, name: str) -> str | None:
        for key, value in reversed(self.headers):
            if key == name:
                return None if value is None else value.decode(errors="replace")
        return None

    @property
    def where(self) -> str:
        return f"{self.partition}/{self.offset}"


def kafka_bootstrap(settings: Settings) -> str:
    if not settings.kafka_bootstrap_servers:
        raise CliError("Kafka is not configured: set ELEARNING_KAFKA_BOOTSTRAP_SERVERS (e.g. localhost:9092)")
    return settings.kafka_bootstrap_servers


def _kafka_reason(exc: KafkaException) -> str:
    error: Any = exc.args[0] if exc.args else None
    text = error.str() if error is not None and hasattr(error, "str") else str(exc)
    return str(text).strip() or type(exc).__name__


@contextlib.contextmanager
def kafka_errors(bootstrap: str) -> Iterator[None]:
    """Kafka failures as one line naming the broker."""
    from confluent_kafka import KafkaException

    try:
        yield
    except KafkaException as exc:
        raise CliError(f"Kafka error at {bootstrap}: {_kafka_reason(exc)}") from None


@contextlib.contextmanager
def reader(bootstrap: str) -> Iterator[Consumer]:
    """A consumer that only ever uses ``assign()``: no group membership, no committed offsets.

    It has a throwaway group id (librdkafka wants one) and auto-commit off;
    the broker is checked first, so an unreachable one fails within ``CONNECT_TIMEOUT``.
    """
    from confluent_kafka import Consumer, KafkaException

    with kafka_errors(bootstrap):
        try:
            consumer = Consumer(
                {
                    "bootstrap.servers": bootstrap,
                    "group.id": f"elearning-cli-{uuid.uuid4().hex}",
                    "client.id": "elearning-cli",
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "enable.partition.eof": True,
                    "auto.offset.reset": "earliest",
                    "log_level": 0,
                }
            )
        except KafkaException as exc:
            raise CliError(f"invalid Kafka configuration ({bootstrap}): {_kafka_reason(exc)}") from None
        try:
            try:
                consumer.list_topics(timeout=CONNECT_TIMEOUT)
            except KafkaException as exc:
                raise CliError(
                    f"cannot reach Kafka at {bootstrap} (ELEARNING_KAFKA_BOOTSTRAP_SERVERS) "
                    f"within {CONNECT_TIMEOUT:g}s: {_kafka_reason(exc)}"
                ) from None
            yield consumer
        finally:
            consumer.close()


def topic_partitions(consumer: Consumer) -> dict[str, list[int]]:
    """Every topic the broker has (internal ones left out) and its partitions."""
    metadata = consumer.list_topics(timeout=CONNECT_TIMEOUT)
    return {
        name: sorted(meta.partitions)
        for name, meta in metadata.topics.items()
        if meta.error is None and not name.startswith("__")
    }


def require_topic(topics: dict[str, list[int]], topic: str, bootstrap: str) -> list[int]:
    partitions = topics.get(topic)
    if not partitions:
        raise CliError(f"there is no topic {topic} on Kafka at {bootstrap}")
    return partitions


def watermarks(consumer: Consumer, topic: str, partitions: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(low, high) per partition: the first offset still kept and the next offset to be written."""
    from confluent_kafka import TopicPartition

    marks = {}
    for partition in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), CONNECT_TIMEOUT, cached=False)
        marks[partition] = (int(low), int(high))
    return marks


def _record(message: Any) -> Record:
    kind, stamp = message.timestamp()
    raw_headers = message.headers() or []
    pairs = raw_headers.items() if isinstance(raw_headers, dict) else raw_headers
    headers = [
        (str(name), value if value is None or isinstance(value, bytes) else str(value).encode())
        for name, value in pairs
    ]
    return Record(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        key=message.key(),
        value=message.value(),
        headers=headers,
        timestamp=datetime.fromtimestamp(stamp / 1000, UTC) if kind and stamp > 0 else None,
    )


def _fatal_poll_error(error: Any) -> bool:
    from confluent_kafka import KafkaError

    if error.fatal():
        return True
    return error.code() in (
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._UNKNOWN_TOPIC,
    )


def read_ranges(
    consumer: Consumer, ranges: dict[tuple[str, int], tuple[int, int]], timeout: float
) -> tuple[list[Record], bool]:
    """The messages in ``[start, end)`` of each (topic, partition); and whether every range was read whole.

    Stops at the deadline with what it has (``False``): the caller says so or refuses to go on.
    """
    from confluent_kafka import KafkaError, KafkaException, TopicPartition

    wanted = {tp: (start, end) for tp, (start, end) in ranges.items() if end > start}
    if not wanted:
        return [], True
    consumer.assign([TopicPartition(t, p, start) for (t, p), (start, _end) in wanted.items()])
    remaining = set(wanted)
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    try:
        while remaining and time.monotonic() < deadline:
            message = consumer.poll(min(POLL_INTERVAL, max(deadline - time.monotonic(), 0.0)))
            if message is None:
                continue
            tp = (str(message.topic()), int(message.partition() or 0))
            offset = int(message.offset() or 0)
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    if tp in remaining and offset >= wanted[tp][1]:
                        remaining.discard(tp)
                    continue
                if _fatal_poll_error(error):
                    raise KafkaException(error)
                continue
            if tp not in wanted:
                continue
            start, end = wanted[tp]
            if start <= offset < end:
                records.append(_record(message))
            if offset >= end - 1:
                remaining.discard(tp)
    finally:
        consumer.unassign()
    return records, not remaining


def dlq_name(topic: str) -> str:
    """The dead-letter topic: ``elearning.course`` and ``elearning.course.dlq`` both mean ``elearning.course.dlq``."""
    return topic if topic.endswith(DLQ_SUFFIX) else f"{topic}{DLQ_SUFFIX}"


def decode_value(value: bytes | None) -> tuple[EventEnvelope | None, str | None]:
    """The envelope in a message value, or why there is none."""
    from elearning_core.shared.envelope import UndecodableEvent, decode

    if value is None:
        return None, "no value (tombstone)"
    try:
        return decode(value), None
    except UndecodableEvent as exc:
        return None, str(exc)


def text_of(data: bytes | None) -> str:
    """Bytes for display: the text if it is UTF-8, else a Python bytes literal."""
    if data is None:
        return "(none)"
    try:
        return data.decode()
    except UnicodeDecodeError:
        return repr(data)


def truncate(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
