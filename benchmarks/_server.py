"""The benchmark's server: the production app from ``create_app`` plus one bare route.

Started by ``benchmarks/catalog.py`` as::

    python -m uvicorn --factory --app-dir benchmarks _server:create_bench_app \
        --host 127.0.0.1 --port PORT --workers 1 --log-level warning --no-access-log

Environment:

* ``ELEARNING_DATABASE_URL`` (and any other ``ELEARNING_*`` setting) - read by ``Settings`` as in production;
  ``catalog.py --cache`` sets ``ELEARNING_CACHE`` (``none``, ``memory`` or ``redis``, never ``auto``) and, for
  ``redis``, ``ELEARNING_REDIS_URL``;
* ``BENCH_BARE_BODY_FILE`` - the bytes ``GET /bench/bare`` returns (a captured first catalog page).

It mirrors ``elearning_http.app.server_app()`` (what ``elearning serve`` runs): settings from the
environment, the process's JSON logging configured, then ``create_app(settings)``. Only the access
log is switched off (``Settings(access_log=False)``) and the log level raised to WARNING, so log I/O
does not dominate either endpoint. Guards, dependencies, the request-context and Prometheus
middleware, the compression config and the exception handlers are exactly those of production.

``GET /bench/cache`` (not in the schema, not measured) reports which catalog cache the container
actually built, so the benchmark can check it got the one it asked for instead of trusting ``auto``.
"""

from __future__ import annotations

import os
from pathlib import Path

from litestar import Litestar, Response, get
from litestar.enums import MediaType

from elearning_adapters.cache import CachedCatalogQueries, InMemoryCache
from elearning_adapters.container import build_container
from elearning_adapters.redis.cache import RedisCache
from elearning_adapters.settings import Settings
from elearning_http.app import create_app
from elearning_http.observability import configure_logging

BARE_PATH = "/bench/bare"
CACHE_PATH = "/bench/cache"


def create_bench_app() -> Litestar:
    body = Path(os.environ["BENCH_BARE_BODY_FILE"]).read_bytes()
    settings = Settings(access_log=False, log_level="WARNING")
    configure_logging(settings.log_level, json_lines=settings.log_json)
    # The container create_app would build itself, kept here to report on its cache.
    container = build_container(settings)
    app = create_app(settings, container)

    @get(BARE_PATH, media_type=MediaType.JSON, include_in_schema=False, opt={"public": True})
    async def bare() -> Response[bytes]:
        """A constant JSON body: no dependencies, no database, no serialisation."""
        return Response(body, media_type=MediaType.JSON)

    @get(CACHE_PATH, include_in_schema=False, opt={"public": True})
    async def cache_state() -> dict[str, object]:
        """What serves the catalog reads: the cache kind, its adapter, and signs that it is used."""
        catalog = container.course.catalog_queries()
        cache = container.adapters.cache()
        state: dict[str, object] = {
            "setting": settings.cache,
            "resolved": settings.resolved_cache,
            "catalog_queries": type(catalog).__name__,
            "cached": isinstance(catalog, CachedCatalogQueries),
            "cache": None if cache is None else type(cache).__name__,
        }
        if isinstance(cache, InMemoryCache):
            state["entries"] = len(cache)
        if isinstance(cache, RedisCache):
            state["redis_commands"] = cache.attempts
            state["breaker_open"] = cache.breaker_open
        return state

    app.register(bare)
    app.register(cache_state)
    return app
