"""The enrollment ports' contract (settings with their lock, cohorts, enrollments, the queries), run on the
fakes, SQLite and PostgreSQL. The prerequisite check is the progress module's (tests/contract/test_progress_store.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from elearning_adapters.sql.enrollment import SqlEnrollmentQueries
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.course.model import Course
from elearning_core.enrollment.model import Cohort, Enrollment, EnrollmentPolicy, EnrollmentSource, EnrollmentStatus
from elearning_core.enrollment.ports import EnrollmentUnitOfWork
from elearning_core.enrollment.queries import EnrollmentFilter, EnrollmentQueries
from elearning_core.shared.errors import Conflict
from tests.contract.conftest import outbox_reader, sql_database
from tests.fakes import (
    T0,
    EnrollmentStore,
    FakeEnrollmentUnitOfWork,
    InMemoryEnrollmentQueries,
)

T1 = T0 + timedelta(minutes=1)


@dataclass(frozen=True)
class Backend:
    name: str
    uow: Callable[[], EnrollmentUnitOfWork]
    queries: EnrollmentQueries
    overlapping_writers: bool
    outbox_types: Callable[[], Awaitable[list[str]]]
    add_course: Callable[[str, str], Awaitable[uuid.UUID]]
    """Store a course (title, slug) where the enrollment queries read it; its id."""


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "fake":
        store = EnrollmentStore()

        async def fake_outbox() -> list[str]:
            return [e.type for e in store.outbox]

        async def fake_course(title: str, slug: str) -> uuid.UUID:
            course_id = store.add_course(slug=slug)
            store.titles[course_id] = title
            return course_id

        yield Backend(
            "fake",
            lambda: FakeEnrollmentUnitOfWork(store),
            InMemoryEnrollmentQueries(store),
            overlapping_writers=True,
            outbox_types=fake_outbox,
            add_course=fake_course,
        )
        return
    db = await sql_database(request, tmp_path)

    sql_outbox = outbox_reader(db)

    async def sql_course(title: str, slug: str) -> uuid.UUID:
        course = Course.create(title=title, slug=slug, at=T0)
        async with SqlUnitOfWork(db) as uow:
            uow.courses.add(course)
            await uow.commit()
        return course.id

    try:
        yield Backend(
            request.param,
            lambda: SqlUnitOfWork(db),
            SqlEnrollmentQueries(db),
            overlapping_writers=not db.is_sqlite,
            outbox_types=sql_outbox,
            add_course=sql_course,
        )
    finally:
        await db.dispose()


def _enrollment(
    course_id: uuid.UUID, user_id: uuid.UUID | None = None, cohort_id: uuid.UUID | None = None
) -> Enrollment:
    return Enrollment.enroll(
        course_id, user_id or uuid.uuid4(), cohort_id=cohort_id, source=EnrollmentSource.SELF, at=T0
    )


async def test_settings_default_then_saved_and_read_back(backend: Backend) -> None:
    course, required = uuid.uuid4(), uuid.uuid4()
    async with backend.uow() as uow:
        assert await uow.enrollment_settings.get(course) == EnrollmentPolicy.default(course)
        assert await uow.enrollment_settings.lock(course) == EnrollmentPolicy.default(course)
        policy = EnrollmentPolicy.make(
            course, self_enrollment=False, capacity=3, opens_at=T0, closes_at=T1, prerequisites=[required]
        )
        await uow.enrollment_settings.save(policy)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.enrollment_settings.get(course) == policy
        assert await uow.enrollment_settings.lock(course) == policy


async def test_a_rollback_keeps_the_old_settings(backend: Backend) -> None:
    course = uuid.uuid4()
    async with backend.uow() as uow:
        await uow.enrollment_settings.save(EnrollmentPolicy(course, capacity=5))
    async with backend.uow() as uow:
        assert (await uow.enrollment_settings.get(course)).capacity is None


async def test_cohorts_round_trip_with_unique_names_per_course(backend: Backend) -> None:
    course = uuid.uuid4()
    autumn = Cohort.create(course, name="Autumn", capacity=2, starts_at=T1, at=T0)
    spring = Cohort.create(course, name="Spring", capacity=None, starts_at=None, at=T1)
    async with backend.uow() as uow:
        await uow.cohorts.add(autumn)
        await uow.cohorts.add(spring)
        await uow.commit()
    async with backend.uow() as uow:
        assert [c.name for c in await uow.cohorts.list(course)] == ["Autumn", "Spring"]
        assert await uow.cohorts.get(autumn.id) == autumn
        assert await uow.cohorts.lock(spring.id) == spring
        assert await uow.cohorts.name_taken(course, "Autumn")
        assert not await uow.cohorts.name_taken(course, "Autumn", other_than=autumn.id)
        assert not await uow.cohorts.name_taken(uuid.uuid4(), "Autumn")
        assert await uow.cohorts.get(uuid.uuid4()) is None
    async with backend.uow() as uow:
        with pytest.raises(Conflict):
            await uow.cohorts.add(Cohort.create(course, name="Autumn", capacity=None, starts_at=None, at=T1))
    async with backend.uow() as uow:
        spring.update(name="Summer", capacity=4)
        await uow.cohorts.save(spring)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.cohorts.get(spring.id) == spring


async def test_enrollments_are_written_at_commit_with_their_events(backend: Backend) -> None:
    course, user = uuid.uuid4(), uuid.uuid4()
    enrollment = _enrollment(course, user)
    async with backend.uow() as uow:
        uow.enrollments.add(enrollment)
        assert await uow.enrollments.count_active(course) == 1  # its own, before the commit
        await uow.commit()
    async with backend.uow() as uow:
        loaded = await uow.enrollments.find(course, user)
        assert loaded is not None
        assert (loaded.id, loaded.status, loaded.source, loaded.enrolled_at) == (
            enrollment.id,
            EnrollmentStatus.ACTIVE,
            EnrollmentSource.SELF,
            T0,
        )
        assert await uow.enrollments.get(enrollment.id) is loaded
        loaded.unenroll(T1, by=EnrollmentSource.STAFF)
        await uow.commit()
    async with backend.uow() as uow:
        again = await uow.enrollments.find(course, user)
        assert again is not None
        assert (again.status, again.unenrolled_at) == (EnrollmentStatus.UNENROLLED, T1)
        assert await uow.enrollments.count_active(course) == 0
    assert await backend.outbox_types() == ["enrollment.enrolled.v1", "enrollment.unenrolled.v1"]


async def test_one_enrollment_per_course_and_learner(backend: Backend) -> None:
    course, user = uuid.uuid4(), uuid.uuid4()
    async with backend.uow() as uow:
        uow.enrollments.add(_enrollment(course, user))
        await uow.commit()
    async with backend.uow() as uow:
        uow.enrollments.add(_enrollment(course, user))
        with pytest.raises(Conflict, match="already enrolled"):
            await uow.commit()
    assert await backend.outbox_types() == ["enrollment.enrolled.v1"]


async def test_counts_per_course_and_cohort(backend: Backend) -> None:
    course = uuid.uuid4()
    cohort = Cohort.create(course, name="A", capacity=None, starts_at=None, at=T0)
    async with backend.uow() as uow:
        await uow.cohorts.add(cohort)
        for cohort_id in (cohort.id, cohort.id, None):
            uow.enrollments.add(_enrollment(course, cohort_id=cohort_id))
        uow.enrollments.add(_enrollment(uuid.uuid4(), cohort_id=None))  # another course
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.enrollments.count_active(course) == 3
        assert await uow.enrollments.count_active(course, cohort.id) == 2
    assert await backend.queries.active_counts(course) == (3, {cohort.id: 2})


async def test_removing_a_cohort_leaves_its_past_enrollments_without_one(backend: Backend) -> None:
    course, user = uuid.uuid4(), uuid.uuid4()
    cohort = Cohort.create(course, name="Gone", capacity=None, starts_at=None, at=T0)
    async with backend.uow() as uow:
        await uow.cohorts.add(cohort)
        enrollment = _enrollment(course, user, cohort.id)
        enrollment.complete(T1)
        uow.enrollments.add(enrollment)
        await uow.commit()
    async with backend.uow() as uow:
        await uow.cohorts.remove(cohort.id)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.cohorts.get(cohort.id) is None
        found = await uow.enrollments.find(course, user)
        assert found is not None
        assert found.cohort_id is None


async def test_queries(backend: Backend) -> None:
    course, other = uuid.uuid4(), uuid.uuid4()
    ada, bob, eve = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with backend.uow() as uow:
        done = _enrollment(course, ada)
        done.complete(T1)
        left = _enrollment(course, bob)
        left.unenroll(T1, by=EnrollmentSource.SELF)
        for e in (done, left, _enrollment(course, eve), _enrollment(other, ada)):
            uow.enrollments.add(e)
        await uow.commit()
    everyone = await backend.queries.list_enrollments(course, EnrollmentFilter(), None, 10)
    assert sorted(e.user_id for e in everyone) == sorted([ada, bob, eve])
    assert [e.id for e in everyone] == sorted(e.id for e in everyone)
    first = await backend.queries.list_enrollments(course, EnrollmentFilter(), None, 2)
    rest = await backend.queries.list_enrollments(course, EnrollmentFilter(), first[-1].id, 2)
    assert [e.id for e in first + rest] == [e.id for e in everyone]
    active = await backend.queries.list_enrollments(course, EnrollmentFilter(status=EnrollmentStatus.ACTIVE), None, 10)
    assert [e.user_id for e in active] == [eve]
    assert await backend.queries.is_enrolled(ada, course)  # completed still follows the course
    assert await backend.queries.is_enrolled(eve, course)
    assert not await backend.queries.is_enrolled(bob, course)  # unenrolled
    assert not await backend.queries.is_enrolled(eve, other)


async def test_the_settings_lock_holds_off_a_second_writer(backend: Backend) -> None:
    if not backend.overlapping_writers:
        pytest.skip("SQLite serialises write transactions: two are never open at once")
    course = uuid.uuid4()
    second_locked = asyncio.Event()

    async def second() -> int:
        async with backend.uow() as uow:
            await uow.enrollment_settings.lock(course)
            second_locked.set()
            return await uow.enrollments.count_active(course)

    async with backend.uow() as uow:
        await uow.enrollment_settings.lock(course)
        task = asyncio.create_task(second())
        await asyncio.sleep(0.2)
        assert not second_locked.is_set()
        uow.enrollments.add(_enrollment(course))
        await uow.commit()
    assert await asyncio.wait_for(task, 10) == 1  # counted after the first committed


async def test_a_learners_enrollments_come_newest_first_with_the_course_and_page_by_key(backend: Backend) -> None:
    ada, bob = uuid.uuid4(), uuid.uuid4()
    courses = [await backend.add_course(f"Course {i}", f"course-{i}") for i in range(5)]
    async with backend.uow() as uow:
        for minutes, course_id in enumerate(courses):
            # Two enrollments share a time: the id breaks the tie, in the same order everywhere.
            at = T0 + timedelta(minutes=min(minutes, 3))
            uow.enrollments.add(Enrollment.enroll(course_id, ada, cohort_id=None, source=EnrollmentSource.SELF, at=at))
        uow.enrollments.add(_enrollment(courses[0], bob))
        await uow.commit()
    everything = await backend.queries.enrollments_of(ada, None, 10)
    keys = [(v.enrollment.enrolled_at, v.enrollment.id) for v in everything]
    assert keys == sorted(keys, reverse=True)
    assert {v.enrollment.course_id for v in everything} == set(courses)
    assert {(v.course_title, v.course_slug) for v in everything} == {(f"Course {i}", f"course-{i}") for i in range(5)}
    pages, after = [], None
    while True:
        page = await backend.queries.enrollments_of(ada, after, 2)
        pages.extend(page)
        if len(page) < 2:
            break
        after = (page[-1].enrollment.enrolled_at, page[-1].enrollment.id)
    assert [v.enrollment.id for v in pages] == [v.enrollment.id for v in everything]
    assert await backend.queries.enrollments_of(uuid.uuid4(), None, 10) == []


# -- seats held by checkouts ------------------------------------------------------------------------


async def test_seat_holds_count_until_they_expire_or_are_released(backend: Backend) -> None:
    course, other = uuid.uuid4(), uuid.uuid4()
    async with backend.uow() as uow:
        await uow.seat_holds.add(course, "order-1", uuid.uuid4(), T1)
        await uow.seat_holds.add(course, "order-2", uuid.uuid4(), T1 + timedelta(minutes=5))
        await uow.seat_holds.add(other, "order-3", uuid.uuid4(), T1)
        await uow.seat_holds.add(course, "order-1", uuid.uuid4(), T1 + timedelta(hours=1))  # the first hold stays
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.seat_holds.count_live(course, T0) == 2
        assert await uow.seat_holds.count_live(course, T0, other_than="order-1") == 1
        assert await uow.seat_holds.count_live(course, T1) == 1  # order-1 expired at T1
        assert await uow.seat_holds.release("order-2")
        assert not await uow.seat_holds.release("order-9")
        # Not committed: rolled back on leaving.
    async with backend.uow() as uow:
        assert await uow.seat_holds.count_live(course, T0) == 2
        assert await uow.seat_holds.release("order-2")
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.seat_holds.count_live(course, T0) == 1
        assert await uow.seat_holds.count_live(other, T0) == 1
