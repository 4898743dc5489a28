"""``/api/v1/me/teaching``: the courses the caller teaches."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency

from elearning_core.course.model import (
    CourseStatus,
    Level,
)
from elearning_core.course.queries import (
    TeachingCourse,
)
from elearning_core.course.service import CourseService
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem_responses
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged


@dataclass(frozen=True, slots=True)
class TeachingItem:
    """A course the caller teaches, as the catalog lists it, with the caller's role on it."""

    id: uuid.UUID
    slug: str
    title: str
    summary: str
    status: CourseStatus
    language: str
    level: Level
    tags: list[str]
    owner_id: uuid.UUID | None
    created_at: datetime
    published_at: datetime | None
    section_count: int
    lesson_count: int
    role: str


def _teaching_item(taught: TeachingCourse) -> TeachingItem:
    c = taught.course
    return TeachingItem(
        id=c.id,
        slug=c.slug,
        title=c.title,
        summary=c.summary,
        status=c.status,
        language=c.language,
        level=c.level,
        tags=c.tags,
        owner_id=c.owner_id,
        created_at=c.created_at,
        published_at=c.published_at,
        section_count=c.section_count,
        lesson_count=c.lesson_count,
        role=taught.role,
    )


@get(
    "/api/v1/me/teaching",
    tags=["courses"],
    summary="The courses the caller teaches",
    description="Courses the caller owns, or holds an instructor or teaching assistant role on (on the course, "
    "or as a teaching assistant of its organization), drafts included, newest created first; paged "
    "(docs/pagination.md). `role` is `owner`, `instructor` or `teaching_assistant`. Needs a user's sign-in.",
    responses=problem_responses(400, 401, 422),
    response_headers=LINK,
)
async def my_teaching(
    request: Request[Any, Any, Any],
    course_service: NamedDependency[CourseService],
    principal: NamedDependency[Principal],
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response[Paged[TeachingItem]]:
    return paged(request, await course_service.list_teaching(principal, cursor, limit), _teaching_item)
