"""Operational endpoints: liveness, readiness. (``/metrics`` is Litestar's Prometheus controller.)"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency

from elearning_adapters.health import database_ok, kafka_ok, redis_ok
from elearning_adapters.settings import Settings
from elearning_adapters.sql.engine import Database
from elearning_http.errors import problem

READY_TIMEOUT_S = 2.0


@get("/health", tags=["operations"], summary="Liveness: the process is up", include_in_schema=True)
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/ready",
    tags=["operations"],
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
