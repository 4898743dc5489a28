"""The aggregates' read model (issue 18, point 3): what the dashboards and reports read.

The ``analytics`` projection keeps these figures as statements arrive (never by scanning statements at
request time), and ``elearning analytics rebuild`` recomputes them from the stored statements. Days,
weeks (starting Monday) and months are those of the time zone of the course's organization (UTC for a
course without one); the platform's figures use the platform's time zone setting.

Every count here that counts learners is what small-cell suppression (``privacy``) applies to; the
read port returns true counts and the dashboards suppress them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Protocol


class Grain(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class FunnelStage(StrEnum):
    """The completion funnel, in order: a learner counts in every stage up to the furthest reached."""

    ENROLLED = "enrolled"
    STARTED = "started"
    QUARTER = "25%"
    HALF = "50%"
    THREE_QUARTERS = "75%"
    COMPLETED = "completed"


FUNNEL = tuple(FunnelStage)


@dataclass(frozen=True, slots=True)
class PeriodCount:
    """One period's figure: ``start`` is the period's first day (a Monday for weeks, the 1st for months)."""

    start: date
    value: int


@dataclass(frozen=True, slots=True)
class VideoEngagement:
    """A video's per-second engagement: ``watched[s]`` is how many times second ``s`` was watched (the
    heatmap), ``reached[s]`` how many distinct learners watched up to second ``s`` or beyond (the drop-off
    curve; ``reached[0]`` is the video's viewers). Both have one entry per second of ``length_seconds``."""

    video_id: uuid.UUID
    lesson_id: uuid.UUID | None
    length_seconds: int
    watched: list[int]
    reached: list[int]

    @property
    def viewers(self) -> int:
        return self.reached[0] if self.reached else 0


def most_viewed(videos: Iterable[tuple[uuid.UUID, int, int]], limit: int | None = None) -> list[uuid.UUID]:
    """The videos the dashboards draw, from (video, viewers, length) triples: those viewed or with a length,
    most viewed first, ties by ``str(video)``; at most ``limit`` of them (None: all).

    A video nobody watched has nothing to draw unless its length is known. One that was watched is always
    drawn: its ``VideoEngagement.length_seconds`` is at least the seconds watched, even when the statements
    gave no length (the stored length, what the SQL reader ranks by, is 0 then)."""
    ranked = sorted(
        ((video, viewers) for video, viewers, length in videos if viewers > 0 or length > 0),
        key=lambda item: (-item[1], str(item[0])),
    )
    return [video for video, _ in (ranked if limit is None else ranked[: max(0, limit)])]


def most_viewed_of(videos: Iterable[VideoEngagement], limit: int | None = None) -> list[VideoEngagement]:
    """``most_viewed`` of engagements, most viewed first."""
    by_id = {v.video_id: v for v in videos}
    return [by_id[i] for i in most_viewed(((v.video_id, v.viewers, v.length_seconds) for v in by_id.values()), limit)]


def top_videos(videos: Sequence[VideoEngagement], limit: int | None) -> list[VideoEngagement]:
    """``videos`` cut as ``AggregateReads.course(videos=limit)`` returns them (None: all), in their order."""
    if limit is None:
        return list(videos)
    chosen = {v.video_id for v in most_viewed_of(videos, limit)}
    return [v for v in videos if v.video_id in chosen]


@dataclass(frozen=True, slots=True)
class ScoreDistribution:
    """A quiz's graded attempts (each attempt counted once, at its latest grade): ``bins[i]`` counts
    the scaled scores in ``[i/10, (i+1)/10)`` (``bins[9]`` includes 1.0)."""

    quiz_id: uuid.UUID
    bins: list[int]
    passed: int
    failed: int
    learners: int


@dataclass(frozen=True, slots=True)
class DiscussionDay:
    start: date
    posts: int
    posters: int


@dataclass(frozen=True, slots=True)
class RevenueMonth:
    """Net revenue booked in a month (invoices less credit notes), from the billing ledger."""

    month: date
    currency: str
    net_minor: int
    purchasers: int


@dataclass(frozen=True, slots=True)
class CourseAggregates:
    course_id: uuid.UUID
    time_zone: str
    active_learners: dict[Grain, list[PeriodCount]]
    enrollments: list[PeriodCount]
    completions: list[PeriodCount]
    funnel: dict[FunnelStage, int]
    time_spent_seconds: list[PeriodCount]
    """Estimated learning time of all learners per day (see the module page for the estimate)."""
    videos: list[VideoEngagement] = field(default_factory=list)
    """By ``str(video_id)``: all the course's videos, or only the most viewed when the read was limited
    (``AggregateReads.course``'s ``videos``)."""
    assessments: list[ScoreDistribution] = field(default_factory=list)
    discussion: list[DiscussionDay] = field(default_factory=list)
    revenue: list[RevenueMonth] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PlatformAggregates:
    time_zone: str
    active_learners: dict[Grain, list[PeriodCount]]
    enrollments: list[PeriodCount]
    completions: list[PeriodCount]
    registrations: list[PeriodCount]
    top_courses: list[tuple[uuid.UUID, int]]
    """The courses with the most enrollments in the window, most first (at most 20)."""
    revenue: list[RevenueMonth] = field(default_factory=list)


class AggregateReads(Protocol):
    async def course(
        self, course_id: uuid.UUID, since: date, until: date, *, videos: int | None = None
    ) -> CourseAggregates | None:
        """The course's aggregates with periods starting in ``[since, until]`` (the funnel, videos and
        assessments are all-time); None when the course does not exist. Periods without activity are
        left out (the dashboards fill the gaps).

        ``videos``: at most that many videos, the most viewed of those viewed or with a length (viewers
        descending, then ``str(video_id)``; ``most_viewed``), each with its whole heatmap and drop-off; a
        dashboard draws no others, and a course's marks are most of its read when it has hundreds of
        videos. None: every video of the course, viewed or not."""
        ...

    async def platform(self, since: date, until: date) -> PlatformAggregates:
        """The platform's aggregates with periods starting in ``[since, until]``."""
        ...
