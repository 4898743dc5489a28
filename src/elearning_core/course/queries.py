"""Catalog read models and the query port.

Reads skip the aggregate: adapters answer straight from SQL into these flat
dataclasses, which runtimes serialise without another mapping step.
"""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from elearning_core.auth.model import Scope
from elearning_core.course.model import Course, CourseStatus, Level


@dataclass(frozen=True, slots=True)
class CourseSummary:
    id: uuid.UUID
    slug: str
    title: str
    summary: str
    language: str
    level: Level
    tags: list[str]
    owner_id: uuid.UUID | None
    status: CourseStatus
    created_at: datetime
    published_at: datetime | None
    section_count: int
    lesson_count: int


@dataclass(frozen=True, slots=True)
class LessonView:
    id: uuid.UUID
    title: str
    position: int


@dataclass(frozen=True, slots=True)
class SectionView:
    id: uuid.UUID
    title: str
    position: int
    lessons: list[LessonView] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CourseOutline:
    id: uuid.UUID
    slug: str
    title: str
    summary: str
    description: str
    language: str
    level: Level
    tags: list[str]
    owner_id: uuid.UUID | None
    status: CourseStatus
    version: int
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    sections: list[SectionView]
    organization_id: uuid.UUID | None = None

    def authorization_scopes(self) -> tuple[Scope, ...]:
        """Where the course lives, for the role policy (as ``Course.authorization_scopes``)."""
        if self.organization_id is None:
            return (Scope.course(self.id),)
        return (Scope.course(self.id), Scope.organization(self.organization_id))


def outline_of(course: Course) -> CourseOutline:
    """The outline read model of an aggregate held in memory (after a write, no second read)."""
    return CourseOutline(
        id=course.id,
        slug=course.slug,
        title=course.title,
        summary=course.summary,
        description=course.description,
        language=course.language,
        level=course.level,
        tags=list(course.tags),
        owner_id=course.owner_id,
        status=course.status,
        version=course.version,
        created_at=course.created_at,
        updated_at=course.updated_at,
        published_at=course.published_at,
        organization_id=course.organization_id,
        sections=[
            SectionView(
                id=s.id,
                title=s.title,
                position=i,
                lessons=[
                    LessonView(id=lesson.id, title=lesson.title, position=j) for j, lesson in enumerate(s.lessons)
                ],
            )
            for i, s in enumerate(course.sections)
        ],
    )


@dataclass(frozen=True, slots=True)
class CatalogFilter:
    language: str | None = None
    level: Level | None = None
    tag: str | None = None
    text: str | None = None
    status: CourseStatus | None = CourseStatus.PUBLISHED

    def scope(self) -> str:
        """A stable string naming this listing, to bind cursors to it."""
        return _scope(self.status, self.language, self.level, self.tag, self.text)


@functools.lru_cache(maxsize=1024)
def _scope(*parts: str | None) -> str:
    # Hot: every catalog read builds it two or three times; the same few filters recur.
    return json.dumps(list(parts))


# Keyset position of the last row on a page: (published_at or created_at, id).
CatalogKey = tuple[datetime, uuid.UUID]


class CatalogQueries(Protocol):
    async def list_courses(self, where: CatalogFilter, after: CatalogKey | None, limit: int) -> list[CourseSummary]:
        """Courses matching ``where``, newest first, strictly after ``after``; at most ``limit``.

        Published listings order by ``published_at``; others by ``created_at``.
        Ties break on id, descending.
        """
        ...

    async def outline(self, course_id: uuid.UUID) -> CourseOutline | None: ...

    async def outline_by_slug(self, slug: str) -> CourseOutline | None: ...
