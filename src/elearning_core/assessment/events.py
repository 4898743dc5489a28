"""Assessment events. Attempt events have the attempt as aggregate and name the quiz, course and
learner, so progress, notifications and analytics never read the attempt back."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict

from elearning_core.shared.events import DomainEvent


class QuizPublished(DomainEvent):
    type = "assessment.quiz_published.v1"
    course_id: uuid.UUID
    title: str


class AttemptStarted(DomainEvent):
    type = "assessment.attempt_started.v1"
    quiz_id: uuid.UUID
    course_id: uuid.UUID
    user_id: uuid.UUID
    number: int


class SubmittedItem(BaseModel):
    """One question of a submitted attempt as answered and auto-scored (what analytics' "answered" reads)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question_id: uuid.UUID
    version: int
    """The question version the attempt showed."""
    kind: str
    """The question kind (``single_choice``, ``essay``, ...)."""
    points: float
    answered: bool
    response: dict[str, Any] | None
    """The learner's (checked) response; None when unanswered, and for essays (their text stays in the attempt)."""
    score: float | None
    """Points earned; None while the item waits for a person's grade."""


class AttemptSubmitted(DomainEvent):
    type = "assessment.attempt_submitted.v1"
    quiz_id: uuid.UUID
    course_id: uuid.UUID
    user_id: uuid.UUID
    number: int
    reason: str  # "learner" or "time_up"
    late_seconds: int
    needs_grading: bool
    items: list[SubmittedItem] = []
    """Each question as answered, in the attempt's order (added later with a default, so older messages still
    decode: those carry no items)."""


class AttemptGraded(DomainEvent):
    """The attempt has its grade: when submitted with nothing to grade by hand, or when the last
    manual item is graded."""

    type = "assessment.attempt_graded.v1"
    quiz_id: uuid.UUID
    course_id: uuid.UUID
    user_id: uuid.UUID
    number: int
    score: float
    max_score: float
    percent: float
    passed: bool | None


class AttemptRegraded(DomainEvent):
    """A graded attempt's grade changed: a corrected answer key, or a changed manual grade."""

    type = "assessment.attempt_regraded.v1"
    quiz_id: uuid.UUID
    course_id: uuid.UUID
    user_id: uuid.UUID
    number: int
    previous_percent: float | None
    percent: float
    passed: bool | None
    reason: str  # "key_fix" or "manual"
