"""The checkout model: coupons' rules, the quote (a property: the total is exactly net + tax, the discount never
exceeds the price, and it equals the invoice line's gross), and the order's forward-only statuses."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elearning_core.billing.model import TaxDecision, TaxTreatment, price_line
from elearning_core.billing.money import Money
from elearning_core.checkout.model import (
    Coupon,
    CouponRefused,
    ItemKind,
    ItemPrices,
    Order,
    OrderStatus,
    quote,
)
from elearning_core.shared.errors import Conflict, ValidationFailed
from tests.fakes import T0

ITEM = uuid.uuid4()


def a_coupon(**changes: object) -> Coupon:
    fields: dict[str, object] = {
        "code": "SAVE",
        "percent_off": 20,
        "amounts_off": {},
        "expires_at": None,
        "max_redemptions": None,
        "per_customer": None,
        "items": (),
        "active": True,
        "redeemed": 0,
        "created_at": T0,
    }
    fields.update(changes)
    return Coupon(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("coupon", "used", "reason"),
    [
        (a_coupon(expires_at=T0), 0, "coupon-expired"),
        (a_coupon(active=False), 0, "coupon-inactive"),
        (a_coupon(items=(uuid.uuid4(),)), 0, "coupon-not-applicable"),
        (a_coupon(percent_off=None, amounts_off={"USD": 100}), 0, "coupon-not-applicable"),
        (a_coupon(max_redemptions=3, redeemed=3), 0, "coupon-used-up"),
        (a_coupon(per_customer=1), 1, "coupon-used-up"),
    ],
)
def test_a_coupon_that_does_not_apply_names_the_rule(coupon: Coupon, used: int, reason: str) -> None:
    with pytest.raises(CouponRefused) as refused:
        coupon.check(ITEM, "EUR", T0 + timedelta(seconds=1), used)
    assert refused.value.reason == reason


def test_a_coupon_is_a_percent_or_amounts_never_both() -> None:
    with pytest.raises(ValidationFailed):
        a_coupon(amounts_off={"EUR": 100})
    with pytest.raises(ValidationFailed):
        a_coupon(percent_off=None)
    with pytest.raises(ValidationFailed):
        a_coupon(percent_off=101)


@given(
    price=st.integers(min_value=0, max_value=10**9),
    percent=st.one_of(st.none(), st.integers(min_value=1, max_value=100)),
    fixed=st.integers(min_value=1, max_value=10**9),
    rate=st.sampled_from([0, 700, 1900, 2100, 2700]),
    inclusive=st.booleans(),
)
def test_the_quote_adds_up_and_matches_the_invoice_line(
    price: int, percent: int | None, fixed: int, rate: int, inclusive: bool
) -> None:
    coupon = a_coupon(percent_off=percent, amounts_off={} if percent else {"EUR": fixed})
    prices = ItemPrices(ItemKind.COURSE, ITEM, {"EUR": price}, inclusive)
    q = quote(prices, "EUR", coupon, TaxDecision(rate, TaxTreatment.STANDARD))
    assert 0 <= q.discount.amount <= price
    assert q.total == q.net + q.tax
    assert q.total == price_line(Money(price - q.discount.amount, "EUR"), 1, rate, tax_inclusive=inclusive).gross


def test_an_item_not_sold_in_a_currency_is_a_conflict() -> None:
    with pytest.raises(Conflict, match="not sold in USD"):
        ItemPrices(ItemKind.COURSE, ITEM, {"EUR": 100}).price("USD")


def an_order(status: OrderStatus) -> Order:
    return Order(
        uuid.uuid4(), uuid.uuid4(), ItemKind.COURSE, ITEM, (ITEM,), "EUR", 100, 0, 84, 16, 100, 1900, True, None,
        status, None, T0, T0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (OrderStatus.PAID, OrderStatus.PENDING),
        (OrderStatus.PAID, OrderStatus.FAILED),
        (OrderStatus.REFUNDED, OrderStatus.PAID),
        (OrderStatus.FAILED, OrderStatus.REQUIRES_ACTION),
    ],
)
def test_an_order_never_moves_back(start: OrderStatus, end: OrderStatus) -> None:
    with pytest.raises(Conflict):
        an_order(start).moved(end, T0)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (OrderStatus.PENDING, OrderStatus.REQUIRES_ACTION),
        (OrderStatus.REQUIRES_ACTION, OrderStatus.PAID),
        (OrderStatus.EXPIRED, OrderStatus.PAID),
        (OrderStatus.FAILED, OrderStatus.REFUNDED),
        (OrderStatus.PAID, OrderStatus.REFUNDED),
    ],
)
def test_an_order_moves_forward(start: OrderStatus, end: OrderStatus) -> None:
    assert an_order(start).moved(end, T0 + timedelta(seconds=1)).status is end
