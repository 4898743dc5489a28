"""The plan store's contract (save and replace, read by code, list by status in code order, events to the
outbox in the same transaction, nothing without a commit) on the in-memory double, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.billing.money import Money
from elearning_core.subscription.events import PlanPublished
from elearning_core.subscription.model import Includes, Interval, Plan, PlanStatus
from tests.contract.conftest import outbox_reader, sql_database
from tests.fakes import T0
from tests.subscription_fakes import InMemoryPlanUnitOfWork, PlanData


@dataclass(frozen=True)
class Backend:
    name: str
    uow: Callable[[], Any]
    outbox_types: Callable[[], Awaitable[list[str]]]


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "fake":
        data = PlanData()

        async def fake_outbox() -> list[str]:
            return [e.type for e in data.outbox]

        yield Backend("fake", lambda: InMemoryPlanUnitOfWork(data), fake_outbox)
        return
    db = await sql_database(request, tmp_path)
    try:
        yield Backend(request.param, lambda: SqlUnitOfWork(db), outbox_reader(db))
    finally:
        await db.dispose()


def a_plan(code: str, status: PlanStatus = PlanStatus.ACTIVE) -> Plan:
    return Plan(
        code=code,
        name="Pro",
        description="Every course, every month",
        interval=Interval.MONTH,
        interval_count=1,
        trial_days=14,
        prices=(Money(1900, "EUR"), Money(2500, "JPY")),
        tax_inclusive=True,
        includes=Includes(course_ids=(uuid.UUID(int=1), uuid.UUID(int=2)), path_ids=(uuid.UUID(int=3),)),
        status=status,
        created_at=T0,
        updated_at=T0,
    )


async def save(backend: Backend, *plans: Plan) -> None:
    async with backend.uow() as uow:
        for plan in plans:
            await uow.plans.save(plan)
        await uow.commit()


async def test_a_saved_plan_reads_back_whole(backend: Backend) -> None:
    plan = a_plan("pro")
    await save(backend, plan)
    async with backend.uow() as uow:
        assert await uow.plans.plan("pro") == plan
        assert await uow.plans.plan("other") is None


async def test_saving_again_replaces_terms_and_prices_but_keeps_identity(backend: Backend) -> None:
    plan = a_plan("pro")
    await save(backend, plan)
    later = T0.replace(year=T0.year + 1)
    changed = replace(
        plan,
        prices=(Money(2100, "USD"),),
        includes=Includes(all_courses=True),
        status=PlanStatus.ARCHIVED,
        updated_at=later,
    )
    await save(backend, changed)
    async with backend.uow() as uow:
        stored = await uow.plans.plan("pro")
    assert stored == changed
    assert stored is not None
    assert stored.created_at == T0
    assert stored.id == plan.id


async def test_plans_list_by_status_in_code_order_after_a_code(backend: Backend) -> None:
    await save(
        backend,
        a_plan("c"),
        a_plan("a"),
        a_plan("b", PlanStatus.DRAFT),
        a_plan("d", PlanStatus.ARCHIVED),
        a_plan("e"),
    )
    active = frozenset({PlanStatus.ACTIVE})
    async with backend.uow() as uow:
        assert [p.code for p in await uow.plans.plans(active, None, 10)] == ["a", "c", "e"]
        assert [p.code for p in await uow.plans.plans(active, "a", 1)] == ["c"]
        every = await uow.plans.plans(frozenset(PlanStatus), None, 10)
    assert [p.code for p in every] == ["a", "b", "c", "d", "e"]
    assert all(p.prices == (Money(1900, "EUR"), Money(2500, "JPY")) for p in every)


async def test_events_reach_the_outbox_with_the_commit_and_nothing_without_it(backend: Backend) -> None:
    plan = a_plan("pro")
    async with backend.uow() as uow:
        await uow.plans.save(plan)
        uow.plans.record(PlanPublished.of(plan, T0))
        await uow.rollback()
    async with backend.uow() as uow:
        assert await uow.plans.plan("pro") is None
        await uow.plans.save(plan)
        uow.plans.record(PlanPublished.of(plan, T0))
        await uow.commit()
    assert [t for t in await backend.outbox_types() if t.startswith("subscription.")] == [PlanPublished.type]
