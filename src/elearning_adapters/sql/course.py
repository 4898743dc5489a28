"""Course tables, the SQL course repository and the catalog read queries.

Mapping style (used by every module): SQLAlchemy Core tables, and explicit
row <-> entity mapping in the repository; no ORM-mapped classes. Catalog reads
go straight from one SQL statement to flat read models.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import (
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
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import JSON, Uuid

from elearning_adapters.sql.engine import Database, UtcDateTime, metadata
from elearning_core.course.model import Course, CourseStatus, Lesson, Level, Section
from elearning_core.course.ports import CourseRepository
from elearning_core.course.queries import (
    CatalogFilter,
    CatalogKey,
    CatalogQueries,
    CourseOutline,
    CourseSummary,
    LessonView,
    SectionView,
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
)
Index(
    "ix_course_lessons_course_id_section_id_position",
    course_lessons.c.course_id,
    course_lessons.c.section_id,
    course_lessons.c.position,
)
Index("ix_course_lessons_section_id", course_lessons.c.section_id)


_IN_CHUNK = 500  # ids per IN (...) list: far below SQLite's and PostgreSQL's parameter limits


def _search_text(course: Course) -> str:
    return " ".join([course.title, course.summary, *course.tags]).lower()


def _course_row(course: Course) -> dict[str, Any]:
    return {
        "slug": course.slug,
        "title": course.title,
        "summary": course.summary,
        "description": course.description,
        "language": course.language,
        "level": course.level.value,
        "tags": list(course.tags),
        "owner_id": course.owner_id,
        "organization_id": course.organization_id,
        "status": course.status.value,
        "created_at": course.created_at,
        "updated_at": course.updated_at,
        "published_at": course.published_at,
        "section_count": len(course.sections),
        "lesson_count": course.lesson_count,
        "search_text": _search_text(course),
    }


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

    async def _load(self, where: Any) -> Course | None:
        row = (await self._conn.execute(select(courses).where(where))).mappings().first()
        if row is None:
            return None
        if row["id"] in self._seen:
            # Already in this unit of work under another slug, or removed: the staged state wins.
            return None
        course = Course(
            id=CourseId(row["id"]),
            slug=row["slug"],
            title=row["title"],
            summary=row["summary"],
            description=row["description"],
            language=row["language"],
            level=Level(row["level"]),
            tags=list(row["tags"]),
            owner_id=UserId(row["owner_id"]) if row["owner_id"] else None,
            status=CourseStatus(row["status"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            published_at=row["published_at"],
            version=row["version"],
            organization_id=row["organization_id"],
        )
        sections: dict[uuid.UUID, Section] = {}
        for s in await self._conn.execute(
            select(course_sections.c.id, course_sections.c.title)
            .where(course_sections.c.course_id == course.id)
            .order_by(course_sections.c.position)
        ):
            sections[s.id] = Section(id=SectionId(s.id), title=s.title)
        for lesson in await self._conn.execute(
            select(course_lessons.c.id, course_lessons.c.section_id, course_lessons.c.title)
            .where(course_lessons.c.course_id == course.id)
            .order_by(course_lessons.c.section_id, course_lessons.c.position)
        ):
            sections[lesson.section_id].lessons.append(Lesson(id=LessonId(lesson.id), title=lesson.title))
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

    async def _write_outline(self, course: Course, *, replace: bool = False) -> None:
        if replace:
            await self._conn.execute(delete(course_lessons).where(course_lessons.c.course_id == course.id))
            await self._conn.execute(delete(course_sections).where(course_sections.c.course_id == course.id))
            await self._conn.execute(delete(course_tags).where(course_tags.c.course_id == course.id))
        if course.tags:
            await self._conn.execute(insert(course_tags), [{"tag": t, "course_id": course.id} for t in course.tags])
        if course.sections:
            await self._conn.execute(
                insert(course_sections),
                [
                    {"id": s.id, "course_id": course.id, "position": i, "title": s.title}
                    for i, s in enumerate(course.sections)
                ],
            )
        lessons = [
            {"id": lesson.id, "course_id": course.id, "section_id": s.id, "position": i, "title": lesson.title}
            for s in course.sections
            for i, lesson in enumerate(s.lessons)
        ]
        if lessons:
            await self._conn.execute(insert(course_lessons), lessons)


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

    async def outline_by_slug(self, slug: str) -> CourseOutline | None:
        return await self._outline(courses.c.slug == slug)

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
                    )
                    .select_from(course_sections)
                    .outerjoin(course_lessons, course_lessons.c.section_id == course_sections.c.id)
                    .where(course_sections.c.course_id == row.id)
                    .order_by(course_sections.c.position, course_lessons.c.position)
                )
            ).all()
        return CourseOutline(
            id=row.id,
            slug=row.slug,
            title=row.title,
            summary=row.summary,
            description=row.description,
            language=row.language,
            level=Level(row.level),
            tags=row.tags,
            owner_id=row.owner_id,
            status=CourseStatus(row.status),
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            published_at=row.published_at,
            sections=_group_outline(outline_rows),
            organization_id=row.organization_id,
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
            lessons.append(LessonView(id=r.lesson_id, title=r.lesson_title, position=len(lessons)))
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
                     SELECT json_agg(json_build_object('id', l.id, 'title', l.title) ORDER BY l.position)
                     FROM course_lessons l WHERE l.section_id = s.id), '[]'::json))
                ORDER BY s.position)
         FROM course_sections s WHERE s.course_id = c.id), '[]'::json)
FROM courses c WHERE c.{key} = %s
"""


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

    async def outline_by_slug(self, slug: str) -> CourseOutline | None:
        return await self._outline("slug", slug)

    async def _outline(self, key: str, value: Any) -> CourseOutline | None:
        pool = await self._db.read_pool()
        async with pool.connection() as conn:
            row = await (await conn.execute(_PG_OUTLINE.format(key=key), (value,))).fetchone()
        if row is None:
            return None
        return CourseOutline(
            id=row[0],
            slug=row[1],
            title=row[2],
            summary=row[3],
            description=row[4],
            language=row[5],
            level=_LEVELS[row[6]],
            tags=row[7],
            owner_id=row[8],
            status=_STATUSES[row[9]],
            version=row[10],
            created_at=row[11],
            updated_at=row[12],
            published_at=row[13],
            organization_id=row[14],
            sections=[
                SectionView(
                    id=uuid.UUID(s["id"]),
                    title=s["title"],
                    position=i,
                    lessons=[
                        LessonView(id=uuid.UUID(lesson["id"]), title=lesson["title"], position=j)
                        for j, lesson in enumerate(s["lessons"])
                    ],
                )
                for i, s in enumerate(row[15])
            ],
        )


def catalog_queries_for(db: Database) -> CatalogQueries:
    """The catalog read adapter for this database: the psycopg fast path on PostgreSQL."""
    return SqlCatalogQueries(db) if db.is_sqlite else PgCatalogQueries(db)
