"""Course tables, the SQL course repository and the catalog read queries.

Mapping style (used by every module): SQLAlchemy Core tables, and explicit
row <-> entity mapping in the repository; no ORM-mapped classes. Catalog reads
go straight from one SQL statement to flat read models.

Drafts and published versions: ``course_sections``/``course_lessons`` hold the
draft outline, ``course_versions`` one immutable JSON snapshot per published
version. The ``courses`` row serves the catalog listing, so its listed columns
(title, summary, description, language, level, tags, counts, search text and
``course_tags``) hold the latest published version's details while the course
is published, and the draft's otherwise; while published, the draft's own
details are in ``draft_details``. The catalog list therefore never shows a
draft, and stays one indexed query.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    delete,
    exists,
    false,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import JSON, Uuid

from elearning_adapters.sql.engine import Database, UtcDateTime, metadata
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
)
from elearning_core.course.ports import CourseRepository
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
from elearning_core.shared.errors import Conflict
from elearning_core.shared.ids import CourseId, LessonId, SectionId, UserId

courses = Table(
    "courses",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("slug", String(80), nullable=False, unique=True),
    Column("title", String(200), nullable=False),
    Column("summary", String(500), nullable=False),
    Column("description", Text, nullable=False),
    Column("language", String(35), nullable=False),
    Column("level", String(20), nullable=False),
    Column("tags", JSON, nullable=False),
    Column("owner_id", Uuid, nullable=True),
    Column("status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime, nullable=True),
    Column("section_count", Integer, nullable=False),
    Column("lesson_count", Integer, nullable=False),
    # Lowercased title + summary + tags, for the "text contains" filter.
    Column("search_text", Text, nullable=False),
    # The owning organization (identity module); no foreign key across modules, like owner_id.
    Column("organization_id", Uuid, nullable=True),
    # The latest published version's number (course_versions.number), if any.
    Column("published_version", Integer, nullable=True),
    Column("has_unpublished_changes", Boolean, nullable=False, server_default=false()),
    # While published: the draft's details (the listed columns hold the published ones); NULL otherwise.
    Column("draft_details", JSON(none_as_null=True), nullable=True),
)
# Keyset indexes: each catalog filter walks its own index in cursor order.
Index("ix_courses_status_published", courses.c.status, courses.c.published_at, courses.c.id)
Index(
    "ix_courses_status_language_published", courses.c.status, courses.c.language, courses.c.published_at, courses.c.id
)
Index("ix_courses_status_level_published", courses.c.status, courses.c.level, courses.c.published_at, courses.c.id)
Index("ix_courses_status_created", courses.c.status, courses.c.created_at, courses.c.id)

course_tags = Table(
    "course_tags",
    metadata,
    Column("tag", String(40), nullable=False),
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("tag", "course_id"),
)
Index("ix_course_tags_course_id", course_tags.c.course_id)

course_sections = Table(
    "course_sections",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("title", String(200), nullable=False),
)
Index("ix_course_sections_course_id_position", course_sections.c.course_id, course_sections.c.position)

course_lessons = Table(
    "course_lessons",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("section_id", Uuid, ForeignKey("course_sections.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("title", String(200), nullable=False),
    Column("kind", String(16), nullable=False, server_default="text"),
    Column("body_markdown", Text, nullable=False),
    # References to other modules' records (video assets, assessments): no foreign keys across modules.
    Column("video_id", Uuid, nullable=True),
    Column("assessment_id", Uuid, nullable=True),
    Column("attachments", JSON(none_as_null=True), nullable=True),
    Column("duration_seconds", Integer, nullable=True),
)
Index(
    "ix_course_lessons_course_id_section_id_position",
    course_lessons.c.course_id,
    course_lessons.c.section_id,
    course_lessons.c.position,
)
Index("ix_course_lessons_section_id", course_lessons.c.section_id)

# Immutable: rows are inserted by publishing and never updated. The primary key serves
# both the latest-version read (number = courses.published_version) and version N.
course_versions = Table(
    "course_versions",
    metadata,
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("published_at", UtcDateTime, nullable=False),
    Column("published_by", Uuid, nullable=True),
    Column("snapshot", JSON, nullable=False),
    PrimaryKeyConstraint("course_id", "number"),
)


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
    }


def _lesson_content(r: Any) -> LessonContent:
    return LessonContent(
        kind=LessonKind(r.kind),
        body_markdown=r.body_markdown,
        video_id=r.video_id,
        assessment_id=r.assessment_id,
        attachments=tuple(Attachment.from_json(a) for a in r.attachments or ()),
        duration_seconds=r.duration_seconds,
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
            select(course_sections.c.id, course_sections.c.title)
            .where(course_sections.c.course_id == course.id)
            .order_by(course_sections.c.position)
        ):
            sections[s.id] = Section(id=SectionId(s.id), title=s.title)
        for lesson in await self._conn.execute(
            select(*_LESSON_COLUMNS)
            .where(course_lessons.c.course_id == course.id)
            .order_by(course_lessons.c.section_id, course_lessons.c.position)
        ):
            sections[lesson.section_id].lessons.append(
                Lesson(id=LessonId(lesson.id), title=lesson.title, content=_lesson_content(lesson))
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
                    {"id": s.id, "course_id": course.id, "position": i, "title": s.title}
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
            }
            for s in course.sections
            for i, lesson in enumerate(s.lessons)
        ]
        if lessons:
            await self._conn.execute(insert(course_lessons), lessons)


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
            query = query.where(courses.c.search_text.like(f"%{_like_escape(where.text)}%", escape="\\"))
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
                        course_lessons.c.id.label("lesson_id"),
                        course_lessons.c.title.label("lesson_title"),
                        course_lessons.c.kind,
                        course_lessons.c.body_markdown,
                        course_lessons.c.video_id,
                        course_lessons.c.assessment_id,
                        course_lessons.c.attachments,
                        course_lessons.c.duration_seconds,
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
    )


def _group_outline(rows: Sequence[Any]) -> list[SectionView]:
    sections: list[SectionView] = []
    current_id = None
    for r in rows:
        if r.id != current_id:
            current_id = r.id
            sections.append(SectionView(id=r.id, title=r.title, position=len(sections), lessons=[]))
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
                )
            )
    return sections


# -- PostgreSQL fast path ------------------------------------------------------------

# The same columns in the same order as _SUMMARY_COLUMNS, so _summary_from_row reads both.
_PG_SUMMARY_COLUMNS = (
    "id, slug, title, summary, language, level, tags, owner_id, status, created_at, published_at, "
    "section_count, lesson_count"
)
_PG_OUTLINE = """
SELECT c.id, c.slug, c.title, c.summary, c.description, c.language, c.level, c.tags, c.owner_id, c.status,
       c.version, c.created_at, c.updated_at, c.published_at, c.organization_id,
       COALESCE((
         SELECT json_agg(json_build_object(
                  'id', s.id, 'title', s.title,
                  'lessons', COALESCE((
                     SELECT json_agg(json_build_object(
                              'id', l.id, 'title', l.title, 'kind', l.kind, 'body_markdown', l.body_markdown,
                              'video_id', l.video_id, 'assessment_id', l.assessment_id,
                              'attachments', l.attachments, 'duration_seconds', l.duration_seconds)
                            ORDER BY l.position)
                     FROM course_lessons l WHERE l.section_id = s.id), '[]'::json))
                ORDER BY s.position)
         FROM course_sections s WHERE s.course_id = c.id), '[]'::json),
       c.draft_details, c.published_version, c.has_unpublished_changes
FROM courses c WHERE c.{key} = %s
"""
# The published version learners read: one primary-key join, the snapshot as stored.
_PG_PUBLISHED = """
SELECT c.id, c.slug, c.owner_id, c.organization_id, c.status, c.version, c.created_at, c.published_version,
       c.has_unpublished_changes, v.number, v.published_at, v.snapshot
FROM courses c JOIN course_versions v ON v.course_id = c.id AND v.number = COALESCE(%s::integer, c.published_version)
WHERE c.{key} = %s
"""
_PG_VERSIONS = (
    "SELECT number, published_at, published_by FROM course_versions WHERE course_id = %s "
    "AND (%s::integer IS NULL OR number < %s::integer) ORDER BY number DESC LIMIT %s::integer"
)


class PgCatalogQueries(CatalogQueries):
    """The catalog reads on PostgreSQL, one prepared statement each, through the plain psycopg pool.

    Same contract as SqlCatalogQueries (the contract tests run both); the
    outline is assembled by PostgreSQL in the same statement, so it is one
    round trip and one consistent snapshot.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_courses(self, where: CatalogFilter, after: CatalogKey | None, limit: int) -> list[CourseSummary]:
        sort_at = "published_at" if where.status is CourseStatus.PUBLISHED else "created_at"
        clauses: list[str] = []
        params: list[Any] = []
        if where.status is not None:
            clauses.append("status = %s")
            params.append(where.status.value)
        if where.language:
            clauses.append("language = %s")
            params.append(where.language)
        if where.level:
            clauses.append("level = %s")
            params.append(where.level.value)
        if where.tag:
            clauses.append("EXISTS (SELECT 1 FROM course_tags t WHERE t.tag = %s AND t.course_id = courses.id)")
            params.append(where.tag.lower())
        if where.text:
            clauses.append("search_text LIKE %s ESCAPE '\\'")
            params.append(f"%{_like_escape(where.text)}%")
        if after is not None:
            clauses.append(f"({sort_at}, id) < (%s, %s)")
            params.extend(after)
        query = (
            f"SELECT {_PG_SUMMARY_COLUMNS} FROM courses"
            + (" WHERE " + " AND ".join(clauses) if clauses else "")
            + f" ORDER BY {sort_at} DESC, id DESC LIMIT %s"
        )
        params.append(limit)
        pool = await self._db.read_pool()
        async with pool.connection() as conn:
            rows = await (await conn.execute(query, params)).fetchall()
        return [_summary_from_row(r) for r in rows]

    async def outline(self, course_id: uuid.UUID) -> CourseOutline | None:
        return await self._outline("id", course_id)

    async def teaching(self, where: TeachingScope, after: CatalogKey | None, limit: int) -> list[CourseSummary]:
        # Not a hot path: the SQLAlchemy statement both backends share.
        return await _teaching(self._db, where, after, limit)

    async def outline_by_slug(self, slug: str) -> CourseOutline | None:
        return await self._outline("slug", slug)

    async def _outline(self, key: str, value: Any) -> CourseOutline | None:
        pool = await self._db.read_pool()
        async with pool.connection() as conn:
            row = await (await conn.execute(_PG_OUTLINE.format(key=key), (value,))).fetchone()
        if row is None:
            return None
        # While published, the listed columns are the published details and the draft's are in draft_details.
        listed = {"title": row[2], "summary": row[3], "description": row[4], "language": row[5], "level": row[6]}
        details: dict[str, Any] = {**listed, "tags": row[7], **(row[16] or {})}
        return CourseOutline(
            id=row[0],
            slug=row[1],
            title=details["title"],
            summary=details["summary"],
            description=details["description"],
            language=details["language"],
            level=_LEVELS[details["level"]],
            tags=details["tags"],
            owner_id=row[8],
            status=_STATUSES[row[9]],
            version=row[10],
            created_at=row[11],
            updated_at=row[12],
            published_at=row[13],
            organization_id=row[14],
            published_version=row[17],
            has_unpublished_changes=row[18],
            sections=[
                SectionView(
                    id=uuid.UUID(s["id"]),
                    title=s["title"],
                    position=i,
                    lessons=[
                        _draft_lesson(
                            uuid.UUID(x["id"]),
                            x["title"],
                            j,
                            x["kind"],
                            x["body_markdown"],
                            _uuid_or_none(x["video_id"]),
                            _uuid_or_none(x["assessment_id"]),
                            x["attachments"],
                            x["duration_seconds"],
                        )
                        for j, x in enumerate(s["lessons"])
                    ],
                )
                for i, s in enumerate(row[15])
            ],
        )

    async def published_outline(self, course_id: uuid.UUID, number: int | None = None) -> CourseOutline | None:
        return await self._published("id", course_id, number)

    async def published_outline_by_slug(self, slug: str, number: int | None = None) -> CourseOutline | None:
        return await self._published("slug", slug, number)

    async def _published(self, key: str, value: Any, number: int | None) -> CourseOutline | None:
        pool = await self._db.read_pool()
        async with pool.connection() as conn:
            row = await (await conn.execute(_PG_PUBLISHED.format(key=key), (number, value))).fetchone()
        if row is None:
            return None
        return published_outline_of(_live_from_row(row), row[9], row[10], row[11])

    async def versions(
        self, course_id: uuid.UUID, before: int | None = None, limit: int | None = None
    ) -> list[VersionSummary]:
        pool = await self._db.read_pool()
        async with pool.connection() as conn:
            rows = await (await conn.execute(_PG_VERSIONS, (course_id, before, before, limit))).fetchall()
        return [VersionSummary(number=r[0], published_at=r[1], published_by=r[2]) for r in rows]


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value is not None else None


def catalog_queries_for(db: Database) -> CatalogQueries:
    """The catalog read adapter for this database: the psycopg fast path on PostgreSQL."""
    return SqlCatalogQueries(db) if db.is_sqlite else PgCatalogQueries(db)
