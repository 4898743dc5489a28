"""Enrollment events: the aggregate is the enrollment (``aggregate_id`` = enrollment id).

Every event names the course and the learner, so a consumer (progress,
notifications, analytics) never has to read the enrollment back.
"""

from __future__ import annotations

import uuid

from elearning_core.shared.events import DomainEvent


class Enrolled(DomainEvent):
    type = "enrollment.enrolled.v1"
    course_id: uuid.UUID
    user_id: uuid.UUID
    cohort_id: uuid.UUID | None
    source: str  # "self" or "staff"


class Unenrolled(DomainEvent):
    type = "enrollment.unenrolled.v1"
    course_id: uuid.UUID
    user_id: uuid.UUID
    by: str  # "self" or "staff"


class CohortChanged(DomainEvent):
    type = "enrollment.cohort_changed.v1"
    course_id: uuid.UUID
    user_id: uuid.UUID
    from_cohort_id: uuid.UUID | None
    to_cohort_id: uuid.UUID | None


class EnrollmentCompleted(DomainEvent):
    type = "enrollment.completed.v1"
    course_id: uuid.UUID
    user_id: uuid.UUID


class EnrollmentReopened(DomainEvent):
    """A completed enrollment is active again: staff reset the learner's progress in the course."""

    type = "enrollment.reopened.v1"
    course_id: uuid.UUID
    user_id: uuid.UUID
