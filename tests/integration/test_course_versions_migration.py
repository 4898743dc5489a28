"""Revision 0006 gives courses published before versions existed their version 1, so learners keep seeing them."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import text

from elearning_adapters.sql import migrate
from elearning_adapters.sql.course import SqlCatalogQueries
from elearning_adapters.sql.engine import Database
from elearning_core.course.model import CourseStatus


async def test_published_courses_get_version_1_from_their_outline(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'before-versions.db'}")
    published, draft = uuid.uuid4(), uuid.uuid4()
    section, lesson = uuid.uuid4(), uuid.uuid4()
    try:
        await migrate.upgrade(db, "0005")
        async with db.write() as conn:
            for course_id, slug, status in ((published, "old-published", "published"), (draft, "old-draft", "draft")):
                await conn.execute(
                    text(
                        "INSERT INTO courses (id, slug, title, summary, description, language, level, tags, owner_id,"
                        " status, version, created_at, updated_at, published_at, section_count, lesson_count,"
                        " search_text) VALUES (:id, :slug, 'Old', 's', 'd', 'en', 'beginner', '[\"x\"]', NULL,"
                        " :status, 3, '2026-01-01 10:00:00.000000', '2026-01-02 10:00:00.000000',"
                        " :published_at, 1, 1, 'old s x')"
                    ),
                    {
                        "id": course_id.hex,
                        "slug": slug,
                        "status": status,
                        "published_at": "2026-01-02 10:00:00.000000" if status == "published" else None,
                    },
                )
            await conn.execute(
                text("INSERT INTO course_sections (id, course_id, position, title) VALUES (:id, :c, 0, 'Intro')"),
                {"id": section.hex, "c": published.hex},
            )
            await conn.execute(
                text(
                    "INSERT INTO course_lessons (id, course_id, section_id, position, title)"
                    " VALUES (:id, :c, :s, 0, 'Welcome')"
                ),
                {"id": lesson.hex, "c": published.hex, "s": section.hex},
            )
            await conn.commit()

        await migrate.upgrade(db)

        queries = SqlCatalogQueries(db)
        outline = await queries.published_outline(published)
        assert outline is not None
        assert (outline.title, outline.status, outline.version_number, outline.published_version) == (
            "Old",
            CourseStatus.PUBLISHED,
            1,
            1,
        )
        assert outline.updated_at.tzinfo is not None
        [[only]] = [[x.title for x in s.lessons] for s in outline.sections]
        assert only == "Welcome"
        assert outline.sections[0].lessons[0].body_html == ""
        assert await queries.published_outline(draft) is None
        draft_outline = await queries.outline(draft)
        assert draft_outline is not None
        assert (draft_outline.published_version, draft_outline.has_unpublished_changes) == (None, False)

        # And back down: the versions go, the courses stay.
        await migrate.downgrade(db, "0005")
        async with db.read() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM courses"))).scalar_one() == 2
    finally:
        await db.dispose()
