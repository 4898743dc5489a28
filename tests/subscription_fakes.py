"""In-memory doubles of the plan and subscription stores, held to the same contracts as the SQL adapters
(tests/contract/test_plan_store.py, tests/contract/test_subscription_store.py)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from elearning_adapters.payments.fake import FakePaymentGateway
from elearning_core.auth.model import RolePolicy
from elearning_core.billing.model import BillingProfile
from elearning_core.billing.money import Money
from elearning_core.entitlement.model import Grant
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.events import DomainEvent, RecordsEvents
from elearning_core.shared.pagination import CursorCodec
from elearning_core.subscription.model import (
    DunningPolicy,
    FinalAction,
    Includes,
    Interval,
    Plan,
    PlanStatus,
    Status,
    Subscription,
)
from elearning_core.subscription.ports import PlanStore, SavedMethod, SubscriptionKey, SubscriptionStore
from elearning_core.subscription.service import SubscriptionService
from tests.entitlement_fakes import EntitlementData, InMemoryEntitlementStore


@dataclass
class PlanData:
    plans: dict[str, Plan] = field(default_factory=dict)
    outbox: list[DomainEvent] = field(default_factory=list)


class _Recorded(RecordsEvents):
    def __init__(self) -> None:
        self._events: list[DomainEvent] = []


class InMemoryPlanStore(PlanStore):
    def __init__(self, plans: dict[str, Plan]) -> None:
        self._plans = plans
        self._recorded = _Recorded()

    def record(self, event: DomainEvent) -> None:
        self._recorded._events.append(event)

    def seen(self) -> list[RecordsEvents]:
        return [self._recorded]

    async def plan(self, code: str) -> Plan | None:
        return self._plans.get(code)

    async def plans(self, statuses: frozenset[PlanStatus], after: str | None, limit: int) -> list[Plan]:
        found = sorted(
            (p for p in self._plans.values() if p.status in statuses and (after is None or p.code > after)),
            key=lambda p: p.code,
        )
        return found[:limit]

    async def save(self, plan: Plan) -> None:
        self._plans[plan.code] = plan


class InMemoryPlanUnitOfWork:
    """Works on a copy of the plans, put back only on commit (leaving without it changes nothing)."""

    def __init__(self, data: PlanData) -> None:
        self._data = data
        self.committed = False

    async def __aenter__(self) -> Self:
        self._work = dict(self._data.plans)
        self.plans = InMemoryPlanStore(self._work)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def commit(self) -> None:
        self._data.plans = self._work
        self._data.outbox.extend(e for r in self.plans.seen() for e in r.pull_events())
        self.committed = True

    async def rollback(self) -> None:
        self._work = dict(self._data.plans)


@dataclass
class SubscriptionData:
    """Everything a subscription's unit of work touches: plans, entitlements, subscriptions, seats, methods."""

    plans: PlanData = field(default_factory=PlanData)
    entitlements: EntitlementData = field(default_factory=EntitlementData)
    subscriptions: dict[uuid.UUID, Subscription] = field(default_factory=dict)
    seats: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    methods: dict[uuid.UUID, list[SavedMethod]] = field(default_factory=dict)
    outbox: list[DomainEvent] = field(default_factory=list)
    profiles: dict[uuid.UUID, BillingProfile] = field(default_factory=dict)

    def events(self) -> list[DomainEvent]:
        return [*self.outbox, *self.plans.outbox, *self.entitlements.outbox]


class InMemorySubscriptionStore(SubscriptionStore):
    """Keeps deep copies (like rows): a change reaches the data only through ``save`` and a commit."""

    def __init__(self, data: SubscriptionData) -> None:
        self._data = data
        self._loaded: list[Subscription] = []

    def seen(self) -> list[RecordsEvents]:
        return list(self._loaded)

    def add(self, subscription: Subscription) -> None:
        self._loaded.append(subscription)
        self._data.subscriptions[subscription.id] = _copy(subscription)

    async def get(self, subscription_id: uuid.UUID) -> Subscription | None:
        found = self._data.subscriptions.get(subscription_id)
        return _copy(found) if found is not None else None

    async def lock(self, subscription_id: uuid.UUID) -> Subscription | None:
        found = await self.get(subscription_id)
        if found is not None:
            self._loaded.append(found)
        return found

    async def save(self, subscription: Subscription) -> None:
        self._data.subscriptions[subscription.id] = _copy(subscription)

    async def due(
        self, now: datetime, statuses: frozenset[Status], after: uuid.UUID | None, limit: int
    ) -> list[uuid.UUID]:
        found = sorted(
            s.id
            for s in self._data.subscriptions.values()
            if s.status in statuses and s.due_at is not None and s.due_at <= now and (after is None or s.id > after)
        )
        return found[:limit]

    async def listing(
        self,
        *,
        user_id: uuid.UUID | None,
        organization_id: uuid.UUID | None,
        status: Status | None,
        after: SubscriptionKey | None,
        limit: int,
    ) -> list[Subscription]:
        found = sorted(
            (
                s
                for s in self._data.subscriptions.values()
                if (user_id is None or s.user_id == user_id)
                and (organization_id is None or s.organization_id == organization_id)
                and (status is None or s.status is status)
                and (after is None or (s.created_at, s.id) < after)
            ),
            key=lambda s: (s.created_at, s.id),
            reverse=True,
        )
        return [_copy(s) for s in found[:limit]]

    async def seats(
        self, subscription_id: uuid.UUID, *, after: uuid.UUID | None = None, limit: int | None = None
    ) -> list[uuid.UUID]:
        holders = sorted(u for u in self._data.seats.get(subscription_id, []) if after is None or u > after)
        return holders if limit is None else holders[:limit]

    async def add_seat(self, subscription_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> bool:
        holders = self._data.seats.setdefault(subscription_id, [])
        if user_id in holders:
            return False
        holders.append(user_id)
        return True

    async def remove_seat(self, subscription_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        holders = self._data.seats.get(subscription_id, [])
        if user_id not in holders:
            return False
        holders.remove(user_id)
        return True

    async def methods(self, user_id: uuid.UUID) -> list[SavedMethod]:
        return list(self._data.methods.get(user_id, []))

    async def add_method(self, method: SavedMethod) -> None:
        mine = self._data.methods.setdefault(method.user_id, [])
        if method.is_default:
            mine[:] = [replace(m, is_default=False) for m in mine]
        mine.append(method)

    async def remove_method(self, user_id: uuid.UUID, method_id: str) -> bool:
        mine = self._data.methods.get(user_id, [])
        kept = [m for m in mine if m.id != method_id]
        self._data.methods[user_id] = kept
        return len(kept) != len(mine)


class InMemoryBillingProfiles:
    def __init__(self, profiles: dict[uuid.UUID, BillingProfile]) -> None:
        self._profiles = profiles

    async def get(self, user_id: uuid.UUID) -> BillingProfile | None:
        return self._profiles.get(user_id)

    async def save(self, user_id: uuid.UUID, profile: BillingProfile, at: datetime) -> None:
        self._profiles[user_id] = profile


def _copy(sub: Subscription) -> Subscription:
    copied = copy.copy(sub)
    copied._events = []
    return copied


class InMemorySubscriptionUnitOfWork:
    """Works on a copy of the data, put back only on commit (leaving without it changes nothing)."""

    def __init__(self, data: SubscriptionData) -> None:
        self._data = data
        self.committed = False

    async def __aenter__(self) -> Self:
        self._work = SubscriptionData(
            PlanData(dict(self._data.plans.plans)),
            self._data.entitlements.copy(),
            dict(self._data.subscriptions),
            {k: list(v) for k, v in self._data.seats.items()},
            {k: list(v) for k, v in self._data.methods.items()},
        )
        self.plans = InMemoryPlanStore(self._work.plans.plans)
        self.entitlements = InMemoryEntitlementStore(self._work.entitlements)
        self.subscriptions = InMemorySubscriptionStore(self._work)
        self.billing_profiles = InMemoryBillingProfiles(self._data.profiles)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def commit(self) -> None:
        data, work = self._data, self._work
        data.plans.plans = work.plans.plans
        data.entitlements.offers, data.entitlements.grants = work.entitlements.offers, work.entitlements.grants
        data.subscriptions, data.seats, data.methods = work.subscriptions, work.seats, work.methods
        data.plans.outbox.extend(e for r in self.plans.seen() for e in r.pull_events())
        data.entitlements.outbox.extend(e for r in self.entitlements.seen() for e in r.pull_events())
        data.outbox.extend(e for r in self.subscriptions.seen() for e in r.pull_events())
        self.committed = True

    async def rollback(self) -> None:
        await self.__aenter__()


class FixedCoursesOfPaths:
    def __init__(self, courses: dict[uuid.UUID, list[uuid.UUID]] | None = None) -> None:
        self.courses = courses or {}

    async def courses_of_paths(self, path_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        return [c for p in path_ids for c in self.courses.get(p, [])]


class FixedMemberships:
    def __init__(self, members: set[tuple[uuid.UUID, uuid.UUID]] | None = None) -> None:
        self.members = members if members is not None else set()

    async def is_member(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        return (organization_id, user_id) in self.members


SUB_T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
"""The 31st: month-end clamping is exercised by every monthly scenario."""


def a_plan(
    code: str = "pro",
    amount: int = 1900,
    *,
    trial_days: int = 0,
    all_courses: bool = True,
    course_ids: tuple[uuid.UUID, ...] = (),
    path_ids: tuple[uuid.UUID, ...] = (),
    status: PlanStatus = PlanStatus.ACTIVE,
) -> Plan:
    return Plan(
        code=code,
        name=code.title(),
        description="",
        interval=Interval.MONTH,
        interval_count=1,
        trial_days=trial_days,
        prices=(Money(amount, "EUR"),),
        tax_inclusive=True,
        includes=Includes(all_courses=all_courses, course_ids=course_ids, path_ids=path_ids),
        status=status,
        created_at=SUB_T0,
        updated_at=SUB_T0,
    )


@dataclass
class SubscriptionWorld:
    """A subscription service on the in-memory unit of work and the fake gateway, with a fixed clock."""

    data: SubscriptionData
    gateway: FakePaymentGateway
    clock: FixedClock
    service: SubscriptionService
    members: FixedMemberships

    def add_users(self, *users: uuid.UUID) -> None:
        self.data.entitlements.users.update(users)

    def add_plan(self, plan: Plan) -> Plan:
        self.data.plans.plans[plan.code] = plan
        return plan

    def grants(self, user: uuid.UUID) -> list[Grant]:
        return sorted(
            (g for g in self.data.entitlements.grants.values() if g.user_id == user), key=lambda g: (g.starts_at, g.id)
        )

    def types(self) -> list[str]:
        return [e.type for e in self.data.outbox]


def a_world(
    *,
    retry_days: tuple[int, ...] = (1, 3, 5),
    final: FinalAction = FinalAction.UNPAID,
    at: datetime = SUB_T0,
    paths: dict[uuid.UUID, list[uuid.UUID]] | None = None,
) -> SubscriptionWorld:
    data = SubscriptionData()
    clock = FixedClock(at)
    gateway = FakePaymentGateway(clock)
    members = FixedMemberships()
    service = SubscriptionService(
        lambda: InMemorySubscriptionUnitOfWork(data),
        gateway,
        FixedCoursesOfPaths(paths),
        members,
        RolePolicy(),
        clock,
        CursorCodec(b"subscription-tests-secret-0123456789"),
        DunningPolicy(retry_days, final),
    )
    return SubscriptionWorld(data, gateway, clock, service, members)
