"""Importing courses from records, and copying courses (an import with fresh ids)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from elearning_core.course.commands import (
    CourseSpec,
    LessonRequirementSpec,
    LessonSpec,
    RequirementSpec,
    SetLessonContent,
    requirement_of,
)
from elearning_core.course.model import (
    Course,
    CourseStatus,
    SectionRelease,
    check_slug,
    first_free_slug,
)
from elearning_core.course.ports import CourseUnitOfWork
from elearning_core.course.service._base import CREATE, _Base, _content_of
from elearning_core.shared.errors import Conflict, FieldError, ValidationFailed
from elearning_core.shared.ids import CourseId, LessonId, SectionId, UserId, new_uuid
from elearning_core.shared.ports import Principal, require


class _Imports(_Base):
    async def import_courses(
        self,
        actor: Principal,
        specs: Sequence[CourseSpec],
        on_progress: Callable[[int], None] | None = None,
        *,
        as_copy: bool = False,
    ) -> list[Course]:
        """Create every course of ``specs`` in one transaction, or none of them.

        Every record is built and checked (values, slugs unique in the file
        and in the catalog, publishability) before anything is written; the
        first bad record is reported by its index and slug.

        ``as_copy``: each record becomes a new course beside what is stored: new ids (course, sections,
        lessons, attachments) and the first free slug derived from the record's (``intro`` -> ``intro-2``).
        """
        require(self._policy, actor, CREATE)
        at = self._clock.now()
        async with self._uow() as uow:
            if as_copy:
                specs = await _copies(uow, specs)
            courses = [
                _build_from_spec(index, spec, at, actor.user_id, self._renderer.render)
                for index, spec in enumerate(specs)
            ]
            seen: dict[str, int] = {}
            seen_ids: dict[uuid.UUID, int] = {}
            for index, course in enumerate(courses):
                if course.slug in seen:
                    raise _record_error(index, course.slug, f"slug duplicates record {seen[course.slug]}", "slug")
                if course.id in seen_ids:
                    raise _record_error(index, course.slug, f"id duplicates record {seen_ids[course.id]}", "id")
                seen[course.slug] = index
                seen_ids[course.id] = index
            taken_slugs, taken_ids = await uow.courses.taken(seen, seen_ids)
            for index, course in enumerate(courses):
                if course.slug in taken_slugs or course.id in taken_ids:
                    raise _record_error(index, course.slug, "a course with this slug or id already exists", "slug")
            for index, course in enumerate(courses):
                uow.courses.add(course)
                if on_progress is not None:
                    on_progress(index + 1)
            await uow.commit()
        return courses

    async def import_clashes(self, actor: Principal, specs: Sequence[CourseSpec]) -> dict[int, list[str]]:
        """For each record whose slug or id a stored course already uses: what clashes (one query)."""
        require(self._policy, actor, CREATE)
        async with self._uow() as uow:
            slugs, ids = await uow.courses.taken({s.slug for s in specs}, {s.id for s in specs if s.id is not None})
        clashes: dict[int, list[str]] = {}
        for index, spec in enumerate(specs):
            if spec.slug in slugs:
                clashes.setdefault(index, []).append("slug: a course with this slug already exists")
            if spec.id is not None and spec.id in ids:
                clashes.setdefault(index, []).append("id: a course with this id already exists")
        return clashes


def _record_error(index: int, slug: str, message: str, field: str) -> ValidationFailed:
    return ValidationFailed(f"record {index} ({slug}): {message}", [FieldError(f"[{index}].{field}", message)])


def _build_from_spec(
    index: int, spec: CourseSpec, at: datetime, by: uuid.UUID | None, render: Callable[[str], str]
) -> Course:
    """Build a course from an import record through the aggregate's own behaviour."""
    try:
        course = Course.create(
            title=spec.title,
            slug=spec.slug,
            at=at,
            summary=spec.summary,
            description=spec.description,
            language=spec.language,
            level=spec.level,
            tags=spec.tags,
            owner_id=UserId(spec.owner_id) if spec.owner_id else None,
            course_id=CourseId(spec.id) if spec.id else None,
            organization_id=spec.organization_id,
        )
        for section_spec in spec.sections:
            section = course.add_section(
                section_spec.title, at, section_id=SectionId(section_spec.id) if section_spec.id else None
            )
            release = SectionRelease.checked(section_spec.release_at, section_spec.release_after_days)
            course.set_section_release(section.id, release, at)
            for lesson_spec in section_spec.lessons:
                lesson = course.add_lesson(
                    section.id, lesson_spec.title, at, lesson_id=LessonId(lesson_spec.id) if lesson_spec.id else None
                )
                if lesson_spec.content is not None:
                    content = _content_of(
                        SetLessonContent(
                            course_id=course.id,
                            section_id=section.id,
                            lesson_id=lesson.id,
                            **lesson_spec.content.model_dump(),
                        )
                    )
                    course.set_lesson_content(section.id, lesson.id, content, at)
        # Requirements once the whole outline exists: they may name any lesson of the course.
        for section_spec, section in zip(spec.sections, course.sections, strict=True):
            if section_spec.requirements:
                requirements = [requirement_of(r, i) for i, r in enumerate(section_spec.requirements)]
                course.set_section_requirements(section.id, requirements, at)
            for lesson_spec, lesson in zip(section_spec.lessons, section.lessons, strict=True):
                if lesson_spec.requirements:
                    requirements = [requirement_of(r, i) for i, r in enumerate(lesson_spec.requirements)]
                    course.set_lesson_requirements(section.id, lesson.id, requirements, at)
        if spec.status is CourseStatus.PUBLISHED:
            course.publish(at, by=by, render=render)
        elif spec.status is CourseStatus.ARCHIVED:
            course.archive(at)
    except ValidationFailed as exc:
        raise ValidationFailed(
            f"record {index} ({spec.slug}): {exc.detail}",
            [FieldError(f"[{index}].{e.field}", e.message) for e in exc.errors],
        ) from None
    except Conflict as exc:
        raise _record_error(index, spec.slug, exc.detail, "status") from None
    return course


async def _copies(uow: CourseUnitOfWork, specs: Sequence[CourseSpec]) -> list[CourseSpec]:
    """The records as new courses: no ids (fresh ones are made) and the first slugs free in the catalog and the file."""
    chosen: set[str] = set()
    copies = []
    for index, spec in enumerate(specs):
        try:
            base = check_slug(spec.slug)
        except ValidationFailed as exc:
            raise _record_error(index, spec.slug, exc.errors[0].message, "slug") from None
        slug = first_free_slug(base, chosen | await uow.courses.slugs_starting_with(base))
        chosen.add(slug)
        # Fresh lesson ids made here rather than by the aggregate, so requirements naming a lesson follow it.
        new_ids = {
            lesson.id: new_uuid() for section in spec.sections for lesson in section.lessons if lesson.id is not None
        }
        copies.append(
            spec.model_copy(
                update={
                    "id": None,
                    "slug": slug,
                    "sections": [
                        section.model_copy(
                            update={
                                "id": None,
                                "requirements": _requirements_copy(section.requirements, new_ids),
                                "lessons": [_lesson_copy(lesson, new_ids) for lesson in section.lessons],
                            }
                        )
                        for section in spec.sections
                    ],
                }
            )
        )
    return copies


def _lesson_copy(lesson: LessonSpec, new_ids: dict[uuid.UUID, uuid.UUID]) -> LessonSpec:
    content = lesson.content
    if content is not None and content.attachments:
        content = content.model_copy(
            update={"attachments": [a.model_copy(update={"id": None}) for a in content.attachments]}
        )
    return lesson.model_copy(
        update={
            "id": new_ids.get(lesson.id) if lesson.id is not None else None,
            "content": content,
            "requirements": _requirements_copy(lesson.requirements, new_ids),
        }
    )


def _requirements_copy(
    requirements: list[RequirementSpec], new_ids: dict[uuid.UUID, uuid.UUID]
) -> list[RequirementSpec]:
    """The requirements with the lessons they name renamed to the copy's (others are left to be refused)."""
    return [
        r.model_copy(update={"lesson_id": new_ids.get(r.lesson_id, r.lesson_id)})
        if isinstance(r, LessonRequirementSpec)
        else r
        for r in requirements
    ]
