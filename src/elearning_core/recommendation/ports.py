"""What the recommendation module needs from outside: the training data, its read model, the learner's
history, and whether a learner can enroll in a course now (the enrollment and entitlement rules)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from elearning_core.enrollment.model import EnrollmentPolicy
from elearning_core.recommendation.model import Document, Interaction, Model


class TrainingSource(Protocol):
    async def interactions(self) -> Sequence[Interaction[uuid.UUID]]:
        """Every enrollment (active, completed or unenrolled: each says the learner chose the course) in a
        published course, completions marked."""
        ...

    async def documents(self) -> Sequence[Document[uuid.UUID]]:
        """The published courses' titles, summaries, descriptions and tags."""
        ...


class ModelStore(Protocol):
    """The read model: per course its neighbours of each kind, and the popular courses."""

    async def replace(self, model: Model[uuid.UUID]) -> int:
        """Swap the stored model for ``model`` in one transaction (readers see the old or the new one); the
        new version."""
        ...

    async def load(self) -> Model[uuid.UUID]:
        """The whole stored model (empty before the first training)."""
        ...

    async def version(self) -> int:
        """Bumped by every ``replace``; 0 before the first training."""
        ...


@dataclass(frozen=True, slots=True)
class Taken:
    """One course of a learner's history."""

    course_id: uuid.UUID
    at: datetime
    completed: bool
    title: str


class LearnerHistory(Protocol):
    async def courses_of(self, user_id: uuid.UUID) -> Sequence[Taken]:
        """The learner's enrollments of any status, oldest first, with the courses' titles."""
        ...


class Enrollability(Protocol):
    """Answered by the enrollment rules (published, self-enrollment open, window, seats, prerequisites)
    and the entitlement check (a paid course needs access)."""

    async def enrollable(
        self, user_id: uuid.UUID, course_ids: Collection[uuid.UUID], at: datetime
    ) -> dict[uuid.UUID, str]:
        """The ids among ``course_ids`` the learner could enroll in by themself at ``at``, with their titles."""
        ...


class PublishedCourses(Protocol):
    async def published(self, course_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The ids among ``course_ids`` of published courses, with their titles."""
        ...


@dataclass(frozen=True, slots=True)
class CourseRule:
    policy: EnrollmentPolicy
    """The enrollment module's rules (the default policy when none is stored)."""
    seats_taken: int
    """Active enrollments and live checkout holds (counted only for a course with a capacity)."""
    paid: bool
    """Sold (an offer marked paid): only then is the entitlement check asked."""
    title: str


class CourseRules(Protocol):
    """What the ``EnrollmentRules`` check reads of many courses at once."""

    async def rules(self, course_ids: Collection[uuid.UUID], at: datetime) -> dict[uuid.UUID, CourseRule]:
        """The published ones among ``course_ids``, each with its rule."""
        ...
