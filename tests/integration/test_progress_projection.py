"""The progress projection through the in-process transport, on SQLite and PostgreSQL: activity recorded
by the service becomes completion (and its events) once the ``progress`` subscription has run; replaying
the events changes nothing, and a rebuild from scratch gives the live state back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from elearning_adapters.container import Platform, bootstrap
from elearning_adapters.progress import PROGRESS, progress_subscription, rebuild
from elearning_adapters.settings import Settings
from elearning_adapters.sql.outbox import outbox
from elearning_core.course.commands import (
    CourseSpec,
    LessonContentSpec,
    LessonSpec,
    PreviousRequirementSpec,
    SectionSpec,
)
from elearning_core.identity.commands import CreateUser
from elearning_core.progress.commands import SetCompletionRules, StaffDecision
from elearning_core.progress.model import CourseProgress
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.errors import ContentLocked
from elearning_core.shared.events import event_class
from elearning_core.shared.ports import SYSTEM, Principal
from tests.conftest import migrated_sqlite, truncate_all


@asynccontextmanager
async def progress_platform(request: pytest.FixtureRequest, tmp_path: Path, **settings: Any) -> AsyncIterator[Platform]:
    """A platform on the parameter's backend (a migrated SQLite file, or the session's PostgreSQL emptied)."""
    sqlite = request.param == "sqlite"
    url = migrated_sqlite(tmp_path / "progress.db") if sqlite else str(request.getfixturevalue("postgres_url"))
    built = await bootstrap(
        Settings(database_url=url, data_dir=tmp_path, **settings), run_migrations=False, start_keys=sqlite
    )
    if not sqlite:
        await truncate_all(built.database)
    try:
        yield built
    finally:
        await built.aclose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def platform(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Platform]:
    async with progress_platform(request, tmp_path) as built:
        yield built


async def seeded(platform: Platform, lessons: int = 2) -> tuple[uuid.UUID, list[uuid.UUID], Principal]:
    section = SectionSpec(
        title="Only",
        lessons=[
            LessonSpec(title=f"L{n}", content=LessonContentSpec(body_markdown=f"Text {n}")) for n in range(lessons)
        ],
    )
    [course] = await platform.courses.import_courses(
        SYSTEM, [CourseSpec(slug="tracked", title="Tracked", status="published", sections=[section])]
    )
    outline = await platform.courses.get_outline(SYSTEM, course.id)
    user = await platform.identity.create_user(SYSTEM, CreateUser(email="ada@example.org", display_name="Ada"))
    await platform.enrollments.enroll(SYSTEM, course.id, user.id)
    learner = Principal(subject=f"user:{user.id}", roles=frozenset({"learner"}), user_id=user.id)
    return course.id, [lesson.id for lesson in outline.sections[0].lessons], learner


async def drain(platform: Platform) -> None:
    transport = platform.events
    assert transport is not None
    await transport.drain()


async def derived(platform: Platform, course_id: uuid.UUID, learner: Principal) -> CourseProgress:
    return await platform.progress.learner_progress(SYSTEM, course_id, learner.user_id or uuid.uuid4())


async def event_types(platform: Platform) -> list[str]:
    async with platform.database.read() as conn:
        return list((await conn.execute(select(outbox.c.event_type).order_by(outbox.c.id))).scalars())


async def test_views_complete_the_course_through_the_subscription(platform: Platform) -> None:
    course_id, lessons, learner = await seeded(platform)
    await drain(platform)
    await platform.progress.view(learner, course_id, lessons[0])
    await drain(platform)
    half = await derived(platform, course_id, learner)
    assert half.percent == 50.0
    assert not half.completed
    await platform.progress.view(learner, course_id, lessons[1])
    await drain(platform)
    whole = await derived(platform, course_id, learner)
    assert whole.completed
    assert whole.completed_lesson_ids == set(lessons)
    types = await event_types(platform)
    assert types.count("progress.lesson_completed.v1") == 2
    assert types.count("progress.course_completed.v1") == 1
    view = await platform.progress.course_progress(learner, course_id)
    assert view.percent == 100.0
    assert view.continue_at is None


async def test_replaying_every_event_changes_nothing_and_a_rebuild_gives_the_live_state_back(
    platform: Platform,
) -> None:
    course_id, lessons, learner = await seeded(platform, lessons=3)
    await platform.progress.view(learner, course_id, lessons[0])
    await platform.progress.mark_done(learner, course_id, lessons[2])
    await drain(platform)
    live = await derived(platform, course_id, learner)
    before = await event_types(platform)

    # Every handler again, on the stored events, without the inbox: idempotent by itself.
    subscription = progress_subscription(platform.container.progress.projector())
    async with platform.database.read() as conn:
        rows = (await conn.execute(select(outbox.c.event_type, outbox.c.payload))).all()
    for event_type, payload in rows:
        handler = subscription.handlers.get(event_type)
        cls = event_class(event_type)
        if handler is None or cls is None:
            continue
        event = cls.model_validate(payload)
        envelope = EventEnvelope(
            event_id=event.event_id,
            type=event_type,
            occurred_at=event.occurred_at,
            aggregate_id=event.aggregate_id,
            producer="test",
            schema_version=cls.schema_version(),
            payload=payload,
        )
        async with platform.database.write() as conn, conn.begin():
            await handler(event, envelope, conn)
    assert await derived(platform, course_id, learner) == live
    assert await event_types(platform) == before

    courses, learners = await rebuild(platform.database, platform.container.progress.projector(), from_scratch=True)
    assert (courses, learners) == (1, 1)
    assert await derived(platform, course_id, learner) == live


async def test_an_override_and_a_reset_flow_through_to_the_state(platform: Platform) -> None:
    course_id, lessons, learner = await seeded(platform)
    assert learner.user_id is not None
    await platform.progress.view(learner, course_id, lessons[0])
    await drain(platform)
    await platform.progress.override_completion(SYSTEM, course_id, learner.user_id, StaffDecision(reason="exam"))
    await drain(platform)
    assert (await derived(platform, course_id, learner)).completion_source is not None
    await platform.progress.reset(SYSTEM, course_id, learner.user_id, StaffDecision(reason="retake"))
    await drain(platform)
    after = await derived(platform, course_id, learner)
    assert not after.completed
    assert after.completed_lesson_ids == frozenset()
    assert PROGRESS in {s.name for s in platform.container.subscriptions()}


async def test_new_rules_are_applied_to_every_learner_of_the_course(platform: Platform) -> None:
    course_id, lessons, learner = await seeded(platform, lessons=1)
    await platform.progress.set_rules(SYSTEM, course_id, SetCompletionRules(text_requires_done=True))
    await platform.progress.view(learner, course_id, lessons[0])
    await drain(platform)
    assert not (await derived(platform, course_id, learner)).completed
    await platform.progress.set_rules(SYSTEM, course_id, SetCompletionRules(text_requires_done=False))
    await drain(platform)
    assert (await derived(platform, course_id, learner)).completed


async def test_a_lesson_behind_a_requirement_opens_once_the_projection_completes_the_one_before(
    platform: Platform,
) -> None:
    """Conditional release reads progress's facts: activity on a locked lesson is refused with the reason,
    the outline says why, and completing the lesson before it opens it."""
    lessons = [
        LessonSpec(title="First", content=LessonContentSpec(body_markdown="1")),
        LessonSpec(
            title="Second",
            content=LessonContentSpec(body_markdown="2"),
            requirements=[PreviousRequirementSpec(kind="previous")],
        ),
    ]
    [course] = await platform.courses.import_courses(
        SYSTEM,
        [
            CourseSpec(
                slug="ordered", title="Ordered", status="published", sections=[SectionSpec(title="S", lessons=lessons)]
            )
        ],
    )
    first, second = [x.id for x in (await platform.courses.get_outline(SYSTEM, course.id)).sections[0].lessons]
    user = await platform.identity.create_user(SYSTEM, CreateUser(email="o@example.org", display_name="O"))
    await platform.enrollments.enroll(SYSTEM, course.id, user.id)
    learner = Principal(subject=f"user:{user.id}", roles=frozenset({"learner"}), user_id=user.id)
    with pytest.raises(ContentLocked) as refused:
        await platform.progress.view(learner, course.id, second)
    assert refused.value.reason == "locked-by-requirement"
    view = await platform.progress.course_progress(learner, course.id)
    locked = view.sections[0].lessons[1]
    assert locked.access.value == "locked"
    assert locked.lock_reason is not None
    assert "'First'" in locked.lock_reason
    assert view.continue_at is not None
    assert view.continue_at.lesson_id == first
    await platform.progress.view(learner, course.id, first)
    await drain(platform)
    await platform.progress.view(learner, course.id, second)  # open now
    await drain(platform)
    assert (await derived(platform, course.id, learner)).completed
