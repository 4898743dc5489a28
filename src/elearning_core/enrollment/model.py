"""Enrollments, cohorts and each course's enrollment policy, with the rules on them.

One enrollment row per (course, learner), for ever: unenrolling sets its
status, enrolling again reactivates the same row. So "at most one active
enrollment per learner and course" is a plain unique key on every backend,
and the history of comings and goings lives in the events.

Capacity counts *active* enrollments only: a learner who completed the
course or left it gives the seat back. The check itself needs the course's
policy row locked (see ``EnrollmentSettingsRepository.lock``); the model
only says whether one more seat fits.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elearning_core.enrollment import events as ev
from elearning_core.shared.errors import Conflict, FieldError, ValidationFailed
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ids import new_uuid

COHORT_NAME_MAX = 100
PREREQUISITES_MAX = 20
CAPACITY_MAX = 1_000_000


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{name} {message}", [FieldError(name, message)])


class EnrollmentStatus(enum.StrEnum):
    ACTIVE = "active"
    UNENROLLED = "unenrolled"
    COMPLETED = "completed"


class EnrollmentSource(enum.StrEnum):
    SELF = "self"
    STAFF = "staff"
    PURCHASED = "purchased"
    """A paid checkout: the seat held for the order becomes the enrollment."""


class RefusalReason(enum.StrEnum):
    """Why an enrollment was refused; the HTTP problem type is the value with dashes."""

    COURSE_FULL = "course_full"
    COHORT_FULL = "cohort_full"
    CLOSED = "enrollment_closed"
    NOT_YET_OPEN = "enrollment_not_open_yet"
    WINDOW_ENDED = "enrollment_window_ended"
    PREREQUISITES = "prerequisites_not_met"
    # A paid course without access (the entitlement check's refusals, ``elearning_core.entitlement.model.Refusal``).
    PAYMENT_REQUIRED = "payment_required"
    SUBSCRIPTION_PAST_DUE = "subscription_past_due"
    SUBSCRIPTION_CANCELED = "subscription_canceled"
    REFUNDED = "refunded"
    SEAT_REVOKED = "seat_revoked"
    ENTITLEMENT_EXPIRED = "entitlement_expired"


class EnrollmentRefused(Conflict):
    """A rule of the course refused the enrollment (a 409 whose type names the rule)."""

    def __init__(self, reason: RefusalReason, detail: str, *, missing: Iterable[uuid.UUID] = ()) -> None:
        super().__init__(detail)
        self.reason = reason
        self.missing = sorted(missing)


def check_capacity(value: int | None, name: str = "capacity") -> int | None:
    if value is not None and not 0 <= value <= CAPACITY_MAX:
        raise _invalid(name, f"must be between 0 and {CAPACITY_MAX}, or null for no limit")
    return value


def check_cohort_name(value: str) -> str:
    name = " ".join(value.split())
    if not name or len(name) > COHORT_NAME_MAX:
        raise _invalid("name", f"must be 1 to {COHORT_NAME_MAX} characters")
    return name


@dataclass(frozen=True, slots=True)
class EnrollmentPolicy:
    """A course's enrollment rules. A course without stored settings has ``EnrollmentPolicy.default``:
    open to self-enrollment, no capacity, no window, no prerequisites."""

    course_id: uuid.UUID
    self_enrollment: bool = True
    capacity: int | None = None
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    prerequisites: tuple[uuid.UUID, ...] = ()

    @classmethod
    def default(cls, course_id: uuid.UUID) -> EnrollmentPolicy:
        return cls(course_id)

    @classmethod
    def make(
        cls,
        course_id: uuid.UUID,
        *,
        self_enrollment: bool,
        capacity: int | None,
        opens_at: datetime | None,
        closes_at: datetime | None,
        prerequisites: Iterable[uuid.UUID],
    ) -> EnrollmentPolicy:
        """A policy from untrusted values, with field errors."""
        check_capacity(capacity)
        for name, at in (("opens_at", opens_at), ("closes_at", closes_at)):
            if at is not None and at.tzinfo is None:
                raise _invalid(name, "must carry a time zone (e.g. 2026-09-01T00:00:00Z)")
        if opens_at is not None and closes_at is not None and closes_at <= opens_at:
            raise _invalid("closes_at", "must be after opens_at")
        required = tuple(dict.fromkeys(prerequisites))
        if course_id in required:
            raise _invalid("prerequisites", "a course cannot require itself")
        if len(required) > PREREQUISITES_MAX:
            raise _invalid("prerequisites", f"at most {PREREQUISITES_MAX} courses")
        return cls(course_id, self_enrollment, capacity, opens_at, closes_at, required)

    def check_self_enrollment(self, at: datetime) -> None:
        """Raise EnrollmentRefused unless a learner may enroll on their own at ``at`` (seats aside)."""
        if not self.self_enrollment:
            raise EnrollmentRefused(
                RefusalReason.CLOSED, "this course is not open for self-enrollment; ask its staff to enroll you"
            )
        if self.opens_at is not None and at < self.opens_at:
            raise EnrollmentRefused(RefusalReason.NOT_YET_OPEN, f"enrollment opens at {self.opens_at.isoformat()}")
        if self.closes_at is not None and at >= self.closes_at:
            raise EnrollmentRefused(RefusalReason.WINDOW_ENDED, f"enrollment closed at {self.closes_at.isoformat()}")

    def check_prerequisites(self, completed: Iterable[uuid.UUID]) -> None:
        missing = set(self.prerequisites) - set(completed)
        if missing:
            names = ", ".join(str(m) for m in sorted(missing))
            raise EnrollmentRefused(
                RefusalReason.PREREQUISITES,
                f"complete the required course(s) first: {names}",
                missing=missing,
            )

    def check_seat(self, active: int) -> None:
        if self.capacity is not None and active >= self.capacity:
            raise EnrollmentRefused(RefusalReason.COURSE_FULL, f"the course is full ({self.capacity} seats)")


@dataclass(slots=True)
class Cohort:
    """A group of a course's learners who start together; optionally with seats of its own."""

    id: uuid.UUID
    course_id: uuid.UUID
    name: str
    capacity: int | None
    starts_at: datetime | None
    created_at: datetime

    @classmethod
    def create(
        cls, course_id: uuid.UUID, *, name: str, capacity: int | None, starts_at: datetime | None, at: datetime
    ) -> Cohort:
        return cls(new_uuid(), course_id, check_cohort_name(name), check_capacity(capacity), starts_at, at)

    def update(self, **changes: Any) -> None:
        if "name" in changes:
            self.name = check_cohort_name(changes["name"])
        if "capacity" in changes:
            self.capacity = check_capacity(changes["capacity"])
        if "starts_at" in changes:
            self.starts_at = changes["starts_at"]

    def check_seat(self, active: int) -> None:
        if self.capacity is not None and active >= self.capacity:
            raise EnrollmentRefused(
                RefusalReason.COHORT_FULL, f"the cohort {self.name!r} is full ({self.capacity} seats)"
            )


@dataclass(slots=True, eq=False)
class Enrollment:
    """One learner in one course: the aggregate whose changes are the module's events."""

    id: uuid.UUID
    course_id: uuid.UUID
    user_id: uuid.UUID
    cohort_id: uuid.UUID | None
    status: EnrollmentStatus
    source: EnrollmentSource
    enrolled_at: datetime
    completed_at: datetime | None = None
    unenrolled_at: datetime | None = None
    _events: list[DomainEvent] = field(default_factory=list, repr=False)

    @classmethod
    def enroll(
        cls,
        course_id: uuid.UUID,
        user_id: uuid.UUID,
        *,
        cohort_id: uuid.UUID | None,
        source: EnrollmentSource,
        at: datetime,
    ) -> Enrollment:
        enrollment = cls(new_uuid(), course_id, user_id, cohort_id, EnrollmentStatus.ACTIVE, source, at)
        enrollment._enrolled(at)
        return enrollment

    @property
    def is_active(self) -> bool:
        return self.status is EnrollmentStatus.ACTIVE

    @property
    def grants_access(self) -> bool:
        """Whether the learner may see the course's content (active or completed)."""
        return self.status is not EnrollmentStatus.UNENROLLED

    def _record(self, event_type: type[DomainEvent], at: datetime, **data: Any) -> None:
        fields = {"course_id": self.course_id, "user_id": self.user_id, **data}
        self._events.append(event_type(occurred_at=at, aggregate_id=self.id, **fields))

    def _enrolled(self, at: datetime) -> None:
        self._record(ev.Enrolled, at, cohort_id=self.cohort_id, source=self.source.value)

    @property
    def pending_events(self) -> list[DomainEvent]:
        return list(self._events)

    def pull_events(self) -> list[DomainEvent]:
        events, self._events = self._events, []
        return events

    def reactivate(self, *, cohort_id: uuid.UUID | None, source: EnrollmentSource, at: datetime) -> None:
        """Enroll again after leaving: the same row, a fresh start."""
        if self.status is not EnrollmentStatus.UNENROLLED:
            raise Conflict("the learner is already enrolled in this course")
        self.status = EnrollmentStatus.ACTIVE
        self.cohort_id = cohort_id
        self.source = source
        self.enrolled_at = at
        self.unenrolled_at = None
        self.completed_at = None
        self._enrolled(at)

    def unenroll(self, at: datetime, *, by: EnrollmentSource) -> None:
        if self.status is EnrollmentStatus.COMPLETED:
            raise Conflict("a completed enrollment cannot be withdrawn")
        if self.status is EnrollmentStatus.UNENROLLED:
            raise Conflict("the learner is not enrolled in this course")
        self.status = EnrollmentStatus.UNENROLLED
        self.unenrolled_at = at
        self._record(ev.Unenrolled, at, by=by.value)

    def move(self, cohort_id: uuid.UUID | None, at: datetime) -> bool:
        """Put the learner in another cohort (None: in none); False when already there."""
        if not self.is_active:
            raise Conflict(f"only an active enrollment can change cohort (this one is {self.status.value})")
        if cohort_id == self.cohort_id:
            return False
        previous, self.cohort_id = self.cohort_id, cohort_id
        self._record(ev.CohortChanged, at, from_cohort_id=previous, to_cohort_id=cohort_id)
        return True

    def complete(self, at: datetime) -> bool:
        """Mark the course completed; False when it already was."""
        if self.status is EnrollmentStatus.COMPLETED:
            return False
        if self.status is EnrollmentStatus.UNENROLLED:
            raise Conflict("the learner is not enrolled in this course")
        self.status = EnrollmentStatus.COMPLETED
        self.completed_at = at
        self._record(ev.EnrollmentCompleted, at)
        return True

    def reopen(self, at: datetime) -> bool:
        """The learner's progress was reset: a completed enrollment is active again; False when it was not completed."""
        if self.status is not EnrollmentStatus.COMPLETED:
            return False
        self.status = EnrollmentStatus.ACTIVE
        self.completed_at = None
        self._record(ev.EnrollmentReopened, at)
        return True
