"""The benchmark's server: the production app from ``create_app`` plus one bare route.

Started by ``benchmarks/catalog.py`` as::

    python -m uvicorn --factory --app-dir benchmarks _server:create_bench_app \
        --host 127.0.0.1 --port PORT --workers 1 --log-level warning --no-access-log

Environment:

* ``ELEARNING_DATABASE_URL`` (and any other ``ELEARNING_*`` setting) - read by ``Settings`` as in production;
* ``BENCH_BARE_BODY_FILE`` - the bytes ``GET /bench/bare`` returns (a captured first catalog page).

It mirrors ``elearning_http.app.server_app()`` (what ``elearning serve`` runs): settings from the
environment, the process's JSON logging configured, then ``create_app(settings)``. Only the access
log is switched off (``Settings(access_log=False)``) and the log level raised to WARNING, so log I/O
does not dominate either endpoint. Guards, dependencies, the request-context and Prometheus
middleware, the compression config and the exception handlers are exactly those of production.
"""

from __future__ import annotations

import os
from pathlib import Path

from litestar import Litestar, Response, get
from litestar.enums import MediaType

from elearning_adapters.settings import Settings
from elearning_http.app import create_app
from elearning_http.observability import configure_logging

BARE_PATH = "/bench/bare"


def create_bench_app() -> Litestar:
    body = Path(os.environ["BENCH_BARE_BODY_FILE"]).read_bytes()
    settings = Settings(access_log=False, log_level="WARNING")
    configure_logging(settings.log_level, json_lines=settings.log_json)
    app = create_app(settings)

    @get(BARE_PATH, media_type=MediaType.JSON, include_in_schema=False)
    async def bare() -> Response[bytes]:
        """A constant JSON body: no dependencies, no database, no serialisation."""
        return Response(body, media_type=MediaType.JSON)

    app.register(bare)
    return app
