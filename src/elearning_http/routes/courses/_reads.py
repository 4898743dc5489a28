"""The catalog reads under ``/api/v1/courses``: the list, an outline (by id or slug), a lesson, the versions."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, PathParameter, QueryParameter

from elearning_core.course.model import (
    SLUG_MAX,
    TAG_MAX,
    Level,
)
from elearning_core.course.queries import (
    CatalogFilter,
    CourseOutline,
    CourseSummary,
    LessonView,
    VersionSummary,
)
from elearning_core.course.service import CourseService
from elearning_core.shared.inputs import INT32_MAX
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem_responses
from elearning_http.page_memo import answer_from_memo, page_memo_of, ready_json
from elearning_http.pagination import LINK, Cursor, Limit, Paged, page_parts, paged
from elearning_http.routes.courses._schemas import (
    GATED_READ_ERRORS,
    OPEN,
    READ_ERRORS,
    CourseId,
    VersionQuery,
    ViewAsQuery,
    _version_ref,
    _view_as,
)


class _CatalogReads:
    """The catalog reads of ``CourseController`` (public: gating decides what a caller sees)."""

    @get(
        "/",
        opt=OPEN,
        summary="List courses",
        description="Published courses, newest first, with filters; paged (docs/pagination.md).",
        responses=READ_ERRORS,
        response_headers=LINK,
        before_request=answer_from_memo,
    )
    async def list_courses(
        self,
        request: Request[Any, Any, Any],
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        language: Annotated[str | None, QueryParameter(max_length=35)] = None,
        level: Annotated[Level | None, QueryParameter()] = None,
        tag: Annotated[str | None, QueryParameter(max_length=TAG_MAX)] = None,
        q: Annotated[
            str | None, QueryParameter(max_length=200, description="Text the title, summary or tags contain")
        ] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[CourseSummary]]:
        where = CatalogFilter(
            language=language.lower() if language else None,
            level=level,
            tag=tag.lower() if tag else None,
            text=q or None,
        )
        page = await course_service.list_courses(principal, where, cursor, limit)
        memo = page_memo_of(request)
        if memo is None:  # no catalog cache: nothing to keep, but encoded once all the same (the hot read)
            return ready_json(*page_parts(request, page))
        return memo.keep(request, *page_parts(request, page))

    @get(
        "/{course_id:uuid}",
        opt=OPEN,
        summary="Get a course with its outline",
        description=(
            "Learners and anonymous callers get the latest published version (lesson text as sanitised HTML), "
            "never the draft. Staff get the draft, with its Markdown, unless they ask for a version. "
            "Content is gated: every title, kind and duration is listed, but a lesson the caller may not open "
            "(not enrolled, or its section not yet released) has no body, video, assessment or attachments, and "
            "its `access` says why (`available_at`: when it opens). Preview lessons are open to everyone."
        ),
        responses=READ_ERRORS,
    )
    async def get_course(
        self,
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        course_id: CourseId,
        version: VersionQuery = None,
        view_as: ViewAsQuery = None,
    ) -> CourseOutline:
        return await course_service.get_outline(principal, course_id, _version_ref(version), _view_as(view_as))

    @get(
        "/by-slug/{slug:str}",
        opt=OPEN,
        summary="Get a course by slug with its outline",
        description="As `GET /api/v1/courses/{course_id}`, by the course's slug, gated the same way.",
        responses=READ_ERRORS,
    )
    async def get_course_by_slug(
        self,
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        slug: FromPath[str],
        version: VersionQuery = None,
        view_as: ViewAsQuery = None,
    ) -> CourseOutline:
        return await course_service.get_outline_by_slug(
            principal, slug[: SLUG_MAX + 1], _version_ref(version), _view_as(view_as)
        )

    @get(
        "/{course_id:uuid}/lessons/{lesson_id:uuid}",
        opt=OPEN,  # a preview lesson is for everyone; gating decides the rest
        summary="Get one lesson with its content",
        description=(
            "Enrolled learners once the lesson's section is released, staff always (the draft), everyone for "
            "a preview lesson. Otherwise 403 whose `type` says why: `urn:elearning:problem:enrollment-required`, "
            "or `urn:elearning:problem:not-yet-released` with `available_at`. An unknown lesson, or one only in "
            "the draft, is 404."
        ),
        responses=GATED_READ_ERRORS,
    )
    async def get_lesson(
        self,
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        course_id: CourseId,
        lesson_id: FromPath[uuid.UUID],
        view_as: ViewAsQuery = None,
    ) -> LessonView:
        return await course_service.get_lesson(principal, course_id, lesson_id, _view_as(view_as))

    @get(
        "/{course_id:uuid}/versions",
        summary="List a course's published versions (staff)",
        description="Newest first; paged (every publish adds one). Needs course.view_unpublished on the course.",
        responses=problem_responses(400, 401, 403, 404, 422),
        response_headers=LINK,
    )
    async def list_versions(
        self,
        request: Request[Any, Any, Any],
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        course_id: CourseId,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[VersionSummary]]:
        return paged(request, await course_service.list_versions(principal, course_id, cursor=cursor, limit=limit))

    @get(
        "/{course_id:uuid}/versions/{number:int}",
        opt=OPEN,
        summary="Get one published version of a course",
        description="Public while the course is published; otherwise for staff only.",
        responses=READ_ERRORS,
    )
    async def get_version(
        self,
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        course_id: CourseId,
        number: Annotated[int, PathParameter(ge=1, le=INT32_MAX, description="A published version number")],
    ) -> CourseOutline:
        return await course_service.get_outline(principal, course_id, _version_ref(str(number)))
