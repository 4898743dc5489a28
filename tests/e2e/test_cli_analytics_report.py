"""``elearning analytics report`` and ``elearning analytics dashboard`` as an operator uses them: an HTML page
with its charts drawn (opened in headless Chromium when it is installed), a CSV of every figure, one PNG per
chart, the key figures as a table and JSON, and one line with a non-zero exit for every bad input.

The aggregates come from ``InMemoryAggregateReads`` through the one fixture ``aggregates`` (an override of the
container's provider, class-wide: the CLI builds its own): sample histories with every chart kind."""

from __future__ import annotations

import csv
import io
import json
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dependency_injector import providers
from PIL import Image

from elearning_adapters.container import Platform
from elearning_adapters.container._assembly import Container
from elearning_core.shared.ports import SYSTEM
from tests.analytics_dashboard_fakes import COURSE_CHART_KEYS, InMemoryAggregateReads, sample_course, sample_platform
from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok, on_platform
from tests.e2e.http_helpers import course_spec

TODAY = datetime.now(UTC).date()
KEYS = COURSE_CHART_KEYS


@pytest.fixture(autouse=True)
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> str:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")
    return sqlite_url


@pytest.fixture
def aggregates() -> Iterator[InMemoryAggregateReads]:
    """The aggregates every container the CLI builds reads: sample histories in memory, with every chart kind
    (the SQL aggregates from real activity: test_http_dashboards_sql.py, test_cli_analytics_rebuild.py)."""
    reads = InMemoryAggregateReads(platform=sample_platform(until=TODAY))
    Container.analytics.analytics_aggregates.override(providers.Object(reads))
    try:
        yield reads
    finally:
        Container.analytics.analytics_aggregates.reset_override()


@pytest.fixture
def course(aggregates: InMemoryAggregateReads) -> str:
    async def go(platform: Platform) -> str:
        (created,) = await platform.courses.import_courses(SYSTEM, [course_spec("stats-101", lessons=2)])
        return str(created.id)

    course_id = on_platform(go)
    aggregates.courses[uuid.UUID(course_id)] = sample_course(uuid.UUID(course_id), until=TODAY)
    return course_id


def test_the_html_report_has_every_chart_drawn(course: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = ok("analytics", "report", "stats-101", "--format", "html", "--output", str(page))
    assert str(page) in result.stderr
    html = page.read_text(encoding="utf-8")
    assert "Course report:" in html
    for key in KEYS:
        assert f'data-chart="{key}"' in html
    assert html.count("<svg") >= len(KEYS)
    assert "hidden to protect privacy" in html


def test_the_csv_report_holds_every_figure_with_hidden_cells_marked(course: str, tmp_path: Path) -> None:
    since, until = TODAY - timedelta(days=6), TODAY
    target = tmp_path / "report.csv"
    ok("analytics", "report", course, "-f", "csv", "-o", str(target), "--since", str(since), "--until", str(until))
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows[0]["section"] == "Key figures"
    enrollments = [
        r for r in rows if r["section"] == "Enrollments and completions per day" and r["series"] == "Enrollments"
    ]
    assert [r["x"] for r in enrollments] == [str(since + timedelta(days=i)) for i in range(7)]
    assert enrollments[-1]["value"] == ""  # 2 enrollments today
    assert enrollments[-1]["note"] == "hidden: fewer than 5 learners"


def test_png_writes_one_image_per_chart_into_a_directory(course: str, tmp_path: Path) -> None:
    target = tmp_path / "charts"
    result = ok("analytics", "report", course, "--format", "png", "--output", str(target))
    assert f"{len(KEYS)} PNGs in {target}" in result.stderr
    assert sorted(p.name for p in target.iterdir()) == sorted(f"{key}.png" for key in KEYS)
    funnel = Image.open(target / "funnel.png")
    assert funnel.format == "PNG"
    assert funnel.width >= 1000  # drawn at twice the chart's width
    assert len(funnel.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 10


def test_the_dashboard_key_figures_as_a_table_and_json(course: str) -> None:
    table = ok("analytics", "dashboard", "stats-101")
    assert "Completion rate (all time)" in table.stdout
    assert "Course report:" in table.stdout
    figures = {f["label"]: f for f in json.loads(ok("analytics", "dashboard", course, "-o", "json").stdout)}
    assert figures["Completion rate (all time)"]["value"] == 30.0
    assert figures["Time spent"]["unit"] == "h"
    platform = {f["label"]: f["value"] for f in json.loads(ok("analytics", "dashboard", "-o", "json").stdout)}
    assert platform["Registrations"] is not None
    assert "Revenue (USD)" in platform


def test_bad_input_is_one_line_and_a_non_zero_exit(course: str, tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    out = str(tmp_path / "r.html")
    for args, code, message in (
        (("analytics", "report", "nope", "-o", out), 1, "course"),
        (("analytics", "report", course, "-o", out, "--format", "pdf"), 2, "unknown report format"),
        (("analytics", "report", course, "-o", out, "--since", "yesterday"), 2, "--since"),
        (("analytics", "report", course, "-o", out, "--since", "2026-02-10", "--until", "2026-02-01"), 2, "since"),
        (("analytics", "report", course, "-o", out, "--since", "2020-01-01", "--until", "2026-01-01"), 2, "366"),
        (("analytics", "report", course, "-o", str(tmp_path / "none" / "r.html")), 2, "not a directory"),
        (("analytics", "report", course, "-o", str(a_file), "--format", "png"), 2, "is a file"),
        (("analytics", "report", course, "-o", str(tmp_path), "--format", "csv"), 2, "is a directory"),
        (("analytics", "dashboard", str(uuid.uuid4())), 1, "course"),
        (("analytics", "dashboard", course, "-o", "xml"), 2, "unknown output format"),
    ):
        result = invoke(*args)
        assert result.exit_code == code, (args, result.output)
        lines = error_lines(result)
        assert len(lines) == 1, lines
        assert message in lines[0], lines[0]
    assert not (tmp_path / "r.html").exists()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (apt-get install chromium)")
@pytest.mark.timeout(300)
def test_the_report_the_cli_wrote_draws_in_chromium(course: str, tmp_path: Path) -> None:
    from tests.integration.test_analytics_report_render import charts_that_did_not_draw, look

    page = tmp_path / "report.html"
    ok("analytics", "report", course, "--output", str(page))
    assert charts_that_did_not_draw(look(page, tmp_path), KEYS) == {}
