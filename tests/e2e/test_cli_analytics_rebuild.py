"""``elearning analytics rebuild`` as an operator uses it: the aggregates the projection kept are emptied and
recounted from the stored statements (the same figures), with the progress bar and a summary line; a refused
confirmation and a bad chunk size are one-line errors with a non-zero exit."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import delete

from elearning_adapters.container import Platform
from elearning_adapters.sql.analytics import AGGREGATE_TABLES
from elearning_adapters.sql.engine import metadata
from elearning_core.analytics.aggregates import CourseAggregates, FunnelStage, Grain
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok, on_platform
from tests.e2e.test_cli_analytics import a_class as at_risk_class

WINDOW = (date(2000, 1, 1), date(2100, 1, 1))


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> str:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")
    return sqlite_url


def a_class() -> uuid.UUID:
    """Ada and Bob enrol in a four-lesson course; Bob views a lesson (the projection counts it all)."""
    course_id, _ada, _bob = at_risk_class()
    return uuid.UUID(course_id)


def aggregates(course_id: uuid.UUID) -> CourseAggregates | None:
    async def go(platform: Platform) -> CourseAggregates | None:
        return await platform.container.analytics.analytics_aggregates().course(course_id, *WINDOW)

    return on_platform(go)


def forget_counters() -> None:
    async def go(platform: Platform) -> None:
        async with platform.database.write() as conn, conn.begin():
            for name in AGGREGATE_TABLES:
                await conn.execute(delete(metadata.tables[name]))

    on_platform(go)


def test_rebuild_recounts_what_the_projection_kept() -> None:
    course_id = a_class()
    live = aggregates(course_id)
    assert live is not None
    # Viewing a text lesson completes it: Bob has 1 of 4 lessons, the 25 % stage.
    assert [live.funnel[s] for s in FunnelStage] == [2, 1, 1, 0, 0, 0]
    assert sum(p.value for p in live.enrollments) == 2
    assert max(p.value for p in live.active_learners[Grain.DAY]) == 2
    forget_counters()
    assert aggregates(course_id) != live
    rebuilt = ok("analytics", "rebuild", "--yes", "--chunk-size", "2")
    assert "Rebuilding the analytics aggregates" in rebuilt.stderr
    line = error_lines(rebuilt)[-1]
    assert line.startswith("rebuilt the analytics aggregates from ")
    assert " statements in " in line
    assert " transactions (" in line
    assert aggregates(course_id) == live
    again = ok("analytics", "rebuild", input="y\n")  # asked first, then the same figures again
    assert "Recount every analytics aggregate" in again.stderr
    assert aggregates(course_id) == live


def test_a_refused_confirmation_and_a_bad_chunk_size_change_nothing() -> None:
    course_id = a_class()
    live = aggregates(course_id)
    refused = invoke("analytics", "rebuild", input="n\n")
    assert refused.exit_code == 1
    assert "Aborted" in refused.stderr
    bad = invoke("analytics", "rebuild", "--yes", "--chunk-size", "0")
    assert bad.exit_code == 2
    assert error_lines(bad) == ["error: --chunk-size must be between 1 and 100000"]
    assert aggregates(course_id) == live
