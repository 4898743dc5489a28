"""The subscription store's contract, through the service on the in-memory double, SQLite and PostgreSQL:
a subscription and its grants and events written in one transaction and read back whole; a renewal job run
twice (and twice at once) for one period charges once; listings newest first; saved payment methods with
one default; and N+1 concurrent seat assignments of N seats give N (the row lock)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from elearning_adapters.payments.fake import FakePaymentGateway, card_token
from elearning_adapters.sql.subscription import SqlCoursesOfPaths, SqlMemberships
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.auth.model import Grant as RoleGrant
from elearning_core.auth.model import Role, RolePolicy, Scope
from elearning_core.auth.service import user_principal
from elearning_core.entitlement.model import GrantStatus
from elearning_core.identity.model import Organization, User
from elearning_core.learning_path.model import LearningPath, PartKind, PathPart
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.errors import Conflict
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import Principal
from elearning_core.subscription.commands import AssignSeat, SavePaymentMethod, Subscribe
from elearning_core.subscription.model import DunningPolicy, Status
from elearning_core.subscription.service import SubscriptionService
from tests.contract.conftest import outbox_reader, sql_database
from tests.subscription_fakes import (
    SUB_T0,
    FixedCoursesOfPaths,
    FixedMemberships,
    InMemorySubscriptionUnitOfWork,
    SubscriptionData,
    a_plan,
)

ORG = uuid.UUID(int=77)
GOOD = card_token("4242424242424242")


@dataclass
class Backend:
    name: str
    uow: Callable[[], Any]
    outbox_types: Callable[[], Awaitable[list[str]]]
    add_user: Callable[[], Awaitable[uuid.UUID]]
    concurrent: bool
    clock: FixedClock
    gateway: FakePaymentGateway
    members: FixedMemberships

    def service(self) -> SubscriptionService:
        return SubscriptionService(
            self.uow,
            self.gateway,
            FixedCoursesOfPaths(),
            self.members,
            RolePolicy(),
            self.clock,
            CursorCodec(b"subscription-contract-secret-012345"),
            DunningPolicy(),
        )


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    clock = FixedClock(SUB_T0)
    gateway = FakePaymentGateway(clock)
    if request.param == "fake":
        data = SubscriptionData()

        async def fake_outbox() -> list[str]:
            return [e.type for e in data.events()]

        async def fake_user() -> uuid.UUID:
            data.entitlements.users.add(user_id := uuid.uuid4())
            return user_id

        backend = Backend(
            "fake",
            lambda: InMemorySubscriptionUnitOfWork(data),
            fake_outbox,
            fake_user,
            False,
            clock,
            gateway,
            FixedMemberships(),
        )
        await _plans(backend)
        yield backend
        return
    db = await sql_database(request, tmp_path)

    async def sql_user() -> uuid.UUID:
        user = User.register(
            email=f"{uuid.uuid4().hex[:12]}@example.org", display_name="A", at=SUB_T0, password_hash=None
        )
        async with SqlUnitOfWork(db) as uow:
            uow.users.add(user)
            await uow.commit()
        return user.id

    try:
        backend = Backend(
            request.param,
            lambda: SqlUnitOfWork(db),
            outbox_reader(db),
            sql_user,
            request.param == "postgres",
            clock,
            gateway,
            FixedMemberships(),
        )
        await _plans(backend)
        yield backend
    finally:
        await db.dispose()


async def _plans(backend: Backend) -> None:
    async with backend.uow() as uow:
        await uow.plans.save(a_plan("pro", 1900))
        await uow.plans.save(a_plan("team", 1000))
        await uow.commit()


def me(user: uuid.UUID, *grants: RoleGrant) -> Principal:
    return user_principal(user, grants, None, email_verified=True)


async def a_subscriber(backend: Backend) -> tuple[uuid.UUID, SubscriptionService]:
    user = await backend.add_user()
    service = backend.service()
    await service.save_payment_method(me(user), SavePaymentMethod(token=GOOD))
    return user, service


def subscribe_cmd(**extra: Any) -> Subscribe:
    values: dict[str, Any] = {"plan_code": "pro", "currency": "EUR", "billing_name": "A", "billing_country": "FR"}
    return Subscribe.model_validate(values | extra)


async def test_a_subscription_its_grant_and_its_events_are_written_together_and_read_back_whole(
    backend: Backend,
) -> None:
    user, service = await a_subscriber(backend)
    sub = await service.subscribe(me(user), subscribe_cmd())
    stored = await service.subscription(me(user), sub.id)
    assert stored == sub
    assert stored.due_at == sub.period_end
    types = [t for t in await backend.outbox_types() if t.startswith(("subscription.", "entitlement."))]
    assert sorted(types) == ["entitlement.granted.v1", "subscription.activated.v1", "subscription.created.v1"]
    async with backend.uow() as uow:
        [grant] = [g for g in await uow.entitlements.grants_of_user(user)]
    assert (grant.status, grant.ends_at, grant.course_id) == (GrantStatus.ACTIVE, sub.period_end, None)


async def test_the_renewal_job_run_twice_and_twice_at_once_charges_one_period_once(backend: Backend) -> None:
    user, service = await a_subscriber(backend)
    sub = await service.subscribe(me(user), subscribe_cmd())
    backend.clock.advance(timedelta(days=29))
    if backend.concurrent:
        moved = await asyncio.gather(service.renew_due(10), service.renew_due(10))
    else:
        moved = [await service.renew_due(10), await service.renew_due(10)]
    assert sorted(moved) == [0, 1]
    assert backend.gateway.charges == 2
    renewed = await service.subscription(me(user), sub.id)
    assert renewed.status is Status.ACTIVE
    assert renewed.paid_through == renewed.period_end
    assert (await backend.outbox_types()).count("subscription.renewed.v1") == 1


async def test_listings_are_newest_first_and_filtered(backend: Backend) -> None:
    user, service = await a_subscriber(backend)
    first = await service.subscribe(me(user), subscribe_cmd())
    backend.clock.advance(timedelta(minutes=1))
    second = await service.subscribe(me(user), subscribe_cmd(plan_code="team"))
    await service.cancel(me(user), first.id, at_period_end=False)
    page = await service.subscriptions(me(user), limit=1)
    assert [s.id for s in page.items] == [second.id]
    rest = await service.subscriptions(me(user), cursor=page.next_cursor, limit=1)
    assert [s.id for s in rest.items] == [first.id]
    canceled = await service.subscriptions(me(user), status=Status.CANCELED)
    assert [s.id for s in canceled.items] == [first.id]
    other = await backend.add_user()
    assert (await service.subscriptions(me(other))).items == []


async def test_saved_methods_keep_one_default_and_one_in_use_is_not_deleted(backend: Backend) -> None:
    user, service = await a_subscriber(backend)
    second = await service.save_payment_method(me(user), SavePaymentMethod(token=GOOD))
    methods = await service.payment_methods(me(user))
    assert [(m.id, m.is_default) for m in methods][-1] == (second.id, True)
    assert sum(m.is_default for m in methods) == 1
    await service.subscribe(me(user), subscribe_cmd())
    with pytest.raises(Conflict):
        await service.delete_payment_method(me(user), second.id)
    await service.delete_payment_method(me(user), methods[0].id)
    assert [m.id for m in await service.payment_methods(me(user))] == [second.id]


async def test_concurrent_seat_assignments_never_exceed_the_seat_count(backend: Backend) -> None:
    if backend.name == "fake":
        pytest.skip("the in-memory double has no transactions to interleave")
    admin_id = await backend.add_user()
    admin = me(admin_id, RoleGrant(Role.ORGANIZATION_ADMIN, Scope.organization(ORG)))
    service = backend.service()
    await service.save_payment_method(admin, SavePaymentMethod(token=GOOD))
    seats = 4
    sub = await service.subscribe(admin, subscribe_cmd(plan_code="team", organization_id=str(ORG), seats=seats))
    users = [await backend.add_user() for _ in range(seats + 1)]
    backend.members.members.update((ORG, u) for u in users)
    results = await asyncio.gather(
        *(service.assign_seat(admin, sub.id, AssignSeat(user_id=u)) for u in users), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1
    assert getattr(refused[0], "rule", None) == "no-seat-left"
    assert len((await service.seats(admin, sub.id)).items) == seats
    granted = 0
    for u in users:
        async with backend.uow() as uow:
            granted += len(await uow.entitlements.grants_of_user(u))
    assert granted == seats


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_the_narrow_reads_see_path_courses_and_organization_members(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The SQL reads of the learning-path and identity modules' tables, written through their own stores
    (SQL only: the fakes of these reads are fixed tables)."""
    db = await sql_database(_Param(request, backend), tmp_path)
    try:
        c1, c2, c3, c4 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        path = LearningPath.create(slug=f"p-{uuid.uuid4().hex[:8]}", title="Path", at=SUB_T0)
        path.restructure(
            [PathPart(PartKind.REQUIRED, (c1, c2), 2), PathPart(PartKind.ELECTIVE, (c3, c4), 1, "pick")], [], SUB_T0
        )
        user = User.register(
            email=f"{uuid.uuid4().hex[:8]}@example.org", display_name="A", at=SUB_T0, password_hash=None
        )
        org = Organization.create(slug=f"o-{uuid.uuid4().hex[:8]}", name="Org", at=SUB_T0)
        async with SqlUnitOfWork(db) as uow:
            uow.learning_paths.add(path)
            uow.users.add(user)
            uow.organizations.add(org)
            await uow.commit()
        async with SqlUnitOfWork(db) as uow:
            await uow.organizations.add_member(org.id, user.id, SUB_T0)
            await uow.commit()
        assert await SqlCoursesOfPaths(db).courses_of_paths([path.id, uuid.uuid4()]) == [c1, c2, c3, c4]
        members = SqlMemberships(db)
        assert await members.is_member(org.id, user.id) is True
        assert await members.is_member(org.id, uuid.uuid4()) is False
    finally:
        await db.dispose()


class _Param:
    """The request ``sql_database`` expects (its ``param`` names the engine)."""

    def __init__(self, request: pytest.FixtureRequest, engine: str) -> None:
        self._request, self.param = request, engine

    def getfixturevalue(self, name: str) -> Any:
        return self._request.getfixturevalue(name)
