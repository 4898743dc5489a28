"""A ``Report`` as an HTML page people would rather look at than read, and as CSV.

The page is one file that needs nothing else to be viewed (no script, no network): a title and the
period, a row of key figures, then per chart its SVG drawn by the ``ChartRenderer``, a caption that
describes it, the privacy note when cells were hidden, and a table of its data for screen readers and
spreadsheet people. Everything from the report is escaped by Jinja2's autoescape; the only markup passed
through is the SVG, and only after ``_inline_svg`` parsed it and found no script, event handler, foreign
object or outside link in it. Its ids get the chart's key as a prefix: two Vega drawings on one page
would otherwise both define ``clip1`` and clip each other.

``render_csv`` writes the same figures as one tidy table (section, series, x, value, note), one row per
value, text cells through ``spreadsheet_text`` like every CSV the platform writes.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from elearning_core.analytics.charts import (
    Chart,
    ChartRenderer,
    ChartRenderingFailed,
    KeyFigure,
    Report,
    number_text,
    vega_lite,
    x_text,
)
from elearning_core.shared.spreadsheet import spreadsheet_text

SVG_NS: Final = "http://www.w3.org/2000/svg"
OPEN_TABLE_ROWS: Final = 12
"""Short tables are shown open under their chart; longer ones start folded (one click, or a screen
reader's expand, opens them) so the charts stay close together."""
_FORBIDDEN_TAGS: Final = frozenset({"script", "foreignObject", "iframe", "object", "embed", "image", "use"})
_ID_REF = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')

_env = Environment(
    loader=PackageLoader("elearning_adapters.analytics", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True, slots=True)
class _Cell:
    text: str
    hidden: bool = False


@dataclass(frozen=True, slots=True)
class _Row:
    x: str
    cells: tuple[_Cell, ...]


@dataclass(frozen=True, slots=True)
class _ChartView:
    """A chart as the page shows it: its drawing, and its data pivoted for the table."""

    chart: Chart
    svg: Markup
    columns: tuple[str, ...]
    rows: tuple[_Row, ...]

    @property
    def open(self) -> bool:
        return len(self.rows) <= OPEN_TABLE_ROWS


async def render_html(report: Report, renderer: ChartRenderer) -> str:
    """The report's page; each chart drawn by ``renderer`` (concurrently, within its own bound)."""
    svgs = await asyncio.gather(*(renderer.svg(vega_lite(chart, title=False)) for chart in report.charts))
    charts = [_view(chart, _inline_svg(svg, chart.key)) for chart, svg in zip(report.charts, svgs, strict=True)]
    return _env.get_template("report.html.j2").render(
        report=report,
        period=period_text(report.period_start, report.period_end),
        generated=f"{report.generated_at:%Y-%m-%d %H:%M} {report.generated_at.tzname() or ''}".strip(),
        figures=[{"label": f.label, "value": figure_text(f)} for f in report.figures],
        charts=charts,
    )


def render_csv(report: Report) -> str:
    """The report's figures as CSV (RFC 4180): ``section,series,x,value,note``, key figures first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["section", "series", "x", "value", "note"])
    hidden = f"hidden: fewer than {report.suppression_threshold} learners"
    for figure in report.figures:
        label = f"{figure.label} ({figure.unit})" if figure.unit else figure.label
        writer.writerow(
            [
                "Key figures",
                spreadsheet_text(label),
                "",
                _csv_number(figure.value),
                hidden if figure.value is None else "",
            ]
        )
    for chart in report.charts:
        for series, point in chart.points:
            writer.writerow(
                [
                    spreadsheet_text(chart.title),
                    spreadsheet_text(series.name),
                    spreadsheet_text(point.x.isoformat() if isinstance(point.x, date) else str(point.x)),
                    _csv_number(point.value),
                    hidden if point.value is None else "",
                ]
            )
    return out.getvalue()


def period_text(start: date, end: date) -> str:
    if start == end:
        return f"{start.day} {start:%B %Y}"
    return f"{start.day} {start:%B %Y} \u2013 {end.day} {end:%B %Y}"


def figure_text(figure: KeyFigure) -> str:
    if figure.value is None:
        return "hidden"
    text = number_text(figure.value)
    return f"{text} {figure.unit}" if figure.unit and figure.unit != "%" else text + figure.unit


def _csv_number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value + 0.0:.2f}"


def _view(chart: Chart, svg: Markup) -> _ChartView:
    """The chart pivoted for its table: a row per x in order of first appearance, a column per series."""
    xs: dict[Any, None] = {}
    for series in chart.series:
        xs.update(dict.fromkeys(point.x for point in series.points))
    values = [{point.x: point.value for point in series.points} for series in chart.series]
    rows = tuple(_Row(x_text(x), tuple(_cell(by_x, x) for by_x in values)) for x in xs)
    columns = tuple(s.name for s in chart.series) if len(chart.series) > 1 else (chart.y_title,)
    return _ChartView(chart, svg, columns, rows)


def _cell(by_x: dict[Any, float | None], x: Any) -> _Cell:
    if x not in by_x:
        return _Cell("\u2013")  # an en dash: this series has no value at this x
    value = by_x[x]
    return _Cell("hidden", hidden=True) if value is None else _Cell(number_text(value))


def _inline_svg(svg: str, key: str) -> Markup:
    """The renderer's SVG, safe to put inside the page: checked element by element, ids made unique."""
    try:
        root = ET.fromstring(svg)
    except ET.ParseError as error:
        raise ChartRenderingFailed(f"chart {key!r}: the renderer's SVG does not parse: {error}") from error
    if root.tag != f"{{{SVG_NS}}}svg":
        raise ChartRenderingFailed(f"chart {key!r}: the renderer did not return an SVG document")
    for element in root.iter():
        tag = element.tag.rpartition("}")[2]
        if tag in _FORBIDDEN_TAGS:
            raise ChartRenderingFailed(f"chart {key!r}: the SVG holds a <{tag}> element")
        for name, value in element.attrib.items():
            local = name.rpartition("}")[2].lower()
            if local.startswith("on") or (local == "href" and not value.startswith("#")):
                raise ChartRenderingFailed(f"chart {key!r}: the SVG holds an attribute {local}={value!r}")
    ids = {element.attrib["id"] for element in root.iter() if "id" in element.attrib}
    text = svg[svg.index("<svg") :]
    text = _ID_REF.sub(lambda m: f"{m.group(1)}{key}-{m.group(2)}" if m.group(2) in ids else m.group(0), text)
    label = f' role="img" aria-labelledby="title-{key}" aria-describedby="caption-{key}"'
    return Markup(text.replace("<svg", "<svg" + label, 1))  # checked above; key is [a-z0-9-]
