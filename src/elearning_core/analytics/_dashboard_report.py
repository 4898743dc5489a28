"""The course and platform dashboards as ``Report``s: key figures and charts built from the aggregates,
every learner count suppressed under k (``_dashboard_cells`` says how, cell kind by cell kind).

Private part of ``elearning_core.analytics.dashboard``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from elearning_core.analytics._dashboard_cells import (
    counted,
    days_of,
    filled,
    latest,
    masked,
    months_of,
    nested,
    shown,
)
from elearning_core.analytics.aggregates import (
    FUNNEL,
    CourseAggregates,
    FunnelStage,
    Grain,
    PeriodCount,
    PlatformAggregates,
    RevenueMonth,
    ScoreDistribution,
    VideoEngagement,
    most_viewed_of,
)
from elearning_core.analytics.charts import (
    Chart,
    KeyFigure,
    Report,
    bar_per_category,
    funnel,
    line_over_days,
    score_histogram,
    video_heatmap,
)
from elearning_core.analytics.privacy import suppress_table
from elearning_core.billing.money import MINOR_UNITS

HEATMAP_VIDEOS = 10
"""The most-watched videos that get a heatmap row (and a drop-off series: at most 5 of them): all the course
dashboard reads (``AggregateReads.course(videos=HEATMAP_VIDEOS)``)."""
HEATMAP_CELLS = 120
"""Cells per heatmap row at most: a longer video's cells span several seconds."""
DROP_OFF_VIDEOS = 5
QUIZZES_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Window:
    since: date
    until: date
    time_zone: str

    @property
    def days(self) -> list[date]:
        return days_of(self.since, self.until)

    @property
    def months(self) -> list[date]:
        return months_of(self.since, self.until)


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def _amount(minor: float | None, currency: str) -> float | None:
    return None if minor is None else minor / 10 ** MINOR_UNITS.get(currency, 2)


def _short(video: VideoEngagement, lesson_titles: Mapping[uuid.UUID, str]) -> str:
    """The video's lesson title when the outline names it, else its id's start."""
    title = lesson_titles.get(video.lesson_id) if video.lesson_id is not None else None
    return title or f"Video {str(video.video_id)[:8]}"


class _Builder:
    """One dashboard's figures and charts, all with the same k."""

    def __init__(self, window: Window, k: int) -> None:
        self.window, self.k = window, k
        self.figures: list[KeyFigure] = []
        self.charts: list[Chart] = []

    def figure(self, label: str, value: float | None, unit: str = "") -> None:
        self.figures.append(KeyFigure(label, value, unit))

    def active(self, active: Mapping[Grain, list[PeriodCount]]) -> list[int]:
        """Key figures of the active learners (busiest day, latest week and month) and the daily chart;
        the daily counts (for the time spent's mask)."""
        days = self.window.days
        daily = filled(active.get(Grain.DAY, []), days)
        series = counted(daily, self.k)
        self.figure("Active learners, busiest day", shown(max(daily, default=0), self.k))
        since, until = self.window.since, self.window.until
        self.figure("Active learners, latest week", shown(latest(active.get(Grain.WEEK, []), since, until), self.k))
        self.figure("Active learners, latest month", shown(latest(active.get(Grain.MONTH, []), since, until), self.k))
        self.line("active-learners", "Active learners per day", {"Active learners": series.cells}, "Learners")
        return daily

    def line(self, key: str, title: str, series: Mapping[str, Sequence[float | None]], y_title: str) -> None:
        days = self.window.days
        data = {name: list(zip(days, values, strict=True)) for name, values in series.items()}
        self.charts.append(line_over_days(key, title, data, y_title=y_title, suppression_threshold=self.k))

    def enrollments(self, enrollments: list[PeriodCount], completions: list[PeriodCount]) -> None:
        enrolled = counted(filled(enrollments, self.window.days), self.k)
        completed = counted(filled(completions, self.window.days), self.k)
        self.figure("Enrollments", enrolled.total)
        self.figure("Completions", completed.total)
        self.line(
            "enrollments-completions",
            "Enrollments and completions per day",
            {"Enrollments": enrolled.cells, "Completions": completed.cells},
            "Learners",
        )

    def time_spent(self, seconds: list[PeriodCount], daily_active: list[int]) -> None:
        per_day = filled(seconds, self.window.days)
        cells, total = masked(per_day, counted(daily_active, self.k))
        self.figure("Time spent", _hours(total), "h")
        hours = [_hours(value) for value in cells]
        self.line("time-spent", "Estimated learning time per day", {"Hours": hours}, "Hours")

    def revenue(self, months: list[RevenueMonth]) -> None:
        """Net revenue per month and currency, hidden in a month with fewer than k purchasers (the purchasers
        are counted as a series with its total per currency)."""
        starts = self.window.months
        by_currency: dict[str, dict[date, RevenueMonth]] = {}
        for month in months:
            if self.window.since.replace(day=1) <= month.month <= self.window.until:
                by_currency.setdefault(month.currency, {})[month.month] = month
        if not by_currency:
            return
        series: dict[str, list[tuple[str, float | None]]] = {}
        for currency, rows in sorted(by_currency.items()):
            purchasers = counted([rows[m].purchasers if m in rows else 0 for m in starts], self.k)
            net = [rows[m].net_minor if m in rows else 0 for m in starts]
            cells, total = masked(net, purchasers)
            self.figure(f"Revenue ({currency})", _amount(total, currency), currency)
            series[currency] = [(f"{m:%Y-%m}", _amount(v, currency)) for m, v in zip(starts, cells, strict=True)]
        self.charts.append(
            bar_per_category(
                "revenue",
                "Net revenue per month",
                series,
                x_title="Month",
                y_title="Net revenue",
                suppression_threshold=self.k,
            )
        )

    def report(self, title: str, subtitle: str, now: datetime) -> Report:
        return Report(
            title=title,
            period_start=self.window.since,
            period_end=self.window.until,
            generated_at=now,
            charts=tuple(self.charts),
            figures=tuple(self.figures),
            subtitle=subtitle,
            time_zone=self.window.time_zone,
            suppression_threshold=self.k,
        )


def course_report(
    aggregates: CourseAggregates,
    window: Window,
    k: int,
    now: datetime,
    *,
    title: str,
    lesson_titles: Mapping[uuid.UUID, str] | None = None,
    quiz_titles: Mapping[uuid.UUID, str] | None = None,
) -> Report:
    build = _Builder(window, k)
    daily_active = build.active(aggregates.active_learners)
    build.enrollments(aggregates.enrollments, aggregates.completions)
    stages = nested([aggregates.funnel.get(stage, 0) for stage in FUNNEL], k)
    enrolled, completed = stages[0], stages[-1]
    rate = None if enrolled is None or completed is None else (100 * completed / enrolled if enrolled else 0.0)
    build.figure("Completion rate (all time)", None if rate is None else round(rate, 1), "%")
    build.charts.append(
        funnel(
            "funnel",
            "Completion funnel (all time)",
            [(_stage_label(stage), value) for stage, value in zip(FUNNEL, stages, strict=True)],
            suppression_threshold=k,
        )
    )
    build.time_spent(aggregates.time_spent_seconds, daily_active)
    _discussion(build, aggregates)
    _videos(build, aggregates.videos, lesson_titles or {})
    _quizzes(build, aggregates.assessments, quiz_titles or {})
    build.revenue(aggregates.revenue)
    return build.report(title, "Course dashboard", now)


def _stage_label(stage: FunnelStage) -> str:
    return {FunnelStage.ENROLLED: "Enrolled", FunnelStage.STARTED: "Started", FunnelStage.COMPLETED: "Completed"}.get(
        stage, f"{stage.value} done"
    )


def _discussion(build: _Builder, aggregates: CourseAggregates) -> None:
    """Posts and posters per day: the posters are learner counts (a series with its total), the posts are
    hidden where the posters are."""
    by_day = {day.start: day for day in aggregates.discussion}
    days = build.window.days
    posters = counted([by_day[d].posters if d in by_day else 0 for d in days], build.k)
    posts, total = masked([by_day[d].posts if d in by_day else 0 for d in days], posters)
    build.figure("Posts", total)
    build.line("discussion", "Discussion per day", {"Posts": posts, "Posters": posters.cells}, "Posts and posters")


def _videos(build: _Builder, videos: Sequence[VideoEngagement], titles: Mapping[uuid.UUID, str]) -> None:
    """A heatmap row per most-watched video (the peak views of a second within each cell, hidden when 1 to
    k-1), and the drop-off of the five most-watched: viewers still watching at each tenth of the video,
    suppressed as a nested series."""
    top = most_viewed_of(videos, HEATMAP_VIDEOS)
    if not top:
        return
    longest = max(v.length_seconds for v in top)
    step = max(1, math.ceil(longest / HEATMAP_CELLS))
    rows: dict[str, list[tuple[int, float | None]]] = {}
    for video in top:
        name = _unique(rows, _short(video, titles))
        cells: list[tuple[int, float | None]] = [
            (start, shown(max(video.watched[start : start + step], default=0), build.k))
            for start in range(0, video.length_seconds, step)
        ]
        rows[name] = cells
    heatmap = video_heatmap(
        "video-heatmap",
        "Video engagement (views per second)",
        rows,
        value_title="Views",
        seconds_per_cell=step,
        suppression_threshold=build.k,
    )
    build.charts.append(heatmap)
    tenths = [f"{10 * i}%" for i in range(11)]
    drop: dict[str, list[tuple[str, float | None]]] = {}
    for video in top[:DROP_OFF_VIDEOS]:
        last = len(video.reached) - 1
        at = [video.reached[min(last, video.length_seconds * i // 10)] for i in range(11)]
        drop[_unique(drop, _short(video, titles))] = list(zip(tenths, nested(at, build.k), strict=True))
    build.charts.append(
        bar_per_category(
            "video-drop-off",
            "Viewers still watching, by share of the video",
            drop,
            x_title="Share of the video",
            y_title="Viewers",
            suppression_threshold=build.k,
        )
    )


def _unique(taken: Mapping[str, object], name: str) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name} ({n})", n + 1
    return candidate


def _quizzes(build: _Builder, quizzes: Sequence[ScoreDistribution], titles: Mapping[uuid.UUID, str]) -> None:
    """The score histogram of the quiz with the most graded attempts (bins as a series with its total), and
    passed/failed per quiz as a table with its margins (``suppress_table``: a stacked bar shows its row's
    total)."""
    graded = sorted((q for q in quizzes if sum(q.bins)), key=lambda q: (-sum(q.bins), str(q.quiz_id)))[:QUIZZES_SHOWN]
    if not graded:
        return
    top = graded[0]
    bins = counted(top.bins, build.k)
    name = titles.get(top.quiz_id) or f"Quiz {str(top.quiz_id)[:8]}"
    build.charts.append(
        score_histogram(
            "score-histogram",
            f"Scores: {name} (most attempted quiz)",
            [(10.0 * i, value) for i, value in enumerate(bins.cells)],
            bin_width=10.0,
            suppression_threshold=build.k,
        )
    )
    table = suppress_table([[q.passed, q.failed] for q in graded], build.k)
    names: dict[str, None] = {}
    for q in graded:
        names[_unique(names, titles.get(q.quiz_id) or f"Quiz {str(q.quiz_id)[:8]}")] = None
    labels = list(names)
    build.charts.append(
        bar_per_category(
            "quiz-outcomes",
            "Passed and failed attempts per quiz",
            {
                "Passed": [(label, row[0]) for label, row in zip(labels, table.cells, strict=True)],
                "Failed": [(label, row[1]) for label, row in zip(labels, table.cells, strict=True)],
            },
            x_title="Quiz",
            y_title="Attempts",
            stacked=True,
            suppression_threshold=build.k,
        )
    )


def platform_report(
    aggregates: PlatformAggregates,
    window: Window,
    k: int,
    now: datetime,
    *,
    course_titles: Mapping[uuid.UUID, str] | None = None,
) -> Report:
    build = _Builder(window, k)
    build.active(aggregates.active_learners)
    registrations = counted(filled(aggregates.registrations, window.days), k)
    build.figure("Registrations", registrations.total)
    build.line("registrations", "Registrations per day", {"Registrations": registrations.cells}, "Accounts")
    build.enrollments(aggregates.enrollments, aggregates.completions)
    if aggregates.top_courses:
        titles = course_titles or {}
        top = counted([count for _, count in aggregates.top_courses], k)
        labels: dict[str, None] = {}
        for course_id, _ in aggregates.top_courses:
            labels[_unique(labels, titles.get(course_id) or f"Course {str(course_id)[:8]}")] = None
        build.charts.append(
            bar_per_category(
                "top-courses",
                "Courses with the most enrollments",
                {"Enrollments": list(zip(labels, top.cells, strict=True))},
                x_title="Course",
                y_title="Enrollments",
                suppression_threshold=k,
            )
        )
    build.revenue(aggregates.revenue)
    return build.report("Platform report", "Platform dashboard", now)
