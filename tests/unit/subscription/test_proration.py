"""Proration and period arithmetic as properties: the parts are never negative, never exceed the prices,
and sum with the used parts to the whole prices; periods counted from the anchor never drift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elearning_core.subscription.model import Interval, add_months, period_boundary, prorate

PRICE = st.integers(min_value=0, max_value=10**9)
START = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC))


@given(old=PRICE, new=PRICE, start=START, days=st.integers(1, 366), offset=st.floats(-0.5, 1.5))
def test_proration_parts_are_bounded_and_sum_with_the_used_parts(
    old: int, new: int, start: datetime, days: int, offset: float
) -> None:
    end = start + timedelta(days=days)
    at = start + (end - start) * offset
    result = prorate(old, new, start, end, at)
    assert 0 <= result.credit <= old
    assert 0 <= result.charge <= new
    used_old, unused_new = old - result.credit, new - result.charge
    assert used_old >= 0
    assert unused_new >= 0
    assert used_old + result.credit == old
    assert unused_new + result.charge == new
    assert result.net == result.charge - result.credit
    if at <= start:
        assert (result.credit, result.charge) == (old, new)
    if at >= end:
        assert (result.credit, result.charge) == (0, 0)


@given(price=PRICE, start=START, days=st.integers(1, 366), offset=st.floats(0, 1))
def test_a_change_to_the_same_price_nets_at_most_one_minor_unit(
    price: int, start: datetime, days: int, offset: float
) -> None:
    """Credit rounds down and charge rounds half up, so an equal price nets 0 or +1 minor unit, never a loss."""
    end = start + timedelta(days=days)
    result = prorate(price, price, start, end, start + (end - start) * offset)
    assert result.net in (0, 1)


@given(anchor=START, periods=st.integers(0, 60), count=st.integers(1, 12))
def test_periods_from_the_anchor_never_drift_and_never_shrink_below_28_days(
    anchor: datetime, periods: int, count: int
) -> None:
    start = period_boundary(anchor, Interval.MONTH, count, periods)
    end = period_boundary(anchor, Interval.MONTH, count, periods + 1)
    assert end - start >= timedelta(days=28 * count)
    assert start.day == anchor.day or start.day < anchor.day  # clamped at a short month's end only


def test_month_end_anchor_clamps_per_month() -> None:
    anchor = datetime(2026, 1, 31, tzinfo=UTC)
    assert [add_months(anchor, n).day for n in range(4)] == [31, 28, 31, 30]
    assert period_boundary(anchor, Interval.YEAR, 1, 2) == datetime(2028, 1, 31, tzinfo=UTC)


def test_negative_prices_and_empty_periods_are_refused() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="negative"):
        prorate(-1, 0, now, now + timedelta(days=1), now)
    with pytest.raises(ValueError, match="positive length"):
        prorate(1, 1, now, now, now)
