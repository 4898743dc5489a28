"""The entitlement store's contract (offers, grants, status changes, "my entitlements" courses, events to
the outbox in the same transaction) on the in-memory double, SQLite and PostgreSQL; and the cached reads
against the same data."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from elearning_adapters.cache import InMemoryCache
from elearning_adapters.entitlement_cache import CachedEntitlementReads
from elearning_adapters.sql.entitlement import SqlEntitlementReads
from elearning_adapters.sql.resources import SqlResourceDirectory
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.course.events import CourseArchived
from elearning_core.course.model import Course
from elearning_core.enrollment.model import Enrollment, EnrollmentSource
from elearning_core.entitlement.events import EntitlementChanged, EntitlementGranted, OfferChanged
from elearning_core.entitlement.model import CourseOffer, Grant, GrantStatus, Source
from elearning_core.identity.model import User
from elearning_core.shared.errors import NotFound
from tests.contract.conftest import outbox_reader, sql_database
from tests.entitlement_fakes import EntitlementData, InMemoryEntitlementUnitOfWork
from tests.fakes import T0

T1 = T0 + timedelta(days=30)


@dataclass(frozen=True)
class Backend:
    name: str
    uow: Callable[[], Any]
    outbox_types: Callable[[], Awaitable[list[str]]]
    add_course: Callable[[], Awaitable[uuid.UUID]]
    add_user: Callable[[], Awaitable[uuid.UUID]]
    enroll: Callable[[uuid.UUID, uuid.UUID], Awaitable[None]]
    reads: Any = None
    """The check's SQL reads (None on the fake: the store itself answers them)."""


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "fake":
        data = EntitlementData()

        async def fake_outbox() -> list[str]:
            return [e.type for e in data.outbox]

        async def fake_course() -> uuid.UUID:
            return uuid.uuid4()

        async def fake_user() -> uuid.UUID:
            data.users.add(user_id := uuid.uuid4())
            return user_id

        async def fake_enroll(user_id: uuid.UUID, course_id: uuid.UUID) -> None:
            data.enrolled.add((user_id, course_id))

        yield Backend(
            "fake", lambda: InMemoryEntitlementUnitOfWork(data), fake_outbox, fake_course, fake_user, fake_enroll
        )
        return
    db = await sql_database(request, tmp_path)

    async def sql_course() -> uuid.UUID:
        course = Course.create(title="Course", slug=f"c-{uuid.uuid4().hex[:12]}", at=T0)
        async with SqlUnitOfWork(db) as uow:
            uow.courses.add(course)
            await uow.commit()
        return course.id

    async def sql_user() -> uuid.UUID:
        user = User.register(email=f"{uuid.uuid4().hex[:12]}@example.org", display_name="A", at=T0, password_hash=None)
        async with SqlUnitOfWork(db) as uow:
            uow.users.add(user)
            await uow.commit()
        return user.id

    async def sql_enroll(user_id: uuid.UUID, course_id: uuid.UUID) -> None:
        async with SqlUnitOfWork(db) as uow:
            uow.enrollments.add(
                Enrollment.enroll(course_id, user_id, cohort_id=None, source=EnrollmentSource.SELF, at=T0)
            )
            await uow.commit()

    try:
        yield Backend(
            request.param,
            lambda: SqlUnitOfWork(db),
            outbox_reader(db),
            sql_course,
            sql_user,
            sql_enroll,
            reads=(SqlEntitlementReads(db), SqlResourceDirectory(db)),
        )
    finally:
        await db.dispose()


async def entitlement_events(backend: Backend) -> list[str]:
    """This module's events in the outbox (seeding courses and users records theirs too)."""
    return [t for t in await backend.outbox_types() if t.startswith("entitlement.")]


async def test_an_offer_is_absent_then_saved_and_replaced(backend: Backend) -> None:
    course = await backend.add_course()
    async with backend.uow() as uow:
        assert await uow.entitlements.offer(course) is None
        offer = CourseOffer(course, paid=True, paid_since=T0)
        await uow.entitlements.save_offer(offer, T0)
        uow.entitlements.record(OfferChanged.of(offer, T0))
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.entitlements.offer(course) == CourseOffer(course, paid=True, paid_since=T0)
        await uow.entitlements.save_offer(CourseOffer(course, paid=False, audit_track=True, paid_since=T0), T1)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.entitlements.offer(course) == CourseOffer(course, False, True, T0)
    assert await entitlement_events(backend) == [OfferChanged.type]


async def test_a_grant_is_stored_with_its_event_and_its_status_changes(backend: Backend) -> None:
    course, user = await backend.add_course(), await backend.add_user()
    grant = Grant(user, course, Source.SUBSCRIPTION, GrantStatus.ACTIVE, T0, T1, "sub_1")
    async with backend.uow() as uow:
        await uow.entitlements.add_grant(grant, T0)
        uow.entitlements.record(EntitlementGranted.of(grant, T0))
        await uow.commit()
    async with backend.uow() as uow:
        assert list(await uow.entitlements.grants(user, course)) == [grant]
        stored = await uow.entitlements.grant(grant.id)
        assert stored == grant
        past_due = stored.with_status(GrantStatus.PAST_DUE, T1 + timedelta(days=1))
        await uow.entitlements.save_grant(past_due, T1)
        uow.entitlements.record(EntitlementChanged.of(stored, past_due, T1))
        await uow.commit()
    async with backend.uow() as uow:
        (changed,) = await uow.entitlements.grants(user, course)
        assert (changed.status, changed.ends_at, changed.reference) == (
            GrantStatus.PAST_DUE,
            T1 + timedelta(days=1),
            "sub_1",
        )
    assert await entitlement_events(backend) == [EntitlementGranted.type, EntitlementChanged.type]


async def test_nothing_is_stored_without_commit(backend: Backend) -> None:
    course, user = await backend.add_course(), await backend.add_user()
    async with backend.uow() as uow:
        await uow.entitlements.add_grant(Grant(user, course, Source.PURCHASED, GrantStatus.ACTIVE, T0), T0)
        offer = CourseOffer(course, paid=True, paid_since=T0)
        await uow.entitlements.save_offer(offer, T0)
        uow.entitlements.record(OfferChanged.of(offer, T0))
    async with backend.uow() as uow:
        assert list(await uow.entitlements.grants(user, course)) == []
        assert await uow.entitlements.offer(course) is None
    assert await entitlement_events(backend) == []


async def test_a_grant_for_an_unknown_user_is_refused(backend: Backend) -> None:
    course = await backend.add_course()
    async with backend.uow() as uow:
        with pytest.raises(NotFound):
            await uow.entitlements.add_grant(Grant(uuid.uuid4(), course, Source.PURCHASED, GrantStatus.ACTIVE, T0), T0)


async def test_an_unknown_grant_is_none(backend: Backend) -> None:
    async with backend.uow() as uow:
        assert await uow.entitlements.grant(uuid.uuid4()) is None


async def test_the_courses_of_a_user_are_granted_or_enrolled_once_each_in_id_order(backend: Backend) -> None:
    user, other = await backend.add_user(), await backend.add_user()
    granted, enrolled, both, foreign = [await backend.add_course() for _ in range(4)]
    await backend.enroll(user, enrolled)
    await backend.enroll(user, both)
    await backend.enroll(other, foreign)
    async with backend.uow() as uow:
        for course in (granted, both, both):
            await uow.entitlements.add_grant(Grant(user, course, Source.PURCHASED, GrantStatus.ACTIVE, T0), T0)
        await uow.commit()
    expected = sorted([granted, enrolled, both])
    async with backend.uow() as uow:
        assert await uow.entitlements.courses_of_user(user, None, 10) == expected
        assert await uow.entitlements.courses_of_user(user, None, 2) == expected[:2]
        assert await uow.entitlements.courses_of_user(user, expected[1], 10) == expected[2:]
        assert [g.course_id for g in await uow.entitlements.grants_of_user(user)].count(both) == 2


async def test_the_sql_reads_and_the_cached_reads_answer_as_the_store(backend: Backend) -> None:
    if backend.reads is None:
        pytest.skip("the fake's store is its own read side")
    sql, resources = backend.reads
    cached = CachedEntitlementReads(sql, resources, InMemoryCache(), 60)
    course, user = await backend.add_course(), await backend.add_user()
    grant = Grant(user, course, Source.PURCHASED, GrantStatus.ACTIVE, T0, reference="order_1")
    async with backend.uow() as uow:
        await uow.entitlements.save_offer(CourseOffer(course, paid=True, paid_since=T0), T0)
        await uow.entitlements.add_grant(grant, T0)
        await uow.commit()
    for reads in (sql, cached, cached):  # the second cached read is a hit
        assert await reads.offer(course) == CourseOffer(course, paid=True, paid_since=T0)
        assert list(await reads.grants(user, course)) == [grant]
    assert (await cached.course(course)) == (await resources.course(course))
    assert await cached.course(uuid.uuid4()) is None
    # A change is seen once its event invalidated the entries (the commit listener or the subscription).
    refunded = grant.with_status(GrantStatus.REFUNDED, None)
    async with backend.uow() as uow:
        await uow.entitlements.save_grant(refunded, T1)
        await uow.commit()
    assert list(await cached.grants(user, course)) == [grant]  # not yet invalidated: the cache's copy
    event = EntitlementChanged.of(grant, refunded, T1)
    await cached.invalidate_for(event)
    assert list(await cached.grants(user, course)) == [refunded]


class CountingDirectory:
    """The course directory, counting the reads that reach it."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.reads = inner, 0

    async def course(self, course_id: uuid.UUID) -> Any:
        self.reads += 1
        return await self.inner.course(course_id)

    async def organization_exists(self, organization_id: uuid.UUID) -> bool:
        return bool(await self.inner.organization_exists(organization_id))


async def test_a_course_event_drops_the_cached_scopes_of_that_course_only(backend: Backend) -> None:
    if backend.reads is None:
        pytest.skip("the fake's store is its own read side")
    sql, resources = backend.reads
    directory = CountingDirectory(resources)
    cached = CachedEntitlementReads(sql, directory, InMemoryCache(), 60)
    course, other = await backend.add_course(), await backend.add_course()
    for _ in range(2):
        assert (await cached.course(course)) is not None
        assert (await cached.course(other)) is not None
    assert directory.reads == 2  # each read once, then from the cache
    await cached.invalidate_for(CourseArchived(occurred_at=T1, aggregate_id=course))
    await cached.course(course)
    await cached.course(other)
    assert directory.reads == 3


async def test_a_grant_of_every_course_covers_each_course_but_lists_none(backend: Backend) -> None:
    user = await backend.add_user()
    first, second = await backend.add_course(), await backend.add_course()
    everything = Grant(user, None, Source.SUBSCRIPTION, GrantStatus.ACTIVE, T0, reference="sub_1")
    only_first = Grant(user, first, Source.PURCHASED, GrantStatus.ACTIVE, T0, reference="order_1")
    async with backend.uow() as uow:
        await uow.entitlements.add_grant(everything, T0)
        await uow.entitlements.add_grant(only_first, T0)
        await uow.commit()
    async with backend.uow() as uow:
        assert {g.id for g in await uow.entitlements.grants(user, first)} == {everything.id, only_first.id}
        assert [g.id for g in await uow.entitlements.grants(user, second)] == [everything.id]
        assert await uow.entitlements.courses_of_user(user, None, 10) == [first]
    if backend.reads is None:
        return
    sql, resources = backend.reads
    cached = CachedEntitlementReads(sql, resources, InMemoryCache(), 60)
    for reads in (sql, cached, cached):
        assert [g.id for g in await reads.grants(user, second)] == [everything.id]
    # Cancelling the all-courses grant reaches every course's check through the learner's one key.
    canceled = everything.with_status(GrantStatus.CANCELED, T1)
    async with backend.uow() as uow:
        await uow.entitlements.save_grant(canceled, T1)
        await uow.commit()
    await cached.invalidate_for(EntitlementChanged.of(everything, canceled, T1))
    assert [g.status for g in await cached.grants(user, first) if g.id == everything.id] == [GrantStatus.CANCELED]
    assert [g.status for g in await cached.grants(user, second)] == [GrantStatus.CANCELED]
