"""``AggregateReads`` in memory, for the dashboards' tests: it returns the aggregates it was given, cut to
the asked periods as the port says (periods starting in ``[since, until]``; the funnel, videos and
assessments whole, the videos cut to the most viewed when asked). Data, not logic: what the projection
computes is the SQL adapter's business (and its own tests'); this only hands figures over.

``sample_course`` and ``sample_platform`` are a busy course and platform with a few small cells on purpose,
shared by the unit, HTTP, CLI tests and the benchmark's harness check.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from elearning_core.analytics.aggregates import (
    AggregateReads,
    CourseAggregates,
    DiscussionDay,
    FunnelStage,
    Grain,
    PeriodCount,
    PlatformAggregates,
    RevenueMonth,
    ScoreDistribution,
    VideoEngagement,
    top_videos,
)


def _inside(periods: list[PeriodCount], since: date, until: date) -> list[PeriodCount]:
    return [p for p in periods if since <= p.start <= until]


def _cut_common(found: CourseAggregates | PlatformAggregates, since: date, until: date) -> dict[str, Any]:
    """The periods both kinds of aggregates hold, cut to ``[since, until]``."""
    return {
        "active_learners": {grain: _inside(p, since, until) for grain, p in found.active_learners.items()},
        "enrollments": _inside(found.enrollments, since, until),
        "completions": _inside(found.completions, since, until),
        "revenue": [r for r in found.revenue if since <= r.month <= until],
    }


class InMemoryAggregateReads(AggregateReads):
    def __init__(
        self, courses: dict[uuid.UUID, CourseAggregates] | None = None, platform: PlatformAggregates | None = None
    ) -> None:
        self.courses = dict(courses or {})
        self.platform_figures = platform or PlatformAggregates("UTC", {}, [], [], [], [])
        self.reads: list[tuple[str, date, date]] = []
        self.video_limits: list[int | None] = []

    async def course(
        self, course_id: uuid.UUID, since: date, until: date, *, videos: int | None = None
    ) -> CourseAggregates | None:
        self.reads.append(("course", since, until))
        self.video_limits.append(videos)
        found = self.courses.get(course_id)
        if found is None:
            return None
        return replace(
            found,
            **_cut_common(found, since, until),
            time_spent_seconds=_inside(found.time_spent_seconds, since, until),
            discussion=[d for d in found.discussion if since <= d.start <= until],
            videos=top_videos(found.videos, videos),
        )

    async def platform(self, since: date, until: date) -> PlatformAggregates:
        self.reads.append(("platform", since, until))
        found = self.platform_figures
        return replace(
            found,
            **_cut_common(found, since, until),
            registrations=_inside(found.registrations, since, until),
        )


COURSE_CHART_KEYS = [
    "active-learners",
    "enrollments-completions",
    "funnel",
    "time-spent",
    "discussion",
    "video-heatmap",
    "video-drop-off",
    "score-histogram",
    "quiz-outcomes",
    "revenue",
]
"""The charts of a course dashboard with every kind of aggregate (``sample_course``), in order."""


def _days(until: date, days: int) -> list[date]:
    return [until - timedelta(days=days - 1 - i) for i in range(days)]


def _weeks_and_months(days: list[date], per_day: int) -> dict[Grain, list[PeriodCount]]:
    weeks = sorted({d - timedelta(days=d.weekday()) for d in days})
    months = sorted({d.replace(day=1) for d in days})
    return {
        Grain.DAY: [PeriodCount(d, per_day + i % 7 * 3) for i, d in enumerate(days)],
        Grain.WEEK: [PeriodCount(w, per_day * 4) for w in weeks],
        Grain.MONTH: [PeriodCount(m, per_day * 9) for m in months],
    }


def sample_video(length: int = 600, viewers: int = 400, *, lesson_id: uuid.UUID | None = None) -> VideoEngagement:
    reached = [max(0, round(viewers * (1 - 0.7 * s / length))) for s in range(length)]
    watched = [r + round(20 * math.sin(s / 30) ** 2) for s, r in enumerate(reached)]
    return VideoEngagement(
        uuid.uuid5(uuid.NAMESPACE_OID, f"video-{length}-{viewers}"), lesson_id, length, watched, reached
    )


def sample_course(course_id: uuid.UUID, *, until: date, days: int = 60, learners: int = 10_000) -> CourseAggregates:
    """A busy course: ``days`` of activity to ``until``. Small cells on purpose: 2 enrollments on the last day,
    3 completions 10 days before it, 1 poster on the last day, 4 purchasers in the first month."""
    ds = _days(until, days)
    enrollments = [PeriodCount(d, 40 + i % 5) for i, d in enumerate(ds)]
    enrollments[-1] = PeriodCount(ds[-1], 2)
    completions = [PeriodCount(d, 12 + i % 3) for i, d in enumerate(ds)]
    completions[-11] = PeriodCount(ds[-11], 3)
    months = sorted({d.replace(day=1) for d in ds})
    return CourseAggregates(
        course_id=course_id,
        time_zone="Europe/Paris",
        active_learners=_weeks_and_months(ds, 300),
        enrollments=enrollments,
        completions=completions,
        funnel={
            FunnelStage.ENROLLED: learners,
            FunnelStage.STARTED: int(learners * 0.9),
            FunnelStage.QUARTER: int(learners * 0.7),
            FunnelStage.HALF: int(learners * 0.5),
            FunnelStage.THREE_QUARTERS: int(learners * 0.4),
            FunnelStage.COMPLETED: int(learners * 0.3),
        },
        time_spent_seconds=[PeriodCount(d, 3600 * (100 + i)) for i, d in enumerate(ds)],
        videos=[sample_video(), sample_video(7200, 250)],
        assessments=[
            ScoreDistribution(uuid.UUID(int=701), [0, 3, 10, 25, 60, 120, 200, 180, 90, 40], 500, 228, 650),
            ScoreDistribution(uuid.UUID(int=702), [0, 0, 0, 1, 2, 8, 9, 10, 6, 4], 37, 3, 40),
            ScoreDistribution(uuid.UUID(int=703), [0, 2, 6, 12, 20, 30, 30, 20, 10, 5], 95, 40, 120),
        ],
        discussion=[DiscussionDay(d, 30 + i % 4, 12) for i, d in enumerate(ds[:-1])] + [DiscussionDay(ds[-1], 5, 1)],
        revenue=[
            RevenueMonth(m, "EUR", 4 * 4900 if i == 0 else 120 * 4900, 4 if i == 0 else 120)
            for i, m in enumerate(months)
        ],
    )


def sample_platform(*, until: date, days: int = 60, top: list[uuid.UUID] | None = None) -> PlatformAggregates:
    ds = _days(until, days)
    months = sorted({d.replace(day=1) for d in ds})
    return PlatformAggregates(
        time_zone="UTC",
        active_learners=_weeks_and_months(ds, 2000),
        enrollments=[PeriodCount(d, 400 + i) for i, d in enumerate(ds)],
        completions=[PeriodCount(d, 90 + i % 9) for i, d in enumerate(ds)],
        registrations=[PeriodCount(d, 3 if i == 5 else 50) for i, d in enumerate(ds)],
        top_courses=[(course, 900 - 40 * i) for i, course in enumerate(top or [uuid.UUID(int=1), uuid.UUID(int=2)])]
        + [(uuid.UUID(int=999), 2)],
        revenue=[RevenueMonth(m, "USD", 1000 * 2900, 1000) for m in months],
    )
