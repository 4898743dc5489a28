"""Subscription plans: the catalog a subscription will be bought from.

A plan is identified by its ``code`` (a stable slug: subscriptions, invoices and imports name it), bills
every ``interval_count`` months or years, may start with a free trial, has one price per currency in
minor units (``Money``: no floats), and includes either every course or listed courses and learning paths.

Its status decides who sees it: ``draft`` (being prepared, staff only), ``active`` (offered to everyone),
``archived`` (no longer offered, but still readable by staff, so existing subscribers' plan never
disappears). A plan is never deleted.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from elearning_core.billing.money import Money
from elearning_core.shared.ids import new_uuid

CODE_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_CODE = 64
MAX_NAME = 200
MAX_DESCRIPTION = 5000
MAX_TRIAL_DAYS = 90
MAX_INCLUDED = 1000


class Interval(StrEnum):
    MONTH = "month"
    YEAR = "year"


MAX_INTERVAL_COUNT = {Interval.MONTH: 12, Interval.YEAR: 3}
"""Up to a year in months, up to three years in years: longer terms are contracts, not plans."""


class PlanStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


@dataclass(frozen=True, slots=True)
class Includes:
    """What a subscriber of the plan may access: every course, or the listed courses and learning paths."""

    all_courses: bool = False
    course_ids: tuple[uuid.UUID, ...] = ()
    path_ids: tuple[uuid.UUID, ...] = ()


@dataclass(frozen=True, slots=True)
class Plan:
    code: str
    name: str
    description: str
    interval: Interval
    interval_count: int
    trial_days: int
    prices: tuple[Money, ...]
    """One per currency, sorted by currency (so two equal plans compare equal)."""
    tax_inclusive: bool
    includes: Includes
    status: PlanStatus
    created_at: datetime
    updated_at: datetime
    id: uuid.UUID = field(default_factory=new_uuid)

    def price(self, currency: str) -> Money | None:
        return next((p for p in self.prices if p.currency == currency), None)

    def same_terms(self, other: Plan) -> bool:
        """Equal in everything an import can set (identity and times aside): re-importing changes nothing."""
        return _terms(self) == _terms(other)


def _terms(plan: Plan) -> tuple[object, ...]:
    return (
        plan.name,
        plan.description,
        plan.interval,
        plan.interval_count,
        plan.trial_days,
        plan.prices,
        plan.tax_inclusive,
        plan.includes,
        plan.status,
    )


def check_transition(code: str, before: PlanStatus | None, after: PlanStatus) -> None:
    """A published plan (active or archived) never goes back to draft: subscribers may hold it."""
    if before in (PlanStatus.ACTIVE, PlanStatus.ARCHIVED) and after is PlanStatus.DRAFT:
        raise ValueError(f"plan {code} was published and cannot return to draft (archive it instead)")
