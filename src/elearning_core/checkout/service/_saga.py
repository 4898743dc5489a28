"""The order's outcomes: paid (grants, enrollment, the invoice after), failed, expired; also the payment
events' handlers."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from elearning_core.billing.commands import Capture, Refund
from elearning_core.billing.ports import DuplicatePosting
from elearning_core.checkout.events import OrderPaid
from elearning_core.checkout.model import (
    OPEN,
    ItemKind,
    Order,
    OrderStatus,
)
from elearning_core.checkout.ports import (
    CheckoutUnitOfWork,
)
from elearning_core.checkout.service._base import (
    _Base,
    _locked,
    log,
)
from elearning_core.enrollment.model import EnrollmentRefused
from elearning_core.entitlement.events import EntitlementChanged, EntitlementGranted
from elearning_core.entitlement.model import Grant, GrantStatus, Source
from elearning_core.payment.ports import GatewayRefused, GatewayUnavailable
from elearning_core.shared.ports import SYSTEM


class _Saga(_Base):
    # -- the saga's outcomes (also the payment events' handlers) ----------------------------------

    async def payment_succeeded(self, order_id: uuid.UUID, payment_id: str | None) -> Order:
        """Complete the order in one transaction; once (a repeat finds it paid). A payment that arrives
        after the seat is gone is refunded automatically."""
        order = await self._tx.run(lambda join: self._complete(join, order_id, payment_id))
        if order.refund_owed:
            order = await self._refund_owed(order)
        return order

    async def _complete(
        self, join: Callable[[], CheckoutUnitOfWork], order_id: uuid.UUID, payment_id: str | None
    ) -> Order:
        async with join() as uow:
            order = await _locked(uow, order_id)
            await uow.commit()
        if order.status in (OrderStatus.PAID, OrderStatus.REFUNDED):
            return order
        now = self._clock.now()
        if order.item_kind is ItemKind.COURSE:
            try:
                await self._seats.joined(join).enroll_purchased(order.customer_id, order.item_id, str(order.id))
            except EnrollmentRefused as exc:
                async with join() as uow:
                    refunded = order.moved(
                        OrderStatus.REFUNDED,
                        now,
                        payment_id=payment_id or order.payment_id,
                        refund_owed=payment_id is not None or order.payment_id is not None,
                        seat_held=False,
                        note=f"paid after the hold ended and {exc.detail}: refunded automatically",
                    )
                    await uow.orders.save(refunded)
                    if order.coupon_code and order.status in OPEN:
                        await uow.coupons.give_back(order.coupon_code, order.id)
                    await uow.commit()
                await self._seats.joined(join).release_seat(str(order.id))
                return refunded
        async with join() as uow:
            for course_id in order.course_ids:
                grant = Grant(
                    order.customer_id, course_id, Source.PURCHASED, GrantStatus.ACTIVE, now, None, str(order.id)
                )
                await uow.entitlements.add_grant(grant, now)
                uow.entitlements.record(EntitlementGranted.of(grant, now))
            paid = order.moved(
                OrderStatus.PAID, now, payment_id=payment_id, client_secret=None, next_action=None, seat_held=False
            )
            await uow.orders.save(paid)
            uow.orders.record(
                OrderPaid(
                    occurred_at=now,
                    aggregate_id=order.id,
                    customer_id=order.customer_id,
                    payment_id=payment_id,
                    currency=order.currency,
                    total=order.total,
                )
            )
            await uow.commit()
        return paid

    async def invoice_order(self, order_id: uuid.UUID) -> Order:
        """Issue a paid order's invoice and book its payment, in one transaction: the ``checkout-invoicing``
        follow-up of ``checkout.order_paid.v1`` (and of a refund that comes first). Once: a repeat finds the
        invoice (keyed by the order) and the posting (keyed by the payment). Kept out of the payment's own
        transaction because an invoice takes its series' gapless number, which holds every other invoice
        of the series until that transaction ends."""

        async def invoice(join: Callable[[], CheckoutUnitOfWork]) -> Order:
            async with join() as uow:
                order = await _locked(uow, order_id)
                profile = await uow.billing_profiles.get(order.customer_id)
                await uow.commit()
            if order.invoice_id is not None or order.status not in (OrderStatus.PAID, OrderStatus.REFUNDED):
                return order
            if order.refund_owed or profile is None:
                return order  # refunded automatically before it was ever paid for: nothing to invoice
            paid = None
            if order.payment_id is not None and order.total > 0:
                paid = Capture(amount=order.total, payment_ref=order.payment_id)
            issued = await self._billing.joined(join).issue_invoice(SYSTEM, self._invoice_of(order, profile), paid)
            async with join() as uow:
                invoiced = order.moved(order.status, self._clock.now(), invoice_id=issued.id)
                await uow.orders.save(invoiced)
                await uow.commit()
            return invoiced

        return await self._tx.run(invoice)

    async def payment_failed(
        self, order_id: uuid.UUID, payment_id: str | None, decline_code: str | None, note: str = ""
    ) -> Order:
        """A decline: the order fails, its seat and coupon are given back (only while it waited)."""

        async def fail(join: Callable[[], CheckoutUnitOfWork]) -> Order:
            async with join() as uow:
                order = await _locked(uow, order_id)
                if order.status not in OPEN:
                    return order
                failed = order.moved(
                    OrderStatus.FAILED,
                    self._clock.now(),
                    payment_id=payment_id or order.payment_id,
                    decline_code=decline_code,
                    client_secret=None,
                    next_action=None,
                    seat_held=False,
                    note=note,
                )
                await uow.orders.save(failed)
                if order.coupon_code:
                    await uow.coupons.give_back(order.coupon_code, order.id)
                await uow.commit()
            await self._seats.joined(join).release_seat(str(order_id))
            return failed

        return await self._tx.run(fail)

    async def provider_refunded(self, order_id: uuid.UUID, payment_id: str, refunded_total: int) -> Order | None:
        """``payment.refunded.v1``: a refund made at the provider. Booked once per refunded total (a total the
        order has counted already, our own refunds' included, is no news)."""
        async with self._uow() as uow:
            order = await uow.orders.get(order_id)
        if order is None or order.status not in (OrderStatus.PAID, OrderStatus.REFUNDED) or order.refund_owed:
            return order
        if refunded_total <= order.refunded:
            return order
        if order.invoice_id is None:
            order = await self.invoice_order(order.id)
        amount = min(refunded_total, order.total) - order.refunded
        ref = f"{payment_id}:{refunded_total}"
        return await self._tx.run(
            lambda join: self._book_refund(
                join, order_id, amount, ref, "refunded at the payment provider", order.refunded
            )
        )

    async def _book_refund(
        self,
        join: Callable[[], CheckoutUnitOfWork],
        order_id: uuid.UUID,
        amount: int,
        refund_ref: str | None,
        reason: str,
        before: int,
    ) -> Order:
        async with join() as uow:
            order = await _locked(uow, order_id)
            await uow.commit()
        if order.refunded >= before + amount or order.invoice_id is None:
            return order  # booked meanwhile (the provider's webhook of this very refund)
        try:
            await self._billing.joined(join).refund(
                SYSTEM, Refund(invoice_id=order.invoice_id, amount=amount, reason=reason, refund_ref=refund_ref)
            )
        except DuplicatePosting:
            return order
        now = self._clock.now()
        total = order.refunded + amount
        full = total >= order.total
        async with join() as uow:
            changed = order.moved(OrderStatus.REFUNDED if full else order.status, now, refunded=total)
            await uow.orders.save(changed)
            if full:
                for grant in await uow.entitlements.grants_of_user(order.customer_id):
                    if grant.reference == str(order.id) and grant.status is GrantStatus.ACTIVE:
                        ended = grant.with_status(GrantStatus.REFUNDED, grant.ends_at)
                        await uow.entitlements.save_grant(ended, now)
                        uow.entitlements.record(EntitlementChanged.of(grant, ended, now))
            await uow.commit()
        return changed

    async def _refund_owed(self, order: Order) -> Order:
        """The automatic refund of a payment that came too late (retried by the job when the gateway fails)."""
        if order.payment_id is None:
            return order
        try:
            await self.gateway.refund(order.payment_id, idempotency_key=f"{order.gateway_key}-auto-refund")
        except (GatewayUnavailable, GatewayRefused):
            log.warning("the automatic refund of order %s failed; the expire-holds job retries it", order.id)
            return order
        async with self._uow() as uow:
            current = await _locked(uow, order.id)
            done = current.moved(current.status, self._clock.now(), refund_owed=False, refunded=current.total)
            await uow.orders.save(done)
            await uow.commit()
        return done
