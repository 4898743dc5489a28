"""The course's edits: create, update, delete, its outline, its content and its lifecycle."""

from __future__ import annotations

import uuid
from dataclasses import replace

from elearning_core.auth.model import ResourceRef, ScopeKind
from elearning_core.course.commands import (
    AddLesson,
    AddSection,
    CourseRef,
    CreateCourse,
    RemoveLesson,
    RemoveSection,
    RenameLesson,
    RenameSection,
    ReorderLessons,
    ReorderSections,
    SetLessonContent,
    SetLessonRequirements,
    SetSectionRelease,
    SetSectionRequirements,
    UpdateCourse,
    requirement_of,
)
from elearning_core.course.model import (
    Course,
    SectionRelease,
    check_slug,
    check_title,
    first_free_slug,
    slugify,
)
from elearning_core.course.queries import (
    LessonView,
    SectionView,
    outline_of,
)
from elearning_core.course.service._base import (
    CREATE,
    DELETE,
    EDIT,
    GRANT,
    PUBLISH,
    SLUG_ATTEMPTS,
    _Base,
    _content_of,
    _refuse_anonymous,
)
from elearning_core.shared.errors import Conflict
from elearning_core.shared.ids import UserId
from elearning_core.shared.ports import Principal, require


class _Writes(_Base):
    async def create(self, actor: Principal, cmd: CreateCourse) -> Course:
        # Creating in an organization needs the right there (an organization's instructor may);
        # otherwise on the platform.
        where = ResourceRef(ScopeKind.ORGANIZATION, cmd.organization_id) if cmd.organization_id else None
        require(self._policy, actor, CREATE, where)
        if cmd.owner_id is not None and cmd.owner_id != actor.user_id:
            # The owner holds an implicit instructor grant on the course: naming someone else as owner
            # grants them a role, which needs role.grant there (an instructor creates only for themselves).
            require(self._policy, actor, GRANT, where)
        base = None if cmd.slug is not None else slugify(check_title(cmd.title))
        for attempt in range(1, SLUG_ATTEMPTS + 1):
            async with self._uow() as uow:
                if base is None:
                    slug = cmd.slug
                    assert slug is not None
                    if await uow.courses.slug_taken(check_slug(slug)):
                        raise _slug_conflict(slug)
                else:
                    # The first free ``base-N`` as this transaction sees it; a concurrent create that took the
                    # same one first makes the commit fail on the unique slug, and the next attempt looks again.
                    slug = first_free_slug(base, await uow.courses.slugs_starting_with(base))
                course = Course.create(
                    title=cmd.title,
                    slug=slug,
                    at=self._clock.now(),
                    summary=cmd.summary,
                    description=cmd.description,
                    language=cmd.language,
                    level=cmd.level,
                    tags=cmd.tags,
                    owner_id=_owner(cmd.owner_id or actor.user_id),
                    organization_id=cmd.organization_id,
                )
                uow.courses.add(course)
                try:
                    await uow.commit()
                except Conflict:
                    if base is None or attempt == SLUG_ATTEMPTS:
                        raise
                    continue
            return course
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def update(self, actor: Principal, cmd: UpdateCourse) -> Course:
        _refuse_anonymous(self._policy, actor, EDIT)
        async with self._uow() as uow:
            course = await self._load(uow, cmd.course_id)
            require(self._policy, actor, EDIT, course)
            if cmd.expected_version is not None and cmd.expected_version != course.version:
                raise Conflict(f"course changed since version {cmd.expected_version} (now {course.version}); reload it")
            changes = cmd.changes()
            if "slug" in changes and changes["slug"] != course.slug:
                slug = check_slug(str(changes["slug"]))
                if await uow.courses.slug_taken(slug, excluding=course.id):
                    raise _slug_conflict(slug)
            course.change_details(self._clock.now(), **changes)
            await uow.commit()
        return course

    async def delete(self, actor: Principal, cmd: CourseRef) -> None:
        _refuse_anonymous(self._policy, actor, DELETE)
        async with self._uow() as uow:
            course = await self._load(uow, cmd.course_id)
            require(self._policy, actor, DELETE, course)
            course.mark_deleted(self._clock.now())
            uow.courses.remove(course)
            await uow.commit()

    async def add_section(self, actor: Principal, cmd: AddSection) -> SectionView:
        async with self._uow() as uow:
            course = await self._editable(uow, actor, cmd.course_id)
            section = course.add_section(cmd.title, self._clock.now(), cmd.position)
            await uow.commit()
        return next(s for s in outline_of(course).sections if s.id == section.id)

    async def rename_section(self, actor: Principal, cmd: RenameSection) -> Course:
        return await self._edit(actor, cmd.course_id, lambda c, at: c.rename_section(cmd.section_id, cmd.title, at))

    async def set_section_release(self, actor: Principal, cmd: SetSectionRelease) -> SectionView:
        """Set when a section opens to learners (in the draft; learners see it once published again)."""
        release = SectionRelease.checked(cmd.release_at, cmd.release_after_days)
        course = await self._edit(
            actor, cmd.course_id, lambda c, at: c.set_section_release(cmd.section_id, release, at)
        )
        return next(s for s in outline_of(course).sections if s.id == cmd.section_id)

    async def set_section_requirements(self, actor: Principal, cmd: SetSectionRequirements) -> SectionView:
        """Set what a learner must meet before any lesson of the section opens (in the draft)."""
        requirements = [requirement_of(spec, i) for i, spec in enumerate(cmd.requirements)]
        course = await self._edit(
            actor, cmd.course_id, lambda c, at: c.set_section_requirements(cmd.section_id, requirements, at)
        )
        return next(s for s in outline_of(course).sections if s.id == cmd.section_id)

    async def set_lesson_requirements(self, actor: Principal, cmd: SetLessonRequirements) -> LessonView:
        """Set what a learner must meet before the lesson opens (in the draft)."""
        requirements = [requirement_of(spec, i) for i, spec in enumerate(cmd.requirements)]
        course = await self._edit(
            actor,
            cmd.course_id,
            lambda c, at: c.set_lesson_requirements(cmd.section_id, cmd.lesson_id, requirements, at),
        )
        section = next(s for s in outline_of(course).sections if s.id == cmd.section_id)
        lesson = next(item for item in section.lessons if item.id == cmd.lesson_id)
        return (
            replace(lesson, body_html=self._renderer.render(lesson.body_markdown)) if lesson.body_markdown else lesson
        )

    async def reorder_sections(self, actor: Principal, cmd: ReorderSections) -> Course:
        return await self._edit(actor, cmd.course_id, lambda c, at: c.reorder_sections(cmd.section_ids, at))

    async def remove_section(self, actor: Principal, cmd: RemoveSection) -> Course:
        return await self._edit(actor, cmd.course_id, lambda c, at: c.remove_section(cmd.section_id, at))

    async def add_lesson(self, actor: Principal, cmd: AddLesson) -> LessonView:
        async with self._uow() as uow:
            course = await self._editable(uow, actor, cmd.course_id)
            lesson = course.add_lesson(cmd.section_id, cmd.title, self._clock.now(), cmd.position)
            await uow.commit()
        section = next(s for s in outline_of(course).sections if s.id == cmd.section_id)
        return next(item for item in section.lessons if item.id == lesson.id)

    async def rename_lesson(self, actor: Principal, cmd: RenameLesson) -> Course:
        return await self._edit(
            actor, cmd.course_id, lambda c, at: c.rename_lesson(cmd.section_id, cmd.lesson_id, cmd.title, at)
        )

    async def reorder_lessons(self, actor: Principal, cmd: ReorderLessons) -> Course:
        return await self._edit(
            actor, cmd.course_id, lambda c, at: c.reorder_lessons(cmd.section_id, cmd.lesson_ids, at)
        )

    async def remove_lesson(self, actor: Principal, cmd: RemoveLesson) -> Course:
        return await self._edit(actor, cmd.course_id, lambda c, at: c.remove_lesson(cmd.section_id, cmd.lesson_id, at))

    async def set_lesson_content(self, actor: Principal, cmd: SetLessonContent) -> LessonView:
        """Replace a lesson's content in the draft; learners see it once the course is published again."""
        content = _content_of(cmd)
        async with self._uow() as uow:
            course = await self._editable(uow, actor, cmd.course_id)
            course.set_lesson_content(cmd.section_id, cmd.lesson_id, content, self._clock.now())
            await uow.commit()
        section = next(s for s in outline_of(course).sections if s.id == cmd.section_id)
        lesson = next(item for item in section.lessons if item.id == cmd.lesson_id)
        return (
            replace(lesson, body_html=self._renderer.render(content.body_markdown)) if content.body_markdown else lesson
        )

    async def publish(self, actor: Principal, cmd: CourseRef) -> Course:
        """Publish the draft as the course's next version (the first, or N+1 after edits)."""
        render = self._renderer.render
        return await self._edit(
            actor,
            cmd.course_id,
            lambda c, at: c.publish(at, by=actor.user_id, render=render),
            permission=PUBLISH,
        )

    async def unpublish(self, actor: Principal, cmd: CourseRef) -> Course:
        return await self._edit(actor, cmd.course_id, lambda c, at: c.unpublish(at), permission=PUBLISH)

    async def archive(self, actor: Principal, cmd: CourseRef) -> Course:
        return await self._edit(actor, cmd.course_id, lambda c, at: c.archive(at), permission=PUBLISH)


def _owner(user_id: uuid.UUID | None) -> UserId | None:
    return UserId(user_id) if user_id is not None else None


def _slug_conflict(slug: str) -> Conflict:
    return Conflict(f"slug {slug!r} is already taken by another course")
