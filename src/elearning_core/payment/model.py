"""Money, payments as a gateway reports them, and the recorded state of a payment that only moves forward.

Money is an integer count of the currency's minor units with its ISO 4217 code: no float ever
holds an amount, so sums, refunds and reconciliation are exact.

A gateway answers a charge at once (``Payment``), but some outcomes arrive later, by webhook,
possibly repeated and out of order. ``PaymentRecord`` is the platform's view of one provider
payment built from those webhooks. Its status only moves forward in this order:

    requires_action < processing < failed < succeeded

``succeeded`` is final. ``failed`` is final except for ``succeeded``: the provider collected the
money, so whatever reported a failure was an earlier attempt (or arrived late), and the money is
the truth. A retry after a failure (dunning) is a new payment with a new idempotency key, so a
``requires_action`` or ``processing`` reported after a failure is stale and ignored. Refunds
accumulate: the record keeps the largest cumulative refunded total reported, so a repeated or
reordered refund webhook never counts twice; they leave the status alone.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elearning_core.payment.events import (
    PaymentFailed,
    PaymentOutcome,
    PaymentRefunded,
    PaymentRequiresAction,
    PaymentSucceeded,
)
from elearning_core.shared.events import DomainEvent, RecordsEvents

_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_AMOUNT = 99_999_999
"""The largest amount one payment may carry (Stripe's limit for most currencies: 999,999.99 in a 2-decimal one)."""

PAYMENT_NAMESPACE = uuid.UUID("6f1e4c56-52a4-4c0e-9a3f-0e0c1b4b6a51")


def payment_aggregate_id(provider: str, payment_id: str) -> uuid.UUID:
    """The payment events' aggregate id: stable for one provider payment, so its events share a Kafka key."""
    return uuid.uuid5(PAYMENT_NAMESPACE, f"{provider}:{payment_id}")


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units (cents) and its ISO 4217 currency code (upper case)."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise ValueError("an amount is an integer count of minor units")
        if self.amount < 0:
            raise ValueError("an amount cannot be negative")
        if not _CURRENCY.match(self.currency):
            raise ValueError(f"currency {self.currency!r} is not an ISO 4217 code (three upper-case letters)")

    def payable(self) -> Money:
        """Itself, when a gateway can charge it (more than nothing, at most ``MAX_AMOUNT``)."""
        if not 0 < self.amount <= MAX_AMOUNT:
            raise ValueError(f"a payment is between 1 and {MAX_AMOUNT} minor units")
        return self


class PaymentStatus(enum.StrEnum):
    REQUIRES_ACTION = "requires_action"
    """The customer must authenticate (3-D Secure); ``client_secret``/``next_action`` say how."""
    PROCESSING = "processing"
    """Accepted, the outcome will come by webhook."""
    FAILED = "failed"
    SUCCEEDED = "succeeded"


_RANK = {
    None: 0,
    PaymentStatus.REQUIRES_ACTION: 1,
    PaymentStatus.PROCESSING: 2,
    PaymentStatus.FAILED: 3,
    PaymentStatus.SUCCEEDED: 4,
}


def moves_forward(current: PaymentStatus | None, reported: PaymentStatus) -> bool:
    """Whether a reported status is news for a payment recorded at ``current`` (see the module doc)."""
    return _RANK[reported] > _RANK[current]


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """One charge: how much, whose saved method, on or off session, and the key that makes it happen once.

    ``idempotency_key``: the same key always names the same charge; a caller that got a
    ``GatewayUnavailable`` retries with the same key and can never charge twice.
    ``metadata`` travels with the payment and back in its webhooks (an order id, a subscription id).
    """

    amount: Money
    customer_id: str
    payment_method_id: str
    idempotency_key: str
    off_session: bool = False
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.amount.payable()
        if not self.idempotency_key or len(self.idempotency_key) > 255:
            raise ValueError("an idempotency key is 1 to 255 characters")


@dataclass(frozen=True, slots=True)
class Payment:
    """A payment as the gateway reports it now."""

    id: str
    amount: Money
    status: PaymentStatus
    customer_id: str | None
    payment_method_id: str | None
    created_at: datetime
    metadata: dict[str, str] = field(default_factory=dict)
    decline_code: str | None = None
    """Why it failed (``card_declined``, ``insufficient_funds``, ...): a result, not an error."""
    client_secret: str | None = None
    """With ``requires_action``: what the customer's browser needs to authenticate."""
    next_action: str | None = None
    """With ``requires_action``: the kind of step (``use_stripe_sdk``, ``redirect_to_url``)."""
    amount_refunded: int = 0


@dataclass(frozen=True, slots=True)
class Refund:
    id: str
    payment_id: str
    amount: Money
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SavedPaymentMethod:
    """The answer to saving a payment method for off-session use: saved, or declined (a result)."""

    id: str
    customer_id: str
    decline_code: str | None = None
    last4: str | None = None

    @property
    def saved(self) -> bool:
        return self.decline_code is None


class WebhookKind(enum.StrEnum):
    SUCCEEDED = "payment.succeeded"
    FAILED = "payment.failed"
    REQUIRES_ACTION = "payment.requires_action"
    REFUNDED = "payment.refunded"


_STATUS_OF = {
    WebhookKind.SUCCEEDED: PaymentStatus.SUCCEEDED,
    WebhookKind.FAILED: PaymentStatus.FAILED,
    WebhookKind.REQUIRES_ACTION: PaymentStatus.REQUIRES_ACTION,
}


@dataclass(frozen=True, slots=True)
class GatewayEvent:
    """A provider's webhook, verified and read into the platform's terms (the adapter's parser does that).

    ``kind`` is None for the provider's event types the platform does not act on: they are still
    stored in the inbox (delivery acknowledged once), with no effect.
    """

    provider: str
    event_id: str
    provider_type: str
    kind: WebhookKind | None
    payment_id: str | None
    amount: Money | None
    payload: dict[str, object]
    metadata: dict[str, str] = field(default_factory=dict)
    decline_code: str | None = None
    refunded_total: int = 0


class PaymentRecord(RecordsEvents):
    """The platform's recorded state of one provider payment, moved forward by its webhooks."""

    def __init__(
        self,
        provider: str,
        payment_id: str,
        amount: Money,
        *,
        status: PaymentStatus | None = None,
        refunded: int = 0,
        decline_code: str | None = None,
        updated_at: datetime | None = None,
    ) -> None:
        self.provider = provider
        self.payment_id = payment_id
        self.amount = amount
        self.status = status
        self.refunded = refunded
        self.decline_code = decline_code
        self.updated_at = updated_at
        self._events: list[DomainEvent] = []

    @property
    def aggregate_id(self) -> uuid.UUID:
        return payment_aggregate_id(self.provider, self.payment_id)

    def apply(self, event: GatewayEvent, at: datetime) -> bool:
        """Take a webhook into account; True (and one domain event recorded) when it changed the record."""
        if event.kind is WebhookKind.REFUNDED:
            return self._refund(event, at)
        if event.kind is None or not moves_forward(self.status, _STATUS_OF[event.kind]):
            return False
        self.status = _STATUS_OF[event.kind]
        self.updated_at = at
        if self.status is PaymentStatus.SUCCEEDED:
            self._events.append(self._outcome(PaymentSucceeded, event, at))
        elif self.status is PaymentStatus.FAILED:
            self.decline_code = event.decline_code
            self._events.append(self._outcome(PaymentFailed, event, at, decline_code=event.decline_code))
        else:
            self._events.append(self._outcome(PaymentRequiresAction, event, at))
        return True

    def _refund(self, event: GatewayEvent, at: datetime) -> bool:
        total = min(event.refunded_total, self.amount.amount)
        if total <= self.refunded:
            return False
        added, self.refunded = total - self.refunded, total
        # The status is left alone: the payment's own webhook (succeeded) still reports its collection.
        self.updated_at = at
        self._events.append(self._outcome(PaymentRefunded, event, at, refunded_total=total, refunded_now=added))
        return True

    def _outcome(self, kind: type[PaymentOutcome], event: GatewayEvent, at: datetime, **extra: Any) -> PaymentOutcome:
        return kind(
            occurred_at=at,
            aggregate_id=self.aggregate_id,
            provider=self.provider,
            payment_id=self.payment_id,
            amount=self.amount.amount,
            currency=self.amount.currency,
            metadata=dict(event.metadata),
            provider_event_id=event.event_id,
            **extra,
        )


__all__ = [
    "GatewayEvent",
    "Money",
    "Payment",
    "PaymentOutcome",
    "PaymentRecord",
    "PaymentRequest",
    "PaymentStatus",
    "Refund",
    "SavedPaymentMethod",
    "WebhookKind",
]
