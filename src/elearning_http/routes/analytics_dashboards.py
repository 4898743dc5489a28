"""Course and platform dashboards over HTTP (issue 18, point 4): the key figures and every chart's series as
JSON, and each chart as a Vega-Lite spec, an SVG or a PNG drawn by the chart renderer (vl-convert).

Cells counting fewer than k learners are null, with the chart's note saying so (docs/modules/analytics.md,
"Dashboards"). The answers are private to the caller and cached by their browser for a minute at most.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, PathParameter, QueryParameter

from elearning_adapters.analytics.charts import VlConvertChartRenderer
from elearning_core.analytics.charts import Chart, ChartRenderer, Report, vega_lite
from elearning_core.analytics.dashboard import MAX_DAYS, DashboardService
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem_responses

TAGS = ["analytics"]
ERRORS = problem_responses(401, 403, 404, 422)
CACHE = {"Cache-Control": "private, max-age=60"}
COURSE_BASE = "/api/v1/courses/{course_id:uuid}/analytics"
PLATFORM_BASE = "/api/v1/analytics"
Req = Request[Any, Any, Any]
Service = NamedDependency[DashboardService]
Renderer = NamedDependency[VlConvertChartRenderer]  # a concrete class: Litestar checks what it injects
Caller = NamedDependency[Principal]
CourseId = FromPath[uuid.UUID]
ChartKey = Annotated[
    str,
    PathParameter(
        max_length=64,
        description="The chart's key, as the dashboard's `charts` list it (`enrollments-completions`, ...)",
    ),
]
Since = Annotated[
    dt.date | None,
    QueryParameter(
        description="The window's first day (default: 29 days before `until`), in the time zone of "
        "the course's organization (the platform's for the platform dashboard)."
    ),
]
Until = Annotated[
    dt.date | None,
    QueryParameter(description=f"The window's last day (default: today there); at most {MAX_DAYS} days after `since`."),
]


class ChartFormat(StrEnum):
    VEGA_LITE = "vega-lite"
    SVG = "svg"
    PNG = "png"


Format = Annotated[
    ChartFormat,
    QueryParameter(
        description="`vega-lite` (the spec as JSON, data inline), `svg` or `png` (drawn by the server).",
    ),
]
CHART_CONTENT = {
    "success_content": {
        "application/json": {"type": "object", "description": "A Vega-Lite v5 specification"},
        "image/svg+xml": {"type": "string", "format": "binary"},
        "image/png": {"type": "string", "format": "binary"},
    }
}


@dataclass(frozen=True, slots=True)
class FigureOut:
    label: str
    value: float | None
    """Null: hidden, it counted fewer than k learners (or would give such a count away)."""
    unit: str


@dataclass(frozen=True, slots=True)
class PointOut:
    x: str | float
    """A day (ISO date), a category, a second of a video or a bin's start."""
    value: float | None
    """Null: hidden for privacy (see the chart's note)."""


@dataclass(frozen=True, slots=True)
class SeriesOut:
    name: str
    points: list[PointOut]


@dataclass(frozen=True, slots=True)
class ChartLinks:
    vega_lite: str
    svg: str
    png: str


@dataclass(frozen=True, slots=True)
class ChartOut:
    key: str
    title: str
    kind: str
    x_title: str
    y_title: str
    description: str
    note: str | None
    """Why values are missing (``N values counting fewer than k learners are hidden ...``), or null."""
    hidden: int
    series: list[SeriesOut]
    links: ChartLinks


@dataclass(frozen=True, slots=True)
class DashboardOut:
    title: str
    since: dt.date
    until: dt.date
    time_zone: str
    suppression_threshold: int
    """k: cells counting 1 to k-1 learners are hidden, and the cells that would give them away."""
    generated_at: dt.datetime
    note: str | None
    figures: list[FigureOut]
    charts: list[ChartOut]
    course_id: str | None = None


def _x(x: Any) -> str | float:
    return x.isoformat() if isinstance(x, dt.date) else x


def _query(since: dt.date | None, until: dt.date | None) -> str:
    parts = [f"since={since.isoformat()}"] if since else []
    parts += [f"until={until.isoformat()}"] if until else []
    return "&" + "&".join(parts) if parts else ""


def dashboard_out(report: Report, charts_url: str, query: str, course_id: uuid.UUID | None = None) -> DashboardOut:
    def links(key: str) -> ChartLinks:
        base = f"{charts_url}/{key}?format="
        return ChartLinks(f"{base}vega-lite{query}", f"{base}svg{query}", f"{base}png{query}")

    return DashboardOut(
        title=report.title,
        since=report.period_start,
        until=report.period_end,
        time_zone=report.time_zone,
        suppression_threshold=report.suppression_threshold or 0,
        generated_at=report.generated_at,
        note=report.privacy_note,
        figures=[FigureOut(f.label, f.value, f.unit) for f in report.figures],
        charts=[
            ChartOut(
                key=chart.key,
                title=chart.title,
                kind=chart.kind.value,
                x_title=chart.x_title,
                y_title=chart.y_title,
                description=chart.overview,
                note=chart.privacy_note,
                hidden=chart.suppressed,
                series=[SeriesOut(s.name, [PointOut(_x(p.x), p.value) for p in s.points]) for s in chart.series],
                links=links(chart.key),
            )
            for chart in report.charts
        ],
        course_id=str(course_id) if course_id else None,
    )


async def chart_response(chart: Chart, chart_format: ChartFormat, renderer: ChartRenderer) -> Response[Any]:
    spec = vega_lite(chart)
    if chart_format is ChartFormat.SVG:
        return Response(await renderer.svg(spec), media_type="image/svg+xml", headers=CACHE)
    if chart_format is ChartFormat.PNG:
        return Response(await renderer.png(spec), media_type="image/png", headers=CACHE)
    return Response(spec, media_type="application/json", headers=CACHE)


@get(
    f"{COURSE_BASE}/dashboard",
    tags=TAGS,
    summary="The course's dashboard: key figures and charts over a window of days (staff)",
    description="Active learners (busiest day, latest week and month, per day), enrollments and completions per "
    "day, the completion funnel, the estimated learning time per day, discussion per day, a heatmap and the "
    "drop-off of the most-watched videos, the scores of the most-attempted quiz and the outcomes per quiz, and "
    "the net revenue per month. Cells counting fewer than k learners (ELEARNING_ANALYTICS_SUPPRESSION_K) are "
    "null, with the cells that would give them away. Each chart links to its Vega-Lite spec, SVG and PNG. The "
    "course's staff, organization admins and platform admins only: 403 for others who can see the course, 404 "
    "for those who cannot.",
    responses=ERRORS,
)
async def course_dashboard(
    dashboard_service: Service,
    principal: Caller,
    course_id: CourseId,
    since: Since = None,
    until: Until = None,
) -> Response[DashboardOut]:
    report = await dashboard_service.course_dashboard(principal, course_id, since, until)
    url = f"/api/v1/courses/{course_id}/analytics/charts"
    return Response(dashboard_out(report, url, _query(since, until), course_id), headers=CACHE)


@get(
    f"{COURSE_BASE}/charts/{{key:str}}",
    tags=TAGS,
    summary="One chart of the course's dashboard: Vega-Lite spec, SVG or PNG (staff)",
    description="The chart `key` of `GET .../analytics/dashboard` (its `charts[].key`), with the same window "
    "and suppression; 404 for a key the dashboard does not have.",
    responses=ERRORS,
    opt=CHART_CONTENT,
)
async def course_chart(
    dashboard_service: Service,
    chart_renderer: Renderer,
    principal: Caller,
    course_id: CourseId,
    key: ChartKey,
    format: Format = ChartFormat.VEGA_LITE,
    since: Since = None,
    until: Until = None,
) -> Response[Any]:
    chart = await dashboard_service.course_chart(principal, course_id, key, since, until)
    return await chart_response(chart, format, chart_renderer)


@get(
    f"{PLATFORM_BASE}/dashboard",
    tags=TAGS,
    summary="The platform's dashboard: key figures and charts over a window of days (platform admins)",
    description="Active learners, registrations, enrollments and completions per day, the courses with the "
    "most enrollments, and the net revenue per month, with cells counting fewer than k learners null. Platform "
    "admins only.",
    responses=ERRORS,
)
async def platform_dashboard(
    dashboard_service: Service, principal: Caller, since: Since = None, until: Until = None
) -> Response[DashboardOut]:
    report = await dashboard_service.platform_dashboard(principal, since, until)
    return Response(dashboard_out(report, f"{PLATFORM_BASE}/charts", _query(since, until)), headers=CACHE)


@get(
    f"{PLATFORM_BASE}/charts/{{key:str}}",
    tags=TAGS,
    summary="One chart of the platform's dashboard: Vega-Lite spec, SVG or PNG (platform admins)",
    description="The chart `key` of `GET /api/v1/analytics/dashboard`; 404 for a key it does not have.",
    responses=ERRORS,
    opt=CHART_CONTENT,
)
async def platform_chart(
    dashboard_service: Service,
    chart_renderer: Renderer,
    principal: Caller,
    key: ChartKey,
    format: Format = ChartFormat.VEGA_LITE,
    since: Since = None,
    until: Until = None,
) -> Response[Any]:
    chart = await dashboard_service.platform_chart(principal, key, since, until)
    return await chart_response(chart, format, chart_renderer)


ANALYTICS_DASHBOARD_HANDLERS = [course_dashboard, course_chart, platform_dashboard, platform_chart]
