"""What the payment module needs from outside: a payment gateway, the webhook inbox and the payment records."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from elearning_core.payment.model import (
    GatewayEvent,
    Money,
    Payment,
    PaymentRecord,
    PaymentRequest,
    Refund,
    SavedPaymentMethod,
)
from elearning_core.shared.ports import UnitOfWork


class GatewayUnavailable(Exception):
    """The gateway could not be reached or failed on its side (network, timeout, 5xx, rate limit).

    Transient: the caller may retry the same call with the same idempotency key, which can never
    charge or refund twice. A decline is not this: it is a ``Payment`` with status ``failed``.
    """


class GatewayRefused(Exception):
    """The gateway refused the request itself (an unknown payment, a refund above what is left, a bad
    parameter): retrying it unchanged gives the same answer. The message is one line saying why."""


class PaymentGateway(Protocol):
    """The platform charges through this port; the platform's own engine owns plans, subscriptions and invoices.

    Every call that moves money takes an idempotency key: the same key gives the same result
    without a second charge or refund, so a ``GatewayUnavailable`` is safe to retry.
    """

    @property
    def provider(self) -> str:
        """The provider's name as webhooks and records carry it (``fake``, ``stripe``)."""
        ...

    async def ensure_customer(self, reference: str, *, email: str | None = None, name: str | None = None) -> str:
        """The provider's customer id for the platform's ``reference`` (a user id), created the first time."""
        ...

    async def save_payment_method(self, customer_id: str, payment_method: str) -> SavedPaymentMethod:
        """Attach a tokenised payment method (from the provider's client-side form) to the customer for
        off-session charges; a card the issuer refuses comes back with ``decline_code``."""
        ...

    async def create_payment(self, request: PaymentRequest) -> Payment:
        """Create and confirm a payment: succeeded, requires_action, processing, or failed (with a decline code)."""
        ...

    async def confirm_payment(self, payment_id: str) -> Payment:
        """The payment after the customer's authentication step (confirming it again when the provider waits for that)."""
        ...

    async def retrieve_payment(self, payment_id: str) -> Payment: ...

    async def refund(self, payment_id: str, *, idempotency_key: str, amount: Money | None = None) -> Refund:
        """Refund all that is left of a payment (``amount`` None) or part of it."""
        ...

    async def payments_since(self, since: datetime, *, limit: int = 100) -> list[Payment]:
        """Payments created at or after ``since``, oldest first (reconciliation reads these)."""
        ...

    async def refunds_since(self, since: datetime, *, limit: int = 100) -> list[Refund]:
        """Refunds created at or after ``since``, oldest first."""
        ...


class WebhookInbox(Protocol):
    """The providers' webhook events already received: one row per (provider, event id)."""

    async def add(self, event: GatewayEvent, received_at: datetime) -> bool:
        """Store the event in the unit of work; False, writing nothing, when it was stored before
        (a repeated delivery, concurrent ones included: they queue on the key)."""
        ...


class PaymentRecords(Protocol):
    async def lock(self, provider: str, payment_id: str, amount: Money) -> PaymentRecord:
        """The payment's record, created empty the first time, held (row lock) until the unit of work ends."""
        ...

    async def save(self, record: PaymentRecord) -> None: ...

    async def get(self, provider: str, payment_id: str) -> PaymentRecord | None: ...


class PaymentUnitOfWork(UnitOfWork, Protocol):
    payment_webhooks: WebhookInbox
    payment_records: PaymentRecords
