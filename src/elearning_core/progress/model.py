"""Progress: the facts a learner's activity leaves, and what completion is derived from them.

Facts are what happened (a lesson viewed or marked done, the union of the intervals of a video
watched, a quiz outcome, a staff override or reset); they only grow, except by a reset. Everything
else (which lessons are complete, whether the course is, the percentages) is derived from the facts,
the course's published outline and its completion rules, by ``evaluate``: a pure function, so the
live projection and ``progress rebuild`` cannot disagree.

Completions are records: a lesson once complete stays complete, and a course completion stands,
even when a later published version adds required lessons (the course's percentages are recomputed
over the new outline) or the rules change; only a reset clears them.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from elearning_core.course.queries import CourseOutline, LessonView
from elearning_core.course.values import LessonKind
from elearning_core.progress.events import CourseCompleted, LessonCompleted, progress_key
from elearning_core.shared.errors import FieldError, ValidationFailed
from elearning_core.shared.events import DomainEvent

Interval = tuple[float, float]

MAX_INTERVALS = 500
"""A union of watched intervals longer than this is coarsened (the nearest gaps closed): it stays small
whatever a player sends, and a closed gap of a fraction of a second changes no completion."""


# -- watched intervals -----------------------------------------------------------------------------


def merge_intervals(intervals: Iterable[Interval], duration: float | None = None) -> tuple[Interval, ...]:
    """The union of ``intervals``, clamped to ``[0, duration]``, as sorted disjoint intervals.

    Order-independent (a set union), and touching intervals are merged. Empty or inverted intervals
    (and ones wholly outside the video) vanish.
    """
    upper = math.inf if duration is None else max(0.0, float(duration))
    clamped = sorted(
        (max(0.0, float(start)), min(upper, float(end)))
        for start, end in intervals
        if math.isfinite(start) and math.isfinite(end)
    )
    merged: list[list[float]] = []
    for start, end in clamped:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    while len(merged) > MAX_INTERVALS:
        gap = min(range(len(merged) - 1), key=lambda i: merged[i + 1][0] - merged[i][1])
        merged[gap][1] = merged[gap + 1][1]
        del merged[gap + 1]
    return tuple((start, end) for start, end in merged)


def covered_seconds(intervals: Iterable[Interval]) -> float:
    """The length of a union produced by ``merge_intervals``."""
    return sum(end - start for start, end in intervals)


WatchKey = tuple[uuid.UUID, uuid.UUID, uuid.UUID]
"""(course id, user id, video id): one learner's union of watched intervals of one video."""


@dataclass(frozen=True, slots=True)
class Watch:
    """A heartbeat's fact: ``interval`` of the video watched by the learner in the course, at ``at``."""

    course_id: uuid.UUID
    user_id: uuid.UUID
    video_id: uuid.UUID
    interval: Interval
    duration: float | None
    at: datetime

    @property
    def key(self) -> WatchKey:
        return (self.course_id, self.user_id, self.video_id)


def merge_watches(
    current: dict[WatchKey, tuple[Interval, ...]], watches: Sequence[Watch]
) -> dict[WatchKey, tuple[Interval, ...]]:
    """Each touched union after ``watches`` are merged into ``current`` (several may share one union)."""
    added: dict[WatchKey, list[Interval]] = {}
    duration: dict[WatchKey, float | None] = {}
    for watch in watches:
        added.setdefault(watch.key, []).append(watch.interval)
        duration[watch.key] = watch.duration
    return {key: merge_intervals([*current.get(key, ()), *more], duration[key]) for key, more in added.items()}


# -- rules -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompletionRules:
    """How a course decides that a lesson, and the course, is complete (per course, with defaults)."""

    course_id: uuid.UUID
    text_requires_done: bool = False
    """Text lessons complete when viewed (False), or only when the learner marks them done (True)."""
    video_percent: int = 90
    """Video lessons complete when this percent of the duration is in the union of watched intervals."""
    assessment_requires_pass: bool = True
    """Assessment lessons complete when the quiz is passed (True) or merely submitted (False)."""
    min_grade_percent: float | None = None
    """A minimum course grade (the gradebook's total), where the course sets one."""
    optional_lesson_ids: frozenset[uuid.UUID] = frozenset()
    """Lessons that never block completion (and do not count in the percentages)."""

    def __post_init__(self) -> None:
        errors = []
        if not 1 <= self.video_percent <= 100:
            errors.append(FieldError("video_percent", "must be between 1 and 100"))
        if self.min_grade_percent is not None and not 0 <= self.min_grade_percent <= 100:
            errors.append(FieldError("min_grade_percent", "must be between 0 and 100"))
        if errors:
            raise ValidationFailed(f"the completion rules are invalid: {errors[0].field} {errors[0].message}", errors)


def default_rules(course_id: uuid.UUID) -> CompletionRules:
    return CompletionRules(course_id)


# -- facts -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuizOutcome:
    """A learner's outcome on one assessment, from the assessment module's events."""

    best_percent: float | None = None
    passed: bool = False
    submitted: bool = False

    def merged(self, other: QuizOutcome) -> QuizOutcome:
        """Both outcomes at once (order-independent: best of each)."""
        percents = [p for p in (self.best_percent, other.best_percent) if p is not None]
        return QuizOutcome(
            max(percents) if percents else None,
            self.passed or other.passed,
            self.submitted or other.submitted,
        )


@dataclass(frozen=True, slots=True)
class LearnerFactsInCourse:
    """Every fact recorded about one learner in one course."""

    viewed: frozenset[uuid.UUID] = frozenset()
    done: frozenset[uuid.UUID] = frozenset()
    watched: Mapping[uuid.UUID, float] = field(default_factory=dict)
    """Video id -> seconds in the union of the learner's watched intervals."""
    quizzes: Mapping[uuid.UUID, QuizOutcome] = field(default_factory=dict)
    """Assessment id -> outcome."""

    @property
    def empty(self) -> bool:
        return not (self.viewed or self.done or self.watched or self.quizzes)


class LessonState(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


def lesson_complete(lesson: LessonView, rules: CompletionRules, facts: LearnerFactsInCourse) -> bool:
    """Whether the facts complete ``lesson`` under ``rules`` (without the recorded completions)."""
    if lesson.kind is LessonKind.VIDEO:
        duration = lesson.duration_seconds
        if lesson.video_id is None or not duration:
            return lesson.id in facts.done  # a video lesson with no known duration: the learner says so
        watched = facts.watched.get(lesson.video_id, 0.0)
        return watched * 100 >= rules.video_percent * duration - 1e-6
    if lesson.kind is LessonKind.ASSESSMENT:
        if lesson.assessment_id is None:
            return lesson.id in facts.done
        outcome = facts.quizzes.get(lesson.assessment_id)
        if outcome is None:
            return False
        return outcome.passed if rules.assessment_requires_pass else outcome.submitted
    if rules.text_requires_done:
        return lesson.id in facts.done
    return lesson.id in facts.viewed or lesson.id in facts.done


def lesson_started(lesson: LessonView, facts: LearnerFactsInCourse) -> bool:
    if lesson.id in facts.viewed or lesson.id in facts.done:
        return True
    if lesson.video_id is not None and facts.watched.get(lesson.video_id, 0.0) > 0:
        return True
    return lesson.assessment_id is not None and lesson.assessment_id in facts.quizzes


# -- derived state -------------------------------------------------------------------------------


class CompletionSource(StrEnum):
    RULES = "rules"
    OVERRIDE = "override"


@dataclass(frozen=True, slots=True)
class CourseProgress:
    """The derived state of one learner in one course (what the projection stores)."""

    course_id: uuid.UUID
    user_id: uuid.UUID
    completed_lesson_ids: frozenset[uuid.UUID] = frozenset()
    """Every lesson completion recorded (sticky: kept across versions and rule changes until a reset)."""
    required_lessons: int = 0
    required_completed: int = 0
    percent: float = 0.0
    """Of the required lessons of the published outline, complete (0 to 100, one decimal)."""
    completed_at: datetime | None = None
    completion_source: CompletionSource | None = None
    version_number: int | None = None
    """The published version the state was last computed against."""

    @property
    def completed(self) -> bool:
        return self.completed_at is not None


@dataclass(frozen=True, slots=True)
class Override:
    """A staff decision in the audit trail: a completion override, or a reset (who, why, when)."""

    kind: str  # "override" or "reset"
    by: uuid.UUID | None
    reason: str
    at: datetime


def required_lessons(outline: CourseOutline, rules: CompletionRules) -> list[LessonView]:
    return [
        lesson
        for section in outline.sections
        for lesson in section.lessons
        if lesson.id not in rules.optional_lesson_ids
    ]


def percent_of(done: int, total: int) -> float:
    return round(100.0 * done / total, 1) if total else 0.0


@dataclass(frozen=True, slots=True)
class Evaluation:
    progress: CourseProgress
    events: list[DomainEvent]


def evaluate(
    previous: CourseProgress,
    outline: CourseOutline | None,
    rules: CompletionRules,
    facts: LearnerFactsInCourse,
    *,
    grade_percent: float | None,
    override: Override | None,
    now: datetime,
) -> Evaluation:
    """The learner's new derived state, and the completion events it newly records.

    Monotone in the facts: adding facts never removes a completion. ``override`` is the latest
    staff completion override still standing (none after a reset).
    """
    key = progress_key(previous.course_id, previous.user_id)
    events: list[DomainEvent] = []
    completed = set(previous.completed_lesson_ids)
    state = previous
    if outline is not None:
        for section in outline.sections:
            for lesson in section.lessons:
                if lesson.id not in completed and lesson_complete(lesson, rules, facts):
                    completed.add(lesson.id)
                    events.append(
                        LessonCompleted(
                            occurred_at=now,
                            aggregate_id=key,
                            course_id=previous.course_id,
                            user_id=previous.user_id,
                            lesson_id=lesson.id,
                            kind=lesson.kind.value,
                        )
                    )
        required = required_lessons(outline, rules)
        done = sum(1 for lesson in required if lesson.id in completed)
        state = replace(
            state,
            required_lessons=len(required),
            required_completed=done,
            percent=percent_of(done, len(required)),
            version_number=outline.version_number,
        )
        grade_ok = rules.min_grade_percent is None or (
            grade_percent is not None and grade_percent >= rules.min_grade_percent
        )
        if not state.completed and override is not None:
            # Staff decided first: the override's own event was recorded then; the state only says so.
            state = replace(state, completed_at=override.at, completion_source=CompletionSource.OVERRIDE)
        if not state.completed and required and done == len(required) and grade_ok:
            state = replace(state, completed_at=now, completion_source=CompletionSource.RULES)
            events.append(
                CourseCompleted(
                    occurred_at=now,
                    aggregate_id=key,
                    course_id=previous.course_id,
                    user_id=previous.user_id,
                    version_number=outline.version_number,
                    source=CompletionSource.RULES.value,
                    grade_percent=grade_percent,
                )
            )
    if not state.completed and override is not None:  # no published outline: the override still stands
        state = replace(state, completed_at=override.at, completion_source=CompletionSource.OVERRIDE)
    return Evaluation(replace(state, completed_lesson_ids=frozenset(completed)), events)


def standing_override(audit: Sequence[Override]) -> Override | None:
    """The latest completion override not followed by a reset (``audit`` in time order)."""
    standing = None
    for entry in audit:
        standing = entry if entry.kind == "override" else None
    return standing


# -- resume ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LastActivity:
    lesson_id: uuid.UUID
    at: datetime
    video_id: uuid.UUID | None = None
    position_seconds: float | None = None
