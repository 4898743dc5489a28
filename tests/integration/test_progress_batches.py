"""The ``progress`` subscription's set-wise path on SQLite and PostgreSQL: a batch of activity events (many
learners, several events each, a rules change in the middle) handled by its ``batch_handler`` in one
transaction leaves the same state and records the same completion events as its per-type handlers one at a
time; a redelivered batch changes nothing; and the in-process transport takes that path."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from elearning_adapters.container import Platform
from elearning_adapters.progress import progress_subscription
from elearning_adapters.sql.outbox import outbox
from elearning_adapters.sql.progress import SqlProgressRepository
from elearning_core.course.commands import CourseSpec, LessonContentSpec, LessonSpec, SectionSpec
from elearning_core.identity.commands import CreateUser
from elearning_core.progress.commands import SetCompletionRules
from elearning_core.progress.model import CourseProgress
from elearning_core.shared.envelope import EventEnvelope, to_envelope
from elearning_core.shared.events import DomainEvent, event_class
from elearning_core.shared.ports import SYSTEM, Principal
from tests.integration.test_progress_projection import drain, progress_platform

LESSONS = 3


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def platform(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Platform]:
    async with progress_platform(request, tmp_path) as built:
        yield built


async def a_busy_course(platform: Platform) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """Three learners enrolled; Ann views every lesson, Bob views one and marks one done (with a rules change,
    an event of another kind, between his two events), Cy does nothing. No event handled yet."""
    section = SectionSpec(
        title="Only",
        lessons=[LessonSpec(title=f"L{n}", content=LessonContentSpec(body_markdown="x")) for n in range(LESSONS)],
    )
    [course] = await platform.courses.import_courses(
        SYSTEM, [CourseSpec(slug="busy", title="Busy", status="published", sections=[section])]
    )
    lessons = [x.id for x in (await platform.courses.get_outline(SYSTEM, course.id)).sections[0].lessons]
    users = []
    for name in ("ann", "bob", "cy"):
        user = await platform.identity.create_user(SYSTEM, CreateUser(email=f"{name}@example.org", display_name=name))
        await platform.enrollments.enroll(SYSTEM, course.id, user.id)
        users.append(user.id)
    ann, bob = (Principal(subject=f"user:{u}", roles=frozenset({"learner"}), user_id=u) for u in users[:2])
    for lesson in lessons:
        await platform.progress.view(ann, course.id, lesson)
    await platform.progress.view(bob, course.id, lessons[0])
    await platform.progress.set_rules(SYSTEM, course.id, SetCompletionRules(video_percent=80))
    await platform.progress.mark_done(bob, course.id, lessons[1])
    await platform.progress.view(ann, course.id, lessons[0])  # again: nothing new
    return course.id, users


async def pending(platform: Platform) -> list[tuple[DomainEvent, EventEnvelope]]:
    """The outbox's events, in order, as a transport hands them to the subscription."""
    async with platform.database.read() as conn:
        rows = (await conn.execute(select(outbox.c.event_type, outbox.c.payload).order_by(outbox.c.id))).all()
    items = []
    for event_type, payload in rows:
        cls = event_class(event_type)
        assert cls is not None
        event = cls.model_validate(payload)
        items.append((event, to_envelope(event, "test")))
    return items


async def state(platform: Platform, course_id: uuid.UUID, users: list[uuid.UUID]) -> list[tuple[object, ...]]:
    async with platform.database.read() as conn:
        stored = await SqlProgressRepository(conn).progress_of([(course_id, u) for u in users])
    return [_comparable(stored.get((course_id, u))) for u in users]


def _comparable(p: CourseProgress | None) -> tuple[object, ...]:
    if p is None:
        return ()
    return (p.completed_lesson_ids, p.required_lessons, p.required_completed, p.percent, p.completion_source)


async def recorded(platform: Platform, after: int) -> list[tuple[str, str]]:
    """Completion events the projection recorded (outbox rows past ``after``): (type, learner)."""
    async with platform.database.read() as conn:
        rows = (await conn.execute(select(outbox.c.event_type, outbox.c.payload).where(outbox.c.id > after))).all()
    return sorted((t, p["user_id"]) for t, p in rows)


async def last_outbox_id(platform: Platform) -> int:
    async with platform.database.read() as conn:
        return int((await conn.execute(select(outbox.c.id).order_by(outbox.c.id.desc()).limit(1))).scalar_one())


async def test_a_batch_set_wise_equals_its_events_one_at_a_time(platform: Platform) -> None:
    course_id, users = await a_busy_course(platform)
    items = await pending(platform)
    subscription = progress_subscription(platform.container.progress.projector())
    assert subscription.batch_handler is not None
    mine = [(e, env) for e, env in items if env.type in subscription.handlers]
    mark = await last_outbox_id(platform)

    async with platform.database.write() as conn, conn.begin():
        await subscription.batch_handler(mine, conn)
    batched, batched_events = await state(platform, course_id, users), await recorded(platform, mark)
    ann, bob = (str(u) for u in users[:2])
    assert batched_events == sorted(
        [("progress.lesson_completed.v1", ann)] * LESSONS
        + [("progress.course_completed.v1", ann)]
        + [("progress.lesson_completed.v1", bob)] * 2
    )
    assert batched[0][3] == 100.0
    assert batched[1][3] == 66.7
    assert batched[2] == (frozenset(), LESSONS, 0, 0.0, None)

    async with platform.database.write() as conn, conn.begin():  # redelivered without the inbox
        await subscription.batch_handler(mine, conn)
    assert await state(platform, course_id, users) == batched
    assert await recorded(platform, mark) == batched_events

    # The same events through the per-type handlers, one transaction each, from the same facts.
    async with platform.database.write() as conn, conn.begin():
        await SqlProgressRepository(conn).wipe_derived(course_id)
        await conn.execute(delete(outbox).where(outbox.c.id > mark))
    for event, envelope in mine:
        async with platform.database.write() as conn, conn.begin():
            await subscription.handlers[envelope.type](event, envelope, conn)
    assert await state(platform, course_id, users) == batched
    assert await recorded(platform, await last_outbox_id(platform) - len(batched_events)) == batched_events


async def test_the_in_process_transport_projects_a_backlog_in_batches(platform: Platform) -> None:
    course_id, users = await a_busy_course(platform)
    await drain(platform)
    states = await state(platform, course_id, users)
    assert [s[3] for s in states] == [100.0, 66.7, 0.0]
    async with platform.database.read() as conn:
        types = list((await conn.execute(select(outbox.c.event_type))).scalars())
    assert types.count("progress.course_completed.v1") == 1
    assert types.count("progress.lesson_completed.v1") == LESSONS + 2
