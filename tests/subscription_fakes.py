"""An in-memory double of the plan store, held to the same contract as the SQL adapter
(tests/contract/test_plan_store.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from elearning_core.shared.events import DomainEvent, RecordsEvents
from elearning_core.subscription.model import Plan, PlanStatus
from elearning_core.subscription.ports import PlanStore


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
