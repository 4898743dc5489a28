"""Consumer-group lag and dead-letter depth, read from the broker without joining any group.

``committed()`` fetches a group's offsets (OffsetFetch) and the watermarks
give the log end, so a scrape sees the lag of every consumer group whether
or not one of its members runs in this process. Blocking: call from a thread.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from confluent_kafka import Consumer, TopicPartition

from elearning_adapters.kafka.headers import DLQ_SUFFIX


def _consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": "elearning-lag-probe",
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )


def _partitions(consumer: Consumer, topics: Iterable[str], timeout: float) -> list[TopicPartition]:
    metadata = consumer.list_topics(timeout=timeout)
    return [
        TopicPartition(topic, partition)
        for topic in topics
        if topic in metadata.topics and metadata.topics[topic].error is None
        for partition in sorted(metadata.topics[topic].partitions)
    ]


def group_lag(bootstrap: str, group: str, topics: Iterable[str], timeout: float = 2.0) -> dict[str, int]:
    """Per topic: messages written but not yet committed by ``group`` (from the log start if it never committed)."""
    consumer = _consumer(bootstrap, group)
    try:
        partitions = _partitions(consumer, topics, timeout)
        if not partitions:
            return {}
        lag: dict[str, int] = {}
        for tp in consumer.committed(partitions, timeout=timeout):
            low, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout, cached=False)
            position = tp.offset if tp.offset >= 0 else low
            lag[tp.topic] = lag.get(tp.topic, 0) + max(int(high) - int(position), 0)
        return lag
    finally:
        consumer.close()


def dead_letter_depth(bootstrap: str, topics: Iterable[str], timeout: float = 2.0) -> dict[str, int]:
    """Per original topic: messages held in its ``<topic>.dlq`` (log end minus log start)."""
    consumer = _consumer(bootstrap, f"elearning-lag-probe-{uuid.uuid4().hex}")
    try:
        depth: dict[str, int] = {}
        for tp in _partitions(consumer, [f"{t}{DLQ_SUFFIX}" for t in topics], timeout):
            low, high = consumer.get_watermark_offsets(tp, timeout, cached=False)
            original = tp.topic.removesuffix(DLQ_SUFFIX)
            depth[original] = depth.get(original, 0) + max(int(high) - int(low), 0)
        return depth
    finally:
        consumer.close()
