"""Where plans are kept: one store, in a unit of work, that records each change's event for the outbox."""

from __future__ import annotations

from typing import Protocol

from elearning_core.shared.events import DomainEvent, RecordsEvents
from elearning_core.shared.ports import UnitOfWork
from elearning_core.subscription.model import Plan, PlanStatus


class PlanStore(Protocol):
    async def plan(self, code: str) -> Plan | None: ...

    async def plans(self, statuses: frozenset[PlanStatus], after: str | None, limit: int) -> list[Plan]:
        """Plans with one of ``statuses``, in code order, after the code ``after``."""
        ...

    async def save(self, plan: Plan) -> None:
        """Insert the plan, or replace the terms, status and ``updated_at`` of the plan with its code."""
        ...

    def record(self, event: DomainEvent) -> None: ...

    def seen(self) -> list[RecordsEvents]:
        """What holds this unit's recorded events (the unit of work writes them to the outbox)."""
        ...


class PlanUnitOfWork(UnitOfWork, Protocol):
    plans: PlanStore
