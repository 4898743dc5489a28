"""Operational endpoints: liveness, readiness. (``/metrics`` is Litestar's Prometheus controller.)"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency

from elearning_adapters.sql.engine import Database
from elearning_http.errors import problem

READY_TIMEOUT_S = 2.0


@get("/health", tags=["operations"], summary="Liveness: the process is up", include_in_schema=True)
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", tags=["operations"], summary="Readiness: the database answers")
async def ready(database: NamedDependency[Database]) -> Response[dict[str, Any]]:
    try:
        await asyncio.wait_for(database.ping(), READY_TIMEOUT_S)
    except Exception as exc:  # any failure means "not ready", with the reason
        return problem(
            503, f"database unavailable: {type(exc).__name__}", code="not-ready", checks={"database": "down"}
        )
    return Response({"status": "ready", "checks": {"database": "ok"}})
