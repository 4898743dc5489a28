"""What the aggregates count, as a pure function of statements (issue 18, point 3): the definition the
``analytics`` projection keeps incrementally in SQL and the oracle of its tests.

``collect(statements, zones)`` turns statements (their xAPI JSON, as stored) into a ``Delta``: plain
counters, distinct (scope, metric, period, learner) keys, per-learner funnel flags and completed lessons,
video marks (a difference array per second) and reach, and per-attempt quiz facts. Deltas merge without
regard to order (sums, unions, OR, max, min; an attempt's grade is its latest by statement timestamp, ties
broken by statement id), so a batch at a time and all at once give the same figures; the projection applies
each batch's delta with upserts, and ``aggregate_figures.course_aggregates`` / ``platform_aggregates`` read the
figures off a delta the way the SQL reader reads them off the tables (through the helpers they share).

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
    Grain,
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
def zone_of(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or UTC for a name this machine does not know (its days are then counted in UTC)."""
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
    return at.astimezone(zone_of(zone)).date()


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
