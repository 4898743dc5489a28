"""What the enrollment module needs from outside: its storage, and narrow reads of other modules.

The capacity rule rests on one promise of ``EnrollmentSettingsRepository.lock``:
the course's settings row is locked until the unit of work ends, so every use
case that may take a seat in a course runs one after the other for that
course, and counts the seats after the previous one committed.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from elearning_core.enrollment.model import Cohort, Enrollment, EnrollmentPolicy
from elearning_core.shared.ports import UnitOfWork


class EnrollmentSettingsRepository(Protocol):
    async def get(self, course_id: uuid.UUID) -> EnrollmentPolicy:
        """The stored policy, or the default one when the course has none."""
        ...

    async def lock(self, course_id: uuid.UUID) -> EnrollmentPolicy:
        """The policy, its row locked until the unit of work ends (created with the defaults if missing).

        PostgreSQL: ``SELECT ... FOR UPDATE``; SQLite serialises write transactions already.
        """
        ...

    async def save(self, policy: EnrollmentPolicy) -> None: ...


class CohortRepository(Protocol):
    async def get(self, cohort_id: uuid.UUID) -> Cohort | None: ...

    async def lock(self, cohort_id: uuid.UUID) -> Cohort | None:
        """The cohort, its row locked until the unit of work ends."""
        ...

    async def name_taken(self, course_id: uuid.UUID, name: str, *, other_than: uuid.UUID | None = None) -> bool: ...

    async def add(self, cohort: Cohort) -> None: ...

    async def save(self, cohort: Cohort) -> None: ...

    async def remove(self, cohort_id: uuid.UUID) -> None:
        """Delete the cohort; enrollments that named it (none active) keep no cohort."""
        ...

    async def list(self, course_id: uuid.UUID) -> builtins.list[Cohort]: ...


class EnrollmentRepository(Protocol):
    """Enrollments are aggregates: loaded and added ones are written when the unit of work commits."""

    async def get(self, enrollment_id: uuid.UUID) -> Enrollment | None: ...

    async def find(self, course_id: uuid.UUID, user_id: uuid.UUID) -> Enrollment | None:
        """The learner's enrollment in the course, whatever its status (there is at most one)."""
        ...

    def add(self, enrollment: Enrollment) -> None: ...

    async def count_active(self, course_id: uuid.UUID, cohort_id: uuid.UUID | None = None) -> int:
        """Active enrollments of the course (of one cohort when given), as committed plus this unit's own."""
        ...


class SeatHoldRepository(Protocol):
    """Seats held for a while (a checkout waiting for its payment): they count against the course's capacity
    until they expire or are released, under the same course lock as enrollments."""

    async def add(self, course_id: uuid.UUID, reference: str, user_id: uuid.UUID, until: datetime) -> None:
        """Hold a seat for ``reference`` (an order) until ``until``; holding again keeps the first hold."""
        ...

    async def release(self, reference: str) -> bool:
        """Give the seat back; False when there was no hold (released or expired before)."""
        ...

    async def count_live(self, course_id: uuid.UUID, at: datetime, *, other_than: str | None = None) -> int:
        """Holds of the course not expired at ``at`` (but the hold ``other_than``, which is becoming an enrollment)."""
        ...


class EnrollmentUnitOfWork(UnitOfWork, Protocol):
    enrollment_settings: EnrollmentSettingsRepository
    cohorts: CohortRepository
    enrollments: EnrollmentRepository
    seat_holds: SeatHoldRepository


class CourseLookup(Protocol):
    """A narrow read of the course module: what enrollment needs to know about a course."""

    async def published(self, course_id: uuid.UUID) -> bool:
        """Whether the course exists and is published."""
        ...

    async def id_by_slug(self, slug: str) -> uuid.UUID | None: ...


class LearnerLookup(Protocol):
    """A narrow read of the identity module."""

    async def active(self, user_id: uuid.UUID) -> bool:
        """Whether the account exists and is active (neither suspended nor deleted)."""
        ...


class PrerequisiteChecker(Protocol):
    """Which courses a learner has completed: answered by the progress module (its course completions)."""

    async def completed(self, user_id: uuid.UUID, course_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        """The ids among ``course_ids`` the learner has completed."""
        ...
