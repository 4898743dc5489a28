"""The vl-convert ``ChartRenderer``: every kind drawn as PNG (a real image of the declared size with
coloured marks on it) and as SVG (XML holding the marks), off the event loop, within its bounds."""

from __future__ import annotations

import asyncio
import io
import threading
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from PIL import Image

from elearning_adapters.analytics.charts import VlConvertChartRenderer
from elearning_core.analytics.charts import ChartKind, ChartRenderer, ChartRenderingFailed, ChartTooLarge, vega_lite
from tests.analytics_report_samples import sample_charts

CHARTS = {chart.kind: chart for chart in sample_charts()}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"
MARK_CLASSES = {
    ChartKind.LINE: "mark-line",
    ChartKind.BAR: "mark-rect",
    ChartKind.STACKED_BAR: "mark-rect",
    ChartKind.FUNNEL: "mark-rect",
    ChartKind.HEATMAP: "mark-rect",
    ChartKind.HISTOGRAM: "mark-rect",
}


@pytest.fixture(scope="module")
def renderer() -> ChartRenderer:
    return VlConvertChartRenderer()


def coloured_pixels(image: Image.Image) -> int:
    """Pixels with a clear hue: the marks, not the white ground nor the grey and black axes and text."""
    data = image.convert("RGB").tobytes()
    return sum(1 for i in range(0, len(data), 3) if max(data[i : i + 3]) - min(data[i : i + 3]) > 40)


@pytest.mark.parametrize("kind", list(ChartKind))
async def test_png_is_an_image_of_the_chart_with_its_marks(renderer: ChartRenderer, kind: ChartKind) -> None:
    spec = vega_lite(CHARTS[kind])
    png = await renderer.png(spec)
    assert png[:8] == PNG_SIGNATURE
    assert png[12:16] == b"IHDR"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.size == (width, height)
    # The plot area is the declared size; axes, legend and title add around it.
    assert spec["width"] < width < spec["width"] + 400
    assert spec["height"] < height < spec["height"] + 300
    assert coloured_pixels(image) > 500


async def test_png_scale_multiplies_the_size(renderer: ChartRenderer) -> None:
    spec = vega_lite(CHARTS[ChartKind.BAR])
    one, two = await renderer.png(spec), await renderer.png(spec, scale=2)
    size = Image.open(io.BytesIO(one)).size
    assert Image.open(io.BytesIO(two)).size == (size[0] * 2, size[1] * 2)


@pytest.mark.parametrize("kind", list(ChartKind))
async def test_svg_is_xml_holding_the_marks(renderer: ChartRenderer, kind: ChartKind) -> None:
    chart = CHARTS[kind]
    root = ET.fromstring(await renderer.svg(vega_lite(chart)))
    assert root.tag == f"{SVG}svg"
    wanted = {MARK_CLASSES[kind], "role-mark"}  # not the legend's gradient, which is a mark-rect too
    marks = [g for g in root.iter(f"{SVG}g") if wanted <= set(g.get("class", "").split())]
    assert marks, f"no {MARK_CLASSES[kind]} group in the SVG"
    drawn = [path for group in marks for path in group.iter(f"{SVG}path") if path.get("d")]
    shown = sum(1 for _, point in chart.points if point.value is not None)
    if kind is ChartKind.LINE:
        assert len(drawn) == len(chart.series)  # one path per line
    else:
        assert len(drawn) == shown  # a rectangle per value that is not hidden
    texts = "".join(root.itertext())
    assert chart.title in texts
    assert chart.x_title in texts


async def test_an_empty_chart_draws_no_marks_so_the_mark_check_can_fail(renderer: ChartRenderer) -> None:
    spec = vega_lite(CHARTS[ChartKind.BAR]) | {"data": {"values": []}}
    root = ET.fromstring(await renderer.svg(spec))
    drawn = [p for g in root.iter(f"{SVG}g") if "mark-rect" in g.get("class", "") for p in g.iter(f"{SVG}path")]
    assert drawn == []
    assert coloured_pixels(Image.open(io.BytesIO(await renderer.png(spec)))) < 50


async def test_drawing_runs_off_the_event_loop(renderer: ChartRenderer) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    original = VlConvertChartRenderer._draw_svg

    def spy(self: VlConvertChartRenderer, text: str) -> str:
        seen.append(threading.get_ident())
        return original(self, text)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(VlConvertChartRenderer, "_draw_svg", spy)
        svgs = await asyncio.gather(*(renderer.svg(vega_lite(chart)) for chart in sample_charts()))
    assert len(svgs) == len(sample_charts())
    assert seen
    assert loop_thread not in seen


@pytest.mark.parametrize(
    ("change", "scale", "field"),
    [
        ({"width": 5000}, 1.0, "width"),
        ({"height": "container"}, 1.0, "height"),
        ({"width": True}, 1.0, "width"),
        ({}, 5.0, "scale"),
        ({}, 0.0, "scale"),
        ({"width": 3000, "height": 3000}, 1.0, "scale"),
        ({"data": {"values": [{"x": "a", "value": 1}] * 60_000}}, 1.0, "data"),
        ({"layer": [{"data": {"values": [{}] * 60_000}, "mark": "bar"}]}, 1.0, "data"),
    ],
)
async def test_oversized_specs_are_refused_before_drawing(
    renderer: ChartRenderer, change: dict[str, Any], scale: float, field: str
) -> None:
    spec = vega_lite(CHARTS[ChartKind.BAR]) | change
    with pytest.raises(ChartTooLarge) as caught:
        await renderer.png(spec, scale=scale)
    assert caught.value.errors[0].field == field
    assert caught.value.detail.startswith("chart too large to render: ")


async def test_a_small_byte_bound_refuses_a_big_spec() -> None:
    with pytest.raises(ChartTooLarge, match="bytes"):
        await VlConvertChartRenderer(max_spec_bytes=1000).svg(vega_lite(CHARTS[ChartKind.HEATMAP]))


async def test_external_data_is_refused(renderer: ChartRenderer) -> None:
    spec = vega_lite(CHARTS[ChartKind.BAR]) | {"data": {"url": "http://127.0.0.1:9/secret.csv"}}
    with pytest.raises(ChartRenderingFailed, match="not allowed"):
        await renderer.svg(spec)


async def test_an_invalid_spec_fails_with_one_line(renderer: ChartRenderer) -> None:
    spec = vega_lite(CHARTS[ChartKind.BAR])
    spec["encoding"]["y"]["type"] = "wrong"
    with pytest.raises(ChartRenderingFailed) as caught:
        await renderer.svg(spec)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("the chart could not be drawn: ")
    with pytest.raises(ChartRenderingFailed, match="plain JSON"):
        await renderer.svg(vega_lite(CHARTS[ChartKind.BAR]) | {"extra": float("nan")})


async def test_a_memo_keeps_drawings_by_spec_within_its_bytes() -> None:
    drawn: list[str] = []
    original = VlConvertChartRenderer._draw_svg

    def counting(self: VlConvertChartRenderer, text: str) -> str:
        drawn.append(text)
        return original(self, text)

    line, bar = vega_lite(CHARTS[ChartKind.LINE]), vega_lite(CHARTS[ChartKind.BAR])
    sizes = [len(await VlConvertChartRenderer().svg(spec)) for spec in (line, bar)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(VlConvertChartRenderer, "_draw_svg", counting)
        memo = VlConvertChartRenderer(memo_bytes=1_000_000)
        first = await memo.svg(line)
        assert await memo.svg(dict(line)) == first  # the same spec: not drawn again
        assert len(drawn) == 1
        assert await memo.png(line) != first.encode()  # PNG and SVG are kept apart
        small = VlConvertChartRenderer(memo_bytes=max(sizes) + 10)  # room for one drawing, not two
        await small.svg(line)
        await small.svg(bar)  # pushes the line out
        await small.svg(line)
        assert len(drawn) == 4
        await VlConvertChartRenderer().svg(line)  # no memo by default
        await VlConvertChartRenderer().svg(line)
        assert len(drawn) == 6
