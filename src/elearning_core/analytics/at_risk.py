"""Learners at risk in a course, and why: three rules over plain facts, each reason with its figures.

- **Inactive**: nothing recorded for ``inactive_days`` days or more. The clock starts at the latest of the
  learner's last activity (a lesson viewed or marked done, a video heartbeat, a quiz attempt started or
  submitted, a discussion thread or post), their enrollment, and their cohort's start (a cohort that has
  not started yet keeps its learners off the list).
- **Failing**: the course grade so far (the gradebook total, ``assessment.queries.build_gradebook``) is
  below the course's minimum grade (the progress module's completion rule ``min_grade_percent``, what a
  completion needs), or a required graded item is lost: the quiz of a required lesson, with a pass mark,
  not passed (its grade below the mark, or no attempt at all) and out of reach (every allowed attempt used,
  extensions counted, or its close, an extension's first, passed), with no attempt waiting for a person.
- **Behind pace**: the share of required lessons completed is below the share of the expected duration
  elapsed since the learner's start (their cohort's start when the cohort has one, else their enrollment),
  counted in whole lessons: behind when fewer lessons are completed than ``floor(required x elapsed /
  expected)``, the lessons whose time has fully come (so a learner who enrolled a minute ago is not behind
  for the sliver of time elapsed). Nothing in the platform stores a course's expected duration, so it is a
  parameter (``expected_days``, the setting ``ELEARNING_ANALYTICS_EXPECTED_COURSE_DAYS`` by default). The
  arithmetic is exact (integer microseconds): a learner exactly on pace is not behind.

Only active enrollments are judged (a completed course is not at risk; an unenrolled learner left).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from elearning_core.shared.errors import FieldError, ValidationFailed

DEFAULT_INACTIVE_DAYS = 14
DEFAULT_EXPECTED_DAYS = 30
DAYS_MAX = 3650

_DAY = timedelta(days=1)


class RiskReason(StrEnum):
    INACTIVE = "inactive"
    FAILING = "failing"
    BEHIND_PACE = "behind_pace"


def check_days(value: int, name: str) -> int:
    """A number of days a caller gave (1 to ``DAYS_MAX``), or a field error naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= DAYS_MAX:
        raise ValidationFailed(f"{name} must be 1 to {DAYS_MAX} days", [FieldError(name, f"must be 1 to {DAYS_MAX}")])
    return value


# -- the facts ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LearnerFacts:
    """One active learner of the course, as the read port gives it (one row per learner)."""

    user_id: uuid.UUID
    display_name: str
    email: str
    enrolled_at: datetime
    cohort_id: uuid.UUID | None = None
    cohort_starts_at: datetime | None = None
    last_activity_at: datetime | None = None
    """The latest lesson view or done mark, heartbeat, attempt (start or submission) or post; None: none yet."""
    required_lessons: int = 0
    """The course's required lessons as the learner's progress last counted them (0: not judged on pace)."""
    required_completed: int = 0


@dataclass(frozen=True, slots=True)
class GradedItem:
    """A required graded item: the published quiz of a required lesson, with a pass mark."""

    quiz_id: uuid.UUID
    title: str
    pass_mark_percent: float
    max_attempts: int | None
    closes_at: datetime | None


@dataclass(frozen=True, slots=True)
class ItemStanding:
    """A learner's standing on one graded item: the quiz grade (``None`` while nothing is graded), the
    submitted attempts, those waiting for a person, and what an extension gives them."""

    percent: float | None = None
    attempts: int = 0
    pending: int = 0
    extra_attempts: int = 0
    extended_closes_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CourseFacts:
    """Everything the rules need about one course, read in a few set-based queries."""

    course_id: uuid.UUID
    learners: Sequence[LearnerFacts]
    min_grade_percent: float | None = None
    grades: Mapping[uuid.UUID, float | None] | None = None
    """User id -> the gradebook total so far (None: no grade yet)."""
    items: Sequence[GradedItem] = ()
    standings: Mapping[tuple[uuid.UUID, uuid.UUID], ItemStanding] | None = None
    """(user id, quiz id) -> standing; a missing pair is a learner with no attempt."""


# -- the reasons, with their figures ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Inactivity:
    last_activity_at: datetime | None
    since: datetime
    """Where the clock started: the last activity, the enrollment or the cohort's start (the latest)."""
    days: int
    """Whole days since ``since``."""
    threshold_days: int


@dataclass(frozen=True, slots=True)
class LostItem:
    quiz_id: uuid.UUID
    title: str
    percent: float | None
    """The quiz grade; None when the learner never submitted an attempt."""
    pass_mark_percent: float
    attempts: int
    attempts_allowed: int | None
    closes_at: datetime | None
    """The close that applies to the learner (an extension's first), when it is what ended the item."""


@dataclass(frozen=True, slots=True)
class Failing:
    grade_percent: float | None
    """The course grade so far (gradebook total)."""
    passing_percent: float | None
    """The course's minimum grade; None when the course sets none (only lost items then)."""
    below_passing: bool
    lost_items: tuple[LostItem, ...]


@dataclass(frozen=True, slots=True)
class BehindPace:
    required_completed: int
    required_lessons: int
    expected_lessons: int
    """The lessons due by now: ``floor(required_lessons x expected_percent / 100)``, exactly."""
    completed_percent: float
    expected_percent: float
    """The share of the expected duration elapsed since ``started_at`` (capped at 100)."""
    started_at: datetime
    start: str
    """``cohort`` (the cohort's start) or ``enrollment``."""
    expected_days: int


@dataclass(frozen=True, slots=True)
class AtRiskLearner:
    user_id: uuid.UUID
    display_name: str
    email: str
    enrolled_at: datetime
    cohort_id: uuid.UUID | None
    inactive: Inactivity | None = None
    failing: Failing | None = None
    behind_pace: BehindPace | None = None

    @property
    def reasons(self) -> tuple[RiskReason, ...]:
        found = (
            (RiskReason.INACTIVE, self.inactive),
            (RiskReason.FAILING, self.failing),
            (RiskReason.BEHIND_PACE, self.behind_pace),
        )
        return tuple(reason for reason, figures in found if figures is not None)


# -- the rules ---------------------------------------------------------------------------------


def inactivity(learner: LearnerFacts, now: datetime, threshold_days: int) -> Inactivity | None:
    """Inactive when ``threshold_days`` or more have passed since the latest of the last activity, the
    enrollment and the cohort's start (exactly ``threshold_days`` is inactive)."""
    since = max(t for t in (learner.last_activity_at, learner.enrolled_at, learner.cohort_starts_at) if t is not None)
    idle = now - since
    if idle < threshold_days * _DAY:
        return None
    return Inactivity(learner.last_activity_at, since, idle // _DAY, threshold_days)


def lost_item(item: GradedItem, standing: ItemStanding | None, now: datetime) -> LostItem | None:
    """The item, when the learner has not passed it and cannot any more; None otherwise."""
    standing = standing or ItemStanding()
    if standing.pending > 0:
        return None  # a person still has to grade an attempt: not settled
    if standing.percent is not None and standing.percent >= item.pass_mark_percent:
        return None
    if standing.percent is None and standing.attempts > 0:
        return None  # submitted but nothing graded (cannot happen without pending): not settled
    allowed = None if item.max_attempts is None else item.max_attempts + standing.extra_attempts
    closes_at = standing.extended_closes_at or item.closes_at
    used_up = allowed is not None and standing.attempts >= allowed
    closed = closes_at is not None and now >= closes_at
    if not (used_up or closed):
        return None
    return LostItem(
        item.quiz_id,
        item.title,
        standing.percent,
        item.pass_mark_percent,
        standing.attempts,
        allowed,
        closes_at if closed else None,
    )


def failing(grade_percent: float | None, passing_percent: float | None, lost: Iterable[LostItem]) -> Failing | None:
    """Failing when the grade so far is below the course's minimum grade (no grade yet is not failing), or
    any required item is lost."""
    below = passing_percent is not None and grade_percent is not None and grade_percent < passing_percent
    lost_items = tuple(lost)
    if not (below or lost_items):
        return None
    return Failing(grade_percent, passing_percent, below, lost_items)


def behind_pace(learner: LearnerFacts, now: datetime, expected_days: int) -> BehindPace | None:
    """Behind when fewer required lessons are completed than the whole lessons due by now,
    ``floor(required x elapsed / expected)`` (elapsed capped at the expected duration), in exact integer
    microseconds; never for a course with no required lesson."""
    required, done = learner.required_lessons, min(learner.required_completed, learner.required_lessons)
    if required <= 0:
        return None
    cohort_start = learner.cohort_starts_at
    started_at, start = (cohort_start, "cohort") if cohort_start is not None else (learner.enrolled_at, "enrollment")
    expected = expected_days * _DAY
    elapsed = min(max(now - started_at, timedelta(0)), expected)
    expected_us, elapsed_us = _microseconds(expected), _microseconds(elapsed)
    due = elapsed_us * required // expected_us
    if done >= due:
        return None
    return BehindPace(
        required_completed=done,
        required_lessons=required,
        expected_lessons=due,
        completed_percent=_percent(done, required),
        expected_percent=_percent(elapsed_us, expected_us),
        started_at=started_at,
        start=start,
        expected_days=expected_days,
    )


def _microseconds(span: timedelta) -> int:
    return (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds


def _percent(part: int, whole: int) -> float:
    """One decimal, rounded down: a share shown as 50.0 is never really 49.96."""
    return math.floor(1000 * part / whole) / 10 if whole else 0.0


def learners_at_risk(
    facts: CourseFacts,
    now: datetime,
    *,
    inactive_days: int = DEFAULT_INACTIVE_DAYS,
    expected_days: int = DEFAULT_EXPECTED_DAYS,
    reason: RiskReason | None = None,
) -> list[AtRiskLearner]:
    """Every learner with at least one reason (only those with ``reason`` when given), in user-id order."""
    check_days(inactive_days, "inactive_days")
    check_days(expected_days, "expected_days")
    grades = facts.grades or {}
    standings = facts.standings or {}
    found: list[AtRiskLearner] = []
    for learner in sorted(facts.learners, key=lambda x: x.user_id):
        lost = [
            item_lost
            for item in facts.items
            if (item_lost := lost_item(item, standings.get((learner.user_id, item.quiz_id)), now)) is not None
        ]
        candidate = AtRiskLearner(
            learner.user_id,
            learner.display_name,
            learner.email,
            learner.enrolled_at,
            learner.cohort_id,
            inactive=inactivity(learner, now, inactive_days),
            failing=failing(grades.get(learner.user_id), facts.min_grade_percent, lost),
            behind_pace=behind_pace(learner, now, expected_days),
        )
        reasons = candidate.reasons
        if reasons and (reason is None or reason in reasons):
            found.append(candidate)
    return found
