"""What every group of checkout use cases shares: the errors, the configuration, the wiring and the helpers."""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from elearning_core.auth.model import Permission
from elearning_core.auth.ports import ResourceDirectory
from elearning_core.billing.commands import EvidenceInput, IssueInvoice, LineInput, ProfileInput
from elearning_core.billing.model import BillingProfile
from elearning_core.billing.money import check_currency
from elearning_core.checkout.commands import Checkout
from elearning_core.checkout.model import (
    Coupon,
    CouponRefused,
    ItemKind,
    Order,
)
from elearning_core.checkout.ports import (
    CheckoutUnitOfWork,
    Invoicing,
    JoinedWork,
    OrderKey,
    SeatKeeper,
    T,
    TaxDecider,
    Transactions,
)
from elearning_core.payment.ports import PaymentGateway
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import (
    Conflict,
    DeadlineExceeded,
    FieldError,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from elearning_core.shared.pagination import CursorCodec, iso_time
from elearning_core.shared.ports import Policy, Principal, require

log = logging.getLogger(__name__)

MANAGE = Permission.BILLING_MANAGE
PATH_AUTHOR = Permission.COURSE_CREATE
BATCH = 100


class PaymentUnavailable(DeadlineExceeded):
    """The gateway did not answer: the order stays pending, and a retry (the same Idempotency-Key, or
    ``confirm``) calls the gateway again with the same gateway key, so it never charges twice."""

    def __init__(self) -> None:
        super().__init__(
            "payment-gateway-unavailable",
            "the payment provider did not answer; the order is pending: retry with the same Idempotency-Key",
            retry_after_seconds=2.0,
        )


class ProfileRequired(Conflict):
    """Checkout needs the buyer's billing profile (the tax and the invoice depend on it)."""


@dataclass(frozen=True, slots=True)
class CheckoutConfig:
    seller_country: str
    hold_minutes: int = 15


class _Base:
    """The service's collaborators and the helpers its parts share."""

    def __init__(
        self,
        uow: Callable[[], CheckoutUnitOfWork],
        transactions: Transactions,
        seats: SeatKeeper,
        billing: Invoicing,
        gateway: PaymentGateway,
        tax: TaxDecider,
        resources: ResourceDirectory,
        clock: Clock,
        policy: Policy,
        cursors: CursorCodec,
        config: CheckoutConfig,
    ) -> None:
        self._uow, self._tx, self._seats, self._billing = uow, transactions, seats, billing
        self.gateway, self._tax, self._resources = gateway, tax, resources
        self._clock, self._policy, self._cursors, self.config = clock, policy, cursors, config

    def joined(self, uow: Callable[[], CheckoutUnitOfWork]) -> Self:
        """The same service with its multi-module work in the caller's transaction (an event handler's)."""
        service = copy.copy(self)
        service._uow = uow
        service._tx = _InTransaction(uow)
        return service

    # -- helpers ------------------------------------------------------------------------------

    async def _redeem(
        self,
        uow: CheckoutUnitOfWork,
        cmd: Checkout,
        user_id: uuid.UUID,
        currency: str,
        order_id: uuid.UUID,
        now: datetime,
    ) -> Coupon | None:
        if cmd.coupon is None:
            return None
        coupon = await uow.coupons.lock(cmd.coupon.upper())
        if coupon is None:
            raise NotFound("coupon", cmd.coupon)
        coupon.check(cmd.item_id, currency, now, await uow.coupons.used_by(coupon.code, user_id))
        if not await uow.coupons.redeem(coupon.code, user_id, order_id):
            raise CouponRefused("coupon-used-up", f"coupon {coupon.code} has been used up")
        return coupon

    async def _courses_of(self, uow: CheckoutUnitOfWork, kind: ItemKind, item_id: uuid.UUID) -> list[uuid.UUID]:
        if kind is ItemKind.COURSE:
            return [item_id]
        path = await uow.learning_paths.get(item_id)
        if path is None:
            raise NotFound("learning path", item_id)
        return [course for part in path.parts for course in part.course_ids]

    async def _require_item_staff(self, actor: Principal, kind: ItemKind, item_id: uuid.UUID) -> None:
        if kind is ItemKind.COURSE:
            ref = await self._resources.course(item_id)
            if ref is None:
                raise NotFound("course", item_id)
            require(self._policy, actor, Permission.COURSE_EDIT, ref)
            return
        require(self._policy, actor, PATH_AUTHOR, None)
        async with self._uow() as uow:
            if await uow.learning_paths.get(item_id) is None:
                raise NotFound("learning path", item_id)

    def _invoice_of(self, order: Order, profile: BillingProfile) -> IssueInvoice:
        label = "Course" if order.item_kind is ItemKind.COURSE else "Learning path"
        description = f"{label} {order.item_id}" + (f" (coupon {order.coupon_code})" if order.coupon_code else "")
        return IssueInvoice(
            customer_id=order.customer_id,
            order_ref=f"order:{order.id}",
            currency=order.currency,
            profile=ProfileInput(
                name=profile.name,
                address=profile.address,
                country=profile.country,
                evidence=[EvidenceInput(kind=e.kind, country=e.country) for e in profile.evidence],
                tax_id=profile.tax_id,
            ),
            lines=[
                LineInput(
                    description=description, unit_price=order.price - order.discount, reference=str(order.item_id)
                )
            ],
            tax_inclusive=order.tax_inclusive,
        )


class _InTransaction:
    """``Transactions`` inside a transaction someone else owns (the dispatcher's)."""

    def __init__(self, join: Callable[[], CheckoutUnitOfWork]) -> None:
        self._join = join

    async def run(self, work: JoinedWork[T]) -> T:
        return await work(self._join)


async def _locked(uow: CheckoutUnitOfWork, order_id: uuid.UUID) -> Order:
    order = await uow.orders.lock(order_id)
    if order is None:
        raise NotFound("order", order_id)
    return order


def _user(actor: Principal) -> uuid.UUID:
    if actor.user_id is None:
        raise Unauthenticated("orders belong to a user's sign-in")
    return actor.user_id


def _currency(code: str, where: str) -> str:
    try:
        return check_currency(code)
    except ValueError as exc:
        raise ValidationFailed(str(exc), [FieldError(where, str(exc))]) from None


def _key(key: list[Any]) -> OrderKey:
    at, order_id = key
    return datetime.fromisoformat(str(at)), uuid.UUID(str(order_id))


def _key_of(order: Order) -> list[Any]:
    return [iso_time(order.created_at), str(order.id)]
