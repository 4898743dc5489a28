"""Operational endpoints: liveness, readiness, and the Prometheus metrics."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Gauge, generate_latest, multiprocess

from elearning_adapters.backbone_stats import refresh_backbone_gauges
from elearning_adapters.events import Subscription
from elearning_adapters.health import database_ok, kafka_ok, redis_ok
from elearning_adapters.settings import Settings
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.outbox_store import OutboxStore
from elearning_http.errors import problem, problem_responses

READY_TIMEOUT_S = 2.0


@get("/health", tags=["operations"], opt={"public": True}, summary="Liveness: the process is up")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/ready",
    tags=["operations"],
    opt={"public": True},
    responses=problem_responses(503),
    summary="Readiness: the database answers (Redis and Kafka are reported when configured)",
    description=(
        "503 when the database does not answer. Redis and Kafka, when configured, are reported but do not "
        "make the API unready: without Redis reads are uncached, without Kafka the outbox keeps the events. "
        "Either one down makes the status `degraded`."
    ),
)
async def ready(database: NamedDependency[Database], settings: NamedDependency[Settings]) -> Response[dict[str, Any]]:
    probes = {"database": database_ok(database, READY_TIMEOUT_S)}
    if settings.redis_url:
        probes["redis"] = redis_ok(settings.redis_url, READY_TIMEOUT_S / 2)
    if settings.kafka_bootstrap_servers:
        probes["kafka"] = kafka_ok(settings.kafka_bootstrap_servers, READY_TIMEOUT_S / 2)
    results = dict(zip(probes, await asyncio.gather(*probes.values()), strict=True))
    checks = {name: "ok" if up else "down" for name, up in results.items()}
    if not results["database"]:
        return problem(503, "database unavailable", code="not-ready", checks=checks)
    status = "ready" if all(results.values()) else "degraded"
    return Response({"status": status, "checks": checks})


OUTBOX_PENDING = Gauge("elearning_outbox_pending", "Outbox events committed but not yet published")
OUTBOX_OLDEST_PENDING = Gauge(
    "elearning_outbox_oldest_pending_seconds", "Age of the oldest unpublished outbox event (0 when none)"
)
OUTBOX_UP = Gauge("elearning_outbox_stats_up", "1 if the outbox could be read for this scrape, else 0")


@get("/metrics", tags=["operations"], opt={"public": True}, summary="Prometheus metrics", include_in_schema=False)
async def metrics(
    database: NamedDependency[Database],
    settings: NamedDependency[Settings],
    subscriptions: NamedDependency[list[Subscription]],
) -> Response[bytes]:
    """The process's metrics, plus the backbone's lag figures read fresh for this scrape.

    The outbox lag, consumer-group lag and dead letters waiting are the
    database's and the broker's view, so every API process reports the same
    figures. Relay and handler counters are this process's own: with the
    in-process transport they are here, with Kafka on the workers' ``--metrics-port``.
    """
    await refresh_backbone_gauges(database, settings, subscriptions, READY_TIMEOUT_S)
    try:
        stats = await asyncio.wait_for(OutboxStore(database).pending_stats(), READY_TIMEOUT_S)
    except Exception:  # a scrape must never fail because the database is slow or down
        OUTBOX_UP.set(0)
    else:
        OUTBOX_UP.set(1)
        OUTBOX_PENDING.set(stats.count)
        OUTBOX_OLDEST_PENDING.set(stats.oldest_age.total_seconds() if stats.oldest_age else 0)
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
