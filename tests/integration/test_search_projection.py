"""The search index as a projection, end to end on SQLite and PostgreSQL: course, lesson and offer
changes become searchable through the in-process transport; lesson text only for members; a
reindex leaves the same documents as the live projection, and queries answer during it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from elearning_adapters import Platform
from elearning_adapters.container import bootstrap
from elearning_adapters.search.projection import reindex
from elearning_adapters.settings import Settings
from elearning_adapters.sql.search import search_documents
from elearning_core.auth.service import user_principal
from elearning_core.course.commands import (
    AddLesson,
    AddSection,
    CourseRef,
    CreateCourse,
    SetLessonContent,
    UpdateCourse,
)
from elearning_core.identity.commands import CreateUser
from elearning_core.search.model import DocumentKind
from elearning_core.search.service import SearchRequest
from elearning_core.shared.ports import ANONYMOUS, SYSTEM, Principal
from tests.conftest import truncate_all


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def platform(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Platform]:
    if request.param == "sqlite":
        p = await bootstrap(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 's.db'}", data_dir=tmp_path))
    else:
        p = await bootstrap(
            Settings(database_url=request.getfixturevalue("postgres_url"), data_dir=tmp_path), run_migrations=False
        )
        await truncate_all(p.database)
    try:
        yield p
    finally:
        await p.aclose()


async def drain(platform: Platform) -> None:
    assert platform.events is not None
    await platform.events.drain()


async def titles(platform: Platform, q: str, actor: Principal = ANONYMOUS) -> list[str]:
    page = await platform.search.search(actor, SearchRequest(q=q, limit=50))
    return sorted(h.title for h in page.result.hits)


async def a_course(platform: Platform, title: str, lesson_text: str) -> uuid.UUID:
    course = await platform.courses.create(SYSTEM, CreateCourse(title=title, summary="A summary", tags=["ml"]))
    section = await platform.courses.add_section(SYSTEM, AddSection(course_id=course.id, title="Basics"))
    lesson = await platform.courses.add_lesson(
        SYSTEM, AddLesson(course_id=course.id, section_id=section.id, title="First steps")
    )
    await platform.courses.set_lesson_content(
        SYSTEM,
        SetLessonContent(course_id=course.id, section_id=section.id, lesson_id=lesson.id, body_markdown=lesson_text),
    )
    return course.id


async def rows(platform: Platform) -> list[Any]:
    d = search_documents
    async with platform.database.read() as conn:
        query = select(d.c.key, d.c.title, d.c.body, d.c.people, d.c.free).order_by(d.c.key)
        return [tuple(r) for r in (await conn.execute(query)).all()]


async def test_changes_are_searchable_through_events_and_a_reindex_rebuilds_the_same(platform: Platform) -> None:
    course_id = await a_course(platform, "Machine learning", "Gradient **descent** explained")
    await drain(platform)
    assert await titles(platform, "machine") == []  # a draft is not indexed

    await platform.courses.publish(SYSTEM, CourseRef(course_id=course_id))
    await drain(platform)
    assert await titles(platform, "machine") == ["Machine learning"]
    assert await titles(platform, "gradient") == []  # lesson text: members only
    assert await titles(platform, "gradient", SYSTEM) == ["First steps"]

    user = await platform.identity.create_user(SYSTEM, CreateUser(email="ada@example.com", display_name="Ada"))
    await platform.enrollments.enroll(SYSTEM, course_id, user.id)
    learner = user_principal(user.id, (), None)
    assert await titles(platform, "gradient", learner) == ["First steps"]

    await platform.courses.update(SYSTEM, UpdateCourse(course_id=course_id, title="Deep learning"))
    await platform.courses.publish(SYSTEM, CourseRef(course_id=course_id))
    await drain(platform)
    assert await titles(platform, "deep") == ["Deep learning"]
    assert await titles(platform, "machine") == []

    live = await rows(platform)
    engine = platform.container.search.index()
    seen: list[tuple[int, int]] = []
    counts = await reindex(platform.database, engine, progress=lambda done, total: seen.append((done, total)))
    assert counts == {"course": 1, "lesson": 1, "thread": 0}
    assert seen
    assert seen[-1][0] == seen[-1][1]
    assert await rows(platform) == live

    await platform.courses.unpublish(SYSTEM, CourseRef(course_id=course_id))
    await drain(platform)
    assert await titles(platform, "deep", SYSTEM) == []
    assert await platform.container.search.index().count() == {}


async def test_queries_answer_while_a_reindex_runs(platform: Platform) -> None:
    for i in range(12):
        course_id = await a_course(platform, f"Statistics {i}", "variance")
        await platform.courses.publish(SYSTEM, CourseRef(course_id=course_id))
    await drain(platform)
    engine = platform.container.search.index()
    answers: list[int] = []

    async def query_meanwhile(done: int, total: int) -> None:
        page = await platform.search.search(ANONYMOUS, SearchRequest(q="statistics", kinds=frozenset({"course"})))
        answers.append(page.result.total)

    pending: list[asyncio.Task[None]] = []

    def progress(done: int, total: int) -> None:
        pending.append(asyncio.get_running_loop().create_task(query_meanwhile(done, total)))

    await reindex(
        platform.database, engine, [DocumentKind.COURSE, DocumentKind.LESSON], progress=progress, chunk_size=3
    )
    await asyncio.gather(*pending)
    assert answers
    assert all(n == 12 for n in answers)
