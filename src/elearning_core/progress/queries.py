"""Progress read models, and the query port the reads use (flat rows straight from the store)."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from elearning_core.course.values import Access
from elearning_core.progress.model import (
    CompletionRules,
    CourseProgress,
    LastActivity,
    LearnerFactsInCourse,
    LessonState,
)
from elearning_core.shared.spreadsheet import spreadsheet_text


@dataclass(frozen=True, slots=True)
class LessonProgressView:
    id: uuid.UUID
    title: str
    kind: str
    optional: bool
    state: LessonState
    access: Access
    """Gating's decision for the caller (open, enrollment required, not yet released)."""
    available_at: datetime | None = None
    lock_reason: str | None = None
    """Why the lesson is locked for the caller, in words (None when it is open)."""


@dataclass(frozen=True, slots=True)
class SectionProgressView:
    id: uuid.UUID
    title: str
    percent: float
    lessons: list[LessonProgressView]


@dataclass(frozen=True, slots=True)
class ContinuePointer:
    lesson_id: uuid.UUID
    section_id: uuid.UUID
    title: str


@dataclass(frozen=True, slots=True)
class CourseProgressView:
    """The course outline with the caller's progress: what the learner's course page shows, in one read."""

    course_id: uuid.UUID
    title: str
    version_number: int | None
    percent: float
    completed: bool
    completed_at: datetime | None
    completion_source: str | None
    sections: list[SectionProgressView]
    last: LastActivity | None
    continue_at: ContinuePointer | None


@dataclass(frozen=True, slots=True)
class LearnerProgressRow:
    """One learner's progress in one course (``/me/progress`` and the staff list)."""

    course_id: uuid.UUID
    user_id: uuid.UUID
    percent: float
    required_lessons: int
    required_completed: int
    completed_at: datetime | None
    completion_source: str | None
    last_lesson_id: uuid.UUID | None
    last_activity_at: datetime | None
    course_title: str = ""
    display_name: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class LearnerCourseRead:
    rules: CompletionRules
    facts: LearnerFactsInCourse
    progress: CourseProgress | None
    last: LastActivity | None


@dataclass(frozen=True, slots=True)
class ProgressFilter:
    completed: bool | None = None


class ProgressQueries(Protocol):
    async def course_state(self, course_id: uuid.UUID, user_id: uuid.UUID) -> LearnerCourseRead:
        """Everything the outline-with-progress needs about the learner, in one or two queries."""
        ...

    async def my_courses(self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[LearnerProgressRow]:
        """The learner's progress rows in course-id order (a page)."""
        ...

    async def learners(
        self, course_id: uuid.UUID, where: ProgressFilter, after: uuid.UUID | None, limit: int
    ) -> list[LearnerProgressRow]:
        """The course's learners' progress in user-id order (a page)."""
        ...

    async def lesson_counts(self, course_id: uuid.UUID) -> dict[uuid.UUID, int]:
        """Lesson id -> learners who completed it."""
        ...


def learners_csv(rows: list[LearnerProgressRow]) -> str:
    """The staff export as CSV (RFC 4180), one line per learner; text cells made safe for spreadsheets
    as the gradebook export does."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        ["user_id", "display_name", "email", "percent", "required_completed", "required_lessons", "completed_at"]
    )
    for row in rows:
        writer.writerow(
            [
                row.user_id,
                spreadsheet_text(row.display_name),
                spreadsheet_text(row.email),
                f"{row.percent:.1f}",
                row.required_completed,
                row.required_lessons,
                row.completed_at.isoformat() if row.completed_at else "",
            ]
        )
    return out.getvalue()
