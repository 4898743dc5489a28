"""Learning paths (programs): an ordered set of courses in parts, with N-of-M rules, and who follows them.

A path's parts are either *required* (every course of the part) or *elective*
("any N of these M"). A course appears at most once in a path, and a
prerequisite of the path (a course completed before enrolling) is never one
of its courses. The structure (parts, prerequisites) is edited while the path
is a draft; publishing freezes it, so learners already enrolled are never
measured against rules that changed under them (a new structure is a new path).

Rule evaluation (``evaluate``) is a pure function of the parts and the set of
completed courses: monotone (more completions never un-satisfy a part) and
independent of the order the completions arrived in. A learner's path
completion is recorded once, on the ``PathEnrollment`` aggregate.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elearning_core.course.values import check_slug, check_text, check_title
from elearning_core.learning_path import events as ev
from elearning_core.shared.errors import Conflict, FieldError, ValidationFailed
from elearning_core.shared.events import DomainEvent, RecordsEvents
from elearning_core.shared.ids import new_uuid

PARTS_MAX = 20
COURSES_PER_PART_MAX = 50
PREREQUISITES_MAX = 20
PART_TITLE_MAX = 200
DESCRIPTION_MAX = 20_000


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{name} {message}", [FieldError(name, message)])


class PathEnrollmentRefused(Conflict):
    """A rule of the path refused the enrollment (a 409 whose type names it: ``reason`` with dashes)."""

    def __init__(self, reason: str, detail: str, *, missing: Iterable[uuid.UUID] = ()) -> None:
        super().__init__(detail)
        self.reason = reason
        self.missing = list(missing)


NOT_PUBLISHED = "path_not_published"
PREREQUISITES_NOT_MET = "path_prerequisites_not_met"


class PathStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class PartKind(enum.StrEnum):
    REQUIRED = "required"
    ELECTIVE = "elective"


@dataclass(frozen=True, slots=True)
class PathPart:
    """One part of a path: all of its courses (required), or any ``required_count`` of them (elective)."""

    kind: PartKind
    course_ids: tuple[uuid.UUID, ...]
    required_count: int
    title: str = ""

    @classmethod
    def make(
        cls,
        kind: PartKind,
        course_ids: Sequence[uuid.UUID],
        required_count: int | None = None,
        title: str = "",
        *,
        where: str = "parts.0",
    ) -> PathPart:
        """A part from untrusted values; ``where`` names it in field errors (``parts.2``)."""
        courses = tuple(course_ids)
        if not courses:
            raise _invalid(f"{where}.course_ids", "must name at least one course")
        if len(courses) > COURSES_PER_PART_MAX:
            raise _invalid(f"{where}.course_ids", f"must name at most {COURSES_PER_PART_MAX} courses")
        if len(set(courses)) != len(courses):
            raise _invalid(f"{where}.course_ids", "must not name a course twice")
        title = check_text(title.strip(), f"{where}.title", PART_TITLE_MAX) if title else ""
        if kind is PartKind.REQUIRED:
            if required_count is not None and required_count != len(courses):
                raise _invalid(f"{where}.required_count", "of a required part is the number of its courses")
            return cls(kind, courses, len(courses), title)
        if required_count is None or not 1 <= required_count <= len(courses):
            raise _invalid(f"{where}.required_count", f"must be between 1 and {len(courses)} (the part's courses)")
        return cls(kind, courses, required_count, title)

    def done(self, completed: Set[uuid.UUID]) -> int:
        return sum(1 for c in self.course_ids if c in completed)

    def satisfied(self, completed: Set[uuid.UUID]) -> bool:
        return self.done(completed) >= self.required_count


@dataclass(frozen=True, slots=True)
class PartProgress:
    part: PathPart
    completed: tuple[uuid.UUID, ...]
    satisfied: bool


@dataclass(frozen=True, slots=True)
class RulesOutcome:
    parts: tuple[PartProgress, ...]

    @property
    def complete(self) -> bool:
        return bool(self.parts) and all(p.satisfied for p in self.parts)

    @property
    def satisfied_parts(self) -> int:
        return sum(1 for p in self.parts if p.satisfied)


def evaluate(parts: Sequence[PathPart], completed: Iterable[uuid.UUID]) -> RulesOutcome:
    """Which parts the completed courses satisfy; the path is complete when every part is (and it has one)."""
    done = frozenset(completed)
    return RulesOutcome(
        tuple(PartProgress(p, tuple(c for c in p.course_ids if c in done), p.satisfied(done)) for p in parts)
    )


def check_structure(parts: Sequence[PathPart], prerequisites: Sequence[uuid.UUID]) -> tuple[uuid.UUID, ...]:
    """Check parts and prerequisites together; returns the prerequisites without repeats."""
    if len(parts) > PARTS_MAX:
        raise _invalid("parts", f"must be at most {PARTS_MAX}")
    seen: dict[uuid.UUID, int] = {}
    for index, part in enumerate(parts):
        for course_id in part.course_ids:
            if course_id in seen:
                raise _invalid(f"parts.{index}.course_ids", f"course {course_id} is already in part {seen[course_id]}")
            seen[course_id] = index
    required = tuple(dict.fromkeys(prerequisites))
    if len(required) > PREREQUISITES_MAX:
        raise _invalid("prerequisites", f"must be at most {PREREQUISITES_MAX} courses")
    for index, course_id in enumerate(required):
        if course_id in seen:
            raise _invalid(f"prerequisites.{index}", "a course of the path cannot also be its prerequisite")
    return required


@dataclass(slots=True, eq=False)
class LearningPath(RecordsEvents):
    """The path definition: the aggregate whose publication is ``PathPublished``."""

    id: uuid.UUID
    slug: str
    title: str
    description: str
    status: PathStatus
    parts: list[PathPart]
    prerequisites: tuple[uuid.UUID, ...]
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None
    _events: list[DomainEvent] = field(default_factory=list, repr=False)

    @classmethod
    def create(cls, *, slug: str, title: str, description: str = "", at: datetime) -> LearningPath:
        return cls(
            new_uuid(),
            check_slug(slug),
            check_title(title),
            check_text(description, "description", DESCRIPTION_MAX),
            PathStatus.DRAFT,
            [],
            (),
            at,
            at,
        )

    @property
    def course_ids(self) -> list[uuid.UUID]:
        """Every course of the path, in part order."""
        return [c for p in self.parts for c in p.course_ids]

    @property
    def is_published(self) -> bool:
        return self.status is PathStatus.PUBLISHED

    def update(self, at: datetime, **changes: Any) -> None:
        if "title" in changes:
            self.title = check_title(changes["title"])
        if "description" in changes:
            self.description = check_text(changes["description"], "description", DESCRIPTION_MAX)
        if "slug" in changes:
            self.slug = check_slug(changes["slug"])
        self.updated_at = at

    def restructure(self, parts: Sequence[PathPart], prerequisites: Sequence[uuid.UUID], at: datetime) -> None:
        if self.status is not PathStatus.DRAFT:
            raise Conflict(f"the path is {self.status.value}: only a draft's parts and prerequisites can change")
        self.prerequisites = check_structure(parts, prerequisites)
        self.parts = list(parts)
        self.updated_at = at

    def publish(self, at: datetime, unpublished: Set[uuid.UUID]) -> None:
        """Publish the draft; ``unpublished`` are the path's courses (and prerequisites) that are not published."""
        if self.status is PathStatus.PUBLISHED:
            raise Conflict("the path is already published")
        if self.status is PathStatus.ARCHIVED:
            raise Conflict("an archived path cannot be published again")
        if not self.parts:
            raise Conflict("a path needs at least one part with courses before it is published")
        if unpublished:
            names = ", ".join(str(c) for c in sorted(unpublished))
            raise Conflict(f"every course of the path must be published first: {names}")
        self.status = PathStatus.PUBLISHED
        self.published_at = self.updated_at = at
        self._events.append(
            ev.PathPublished(
                occurred_at=at, aggregate_id=self.id, slug=self.slug, title=self.title, course_ids=self.course_ids
            )
        )

    def archive(self, at: datetime) -> None:
        if self.status is not PathStatus.PUBLISHED:
            raise Conflict(f"only a published path can be archived (this one is {self.status.value})")
        self.status = PathStatus.ARCHIVED
        self.updated_at = at


class CourseOutcomeStatus(enum.StrEnum):
    ENROLLED = "enrolled"
    """Enrolled into the course through the path (or already enrolled)."""
    REFUSED = "refused"
    """A rule of the course refused the enrollment; ``reason`` names it."""


@dataclass(frozen=True, slots=True)
class CourseOutcome:
    """What became of enrolling a path's learner into one of its courses."""

    path_enrollment_id: uuid.UUID
    course_id: uuid.UUID
    status: CourseOutcomeStatus
    reason: str | None
    detail: str | None
    at: datetime


@dataclass(slots=True, eq=False)
class PathEnrollment(RecordsEvents):
    """One learner on one path: the aggregate of ``PathEnrolled`` and ``PathCompleted``."""

    id: uuid.UUID
    path_id: uuid.UUID
    user_id: uuid.UUID
    enrolled_at: datetime
    completed_at: datetime | None = None
    _events: list[DomainEvent] = field(default_factory=list, repr=False)

    @classmethod
    def enroll(
        cls, path: LearningPath, user_id: uuid.UUID, *, open_courses: Sequence[uuid.UUID], at: datetime
    ) -> PathEnrollment:
        if not path.is_published:
            raise PathEnrollmentRefused(
                NOT_PUBLISHED, f"the path is {path.status.value}: only a published path takes enrollments"
            )
        enrollment = cls(new_uuid(), path.id, user_id, at)
        enrollment._events.append(
            ev.PathEnrolled(
                occurred_at=at,
                aggregate_id=enrollment.id,
                path_id=path.id,
                user_id=user_id,
                course_ids=list(open_courses),
            )
        )
        return enrollment

    @property
    def is_completed(self) -> bool:
        return self.completed_at is not None

    def refused(self, course_id: uuid.UUID, reason: str, detail: str, at: datetime) -> None:
        """Report that a rule of the course refused enrolling the learner into it."""
        self._events.append(
            ev.PathCourseEnrollmentRefused(
                occurred_at=at,
                aggregate_id=self.id,
                path_id=self.path_id,
                user_id=self.user_id,
                course_id=course_id,
                reason=reason,
                detail=detail,
            )
        )

    def complete(self, at: datetime) -> bool:
        """Record the path's completion; False (and no event) when it was recorded before."""
        if self.completed_at is not None:
            return False
        self.completed_at = at
        self._events.append(
            ev.PathCompleted(occurred_at=at, aggregate_id=self.id, path_id=self.path_id, user_id=self.user_id)
        )
        return True
