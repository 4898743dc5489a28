"""The HTML report page and its CSV twin: everything the report holds is on the page, escaped; the
charts are inline SVG with unique ids and nothing that runs or fetches; the CSV holds the same values."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any

import pytest

from elearning_adapters.analytics.charts import VlConvertChartRenderer
from elearning_adapters.analytics.report_html import render_csv, render_html
from elearning_core.analytics.charts import (
    ChartRenderer,
    ChartRenderingFailed,
    KeyFigure,
    Report,
    bar_per_category,
    line_over_days,
)
from tests.analytics_report_samples import START, sample_charts, sample_report

HOSTILE = '<script>alert("x")</script>&"'


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.attrs: list[tuple[str, str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.attrs += [(tag, name, value) for name, value in attrs]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@pytest.fixture(scope="module")
def renderer() -> ChartRenderer:
    return VlConvertChartRenderer()


async def test_the_page_holds_the_whole_report(renderer: ChartRenderer) -> None:
    report = sample_report()
    html = await render_html(report, renderer)
    page = _parse(html)
    text = " ".join(" ".join(page.text).split())
    assert "<title>Python for beginners · 1 November 2026 \u2013 30 November 2026</title>" in html
    assert "1 November 2026 \u2013 30 November 2026 (Europe/Paris)" in text
    for shown in ("1,234 Active learners", "26% Completion rate", "3.5 h Median time spent", "hidden Certificates"):
        assert shown in text
    assert report.privacy_note is not None
    assert report.privacy_note in text
    assert page.tags["svg"] == len(report.charts)
    assert page.tags["table"] == len(report.charts)
    for chart in report.charts:
        section = html[html.index(f'id="chart-{chart.key}"') :]
        section = section[: section.index("</section>")]
        assert f">{chart.title}</h2>" in section
        assert f">{chart.overview}</figcaption>" in section
        assert section.count("<tr>") == 1 + len({point.x for _, point in chart.points})  # header + a row per x
        assert "role-mark" in section  # the chart's marks, drawn
        if chart.privacy_note:
            assert section.count(chart.privacy_note) == 1  # under the chart, not again in its caption
            assert '<td class="hidden">hidden</td>' in section


async def test_the_page_needs_nothing_from_elsewhere(renderer: ChartRenderer) -> None:
    page = _parse(await render_html(sample_report(), renderer))
    assert page.tags["script"] == page.tags["link"] == page.tags["img"] == page.tags["iframe"] == 0
    fetched = [(tag, name, value) for tag, name, value in page.attrs if name in {"src", "href", "xlink:href"}]
    assert all(value and value.startswith("#") for _, _, value in fetched), fetched
    assert not [a for a in page.attrs if a[1].startswith("on")]


async def test_ids_are_unique_across_the_charts(renderer: ChartRenderer) -> None:
    html = await render_html(sample_report(), renderer)
    ids = [value for _, name, value in _parse(html).attrs if name == "id"]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    referenced = set(re.findall(r"url\(#([^)]+)\)", html))
    assert referenced  # the Vega drawings clip their marks
    assert referenced <= set(ids)


async def test_text_from_the_report_is_escaped(renderer: ChartRenderer) -> None:
    chart = bar_per_category("hostile", HOSTILE, {HOSTILE: [(HOSTILE, 3), ("b", 4)]}, x_title=HOSTILE, y_title=HOSTILE)
    report = Report(
        HOSTILE, START, START, sample_report().generated_at, charts=(chart,), figures=(KeyFigure(HOSTILE, 1),)
    )
    html = await render_html(report, renderer)
    assert "<script" not in html
    assert "&lt;script&gt;" in html
    svg = html[html.index("<svg") : html.index("</svg>") + 6]
    ET.fromstring(svg)  # the renderer escaped the labels it drew


class _Canned(ChartRenderer):
    def __init__(self, svg: str) -> None:
        self._svg = svg

    async def svg(self, spec: Mapping[str, Any]) -> str:
        return self._svg

    async def png(self, spec: Mapping[str, Any], *, scale: float = 1.0) -> bytes:
        raise AssertionError("the page draws SVG only")


NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'


@pytest.mark.parametrize(
    ("svg", "words"),
    [
        (f"<svg {NS}><script>alert(1)</script></svg>", "<script>"),
        (f'<svg {NS} onload="alert(1)"><rect/></svg>', "onload"),
        (f'<svg {NS}><a href="https://evil.example/"><rect/></a></svg>', "href"),
        (f'<svg {NS}><use xlink:href="#x"/></svg>', "<use>"),
        (f"<svg {NS}><foreignObject><p>x</p></foreignObject></svg>", "<foreignObject>"),
        ("<html><body/></html>", "not return an SVG"),
        ("<svg", "does not parse"),
    ],
)
async def test_svg_that_could_run_or_fetch_is_refused(svg: str, words: str) -> None:
    report = sample_report(charts=sample_charts()[:1])
    with pytest.raises(ChartRenderingFailed, match=re.escape(words)):
        await render_html(report, _Canned(svg))


def test_the_csv_holds_the_same_values() -> None:
    report = sample_report()
    text = render_csv(report)
    assert text.startswith("section,series,x,value,note\r\n")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 1 + len(report.figures) + sum(len(chart.points) for chart in report.charts)
    assert rows[1] == ["Key figures", "Active learners", "", "1234", ""]
    assert rows[2] == ["Key figures", "Completion rate (%)", "", "26", ""]
    assert rows[4] == ["Key figures", "Certificates", "", "", "hidden: fewer than 5 learners"]
    assert ["Active learners per day", "Completions", "2026-11-03", "2", ""] in rows
    assert ["Enrollments per lesson module", "Enrollments", "Classes", "", "hidden: fewer than 5 learners"] in rows
    assert ["Scores of the final exam", "Attempts", "90.0", "4", ""] in rows
    values = [float(row[3]) for row in rows[1:] if row[3]]
    expected = [f.value for f in report.figures if f.value is not None]
    expected += [p.value for c in report.charts for _, p in c.points if p.value is not None]
    assert values == pytest.approx(expected, abs=0.005)


def test_csv_text_cells_cannot_run_as_formulas() -> None:
    chart = line_over_days("f", "=HYPERLINK(1)", {"+series": [(START, -2.5)]}, y_title="Y")
    report = Report("-report", START, START, sample_report().generated_at, charts=(chart,))
    rows = list(csv.reader(io.StringIO(render_csv(report))))
    assert rows[1] == ["'=HYPERLINK(1)", "'+series", "2026-11-01", "-2.50", ""]


async def test_two_drawings_defining_the_same_id_each_keep_their_own() -> None:
    """vl-convert numbers gradients per process, so its ids do not clash today; the page does not rely on it."""
    svg = f'<svg {NS}><defs><linearGradient id="gradient_0"/></defs><rect fill="url(#gradient_0)"/></svg>'
    html = await render_html(sample_report(charts=sample_charts()[:2]), _Canned(svg))
    ids = [value for _, name, value in _parse(html).attrs if name == "id"]
    assert len(ids) == len(set(ids))
    assert re.findall(r"url\(#([^)]+)\)", html) == ["active-learners-gradient_0", "enrollments-gradient_0"]
    assert "active-learners-gradient_0" in ids
    assert "enrollments-gradient_0" in ids
