"""Checkout (price, order, coupon, seat hold, charge), the customer's confirmation, and the reads of orders."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from elearning_core.checkout.commands import Checkout
from elearning_core.checkout.model import (
    OPEN,
    ItemKind,
    Order,
    OrderStatus,
    quote,
)
from elearning_core.checkout.ports import (
    CheckoutUnitOfWork,
)
from elearning_core.checkout.service._base import (
    MANAGE,
    PaymentUnavailable,
    ProfileRequired,
    _currency,
    _key,
    _key_of,
    _locked,
    _user,
)
from elearning_core.checkout.service._saga import _Saga
from elearning_core.entitlement.model import Source
from elearning_core.payment.model import Money as PaymentMoney
from elearning_core.payment.model import Payment, PaymentRequest, PaymentStatus
from elearning_core.payment.ports import GatewayRefused, GatewayUnavailable
from elearning_core.shared.errors import (
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
)
from elearning_core.shared.ids import new_uuid
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, Page, check_page_size, scope_of
from elearning_core.shared.ports import Principal, require


class _Checkout(_Saga):
    # -- checkout -----------------------------------------------------------------------------

    async def checkout(self, actor: Principal, cmd: Checkout, request_key: str | None = None) -> Order:
        """Create the order (or find the one of this request's Idempotency-Key) and charge it."""
        user_id = _user(actor)
        if request_key is not None:
            async with self._uow() as uow:
                existing = await uow.orders.by_request(user_id, request_key)
            if existing is not None:
                if existing.status is OrderStatus.PENDING and existing.payment_id is None:
                    return await self._charge(existing, cmd.payment_method)  # the gateway failed the first time
                return existing
        currency = _currency(cmd.currency, "currency")
        order_id = new_uuid()
        now = self._clock.now()
        hold_until = now + timedelta(minutes=self.config.hold_minutes)
        if cmd.item_kind is ItemKind.COURSE and await self._resources.course(cmd.item_id) is None:
            raise NotFound("course", cmd.item_id)

        async def create(join: Callable[[], CheckoutUnitOfWork]) -> Order:
            async with join() as uow:
                profile = await uow.billing_profiles.get(user_id)
                if profile is None:
                    raise ProfileRequired(
                        "set your billing profile first (PUT /api/v1/me/billing-profile): tax and invoice need it"
                    )
                prices = await uow.prices.get(cmd.item_kind, cmd.item_id)
                if prices is None or not prices.amounts:
                    raise Conflict(f"this {cmd.item_kind.value} is not sold on its own")
                courses = await self._courses_of(uow, cmd.item_kind, cmd.item_id)
                owned = [g for c in courses for g in await uow.entitlements.grants(user_id, c)]
                if courses and all(
                    any(g.source is Source.PURCHASED and g.in_force(now) and g.covers(c) for g in owned)
                    for c in courses
                ):
                    raise Conflict("you have bought this already")
                coupon = await self._redeem(uow, cmd, user_id, currency, order_id, now)
                priced_ = quote(prices, currency, coupon, self._tax.decide(self.config.seller_country, profile))
                order = Order(
                    id=order_id,
                    customer_id=user_id,
                    item_kind=cmd.item_kind,
                    item_id=cmd.item_id,
                    course_ids=tuple(courses),
                    currency=currency,
                    price=priced_.price.amount,
                    discount=priced_.discount.amount,
                    net=priced_.net.amount,
                    tax=priced_.tax.amount,
                    total=priced_.total.amount,
                    tax_rate_bp=priced_.tax_rate_bp,
                    tax_inclusive=priced_.tax_inclusive,
                    coupon_code=coupon.code if coupon is not None else None,
                    status=OrderStatus.PENDING,
                    request_key=request_key,
                    created_at=now,
                    updated_at=now,
                    hold_until=hold_until,
                )
                await uow.orders.add(order)
                await uow.commit()
            if cmd.item_kind is ItemKind.COURSE:
                held = await self._seats.joined(join).hold_seat(cmd.item_id, str(order_id), user_id, hold_until)
                if held:
                    async with join() as uow:
                        order = order.moved(order.status, now, seat_held=True)
                        await uow.orders.save(order)
                        await uow.commit()
            return order

        order = await self._tx.run(create)
        return await self._charge(order, cmd.payment_method)

    async def confirm(self, actor: Principal, order_id: uuid.UUID) -> Order:
        """After the customer's authentication step: ask the gateway, and settle the order by its answer."""
        order = await self.order(actor, order_id)
        if order.payment_id is None:
            if order.status is OrderStatus.PENDING:
                raise Conflict("the order has no payment yet: retry the checkout with its Idempotency-Key")
            return order
        if order.status not in (*OPEN, OrderStatus.EXPIRED, OrderStatus.FAILED):
            return order
        try:
            payment = await self.gateway.confirm_payment(order.payment_id)
        except GatewayUnavailable:
            raise PaymentUnavailable() from None
        except GatewayRefused as exc:
            raise Conflict(f"the payment provider refused: {exc}") from None
        return await self._settle(order.id, payment)

    async def _charge(self, order: Order, method: str | None) -> Order:
        if order.total == 0:
            return await self.payment_succeeded(order.id, None)
        if not method:
            raise ValidationFailed(
                "payment_method is required for an order with something to pay",
                [FieldError("payment_method", "required")],
            )
        try:
            customer = await self.gateway.ensure_customer(str(order.customer_id))
            payment = await self.gateway.create_payment(
                PaymentRequest(
                    amount=PaymentMoney(order.total, order.currency),
                    customer_id=customer,
                    payment_method_id=method,
                    idempotency_key=order.gateway_key,
                    # user_id: the receipt and failed-payment notifications go to the buyer.
                    metadata={"order_id": str(order.id), "user_id": str(order.customer_id)},
                )
            )
        except GatewayUnavailable:
            raise PaymentUnavailable() from None
        except GatewayRefused as exc:
            return await self.payment_failed(order.id, None, "refused", note=str(exc))
        return await self._settle(order.id, payment)

    async def _settle(self, order_id: uuid.UUID, payment: Payment) -> Order:
        if payment.status is PaymentStatus.SUCCEEDED:
            return await self.payment_succeeded(order_id, payment.id)
        if payment.status is PaymentStatus.FAILED:
            return await self.payment_failed(order_id, payment.id, payment.decline_code)
        now = self._clock.now()
        async with self._uow() as uow:
            order = await _locked(uow, order_id)
            if order.status in OPEN:
                status = (
                    OrderStatus.REQUIRES_ACTION
                    if payment.status is PaymentStatus.REQUIRES_ACTION
                    else OrderStatus.PENDING
                )
                order = order.moved(
                    status,
                    now,
                    payment_id=payment.id,
                    client_secret=payment.client_secret,
                    next_action=payment.next_action,
                )
                await uow.orders.save(order)
                await uow.commit()
        return order

    # -- reads --------------------------------------------------------------------------------

    async def order(self, actor: Principal, order_id: uuid.UUID) -> Order:
        """The order, for its customer or billing staff (others: not found)."""
        async with self._uow() as uow:
            order = await uow.orders.get(order_id)
        if order is None or not (order.may_be_read_by(actor.user_id) or self._policy.authorize(actor, MANAGE).allowed):
            raise NotFound("order", order_id)
        return order

    async def my_orders(
        self, actor: Principal, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[Order]:
        user_id = _user(actor)
        limit = check_page_size(limit)
        listing = scope_of("my-orders", user_id)
        after = self._cursors.after(listing, cursor, _key)
        async with self._uow() as uow:
            rows = await uow.orders.of_customer(user_id, after, limit + 1)
        return self._cursors.page(listing, rows, limit, _key_of)

    async def all_orders(
        self, actor: Principal, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[Order]:
        require(self._policy, actor, MANAGE)
        limit = check_page_size(limit)
        listing = scope_of("orders")
        after = self._cursors.after(listing, cursor, _key)
        async with self._uow() as uow:
            rows = await uow.orders.listing(after, limit + 1)
        return self._cursors.page(listing, rows, limit, _key_of)
