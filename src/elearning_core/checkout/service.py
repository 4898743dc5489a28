"""The checkout use cases: prices, billing profiles, coupons, checkout and the order's payment saga, refunds.

The saga (docs/modules/checkout.md):

1. ``checkout`` prices the item (coupon, tax from the buyer's billing profile), and in one transaction
   creates the order, takes the coupon's redemption (a conditional update under the coupon's row lock) and
   holds a seat when the course has a capacity (the enrollment module's ``hold_seat``). Then, outside any
   transaction, it charges the gateway with the order's idempotency key and ``metadata.order_id``.
2. A success (at once, after ``confirm``, or by the ``payment.succeeded.v1`` event) completes the order in
   ONE transaction: paid, ``purchased`` grants, the enrollment (the held seat becomes it), the hold released,
   and ``checkout.order_paid.v1`` in the outbox. A repeat finds the order paid and does nothing. The
   invoice and the payment's ledger postings follow in one transaction of their own (``invoice_order``,
   the ``checkout-invoicing`` subscription, or a refund that comes first), keyed by the order and the
   payment so they happen once: an invoice takes its series' gapless number, whose lock would otherwise
   be held across the whole completion and serialise every checkout (measured: p50 2.7 s at 20/s).
3. A decline, a ``payment.failed.v1`` or the hold's expiry (``expire_holds``) fails or expires the order and
   gives back the seat and the coupon. A success after that takes a free seat if one is left; when the
   course filled meanwhile the payment is refunded automatically (the order ends ``refunded``).
4. ``refund`` (admins) and ``payment.refunded.v1`` (a refund made at the provider) credit the invoice; a
   full refund sets the order's grants ``refunded``. Each refunded total is booked once.
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from elearning_core.auth.model import Permission
from elearning_core.auth.ports import ResourceDirectory
from elearning_core.billing.commands import EvidenceInput, IssueInvoice, LineInput, ProfileInput, RecordPayment, Refund
from elearning_core.billing.model import BillingProfile
from elearning_core.billing.money import check_currency
from elearning_core.billing.ports import DuplicatePosting
from elearning_core.checkout.commands import Checkout, CreateCoupon, RefundOrder, SetPrices
from elearning_core.checkout.events import OrderPaid
from elearning_core.checkout.model import (
    OPEN,
    Coupon,
    CouponRefused,
    ItemKind,
    ItemPrices,
    Order,
    OrderStatus,
    quote,
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
from elearning_core.enrollment.model import EnrollmentRefused
from elearning_core.entitlement.events import EntitlementChanged, EntitlementGranted, OfferChanged
from elearning_core.entitlement.model import CourseOffer, Grant, GrantStatus, Source, priced
from elearning_core.payment.model import Money as PaymentMoney
from elearning_core.payment.model import Payment, PaymentRequest, PaymentStatus
from elearning_core.payment.ports import GatewayRefused, GatewayUnavailable, PaymentGateway
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import (
    Conflict,
    DeadlineExceeded,
    FieldError,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from elearning_core.shared.ids import new_uuid
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, CursorCodec, Page, check_page_size, iso_time, scope_of
from elearning_core.shared.ports import SYSTEM, Policy, Principal, require

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


class CheckoutService:
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

    def joined(self, uow: Callable[[], CheckoutUnitOfWork]) -> CheckoutService:
        """The same service with its multi-module work in the caller's transaction (an event handler's)."""
        service = copy.copy(self)
        service._uow = uow
        service._tx = _InTransaction(uow)
        return service

    # -- prices --------------------------------------------------------------------------------

    async def set_prices(self, actor: Principal, kind: ItemKind, item_id: uuid.UUID, cmd: SetPrices) -> ItemPrices:
        """A course's prices also make its offer paid (``paid_since`` recorded the first time, as the offer does)."""
        await self._require_item_staff(actor, kind, item_id)
        amounts: dict[str, int] = {}
        for index, price in enumerate(cmd.prices):
            currency = _currency(price.currency, f"prices.{index}.currency")
            if currency in amounts:
                raise ValidationFailed(
                    f"{currency} is priced twice", [FieldError(f"prices.{index}.currency", "priced twice")]
                )
            amounts[currency] = price.amount
        prices = ItemPrices(kind, item_id, amounts, cmd.tax_inclusive)
        now = self._clock.now()
        async with self._uow() as uow:
            await uow.prices.save(prices)
            if kind is ItemKind.COURSE and amounts:
                current = await uow.entitlements.offer(item_id)
                audit = current.audit_track if current is not None else False
                offer = priced(current, item_id, True, audit, now)
                if offer != (current or CourseOffer(item_id)):
                    await uow.entitlements.save_offer(offer, now)
                    uow.entitlements.record(OfferChanged.of(offer, now))
            await uow.commit()
        return prices

    async def prices(self, kind: ItemKind, item_id: uuid.UUID) -> ItemPrices:
        async with self._uow() as uow:
            prices = await uow.prices.get(kind, item_id)
        return prices if prices is not None else ItemPrices(kind, item_id, {}, True)

    # -- billing profile ----------------------------------------------------------------------

    async def profile(self, actor: Principal) -> BillingProfile:
        user_id = _user(actor)
        async with self._uow() as uow:
            profile = await uow.billing_profiles.get(user_id)
        if profile is None:
            raise NotFound("billing profile", "of the caller")
        return profile

    async def set_profile(self, actor: Principal, cmd: ProfileInput) -> BillingProfile:
        user_id = _user(actor)
        profile = cmd.profile()
        async with self._uow() as uow:
            await uow.billing_profiles.save(user_id, profile, self._clock.now())
            await uow.commit()
        return profile

    # -- coupons ------------------------------------------------------------------------------

    async def create_coupon(self, actor: Principal, cmd: CreateCoupon) -> Coupon:
        require(self._policy, actor, MANAGE)
        amounts = {_currency(a.currency, f"amounts_off.{i}.currency"): a.amount for i, a in enumerate(cmd.amounts_off)}
        coupon = Coupon(
            code=cmd.code,
            percent_off=cmd.percent_off,
            amounts_off=amounts,
            expires_at=cmd.expires_at,
            max_redemptions=cmd.max_redemptions,
            per_customer=cmd.per_customer,
            items=tuple(cmd.items),
            active=True,
            redeemed=0,
            created_at=self._clock.now(),
        )
        async with self._uow() as uow:
            if await uow.coupons.get(coupon.code) is not None:
                raise Conflict(f"coupon {coupon.code} exists already")
            await uow.coupons.add(coupon)
            await uow.commit()
        return coupon

    async def coupon(self, actor: Principal, code: str) -> Coupon:
        require(self._policy, actor, MANAGE)
        async with self._uow() as uow:
            coupon = await uow.coupons.get(code)
        if coupon is None:
            raise NotFound("coupon", code)
        return coupon

    async def coupons(
        self, actor: Principal, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[Coupon]:
        require(self._policy, actor, MANAGE)
        limit = check_page_size(limit)
        listing = scope_of("coupons")
        after = self._cursors.after(listing, cursor, lambda key: str(key[0]))
        async with self._uow() as uow:
            rows = await uow.coupons.list(after, limit + 1)
        return self._cursors.page(listing, rows, limit, lambda c: [c.code])

    async def deactivate_coupon(self, actor: Principal, code: str) -> Coupon:
        require(self._policy, actor, MANAGE)
        async with self._uow() as uow:
            if not await uow.coupons.deactivate(code):
                raise NotFound("coupon", code)
            coupon = await uow.coupons.get(code)
            await uow.commit()
        assert coupon is not None
        return coupon

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
            billing = self._billing.joined(join)
            issued = await billing.issue_invoice(SYSTEM, self._invoice_of(order, profile))
            if order.payment_id is not None and order.total > 0:
                await billing.record_payment(
                    SYSTEM, RecordPayment(invoice_id=issued.id, amount=order.total, payment_ref=order.payment_id)
                )
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
