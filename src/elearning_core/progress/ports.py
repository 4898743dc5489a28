"""What the progress module needs from outside: its store of facts and derived state, and narrow reads."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol

from elearning_core.progress.model import (
    CompletionRules,
    CourseProgress,
    Interval,
    LastActivity,
    LearnerFactsInCourse,
    Override,
    QuizOutcome,
    Watch,
    WatchKey,
)
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ports import UnitOfWork
from elearning_core.video.ports import PlaybackPositionRepository

Pair = tuple[uuid.UUID, uuid.UUID]
"""(course id, user id): one learner in one course."""


class ProgressRepository(Protocol):
    """One learner's facts and derived state per course, the courses' rules and the audit trail.

    Fact writes are idempotent (a set union, a max): writing the same fact twice changes nothing.
    """

    # facts
    async def mark_viewed(
        self, course_id: uuid.UUID, user_id: uuid.UUID, lesson_id: uuid.UUID, at: datetime
    ) -> None: ...

    async def mark_done(self, course_id: uuid.UUID, user_id: uuid.UUID, lesson_id: uuid.UUID, at: datetime) -> None: ...

    async def add_watched(
        self,
        course_id: uuid.UUID,
        user_id: uuid.UUID,
        video_id: uuid.UUID,
        interval: Interval,
        duration: float | None,
        at: datetime,
    ) -> float:
        """Merge ``interval`` into the learner's union for the video; the seconds covered afterwards."""
        ...

    async def add_watched_many(self, watches: Sequence[Watch]) -> dict[WatchKey, float]:
        """``add_watched`` for a group of heartbeats in one go (several may share a union): the seconds
        covered afterwards per union touched."""
        ...

    async def record_quiz(
        self, course_id: uuid.UUID, user_id: uuid.UUID, assessment_id: uuid.UUID, outcome: QuizOutcome, at: datetime
    ) -> None:
        """Merge ``outcome`` (best percent, passed or submitted once means so for good)."""
        ...

    async def touch(self, course_id: uuid.UUID, user_id: uuid.UUID, last: LastActivity) -> None:
        """Remember the learner's last lesson (and video position) in the course; a later one wins."""
        ...

    async def touch_many(self, entries: Sequence[tuple[uuid.UUID, uuid.UUID, LastActivity]]) -> None:
        """``touch`` for a group of (course id, user id, last activity) in one go; per learner, the latest wins."""
        ...

    async def facts(self, course_id: uuid.UUID, user_id: uuid.UUID) -> LearnerFactsInCourse: ...

    async def clear_facts(self, course_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """A reset: forget the learner's facts and derived state in the course (the audit trail stays)."""
        ...

    # audit
    async def add_audit(self, course_id: uuid.UUID, user_id: uuid.UUID, entry: Override) -> None: ...

    async def audit(self, course_id: uuid.UUID, user_id: uuid.UUID) -> list[Override]:
        """In time order."""
        ...

    # rules
    async def rules(self, course_id: uuid.UUID) -> CompletionRules:
        """The course's rules, or the defaults."""
        ...

    async def save_rules(self, rules: CompletionRules) -> None: ...

    # derived
    async def progress(self, course_id: uuid.UUID, user_id: uuid.UUID) -> CourseProgress | None: ...

    async def save_progress(self, progress: CourseProgress) -> None: ...

    # set-wise: a projection batch or a rebuild chunk reads and writes many learners in a few statements

    async def facts_of(self, pairs: Collection[Pair]) -> dict[Pair, LearnerFactsInCourse]:
        """``facts`` of every pair (empty facts for a pair with none)."""
        ...

    async def progress_of(self, pairs: Collection[Pair]) -> dict[Pair, CourseProgress]:
        """``progress`` of every pair that has a stored state (the others are absent)."""
        ...

    async def audits_of(self, pairs: Collection[Pair]) -> dict[Pair, list[Override]]:
        """``audit`` of every pair that has entries (in time order; the others are absent)."""
        ...

    async def save_progress_many(self, states: Sequence[CourseProgress]) -> None:
        """``save_progress`` of each (at most one state per pair)."""
        ...

    async def learners(self, course_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
        """Learners with facts, progress or an enrollment in the course, in id order (a page)."""
        ...

    async def courses(self, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
        """Courses with any learner activity or enrollment, in id order (a page): what a rebuild walks."""
        ...

    def record(self, events: Sequence[DomainEvent]) -> None:
        """Events to write to the outbox at commit."""
        ...


class ProgressUnitOfWork(UnitOfWork, Protocol):
    progress: ProgressRepository
    playback_positions: PlaybackPositionRepository


class CourseGrades(Protocol):
    """A narrow read of the assessment gradebook."""

    async def course_grade(self, course_id: uuid.UUID, user_id: uuid.UUID) -> float | None:
        """The learner's course total in percent (None with no grade)."""
        ...


class EnrolledCourses(Protocol):
    """A narrow read of the enrollment module: what gating and ``/me/progress`` need."""

    async def enrolled_since(self, user_id: uuid.UUID, course_id: uuid.UUID) -> datetime | None: ...
