"""The fake payment gateway: the embedded default, with deterministic outcomes by card number.

Payment method tokens are ``fake_card_<16 digits>`` (``card_token(number)``), standing for what a
provider's client-side form would return. The cards are Stripe's test numbers, so a scenario
reads the same against the fake and against Stripe's test mode:

==================  ==========================================================================
4242424242424242    succeeds
4000000000000002    declined (``card_declined``): saving it is refused, charging it fails
4000000000000341    saves, then every charge fails (``card_declined``): an off-session renewal
4000002500003155    requires action: the customer authenticates (``authenticate``), then
                    ``confirm_payment`` succeeds
4000000000000119    network error: ``create_payment`` raises ``GatewayUnavailable`` (retry-safe)
==================  ==========================================================================

Any other well-formed number succeeds. Idempotency keys are honoured: the same key returns
the same payment (or refund) and never charges twice. The state lives in memory, per process:
it is a stand-in for a provider (whose records are elsewhere), and what the platform must keep
(the payment's recorded state, the webhook inbox) is in its own database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
from datetime import datetime
from typing import Any

from elearning_core.payment.model import (
    Money,
    Payment,
    PaymentRequest,
    PaymentStatus,
    Refund,
    SavedPaymentMethod,
)
from elearning_core.payment.ports import GatewayRefused, GatewayUnavailable
from elearning_core.shared.clock import Clock, SystemClock

SUCCEEDS = "4242424242424242"
DECLINED = "4000000000000002"
DECLINED_ON_CHARGE = "4000000000000341"
REQUIRES_ACTION = "4000002500003155"
NETWORK_ERROR = "4000000000000119"
TOKEN_PREFIX = "fake_card_"


def card_token(number: str) -> str:
    """The payment method token a client-side form would give for this card."""
    return TOKEN_PREFIX + number


class FakePaymentGateway:
    provider = "fake"

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._customers: dict[str, str] = {}
        self._methods: dict[str, tuple[str, str]] = {}  # method id -> (customer, card number)
        self._payments: dict[str, Payment] = {}
        self._authenticated: set[str] = set()
        self._refunds: dict[str, Refund] = {}
        self._keys: dict[str, str] = {}  # idempotency key -> payment or refund id
        self.charges = 0
        """How many charges reached the "card network": a test counts double charges with it."""

    def _next(self, prefix: str) -> str:
        return f"{prefix}_fake_{next(self._ids):08d}"

    async def ensure_customer(self, reference: str, *, email: str | None = None, name: str | None = None) -> str:
        async with self._lock:
            return self._customers.setdefault(reference, self._next("cus"))

    async def save_payment_method(self, customer_id: str, payment_method: str) -> SavedPaymentMethod:
        number = _card_number(payment_method)
        if customer_id not in self._customers.values():
            raise GatewayRefused(f"no such customer: {customer_id}")
        if number == DECLINED:
            return SavedPaymentMethod(payment_method, customer_id, decline_code="card_declined", last4=number[-4:])
        async with self._lock:
            method_id = self._next("pm")
            self._methods[method_id] = (customer_id, number)
        return SavedPaymentMethod(method_id, customer_id, last4=number[-4:])

    def _card_of(self, payment_method_id: str) -> str:
        if payment_method_id in self._methods:
            return self._methods[payment_method_id][1]
        return _card_number(payment_method_id)  # a one-off token, never saved

    async def create_payment(self, request: PaymentRequest) -> Payment:
        number = self._card_of(request.payment_method_id)
        async with self._lock:
            known = self._keys.get(request.idempotency_key)
            if known is not None:
                if known not in self._payments:
                    raise GatewayRefused("the idempotency key was used for another kind of request")
                return self._payments[known]
            if number == NETWORK_ERROR:
                raise GatewayUnavailable("the fake gateway's network failed (test card 4000000000000119)")
            payment_id = self._next("pay")
            status, decline, secret, action = PaymentStatus.SUCCEEDED, None, None, None
            if number in (DECLINED, DECLINED_ON_CHARGE):
                status, decline = PaymentStatus.FAILED, "card_declined"
            elif number == REQUIRES_ACTION:
                status, secret, action = PaymentStatus.REQUIRES_ACTION, f"{payment_id}_secret", "use_stripe_sdk"
            payment = Payment(
                id=payment_id,
                amount=request.amount,
                status=status,
                customer_id=request.customer_id,
                payment_method_id=request.payment_method_id,
                created_at=self._clock.now(),
                metadata=dict(request.metadata),
                decline_code=decline,
                client_secret=secret,
                next_action=action,
            )
            if status is PaymentStatus.SUCCEEDED:
                self.charges += 1
            self._payments[payment_id] = payment
            self._keys[request.idempotency_key] = payment_id
            return payment

    def authenticate(self, payment_id: str, *, success: bool = True) -> None:
        """The customer's authentication step (3-D Secure), as the provider's page would complete it."""
        payment = self._payment(payment_id)
        if payment.status is not PaymentStatus.REQUIRES_ACTION:
            raise GatewayRefused("the payment does not wait for authentication")
        if success:
            self._authenticated.add(payment_id)
        else:
            self._replace(payment, status=PaymentStatus.FAILED, decline_code="authentication_failed")

    async def confirm_payment(self, payment_id: str) -> Payment:
        async with self._lock:
            payment = self._payment(payment_id)
            if payment.status is PaymentStatus.REQUIRES_ACTION and payment_id in self._authenticated:
                self.charges += 1
                return self._replace(payment, status=PaymentStatus.SUCCEEDED)
            return payment

    async def retrieve_payment(self, payment_id: str) -> Payment:
        return self._payment(payment_id)

    async def refund(self, payment_id: str, *, idempotency_key: str, amount: Money | None = None) -> Refund:
        async with self._lock:
            known = self._keys.get(idempotency_key)
            if known is not None:
                if known not in self._refunds:
                    raise GatewayRefused("the idempotency key was used for another kind of request")
                return self._refunds[known]
            payment = self._payment(payment_id)
            if payment.status is not PaymentStatus.SUCCEEDED:
                raise GatewayRefused("only a succeeded payment can be refunded")
            left = payment.amount.amount - payment.amount_refunded
            wanted = left if amount is None else amount.amount
            if amount is not None and amount.currency != payment.amount.currency:
                raise GatewayRefused("a refund is in the payment's currency")
            if not 0 < wanted <= left:
                raise GatewayRefused(f"a refund is between 1 and the {left} minor units not yet refunded")
            refund = Refund(
                id=self._next("re"),
                payment_id=payment_id,
                amount=Money(wanted, payment.amount.currency),
                status="succeeded",
                created_at=self._clock.now(),
            )
            self._replace(payment, amount_refunded=payment.amount_refunded + wanted)
            self._refunds[refund.id] = refund
            self._keys[idempotency_key] = refund.id
            return refund

    async def payments_since(self, since: datetime, *, limit: int = 100) -> list[Payment]:
        found = [p for p in self._payments.values() if p.created_at >= since]
        return sorted(found, key=lambda p: (p.created_at, p.id))[:limit]

    async def refunds_since(self, since: datetime, *, limit: int = 100) -> list[Refund]:
        found = [r for r in self._refunds.values() if r.created_at >= since]
        return sorted(found, key=lambda r: (r.created_at, r.id))[:limit]

    def webhook_body(self, payment_id: str, event_type: str, event_id: str | None = None) -> bytes:
        """The body of the webhook the fake provider would send about the payment now (sign it with
        ``webhooks.sign`` and the fake endpoint's secret)."""
        payment = self._payment(payment_id)
        document: dict[str, Any] = {
            "id": event_id or self._next("evt"),
            "type": event_type,
            "created": int(self._clock.now().timestamp()),
            "data": {"payment": fake_payment_document(payment)},
        }
        return json.dumps(document).encode()

    def _payment(self, payment_id: str) -> Payment:
        payment = self._payments.get(payment_id)
        if payment is None:
            raise GatewayRefused(f"no such payment: {payment_id}")
        return payment

    def _replace(self, payment: Payment, **changes: Any) -> Payment:
        self._payments[payment.id] = updated = dataclasses.replace(payment, **changes)
        return updated


def fake_payment_document(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "amount": payment.amount.amount,
        "currency": payment.amount.currency,
        "status": payment.status.value,
        "decline_code": payment.decline_code,
        "amount_refunded": payment.amount_refunded,
        "metadata": payment.metadata,
    }


def _card_number(token: str) -> str:
    number = token.removeprefix(TOKEN_PREFIX)
    if not token.startswith(TOKEN_PREFIX) or len(number) != 16 or not number.isdigit():
        raise GatewayRefused(f"not a payment method token of the fake gateway: {token[:40]!r}")
    return number
