"""What a report holds, and each chart as a Vega-Lite v5 specification.

A ``Chart`` is the data of one figure (its kind, titles and series of points), built by the function of
its kind from plain series (``line_over_days``, ``bar_per_category`` (side by side or stacked), ``funnel``,
``video_heatmap``, ``score_histogram``), so the aggregate readers, the HTTP routes and the CLI only call
them. ``vega_lite(chart)`` turns it into a self-contained Vega-Lite spec (inline data, no URL), which the
API returns as is and a ``ChartRenderer`` draws as SVG or PNG. A point whose value is ``None`` was
suppressed for privacy (it counted fewer learners than the report's threshold): it is left out of the
marks, and the chart says so in its note rather than drawing a zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, Final, Protocol, TypedDict, Unpack

from elearning_core.analytics._chart_model import (
    MAX_POINTS,
    Chart,
    ChartKind,
    KeyFigure,
    Point,
    Report,
    Series,
    Value,
    X,
    number_text,
    x_text,
)
from elearning_core.shared.errors import ValidationFailed

__all__ = [
    "HEIGHT",
    "MAX_POINTS",
    "SCHEMA",
    "WIDTH",
    "Chart",
    "ChartKind",
    "ChartOptions",
    "ChartRenderer",
    "ChartRenderingFailed",
    "ChartTooLarge",
    "KeyFigure",
    "Point",
    "Report",
    "Series",
    "bar_per_category",
    "funnel",
    "line_over_days",
    "number_text",
    "score_histogram",
    "vega_lite",
    "video_heatmap",
    "x_text",
]

SCHEMA: Final = "https://vega.github.io/schema/vega-lite/v5.json"
WIDTH: Final = 640
HEIGHT: Final = 280


class ChartTooLarge(ValidationFailed):
    """A spec past the renderer's bounds (pixels, values or bytes): refused before any drawing starts."""


class ChartRenderingFailed(Exception):
    """The renderer could not draw a spec (an invalid spec: a bug of the caller, not of the reader)."""


class ChartRenderer(Protocol):
    """Draws a Vega-Lite spec. Implementations work off the event loop and refuse oversized specs
    with ``ChartTooLarge``."""

    async def svg(self, spec: Mapping[str, Any]) -> str: ...

    async def png(self, spec: Mapping[str, Any], *, scale: float = 1.0) -> bytes: ...


# --- builders: plain series in, a checked Chart out --------------------------------------------------------


class ChartOptions(TypedDict, total=False):
    """What every builder also takes: the privacy threshold k when cells counting fewer than k learners
    were hidden (their value is ``None``), and a description to use instead of the generated one."""

    suppression_threshold: int | None
    description: str


def _chart(
    kind: ChartKind,
    key: str,
    title: str,
    data: Mapping[str, Iterable[tuple[X, Value]]],
    titles: tuple[str, str],
    options: ChartOptions,
    bin_width: float | None = None,
) -> Chart:
    series = tuple(Series(name, tuple(Point(x, value) for x, value in points)) for name, points in data.items())
    threshold, description = options.get("suppression_threshold"), options.get("description", "")
    return Chart(key, title, kind, *titles, series, description, bin_width, threshold)


def line_over_days(
    key: str,
    title: str,
    series: Mapping[str, Iterable[tuple[date, Value]]],
    *,
    y_title: str,
    x_title: str = "Day",
    **options: Unpack[ChartOptions],
) -> Chart:
    """A value per day (active learners, enrollments, completions), one line per series."""
    return _chart(ChartKind.LINE, key, title, series, (x_title, y_title), options)


def bar_per_category(
    key: str,
    title: str,
    series: Mapping[str, Iterable[tuple[str, Value]]],
    *,
    x_title: str,
    y_title: str,
    stacked: bool = False,
    **options: Unpack[ChartOptions],
) -> Chart:
    """A value per category (per course, per month): bars side by side when there are several series, or
    ``stacked`` as parts of a whole (passed/failed per quiz) in the order the series are given."""
    kind = ChartKind.STACKED_BAR if stacked else ChartKind.BAR
    return _chart(kind, key, title, series, (x_title, y_title), options)


def funnel(key: str, title: str, stages: Iterable[tuple[str, Value]], **options: Unpack[ChartOptions]) -> Chart:
    """Learners reaching each stage, in order (enrolled, started, 25/50/75 %, completed)."""
    return _chart(ChartKind.FUNNEL, key, title, {"Learners": stages}, ("Stage", "Learners"), options)


def video_heatmap(
    key: str,
    title: str,
    rows: Mapping[str, Iterable[tuple[int, Value]]],
    *,
    value_title: str = "Viewers",
    seconds_per_cell: int = 1,
    **options: Unpack[ChartOptions],
) -> Chart:
    """How many viewers watched each second, one row per video (or per cohort of one video); with
    ``seconds_per_cell`` above 1 each cell spans that many seconds from its x (a long video kept readable)."""
    width = float(seconds_per_cell) if seconds_per_cell > 1 else None
    return _chart(ChartKind.HEATMAP, key, title, rows, ("Second of the video", value_title), options, width)


def score_histogram(
    key: str,
    title: str,
    bins: Iterable[tuple[float, Value]],
    *,
    bin_width: float,
    x_title: str = "Score (%)",
    y_title: str = "Attempts",
    **options: Unpack[ChartOptions],
) -> Chart:
    """Counts per score bin, each bin given by its start; ``bin_width`` is the same for all."""
    return _chart(ChartKind.HISTOGRAM, key, title, {y_title: bins}, (x_title, y_title), options, bin_width)


# --- Vega-Lite v5 specs -----------------------------------------------------------------------------------


def vega_lite(chart: Chart, *, title: bool = True) -> dict[str, Any]:
    """The chart's Vega-Lite v5 spec; ``title=False`` leaves the title to the page around it."""
    return _SPECS[chart.kind](chart, title)


def _base(chart: Chart, rows: list[dict[str, Any]], height: int, title: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"$schema": SCHEMA, "description": chart.summary}
    if title:
        heading: dict[str, Any] = {"text": chart.title, "anchor": "start"}
        if chart.privacy_note:
            heading["subtitle"] = chart.privacy_note
        spec["title"] = heading
    spec.update({"width": WIDTH, "height": height, "data": {"values": rows}})
    return spec


def _rows(chart: Chart) -> list[dict[str, Any]]:
    return [
        {"series": series.name, "order": i, "x": x_text(point.x) if isinstance(point.x, date) else point.x}
        | {"value": point.value}
        for i, series in enumerate(chart.series)
        for point in series.points
    ]


def _y(chart: Chart) -> dict[str, Any]:
    return {"field": "value", "type": "quantitative", "title": chart.y_title}


def _color(chart: Chart) -> dict[str, Any]:
    return {"field": "series", "type": "nominal", "title": None, "sort": [s.name for s in chart.series]}


def _categories(chart: Chart) -> dict[str, Any]:
    """The category axis in the given order, every category on it: a hidden value leaves a visible gap."""
    names = list(dict.fromkeys(str(point.x) for _, point in chart.points))
    axis = {"labelAngle": 0 if len(names) <= 8 else -45, "labelLimit": 120}
    return {"field": "x", "type": "nominal", "title": chart.x_title, "scale": {"domain": names}, "axis": axis}


def _tip(*channels: dict[str, Any]) -> list[dict[str, Any]]:
    """Tooltip entries: the channels' fields and titles, without what only axes and legends take."""
    keep = ("field", "type", "title", "timeUnit", "format")
    return [{k: v for k, v in channel.items() if k in keep} for channel in channels]


def _encoding(chart: Chart, x: dict[str, Any]) -> dict[str, Any]:
    """x, the values on y, and a colour per series (no legend for a single one), with their tooltip."""
    if len(chart.series) == 1:
        return {"x": x, "y": _y(chart), "tooltip": _tip(x, _y(chart))}
    return {"x": x, "y": _y(chart), "color": _color(chart), "tooltip": _tip(x, _y(chart), _color(chart))}


def line_spec(chart: Chart, title: bool = True) -> dict[str, Any]:
    x = {"field": "x", "type": "temporal", "timeUnit": "utcyearmonthdate", "title": chart.x_title}
    many_days = max((len(s.points) for s in chart.series), default=0) > 62
    spec = _base(chart, _rows(chart), HEIGHT, title)
    spec["mark"] = {"type": "line", "point": not many_days, "strokeWidth": 2}
    spec["encoding"] = _encoding(chart, x)
    return spec


def bar_spec(chart: Chart, title: bool = True) -> dict[str, Any]:
    x = _categories(chart)
    spec = _base(chart, _rows(chart), HEIGHT, title)
    spec["mark"] = {"type": "bar"}
    encoding = _encoding(chart, x)
    if len(chart.series) > 1:
        encoding["xOffset"] = {"field": "series", "type": "nominal", "sort": [s.name for s in chart.series]}
    spec["encoding"] = encoding
    return spec


def stacked_bar_spec(chart: Chart, title: bool = True) -> dict[str, Any]:
    x = _categories(chart)
    spec = _base(chart, _rows(chart), HEIGHT, title)
    spec["mark"] = {"type": "bar"}
    spec["encoding"] = {
        "x": x,
        "y": {**_y(chart), "stack": "zero"},
        "color": _color(chart),
        "order": {"field": "order", "type": "quantitative"},
        "tooltip": _tip(x, _y(chart), _color(chart)),
    }
    return spec


def funnel_spec(chart: Chart, title: bool = True) -> dict[str, Any]:
    rows = _rows(chart)
    first = rows[0]["value"] if rows else None  # no share at all when the first stage is hidden
    for row in rows:
        row["share"] = row["value"] / first if first and row["value"] is not None else None
    # Stages read top to bottom: the stage (the point's x) goes down the y axis, the count along x.
    y = {"field": "x", "type": "nominal", "sort": None, "title": chart.x_title}
    x = {"field": "value", "type": "quantitative", "title": chart.y_title}
    spec = _base(chart, rows, max(80, 36 * len(rows)), title)
    spec["encoding"] = {"y": y, "x": x}
    share = {"field": "share", "type": "quantitative", "format": ".0%", "title": "Share of the first stage"}
    spec["layer"] = [
        {"mark": {"type": "bar"}, "encoding": {"tooltip": _tip(y, x, share)}},
        {"mark": {"type": "text", "align": "left", "dx": 4}, "encoding": {"text": share}},
    ]
    return spec


def heatmap_spec(chart: Chart, title: bool = True) -> dict[str, Any]:
    rows = _rows(chart)
    span = chart.bin_width or 1
    for row in rows:
        row["x_end"] = row["x"] + span
    x = {"field": "x", "type": "quantitative", "title": chart.x_title}
    color = {
        "field": "value",
        "type": "quantitative",
        "title": chart.y_title,
        "scale": {"scheme": "blues", "domainMin": 0},
    }
    spec = _base(chart, rows, max(60, 40 * len(chart.series)), title)
    spec["mark"] = {"type": "rect"}
    y: dict[str, Any] = {"field": "series", "type": "nominal", "sort": [s.name for s in chart.series], "title": None}
    spec["encoding"] = {"x": x, "x2": {"field": "x_end"}, "y": y, "color": color, "tooltip": _tip(x, y, color)}
    return spec


def histogram_spec(chart: Chart, title: bool = True) -> dict[str, Any]:
    width = chart.bin_width or 1.0
    rows = _rows(chart)
    for row in rows:
        row["x_end"] = row["x"] + width
    x = {"field": "x", "type": "quantitative", "bin": {"binned": True, "step": width}, "title": chart.x_title}
    spec = _base(chart, rows, HEIGHT, title)
    spec["mark"] = {"type": "bar", "binSpacing": 1}
    x_end = {"field": "x_end", "type": "quantitative", "title": "to"}
    spec["encoding"] = {"x": x, "x2": {"field": "x_end"}, "y": _y(chart), "tooltip": _tip(x, x_end, _y(chart))}
    return spec


_SPECS: Final = {
    ChartKind.LINE: line_spec,
    ChartKind.BAR: bar_spec,
    ChartKind.STACKED_BAR: stacked_bar_spec,
    ChartKind.FUNNEL: funnel_spec,
    ChartKind.HEATMAP: heatmap_spec,
    ChartKind.HISTOGRAM: histogram_spec,
}
