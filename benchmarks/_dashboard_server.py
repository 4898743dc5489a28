"""The dashboards benchmark's server: the production app from ``create_app`` on the environment's settings.

Started by ``benchmarks/analytics_dashboard.py`` through uvicorn (``--factory _dashboard_server:create_dashboard_app``).
With ``BENCH_DASHBOARD_AGGREGATES=memory`` the container's
``analytics.analytics_aggregates`` provider is overridden with the in-memory aggregates of
``tests/analytics_dashboard_fakes.py`` for the course ``BENCH_DASHBOARD_COURSE`` (``BENCH_DASHBOARD_LEARNERS``
learners): everything else (guards, the access check on PostgreSQL, the outline, the suppression, the JSON,
the renderer) is production's. With ``sql`` nothing is overridden.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

from dependency_injector import providers
from litestar import Litestar

from elearning_adapters.container import build_container
from elearning_adapters.settings import Settings
from elearning_http.app import create_app
from elearning_http.observability import configure_logging


def create_dashboard_app() -> Litestar:
    settings = Settings(access_log=False, log_level="WARNING")
    configure_logging(settings.log_level, json_lines=settings.log_json)
    container = build_container(settings)
    if os.environ.get("BENCH_DASHBOARD_AGGREGATES", "memory") == "memory":
        from tests.analytics_dashboard_fakes import InMemoryAggregateReads, sample_course

        course_id = uuid.UUID(os.environ["BENCH_DASHBOARD_COURSE"])
        learners = int(os.environ.get("BENCH_DASHBOARD_LEARNERS", "10000"))
        today = datetime.now(UTC).date()
        figures = sample_course(course_id, until=today, days=400, learners=learners)
        container.analytics.analytics_aggregates.override(
            providers.Object(InMemoryAggregateReads({course_id: figures}))
        )
    return create_app(settings, container)
