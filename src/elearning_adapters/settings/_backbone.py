"""Redis, Kafka, the cache and the event transport."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings


class BackboneSettings(BaseSettings):
    """Redis, Kafka, the cache and the event transport: one group of ``Settings`` (``ELEARNING_*``)."""

    redis_url: str | None = Field(
        default=None, description="Redis URL, e.g. redis://127.0.0.1:6379/0; unset = no Redis"
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None, description="Kafka bootstrap servers, e.g. host:9092; unset = no Kafka"
    )
    cache: Literal["auto", "redis", "memory", "none"] = Field(
        default="auto",
        description="Catalog read cache. auto: Redis when ELEARNING_REDIS_URL is set, else an in-process "
        "cache when the events run in-process (no Kafka) and one server process serves, else none",
    )
    cache_ttl_seconds: float = Field(default=60.0, gt=0, le=86_400)
    redis_timeout_seconds: float = Field(
        default=0.2,
        gt=0,
        le=30,
        description="Connect and reply timeout of the cache's and rate limiters' Redis commands; past it a "
        "circuit breaker serves uncached reads and limits per process for a second. Raise it for a distant "
        "Redis or a heavily loaded host",
    )
    redis_key_prefix: str = Field(
        default="elearning:", max_length=100, description="Prefix of every Redis key (deployments sharing a Redis)"
    )
    outbox_retention_hours: float = Field(
        default=168.0, ge=0, description="Published outbox rows older than this are pruned by the relay; 0 = never"
    )
    inbox_retention_hours: float = Field(
        default=720.0,
        ge=0,
        description="Inbox rows (handled event ids) older than this are pruned; keep it above the Kafka topics' "
        "retention, since a consumer group reset to a topic's start redelivers that far back; 0 = never",
    )
    kafka_instance_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Static group membership: the prefix of each consumer's group.instance.id, so a restarted "
        "worker gets its partitions back without a rebalance; default: the host name",
    )
    kafka_worker_index: int = Field(
        default=0,
        ge=0,
        le=10_000,
        description="Which worker process this is on its host (0, 1, ...): part of group.instance.id, so two "
        "consumer processes of one group on one host do not fence each other",
    )
    consumer_max_attempts: int = Field(default=5, ge=1, le=100, description="Handler tries before a dead letter")
    consumer_batch_size: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Most events a consumer handles in one transaction (and, under Kafka, one offset commit); "
        "a subscription may ask for fewer; 1 = one event per transaction",
    )
    consumer_batch_max_wait_ms: float = Field(
        default=50.0,
        ge=0,
        le=5_000,
        description="How long a consumer waits for more events to fill a batch once it has some: a Kafka "
        "consumer once it has a message, the in-process transport after a round that delivered events",
    )
    events_yield_factor: float = Field(
        default=0.0,
        ge=0,
        le=20,
        description="The in-process event transport, after a round that delivered events, rests this many times "
        "the round's duration (at most 1 s) before the next: under load its consumers take at most 1/(1+factor) "
        "of the API process and work in bigger batches instead of delaying requests, at the cost of their own "
        "latency under load; 0 (the default) = only the batch wait",
    )
    events_poll_seconds: float = Field(
        default=0.2, gt=0, le=60, description="How often the in-process event transport looks for new events"
    )
    events_relay: Literal["serve", "worker"] = Field(
        default="serve",
        description="Without Kafka, which process relays the outbox to the handlers: serve (the embedded "
        "default: `elearning serve` itself) or worker (`elearning worker events`, so the API process only "
        "writes the outbox and the handlers' work runs beside it; the process cache is then off)",
    )
