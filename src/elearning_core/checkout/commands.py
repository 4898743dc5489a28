"""Inputs of the checkout use cases (bounded, frozen, unknown fields refused)."""

from __future__ import annotations

import uuid

from pydantic import AwareDatetime, Field, StrictInt, field_validator

from elearning_core.billing.commands import MAX_UNIT_PRICE
from elearning_core.checkout.model import COUPON_CODE, ItemKind
from elearning_core.shared.inputs import InputModel


class PriceInput(InputModel):
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217 code")
    amount: StrictInt = Field(ge=0, le=MAX_UNIT_PRICE, description="Minor units (cents)")


class SetPrices(InputModel):
    """A course's or path's one-time prices; an empty list stops selling it once."""

    prices: list[PriceInput] = Field(max_length=30)
    tax_inclusive: bool = True


class CreateCoupon(InputModel):
    code: str = Field(min_length=2, max_length=40, description="Upper-case letters, digits, - and _")
    percent_off: StrictInt | None = Field(default=None, ge=1, le=100)
    amounts_off: list[PriceInput] = Field(default_factory=list, max_length=30)
    expires_at: AwareDatetime | None = None
    max_redemptions: StrictInt | None = Field(default=None, ge=1, le=10_000_000)
    per_customer: StrictInt | None = Field(default=None, ge=1, le=1000)
    items: list[uuid.UUID] = Field(default_factory=list, max_length=100)

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not COUPON_CODE.match(value):
            raise ValueError("a coupon code is 2-40 upper-case letters, digits, - or _")
        return value


class Checkout(InputModel):
    item_kind: ItemKind = ItemKind.COURSE
    item_id: uuid.UUID
    currency: str = Field(min_length=3, max_length=3)
    coupon: str | None = Field(default=None, min_length=2, max_length=40)
    payment_method: str | None = Field(
        default=None, min_length=1, max_length=255, description="The gateway's payment method token"
    )


class RefundOrder(InputModel):
    order_id: uuid.UUID
    amount: StrictInt | None = Field(default=None, ge=1, le=10**12, description="Minor units; null: all left")
    reason: str = Field(min_length=1, max_length=500)
