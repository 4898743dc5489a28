"""The auth benchmark's server: the production app plus two baselines for ``GET /api/v1/users/me``.

Started by ``benchmarks/auth.py`` as::

    python -m uvicorn --factory --app-dir benchmarks _auth_server:create_bench_app --host 127.0.0.1 --port PORT

* ``GET /bench/me-unauthenticated`` - the bare endpoint of the issue's figure: exactly what
  ``/api/v1/users/me`` does (load the account through the identity service, render the same
  ``UserView``) for the user ``BENCH_USER_ID`` names, without reading or checking any credential.
  The gap between the two is what authentication costs a request: the bearer token's signature
  and claims, and the per-request read of the user's status, grants and session.
* ``GET /bench/bare`` - a constant body of the same bytes, no database: for context only.

Settings come from the environment as in production (``ELEARNING_*``), with the access log off and
the log level at WARNING so log I/O does not dominate either endpoint.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from litestar import Litestar, Response, get
from litestar.enums import MediaType

from elearning_adapters.container import build_container
from elearning_adapters.settings import Settings
from elearning_core.shared.ports import SYSTEM
from elearning_http.app import create_app
from elearning_http.observability import configure_logging
from elearning_http.routes.users import UserView, user_view


def create_bench_app() -> Litestar:
    settings = Settings(access_log=False, log_level="WARNING")
    configure_logging(settings.log_level, json_lines=settings.log_json)
    container = build_container(settings)
    app = create_app(settings, container, freeze_startup_objects=True)  # as server_app() does
    identity = container.services.identity()
    user_id = uuid.UUID(os.environ["BENCH_USER_ID"])
    body = Path(os.environ["BENCH_BARE_BODY_FILE"]).read_bytes()

    @get("/bench/me-unauthenticated", include_in_schema=False, opt={"public": True})
    async def me_unauthenticated() -> UserView:
        return user_view(await identity.get_user(SYSTEM, user_id))

    @get("/bench/bare", media_type=MediaType.JSON, include_in_schema=False, opt={"public": True})
    async def bare() -> Response[bytes]:
        return Response(body, media_type=MediaType.JSON)

    app.register(me_unauthenticated)
    app.register(bare)
    return app
