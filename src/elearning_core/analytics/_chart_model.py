"""The report model: charts (kind, titles, series of points), key figures and the report around them.

Private part of ``elearning_core.analytics.charts``, which re-exports these names; the checks here make a
chart refuse what its Vega-Lite spec could not show truthfully (a duplicate day, a negative count, a gap
with no privacy reason).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Final

from elearning_core.shared.errors import FieldError, ValidationFailed

MAX_POINTS: Final = 20_000
"""Most points one chart holds: a two-hour video's per-second heatmap fits, a runaway query does not."""

_KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
X = date | str | int | float
Value = float | None


class ChartKind(StrEnum):
    LINE = "line"
    BAR = "bar"
    STACKED_BAR = "stacked_bar"
    FUNNEL = "funnel"
    HEATMAP = "heatmap"
    HISTOGRAM = "histogram"


_NOUN: Final = {
    ChartKind.LINE: "Line chart",
    ChartKind.BAR: "Bar chart",
    ChartKind.STACKED_BAR: "Stacked bar chart",
    ChartKind.FUNNEL: "Funnel chart",
    ChartKind.HEATMAP: "Heatmap",
    ChartKind.HISTOGRAM: "Histogram",
}
_X_TYPES: Final[dict[ChartKind, tuple[type, ...]]] = {
    ChartKind.LINE: (date,),
    ChartKind.BAR: (str,),
    ChartKind.STACKED_BAR: (str,),
    ChartKind.FUNNEL: (str,),
    ChartKind.HEATMAP: (int,),
    ChartKind.HISTOGRAM: (int, float),
}
_X_WORDS: Final = {
    ChartKind.LINE: "a day (datetime.date)",
    ChartKind.BAR: "a category name",
    ChartKind.STACKED_BAR: "a category name",
    ChartKind.FUNNEL: "a stage name",
    ChartKind.HEATMAP: "a second of the video (an integer >= 0)",
    ChartKind.HISTOGRAM: "the start of a bin (a number)",
}
_COUNTS: Final = {ChartKind.STACKED_BAR, ChartKind.FUNNEL, ChartKind.HEATMAP, ChartKind.HISTOGRAM}


@dataclass(frozen=True, slots=True)
class Point:
    x: X
    value: Value


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    points: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class Chart:
    """One figure. ``suppression_threshold`` (k) is set when the caller hid cells counting fewer than k
    learners; a chart with a ``None`` value and no threshold is refused, so no gap goes unexplained."""

    key: str
    title: str
    kind: ChartKind
    x_title: str
    y_title: str
    series: tuple[Series, ...]
    description: str = ""
    bin_width: float | None = None
    suppression_threshold: int | None = None

    def __post_init__(self) -> None:
        errors = _check(self)
        if errors:
            raise ValidationFailed(f"chart {self.key!r} is invalid: {errors[0].message}", errors)

    @property
    def points(self) -> list[tuple[Series, Point]]:
        return [(series, point) for series in self.series for point in series.points]

    @property
    def suppressed(self) -> int:
        return sum(1 for _, point in self.points if point.value is None)

    @property
    def privacy_note(self) -> str | None:
        """The sentence a reader needs when cells are missing on purpose, or ``None`` when none are."""
        count = self.suppressed
        if not count:
            return None
        cells = "1 value" if count == 1 else f"{count} values"
        verb = "is" if count == 1 else "are"
        return f"{cells} counting fewer than {self.suppression_threshold} learners {verb} hidden to protect privacy."

    @property
    def overview(self) -> str:
        """What is plotted, how many values, and where the highest one is (or the caller's description)."""
        if self.description:
            return self.description
        names = ", ".join(series.name for series in self.series)
        shown = [(series, point) for series, point in self.points if point.value is not None]
        text = f"{_NOUN[self.kind]} of {self.title}: {self.y_title} by {self.x_title}"
        text += f", {len(self.series)} series ({names})" if len(self.series) > 1 else ""
        if shown:
            top_series, top = max(shown, key=lambda item: item[1].value or 0.0)
            where = f"{x_text(top.x)}" + (f", {top_series.name}" if len(self.series) > 1 else "")
            text += f"; {len(shown)} values, the highest {number_text(top.value)} at {where}"
        else:
            text += "; no values to show"
        return f"{text}."

    @property
    def summary(self) -> str:
        """The accessible description of the chart alone: its overview, then the privacy note if any."""
        note = self.privacy_note
        return f"{self.overview} {note}" if note else self.overview


@dataclass(frozen=True, slots=True)
class KeyFigure:
    """A number in the report's summary row; ``None`` when it was suppressed for privacy."""

    label: str
    value: float | None
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    period_start: date
    period_end: date
    generated_at: datetime
    charts: tuple[Chart, ...]
    figures: tuple[KeyFigure, ...] = ()
    subtitle: str = ""
    time_zone: str = "UTC"
    suppression_threshold: int | None = None

    def __post_init__(self) -> None:
        errors: list[FieldError] = []
        if not self.title.strip():
            errors.append(FieldError("title", "a report needs a title"))
        if self.period_end < self.period_start:
            errors.append(FieldError("period_end", "the period ends before it starts"))
        keys = [chart.key for chart in self.charts]
        if len(set(keys)) != len(keys):
            errors.append(FieldError("charts", "two charts share a key"))
        if self.hides_figures and self.suppression_threshold is None:
            errors.append(FieldError("suppression_threshold", "a report that hides figures needs its threshold"))
        if errors:
            raise ValidationFailed(f"report is invalid: {errors[0].message}", errors)

    @property
    def hides_figures(self) -> bool:
        return any(chart.suppressed for chart in self.charts) or any(f.value is None for f in self.figures)

    @property
    def privacy_note(self) -> str | None:
        if not self.hides_figures:
            return None
        return f"Figures counting fewer than {self.suppression_threshold} learners are hidden to protect privacy."


def _check(chart: Chart) -> list[FieldError]:
    errors: list[FieldError] = []
    if not _KEY.fullmatch(chart.key):
        errors.append(FieldError("key", "a chart key is 1-63 lowercase letters, digits or hyphens"))
    for name in ("title", "x_title", "y_title"):
        if not str(getattr(chart, name)).strip():
            errors.append(FieldError(name, f"the chart's {name.replace('_', ' ')} is empty"))
    if not chart.series:
        errors.append(FieldError("series", "a chart needs at least one series"))
    if len({series.name for series in chart.series}) != len(chart.series):
        errors.append(FieldError("series", "two series share a name"))
    total = sum(len(series.points) for series in chart.series)
    if total > MAX_POINTS:
        errors.append(FieldError("series", f"{total} points is more than the {MAX_POINTS} a chart may hold"))
        return errors
    width = chart.bin_width
    if chart.kind is ChartKind.HISTOGRAM and not (width is not None and math.isfinite(width) and width > 0):
        errors.append(FieldError("bin_width", "a histogram needs a positive bin width"))
    if chart.suppression_threshold is not None and chart.suppression_threshold < 1:
        errors.append(FieldError("suppression_threshold", "the threshold is a number of learners, at least 1"))
    for i, series in enumerate(chart.series):
        errors += _check_series(chart, i, series)
    return errors


def _check_series(chart: Chart, i: int, series: Series) -> list[FieldError]:
    errors: list[FieldError] = []
    if not series.name.strip():
        errors.append(FieldError(f"series[{i}].name", "a series needs a name"))
    seen: set[X] = set()
    for j, point in enumerate(series.points):
        where = f"series[{i}].points[{j}]"
        x = point.x
        kind_ok = isinstance(x, _X_TYPES[chart.kind]) and not isinstance(x, bool | datetime)
        if not kind_ok or (isinstance(x, str) and not x.strip()) or (isinstance(x, int | float) and x < 0):
            errors.append(FieldError(f"{where}.x", f"{x!r} is not {_X_WORDS[chart.kind]}"))
        elif isinstance(x, float) and not math.isfinite(x):
            errors.append(FieldError(f"{where}.x", f"{x!r} is not a finite number"))
        elif x in seen:
            errors.append(FieldError(f"{where}.x", f"{x_text(x)} appears twice in series {series.name!r}"))
        seen.add(x)
        value = point.value
        if value is None:
            if chart.suppression_threshold is None:
                errors.append(FieldError(f"{where}.value", "a suppressed value needs the chart's threshold"))
        elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            errors.append(FieldError(f"{where}.value", f"{value!r} is not a finite number"))
        elif value < 0 and chart.kind in _COUNTS:
            errors.append(FieldError(f"{where}.value", f"a count cannot be negative ({value})"))
    return errors


def x_text(x: X) -> str:
    return x.isoformat() if isinstance(x, date) else number_text(x) if isinstance(x, int | float) else x


def number_text(value: float | None) -> str:
    if value is None:
        return "hidden"
    return f"{value:,.2f}".rstrip("0").rstrip(".")  # 1,234 · 3.5 · 0.25, never "3.00"
