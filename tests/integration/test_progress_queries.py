"""What the outline with the learner's progress costs, in SQL statements (a count, not a timing): the cached
published outline plus two keyed statements of progress (and the enrollment lookup gating already makes),
whatever the number of lessons: no statement per lesson."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from elearning_adapters.container import Platform
from elearning_adapters.sql.outbox import outbox
from elearning_core.course.commands import CourseSpec, LessonContentSpec, LessonSpec, SectionSpec
from elearning_core.identity.commands import CreateUser
from elearning_core.progress.commands import Heartbeat
from elearning_core.shared.ports import SYSTEM, Principal
from tests.integration.test_gating_queries import count_the_read_pool, counted
from tests.integration.test_progress_projection import progress_platform


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def platform(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Platform]:
    async with progress_platform(request, tmp_path, cache="memory") as built:
        yield built


async def a_learner_in(platform: Platform, slug: str, lessons: int) -> tuple[uuid.UUID, Principal, list[uuid.UUID]]:
    sections = [
        SectionSpec(
            title=f"S{s}",
            lessons=[LessonSpec(title=f"L{s}.{n}", content=LessonContentSpec(body_markdown="x")) for n in range(10)],
        )
        for s in range(lessons // 10)
    ]
    [course] = await platform.courses.import_courses(
        SYSTEM, [CourseSpec(slug=slug, title=slug, status="published", sections=sections)]
    )
    user = await platform.identity.create_user(SYSTEM, CreateUser(email=f"{slug}@example.org", display_name="A"))
    await platform.enrollments.enroll(SYSTEM, course.id, user.id)
    learner = Principal(subject=f"user:{user.id}", roles=frozenset({"learner"}), user_id=user.id)
    outline = await platform.courses.get_outline(SYSTEM, course.id)
    return course.id, learner, [lesson.id for s in outline.sections for lesson in s.lessons]


@pytest.mark.parametrize("lessons", [10, 200])
async def test_the_outline_with_progress_costs_two_progress_statements_whatever_its_size(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, lessons: int
) -> None:
    course_id, learner, lesson_ids = await a_learner_in(platform, f"counted-{lessons}", lessons)
    for lesson_id in lesson_ids[::3]:
        await platform.progress.view(learner, course_id, lesson_id)
    assert platform.events is not None
    await platform.events.drain()
    log: list[str] = []
    await count_the_read_pool(platform, log, monkeypatch)
    await platform.progress.course_progress(learner, course_id)  # warms the outline and enrollment caches
    with counted(platform, log) as statements:
        view = await platform.progress.course_progress(learner, course_id)
    assert view.percent == pytest.approx(100 * len(lesson_ids[::3]) / lessons, abs=0.1)
    progress_statements = [s for s in statements if "progress_" in s]
    assert len(progress_statements) == 2, statements
    assert len(statements) <= 3, statements  # at most the enrollment lookup besides


async def test_a_heartbeat_is_one_small_transaction(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    """The heartbeat path (it must reach 400/s): the merged watched union read and written, the last activity,
    the video's saved position and the outbox row; the outline and the enrollment come from the caches.

    The lesson's video does not exist (deleted after publishing, say): the heartbeat still counts, and no
    position is kept for a video that is not there."""
    sections = [
        SectionSpec(
            title="Watch",
            lessons=[
                LessonSpec(
                    title="Clip",
                    content=LessonContentSpec(kind="video", video_id=uuid.uuid4(), duration_seconds=300),
                )
            ],
        )
    ]
    [course] = await platform.courses.import_courses(
        SYSTEM, [CourseSpec(slug="watched", title="Watched", status="published", sections=sections)]
    )
    user = await platform.identity.create_user(SYSTEM, CreateUser(email="w@example.org", display_name="W"))
    await platform.enrollments.enroll(SYSTEM, course.id, user.id)
    learner = Principal(subject=f"user:{user.id}", roles=frozenset({"learner"}), user_id=user.id)
    lesson = (await platform.courses.get_outline(SYSTEM, course.id)).sections[0].lessons[0]
    log: list[str] = []
    await count_the_read_pool(platform, log, monkeypatch)
    await platform.progress.heartbeat(
        learner, course.id, lesson.id, Heartbeat(start=0, end=10, position=10, player_session_id="p")
    )
    with counted(platform, log) as statements:
        await platform.progress.heartbeat(
            learner, course.id, lesson.id, Heartbeat(start=10, end=20, position=20, player_session_id="p")
        )
    work = [s for s in statements if not s.lstrip().upper().startswith(("BEGIN", "SET", "SELECT SET_CONFIG"))]
    # the union read (locked) and written, the last activity, the saved position, the outbox row
    assert len(work) <= 5, work
    async with platform.container.adapters.unit_of_work() as uow:
        assert lesson.video_id is not None
        assert await uow.playback_positions.get(learner.user_id, lesson.video_id) is None  # type: ignore[arg-type]
        assert (await uow.progress.facts(course.id, user.id)).watched == {lesson.video_id: 20.0}


async def test_concurrent_heartbeats_share_transactions_and_lose_nothing(platform: Platform) -> None:
    """The group commit on a real database: 24 heartbeats of 8 learners at once are written in fewer
    transactions than heartbeats, and every learner's union, last position, saved playback position and
    events are exactly what one-at-a-time writes would leave."""
    from elearning_core.course.commands import AddLesson, AddSection, CourseRef, SetLessonContent
    from elearning_core.video.commands import CreateVideo

    [course] = await platform.courses.import_courses(SYSTEM, [CourseSpec(slug="watched-together", title="W")])
    video = await platform.videos.create_video(SYSTEM, course.id, CreateVideo(title="Clip"))
    section = await platform.courses.add_section(SYSTEM, AddSection(course_id=course.id, title="Watch"))
    lesson = await platform.courses.add_lesson(SYSTEM, AddLesson(course_id=course.id, section_id=section.id, title="C"))
    await platform.courses.set_lesson_content(
        SYSTEM,
        SetLessonContent(
            course_id=course.id,
            section_id=section.id,
            lesson_id=lesson.id,
            kind="video",
            video_id=video.id,
            duration_seconds=600,
        ),
    )
    await platform.courses.publish(SYSTEM, CourseRef(course_id=course.id))
    learners = []
    for n in range(8):
        user = await platform.identity.create_user(SYSTEM, CreateUser(email=f"v{n}@example.org", display_name="V"))
        await platform.enrollments.enroll(SYSTEM, course.id, user.id)
        learners.append(Principal(subject=f"user:{user.id}", roles=frozenset({"learner"}), user_id=user.id))
    groups_before = platform.progress.heartbeat_writer.groups

    async def player(learner: Principal) -> None:  # one player's heartbeats follow each other
        for k in range(3):
            beat = Heartbeat(start=10 * k, end=10 * k + 10, position=10 * k + 10, player_session_id="p")
            await platform.progress.heartbeat(learner, course.id, lesson.id, beat)

    await asyncio.gather(*(player(learner) for learner in learners))  # the eight players at once
    assert platform.progress.heartbeat_writer.groups - groups_before < 24
    async with platform.container.adapters.unit_of_work() as uow:
        for learner in learners:
            assert learner.user_id is not None
            assert (await uow.progress.facts(course.id, learner.user_id)).watched == {video.id: 30.0}
            saved = await uow.playback_positions.get(learner.user_id, video.id)
            assert saved is not None
            assert saved.position_seconds == 30.0
    async with platform.database.read() as conn:
        kinds = list((await conn.execute(select(outbox.c.event_type))).scalars())
    assert kinds.count("progress.video_watched.v1") == 24
