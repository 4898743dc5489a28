"""Payment events: the ``elearning.payment`` topic's contract.

The aggregate is the provider's payment (``payment_aggregate_id``). They are recorded when a
webhook moves a payment's recorded state forward, in the transaction that stores the webhook
in the inbox: the checkout and subscription code consume them as the source of truth for
outcomes that arrive after the request that started the payment.
"""

from __future__ import annotations

from typing import ClassVar

from elearning_core.shared.events import DomainEvent


class PaymentOutcome(DomainEvent):
    """What every payment event carries: which payment, for how much, and the caller's metadata."""

    provider: str
    payment_id: str
    amount: int
    currency: str
    metadata: dict[str, str]
    provider_event_id: str


class PaymentSucceeded(PaymentOutcome):
    type: ClassVar[str] = "payment.succeeded.v1"


class PaymentFailed(PaymentOutcome):
    type: ClassVar[str] = "payment.failed.v1"
    decline_code: str | None


class PaymentRequiresAction(PaymentOutcome):
    type: ClassVar[str] = "payment.requires_action.v1"


class PaymentRefunded(PaymentOutcome):
    type: ClassVar[str] = "payment.refunded.v1"
    refunded_total: int
    """Minor units refunded so far, all refunds together (refunds accumulate)."""
    refunded_now: int
    """What this webhook added to the total."""
