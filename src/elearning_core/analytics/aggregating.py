"""What the aggregates count, as a pure function of statements (issue 18, point 3): the definition the
``analytics`` projection keeps incrementally in SQL and the oracle of its tests.

``collect(statements, zones)`` turns statements (their xAPI JSON, as stored) into a ``Delta``: plain
counters, distinct (scope, metric, period, learner) keys, per-learner funnel flags and completed lessons,
video marks (a difference array per second) and reach, and per-attempt quiz facts. Deltas merge without
regard to order (sums, unions, OR, max, min; an attempt's grade is its latest by statement timestamp, ties
broken by statement id), so a batch at a time and all at once give the same figures; the projection applies
each batch's delta with upserts, and ``course_aggregates`` / ``platform_aggregates`` read the figures off a
delta the way the SQL reader reads them off the tables (through the shared helpers below).

Only the platform's own statements count (the projection's: an LRS client's statements are left out, so
a credential holder cannot inflate the platform's figures); the learner is the actor's account name.
"""

from __future__ import annotations

import functools
import math
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from elearning_core.analytics import vocabulary as v
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
)

PLATFORM = "platform"
"""The platform's scope in the counters (a course's scope is its id)."""
QUIZ_SECONDS_CAP = 7200
"""An attempt's time (attempted -> submitted) counts at most two hours: a tab left open is not study."""
TOP_COURSES = 20
BINS = 10

ENROLLED, COMPLETED, REGISTERED, VIDEO_MS, POSTS = "enrolled", "completed", "registered", "video_ms", "posts"
POSTERS = "posters"
ACTIVE = {Grain.DAY: "active_day", Grain.WEEK: "active_week", Grain.MONTH: "active_month"}
TOP_PREFIX = "p:"
"""Scope of a course's enrollments counted on the platform's days (the top courses): ``p:<course id>``."""

_ACTIVITY = re.compile(r"/xapi/activities/(course|lesson|video|quiz|thread)/([0-9a-fA-F-]{36})$")
_ATTEMPT = "/xapi/extensions/attempt"


def period_start(day: date, grain: Grain) -> date:
    if grain is Grain.WEEK:
        return day - timedelta(days=day.weekday())
    if grain is Grain.MONTH:
        return day.replace(day=1)
    return day


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class Zones:
    """The time zone of each course (its organization's) and the platform's (also a course without one)."""

    platform: str = "UTC"
    courses: Mapping[uuid.UUID, str] = field(default_factory=dict)

    def of(self, course: uuid.UUID | None) -> str:
        return self.courses.get(course, self.platform) if course is not None else self.platform

    def day(self, at: datetime, course: uuid.UUID | None) -> date:
        return _local_day(at, self.of(course))


@functools.lru_cache(maxsize=65_536)
def _local_day(at: datetime, zone: str) -> date:
    return at.astimezone(_zone(zone)).date()


@dataclass(slots=True)
class LearnerFlags:
    enrolled: bool = False
    started: bool = False
    completed: bool = False

    def merge(self, other: LearnerFlags) -> None:
        self.enrolled |= other.enrolled
        self.started |= other.started
        self.completed |= other.completed


@dataclass(slots=True)
class Attempt:
    """One quiz attempt's facts: first attempted and submitted times, and its latest grade."""

    attempted_at: datetime | None = None
    submitted_at: datetime | None = None
    graded_at: datetime | None = None
    grade_id: str | None = None
    scaled: float | None = None
    success: bool | None = None

    def merge(self, other: Attempt) -> None:
        self.attempted_at = _earliest(self.attempted_at, other.attempted_at)
        self.submitted_at = _earliest(self.submitted_at, other.submitted_at)
        if other.graded_at is not None and (
            self.graded_at is None or (other.graded_at, other.grade_id or "") > (self.graded_at, self.grade_id or "")
        ):
            self.graded_at, self.grade_id = other.graded_at, other.grade_id
            self.scaled, self.success = other.scaled, other.success

    def seconds(self) -> int | None:
        """The attempt's time (attempted -> submitted, 0 to the cap), once both are known."""
        if self.attempted_at is None or self.submitted_at is None:
            return None
        spent = (self.submitted_at - self.attempted_at).total_seconds()
        return int(min(QUIZ_SECONDS_CAP, max(0.0, spent)))


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return min(a, b)


def score_bin(scaled: float | None) -> int | None:
    """The bin of a scaled score: ``[i/10, (i+1)/10)``, 1.0 in the last; a negative score in the first."""
    if scaled is None:
        return None
    return min(BINS - 1, max(0, math.floor(scaled * BINS)))


@dataclass(slots=True)
class VideoInfo:
    course: uuid.UUID
    lesson: uuid.UUID | None
    length: int = 0

    def merge(self, other: VideoInfo) -> None:
        self.length = max(self.length, other.length)
        self.lesson = self.lesson or other.lesson


LearnerKey = tuple[uuid.UUID, str]
AttemptKey = tuple[uuid.UUID, uuid.UUID, str, int]
"""(course, quiz, learner, attempt number)."""


@dataclass
class Delta:
    counts: Counter[tuple[str, str, date]] = field(default_factory=Counter)
    distinct: set[tuple[str, str, date, str]] = field(default_factory=set)
    learners: dict[LearnerKey, LearnerFlags] = field(default_factory=dict)
    lessons: set[tuple[uuid.UUID, str, uuid.UUID]] = field(default_factory=set)
    marks: Counter[tuple[uuid.UUID, int]] = field(default_factory=Counter)
    videos: dict[uuid.UUID, VideoInfo] = field(default_factory=dict)
    reach: dict[tuple[uuid.UUID, str], int] = field(default_factory=dict)
    attempts: dict[AttemptKey, Attempt] = field(default_factory=dict)

    def flag(self, key: LearnerKey, flags: LearnerFlags) -> None:
        self.learners.setdefault(key, LearnerFlags()).merge(flags)

    def attempt(self, key: AttemptKey, facts: Attempt) -> None:
        self.attempts.setdefault(key, Attempt()).merge(facts)

    def video(self, video: uuid.UUID, info: VideoInfo) -> None:
        known = self.videos.get(video)
        if known is None:
            self.videos[video] = info
        else:
            known.merge(info)


def _ident(iri: Any, kind: str) -> uuid.UUID | None:
    return _parsed(iri, kind) if isinstance(iri, str) else None


@functools.lru_cache(maxsize=65_536)
def _parsed(iri: str, kind: str) -> uuid.UUID | None:
    """The id in one of the platform's activity IRIs of ``kind`` (the same few IRIs come back all the time)."""
    found = _ACTIVITY.search(iri)
    if found is None or found.group(1) != kind:
        return None
    try:
        return uuid.UUID(found.group(2))
    except ValueError:
        return None


def _first(activities: Any) -> Any:
    return activities[0].get("id") if isinstance(activities, list) and activities else None


def _extension(extensions: Any, suffix: str) -> Any:
    if isinstance(extensions, dict):
        for key, value in extensions.items():
            if isinstance(key, str) and key.endswith(suffix):
                return value
    return None


def _segments(value: Any) -> list[tuple[float, float]]:
    """The video profile's ``played-segments`` (``a[.]b[,]c[.]d``) as (start, end) pairs, empty ones left out."""
    out: list[tuple[float, float]] = []
    if not isinstance(value, str):
        return out
    for part in value.split("[,]"):
        bounds = part.split("[.]")
        if len(bounds) != 2:
            continue
        try:
            start, end = max(0.0, float(bounds[0])), float(bounds[1])
        except ValueError:
            continue
        if math.isfinite(start) and math.isfinite(end) and end > start:
            out.append((start, end))
    return out


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return _parsed_time(str(value))


@functools.lru_cache(maxsize=65_536)
def _parsed_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def course_of(data: Mapping[str, Any]) -> uuid.UUID | None:
    """The course a statement is about: its object, else its context's grouping."""
    obj = data.get("object") or {}
    grouping = ((data.get("context") or {}).get("contextActivities") or {}).get("grouping")
    return _ident(obj.get("id"), "course") or _ident(_first(grouping), "course")


def collect(statements: Iterable[Mapping[str, Any]], zones: Zones, into: Delta | None = None) -> Delta:
    """What ``statements`` (xAPI JSON, the platform's own, not voided) add to the aggregates."""
    delta = into if into is not None else Delta()
    for data in statements:
        _add(delta, data, zones)
    return delta


def _add(delta: Delta, data: Mapping[str, Any], zones: Zones) -> None:
    account = (data.get("actor") or {}).get("account") or {}
    learner, at = account.get("name"), _timestamp(data.get("timestamp"))
    if not isinstance(learner, str) or at is None or at.tzinfo is None:
        return
    verb = (data.get("verb") or {}).get("id")
    obj = data.get("object") or {}
    object_id = obj.get("id")
    context = data.get("context") or {}
    activities = context.get("contextActivities") or {}
    result = data.get("result") or {}
    course = course_of(data)

    platform_day = zones.day(at, None)
    for grain, metric in ACTIVE.items():
        delta.distinct.add((PLATFORM, metric, period_start(platform_day, grain), learner))
    if verb == v.REGISTERED.id and course is None:
        delta.counts[PLATFORM, REGISTERED, platform_day] += 1
    if course is None:
        return

    scope, day = str(course), zones.day(at, course)
    for grain, metric in ACTIVE.items():
        delta.distinct.add((scope, metric, period_start(day, grain), learner))
    enrolling = verb == v.REGISTERED.id and _ident(object_id, "course") == course
    if enrolling:
        delta.counts[scope, ENROLLED, day] += 1
        delta.counts[PLATFORM, ENROLLED, platform_day] += 1
        delta.counts[TOP_PREFIX + scope, ENROLLED, platform_day] += 1
    delta.flag((course, learner), LearnerFlags(enrolled=enrolling, started=not enrolling))
    if verb == v.COMPLETED.id and _ident(object_id, "course") == course:
        delta.counts[scope, COMPLETED, day] += 1
        delta.counts[PLATFORM, COMPLETED, platform_day] += 1
        delta.flag((course, learner), LearnerFlags(completed=True))
    lesson = _ident(object_id, "lesson")
    if verb == v.COMPLETED.id and lesson is not None:
        delta.lessons.add((course, learner, lesson))
    if verb == v.COMMENTED.id:
        delta.counts[scope, POSTS, day] += 1
        delta.distinct.add((scope, POSTERS, day, learner))
    video = _ident(object_id, "video")
    if video is not None:
        _video(delta, video, course, learner, (scope, day), result, context, activities)
    quiz = _ident(object_id, "quiz")
    number = _extension(context.get("extensions"), _ATTEMPT)
    if quiz is not None and isinstance(number, int) and not isinstance(number, bool):
        facts = _attempt_facts(verb, at, str(data.get("id", "")), result)
        if facts is not None:
            delta.attempt((course, quiz, learner, number), facts)


def _video(
    delta: Delta,
    video: uuid.UUID,
    course: uuid.UUID,
    learner: str,
    where: tuple[str, date],
    result: Mapping[str, Any],
    context: Mapping[str, Any],
    activities: Mapping[str, Any],
) -> None:
    length = _extension(context.get("extensions"), "/extensions/length")
    seconds = math.ceil(length) if isinstance(length, int | float) and math.isfinite(length) and length > 0 else 0
    delta.video(video, VideoInfo(course, _ident(_first(activities.get("parent")), "lesson"), seconds))
    watched_ms = 0
    for start, end in _segments(_extension(result.get("extensions"), "/extensions/played-segments")):
        first, last = math.floor(start), math.ceil(end)  # seconds first .. last - 1 were watched
        delta.marks[video, first] += 1
        delta.marks[video, last] -= 1
        key = (video, learner)
        delta.reach[key] = max(delta.reach.get(key, -1), last - 1)
        watched_ms += round((end - start) * 1000)
    if watched_ms:
        delta.counts[where[0], VIDEO_MS, where[1]] += watched_ms


def _attempt_facts(verb: Any, at: datetime, statement: str, result: Mapping[str, Any]) -> Attempt | None:
    if verb == v.ATTEMPTED.id:
        return Attempt(attempted_at=at)
    if verb == v.SUBMITTED.id:
        return Attempt(submitted_at=at)
    if verb in (v.PASSED.id, v.FAILED.id, v.SCORED.id):
        scaled = (result.get("score") or {}).get("scaled")
        success = result.get("success")
        return Attempt(
            graded_at=at,
            grade_id=statement,
            scaled=float(scaled) if isinstance(scaled, int | float) else None,
            success=success if isinstance(success, bool) else None,
        )
    return None


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
    delta: Delta, course: uuid.UUID, since: date, until: date, *, zones: Zones, lesson_count: int
) -> CourseAggregates:
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
        videos=_videos(delta, course),
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
