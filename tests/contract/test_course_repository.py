"""The CourseRepository / unit-of-work contract, run on the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from elearning_core.course.model import Course, CourseStatus, Level
from elearning_core.shared.errors import Conflict
from elearning_core.shared.ids import UserId
from tests.contract.conftest import Backend
from tests.fakes import T0, a_course, minutes

T1 = T0 + minutes(1)
T2 = T0 + minutes(2)


def shape(course: Course) -> dict[str, Any]:
    """Everything the repository must keep, as plain data."""
    return {
        "id": course.id,
        "slug": course.slug,
        "title": course.title,
        "summary": course.summary,
        "description": course.description,
        "language": course.language,
        "level": course.level,
        "tags": list(course.tags),
        "owner_id": course.owner_id,
        "status": course.status,
        "created_at": course.created_at,
        "updated_at": course.updated_at,
        "published_at": course.published_at,
        "version": course.version,
        "sections": [(s.id, s.title, [(x.id, x.title) for x in s.lessons]) for s in course.sections],
    }


async def save(backend: Backend, *courses: Course) -> None:
    async with backend.uow() as uow:
        for course in courses:
            uow.courses.add(course)
        await uow.commit()


async def load(backend: Backend, course_id: uuid.UUID) -> Course | None:
    async with backend.uow() as uow:
        return await uow.courses.get(course_id)


async def must_load(backend: Backend, course_id: uuid.UUID) -> Course:
    course = await load(backend, course_id)
    assert course is not None
    return course


def a_rich_course() -> Course:
    """Sections with zero, two and three lessons, tags, texts, an owner; published."""
    course = a_course(
        sections=0,
        title="Data Engineering with Python",
        slug="data-engineering",
        summary="Pipelines, end to end",
        level=Level.INTERMEDIATE,
        language="pt-br",
        tags=["python", "data", "etl"],
        owner_id=UserId(uuid.uuid4()),
    )
    course.change_details(T0, description="A long description\nwith lines and ünïcödé.")
    for title, lessons in (("Empty", 0), ("Basics", 2), ("Advanced", 3)):
        section = course.add_section(title, T0)
        for n in range(lessons):
            course.add_lesson(section.id, f"{title} lesson {n}", T0)
    course.publish(T1)
    return course


async def test_a_whole_aggregate_round_trips(backend: Backend) -> None:
    course = a_rich_course()
    await save(backend, course)
    assert course.version == 1
    assert course.pending_events == []

    loaded = await must_load(backend, course.id)
    assert loaded is not course
    assert shape(loaded) == shape(course)
    assert loaded.pending_events == []
    async with backend.uow() as uow:
        by_slug = await uow.courses.get_by_slug("data-engineering")
        assert by_slug is not None
        assert shape(by_slug) == shape(course)
        assert await uow.courses.get_by_slug("no-such-course") is None
        assert await uow.courses.get(uuid.uuid4()) is None


async def test_reordered_sections_and_lessons_keep_their_new_order(backend: Backend) -> None:
    course = a_rich_course()
    await save(backend, course)
    async with backend.uow() as uow:
        loaded = await uow.courses.get(course.id)
        assert loaded is not None
        loaded.reorder_sections([s.id for s in reversed(loaded.sections)], T2)
        advanced = loaded.sections[0]
        loaded.reorder_lessons(advanced.id, [x.id for x in reversed(advanced.lessons)], T2)
        loaded.rename_lesson(advanced.id, advanced.lessons[0].id, "Renamed", T2)
        loaded.remove_section(loaded.sections[-1].id, T2)
        loaded.add_lesson(loaded.sections[1].id, "Inserted first", T2, position=0)
        expected = shape(loaded)
        await uow.commit()
    again = await must_load(backend, course.id)
    assert shape(again) == expected | {"version": 2}
    assert [s.title for s in again.sections] == ["Advanced", "Basics"]
    assert [x.title for x in again.sections[1].lessons] == ["Inserted first", "Basics lesson 0", "Basics lesson 1"]


async def test_within_a_unit_of_work_one_course_is_one_object(backend: Backend) -> None:
    course = a_course()
    await save(backend, course)
    async with backend.uow() as uow:
        first = await uow.courses.get(course.id)
        assert first is not None
        assert await uow.courses.get(course.id) is first
        fresh = a_course()
        uow.courses.add(fresh)
        assert await uow.courses.get(fresh.id) is fresh
        assert await uow.courses.get_by_slug(fresh.slug) is fresh


async def test_committed_changes_are_visible_to_a_new_unit_of_work(backend: Backend) -> None:
    course = a_course(title="Before")
    await save(backend, course)
    async with backend.uow() as uow:
        loaded = await uow.courses.get(course.id)
        assert loaded is not None
        loaded.change_details(T1, title="After", tags=["new"])
        await uow.commit()
        assert loaded.version == 2
    again = await must_load(backend, course.id)
    assert (again.title, again.tags, again.updated_at, again.version) == ("After", ["new"], T1, 2)


async def test_uncommitted_changes_are_not_kept(backend: Backend) -> None:
    course = a_course(title="Before")
    await save(backend, course)
    newcomer = a_course(title="Never saved")
    async with backend.uow() as uow:
        loaded = await uow.courses.get(course.id)
        assert loaded is not None
        loaded.change_details(T1, title="After")
        loaded.add_section("Extra", T1)
        uow.courses.add(newcomer)
    assert await load(backend, newcomer.id) is None
    again = await must_load(backend, course.id)
    assert shape(again) == shape(course)
    async with backend.uow() as uow:
        assert not await uow.courses.slug_taken(newcomer.slug)


async def test_an_exception_inside_the_block_keeps_nothing(backend: Backend) -> None:
    course = a_course()

    async def add_then_fail() -> None:
        async with backend.uow() as uow:
            uow.courses.add(course)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await add_then_fail()
    assert await load(backend, course.id) is None


async def test_an_explicit_rollback_discards_the_staged_changes(backend: Backend) -> None:
    course = a_course()
    async with backend.uow() as uow:
        uow.courses.add(course)
        await uow.rollback()
    assert await load(backend, course.id) is None


async def test_uncommitted_changes_are_invisible_to_another_open_unit_of_work(backend: Backend) -> None:
    if not backend.overlapping_writers:
        pytest.skip("SQLite never has two write units of work open at once")
    course = a_course(title="Before")
    await save(backend, course)
    async with backend.uow() as writer:
        loaded = await writer.courses.get(course.id)
        assert loaded is not None
        loaded.change_details(T1, title="Uncommitted")
        async with backend.uow() as reader:
            seen = await reader.courses.get(course.id)
            assert seen is not None
            assert seen is not loaded
            assert seen.title == "Before"


async def test_version_counts_committed_changes_only(backend: Backend) -> None:
    course = a_course()
    await save(backend, course)
    for n in range(3):
        async with backend.uow() as uow:
            loaded = await uow.courses.get(course.id)
            assert loaded is not None
            assert loaded.version == n + 1
            loaded.add_section(f"S{n}", T1)
            await uow.commit()
    async with backend.uow() as uow:  # a commit with no change is not a new version
        loaded = await uow.courses.get(course.id)
        assert loaded is not None
        loaded.change_details(T2, title=loaded.title)
        await uow.commit()
    assert (await must_load(backend, course.id)).version == 4


async def test_remove_deletes_the_course_with_its_outline(backend: Backend) -> None:
    course = a_rich_course()
    course.unpublish(T1)
    await save(backend, course)
    keep = a_course()
    await save(backend, keep)
    async with backend.uow() as uow:
        loaded = await uow.courses.get(course.id)
        assert loaded is not None
        uow.courses.remove(loaded)
        assert await uow.courses.get(course.id) is None
        assert await uow.courses.get_by_slug(course.slug) is None
        await uow.commit()
    assert await load(backend, course.id) is None
    assert await backend.queries.outline(course.id) is None
    assert await load(backend, keep.id) is not None
    async with backend.uow() as uow:
        assert not await uow.courses.slug_taken(course.slug)
    await save(backend, a_course(slug=course.slug))  # the slug is free again


async def test_remove_without_commit_keeps_the_course(backend: Backend) -> None:
    course = a_course()
    await save(backend, course)
    async with backend.uow() as uow:
        loaded = await uow.courses.get(course.id)
        assert loaded is not None
        uow.courses.remove(loaded)
    assert await load(backend, course.id) is not None


async def test_a_course_added_and_removed_in_one_unit_of_work_is_never_written(backend: Backend) -> None:
    course = a_course()
    async with backend.uow() as uow:
        uow.courses.add(course)
        uow.courses.remove(course)
        assert await uow.courses.get(course.id) is None
        await uow.commit()
    assert await load(backend, course.id) is None


async def test_slug_taken(backend: Backend) -> None:
    course = a_course(slug="taken-slug")
    await save(backend, course)
    async with backend.uow() as uow:
        assert await uow.courses.slug_taken("taken-slug")
        assert not await uow.courses.slug_taken("taken-slug", excluding=course.id)
        assert not await uow.courses.slug_taken("free-slug")
        staged = a_course(slug="staged-slug")
        uow.courses.add(staged)
        assert await uow.courses.slug_taken("staged-slug")
        assert not await uow.courses.slug_taken("staged-slug", excluding=staged.id)


async def test_slugs_starting_with_names_stored_and_staged_slugs_with_that_prefix(backend: Backend) -> None:
    await save(backend, *(a_course(slug=s) for s in ("intro", "intro-2", "introduction", "other-intro", "intr")))
    async with backend.uow() as uow:
        uow.courses.add(a_course(slug="intro-9"))
        assert await uow.courses.slugs_starting_with("intro") == {"intro", "intro-2", "introduction", "intro-9"}
        assert await uow.courses.slugs_starting_with("intro-") == {"intro-2", "intro-9"}
        assert await uow.courses.slugs_starting_with("zzz") == set()


async def test_taken_names_exactly_the_stored_slugs_and_ids_asked_about(backend: Backend) -> None:
    stored = [a_course(slug=f"stored-{i}") for i in range(3)]
    for course in stored:
        await save(backend, course)
    unknown_id = a_course(slug="never-saved").id
    async with backend.uow() as uow:
        slugs, ids = await uow.courses.taken(
            {"stored-0", "stored-2", "free-slug"}, {stored[1].id, stored[2].id, unknown_id}
        )
        assert slugs == {"stored-0", "stored-2"}
        assert ids == {stored[1].id, stored[2].id}
        assert await uow.courses.taken(set(), set()) == (set(), set())
        # More names than one IN list holds: still one answer, still exact.
        many = {f"free-{i}" for i in range(1_200)} | {"stored-1"}
        assert (await uow.courses.taken(many, set()))[0] == {"stored-1"}


async def test_two_new_courses_with_one_slug_conflict_at_commit(backend: Backend) -> None:
    first, second = a_course(slug="same-slug"), a_course(slug="same-slug")
    async with backend.uow() as uow:
        uow.courses.add(first)
        uow.courses.add(second)
        with pytest.raises(Conflict):
            await uow.commit()
    assert await load(backend, first.id) is None
    assert await load(backend, second.id) is None


async def test_changing_a_slug_to_a_taken_one_conflicts_at_commit(backend: Backend) -> None:
    one, two = a_course(slug="slug-one"), a_course(slug="slug-two")
    await save(backend, one, two)
    async with backend.uow() as uow:
        loaded = await uow.courses.get(two.id)
        assert loaded is not None
        loaded.change_details(T1, slug="slug-one", title="Changed too")
        with pytest.raises(Conflict, match="slug"):
            await uow.commit()
    again = await must_load(backend, two.id)
    assert (again.slug, again.title, again.version) == ("slug-two", two.title, 1)


async def test_adding_a_course_whose_id_exists_conflicts_at_commit(backend: Backend) -> None:
    course = a_course()
    await save(backend, course)
    twin = a_course(course_id=course.id)
    async with backend.uow() as uow:
        uow.courses.add(twin)
        with pytest.raises(Conflict):
            await uow.commit()
    assert (await must_load(backend, course.id)).slug == course.slug


async def test_a_failed_commit_keeps_none_of_the_units_changes(backend: Backend) -> None:
    existing = a_course(slug="existing-slug", title="Untouched")
    await save(backend, existing)
    fresh = a_course()
    async with backend.uow() as uow:
        loaded = await uow.courses.get(existing.id)
        assert loaded is not None
        loaded.change_details(T1, title="Changed")
        uow.courses.add(fresh)
        uow.courses.add(a_course(slug="existing-slug"))
        with pytest.raises(Conflict):
            await uow.commit()
    assert (await must_load(backend, existing.id)).title == "Untouched"
    assert await load(backend, fresh.id) is None


# -- concurrency -----------------------------------------------------------------------------------


async def test_a_concurrent_lost_update_is_a_conflict(backend: Backend) -> None:
    if not backend.overlapping_writers:
        pytest.skip("SQLite serialises writers; see test_writers_that_cannot_overlap_see_each_others_changes")
    course = a_course(title="Original")
    await save(backend, course)
    async with backend.uow() as first, backend.uow() as second:
        mine = await first.courses.get(course.id)
        theirs = await second.courses.get(course.id)
        assert mine is not None
        assert theirs is not None
        mine.change_details(T1, title="First wins")
        theirs.change_details(T1, summary="Second loses")
        await first.commit()
        with pytest.raises(Conflict):
            await second.commit()
    final = await must_load(backend, course.id)
    assert (final.title, final.summary, final.version) == ("First wins", "", 2)


async def test_deleting_a_course_that_changed_meanwhile_is_a_conflict(backend: Backend) -> None:
    if not backend.overlapping_writers:
        pytest.skip("SQLite serialises writers; see test_writers_that_cannot_overlap_see_each_others_changes")
    course = a_course(lessons=1)
    await save(backend, course)
    async with backend.uow() as deleter, backend.uow() as publisher:
        stale = await deleter.courses.get(course.id)
        current = await publisher.courses.get(course.id)
        assert stale is not None
        assert current is not None
        current.publish(T1)
        await publisher.commit()
        stale.mark_deleted(T1)  # a draft as far as this unit of work knows
        deleter.courses.remove(stale)
        with pytest.raises(Conflict):
            await deleter.commit()
    final = await must_load(backend, course.id)
    assert final.status is CourseStatus.PUBLISHED


async def test_concurrently_claiming_one_slug_is_a_conflict(backend: Backend) -> None:
    if not backend.overlapping_writers:
        pytest.skip("SQLite serialises writers; see test_writers_that_cannot_overlap_see_each_others_changes")
    mine, theirs = a_course(slug="hot-slug"), a_course(slug="hot-slug")
    async with backend.uow() as first, backend.uow() as second:
        assert not await first.courses.slug_taken("hot-slug")
        assert not await second.courses.slug_taken("hot-slug")
        first.courses.add(mine)
        second.courses.add(theirs)
        await first.commit()
        with pytest.raises(Conflict):
            await second.commit()
    assert await load(backend, mine.id) is not None
    assert await load(backend, theirs.id) is None


async def test_writers_that_cannot_overlap_see_each_others_changes(backend: Backend) -> None:
    if backend.overlapping_writers:
        pytest.skip("this backend lets writers overlap; the lost-update tests cover it")
    course = a_course(title="Original")
    await save(backend, course)
    seen_by_second: list[tuple[int, str]] = []

    async def second_writer() -> None:
        async with backend.uow() as uow:
            loaded = await uow.courses.get(course.id)
            assert loaded is not None
            seen_by_second.append((loaded.version, loaded.title))
            loaded.change_details(T2, summary="Second")
            await uow.commit()

    async with backend.uow() as first:
        loaded = await first.courses.get(course.id)
        assert loaded is not None
        loaded.change_details(T1, title="First")
        task = asyncio.create_task(second_writer())
        for _ in range(50):
            await asyncio.sleep(0)
        assert seen_by_second == []
        assert not task.done()
        await first.commit()
    await asyncio.wait_for(task, timeout=30)
    assert seen_by_second == [(2, "First")]
    final = await must_load(backend, course.id)
    assert (final.title, final.summary, final.version) == ("First", "Second", 3)
