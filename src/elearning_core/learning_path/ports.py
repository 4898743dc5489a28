"""What the learning path module needs from outside: its storage, and a narrow read of the course module."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from elearning_core.learning_path.model import CourseOutcome, LearningPath, PathEnrollment
from elearning_core.shared.ports import UnitOfWork


class LearningPathRepository(Protocol):
    """Paths are aggregates: loaded and added ones are written when the unit of work commits."""

    async def get(self, path_id: uuid.UUID) -> LearningPath | None: ...

    async def by_slug(self, slug: str) -> LearningPath | None: ...

    async def get_many(self, path_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, LearningPath]:
        """The paths among ``path_ids`` that exist, in one read (a learner's list of paths)."""
        ...

    def add(self, path: LearningPath) -> None: ...

    async def slug_taken(self, slug: str, *, other_than: uuid.UUID | None = None) -> bool: ...

    async def remove(self, path_id: uuid.UUID) -> None:
        """Delete a path (a draft: nobody is enrolled in it)."""
        ...


class PathEnrollmentRepository(Protocol):
    async def get(self, enrollment_id: uuid.UUID) -> PathEnrollment | None: ...

    async def find(self, path_id: uuid.UUID, user_id: uuid.UUID) -> PathEnrollment | None:
        """The learner's enrollment in the path (there is at most one)."""
        ...

    def add(self, enrollment: PathEnrollment) -> None: ...

    async def of_learner(self, user_id: uuid.UUID) -> builtins.list[PathEnrollment]:
        """Every path enrollment of the learner (a handful), their rows locked until the unit of work ends.

        The lock serialises the projection per learner: two completions of one learner handled at once
        (two consumers, two partitions) would otherwise each miss the other's uncommitted fact, and the
        path they complete together would never be completed. PostgreSQL: ``FOR UPDATE``; SQLite
        serialises write transactions already.
        """
        ...

    async def save_outcome(self, outcome: CourseOutcome) -> None:
        """Record (or replace) what became of enrolling the path's learner into one course."""
        ...

    async def outcomes(self, enrollment_ids: Collection[uuid.UUID]) -> builtins.list[CourseOutcome]: ...


class CourseCompletionRepository(Protocol):
    """The module's projection of course completions (``progress.course_completed.v1`` less resets):
    the raw facts path progress is derived from, kept so the derived state can be recomputed."""

    async def record(self, user_id: uuid.UUID, course_id: uuid.UUID, at: datetime) -> bool:
        """Record the completion; False when it was already recorded."""
        ...

    async def forget(self, user_id: uuid.UUID, course_id: uuid.UUID) -> None: ...

    async def completed(self, user_id: uuid.UUID, course_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        """The ids among ``course_ids`` the learner has completed."""
        ...


class LearningPathUnitOfWork(UnitOfWork, Protocol):
    learning_paths: LearningPathRepository
    path_enrollments: PathEnrollmentRepository
    course_completions: CourseCompletionRepository


@dataclass(frozen=True, slots=True)
class CourseBrief:
    id: uuid.UUID
    slug: str
    title: str
    published: bool


class PathCourses(Protocol):
    """A narrow read of the course module: which courses exist, with their title and whether published."""

    async def courses(self, course_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, CourseBrief]:
        """The existing courses among ``course_ids`` (missing ids are absent)."""
        ...
