"""The portable catalog read queries (SQLite and PostgreSQL), and the row mapping they share."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    exists,
    select,
    tuple_,
)

from elearning_adapters.sql.course._tables import course_lessons, course_sections, course_tags, course_versions, courses
from elearning_adapters.sql.course._text_filter import text_filter
from elearning_adapters.sql.engine import Database
from elearning_core.course.model import (
    CourseStatus,
    LessonKind,
    Level,
    PublishedDetails,
)
from elearning_core.course.queries import (
    AttachmentView,
    CatalogFilter,
    CatalogKey,
    CatalogQueries,
    CourseOutline,
    CourseSummary,
    LessonView,
    LiveCourse,
    SectionView,
    TeachingScope,
    VersionSummary,
    published_outline_of,
)
from elearning_core.course.requirements import requirements_from_json

_LESSON_COLUMNS = (
    course_lessons.c.id,
    course_lessons.c.section_id,
    course_lessons.c.title,
    course_lessons.c.kind,
    course_lessons.c.body_markdown,
    course_lessons.c.video_id,
    course_lessons.c.assessment_id,
    course_lessons.c.attachments,
    course_lessons.c.duration_seconds,
    course_lessons.c.preview,
    course_lessons.c.requirements,
)


def _published_details(row: Any) -> PublishedDetails:
    """The listed columns of a published course's row: its latest version's details."""
    return PublishedDetails(
        title=row["title"],
        summary=row["summary"],
        description=row["description"],
        language=row["language"],
        level=Level(row["level"]),
        tags=tuple(row["tags"]),
        section_count=row["section_count"],
        lesson_count=row["lesson_count"],
    )


_LEVELS = {level.value: level for level in Level}
_STATUSES = {status.value: status for status in CourseStatus}

# The PostgreSQL fast path selects the same columns in the same order (_PG_SUMMARY_COLUMNS).
_SUMMARY_COLUMNS = (
    courses.c.id,
    courses.c.slug,
    courses.c.title,
    courses.c.summary,
    courses.c.language,
    courses.c.level,
    courses.c.tags,
    courses.c.owner_id,
    courses.c.status,
    courses.c.created_at,
    courses.c.published_at,
    courses.c.section_count,
    courses.c.lesson_count,
)


def _summary_from_row(r: Sequence[Any]) -> CourseSummary:
    """A summary from a row in the column order both catalog adapters select (``_SUMMARY_COLUMNS``)."""
    return CourseSummary(
        id=r[0],
        slug=r[1],
        title=r[2],
        summary=r[3],
        language=r[4],
        level=_LEVELS[r[5]],
        tags=r[6],
        owner_id=r[7],
        status=_STATUSES[r[8]],
        created_at=r[9],
        published_at=r[10],
        section_count=r[11],
        lesson_count=r[12],
    )


def _like_escape(text: str) -> str:
    return text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _teaching(db: Database, where: TeachingScope, after: CatalogKey | None, limit: int) -> list[CourseSummary]:
    mine = courses.c.owner_id == where.user_id
    if where.course_ids:
        mine = mine | courses.c.id.in_(sorted(where.course_ids))
    if where.organization_ids:
        mine = mine | courses.c.organization_id.in_(sorted(where.organization_ids))
    query = select(*_SUMMARY_COLUMNS).where(mine)
    if after is not None:
        query = query.where(tuple_(courses.c.created_at, courses.c.id) < tuple_(after[0], after[1]))
    query = query.order_by(courses.c.created_at.desc(), courses.c.id.desc()).limit(limit)
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [_summary_from_row(r) for r in rows]


class SqlCatalogQueries(CatalogQueries):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_courses(self, where: CatalogFilter, after: CatalogKey | None, limit: int) -> list[CourseSummary]:
        sort_at = courses.c.published_at if where.status is CourseStatus.PUBLISHED else courses.c.created_at
        query = select(*_SUMMARY_COLUMNS)
        if where.status is not None:
            query = query.where(courses.c.status == where.status.value)
        if where.language:
            query = query.where(courses.c.language == where.language)
        if where.level:
            query = query.where(courses.c.level == where.level.value)
        if where.tag:
            query = query.where(
                exists().where(course_tags.c.tag == where.tag.lower(), course_tags.c.course_id == courses.c.id)
            )
        if where.text:
            query = query.where(text_filter(where.text, courses.c.id, sqlite=self._db.is_sqlite))
        if after is not None:
            query = query.where(tuple_(sort_at, courses.c.id) < tuple_(after[0], after[1]))
        query = query.order_by(sort_at.desc(), courses.c.id.desc()).limit(limit)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_summary_from_row(r) for r in rows]

    async def outline(self, course_id: uuid.UUID) -> CourseOutline | None:
        return await self._outline(courses.c.id == course_id)

    async def teaching(self, where: TeachingScope, after: CatalogKey | None, limit: int) -> list[CourseSummary]:
        return await _teaching(self._db, where, after, limit)

    async def outline_by_slug(self, slug: str) -> CourseOutline | None:
        return await self._outline(courses.c.slug == slug)

    async def published_outline(self, course_id: uuid.UUID, number: int | None = None) -> CourseOutline | None:
        return await self._published(courses.c.id == course_id, number)

    async def published_outline_by_slug(self, slug: str, number: int | None = None) -> CourseOutline | None:
        return await self._published(courses.c.slug == slug, number)

    async def versions(
        self, course_id: uuid.UUID, before: int | None = None, limit: int | None = None
    ) -> list[VersionSummary]:
        # The primary key (course_id, number) serves the filter and the order.
        query = (
            select(course_versions.c.number, course_versions.c.published_at, course_versions.c.published_by)
            .where(course_versions.c.course_id == course_id)
            .order_by(course_versions.c.number.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(course_versions.c.number < before)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [VersionSummary(number=r.number, published_at=r.published_at, published_by=r.published_by) for r in rows]

    async def _published(self, where: Any, number: int | None) -> CourseOutline | None:
        wanted = courses.c.published_version if number is None else number
        query = (
            select(*_LIVE_COLUMNS, course_versions.c.number, course_versions.c.published_at.label("v_published_at"))
            .add_columns(course_versions.c.snapshot)
            .select_from(courses)
            .join(
                course_versions,
                (course_versions.c.course_id == courses.c.id) & (course_versions.c.number == wanted),
            )
            .where(where)
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return published_outline_of(_live_from_row(row), row.number, row.v_published_at, row.snapshot)

    async def _outline(self, where: Any) -> CourseOutline | None:
        course_query = select(courses).where(where)
        async with self._db.read() as conn:
            row = (await conn.execute(course_query)).first()
            if row is None:
                return None
            outline_rows = (
                await conn.execute(
                    select(
                        course_sections.c.id,
                        course_sections.c.title,
                        course_sections.c.release_at,
                        course_sections.c.release_after_days,
                        course_sections.c.requirements,
                        course_lessons.c.id.label("lesson_id"),
                        course_lessons.c.title.label("lesson_title"),
                        course_lessons.c.kind,
                        course_lessons.c.body_markdown,
                        course_lessons.c.video_id,
                        course_lessons.c.assessment_id,
                        course_lessons.c.attachments,
                        course_lessons.c.duration_seconds,
                        course_lessons.c.preview,
                        course_lessons.c.requirements.label("lesson_requirements"),
                    )
                    .select_from(course_sections)
                    .outerjoin(course_lessons, course_lessons.c.section_id == course_sections.c.id)
                    .where(course_sections.c.course_id == row.id)
                    .order_by(course_sections.c.position, course_lessons.c.position)
                )
            ).all()
        draft = row.draft_details or {}
        return CourseOutline(
            id=row.id,
            slug=row.slug,
            title=draft.get("title", row.title),
            summary=draft.get("summary", row.summary),
            description=draft.get("description", row.description),
            language=draft.get("language", row.language),
            level=Level(draft.get("level", row.level)),
            tags=draft.get("tags", row.tags),
            owner_id=row.owner_id,
            status=CourseStatus(row.status),
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            published_at=row.published_at,
            sections=_group_outline(outline_rows),
            organization_id=row.organization_id,
            published_version=row.published_version,
            has_unpublished_changes=row.has_unpublished_changes,
        )


_LIVE_COLUMNS = (
    courses.c.id,
    courses.c.slug,
    courses.c.owner_id,
    courses.c.organization_id,
    courses.c.status,
    courses.c.version,
    courses.c.created_at,
    courses.c.published_version,
    courses.c.has_unpublished_changes,
)


def _live_from_row(r: Sequence[Any]) -> LiveCourse:
    """The live course fields, in the column order of ``_LIVE_COLUMNS`` (and of the PostgreSQL statement)."""
    return LiveCourse(
        id=r[0],
        slug=r[1],
        owner_id=r[2],
        organization_id=r[3],
        status=_STATUSES[r[4]],
        version=r[5],
        created_at=r[6],
        published_version=r[7],
        has_unpublished_changes=r[8],
    )


def _attachment_views(raw: list[dict[str, Any]] | None) -> list[AttachmentView]:
    return [
        AttachmentView(
            id=uuid.UUID(a["id"]),
            name=a["name"],
            size_bytes=a["size_bytes"],
            content_type=a["content_type"],
            url=a.get("url"),
            storage_key=a.get("storage_key"),
        )
        for a in raw or ()
    ]


def _draft_lesson(
    lesson_id: uuid.UUID,
    title: str,
    position: int,
    kind: str,
    body_markdown: str,
    video_id: uuid.UUID | None,
    assessment_id: uuid.UUID | None,
    attachments: list[dict[str, Any]] | None,
    duration_seconds: int | None,
    preview: bool,
    requirements: list[dict[str, Any]] | None = None,
) -> LessonView:
    return LessonView(
        id=lesson_id,
        title=title,
        position=position,
        kind=LessonKind(kind),
        body_markdown=body_markdown,
        video_id=video_id,
        assessment_id=assessment_id,
        attachments=_attachment_views(attachments),
        duration_seconds=duration_seconds,
        preview=bool(preview),
        requirements=list(requirements_from_json(requirements)),
    )


def _group_outline(rows: Sequence[Any]) -> list[SectionView]:
    sections: list[SectionView] = []
    current_id = None
    for r in rows:
        if r.id != current_id:
            current_id = r.id
            sections.append(
                SectionView(
                    id=r.id,
                    title=r.title,
                    position=len(sections),
                    lessons=[],
                    release_at=r.release_at,
                    release_after_days=r.release_after_days,
                    requirements=list(requirements_from_json(r.requirements)),
                )
            )
        if r.lesson_id is not None:
            lessons = sections[-1].lessons
            lessons.append(
                _draft_lesson(
                    r.lesson_id,
                    r.lesson_title,
                    len(lessons),
                    r.kind,
                    r.body_markdown,
                    r.video_id,
                    r.assessment_id,
                    r.attachments,
                    r.duration_seconds,
                    r.preview,
                    r.lesson_requirements,
                )
            )
    return sections


# -- PostgreSQL fast path ------------------------------------------------------------

# The same columns in the same order as _SUMMARY_COLUMNS, so _summary_from_row reads both.
