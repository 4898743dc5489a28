"""Course authoring under ``/api/v1/courses``: a course's details, lifecycle, sections and lessons."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, patch, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

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
    RequirementsSpec,
    SectionReleaseSpec,
    SetLessonContent,
    SetLessonRequirements,
    SetSectionRelease,
    SetSectionRequirements,
    UpdateCourse,
)
from elearning_core.course.queries import (
    CourseOutline,
    LessonView,
    SectionView,
    outline_of,
)
from elearning_core.course.service import CourseService
from elearning_core.shared.ports import Principal
from elearning_http.routes.courses._schemas import (
    WRITE_ERRORS,
    CourseId,
    CoursePatch,
    LessonId,
    LessonOrder,
    NewItem,
    Rename,
    SectionId,
    SectionOrder,
)

_REQUIREMENTS_DESCRIPTION = (
    "Conditional release: replaces the whole list (empty removes it). Kinds: `previous`; `lesson` "
    "(a lesson of this course, not the one requiring it, completed); `quiz` (an assessment a lesson of this "
    "course shows, passed, with at least `min_percent` as the best graded percent when given). 422 names the "
    "bad item by its path, also when the requirements would wait on each other in a cycle. Learners see them "
    "once the course is published again; until met, the lesson's access is `locked` and reading it answers "
    "403 `urn:elearning:problem:locked-by-requirement` with `unmet_requirements`. Staff are never held back."
)


class _Authoring:
    """The course writes of ``CourseController``."""

    path: str  # the controller's (``/api/v1/courses``): a created course's Location is under it

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

    @put(
        "/{course_id:uuid}/sections/{section_id:uuid}/requirements",
        summary="Set what a section requires before its lessons open (in the draft)",
        description=_REQUIREMENTS_DESCRIPTION
        + " On a section, `previous` means every lesson of the section before it completed.",
        responses=WRITE_ERRORS,
    )
    async def set_section_requirements(
        self,
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        course_id: CourseId,
        section_id: SectionId,
        data: JSONBody[RequirementsSpec],
    ) -> SectionView:
        cmd = SetSectionRequirements(course_id=course_id, section_id=section_id, requirements=data.requirements)
        return await course_service.set_section_requirements(principal, cmd)

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

    @put(
        "/{course_id:uuid}/sections/{section_id:uuid}/lessons/{lesson_id:uuid}/requirements",
        summary="Set what a lesson requires before it opens (in the draft)",
        description=_REQUIREMENTS_DESCRIPTION
        + " On a lesson, `previous` means the lesson before it in outline order (across sections) completed; "
        "its section's requirements apply as well.",
        responses=WRITE_ERRORS,
    )
    async def set_lesson_requirements(
        self,
        course_service: NamedDependency[CourseService],
        principal: NamedDependency[Principal],
        course_id: CourseId,
        section_id: SectionId,
        lesson_id: LessonId,
        data: JSONBody[RequirementsSpec],
    ) -> LessonView:
        cmd = SetLessonRequirements(
            course_id=course_id, section_id=section_id, lesson_id=lesson_id, requirements=data.requirements
        )
        return await course_service.set_lesson_requirements(principal, cmd)

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
