"""One-time prices, coupons and orders.

An **order** buys one item (a course or a learning path) once, in one currency. Its status only moves
forward:

    pending -> requires_action -> paid -> refunded
       \\            \\-> failed | expired -> paid (a late payment, a seat still free) | refunded

``paid`` after ``failed`` or ``expired`` is the money's truth arriving late (the provider collected it);
when the seat it held is gone meanwhile, the payment is refunded automatically and the order ends
``refunded``. A partial refund keeps the order ``paid`` (``refunded`` counts the minor units paid back).

Amounts are integer minor units (``elearning_core.billing.money``). The quote prices the item, takes the
coupon's discount off the price (before tax), and applies the tax decision with the billing module's
rounding rule (``price_line``), so the order's total is exactly the invoice's gross.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

from elearning_core.billing.model import TaxDecision, price_line
from elearning_core.billing.money import Money, mul_div_half_up
from elearning_core.shared.errors import Conflict, FieldError, ValidationFailed

COUPON_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,39}$")


class ItemKind(enum.StrEnum):
    COURSE = "course"
    PATH = "path"


@dataclass(frozen=True, slots=True)
class ItemPrices:
    """How an item is sold once: one price per currency (minor units), all tax-inclusive or all exclusive."""

    kind: ItemKind
    item_id: uuid.UUID
    amounts: dict[str, int]
    tax_inclusive: bool = True

    def price(self, currency: str) -> Money:
        amount = self.amounts.get(currency)
        if amount is None:
            offered = ", ".join(sorted(self.amounts)) or "none"
            raise Conflict(f"this {self.kind.value} is not sold in {currency} (currencies: {offered})")
        return Money(amount, currency)


class CouponRefused(Conflict):
    """A coupon that does not apply: ``reason`` names the rule (``coupon-expired``, ``coupon-used-up``, ...)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Coupon:
    code: str
    percent_off: int | None
    """1 to 100, or None for a fixed amount off (``amounts_off``)."""
    amounts_off: dict[str, int]
    """Minor units off per currency, for a fixed-amount coupon."""
    expires_at: datetime | None
    max_redemptions: int | None
    per_customer: int | None
    items: tuple[uuid.UUID, ...]
    """The courses and paths it applies to; empty: every item."""
    active: bool
    redeemed: int
    created_at: datetime

    def __post_init__(self) -> None:
        if (self.percent_off is None) == (not self.amounts_off):
            raise ValidationFailed(
                "a coupon takes either percent_off or amounts_off",
                [FieldError("percent_off", "exactly one of percent_off and amounts_off")],
            )
        if self.percent_off is not None and not 1 <= self.percent_off <= 100:
            raise ValidationFailed("percent_off is from 1 to 100", [FieldError("percent_off", "from 1 to 100")])

    def check(self, item_id: uuid.UUID, currency: str, now: datetime, used_by_customer: int) -> None:
        """Raise ``CouponRefused`` unless the coupon applies to this purchase now (the total limit is the
        store's conditional update, under concurrency)."""
        if not self.active:
            raise CouponRefused("coupon-inactive", f"coupon {self.code} is no longer valid")
        if self.expires_at is not None and now >= self.expires_at:
            raise CouponRefused("coupon-expired", f"coupon {self.code} expired")
        if self.items and item_id not in self.items:
            raise CouponRefused("coupon-not-applicable", f"coupon {self.code} does not apply to this item")
        if self.percent_off is None and currency not in self.amounts_off:
            raise CouponRefused("coupon-not-applicable", f"coupon {self.code} has no amount in {currency}")
        if self.max_redemptions is not None and self.redeemed >= self.max_redemptions:
            raise CouponRefused("coupon-used-up", f"coupon {self.code} has been used up")
        if self.per_customer is not None and used_by_customer >= self.per_customer:
            raise CouponRefused("coupon-used-up", f"you have used coupon {self.code} as often as it allows")

    def discount(self, price: Money) -> Money:
        if self.percent_off is not None:
            return Money(mul_div_half_up(price.amount, self.percent_off, 100), price.currency)
        return Money(min(self.amounts_off[price.currency], price.amount), price.currency)


@dataclass(frozen=True, slots=True)
class Quote:
    """What a purchase costs: the price, the discount, and net + tax = total (what is charged)."""

    price: Money
    discount: Money
    net: Money
    tax: Money
    total: Money
    tax_rate_bp: int
    tax_inclusive: bool

    @property
    def unit_price(self) -> Money:
        """The invoice line's unit price (the price after the discount, tax included or not as priced)."""
        return self.price - self.discount


def quote(prices: ItemPrices, currency: str, coupon: Coupon | None, tax: TaxDecision) -> Quote:
    price = prices.price(currency)
    discount = coupon.discount(price) if coupon is not None else Money.zero(currency)
    line = price_line(price - discount, 1, tax.rate_bp, tax_inclusive=prices.tax_inclusive)
    return Quote(price, discount, line.net, line.tax, line.gross, tax.rate_bp, prices.tax_inclusive)


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    REFUNDED = "refunded"


_NEXT: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset(
        {OrderStatus.REQUIRES_ACTION, OrderStatus.PAID, OrderStatus.FAILED, OrderStatus.EXPIRED, OrderStatus.REFUNDED}
    ),
    OrderStatus.REQUIRES_ACTION: frozenset(
        {OrderStatus.PAID, OrderStatus.FAILED, OrderStatus.EXPIRED, OrderStatus.REFUNDED}
    ),
    OrderStatus.FAILED: frozenset({OrderStatus.PAID, OrderStatus.REFUNDED}),
    OrderStatus.EXPIRED: frozenset({OrderStatus.PAID, OrderStatus.REFUNDED}),
    OrderStatus.PAID: frozenset({OrderStatus.REFUNDED}),
    OrderStatus.REFUNDED: frozenset(),
}

OPEN = frozenset({OrderStatus.PENDING, OrderStatus.REQUIRES_ACTION})
"""Waiting for the payment: the seat is held (until ``hold_until``)."""


@dataclass(frozen=True, slots=True)
class Order:
    id: uuid.UUID
    customer_id: uuid.UUID
    item_kind: ItemKind
    item_id: uuid.UUID
    course_ids: tuple[uuid.UUID, ...]
    """What the purchase grants: the course, or the path's courses as they were at checkout."""
    currency: str
    price: int
    discount: int
    net: int
    tax: int
    total: int
    tax_rate_bp: int
    tax_inclusive: bool
    coupon_code: str | None
    status: OrderStatus
    request_key: str | None
    """The checkout request's Idempotency-Key (a retry of a request finds its order)."""
    created_at: datetime
    updated_at: datetime
    hold_until: datetime | None = None
    """When the held seat (if any) expires."""
    seat_held: bool = False
    payment_id: str | None = None
    client_secret: str | None = None
    next_action: str | None = None
    decline_code: str | None = None
    invoice_id: uuid.UUID | None = None
    refunded: int = 0
    refund_owed: bool = False
    """A payment that came after the seat was gone, to be refunded through the gateway (retried by the job)."""
    note: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def gateway_key(self) -> str:
        """The gateway idempotency key of the order's charge: every retry charges at most once."""
        return f"order-{self.id}"

    def moved(self, status: OrderStatus, at: datetime, **changes: object) -> Order:
        if status is not self.status and status not in _NEXT[self.status]:
            raise Conflict(f"order {self.id} is {self.status.value}; it cannot become {status.value}")
        return replace(self, status=status, updated_at=at, **changes)  # type: ignore[arg-type]

    def may_be_read_by(self, user_id: uuid.UUID | None) -> bool:
        return user_id is not None and user_id == self.customer_id
