"""Plan events: the ``elearning.subscription`` topic's contract (``aggregate_id`` is the plan's id).

Published when a plan becomes active (offered), changed when an offered or archived plan's terms change,
archived when it stops being offered. Drafts emit nothing: nobody outside the staff sees them.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Self

from elearning_core.shared.events import DomainEvent
from elearning_core.subscription.model import Plan


class _PlanEvent(DomainEvent):
    code: str
    status: str

    @classmethod
    def of(cls, plan: Plan, at: datetime) -> Self:
        return cls(occurred_at=at, aggregate_id=plan.id, code=plan.code, status=plan.status.value)


class PlanPublished(_PlanEvent):
    type: ClassVar[str] = "subscription.plan_published.v1"


class PlanChanged(_PlanEvent):
    type: ClassVar[str] = "subscription.plan_changed.v1"


class PlanArchived(_PlanEvent):
    type: ClassVar[str] = "subscription.plan_archived.v1"
