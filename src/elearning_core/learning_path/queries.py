"""Learning path read models and the query port (listings skip the unit of work)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from elearning_core.learning_path.model import (
    CourseOutcome,
    LearningPath,
    PartKind,
    PathEnrollment,
    PathStatus,
    evaluate,
)
from elearning_core.learning_path.ports import CourseBrief


@dataclass(frozen=True, slots=True)
class PathCourseState:
    """One course of a path as its learner sees it: completed, enrolled, or refused (and why)."""

    course_id: uuid.UUID
    title: str | None
    completed: bool
    enrollment: str | None
    """``enrolled``, ``refused``, or None while the enrollment is pending (or the course was completed before)."""
    refusal_reason: str | None
    refusal_detail: str | None


@dataclass(frozen=True, slots=True)
class PartProgressView:
    kind: PartKind
    title: str
    required_count: int
    completed_count: int
    satisfied: bool
    courses: list[PathCourseState]


@dataclass(frozen=True, slots=True)
class PathProgressView:
    path_id: uuid.UUID
    path_slug: str
    path_title: str
    enrollment_id: uuid.UUID
    user_id: uuid.UUID
    enrolled_at: datetime
    completed_at: datetime | None
    rules_satisfied: bool
    parts_satisfied: int
    parts: list[PartProgressView]

    @classmethod
    def of(
        cls,
        path: LearningPath,
        enrollment: PathEnrollment,
        completed: Collection[uuid.UUID],
        outcomes: Collection[CourseOutcome],
        courses: dict[uuid.UUID, CourseBrief],
    ) -> PathProgressView:
        by_course = {o.course_id: o for o in outcomes if o.path_enrollment_id == enrollment.id}
        rules = evaluate(path.parts, completed)
        done = set(completed)
        parts = []
        for progress in rules.parts:
            states = []
            for course_id in progress.part.course_ids:
                outcome = by_course.get(course_id)
                brief = courses.get(course_id)
                refused = outcome is not None and outcome.status.value == "refused"
                states.append(
                    PathCourseState(
                        course_id,
                        brief.title if brief else None,
                        course_id in done,
                        outcome.status.value if outcome else None,
                        outcome.reason if refused and outcome else None,
                        outcome.detail if refused and outcome else None,
                    )
                )
            part = progress.part
            parts.append(
                PartProgressView(
                    part.kind, part.title, part.required_count, len(progress.completed), progress.satisfied, states
                )
            )
        return cls(
            path.id,
            path.slug,
            path.title,
            enrollment.id,
            enrollment.user_id,
            enrollment.enrolled_at,
            enrollment.completed_at,
            rules.complete,
            rules.satisfied_parts,
            parts,
        )


class LearningPathQueries(Protocol):
    async def list_paths(
        self, statuses: Collection[PathStatus], after: uuid.UUID | None, limit: int
    ) -> list[LearningPath]:
        """Paths with one of ``statuses``, in id order (oldest first), after the key ``after``."""
        ...

    async def enrollments_of(self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[PathEnrollment]:
        """The learner's path enrollments in id order (oldest first), after the key ``after``."""
        ...
