"""Billing periods and proration, on integers only.

Periods are calendar months counted from the subscription's **anchor** (its first paid instant): period
``k`` is ``[anchor + k*n months, anchor + (k+1)*n months)``, each boundary computed from the anchor (a
subscription started on 31 January renews on 28/29 February, then 31 March: no drift).

**Proration** (a plan or seat change inside a paid period): with ``remaining`` the time left in the period
and ``total`` its length, both in microseconds,

- credit = floor(old price * remaining / total): the unused part of what was paid, never more;
- charge = new price * remaining / total, rounded half up: the new plan's remaining part;
- net = charge - credit: positive (an upgrade) is charged now; negative (a downgrade) is kept as a credit
  the next renewals consume (never paid out).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

from elearning_core.billing.money import mul_div_half_up
from elearning_core.subscription.model._plan import Interval

_MICRO = timedelta(microseconds=1)


def add_months(at: datetime, months: int) -> datetime:
    """``at`` plus whole calendar months, the day clamped to the target month's length."""
    index = at.month - 1 + months
    year, month = at.year + index // 12, index % 12 + 1
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


def period_boundary(anchor: datetime, interval: Interval, count: int, index: int) -> datetime:
    """The start of period ``index`` (0 is the first paid period) of a plan billed every ``count`` intervals."""
    months = count * (12 if interval is Interval.YEAR else 1)
    return add_months(anchor, months * index)


@dataclass(frozen=True, slots=True)
class Proration:
    """A change's money, in minor units of the subscription's currency (see the module docstring)."""

    credit: int
    """The unused part of the current price."""
    charge: int
    """The new price's part for the time left."""

    @property
    def net(self) -> int:
        return self.charge - self.credit


def prorate(old: int, new: int, start: datetime, end: datetime, at: datetime) -> Proration:
    """The proration of moving from a price of ``old`` to ``new`` (per period) at ``at`` in ``[start, end)``."""
    if old < 0 or new < 0:
        raise ValueError("prices are never negative")
    total = (end - start) // _MICRO
    if total <= 0:
        raise ValueError("a period has a positive length")
    remaining = min(max((end - at) // _MICRO, 0), total)
    return Proration(credit=old * remaining // total, charge=mul_div_half_up(new, remaining, total))
