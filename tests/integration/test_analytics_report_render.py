"""The HTML report opened in a real browser: Debian's Chromium, headless, with name resolution off
(the page must need nothing from elsewhere).

Two looks at the page. ``--dump-dom`` of a copy with a measuring script added shows each chart's
``<svg>`` as the browser built it, with its marks (the ``role-mark`` groups holding drawn paths), and the
box each drawing occupies on the page. A screenshot of the page itself (the same layout: the script only
writes attributes, scrollbars are hidden in both runs) must then have coloured pixels inside every box:
the marks are the only coloured things in a drawing, its axes, grid and text being grey or black. The
same check is run on the same report with one chart's drawing emptied (an ``<svg>`` of the same size with
nothing in it) and must name that chart, and only it: a check that cannot fail proves nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from elearning_adapters.analytics.charts import VlConvertChartRenderer
from elearning_adapters.analytics.report_html import render_html
from elearning_core.analytics.charts import ChartRenderer
from tests.analytics_report_samples import sample_report

CHROMIUM = shutil.which("chromium")
RUN_TIMEOUT = 90  # seconds per browser run
MIN_COLOURED = 200  # coloured pixels a drawing must show; the sample's smallest chart has thousands
BROKEN = "enrollments"

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None and not os.environ.get("CI"),
        reason="chromium is not installed (apt-get install -y chromium; .ci/run installs it)",
    ),
    pytest.mark.timeout(420),
]

_MEASURE = """<script>
for (const plot of document.querySelectorAll('.plot')) {
  const svg = plot.querySelector('svg');
  const r = svg ? svg.getBoundingClientRect() : {left: 0, top: 0, width: 0, height: 0};
  plot.setAttribute('data-box', [r.left + scrollX, r.top + scrollY, r.width, r.height].map(Math.round).join(','));
}
document.body.setAttribute('data-height', Math.ceil(document.documentElement.scrollHeight));
</script>"""
_PLOT = re.compile(r'<div class="plot" data-chart="([a-z0-9-]+)" data-box="(\d+),(\d+),(\d+),(\d+)">(.*?)</div>', re.S)
_MARK_GROUP = re.compile(r'<g class="mark-[a-z]+ role-mark[^"]*"[^>]*>(.*?)</g>', re.S)


@dataclass(frozen=True)
class Looked:
    """What the browser showed of one page: each drawing's box and markup, and the screenshot."""

    boxes: dict[str, tuple[int, int, int, int]]
    markup: dict[str, str]
    screenshot: Image.Image


def _chromium(profile: Path, *args: str) -> str:
    assert CHROMIUM is not None, "chromium is not installed (apt-get install -y chromium)"
    command = [
        CHROMIUM,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--no-first-run",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


def look(page: Path, work: Path) -> Looked:
    measured = work / f"{page.stem}.measure.html"
    measured.write_text(page.read_text(encoding="utf-8").replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    dom = _chromium(work / "profile", "--window-size=1200,2000", "--dump-dom", measured.as_uri())
    height = re.search(r'data-height="(\d+)"', dom)
    assert height, "the measuring script did not run"
    plots = {m.group(1): m for m in _PLOT.finditer(dom)}
    shot = work / f"{page.stem}.png"
    _chromium(work / "profile", f"--window-size=1200,{height.group(1)}", f"--screenshot={shot}", page.as_uri())
    image = Image.open(shot)
    image.load()
    return Looked(
        boxes={key: (int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5))) for key, m in plots.items()},
        markup={key: m.group(6) for key, m in plots.items()},
        screenshot=image.convert("RGB"),
    )


def coloured(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    x, y, width, height = box
    data = image.crop((x, y, x + width, y + height)).tobytes()
    return sum(1 for i in range(0, len(data), 3) if max(data[i : i + 3]) - min(data[i : i + 3]) > 40)


def charts_that_did_not_draw(looked: Looked, keys: list[str]) -> dict[str, list[str]]:
    """Per chart, what is wrong with it in the browser (no entry: it drew)."""
    problems: dict[str, list[str]] = {}
    for key in keys:
        found: list[str] = []
        markup, box = looked.markup.get(key), looked.boxes.get(key)
        if markup is None or box is None:
            problems[key] = ["not on the page"]
            continue
        if "<svg" not in markup:
            found.append("no <svg> in the DOM")
        drawn = [g for g in _MARK_GROUP.findall(markup) if re.search(r'<path[^>]* d="M', g)]
        if not drawn:
            found.append("no drawn mark in its <svg>")
        x, y, width, height = box
        if width < 100 or height < 50 or x + width > looked.screenshot.width or y + height > looked.screenshot.height:
            found.append(f"its box {box} is not a visible area of the {looked.screenshot.size} screenshot")
        elif (count := coloured(looked.screenshot, box)) < MIN_COLOURED:
            found.append(f"{count} coloured pixels in its box")
        if found:
            problems[key] = found
    return problems


class _OneEmpty(ChartRenderer):
    """Draws every chart, except that one comes back as an empty ``<svg>`` of the size it would have had."""

    def __init__(self, inner: ChartRenderer, description: str) -> None:
        self._inner, self._description = inner, description

    async def svg(self, spec: Mapping[str, Any]) -> str:
        drawn = await self._inner.svg(spec)
        if spec["description"] != self._description:
            return drawn
        size = re.search(r'width="(\d+)" height="(\d+)"', drawn)
        assert size
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{size[1]}" height="{size[2]}"></svg>'

    async def png(self, spec: Mapping[str, Any], *, scale: float = 1.0) -> bytes:
        return await self._inner.png(spec, scale=scale)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Looked]:
    work = tmp_path_factory.mktemp("report-render")
    report = sample_report()
    renderer = VlConvertChartRenderer()
    broken = next(chart for chart in report.charts if chart.key == BROKEN)
    looked = {}
    for name, drawer in (("report", renderer), ("broken", _OneEmpty(renderer, broken.summary))):
        page = work / f"{name}.html"
        page.write_text(asyncio.run(render_html(report, drawer)), encoding="utf-8")
        looked[name] = look(page, work)
    return looked


def test_every_chart_of_the_report_drew_in_chromium(pages: dict[str, Looked]) -> None:
    keys = [chart.key for chart in sample_report().charts]
    looked = pages["report"]
    assert sorted(looked.boxes) == sorted(keys)
    assert charts_that_did_not_draw(looked, keys) == {}
    for key in keys:
        assert coloured(looked.screenshot, looked.boxes[key]) >= MIN_COLOURED


def test_a_chart_that_did_not_draw_fails_the_same_check(pages: dict[str, Looked]) -> None:
    keys = [chart.key for chart in sample_report().charts]
    looked = pages["broken"]
    assert looked.boxes[BROKEN] == pages["report"].boxes[BROKEN]  # the same place, only empty
    problems = charts_that_did_not_draw(looked, keys)
    assert list(problems) == [BROKEN]
    assert problems[BROKEN][0] == "no drawn mark in its <svg>"
    assert re.fullmatch(r"\d+ coloured pixels in its box", problems[BROKEN][1])


def test_the_charts_are_laid_out_one_under_another_within_the_page(pages: dict[str, Looked]) -> None:
    boxes = [pages["report"].boxes[chart.key] for chart in sample_report().charts]
    tops = [y for _, y, _, _ in boxes]
    assert tops == sorted(tops)
    assert all(y1 + h1 <= y2 for (_, y1, _, h1), (_, y2, _, _) in itertools.pairwise(boxes))
    assert all(x >= 0 and x + w <= 1200 for x, _, w, _ in boxes)
