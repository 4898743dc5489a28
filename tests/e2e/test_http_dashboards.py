"""Course and platform dashboards over HTTP: the JSON (window, time zone, k, figures, every chart's series
with nulls for hidden cells and links to the renderings), each chart as Vega-Lite JSON, a real SVG and a real
PNG, problems for bad input, and who may see what (401/403/404).

The aggregates come from ``InMemoryAggregateReads`` through the one fixture ``aggregates`` (an override of the
container's provider): sample histories rich enough for every chart and every suppression case. The path
from requests through the projection and the SQL aggregates to the JSON is test_http_dashboards_sql.py."""

from __future__ import annotations

import io
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from dependency_injector import providers
from PIL import Image

from elearning_adapters.container import Platform
from elearning_adapters.settings import Settings
from elearning_core.identity.commands import CreateOrganization, RoleGrantSpec
from elearning_core.shared.ports import SYSTEM
from tests.analytics_dashboard_fakes import COURSE_CHART_KEYS, InMemoryAggregateReads, sample_course, sample_platform
from tests.e2e.assessment_helpers import Person, person
from tests.e2e.http_helpers import BACKENDS, COURSES, Api, assert_problem, backend_settings, course_spec, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

Json = dict[str, Any]
TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("dashboards"))


@pytest.fixture(scope="module")
def aggregates() -> InMemoryAggregateReads:
    """The aggregates the dashboards read: sample histories in memory (the SQL path: test_http_dashboards_sql.py)."""
    return InMemoryAggregateReads(platform=sample_platform(until=TODAY))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings, aggregates: InMemoryAggregateReads) -> AsyncIterator[Api]:
    def override(platform: Platform) -> None:
        platform.container.analytics.analytics_aggregates.override(providers.Object(aggregates))

    async with serve(settings, before_app=override) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="module")
async def api(running: Api) -> Api:
    return await running.reset()


async def _course(api: Api, aggregates: InMemoryAggregateReads) -> tuple[str, Person]:
    """A published course with a busy history in the aggregates, and its teaching assistant."""
    (course_id,) = await api.seed(course_spec(f"dash-{uuid.uuid4().hex[:8]}", lessons=2))
    aggregates.courses[uuid.UUID(course_id)] = sample_course(uuid.UUID(course_id), until=TODAY)
    return course_id, await person(api, role="teaching_assistant", course_id=course_id, name="tess")


async def _get(api: Api, url: str, who: Person) -> Json:
    response = await api.client.get(url, headers=who.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _points(body: Json, key: str, series: str) -> list[Json]:
    chart = next(c for c in body["charts"] if c["key"] == key)
    return list(next(s for s in chart["series"] if s["name"] == series)["points"])


async def test_staff_get_the_figures_and_every_chart_with_small_cells_hidden(
    api: Api, aggregates: InMemoryAggregateReads
) -> None:
    course_id, ta = await _course(api, aggregates)
    since, until = TODAY - timedelta(days=13), TODAY
    body = await _get(api, f"{COURSES}/{course_id}/analytics/dashboard?since={since}&until={until}", ta)
    assert (body["since"], body["until"], body["time_zone"]) == (since.isoformat(), until.isoformat(), "Europe/Paris")
    assert body["suppression_threshold"] == 5
    assert body["course_id"] == course_id
    figures = {f["label"]: f["value"] for f in body["figures"]}
    sample = aggregates.courses[uuid.UUID(course_id)]
    assert figures["Enrollments"] == sum(p.value for p in sample.enrollments if since <= p.start <= until)
    assert figures["Completion rate (all time)"] == 30.0
    assert [c["key"] for c in body["charts"]] == COURSE_CHART_KEYS
    enrollments = _points(body, "enrollments-completions", "Enrollments")
    assert [p["x"] for p in enrollments] == [(since + timedelta(days=i)).isoformat() for i in range(14)]
    assert enrollments[-1]["value"] is None  # 2 enrollments today
    assert sum(p["value"] is None for p in enrollments) == 2  # and the one hidden beside it
    completions = _points(body, "enrollments-completions", "Completions")
    assert completions[3]["value"] is None  # 3 completions ten days ago
    assert sum(p["value"] is None for p in completions) == 2
    posters = _points(body, "discussion", "Posters")
    assert posters[-1]["value"] is None
    assert _points(body, "discussion", "Posts")[-1]["value"] is None
    chart = next(c for c in body["charts"] if c["key"] == "enrollments-completions")
    assert chart["note"] == "4 values counting fewer than 5 learners are hidden to protect privacy."
    assert chart["hidden"] == 4
    links = chart["links"]
    assert links["svg"] == (
        f"/api/v1/courses/{course_id}/analytics/charts/enrollments-completions?format=svg&since={since}&until={until}"
    )
    assert body["note"] == "Figures counting fewer than 5 learners are hidden to protect privacy."


async def test_each_chart_as_vega_lite_svg_and_png(api: Api, aggregates: InMemoryAggregateReads) -> None:
    course_id, ta = await _course(api, aggregates)
    base = f"{COURSES}/{course_id}/analytics/charts/funnel"
    spec = await api.client.get(f"{base}?format=vega-lite", headers=ta.headers)
    assert spec.status_code == 200, spec.text
    assert spec.headers["content-type"].startswith("application/json")
    assert spec.headers["cache-control"] == "private, max-age=60"
    assert spec.json()["$schema"].startswith("https://vega.github.io/schema/vega-lite/v5")
    assert [row["x"] for row in spec.json()["data"]["values"]][:2] == ["Enrolled", "Started"]

    svg = await api.client.get(f"{base}?format=svg", headers=ta.headers)
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(svg.text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "Enrolled" in svg.text  # the axis labels were drawn as text

    png = await api.client.get(f"{COURSES}/{course_id}/analytics/charts/video-heatmap?format=png", headers=ta.headers)
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(png.content))
    assert image.format == "PNG"
    assert image.width > 300
    assert image.height > 50
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 10  # a heatmap's shades, not a blank canvas


async def test_bad_input_is_a_problem(api: Api, aggregates: InMemoryAggregateReads) -> None:
    course_id, ta = await _course(api, aggregates)
    dashboard = f"{COURSES}/{course_id}/analytics/dashboard"
    for query, field in (
        ("since=2026-02-10&until=2026-02-01", "since"),
        ("since=2024-01-01&until=2025-12-31", "until"),
        ("since=yesterday", "since"),
    ):
        assert_problem(await api.client.get(f"{dashboard}?{query}", headers=ta.headers), 422, field=field)
    charts = f"{COURSES}/{course_id}/analytics/charts"
    assert_problem(await api.client.get(f"{charts}/funnel?format=gif", headers=ta.headers), 422, field="format")
    assert_problem(await api.client.get(f"{charts}/pie-of-everything?format=svg", headers=ta.headers), 404)


async def test_who_may_see_a_course_dashboard(api: Api, aggregates: InMemoryAggregateReads) -> None:
    course_id, _ta = await _course(api, aggregates)
    url = f"{COURSES}/{course_id}/analytics/dashboard"
    assert_problem(await api.client.get(url), 401)
    learner = await person(api, name="ada")
    assert_problem(await api.client.get(url, headers=learner.headers), 403)
    other_course, _ = await _course(api, aggregates)
    other_staff = await person(api, role="instructor", course_id=other_course, name="ivan")
    assert_problem(await api.client.get(url, headers=other_staff.headers), 403)
    organization = await api.platform.identity.create_organization(SYSTEM, CreateOrganization(slug="else", name="Else"))
    org_admin = await person(api, name="olga")
    await api.platform.identity.grant_role(
        SYSTEM,
        uuid.UUID(org_admin.id),
        RoleGrantSpec(role="organization_admin", scope="organization", scope_id=organization.id),
    )
    assert_problem(await api.client.get(url, headers=org_admin.headers), 403)
    admin = await person(api, role="platform_admin", name="root")
    assert (await api.client.get(url, headers=admin.headers)).status_code == 200
    assert_problem(await api.client.get(f"{COURSES}/{uuid.uuid4()}/analytics/dashboard", headers=admin.headers), 404)


async def test_the_platform_dashboard_is_for_platform_admins(api: Api, aggregates: InMemoryAggregateReads) -> None:
    course_id, ta = await _course(api, aggregates)
    assert_problem(await api.client.get("/api/v1/analytics/dashboard"), 401)
    assert_problem(await api.client.get("/api/v1/analytics/dashboard", headers=ta.headers), 403)
    admin = await person(api, role="platform_admin", name="root")
    body = await _get(api, "/api/v1/analytics/dashboard", admin)
    assert body["course_id"] is None
    assert body["until"] == TODAY.isoformat()
    assert date.fromisoformat(body["since"]) == TODAY - timedelta(days=29)
    assert [c["key"] for c in body["charts"]] == [
        "active-learners",
        "registrations",
        "enrollments-completions",
        "top-courses",
        "revenue",
    ]
    top = _points(body, "top-courses", "Enrollments")
    assert [p["value"] for p in top][-1] is None  # a course with 2 enrollments
    svg = await api.client.get("/api/v1/analytics/charts/revenue?format=svg", headers=admin.headers)
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert_problem(await api.client.get("/api/v1/analytics/charts/funnel", headers=admin.headers), 404)
    assert_problem(await api.client.get("/api/v1/analytics/charts/revenue?format=svg", headers=ta.headers), 403)
    assert course_id


async def test_the_routes_are_in_the_openapi_schema(api: Api) -> None:
    schema = (await api.client.get("/schema/openapi.json")).json()
    chart = schema["paths"]["/api/v1/courses/{course_id}/analytics/charts/{key}"]["get"]
    assert {p["name"] for p in chart["parameters"]} >= {"format", "since", "until"}
    assert set(chart["responses"]["200"]["content"]) == {"application/json", "image/svg+xml", "image/png"}
    dashboard = schema["paths"]["/api/v1/courses/{course_id}/analytics/dashboard"]["get"]
    assert {"200", "401", "403", "404", "422"} <= set(dashboard["responses"])
    assert "/api/v1/analytics/dashboard" in schema["paths"]
    assert "/api/v1/analytics/charts/{key}" in schema["paths"]
