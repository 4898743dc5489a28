"""Quizzes: which questions, drawn how, and the rules of taking them.

A quiz is a list of slots: a fixed question, or a random draw of ``count``
questions from the course's bank carrying all of a slot's tags. The draw and
every shuffle derive from the attempt's seed alone (``random.Random`` seeded
per purpose), so an attempt can be rebuilt and audited from its seed and the
bank as it was; the attempt stores what was drawn anyway, so later bank edits
never change it.

Timing. ``opens_at`` .. ``closes_at`` is when attempts may be started and
work saved; ``due_at`` is when work stops being on time. A per-learner
``Extension`` may move ``due_at``/``closes_at`` and add attempts or time. A
time limit ends an attempt at ``started_at + limit`` (never after the
window's close); ``grace_seconds`` more are allowed for the last save and
the submit to arrive, and such a submit is not counted as over time.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from elearning_core.shared.events import DomainEvent

TITLE_MAX = 200
SLOTS_MAX = 200
DRAW_MAX = 100
CATEGORY_MAX = 60


class QuizStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class GradingPolicy(enum.StrEnum):
    """Which of a learner's graded attempts make the quiz's grade."""

    HIGHEST = "highest"
    LATEST = "latest"
    AVERAGE = "average"


class LateUnit(enum.StrEnum):
    HOUR = "hour"
    DAY = "day"


class AnswerReview(enum.StrEnum):
    """When a learner may see the answer key and per-question feedback of a submitted attempt."""

    NEVER = "never"
    AFTER_SUBMIT = "after_submit"
    AFTER_DUE = "after_due"
    """After the learner's (extended) due date, or the close when there is no due date."""


@dataclass(frozen=True, slots=True)
class LatePolicy:
    """Work submitted after the due date loses ``deduction_percent`` points of percent per started
    ``per`` (hour or day), never going below ``floor_percent`` because of the deduction (a grade under
    the floor on its merits stays). ``missing_grade_percent``: the grade of a learner with no submitted
    attempt once the quiz has closed (None: left blank, and not counted)."""

    deduction_percent: float = 0.0
    per: LateUnit = LateUnit.DAY
    floor_percent: float = 0.0
    missing_grade_percent: float | None = None


@dataclass(frozen=True, slots=True)
class FixedSlot:
    question_id: uuid.UUID
    points: float | None = None
    """Overrides the question's points in this quiz (essays keep their rubric's points)."""


@dataclass(frozen=True, slots=True)
class DrawSlot:
    tags: tuple[str, ...]
    count: int
    points: float | None = None


Slot = FixedSlot | DrawSlot


@dataclass(frozen=True, slots=True)
class Extension:
    """One learner's accommodation on a quiz."""

    quiz_id: uuid.UUID
    user_id: uuid.UUID
    due_at: datetime | None = None
    closes_at: datetime | None = None
    extra_attempts: int = 0
    extra_time_seconds: int = 0


@dataclass(frozen=True, slots=True)
class Window:
    """The rules as they apply to one learner (the quiz's, with their extension)."""

    opens_at: datetime | None
    due_at: datetime | None
    closes_at: datetime | None
    time_limit_seconds: int | None
    grace_seconds: int
    max_attempts: int | None


@dataclass(slots=True, eq=False)
class Quiz:
    id: uuid.UUID
    course_id: uuid.UUID
    title: str
    description: str
    category: str
    """The gradebook category (weighted by the course's grading scheme)."""
    status: QuizStatus
    slots: tuple[Slot, ...]
    shuffle_questions: bool
    shuffle_options: bool
    time_limit_seconds: int | None
    grace_seconds: int
    max_attempts: int | None
    opens_at: datetime | None
    due_at: datetime | None
    closes_at: datetime | None
    late_policy: LatePolicy
    grading_policy: GradingPolicy
    pass_mark_percent: float | None
    answer_review: AnswerReview
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None
    _events: list[DomainEvent] = field(default_factory=list, repr=False)

    @property
    def pending_events(self) -> list[DomainEvent]:
        return list(self._events)

    def pull_events(self) -> list[DomainEvent]:
        events, self._events = self._events, []
        return events
