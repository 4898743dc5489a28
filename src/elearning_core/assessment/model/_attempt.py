"""Attempts: one learner's go at a quiz, from start to a grade.

States: ``in_progress`` -> ``submitted`` (a person must still grade an item)
-> ``graded``; or ``in_progress`` -> ``graded`` at once when every item scores
itself. A graded attempt goes back to ``submitted`` never; manual grades and
regrades change its score in place (and record events).

Exactly once: ``submit`` on an attempt that is no longer in progress changes
nothing and says so, so concurrent or repeated submits (double clicks,
retries) give one submission, one set of events, one grade. The repository
locks the attempt row for the submit, so this check runs on the committed
state.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elearning_core.shared.events import DomainEvent


class AttemptStatus(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    GRADED = "graded"


class SubmitReason(enum.StrEnum):
    LEARNER = "learner"
    TIME_UP = "time_up"
    """Closed by the system after the time limit (plus grace) or the window's close passed."""


@dataclass(slots=True, eq=False)
class AttemptItem:
    """One question of an attempt, as shown, answered and scored."""

    position: int
    question_id: uuid.UUID
    version: int
    """The version the attempt showed (never changes)."""
    key_version: int
    """The version whose answer key scores it (a regrade moves it to the key fix)."""
    points: float
    """What the item is worth in this attempt."""
    order: tuple[str, ...]
    """The shuffled ids the learner saw (options, ordering items, matching choices); () when none."""
    response: dict[str, Any] | None = None
    saved_at: datetime | None = None
    fraction: float | None = None
    score: float | None = None
    needs_grading: bool = False
    grading_note: str | None = None
    rubric: dict[str, int] | None = None
    """An essay's chosen level index per rubric criterion."""
    feedback: str | None = None
    graded_by: uuid.UUID | None = None
    graded_at: datetime | None = None


@dataclass(slots=True, eq=False)
class Attempt:
    id: uuid.UUID
    quiz_id: uuid.UUID
    course_id: uuid.UUID
    user_id: uuid.UUID
    number: int
    seed: int
    status: AttemptStatus
    started_at: datetime
    time_ends_at: datetime | None
    """When the time limit (with the learner's extra time, capped by the close) ends; grace comes on top."""
    grace_seconds: int
    items: list[AttemptItem]
    submitted_at: datetime | None = None
    submit_reason: SubmitReason | None = None
    late_seconds: int = 0
    """How long after the (extended) due date the work was submitted; 0 when on time."""
    score: float | None = None
    """Raw points, before any late deduction."""
    max_score: float = 0.0
    penalty_percent: float = 0.0
    percent: float | None = None
    """The attempt's grade in percent, after the late deduction."""
    passed: bool | None = None
    feedback: str | None = None
    graded_at: datetime | None = None
    version: int = 1
    """Optimistic concurrency counter, bumped on every save."""
    _events: list[DomainEvent] = field(default_factory=list, repr=False)

    @property
    def pending_events(self) -> list[DomainEvent]:
        return list(self._events)

    def pull_events(self) -> list[DomainEvent]:
        events, self._events = self._events, []
        return events
