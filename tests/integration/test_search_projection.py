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
from sqlalchemy import select, update

from elearning_adapters import Platform
from elearning_adapters.container import bootstrap
from elearning_adapters.search.projection import refresh_course, reindex
from elearning_adapters.settings import Settings
from elearning_adapters.sql.course import courses
from elearning_adapters.sql.search import index_for, search_documents
from elearning_core.auth.model import Grant, Role, Scope
from elearning_core.auth.service import user_principal
from elearning_core.course.commands import (
    AddLesson,
    AddSection,
    CourseRef,
    CreateCourse,
    SetLessonContent,
    UpdateCourse,
)
from elearning_core.discussion.commands import EditPost, NewReply, NewThread
from elearning_core.discussion.model import ModerationAction
from elearning_core.enrollment.commands import CreateCohort
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
    assert await titles(platform, "machine") == []  # a draft: its staff's alone

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
    assert await titles(platform, "deep") == []
    assert await titles(platform, "deep", learner) == []
    assert await titles(platform, "deep", SYSTEM) == ["Deep learning"]  # a draft again: admins read it

    await platform.courses.archive(SYSTEM, CourseRef(course_id=course_id))
    await drain(platform)
    assert await titles(platform, "deep") == []
    assert await titles(platform, "deep", SYSTEM) == ["Deep learning"]  # archived: staff-only as a draft


async def test_a_draft_is_searchable_by_its_staff_alone(platform: Platform) -> None:
    """Instructors and teaching assistants of the course (grants), its owner and admins find a draft and its
    lessons; a signed-out visitor, a learner and another course's instructor do not, and the facets and
    totals they get do not count it."""
    course_id = await a_course(platform, "Quantum draft", "Entanglement notes")
    other_id = await a_course(platform, "Other course", "Nothing here")
    await drain(platform)
    people = {}
    for name in ("ta", "instructor", "owner", "learner", "stranger"):
        user = await platform.identity.create_user(SYSTEM, CreateUser(email=f"{name}@example.com", display_name=name))
        people[name] = user.id
    staff = {
        "instructor": user_principal(people["instructor"], (Grant(Role.INSTRUCTOR, Scope.course(course_id)),), None),
        "ta": user_principal(people["ta"], (Grant(Role.TEACHING_ASSISTANT, Scope.course(course_id)),), None),
        "owner": user_principal(people["owner"], (), None),
        "admin": SYSTEM,
    }
    others = {
        "visitor": ANONYMOUS,
        "learner": user_principal(people["learner"], (), None),
        "stranger": user_principal(people["stranger"], (Grant(Role.INSTRUCTOR, Scope.course(other_id)),), None),
    }
    async with platform.database.write() as conn:  # the owner as course creation by a user records it
        await conn.execute(update(courses).where(courses.c.id == course_id).values(owner_id=people["owner"]))
        await conn.commit()
    engine = platform.container.search.index()
    async with platform.database.write() as conn, conn.begin():
        await refresh_course(conn, engine, course_id)
    for name, actor in staff.items():
        assert await titles(platform, "quantum", actor) == ["Quantum draft"], name
        assert await titles(platform, "entanglement", actor) == ["First steps"], name
    for name, actor in others.items():
        page = await platform.search.search(actor, SearchRequest(q="quantum", facets=("kind",)))
        assert (page.result.total, page.result.hits, page.result.facets) == (0, [], {"kind": {}}), name
        assert await titles(platform, "entanglement", actor) == [], name
        assert await platform.search.suggest(actor, "quant") == [], name

    live = await rows(platform)
    await reindex(platform.database, engine)
    assert await rows(platform) == live
    await platform.courses.publish(SYSTEM, CourseRef(course_id=course_id))
    await drain(platform)
    assert await titles(platform, "quantum") == ["Quantum draft"]


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


async def test_replies_are_searchable_as_their_thread_for_those_who_see_it(platform: Platform) -> None:
    """A reply's text is part of its thread's document: found (as the thread) by the thread's cohort and
    staff only, changed by an edit, gone while hidden, back when restored; a reindex rebuilds the same."""
    course_id = await a_course(platform, "Linear algebra", "Vectors")
    await platform.courses.publish(SYSTEM, CourseRef(course_id=course_id))
    first = await platform.enrollments.create_cohort(SYSTEM, course_id, CreateCohort(name="First"))
    second = await platform.enrollments.create_cohort(SYSTEM, course_id, CreateCohort(name="Second"))
    learners = {}
    for name, cohort in (("ann", first.id), ("bob", second.id)):
        user = await platform.identity.create_user(SYSTEM, CreateUser(email=f"{name}@example.com", display_name=name))
        await platform.enrollments.enroll(SYSTEM, course_id, user.id, cohort)
        learners[name] = user_principal(user.id, (), None, email_verified=True)
    ann, bob = learners["ann"], learners["bob"]
    thread = await platform.discussion.create_thread(
        ann, course_id, NewThread(title="Study group", body="Opening words", cohort_id=first.id)
    )
    reply = await platform.discussion.reply(ann, thread.id, NewReply(body="Eigenvalues **explained**"))
    await drain(platform)
    assert await titles(platform, "eigenvalues", ann) == ["Study group"]
    assert await titles(platform, "eigenvalues", SYSTEM) == ["Study group"]
    assert await titles(platform, "eigenvalues", bob) == []  # another cohort's thread
    assert await titles(platform, "eigenvalues") == []

    await platform.discussion.edit(ann, reply.id, EditPost(body="Determinants explained"))
    await drain(platform)
    assert await titles(platform, "eigenvalues", SYSTEM) == []
    assert await titles(platform, "determinants", ann) == ["Study group"]

    await platform.discussion.moderate(SYSTEM, reply.id, ModerationAction.HIDE, "off topic")
    await drain(platform)
    assert await titles(platform, "determinants", SYSTEM) == []
    assert await titles(platform, "opening", ann) == ["Study group"]  # the thread itself stays
    await platform.discussion.moderate(SYSTEM, reply.id, ModerationAction.RESTORE, "on topic after all")
    await drain(platform)
    assert await titles(platform, "determinants", ann) == ["Study group"]

    live = await rows(platform)
    await reindex(platform.database, platform.container.search.index(), [DocumentKind.THREAD])
    assert await rows(platform) == live


async def test_a_reindex_failing_part_way_raises_and_leaves_the_index_answering(platform: Platform) -> None:
    """Two chunks written at once: a chunk's failure reaches the caller (no chunk is silently skipped) and
    what the index held still answers."""
    for i in range(5):
        course_id = await a_course(platform, f"Statistics {i}", "variance")
        await platform.courses.publish(SYSTEM, CourseRef(course_id=course_id))
    await drain(platform)
    engine = index_for(platform.database)
    real, calls = engine.writer, []

    def failing_writer(conn: Any) -> Any:
        calls.append(conn)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(conn)

    engine.writer = failing_writer
    with pytest.raises(RuntimeError, match="disk full"):
        await reindex(platform.database, engine, [DocumentKind.COURSE], chunk_size=1, width=2)
    assert len(await titles(platform, "statistics")) == 5
