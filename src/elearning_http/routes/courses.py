"""``/api/v1/courses``: the catalog (public reads) and course authoring (writes).

Routes only translate: parse the request into a command, call the service,
map the result to a response. Rules and permissions live in the core.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from pydantic import ConfigDict, Field

from elearning_core.course.commands import (
    AddLesson,
    AddSection,
    CourseRef,
    CreateCourse,
    LessonContentSpec,
    RemoveLesson,
    RemoveSection,
    RenameLesson,
    RenameSection,
    ReorderLessons,
    ReorderSections,
    SectionReleaseSpec,
    SetLessonContent,
    SetSectionRelease,
    UpdateCourse,
)
from elearning_core.course.model import (
    DESCRIPTION_MAX,
    SLUG_MAX,
    SUMMARY_MAX,
    TAG_MAX,
    TAGS_MAX,
    TITLE_MAX,
    CourseStatus,
    Level,
)
from elearning_core.course.queries import (
    CatalogFilter,
    CourseOutline,
    CourseSummary,
    LessonView,
    SectionView,
    TeachingCourse,
    VersionSummary,
    outline_of,
)
from elearning_core.course.service import CourseService, VersionRef, ViewAs
from elearning_core.shared.errors import FieldError, ValidationFailed
from elearning_core.shared.inputs import INT32_MAX, InputModel, NonNegativeInt32
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem_responses
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged

# -- request bodies (HTTP shapes of the commands; ids come from the path) ----------


class _Body(InputModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CoursePatch(_Body):
    """Fields to change; omitted fields stay as they are. ``null`` is not a value."""

    title: Annotated[str, Field(min_length=1, max_length=TITLE_MAX)] = None  # type: ignore[assignment]
    slug: Annotated[str, Field(max_length=SLUG_MAX)] = None  # type: ignore[assignment]
    summary: Annotated[str, Field(max_length=SUMMARY_MAX)] = None  # type: ignore[assignment]
    description: Annotated[str, Field(max_length=DESCRIPTION_MAX)] = None  # type: ignore[assignment]
    language: Annotated[str, Field(max_length=35)] = None  # type: ignore[assignment]
    level: Level = None  # type: ignore[assignment]
    tags: Annotated[list[Annotated[str, Field(max_length=TAG_MAX)]], Field(max_length=TAGS_MAX)] = None  # type: ignore[assignment]
    expected_version: NonNegativeInt32 = None  # type: ignore[assignment]


class NewItem(_Body):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    position: NonNegativeInt32 | None = Field(default=None, description="Zero-based; appended when omitted")


class Rename(_Body):
    title: str = Field(min_length=1, max_length=TITLE_MAX)


class SectionOrder(_Body):
    section_ids: list[uuid.UUID] = Field(
        max_length=1_000, description="Every section of the course, once, in the new order"
    )


class LessonOrder(_Body):
    lesson_ids: list[uuid.UUID] = Field(
        max_length=1_000, description="Every lesson of the section, once, in the new order"
    )


VersionQuery = Annotated[
    str | None,
    QueryParameter(
        max_length=12,
        description=(
            "Which version to read: 'published' (the latest published version) or a version number. "
            "By default staff get the draft and everyone else the latest published version."
        ),
    ),
]


ViewAsQuery = Annotated[
    Literal["learner"] | None,
    QueryParameter(
        description=(
            "Staff only: 'learner' reads the latest published version gated as an enrolled learner sees it "
            "(enrolled now, or since the caller's own enrollment). Ignored for everyone else, who are always gated."
        ),
    ),
]


def _view_as(raw: str | None) -> ViewAs:
    return "learner" if raw == "learner" else None


def _version_ref(raw: str | None) -> VersionRef:
    if raw is None:
        return None
    if raw == "published":
        return "published"
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= INT32_MAX:
        return int(raw)
    raise ValidationFailed(
        "version must be 'published' or a version number",
        [FieldError("version", f"must be 'published' or a number from 1 to {INT32_MAX}")],
    )


READ_ERRORS = problem_responses(400, 404, 422)
GATED_READ_ERRORS = problem_responses(400, 403, 404, 422)
OPEN = {"public": True}
"""Catalog reads: anyone may make them (a credential, when sent, must still be valid)."""
WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 422)

CourseId = FromPath[uuid.UUID]
SectionId = FromPath[uuid.UUID]
LessonId = FromPath[uuid.UUID]


class CourseController(Controller):
    path = "/api/v1/courses"
    tags = ["courses"]

    # -- catalog reads -------------------------------------------------------------

    @get(
        "/",
        opt=OPEN,
        summary="List courses",
        description="Published courses, newest first, with filters; paged (docs/pagination.md).",
        responses=READ_ERRORS,
        response_headers=LINK,
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
        return paged(request, await course_service.list_courses(principal, where, cursor, limit))

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

    # -- course writes -------------------------------------------------------------

    @post("/", summary="Create a draft course", status_code=HTTP_201_CREATED, responses=WRITE_ERRORS)
    async def create_course(
        self,
        request: Request[Any, Any, Any],
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        data: JSONBody[CreateCourse],
    ) -> Response[CourseOutline]:
        course = await course_service.create(principal, data)
        return Response(
            outline_of(course), status_code=HTTP_201_CREATED, headers={"Location": f"{self.path}/{course.id}"}
        )

    @patch("/{course_id:uuid}", summary="Change a course's details", responses=WRITE_ERRORS)
    async def update_course(
        self,
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        course_id: CourseId,
        data: JSONBody[CoursePatch],
    ) -> CourseOutline:
        cmd = UpdateCourse(course_id=course_id, **data.model_dump(exclude_unset=True))
        return outline_of(await course_service.update(principal, cmd))

    @delete(
        "/{course_id:uuid}", summary="Delete a draft course", status_code=HTTP_204_NO_CONTENT, responses=WRITE_ERRORS
    )
    async def delete_course(
        self, course_service: NamedDependency[CourseService], principal: NamedDependency[Principal], course_id: CourseId
    ) -> None:
        await course_service.delete(principal, CourseRef(course_id=course_id))

    @post("/{course_id:uuid}/publish", summary="Publish a course", status_code=HTTP_200_OK, responses=WRITE_ERRORS)
    async def publish(
        self, course_service: NamedDependency[CourseService], principal: NamedDependency[Principal], course_id: CourseId
    ) -> CourseOutline:
        return outline_of(await course_service.publish(principal, CourseRef(course_id=course_id)))

    @post(
        "/{course_id:uuid}/unpublish",
        summary="Unpublish a course (back to draft)",
        status_code=HTTP_200_OK,
        responses=WRITE_ERRORS,
    )
    async def unpublish(
        self, course_service: NamedDependency[CourseService], principal: NamedDependency[Principal], course_id: CourseId
    ) -> CourseOutline:
        return outline_of(await course_service.unpublish(principal, CourseRef(course_id=course_id)))

    @post(
        "/{course_id:uuid}/archive",
        summary="Archive a course (read-only from then on)",
        status_code=HTTP_200_OK,
        responses=WRITE_ERRORS,
    )
    async def archive(
        self, course_service: NamedDependency[CourseService], principal: NamedDependency[Principal], course_id: CourseId
    ) -> CourseOutline:
        return outline_of(await course_service.archive(principal, CourseRef(course_id=course_id)))

    # -- sections ------------------------------------------------------------------

    @post("/{course_id:uuid}/sections", summary="Add a section", status_code=HTTP_201_CREATED, responses=WRITE_ERRORS)
    async def add_section(
        self,
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        course_id: CourseId,
        data: JSONBody[NewItem],
    ) -> SectionView:
        return await course_service.add_section(
            principal, AddSection(course_id=course_id, title=data.title, position=data.position)
        )

    @put("/{course_id:uuid}/sections/order", summary="Reorder all sections", responses=WRITE_ERRORS)
    async def reorder_sections(
        self,
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        course_id: CourseId,
        data: JSONBody[SectionOrder],
    ) -> CourseOutline:
        cmd = ReorderSections(course_id=course_id, section_ids=data.section_ids)
        return outline_of(await course_service.reorder_sections(principal, cmd))

    @patch("/{course_id:uuid}/sections/{section_id:uuid}", summary="Rename a section", responses=WRITE_ERRORS)
    async def rename_section(
        self,
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        course_id: CourseId,
        section_id: SectionId,
        data: JSONBody[Rename],
    ) -> CourseOutline:
        cmd = RenameSection(course_id=course_id, section_id=section_id, title=data.title)
        return outline_of(await course_service.rename_section(principal, cmd))

    @put(
        "/{course_id:uuid}/sections/{section_id:uuid}/release",
        summary="Set when a section opens to learners (in the draft)",
        description=(
            "`release_at` (a time, for every learner) or `release_after_days` (days after each learner "
            "enrolled), not both; neither opens the section with the course. Learners see it once the course "
            "is published again; staff are never held back."
        ),
        responses=WRITE_ERRORS,
    )
    async def set_section_release(
        self,
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        course_id: CourseId,
        section_id: SectionId,
        data: JSONBody[SectionReleaseSpec],
    ) -> SectionView:
        cmd = SetSectionRelease(course_id=course_id, section_id=section_id, **dict(data))
        return await course_service.set_section_release(principal, cmd)

    @delete(
        "/{course_id:uuid}/sections/{section_id:uuid}",
        summary="Remove a section and its lessons",
        status_code=HTTP_204_NO_CONTENT,
        responses=WRITE_ERRORS,
    )
    async def remove_section(
        self,
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        course_id: CourseId,
        section_id: SectionId,
    ) -> None:
        await course_service.remove_section(principal, RemoveSection(course_id=course_id, section_id=section_id))

    # -- lessons -------------------------------------------------------------------

    @post(
        "/{course_id:uuid}/sections/{section_id:uuid}/lessons",
        summary="Add a lesson",
        status_code=HTTP_201_CREATED,
        responses=WRITE_ERRORS,
    )
    async def add_lesson(
        self,
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        course_id: CourseId,
        section_id: SectionId,
        data: JSONBody[NewItem],
    ) -> LessonView:
        cmd = AddLesson(course_id=course_id, section_id=section_id, title=data.title, position=data.position)
        return await course_service.add_lesson(principal, cmd)

    @put(
        "/{course_id:uuid}/sections/{section_id:uuid}/lessons/order",
        summary="Reorder the lessons of a section",
        responses=WRITE_ERRORS,
    )
    async def reorder_lessons(
        self,
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        course_id: CourseId,
        section_id: SectionId,
        data: JSONBody[LessonOrder],
    ) -> CourseOutline:
        cmd = ReorderLessons(course_id=course_id, section_id=section_id, lesson_ids=data.lesson_ids)
        return outline_of(await course_service.reorder_lessons(principal, cmd))

    @patch(
        "/{course_id:uuid}/sections/{section_id:uuid}/lessons/{lesson_id:uuid}",
        summary="Rename a lesson",
        responses=WRITE_ERRORS,
    )
    async def rename_lesson(
        self,
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        course_id: CourseId,
        section_id: SectionId,
        lesson_id: LessonId,
        data: JSONBody[Rename],
    ) -> CourseOutline:
        cmd = RenameLesson(course_id=course_id, section_id=section_id, lesson_id=lesson_id, title=data.title)
        return outline_of(await course_service.rename_lesson(principal, cmd))

    @put(
        "/{course_id:uuid}/sections/{section_id:uuid}/lessons/{lesson_id:uuid}/content",
        summary="Set a lesson's content (in the draft)",
        description=(
            "Replaces the lesson's whole content. Learners see it once the course is published again; "
            "the answer carries the Markdown and its sanitised HTML."
        ),
        responses=WRITE_ERRORS,
    )
    async def set_lesson_content(
        self,
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        course_id: CourseId,
        section_id: SectionId,
        lesson_id: LessonId,
        data: JSONBody[LessonContentSpec],
    ) -> LessonView:
        cmd = SetLessonContent(course_id=course_id, section_id=section_id, lesson_id=lesson_id, **dict(data))
        return await course_service.set_lesson_content(principal, cmd)

    @delete(
        "/{course_id:uuid}/sections/{section_id:uuid}/lessons/{lesson_id:uuid}",
        summary="Remove a lesson",
        status_code=HTTP_204_NO_CONTENT,
        responses=WRITE_ERRORS,
    )
    async def remove_lesson(
        self,
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        course_id: CourseId,
        section_id: SectionId,
        lesson_id: LessonId,
    ) -> None:
        cmd = RemoveLesson(course_id=course_id, section_id=section_id, lesson_id=lesson_id)
        await course_service.remove_lesson(principal, cmd)


# -- the caller's teaching ---------------------------------------------------------------


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
