"""Builders of published outlines for the progress tests (unit, contract, e2e share them)."""

from __future__ import annotations

import uuid
from dataclasses import replace

from elearning_core.course.model import CourseStatus
from elearning_core.course.queries import CourseOutline, LessonView, SectionView
from elearning_core.course.values import LessonKind, Level
from tests.fakes import T0


def text(title: str = "Reading") -> LessonView:
    return LessonView(id=uuid.uuid4(), title=title, position=0, kind=LessonKind.TEXT)


def video(seconds: int = 100, title: str = "Watching") -> LessonView:
    return LessonView(
        id=uuid.uuid4(),
        title=title,
        position=0,
        kind=LessonKind.VIDEO,
        video_id=uuid.uuid4(),
        duration_seconds=seconds,
    )


def quiz(title: str = "Quiz") -> LessonView:
    return LessonView(id=uuid.uuid4(), title=title, position=0, kind=LessonKind.ASSESSMENT, assessment_id=uuid.uuid4())


def outline(*sections: list[LessonView], course_id: uuid.UUID | None = None, version: int = 1) -> CourseOutline:
    """A published outline with one section per list of lessons."""
    return CourseOutline(
        id=course_id or uuid.uuid4(),
        slug="course",
        title="Course",
        summary="",
        description="",
        language="en",
        level=Level.BEGINNER,
        tags=[],
        owner_id=None,
        status=CourseStatus.PUBLISHED,
        version=version,
        created_at=T0,
        updated_at=T0,
        published_at=T0,
        sections=[
            SectionView(
                id=uuid.uuid4(),
                title=f"Section {i}",
                position=i,
                lessons=[replace(lesson, position=j) for j, lesson in enumerate(lessons)],
            )
            for i, lessons in enumerate(sections)
        ],
        published_version=version,
        version_number=version,
    )


def lessons_of(course: CourseOutline) -> list[LessonView]:
    return [lesson for section in course.sections for lesson in section.lessons]
