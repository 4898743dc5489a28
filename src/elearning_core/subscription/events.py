"""Plan and subscription events: the ``elearning.subscription`` topic's contract (``aggregate_id`` is the
plan's or the subscription's id).

Published when a plan becomes active (offered), changed when an offered or archived plan's terms change,
archived when it stops being offered. Drafts emit nothing: nobody outside the staff sees them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self

from elearning_core.shared.events import DomainEvent
from elearning_core.subscription.model import Plan

if TYPE_CHECKING:
    from elearning_core.subscription.model import Subscription


class _PlanEvent(DomainEvent):
    code: str
    status: str

    @classmethod
    def of(cls, plan: Plan, at: datetime) -> Self:
        return cls(occurred_at=at, aggregate_id=plan.id, code=plan.code, status=plan.status.value)


class PlanPublished(_PlanEvent):
    type: ClassVar[str] = "subscription.plan_published.v1"


class PlanChanged(_PlanEvent):
    type: ClassVar[str] = "subscription.plan_changed.v1"


class PlanArchived(_PlanEvent):
    type: ClassVar[str] = "subscription.plan_archived.v1"


class SubscriptionEvent(DomainEvent):
    """What every subscription event carries (``aggregate_id`` is the subscription's id): who, which plan,
    the period, and the amount in minor units (the period's price, or what the step charged)."""

    user_id: uuid.UUID
    organization_id: uuid.UUID | None = None
    plan_code: str
    status: str
    period_start: datetime
    period_end: datetime
    paid_through: datetime | None = None
    amount: int
    currency: str
    seats: int = 1


class SubscriptionCreated(SubscriptionEvent):
    type: ClassVar[str] = "subscription.created.v1"


class SubscriptionTrialEnding(SubscriptionEvent):
    """A few days (``ELEARNING_TRIAL_NOTICE_DAYS``) before the trial ends: ``period_end`` is the first charge."""

    type: ClassVar[str] = "subscription.trial_ending.v1"


class _Paid(SubscriptionEvent):
    payment_id: str | None = None
    """None when the credit of a downgrade covered the whole period."""
    charge: str = "renewal"
    credit_used: int = 0


class SubscriptionActivated(_Paid):
    """The first period was paid (after a trial or an incomplete first payment)."""

    type: ClassVar[str] = "subscription.activated.v1"


class SubscriptionRenewed(_Paid):
    type: ClassVar[str] = "subscription.renewed.v1"


class SubscriptionPaymentFailed(SubscriptionEvent):
    type: ClassVar[str] = "subscription.payment_failed.v1"
    decline_code: str | None = None
    attempt: int = 1
    next_retry_at: datetime | None = None
    """None: no retry left (the subscription is suspended or canceled by the same step)."""


class SubscriptionPastDue(SubscriptionEvent):
    type: ClassVar[str] = "subscription.past_due.v1"


class SubscriptionSuspended(SubscriptionEvent):
    """Every retry failed: ``unpaid`` (access suspended until the subscription is canceled)."""

    type: ClassVar[str] = "subscription.suspended.v1"


class SubscriptionCanceled(SubscriptionEvent):
    type: ClassVar[str] = "subscription.canceled.v1"
    at_period_end: bool = False
    """True: it runs until ``period_end``, then expires (a ``resume`` can undo that)."""


class SubscriptionExpired(SubscriptionEvent):
    type: ClassVar[str] = "subscription.expired.v1"


class SubscriptionResumed(SubscriptionEvent):
    type: ClassVar[str] = "subscription.resumed.v1"


class SubscriptionPlanChanged(SubscriptionEvent):
    """``amount`` is what the change charged now (0 for a downgrade, whose ``credit - charge`` is kept).
    Not ``plan_changed``: that name is the catalog's event of a plan's terms changing."""

    type: ClassVar[str] = "subscription.plan_switched.v1"
    previous_plan: str
    previous_seats: int | None = None  # None: recorded before seat counts could change (always ``seats``)
    credit: int
    charge: int
    payment_id: str | None = None


class SubscriptionPaymentActionRequired(SubscriptionEvent):
    """The customer must authenticate the payment (``POST /api/v1/subscriptions/{id}/confirm-payment``)."""

    type: ClassVar[str] = "subscription.payment_action_required.v1"
    payment_id: str


_KINDS: dict[str, type[SubscriptionEvent]] = {
    "created": SubscriptionCreated,
    "trial_ending": SubscriptionTrialEnding,
    "activated": SubscriptionActivated,
    "renewed": SubscriptionRenewed,
    "payment_failed": SubscriptionPaymentFailed,
    "past_due": SubscriptionPastDue,
    "suspended": SubscriptionSuspended,
    "canceled": SubscriptionCanceled,
    "expired": SubscriptionExpired,
    "resumed": SubscriptionResumed,
    "plan_changed": SubscriptionPlanChanged,
    "payment_action_required": SubscriptionPaymentActionRequired,
}


def subscription_event(what: str, sub: Subscription, at: datetime, **extra: Any) -> DomainEvent:
    """The event of one step of ``sub`` (the aggregate records them through this)."""
    fields: dict[str, Any] = {
        "user_id": sub.user_id,
        "organization_id": sub.organization_id,
        "plan_code": sub.plan_code,
        "status": sub.status.value,
        "period_start": sub.period_start,
        "period_end": sub.period_end,
        "paid_through": sub.paid_through,
        "amount": sub.amount,
        "currency": sub.currency,
        "seats": sub.seats,
    }
    fields.update(extra)
    return _KINDS[what](occurred_at=at, aggregate_id=sub.id, **fields)
