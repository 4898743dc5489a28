"""Reading the aggregates' figures (issue 18, point 3): the helpers the SQL reader shares (funnel, video
engagement, score distributions, series), and the reference figures of a ``Delta``
(``course_aggregates``, ``platform_aggregates``): what the tables must give, in the tests and in the
in-memory read port. What counts is defined in ``elearning_core.analytics.aggregating``.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date

from elearning_core.analytics.aggregates import (
    FUNNEL,
    CourseAggregates,
    DiscussionDay,
    FunnelStage,
    Grain,
    PeriodCount,
    PlatformAggregates,
    ScoreDistribution,
    VideoEngagement,
    top_videos,
)
from elearning_core.analytics.aggregating import (
    ACTIVE,
    BINS,
    COMPLETED,
    ENROLLED,
    PLATFORM,
    POSTERS,
    POSTS,
    REGISTERED,
    TOP_COURSES,
    TOP_PREFIX,
    VIDEO_MS,
    Delta,
    Zones,
    score_bin,
)

# -- reading the figures (shared with the SQL reader) -----------------------------------------


def funnel_of(groups: Iterable[tuple[bool, bool, bool, int, int]], lesson_count: int) -> dict[FunnelStage, int]:
    """The funnel from (enrolled, started, completed, lessons completed, how many learners) groups: an enrolled
    learner's stage is completed, else the share of the course's ``lesson_count`` lessons completed (25/50/75 %),
    else started (any statement in the course besides the enrollment), else enrolled; they count in every stage
    up to theirs."""
    stages = dict.fromkeys(FUNNEL, 0)
    for enrolled, started, completed, lessons, count in groups:
        if not enrolled:
            continue
        reached = _stage(started, completed, lessons, lesson_count)
        for stage in FUNNEL[: reached + 1]:
            stages[stage] += count
    return stages


def _stage(started: bool, completed: bool, lessons: int, lesson_count: int) -> int:
    if completed:
        return len(FUNNEL) - 1
    share = lessons / lesson_count if lesson_count > 0 else 0.0
    for index, needed in ((4, 0.75), (3, 0.5), (2, 0.25)):
        if lesson_count > 0 and share >= needed:
            return index
    return 1 if started or lessons > 0 else 0


def engagement_of(
    video: uuid.UUID, lesson: uuid.UUID | None, length: int, marks: Mapping[int, int], reach: Mapping[int, int]
) -> VideoEngagement:
    """A video's heatmap and drop-off, the prefix sums of two difference arrays: ``marks`` (+1 at a segment's
    first second, -1 past its last) and ``reach`` (+1 at 0 and -1 past each learner's furthest second); as
    long as the longer of its known length and what was watched."""
    seconds = max([length, *(s for s, n in marks.items() if n), *(s for s, n in reach.items() if n)], default=0)
    return VideoEngagement(video, lesson, seconds, _prefix(marks, seconds), _prefix(reach, seconds))


def _prefix(diff: Mapping[int, int], seconds: int) -> list[int]:
    out, running = [], 0
    for second in range(seconds):
        running += diff.get(second, 0)
        out.append(running)
    return out


def reach_marks(furthest: Iterable[int]) -> Counter[int]:
    """The drop-off's difference array of learners' furthest seconds."""
    diff: Counter[int] = Counter()
    for f in furthest:
        diff[0] += 1
        diff[f + 1] -= 1
    return diff


def distribution_of(
    quiz: uuid.UUID, graded: Iterable[tuple[int | None, bool | None, int]], learners: int
) -> ScoreDistribution:
    """A quiz's distribution from (bin, success, how many attempts) groups of latest grades."""
    bins, passed, failed = [0] * BINS, 0, 0
    for bin_, success, count in graded:
        if bin_ is not None:
            bins[bin_] += count
        passed += count if success is True else 0
        failed += count if success is False else 0
    return ScoreDistribution(quiz, bins, passed, failed, learners)


def series(values: Mapping[date, int], since: date, until: date) -> list[PeriodCount]:
    return [PeriodCount(day, n) for day, n in sorted(values.items()) if since <= day <= until and n]


def active_series(counts: Mapping[tuple[str, date], int], since: date, until: date) -> dict[Grain, list[PeriodCount]]:
    return {
        grain: series({p: n for (m, p), n in counts.items() if m == metric}, since, until)
        for grain, metric in ACTIVE.items()
    }


def time_spent(
    video_ms: Mapping[date, int], quiz_seconds: Mapping[date, int], since: date, until: date
) -> list[PeriodCount]:
    """A day's estimated learning time: the seconds of video watched (each played segment's length) plus the
    time of the quiz attempts submitted that day."""
    spent: Counter[date] = Counter({day: round(ms / 1000) for day, ms in video_ms.items()})
    spent.update(quiz_seconds)
    return series(spent, since, until)


def discussion_days(
    posts: Mapping[date, int], posters: Mapping[date, int], since: date, until: date
) -> list[DiscussionDay]:
    return [
        DiscussionDay(day, posts[day], posters.get(day, 0))
        for day in sorted(posts)
        if since <= day <= until and posts[day]
    ]


# -- the reference: figures off a delta -------------------------------------------------------


def _tallies(delta: Delta, scope: str) -> dict[tuple[str, date], int]:
    out: Counter[tuple[str, date]] = Counter()
    for (s, metric, period), n in delta.counts.items():
        if s == scope:
            out[metric, period] += n
    for s, metric, period, _learner in delta.distinct:
        if s == scope:
            out[metric, period] += 1
    return dict(out)


def _metric(tallies: Mapping[tuple[str, date], int], metric: str) -> dict[date, int]:
    return {p: n for (m, p), n in tallies.items() if m == metric}


def course_aggregates(
    delta: Delta,
    course: uuid.UUID,
    since: date,
    until: date,
    *,
    zones: Zones,
    lesson_count: int,
    videos: int | None = None,
) -> CourseAggregates:
    """``AggregateReads.course`` off a delta (``videos`` as there: the most viewed, by their engagement)."""
    tallies = _tallies(delta, str(course))
    quiz_seconds: Counter[date] = Counter()
    for (c, _quiz, _learner, _n), attempt in delta.attempts.items():
        seconds = attempt.seconds()
        if c == course and seconds is not None and attempt.submitted_at is not None:
            quiz_seconds[zones.day(attempt.submitted_at, course)] += seconds
    groups = Counter(
        (f.enrolled, f.started, f.completed, sum(1 for c, lr, _ in delta.lessons if (c, lr) == key))
        for key, f in delta.learners.items()
        if key[0] == course
    )
    posts, posters = _metric(tallies, POSTS), _metric(tallies, POSTERS)
    return CourseAggregates(
        course_id=course,
        time_zone=zones.of(course),
        active_learners=active_series(tallies, since, until),
        enrollments=series(_metric(tallies, ENROLLED), since, until),
        completions=series(_metric(tallies, COMPLETED), since, until),
        funnel=funnel_of(((*k, n) for k, n in groups.items()), lesson_count),
        time_spent_seconds=time_spent(_metric(tallies, VIDEO_MS), quiz_seconds, since, until),
        videos=top_videos(_videos(delta, course), videos),
        assessments=_assessments(delta, course),
        discussion=discussion_days(posts, posters, since, until),
    )


def _videos(delta: Delta, course: uuid.UUID) -> list[VideoEngagement]:
    out = []
    for video, info in sorted(delta.videos.items(), key=lambda item: str(item[0])):
        if info.course != course:
            continue
        marks = {s: n for (vid, s), n in delta.marks.items() if vid == video}
        reach = reach_marks(f for (vid, _), f in delta.reach.items() if vid == video)
        out.append(engagement_of(video, info.lesson, info.length, marks, reach))
    return out


def _assessments(delta: Delta, course: uuid.UUID) -> list[ScoreDistribution]:
    graded: dict[uuid.UUID, Counter[tuple[int | None, bool | None]]] = {}
    learners: dict[uuid.UUID, set[str]] = {}
    for (c, quiz, learner, _n), attempt in delta.attempts.items():
        if c != course or attempt.graded_at is None:
            continue
        graded.setdefault(quiz, Counter())[score_bin(attempt.scaled), attempt.success] += 1
        learners.setdefault(quiz, set()).add(learner)
    return [
        distribution_of(quiz, ((b, s, n) for (b, s), n in graded[quiz].items()), len(learners[quiz]))
        for quiz in sorted(graded, key=str)
    ]


def top_courses(counts: Iterable[tuple[str, int]]) -> list[tuple[uuid.UUID, int]]:
    """The courses with the most enrollments, from (``p:<course>`` scope, enrollments) pairs; ties by id."""
    totals: Counter[str] = Counter()
    for scope, n in counts:
        totals[scope.removeprefix(TOP_PREFIX)] += n
    ranked = sorted(((c, n) for c, n in totals.items() if n > 0), key=lambda item: (-item[1], item[0]))
    return [(uuid.UUID(c), n) for c, n in ranked[:TOP_COURSES]]


def platform_aggregates(delta: Delta, since: date, until: date, *, zones: Zones) -> PlatformAggregates:
    tallies = _tallies(delta, PLATFORM)
    top = [
        (scope, n)
        for (scope, metric, period), n in delta.counts.items()
        if scope.startswith(TOP_PREFIX) and metric == ENROLLED and since <= period <= until
    ]
    return PlatformAggregates(
        time_zone=zones.platform,
        active_learners=active_series(tallies, since, until),
        enrollments=series(_metric(tallies, ENROLLED), since, until),
        completions=series(_metric(tallies, COMPLETED), since, until),
        registrations=series(_metric(tallies, REGISTERED), since, until),
        top_courses=top_courses(top),
    )
