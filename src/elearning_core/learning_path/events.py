"""Learning path events: the ``elearning.learning_path`` topic's contract.

Path definition events have the path as aggregate; a learner's events have
their path enrollment as aggregate and name the path and the learner.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from elearning_core.shared.events import DomainEvent


class PathPublished(DomainEvent):
    type: ClassVar[str] = "learning_path.published.v1"
    slug: str
    title: str
    course_ids: list[uuid.UUID]


class PathEnrolled(DomainEvent):
    """The learner enrolled in the path; ``course_ids`` are the courses to enroll them into now."""

    type: ClassVar[str] = "learning_path.enrolled.v1"
    path_id: uuid.UUID
    user_id: uuid.UUID
    course_ids: list[uuid.UUID]


class PathCompleted(DomainEvent):
    type: ClassVar[str] = "learning_path.completed.v1"
    path_id: uuid.UUID
    user_id: uuid.UUID


class PathCourseEnrollmentRefused(DomainEvent):
    """Enrolling the path's learner into one of its courses was refused by a rule of that course.

    ``reason`` is the enrollment module's refusal reason (``course_full``, ``enrollment_closed``,
    ``prerequisites_not_met``, ...) or ``course_unavailable`` when the course cannot be enrolled in at all.
    """

    type: ClassVar[str] = "learning_path.course_enrollment_refused.v1"
    path_id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID
    reason: str
    detail: str
