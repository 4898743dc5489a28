"""Refunds (an admin's, or one made at the provider) and the scheduled expiry of holds."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from elearning_core.checkout.commands import RefundOrder
from elearning_core.checkout.model import (
    OPEN,
    Order,
    OrderStatus,
)
from elearning_core.checkout.ports import (
    CheckoutUnitOfWork,
)
from elearning_core.checkout.service._base import (
    BATCH,
    MANAGE,
    PaymentUnavailable,
    _locked,
)
from elearning_core.checkout.service._saga import _Saga
from elearning_core.payment.model import Money as PaymentMoney
from elearning_core.payment.ports import GatewayRefused, GatewayUnavailable
from elearning_core.shared.errors import (
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
)
from elearning_core.shared.ports import Principal, require


class _Refunds(_Saga):
    # -- refunds ------------------------------------------------------------------------------

    async def refund(self, actor: Principal, cmd: RefundOrder) -> Order:
        require(self._policy, actor, MANAGE)
        async with self._uow() as uow:
            order = await uow.orders.get(cmd.order_id)
        if order is None:
            raise NotFound("order", cmd.order_id)
        if order.status is not OrderStatus.PAID:
            raise Conflict(f"order {order.id} is {order.status.value}: only a paid order is refunded")
        if order.invoice_id is None:
            order = await self.invoice_order(order.id)  # its follow-up has not run yet: run it now
        left = order.total - order.refunded
        amount = left if cmd.amount is None else cmd.amount
        if not 0 < amount <= left:
            raise ValidationFailed(
                f"a refund of this order is between 1 and {left} minor units",
                [FieldError("amount", f"from 1 to {left}")],
            )
        ref = None
        if order.payment_id is not None:
            try:
                refund = await self.gateway.refund(
                    order.payment_id,
                    idempotency_key=f"{order.gateway_key}-refund-{order.refunded}-{amount}",
                    amount=PaymentMoney(amount, order.currency),
                )
            except GatewayUnavailable:
                raise PaymentUnavailable() from None
            except GatewayRefused as exc:
                raise Conflict(f"the payment provider refused the refund: {exc}") from None
            ref = refund.id
        before = order.refunded
        return await self._tx.run(lambda join: self._book_refund(join, order.id, amount, ref, cmd.reason, before))

    # -- the scheduled job --------------------------------------------------------------------

    async def expire_holds(self) -> tuple[int, int]:
        """Expire open orders whose hold ran out (seat and coupon given back), and make the automatic refunds
        still owed; ``(expired, refunded)``. Idempotent: each order is settled under its row lock."""
        now = self._clock.now()
        async with self._uow() as uow:
            due = await uow.orders.expired_holds(now, BATCH)
            owed = await uow.orders.owed_refunds(BATCH)
        expired = 0
        for order_id in due:

            async def expire(join: Callable[[], CheckoutUnitOfWork], order_id: uuid.UUID = order_id) -> bool:
                async with join() as uow:
                    order = await _locked(uow, order_id)
                    if order.status not in OPEN or order.hold_until is None or order.hold_until > now:
                        return False
                    await uow.orders.save(order.moved(OrderStatus.EXPIRED, now, seat_held=False))
                    if order.coupon_code:
                        await uow.coupons.give_back(order.coupon_code, order.id)
                    await uow.commit()
                await self._seats.joined(join).release_seat(str(order_id))
                return True

            expired += await self._tx.run(expire)
        refunded = 0
        for order_id in owed:
            async with self._uow() as uow:
                order = await uow.orders.get(order_id)
            if order is not None and order.refund_owed:
                refunded += not (await self._refund_owed(order)).refund_owed
        return expired, refunded
