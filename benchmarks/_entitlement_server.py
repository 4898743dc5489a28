"""The entitlement benchmark's server: the production app, optionally without the entitlement check, plus
one bench-only route that changes a grant's status in this process.

Started by ``benchmarks/entitlement.py`` as::

    python -m uvicorn --factory --app-dir benchmarks _entitlement_server:create_bench_app \
        --host 127.0.0.1 --port PORT --workers 1 --log-level warning --no-access-log

Environment: ``ELEARNING_*`` as in production (PostgreSQL, Redis cache), and

* ``BENCH_ALWAYS_ALLOW=1``: the container's entitlement check is overridden by ``EveryCourseFree`` (the
  check's port answering "free" without reading anything), so the same paid lesson read runs the same
  route, gating and bytes minus the check: the baseline of the CPU comparison;
* ``POST /bench/grant-status`` (not in the schema; the admin token) ``{"grant_id": ..., "status": ...}``: the entitlement
  service's ``change`` as SYSTEM, committed by this process (its commit listener drops the Redis keys), so
  propagation is measured from one ``serve`` process to another.

Access log off and log level WARNING, as the other benchmark servers, so log I/O does not dominate.
"""

from __future__ import annotations

import os
import uuid

from dependency_injector import providers
from litestar import Litestar, post

from elearning_adapters.container import build_container
from elearning_adapters.settings import Settings
from elearning_core.entitlement.access import EveryCourseFree
from elearning_core.entitlement.commands import ChangeGrant
from elearning_core.entitlement.model import GrantStatus
from elearning_core.shared.ports import SYSTEM
from elearning_http.app import create_app
from elearning_http.observability import configure_logging


def create_bench_app() -> Litestar:
    settings = Settings(access_log=False, log_level="WARNING")
    configure_logging(settings.log_level, json_lines=settings.log_json)
    container = build_container(settings)
    if os.environ.get("BENCH_ALWAYS_ALLOW") == "1":
        container.access.override(providers.Object(EveryCourseFree(container.adapters.enrollment_lookup())))
    app = create_app(settings, container, freeze_startup_objects=True)  # as server_app() does
    entitlements = container.services.entitlement()

    @post("/bench/grant-status", include_in_schema=False, status_code=200)
    async def grant_status(data: dict[str, str]) -> dict[str, str]:
        changed = await entitlements.change(
            SYSTEM, ChangeGrant(grant_id=uuid.UUID(data["grant_id"]), status=GrantStatus(data["status"]))
        )
        return {"status": changed.status.value}

    app.register(grant_status)
    return app
