"""Prometheus metrics of the event backbone, shared by every process that relays or consumes.

The API process exposes them at ``/metrics`` (with the in-process transport,
its own relay and handlers count here); worker processes expose them on
``--metrics-port``. Lag figures that only the database or the broker know
(outbox backlog, consumer-group lag, dead letters waiting) are read fresh per
scrape by ``backbone_gauges``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RELAYED = Counter(
    "elearning_relay_published_events",
    "Outbox events delivered by this process's relay (to Kafka or to the in-process handlers)",
    ["transport"],
)
RELAY_BATCHES = Counter("elearning_relay_batches", "Outbox batches delivered by this process's relay", ["transport"])
RELAY_FAILURES = Counter("elearning_relay_failed_rounds", "Relay rounds that failed and were retried", ["transport"])
PRUNED = Counter("elearning_outbox_pruned_events", "Published outbox rows deleted after the retention period")

HANDLED = Counter(
    "elearning_consumer_messages",
    "Messages taken by this process's consumers, by outcome (handled, duplicate, skipped, dead_letter)",
    ["consumer", "outcome"],
)
HANDLER_FAILURES = Counter(
    "elearning_consumer_failed_attempts",
    "Handler attempts that raised (each is retried or dead-lettered)",
    ["consumer"],
)
BATCH_SIZE = Histogram(
    "elearning_consumer_batch_size",
    "Messages per batch a consumer handled in one transaction (and, under Kafka, one offset commit)",
    ["consumer"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
)
BATCH_SECONDS = Histogram(
    "elearning_consumer_batch_seconds",
    "Time to handle one batch: decoding, inbox rows, handlers and the commit",
    ["consumer"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BATCH_FALLBACKS = Counter(
    "elearning_consumer_batch_fallbacks",
    "Batches that failed as a whole and were handled again one message at a time (a poison message inside)",
    ["consumer"],
)
DEAD_LETTERED = Counter(
    "elearning_dead_lettered_messages", "Messages this process sent to a dead-letter queue", ["consumer", "topic"]
)

CONSUMER_LAG = Gauge(
    "elearning_consumer_lag",
    "Messages not yet committed by a consumer group, per topic (high watermark minus committed offset)",
    ["group", "topic"],
)
DLQ_WAITING = Gauge("elearning_dlq_messages", "Messages held in a dead-letter topic or table", ["topic"])
BROKER_UP = Gauge("elearning_broker_stats_up", "1 if the broker answered for this scrape's lag figures, else 0")

# The server runtime (`elearning serve`): what its slow-client limits cut and what its idle trim gave back.
CONNECTIONS_CUT = Counter(
    "elearning_server_cut_connections",
    "Connections the server closed itself, by reason (head-timeout, body-too-slow, head-too-large, "
    "bad-request, too-many-connections)",
    ["reason"],
)
MEMORY_TRIMS = Counter(
    "elearning_server_memory_trims", "Times an idle server process returned freed heap memory (malloc_trim)"
)

# Video delivery (`elearning serve`): what the media route sent from this process. With an object store the
# segments go from the store to the players, so only the playlists (a few KB each) count here.
MEDIA_BYTES = Counter(
    "elearning_media_served_bytes",
    "Bytes of video media this API process sent itself, by kind (playlist, segment, thumbnail, caption, other)",
    ["kind"],
)


def media_kind(path: str) -> str:
    """The ``kind`` label of ``MEDIA_BYTES`` for a media file's name."""
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    kinds = {"m3u8": "playlist", "ts": "segment", "m4s": "segment", "mp4": "segment", "aac": "segment"}
    return kinds.get(suffix, {"jpg": "thumbnail", "vtt": "caption"}.get(suffix, "other"))
