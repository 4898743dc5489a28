"""The benchmark's bare Litestar app: nothing but one constant route, the floor the catalog reads are measured against.

Started by ``benchmarks/catalog.py`` exactly as the platform's server (``_server.py``) is, with only the
app factory changed::

    python -m uvicorn --factory --app-dir benchmarks _bare_app:create_bare_app \
        --host 127.0.0.1 --port PORT --workers 1 --log-level warning --no-access-log

``GET /bench/bare`` returns the bytes of ``BENCH_BARE_BODY_FILE`` (the captured first catalog page), the
same bytes and content type as the platform's in-app ``/bench/bare`` and catalog list. No middleware,
no dependencies, no exception handlers, no OpenAPI: what a Litestar app costs when it does nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from litestar import Litestar, Response, get
from litestar.enums import MediaType

BARE_PATH = "/bench/bare"


def create_bare_app() -> Litestar:
    body = Path(os.environ["BENCH_BARE_BODY_FILE"]).read_bytes()

    @get(BARE_PATH, media_type=MediaType.JSON, include_in_schema=False)
    async def bare() -> Response[bytes]:
        return Response(body, media_type=MediaType.JSON)

    return Litestar(route_handlers=[bare], openapi_config=None)
