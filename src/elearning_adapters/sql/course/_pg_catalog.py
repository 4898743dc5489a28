"""PostgreSQL's catalog read queries (one JSON-aggregating statement per read), and the choice of queries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from elearning_adapters.sql.course._catalog import (
    _LEVELS,
    _STATUSES,
    SqlCatalogQueries,
    _draft_lesson,
    _live_from_row,
    _summary_from_row,
    _teaching,
)
from elearning_adapters.sql.course._text_filter import PG_MATCHING_COURSES, pg_text_query
from elearning_adapters.sql.engine import Database
from elearning_core.course.model import (
    CourseStatus,
)
from elearning_core.course.queries import (
    CatalogFilter,
    CatalogKey,
    CatalogQueries,
    CourseOutline,
    CourseSummary,
    SectionView,
    TeachingScope,
    VersionSummary,
    published_outline_of,
)
from elearning_core.course.requirements import requirements_from_json

_PG_SUMMARY_COLUMNS = (
    "id, slug, title, summary, language, level, tags, owner_id, status, created_at, published_at, "
    "section_count, lesson_count"
)
_PG_OUTLINE = """
SELECT c.id, c.slug, c.title, c.summary, c.description, c.language, c.level, c.tags, c.owner_id, c.status,
       c.version, c.created_at, c.updated_at, c.published_at, c.organization_id,
       COALESCE((
         SELECT json_agg(json_build_object(
                  'id', s.id, 'title', s.title, 'release_at', s.release_at,
                  'release_after_days', s.release_after_days, 'requirements', s.requirements,
                  'lessons', COALESCE((
                     SELECT json_agg(json_build_object(
                              'id', l.id, 'title', l.title, 'kind', l.kind, 'body_markdown', l.body_markdown,
                              'video_id', l.video_id, 'assessment_id', l.assessment_id,
                              'attachments', l.attachments, 'duration_seconds', l.duration_seconds,
                              'preview', l.preview, 'requirements', l.requirements)
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
            tsquery = pg_text_query(where.text)
            clauses.append(PG_MATCHING_COURSES if tsquery else "FALSE")
            params.extend([tsquery] if tsquery else [])
        if after is not None:
            clauses.append(f"({sort_at}, id) < (%s, %s)")
            params.extend(after)
        query = (
            f"SELECT {_PG_SUMMARY_COLUMNS} FROM courses"
            + (" WHERE " + " AND ".join(clauses) if clauses else "")
            + f" ORDER BY {sort_at} DESC, id DESC LIMIT %s"
        )
        params.append(limit)
        async with self._db.hot_read() as conn:
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
        async with self._db.hot_read() as conn:
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
                    release_at=_pg_datetime(s["release_at"]),
                    release_after_days=s["release_after_days"],
                    requirements=list(requirements_from_json(s["requirements"])),
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
                            x["preview"],
                            x["requirements"],
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
        async with self._db.hot_read() as conn:
            row = await (await conn.execute(_PG_PUBLISHED.format(key=key), (number, value))).fetchone()
        if row is None:
            return None
        return published_outline_of(_live_from_row(row), row[9], row[10], row[11])

    async def versions(
        self, course_id: uuid.UUID, before: int | None = None, limit: int | None = None
    ) -> list[VersionSummary]:
        async with self._db.hot_read() as conn:
            rows = await (await conn.execute(_PG_VERSIONS, (course_id, before, before, limit))).fetchall()
        return [VersionSummary(number=r[0], published_at=r[1], published_by=r[2]) for r in rows]


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value is not None else None


def _pg_datetime(value: str | None) -> datetime | None:
    """A timestamptz as json_build_object writes it (ISO 8601 with the session's offset)."""
    return datetime.fromisoformat(value) if value is not None else None


def catalog_queries_for(db: Database) -> CatalogQueries:
    """The catalog read adapter for this database: the psycopg fast path on PostgreSQL."""
    return SqlCatalogQueries(db) if db.is_sqlite else PgCatalogQueries(db)
