"""Enrollment read models and the query port (listings skip the aggregate)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from elearning_core.enrollment.model import Cohort, Enrollment, EnrollmentSource, EnrollmentStatus


@dataclass(frozen=True, slots=True)
class EnrollmentView:
    id: uuid.UUID
    course_id: uuid.UUID
    user_id: uuid.UUID
    cohort_id: uuid.UUID | None
    status: EnrollmentStatus
    source: EnrollmentSource
    enrolled_at: datetime
    completed_at: datetime | None
    unenrolled_at: datetime | None

    @classmethod
    def of(cls, enrollment: Enrollment) -> EnrollmentView:
        e = enrollment
        return cls(
            e.id,
            e.course_id,
            e.user_id,
            e.cohort_id,
            e.status,
            e.source,
            e.enrolled_at,
            e.completed_at,
            e.unenrolled_at,
        )


@dataclass(frozen=True, slots=True)
class LearnerEnrollmentView:
    """One of a learner's enrollments with what a "my courses" page shows of the course."""

    enrollment: EnrollmentView
    course_title: str
    course_slug: str


# Keyset position in a learner's enrollments, newest first: (enrolled_at, id).
LearnerEnrollmentKey = tuple[datetime, uuid.UUID]


@dataclass(frozen=True, slots=True)
class CohortView:
    id: uuid.UUID
    course_id: uuid.UUID
    name: str
    capacity: int | None
    starts_at: datetime | None
    created_at: datetime
    active: int
    """Active enrollments in the cohort (seats taken)."""

    @classmethod
    def of(cls, cohort: Cohort, active: int) -> CohortView:
        return cls(
            cohort.id, cohort.course_id, cohort.name, cohort.capacity, cohort.starts_at, cohort.created_at, active
        )


@dataclass(frozen=True, slots=True)
class EnrollmentFilter:
    status: EnrollmentStatus | None = None
    cohort_id: uuid.UUID | None = None


class EnrollmentQueries(Protocol):
    async def list_enrollments(
        self, course_id: uuid.UUID, where: EnrollmentFilter, after: uuid.UUID | None, limit: int
    ) -> list[EnrollmentView]:
        """The course's enrollments in id order, after the key ``after``."""
        ...

    async def enrollments_of(
        self, user_id: uuid.UUID, after: LearnerEnrollmentKey | None, limit: int
    ) -> list[LearnerEnrollmentView]:
        """The learner's enrollments (any status, in courses that still exist), newest first
        (``enrolled_at``, then id, descending), after the key ``after``."""
        ...

    async def is_enrolled(self, user_id: uuid.UUID, course_id: uuid.UUID) -> bool:
        """Whether the learner may follow the course: an active or completed enrollment."""
        ...

    async def active_counts(self, course_id: uuid.UUID) -> tuple[int, dict[uuid.UUID, int]]:
        """Active enrollments of the course, and per cohort."""
        ...
