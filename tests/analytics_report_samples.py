"""A course report with one chart of every kind, as the aggregate readers would hand it over; shared by
the chart, page and Chromium tests."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

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

START = date(2026, 11, 1)
K = 5


def sample_charts() -> tuple[Chart, ...]:
    days = [START + timedelta(days=i) for i in range(30)]
    return (
        line_over_days(
            "active-learners",
            "Active learners per day",
            {
                "Daily active": [(day, 40 + 12 * math.sin(i / 3) + i) for i, day in enumerate(days)],
                "Completions": [(day, float(i % 7)) for i, day in enumerate(days)],
            },
            y_title="Learners",
        ),
        bar_per_category(
            "enrollments",
            "Enrollments per lesson module",
            {"Enrollments": [("Basics", 120), ("Functions", 95), ("Classes", None), ("Testing", 41)]},
            x_title="Module",
            y_title="Enrollments",
            suppression_threshold=K,
        ),
        bar_per_category(
            "quiz-outcomes",
            "Quiz outcomes",
            {"Passed": [("Quiz 1", 80), ("Quiz 2", 61), ("Final", 44)], "Failed": [("Quiz 1", 9), ("Quiz 2", 20)]},
            x_title="Quiz",
            y_title="Attempts",
            stacked=True,
        ),
        funnel(
            "completion-funnel",
            "Completion funnel",
            [("Enrolled", 200), ("Started", 170), ("25 %", 130), ("50 %", 96), ("75 %", 70), ("Completed", 52)],
        ),
        video_heatmap(
            "video-heatmap",
            "Seconds watched per video",
            {
                "Intro video": [(s, round(90 * math.exp(-s / 200) + 10 * (140 <= s <= 170))) for s in range(300)],
                "Recap video": [(s, round(40 * math.exp(-s / 400))) for s in range(240)],
            },
        ),
        score_histogram(
            "final-scores",
            "Scores of the final exam",
            [(b * 10.0, [1, 2, 4, 7, 12, 19, 24, 18, 9, 4][b]) for b in range(10)],
            bin_width=10,
        ),
    )


def sample_report(charts: tuple[Chart, ...] | None = None, title: str = "Python for beginners") -> Report:
    return Report(
        title=title,
        subtitle="Course report",
        period_start=START,
        period_end=START + timedelta(days=29),
        generated_at=datetime(2026, 12, 1, 6, 30, tzinfo=UTC),
        charts=sample_charts() if charts is None else charts,
        figures=(
            KeyFigure("Active learners", 1234),
            KeyFigure("Completion rate", 26.0, "%"),
            KeyFigure("Median time spent", 3.5, "h"),
            KeyFigure("Certificates", None),
        ),
        time_zone="Europe/Paris",
        suppression_threshold=K,
    )
