"""The plan catalog's use cases on the in-memory store: validation of imports, idempotent re-import,
events on publish/change/archive, and who sees which plans."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from elearning_core.auth.model import Grant as RoleGrant
from elearning_core.auth.model import ResourceRef, Role, RolePolicy, ScopeKind
from elearning_core.auth.service import user_principal
from elearning_core.billing.money import Money
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.errors import NotFound, PermissionDenied, ValidationFailed
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import ANONYMOUS, SYSTEM
from elearning_core.subscription.commands import PlanSpec
from elearning_core.subscription.model import PlanStatus
from elearning_core.subscription.service import PlanService
from tests.subscription_fakes import InMemoryPlanUnitOfWork, PlanData

COURSE = uuid.UUID(int=1)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
LEARNER = user_principal(uuid.UUID(int=10), (RoleGrant(Role.LEARNER),), None)


class Courses:
    async def course(self, course_id: uuid.UUID) -> ResourceRef | None:
        return ResourceRef(ScopeKind.COURSE, course_id) if course_id == COURSE else None

    async def organization_exists(self, organization_id: uuid.UUID) -> bool:
        return False


def a_spec(code: str = "pro-monthly", **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "code": code,
        "name": "Pro",
        "interval": "month",
        "prices": [{"currency": "EUR", "amount": 1900}, {"currency": "USD", "amount": 2100}],
        "tax_inclusive": True,
        "includes": {"all_courses": True},
        "status": "active",
    }
    spec.update(changes)
    return spec


def specs(*records: dict[str, Any]) -> list[PlanSpec]:
    return [PlanSpec.model_validate(r) for r in records]


@pytest.fixture
def data() -> PlanData:
    return PlanData()


def service(data: PlanData) -> PlanService:
    return PlanService(
        lambda: InMemoryPlanUnitOfWork(data), Courses(), RolePolicy(), FixedClock(NOW), CursorCodec(b"k" * 32)
    )


async def test_an_import_creates_plans_with_integer_prices_and_publishes_the_active_ones(data: PlanData) -> None:
    result = await service(data).import_plans(SYSTEM, specs(a_spec(), a_spec("draft-plan", status="draft")))
    assert result.created == ["pro-monthly", "draft-plan"]
    plan = data.plans["pro-monthly"]
    assert plan.prices == (Money(1900, "EUR"), Money(2100, "USD"))
    assert plan.price("USD") == Money(2100, "USD")
    assert plan.price("GBP") is None
    assert [e.type for e in data.outbox] == ["subscription.plan_published.v1"]


async def test_importing_the_same_file_twice_changes_nothing(data: PlanData) -> None:
    plans = service(data)
    await plans.import_plans(SYSTEM, specs(a_spec()))
    first = data.plans["pro-monthly"]
    again = await plans.import_plans(SYSTEM, specs(a_spec()))
    assert again.unchanged == ["pro-monthly"]
    assert not again.created
    assert not again.changed
    assert data.plans["pro-monthly"] == first
    assert len(data.outbox) == 1


async def test_changes_and_archiving_emit_their_events_and_keep_identity(data: PlanData) -> None:
    plans = service(data)
    await plans.import_plans(SYSTEM, specs(a_spec()))
    created = data.plans["pro-monthly"]
    await plans.import_plans(SYSTEM, specs(a_spec(trial_days=14)))
    await plans.import_plans(SYSTEM, specs(a_spec(trial_days=14, status="archived")))
    archived = data.plans["pro-monthly"]
    assert (archived.id, archived.created_at, archived.trial_days) == (created.id, created.created_at, 14)
    assert [e.type for e in data.outbox] == [
        "subscription.plan_published.v1",
        "subscription.plan_changed.v1",
        "subscription.plan_archived.v1",
    ]


async def test_a_published_plan_cannot_return_to_draft(data: PlanData) -> None:
    plans = service(data)
    await plans.import_plans(SYSTEM, specs(a_spec()))
    with pytest.raises(ValidationFailed, match=r"record 0: status"):
        await plans.import_plans(SYSTEM, specs(a_spec(status="draft")))
    assert data.plans["pro-monthly"].status is PlanStatus.ACTIVE


async def test_a_bad_record_is_named_by_index_and_nothing_is_written(data: PlanData) -> None:
    listed = a_spec("listed", includes={"course_ids": [str(COURSE), str(uuid.UUID(int=99))]})
    with pytest.raises(ValidationFailed) as raised:
        await service(data).import_plans(SYSTEM, specs(a_spec(), listed, a_spec()))
    fields = [e.field for e in raised.value.errors]
    assert fields == ["[1].includes.course_ids[1]", "[2].code"]
    assert data.plans == {}
    assert data.outbox == []


async def test_a_dry_run_checks_and_writes_nothing(data: PlanData) -> None:
    result = await service(data).import_plans(SYSTEM, specs(a_spec()), dry_run=True)
    assert result.created == ["pro-monthly"]
    assert data.plans == {}
    assert data.outbox == []


async def test_only_billing_managers_import(data: PlanData) -> None:
    with pytest.raises(PermissionDenied):
        await service(data).import_plans(LEARNER, specs(a_spec()))
    assert data.plans == {}


async def test_the_public_sees_active_plans_only_and_staff_every_status(data: PlanData) -> None:
    plans = service(data)
    records = [a_spec("a-draft", status="draft"), a_spec("b-active"), a_spec("c-gone", status="archived")]
    await plans.import_plans(SYSTEM, specs(*records))
    assert [p.code for p in (await plans.plans(ANONYMOUS)).items] == ["b-active"]
    assert [p.code for p in (await plans.plans(SYSTEM)).items] == ["a-draft", "b-active", "c-gone"]
    assert [p.code for p in (await plans.plans(SYSTEM, status=PlanStatus.ARCHIVED)).items] == ["c-gone"]
    with pytest.raises(PermissionDenied):
        await plans.plans(LEARNER, status=PlanStatus.DRAFT)
    assert (await plans.plan(LEARNER, "b-active")).code == "b-active"
    for hidden in ("a-draft", "c-gone", "unknown"):
        with pytest.raises(NotFound):
            await plans.plan(LEARNER, hidden)
    assert (await plans.plan(SYSTEM, "c-gone")).status is PlanStatus.ARCHIVED


async def test_pages_follow_the_code_order_without_gaps_or_repeats(data: PlanData) -> None:
    plans = service(data)
    await plans.import_plans(SYSTEM, specs(*(a_spec(f"plan-{n}") for n in range(5))))
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = await plans.plans(ANONYMOUS, cursor=cursor, limit=2)
        seen.extend(p.code for p in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"plan-{n}" for n in range(5)]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": "Pro Monthly"}, "code"),
        ({"interval": "week"}, "interval"),
        ({"interval": "year", "interval_count": 4}, "interval_count must be at most 3"),
        ({"interval_count": 13}, "interval_count"),
        ({"trial_days": 91}, "trial_days"),
        ({"prices": []}, "prices"),
        ({"prices": [{"currency": "EUR", "amount": 1}, {"currency": "EUR", "amount": 2}]}, "currency twice"),
        ({"prices": [{"currency": "EUR", "amount": 19.5}]}, "amount"),
        ({"prices": [{"currency": "XXX", "amount": 1}]}, "not supported"),
        ({"includes": {}}, "at least one course"),
        ({"includes": {"all_courses": True, "course_ids": [str(COURSE)]}}, "not both"),
        ({"status": "deleted"}, "status"),
    ],
)
def test_a_spec_refuses_bad_input_and_says_what(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        PlanSpec.model_validate(a_spec(**changes))
