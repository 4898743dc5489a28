"""The SQL course repository: row <-> aggregate mapping, loading and flushing a course."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import (
    delete,
    exists,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.course._catalog import _LESSON_COLUMNS, _like_escape, _published_details
from elearning_adapters.sql.course._tables import course_lessons, course_sections, course_tags, course_versions, courses
from elearning_core.course.model import (
    Attachment,
    Course,
    CourseStatus,
    CourseVersion,
    Lesson,
    LessonContent,
    LessonKind,
    Level,
    PublishedDetails,
    Section,
    SectionRelease,
)
from elearning_core.course.ports import CourseRepository
from elearning_core.course.requirements import requirements_from_json, requirements_to_json
from elearning_core.shared.errors import Conflict
from elearning_core.shared.ids import CourseId, LessonId, SectionId, UserId

_IN_CHUNK = 500  # ids per IN (...) list: far below SQLite's and PostgreSQL's parameter limits


def _listed(course: Course) -> PublishedDetails:
    """What the catalog lists: the latest version's details while published, the draft's otherwise."""
    if course.status is CourseStatus.PUBLISHED and course.published_details is not None:
        return course.published_details
    return PublishedDetails(
        title=course.title,
        summary=course.summary,
        description=course.description,
        language=course.language,
        level=course.level,
        tags=tuple(course.tags),
        section_count=len(course.sections),
        lesson_count=course.lesson_count,
    )


def _draft_details(course: Course) -> dict[str, Any]:
    return {
        "title": course.title,
        "summary": course.summary,
        "description": course.description,
        "language": course.language,
        "level": course.level.value,
        "tags": list(course.tags),
    }


def _course_row(course: Course) -> dict[str, Any]:
    listed = _listed(course)
    return {
        "slug": course.slug,
        "title": listed.title,
        "summary": listed.summary,
        "description": listed.description,
        "language": listed.language,
        "level": listed.level.value,
        "tags": list(listed.tags),
        "owner_id": course.owner_id,
        "organization_id": course.organization_id,
        "status": course.status.value,
        "created_at": course.created_at,
        "updated_at": course.updated_at,
        "published_at": course.published_at,
        "section_count": listed.section_count,
        "lesson_count": listed.lesson_count,
        "search_text": " ".join([listed.title, listed.summary, *listed.tags]).lower(),
        "published_version": course.published_version,
        "has_unpublished_changes": course.has_unpublished_changes,
        "draft_details": _draft_details(course) if course.status is CourseStatus.PUBLISHED else None,
    }


def _lesson_content_row(content: LessonContent) -> dict[str, Any]:
    return {
        "kind": content.kind.value,
        "body_markdown": content.body_markdown,
        "video_id": content.video_id,
        "assessment_id": content.assessment_id,
        "attachments": [a.to_json() for a in content.attachments] or None,
        "duration_seconds": content.duration_seconds,
        "preview": content.preview,
    }


def _lesson_content(r: Any) -> LessonContent:
    return LessonContent(
        kind=LessonKind(r.kind),
        body_markdown=r.body_markdown,
        video_id=r.video_id,
        assessment_id=r.assessment_id,
        attachments=tuple(Attachment.from_json(a) for a in r.attachments or ()),
        duration_seconds=r.duration_seconds,
        preview=bool(r.preview),
    )


def _version_from_row(r: Any) -> CourseVersion:
    return CourseVersion(
        course_id=CourseId(r.course_id),
        number=r.number,
        published_at=r.published_at,
        published_by=r.published_by,
        snapshot=r.snapshot,
    )


class SqlCourseRepository(CourseRepository):
    """Loads whole aggregates; the unit of work calls ``flush`` at commit to write changes."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._seen: dict[uuid.UUID, Course] = {}
        self._new: set[uuid.UUID] = set()
        self._removed: set[uuid.UUID] = set()

    async def get(self, course_id: uuid.UUID) -> Course | None:
        if course_id in self._seen:
            return None if course_id in self._removed else self._seen[course_id]
        return await self._load(courses.c.id == course_id)

    async def get_by_slug(self, slug: str) -> Course | None:
        for course in self._seen.values():
            if course.slug == slug and course.id not in self._removed:
                return course
        return await self._load(courses.c.slug == slug)

    async def slug_taken(self, slug: str, *, excluding: uuid.UUID | None = None) -> bool:
        if any(c.slug == slug and c.id != excluding for c in self._seen.values() if c.id in self._new):
            return True
        query = select(exists().where(courses.c.slug == slug, *([courses.c.id != excluding] if excluding else [])))
        return bool((await self._conn.execute(query)).scalar())

    async def slugs_starting_with(self, prefix: str) -> set[str]:
        staged = {c.slug for c in self._seen.values() if c.id in self._new and c.slug.startswith(prefix)}
        # LIKE, not a range: PostgreSQL's locale collations do not order '-' as ASCII does.
        query = select(courses.c.slug).where(courses.c.slug.like(f"{_like_escape(prefix)}%", escape="\\"))
        return staged | set((await self._conn.execute(query)).scalars())

    async def taken(self, slugs: Collection[str], ids: Collection[uuid.UUID]) -> tuple[set[str], set[uuid.UUID]]:
        slug_list, id_list = list(slugs), list(ids)
        found_slugs: set[str] = set()
        found_ids: set[uuid.UUID] = set()
        for start in range(0, max(len(slug_list), len(id_list)), _IN_CHUNK):
            slug_chunk, id_chunk = slug_list[start : start + _IN_CHUNK], id_list[start : start + _IN_CHUNK]
            rows = await self._conn.execute(
                select(courses.c.slug, courses.c.id).where(courses.c.slug.in_(slug_chunk) | courses.c.id.in_(id_chunk))
            )
            for row in rows:
                found_slugs.add(row.slug)
                found_ids.add(row.id)
        return found_slugs & set(slug_list), found_ids & set(id_list)

    def add(self, course: Course) -> None:
        self._seen[course.id] = course
        self._new.add(course.id)

    def remove(self, course: Course) -> None:
        self._removed.add(course.id)

    def seen(self) -> Iterable[Course]:
        return self._seen.values()

    async def get_version(self, course_id: uuid.UUID, number: int) -> CourseVersion | None:
        row = (
            await self._conn.execute(
                select(course_versions).where(
                    course_versions.c.course_id == course_id, course_versions.c.number == number
                )
            )
        ).first()
        return _version_from_row(row) if row is not None else None

    async def _load(self, where: Any) -> Course | None:
        row = (await self._conn.execute(select(courses).where(where))).mappings().first()
        if row is None:
            return None
        if row["id"] in self._seen:
            # Already in this unit of work under another slug, or removed: the staged state wins.
            return None
        status = CourseStatus(row["status"])
        draft = row["draft_details"] or row
        course = Course(
            id=CourseId(row["id"]),
            slug=row["slug"],
            title=draft["title"],
            summary=draft["summary"],
            description=draft["description"],
            language=draft["language"],
            level=Level(draft["level"]),
            tags=list(draft["tags"]),
            owner_id=UserId(row["owner_id"]) if row["owner_id"] else None,
            status=status,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            published_at=row["published_at"],
            version=row["version"],
            organization_id=row["organization_id"],
            published_version=row["published_version"],
            has_unpublished_changes=row["has_unpublished_changes"],
            published_details=_published_details(row) if status is CourseStatus.PUBLISHED else None,
        )
        sections: dict[uuid.UUID, Section] = {}
        for s in await self._conn.execute(
            select(
                course_sections.c.id,
                course_sections.c.title,
                course_sections.c.release_at,
                course_sections.c.release_after_days,
                course_sections.c.requirements,
            )
            .where(course_sections.c.course_id == course.id)
            .order_by(course_sections.c.position)
        ):
            sections[s.id] = Section(
                id=SectionId(s.id),
                title=s.title,
                release=SectionRelease(s.release_at, s.release_after_days),
                requirements=requirements_from_json(s.requirements),
            )
        for lesson in await self._conn.execute(
            select(*_LESSON_COLUMNS)
            .where(course_lessons.c.course_id == course.id)
            .order_by(course_lessons.c.section_id, course_lessons.c.position)
        ):
            sections[lesson.section_id].lessons.append(
                Lesson(
                    id=LessonId(lesson.id),
                    title=lesson.title,
                    content=_lesson_content(lesson),
                    requirements=requirements_from_json(lesson.requirements),
                )
            )
        course.sections = list(sections.values())
        self._seen[course.id] = course
        return course

    async def flush(self) -> None:
        """Write every staged change; raises Conflict on a lost update or a taken slug."""
        for course_id, course in self._seen.items():
            if course_id in self._removed:
                if course_id in self._new:
                    continue
                result = await self._conn.execute(
                    delete(courses).where(courses.c.id == course_id, courses.c.version == course.version)
                )
                if result.rowcount != 1:
                    raise Conflict("the course was changed by someone else at the same time; retry")
            elif course_id in self._new:
                await self._conn.execute(insert(courses).values(id=course.id, version=1, **_course_row(course)))
                course.version = 1
                await self._write_outline(course)
            elif course.pending_events:
                result = await self._conn.execute(
                    update(courses)
                    .where(courses.c.id == course_id, courses.c.version == course.version)
                    .values(version=course.version + 1, **_course_row(course))
                )
                if result.rowcount != 1:
                    raise Conflict("the course was changed by someone else at the same time; retry")
                course.version += 1
                await self._write_outline(course, replace=True)
            if course_id not in self._removed and course.unsaved_versions:
                # Inserted only, never updated: a version taken twice fails on the primary key (Conflict).
                await self._conn.execute(
                    insert(course_versions),
                    [
                        {
                            "course_id": v.course_id,
                            "number": v.number,
                            "published_at": v.published_at,
                            "published_by": v.published_by,
                            "snapshot": v.snapshot,
                        }
                        for v in course.pull_versions()
                    ],
                )

    async def _write_outline(self, course: Course, *, replace: bool = False) -> None:
        if replace:
            await self._conn.execute(delete(course_lessons).where(course_lessons.c.course_id == course.id))
            await self._conn.execute(delete(course_sections).where(course_sections.c.course_id == course.id))
            await self._conn.execute(delete(course_tags).where(course_tags.c.course_id == course.id))
        listed_tags = _listed(course).tags
        if listed_tags:
            await self._conn.execute(insert(course_tags), [{"tag": t, "course_id": course.id} for t in listed_tags])
        if course.sections:
            await self._conn.execute(
                insert(course_sections),
                [
                    {
                        "id": s.id,
                        "course_id": course.id,
                        "position": i,
                        "title": s.title,
                        "release_at": s.release.release_at,
                        "release_after_days": s.release.release_after_days,
                        "requirements": requirements_to_json(s.requirements),
                    }
                    for i, s in enumerate(course.sections)
                ],
            )
        lessons = [
            {
                "id": lesson.id,
                "course_id": course.id,
                "section_id": s.id,
                "position": i,
                "title": lesson.title,
                **_lesson_content_row(lesson.content),
                "requirements": requirements_to_json(lesson.requirements),
            }
            for s in course.sections
            for i, lesson in enumerate(s.lessons)
        ]
        if lessons:
            await self._conn.execute(insert(course_lessons), lessons)
