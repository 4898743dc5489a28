"""Chart specs: every kind is valid Vega-Lite v5 (against the published JSON schema, which altair ships,
and compiled by vl-convert's Vega-Lite 5), self-contained, titled and described; and a chart refuses
data it could not show truthfully."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta
from importlib.resources import files
from typing import Any

import jsonschema
import pytest
import vl_convert

from elearning_adapters.analytics.charts import VEGA_LITE_VERSION
from elearning_core.analytics.charts import (
    MAX_POINTS,
    SCHEMA,
    Chart,
    ChartKind,
    KeyFigure,
    Report,
    bar_per_category,
    funnel,
    line_over_days,
    number_text,
    score_histogram,
    vega_lite,
    video_heatmap,
)
from elearning_core.shared.errors import ValidationFailed
from tests.analytics_report_samples import START, sample_charts, sample_report

CHARTS = {chart.kind: chart for chart in sample_charts()}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads((files("altair") / "vegalite/v5/schema/vega-lite-schema.json").read_text())
    assert schema["$schema"].startswith("http://json-schema.org/draft-07")
    return jsonschema.Draft7Validator(schema)


def _schema_errors(validator: jsonschema.Draft7Validator, spec: dict[str, Any]) -> list[str]:
    """The innermost messages of every failure (the top level is an anyOf of all view kinds)."""
    found: list[str] = []

    def walk(error: jsonschema.ValidationError) -> None:
        if not error.context:
            found.append(f"{list(error.absolute_path)}: {error.message[:200]}")
        for sub in error.context or []:
            walk(sub)

    for error in validator.iter_errors(spec):
        walk(error)
    return found


def test_the_sample_holds_one_chart_of_every_kind() -> None:
    assert set(CHARTS) == set(ChartKind)


@pytest.mark.parametrize("kind", list(ChartKind))
@pytest.mark.parametrize("with_title", [True, False])
def test_every_kind_is_valid_vega_lite_v5(
    validator: jsonschema.Draft7Validator, kind: ChartKind, with_title: bool
) -> None:
    spec = vega_lite(CHARTS[kind], title=with_title)
    assert _schema_errors(validator, spec) == []
    vega = vl_convert.vegalite_to_vega(spec, vl_version=VEGA_LITE_VERSION)  # raises on a spec it cannot compile
    assert vega["marks"], "the compiled Vega spec draws nothing"
    assert json.loads(json.dumps(spec)) == spec, "the spec is plain JSON"


def test_the_schema_check_catches_what_the_compiler_lets_through(validator: jsonschema.Draft7Validator) -> None:
    spec = vega_lite(CHARTS[ChartKind.BAR])
    spec["encoding"]["x"]["axis"]["labelAngel"] = 30  # a typo Vega-Lite would silently ignore
    vl_convert.vegalite_to_vega(spec, vl_version=VEGA_LITE_VERSION)
    assert any("labelAngel" in error for error in _schema_errors(validator, spec))


@pytest.mark.parametrize("kind", list(ChartKind))
def test_specs_are_self_contained_titled_and_described(kind: ChartKind) -> None:
    chart = CHARTS[kind]
    spec = vega_lite(chart)
    assert spec["$schema"] == SCHEMA
    assert "url" not in spec["data"]
    assert len(spec["data"]["values"]) == len(chart.points)
    assert spec["title"]["text"] == chart.title
    assert spec["description"] == chart.summary
    assert spec["description"].startswith(f"{chart.summary.split(' of ')[0]} of {chart.title}")
    assert 200 <= spec["width"] <= 800
    assert 60 <= spec["height"] <= 600
    encodings = [spec.get("encoding", {})] + [layer.get("encoding", {}) for layer in spec.get("layer", [])]
    channels = {name: channel for encoding in encodings for name, channel in encoding.items() if name != "tooltip"}
    for name in ("x", "y"):
        assert channels[name]["type"] in {"quantitative", "temporal", "nominal"}
    titles = {channel.get("title") for channel in channels.values()}
    assert {chart.x_title, chart.y_title} <= titles
    assert "title" not in vega_lite(chart, title=False)


def test_days_are_iso_dates_read_as_utc_days() -> None:
    spec = vega_lite(CHARTS[ChartKind.LINE])
    assert spec["data"]["values"][0]["x"] == START.isoformat()
    assert spec["encoding"]["x"]["timeUnit"] == "utcyearmonthdate"
    assert spec["encoding"]["color"]["field"] == "series"


def test_a_single_series_has_no_legend() -> None:
    chart = line_over_days("one", "One line", {"Learners": [(START, 3.0)]}, y_title="Learners")
    assert "color" not in vega_lite(chart)["encoding"]


def test_the_funnel_labels_each_stage_with_its_share_of_the_first() -> None:
    spec = vega_lite(CHARTS[ChartKind.FUNNEL])
    shares = [row["share"] for row in spec["data"]["values"]]
    assert shares[0] == 1.0
    assert shares[-1] == pytest.approx(52 / 200)
    assert spec["layer"][1]["encoding"]["text"]["format"] == ".0%"


def test_no_share_is_shown_when_the_first_stage_is_hidden() -> None:
    chart = funnel("f", "Funnel", [("Enrolled", None), ("Started", 3)], suppression_threshold=5)
    assert [row["share"] for row in vega_lite(chart)["data"]["values"]] == [None, None]


@pytest.mark.parametrize(
    ("value", "text"), [(1234, "1,234"), (3.5, "3.5"), (0.25, "0.25"), (2.999, "3"), (0.001, "0"), (-2.5, "-2.5")]
)
def test_numbers_are_written_short(value: float, text: str) -> None:
    assert number_text(value) == text


def test_heatmap_cells_span_one_second_and_histogram_bars_one_bin() -> None:
    heat = vega_lite(CHARTS[ChartKind.HEATMAP])["data"]["values"]
    assert all(row["x_end"] == row["x"] + 1 for row in heat)
    hist = vega_lite(CHARTS[ChartKind.HISTOGRAM])
    assert [(row["x"], row["x_end"]) for row in hist["data"]["values"][:2]] == [(0.0, 10.0), (10.0, 20.0)]
    assert hist["encoding"]["x"]["bin"] == {"binned": True, "step": 10}


def test_suppressed_cells_are_left_out_keep_their_category_and_are_explained() -> None:
    chart = CHARTS[ChartKind.BAR]
    spec = vega_lite(chart)
    assert [row["value"] for row in spec["data"]["values"]] == [120, 95, None, 41]
    assert spec["encoding"]["x"]["scale"]["domain"] == ["Basics", "Functions", "Classes", "Testing"]
    assert chart.suppressed == 1
    assert chart.privacy_note == "1 value counting fewer than 5 learners is hidden to protect privacy."
    assert spec["title"]["subtitle"] == chart.privacy_note
    assert chart.privacy_note in chart.summary
    assert CHARTS[ChartKind.LINE].privacy_note is None
    assert "subtitle" not in vega_lite(CHARTS[ChartKind.LINE])["title"]


def test_the_summary_names_the_highest_value() -> None:
    chart = bar_per_category("c", "Revenue", {"EUR": [("Jan", 10.5), ("Feb", 1200.25)]}, x_title="Month", y_title="€")
    assert chart.summary == "Bar chart of Revenue: € by Month; 2 values, the highest 1,200.25 at Feb."


def _invalid(build: Any) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        build()
    return caught.value


@pytest.mark.parametrize(
    ("build", "field", "words"),
    [
        (lambda: line_over_days("k", "T", {"a": [("2026-11-01", 1)]}, y_title="Y"), "series[0].points[0].x", "a day"),
        (
            lambda: line_over_days("k", "T", {"a": [(datetime(2026, 1, 1), 1)]}, y_title="Y"),
            "series[0].points[0].x",
            "a day",
        ),
        (
            lambda: line_over_days("k", "T", {"a": [(START, 1), (START, 2)]}, y_title="Y"),
            "series[0].points[1].x",
            "twice",
        ),
        (
            lambda: line_over_days("k", "T", {"a": [(START, math.nan)]}, y_title="Y"),
            "series[0].points[0].value",
            "finite",
        ),
        (
            lambda: line_over_days("k", "T", {"a": [(START, None)]}, y_title="Y"),
            "series[0].points[0].value",
            "threshold",
        ),
        (lambda: line_over_days("Bad Key", "T", {"a": []}, y_title="Y"), "key", "lowercase"),
        (lambda: line_over_days("k", " ", {"a": []}, y_title="Y"), "title", "empty"),
        (lambda: line_over_days("k", "T", {}, y_title="Y"), "series", "at least one"),
        (
            lambda: bar_per_category("k", "T", {"a": [(3, 1)]}, x_title="X", y_title="Y"),
            "series[0].points[0].x",
            "category",
        ),
        (
            lambda: bar_per_category("k", "T", {"a": [("x", -1)]}, x_title="X", y_title="Y", stacked=True),
            "series[0].points[0].value",
            "negative",
        ),
        (lambda: funnel("k", "T", [("", 3)]), "series[0].points[0].x", "stage"),
        (lambda: video_heatmap("k", "T", {"v": [(-1, 3)]}), "series[0].points[0].x", "second"),
        (lambda: video_heatmap("k", "T", {"v": [(1.5, 3)]}), "series[0].points[0].x", "second"),
        (lambda: score_histogram("k", "T", [(0, 1)], bin_width=0), "bin_width", "positive"),
        (lambda: score_histogram("k", "T", [(0, 1)], bin_width=math.inf), "bin_width", "positive"),
        (
            lambda: score_histogram("k", "T", [(0, 1)], bin_width=5, suppression_threshold=0),
            "suppression_threshold",
            "1",
        ),
        (
            lambda: video_heatmap("k", "T", {"v": [(s, 1) for s in range(MAX_POINTS + 1)]}),
            "series",
            f"{MAX_POINTS}",
        ),
    ],
)
def test_data_a_chart_could_not_show_truthfully_is_refused(build: Any, field: str, words: str) -> None:
    error = _invalid(build)
    assert field in [e.field for e in error.errors]
    message = next(e.message for e in error.errors if e.field == field)
    assert words in message
    assert error.detail.startswith("chart ")


def test_a_boolean_is_not_a_count() -> None:
    error = _invalid(lambda: bar_per_category("k", "T", {"a": [("x", True)]}, x_title="X", y_title="Y"))
    assert error.errors[0].field == "series[0].points[0].value"


def test_a_report_checks_its_period_keys_and_threshold() -> None:
    chart = sample_charts()[0]
    with pytest.raises(ValidationFailed, match="ends before it starts"):
        sample_report().__class__(
            "T", START, START - timedelta(days=1), datetime(2026, 12, 1), charts=(chart,), suppression_threshold=5
        )
    with pytest.raises(ValidationFailed, match="share a key"):
        sample_report(charts=(chart, chart))
    with pytest.raises(ValidationFailed, match="needs its threshold"):
        Report("T", START, START, datetime(2026, 12, 1), charts=(), figures=(KeyFigure("Learners", None),))


def test_the_report_explains_hidden_figures_only_when_some_are_hidden() -> None:
    assert sample_report().privacy_note == "Figures counting fewer than 5 learners are hidden to protect privacy."
    plain = Report("T", START, START, datetime(2026, 12, 1), charts=(CHARTS[ChartKind.LINE],))
    assert plain.privacy_note is None


def test_a_chart_is_its_data() -> None:
    chart = CHARTS[ChartKind.STACKED_BAR]
    same = Chart(
        chart.key, chart.title, chart.kind, chart.x_title, chart.y_title, chart.series, suppression_threshold=None
    )
    assert same == chart
    assert vega_lite(same) == vega_lite(chart)
    assert date.fromisoformat(vega_lite(CHARTS[ChartKind.LINE])["data"]["values"][-1]["x"]) == START + timedelta(29)
