"""Revenue per course and month (issue 18, point 3), from the billing ledger: statements do not carry invoice
lines (a ``purchased`` statement has only its order's total), so the figures come from the ledger's revenue
and refunds accounts, whose entries name the course (or path) they were booked for as ``reference``.

A ledger entry's net contribution is minus its signed amount (revenue is booked as credits, negative;
refunds as debits, positive), in the month of its transaction in the course's time zone (the platform's for
the platform's total, kept under ``PLATFORM_SCOPE``). Purchasers are the distinct invoice customers with
revenue booked for the course in that month and currency.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from elearning_core.analytics.aggregates import RevenueMonth
from elearning_core.analytics.aggregating import Zones

PLATFORM_SCOPE = uuid.UUID(int=0)
"""The platform's revenue rows (every reference, on the platform's months)."""


@dataclass(frozen=True, slots=True)
class RevenueEntry:
    """One ledger entry of the revenue or refunds account."""

    transaction: uuid.UUID
    reference: str
    currency: str
    amount: int
    occurred_at: datetime
    customer: uuid.UUID | None
    invoiced: bool
    """An invoice's revenue entry (not a credit note's refund)."""


@dataclass
class RevenueDelta:
    net: Counter[tuple[uuid.UUID, date, str]] = field(default_factory=Counter)
    purchasers: set[tuple[uuid.UUID, date, str, str]] = field(default_factory=set)


def course_of_reference(reference: str) -> uuid.UUID | None:
    """The course (or path) a ledger line was booked for, None when its reference is not an id."""
    try:
        return uuid.UUID(reference)
    except ValueError:
        return None


def revenue_delta(entries: Iterable[RevenueEntry], zones: Zones, into: RevenueDelta | None = None) -> RevenueDelta:
    delta = into if into is not None else RevenueDelta()
    for entry in entries:
        course = course_of_reference(entry.reference)
        if course is None:
            continue
        for scope, zone_of in ((course, course), (PLATFORM_SCOPE, None)):
            month = zones.day(entry.occurred_at, zone_of).replace(day=1)
            delta.net[scope, month, entry.currency] -= entry.amount
            if entry.invoiced and entry.customer is not None and entry.amount < 0:
                delta.purchasers.add((scope, month, entry.currency, str(entry.customer)))
    return delta


def revenue_months(rows: Iterable[tuple[date, str, int, int]], since: date, until: date) -> list[RevenueMonth]:
    """Months starting in ``[since, until]`` from (month, currency, net, purchasers) rows."""
    return sorted(
        (
            RevenueMonth(month, currency, net, purchasers)
            for month, currency, net, purchasers in rows
            if since <= month <= until and (net or purchasers)
        ),
        key=lambda r: (r.month, r.currency),
    )
