"""The transactional outbox: event rows are written exactly when, and only when, the state change commits."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from elearning_adapters.sql.course import courses
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.outbox import outbox
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.course import events as ev
from elearning_core.course.model import Course, LessonContent, SectionRelease
from elearning_core.course.requirements import Requirement, RequirementKind
from elearning_core.shared.errors import Conflict
from elearning_core.shared.events import DomainEvent, event_class
from tests.fakes import T0, a_course, minutes

T1 = T0 + minutes(1)


async def outbox_rows(db: Database) -> list[Any]:
    async with db.read() as conn:
        return list((await conn.execute(select(outbox).order_by(outbox.c.id))).all())


async def course_count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(courses))).scalar_one())


async def saved(db: Database, course: Course) -> Course:
    async with SqlUnitOfWork(db) as uow:
        uow.courses.add(course)
        await uow.commit()
    return course


def assert_rows_are(rows: list[Any], events: list[DomainEvent]) -> None:
    assert len(rows) == len(events)
    for row, event in zip(rows, events, strict=True):
        assert row.topic == "elearning.course"
        assert row.message_key == str(event.aggregate_id)
        assert row.event_type == event.type
        assert row.event_id == event.event_id
        assert row.occurred_at == event.occurred_at
        assert row.published_at is None
        assert row.attempts == 0
        cls = event_class(row.event_type)
        assert cls is type(event)
        assert cls.model_validate(row.payload) == event


async def test_a_commit_writes_one_row_per_event_in_order(database: Database) -> None:
    course = Course.create(title="Outboxed", slug=None, at=T0, tags=["x"])
    section = course.add_section("Section", T0)
    course.add_lesson(section.id, "Lesson", T0)
    course.publish(T1)
    events = course.pending_events
    assert [type(e) for e in events] == [ev.CourseCreated, ev.SectionAdded, ev.LessonAdded, ev.CoursePublished]

    async with SqlUnitOfWork(database) as uow:
        uow.courses.add(course)
        assert await outbox_rows(database) == []
        assert await course_count(database) == 0
        await uow.commit()

    assert_rows_are(await outbox_rows(database), events)
    assert course.pending_events == []


async def test_events_of_every_aggregate_of_the_unit_are_written(database: Database) -> None:
    one, two = await saved(database, a_course()), await saved(database, a_course())
    async with SqlUnitOfWork(database) as uow:
        first = await uow.courses.get(one.id)
        second = await uow.courses.get(two.id)
        assert first is not None
        assert second is not None
        first.change_details(T1, title="Changed")
        second.publish(T1)
        events = [*first.pending_events, *second.pending_events]
        untouched = await uow.courses.get_by_slug("not-there")
        assert untouched is None
        await uow.commit()
    rows = await outbox_rows(database)
    assert_rows_are(rows, events)
    assert {r.message_key for r in rows} == {str(one.id), str(two.id)}


async def test_a_commit_without_events_writes_no_row(database: Database) -> None:
    course = await saved(database, a_course())
    async with SqlUnitOfWork(database) as uow:
        loaded = await uow.courses.get(course.id)
        assert loaded is not None
        loaded.change_details(T1, title=loaded.title)  # no real change, no event
        await uow.commit()
    assert await outbox_rows(database) == []


async def test_leaving_without_commit_writes_neither_state_nor_rows(database: Database) -> None:
    course = Course.create(title="Never committed", slug=None, at=T0)
    async with SqlUnitOfWork(database) as uow:
        uow.courses.add(course)
    assert await outbox_rows(database) == []
    assert await course_count(database) == 0
    assert [type(e) for e in course.pending_events] == [ev.CourseCreated]


async def test_an_exception_inside_the_block_writes_neither_state_nor_rows(database: Database) -> None:
    existing = await saved(database, a_course(title="Before"))

    async def change_then_fail() -> None:
        async with SqlUnitOfWork(database) as uow:
            loaded = await uow.courses.get(existing.id)
            assert loaded is not None
            loaded.change_details(T1, title="After")
            uow.courses.add(Course.create(title="New", slug=None, at=T0))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await change_then_fail()
    assert await outbox_rows(database) == []
    assert await course_count(database) == 1
    async with SqlUnitOfWork(database) as uow:
        again = await uow.courses.get(existing.id)
        assert again is not None
        assert (again.title, again.version) == ("Before", 1)


async def test_a_commit_failing_on_a_taken_slug_writes_neither_state_nor_rows(database: Database) -> None:
    existing = Course.create(title="Taken", slug="taken-slug", at=T0)
    created_events = existing.pending_events
    await saved(database, existing)
    other = await saved(database, a_course(title="Other"))
    rows_before = await outbox_rows(database)
    assert len(rows_before) == 1  # a_course() pulls its events; only the first course has a row

    newcomer = Course.create(title="Clash", slug="taken-slug", at=T1)
    async with SqlUnitOfWork(database) as uow:
        loaded = await uow.courses.get(other.id)
        assert loaded is not None
        loaded.change_details(T1, title="Changed in the failed unit")
        uow.courses.add(newcomer)
        with pytest.raises(Conflict, match="slug"):
            await uow.commit()

    assert_rows_are(await outbox_rows(database), created_events)
    assert await course_count(database) == 2
    async with SqlUnitOfWork(database) as uow:
        assert await uow.courses.get(newcomer.id) is None
        again = await uow.courses.get(other.id)
        assert again is not None
        assert (again.title, again.version) == ("Other", 1)
    assert [type(e) for e in newcomer.pending_events] == [ev.CourseCreated]


async def test_a_slug_change_clashing_at_commit_writes_no_row(database: Database) -> None:
    await saved(database, a_course(slug="slug-one"))
    two = await saved(database, a_course(slug="slug-two"))
    async with SqlUnitOfWork(database) as uow:
        loaded = await uow.courses.get(two.id)
        assert loaded is not None
        loaded.change_details(T1, slug="slug-one")
        with pytest.raises(Conflict):
            await uow.commit()
    assert await outbox_rows(database) == []


async def test_every_course_event_type_round_trips_through_its_payload(database: Database) -> None:
    """Drive the aggregate through every event type once and read each back from the outbox."""
    course = Course.create(title="All events", slug="all-events", at=T0, owner_id=uuid.uuid4())  # type: ignore[arg-type]
    a = course.add_section("A", T0)
    b = course.add_section("B", T0)
    course.rename_section(a.id, "A!", T0)
    course.reorder_sections([b.id, a.id], T0)
    one = course.add_lesson(a.id, "One", T0)
    two = course.add_lesson(a.id, "Two", T0)
    course.rename_lesson(a.id, one.id, "One!", T0)
    course.reorder_lessons(a.id, [two.id, one.id], T0)
    course.remove_lesson(a.id, two.id, T0)
    course.remove_section(b.id, T0)
    course.change_details(T0, level="advanced", tags=["t"], summary="sum")
    course.set_lesson_content(a.id, one.id, LessonContent(body_markdown="text", duration_seconds=3), T0)
    course.set_section_release(a.id, SectionRelease(release_after_days=7), T0)
    three = course.add_lesson(a.id, "Three", T0)
    course.set_lesson_requirements(a.id, three.id, [Requirement(RequirementKind.LESSON, lesson_id=one.id)], T0)
    course.publish(T1)
    course.unpublish(T1)
    course.archive(T1)
    events = course.pending_events
    await saved(database, course)

    rows = await outbox_rows(database)
    assert_rows_are(rows, events)
    expected_types = {
        cls.type
        for cls in vars(ev).values()
        if isinstance(cls, type)
        and issubclass(cls, DomainEvent)
        and cls.type
        # Deletion is driven below; CoursePublishedV1 is only read (old rows), never written any more.
        and cls not in (ev.CourseDeleted, ev.CoursePublishedV1)
    }
    assert {r.event_type for r in rows} == expected_types

    deletable = await saved(database, a_course())
    async with SqlUnitOfWork(database) as uow:
        loaded = await uow.courses.get(deletable.id)
        assert loaded is not None
        loaded.mark_deleted(T1)
        deleted_events = loaded.pending_events
        uow.courses.remove(loaded)
        await uow.commit()
    assert_rows_are((await outbox_rows(database))[len(rows) :], deleted_events)
    assert await course_count(database) == 1
