"""The subscription aggregate: one customer's (or one organization's) subscription to a plan.

States (the rules live here; the service only calls these methods and charges what they ask for):

    incomplete --paid--> active        (first charge needed the customer's authentication)
    incomplete --too old--> expired
    trialing --trial over, paid--> active          trialing --trial over, failed--> past_due
    active --period over, paid--> active (renewed) active --period over, failed--> past_due
    active/trialing --period over with cancel_at_period_end--> expired
    past_due --retry paid--> active    past_due --retries exhausted--> unpaid | canceled (a setting)
    any live state --cancel now--> canceled

A canceled or expired subscription never comes back (the customer subscribes anew); ``resume`` only undoes a
pending cancel at period end. ``paid_through`` is the end of the last period paid for (or of the trial): the
access grants end there. Each charge the aggregate asks for carries the gateway idempotency key of its
period (``Charge.key``), so a charge repeated for one period (a job run twice, a crash before commit)
is the same payment at the gateway, never a second one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from elearning_core.shared.errors import Conflict
from elearning_core.shared.events import DomainEvent, RecordsEvents
from elearning_core.subscription.model._periods import Proration, period_boundary, prorate
from elearning_core.subscription.model._plan import Interval, Plan


class Status(StrEnum):
    INCOMPLETE = "incomplete"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    UNPAID = "unpaid"
    CANCELED = "canceled"
    EXPIRED = "expired"


ENDED = frozenset({Status.CANCELED, Status.EXPIRED})
INCOMPLETE_TTL = timedelta(hours=23)
"""An incomplete subscription whose first payment was not completed in this time expires (Stripe's rule)."""


class RuleBroken(Conflict):
    """A request the subscription's state refuses; ``rule`` names it (the problem document's ``type``)."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(detail)
        self.rule = rule


class FinalAction(StrEnum):
    UNPAID = "unpaid"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class DunningPolicy:
    """When to retry a failed renewal (days after the period started), and what follows the last failure."""

    retry_days: tuple[int, ...] = (1, 3, 5)
    final: FinalAction = FinalAction.UNPAID
    trial_notice: timedelta = timedelta(days=3)


class ChargeKind(StrEnum):
    FIRST = "first"
    RENEWAL = "renewal"
    RETRY = "retry"
    CHANGE = "change"


@dataclass(frozen=True, slots=True)
class Charge:
    """A charge the subscription asks for: which period, how much (after credit), and its idempotency key."""

    subscription_id: uuid.UUID
    kind: ChargeKind
    period_start: datetime
    amount: int
    currency: str
    key: str
    credit_used: int = 0

    def metadata(self) -> dict[str, str]:
        """What travels with the payment and back in its webhooks."""
        return {
            "subscription_id": str(self.subscription_id),
            "period_start": self.period_start.isoformat(),
            "charge": self.kind.value,
            "key": self.key,
        }


@dataclass
class Subscription(RecordsEvents):
    id: uuid.UUID
    user_id: uuid.UUID
    """Who pays (and, for a personal subscription, who learns)."""
    organization_id: uuid.UUID | None
    plan_code: str
    currency: str
    unit_amount: int
    """The plan's price per seat and period when it was taken (or last changed), minor units."""
    seats: int
    interval: Interval
    interval_count: int
    status: Status
    anchor: datetime
    """The start of the first paid period; period ``cycle`` is counted from it."""
    cycle: int
    """The current period's index (-1: the trial)."""
    period_start: datetime
    period_end: datetime
    paid_through: datetime | None
    customer_id: str
    payment_method_id: str
    created_at: datetime
    updated_at: datetime
    cancel_at_period_end: bool = False
    ended_at: datetime | None = None
    attempts: int = 0
    """Failed charges of the current period (dunning)."""
    next_retry_at: datetime | None = None
    pending_payment_id: str | None = None
    """A payment that waits for the customer's authentication (or an asynchronous outcome)."""
    credit: int = 0
    """Minor units owed to the customer by downgrades, taken off the next charges."""
    changes: int = 0
    """Plan changes so far (each change's charge has its own idempotency key)."""
    trial_notified: bool = False
    billing_name: str = ""
    billing_country: str = ""
    due_at: datetime | None = None
    """When the jobs next have something to do with it (``reschedule``); None: nothing (it ended)."""
    _events: list[DomainEvent] = field(default_factory=list, repr=False, compare=False)

    # -- reading ---------------------------------------------------------------------------------

    @property
    def amount(self) -> int:
        """The price of one period, all seats."""
        return self.unit_amount * self.seats

    @property
    def live(self) -> bool:
        return self.status not in ENDED

    def boundary(self, index: int) -> datetime:
        return period_boundary(self.anchor, self.interval, self.interval_count, index)

    def paid_for_current(self) -> bool:
        return self.paid_through is not None and self.paid_through >= self.period_end

    # -- starting --------------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        *,
        id: uuid.UUID,
        user_id: uuid.UUID,
        organization_id: uuid.UUID | None,
        plan: Plan,
        currency: str,
        seats: int,
        customer_id: str,
        payment_method_id: str,
        at: datetime,
        billing_name: str = "",
        billing_country: str = "",
    ) -> Subscription:
        """A new subscription: trialing when the plan has a trial (no charge yet), else incomplete until
        its first charge (``first_charge``) is paid."""
        price = plan.price(currency)
        if price is None:
            raise RuleBroken("currency-not-offered", f"plan {plan.code} has no price in {currency}")
        trial = plan.trial_days > 0
        anchor = at + timedelta(days=plan.trial_days) if trial else at
        sub = cls(
            id=id,
            user_id=user_id,
            organization_id=organization_id,
            plan_code=plan.code,
            currency=currency,
            unit_amount=price.amount,
            seats=seats,
            interval=plan.interval,
            interval_count=plan.interval_count,
            status=Status.TRIALING if trial else Status.INCOMPLETE,
            anchor=anchor,
            cycle=-1 if trial else 0,
            period_start=at,
            period_end=anchor if trial else period_boundary(anchor, plan.interval, plan.interval_count, 1),
            paid_through=anchor if trial else None,
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            created_at=at,
            updated_at=at,
            billing_name=billing_name,
            billing_country=billing_country,
        )
        sub._record("created", at)
        return sub

    def reschedule(self, policy: DunningPolicy) -> None:
        """Set ``due_at``, the instant the jobs look at it next (the store indexes it)."""
        times: list[datetime] = []
        if self.status is Status.TRIALING and not self.trial_notified:
            times.append(self.period_end - policy.trial_notice)
        if self.status in (Status.TRIALING, Status.ACTIVE):
            times.append(self.period_end)
        if self.status is Status.INCOMPLETE:
            times.append(self.created_at + INCOMPLETE_TTL)
        if self.status is Status.PAST_DUE and self.pending_payment_id is None and self.next_retry_at is not None:
            times.append(self.next_retry_at)
        self.due_at = min(times) if times else None

    def first_charge(self) -> Charge | None:
        """The charge of the first period of a subscription without trial."""
        if self.status is not Status.INCOMPLETE or self.pending_payment_id is not None:
            return None
        return self._charge(ChargeKind.FIRST)

    # -- time passing (the jobs) ------------------------------------------------------------------

    def due(self, now: datetime, policy: DunningPolicy) -> Charge | None:
        """Move the subscription along with time; the charge it needs now, if any.

        A trial or paid period that is over starts the next period (unpaid yet) or ends the
        subscription (a cancel at period end); a past-due one asks for its next retry when it is due;
        an incomplete one too old expires. A trial close to its end is announced once.
        """
        if self.status is Status.TRIALING and not self.trial_notified and now >= self.period_end - policy.trial_notice:
            self.trial_notified = True
            self._record("trial_ending", now)
        if self.status is Status.INCOMPLETE and now >= self.created_at + INCOMPLETE_TTL:
            self._end(Status.EXPIRED, now)
            return None
        if self.status in (Status.TRIALING, Status.ACTIVE) and now >= self.period_end:
            if self.cancel_at_period_end:
                self._end(Status.EXPIRED, self.period_end)
                return None
            self.cycle += 1
            self.period_start, self.period_end = self.boundary(self.cycle), self.boundary(self.cycle + 1)
            self.attempts, self.next_retry_at, self.pending_payment_id = 0, None, None
            self.updated_at = now
            return self._charge(ChargeKind.RENEWAL)
        if (
            self.status is Status.PAST_DUE
            and self.pending_payment_id is None
            and self.next_retry_at is not None
            and now >= self.next_retry_at
        ):
            return self._charge(ChargeKind.RETRY)
        return None

    # -- payment outcomes --------------------------------------------------------------------------

    def paid(self, charge: Charge, payment_id: str | None, at: datetime) -> bool:
        """The period's charge succeeded (synchronously or by webhook); False when it was already known."""
        if not self.live or charge.period_start != self.period_start or self.paid_for_current():
            return False
        first = self.status in (Status.INCOMPLETE, Status.TRIALING)
        self.credit -= charge.credit_used
        self.paid_through = self.period_end
        self.status = Status.ACTIVE
        self.attempts, self.next_retry_at, self.pending_payment_id = 0, None, None
        self.updated_at = at
        self._record(
            "activated" if first else "renewed",
            at,
            amount=charge.amount,
            payment_id=payment_id,
            charge=charge.kind.value,
            credit_used=charge.credit_used,
        )
        return True

    def failed(self, charge: Charge, decline_code: str | None, at: datetime, policy: DunningPolicy) -> bool:
        """The period's charge failed: past due with the next retry scheduled, or, after the last retry,
        unpaid or canceled as the policy says. A failed first charge (no trial) leaves it incomplete."""
        if not self.live or charge.period_start != self.period_start or self.paid_for_current():
            return False
        self.pending_payment_id = None
        self.updated_at = at
        if self.status is Status.INCOMPLETE:
            self._record("payment_failed", at, amount=charge.amount, decline_code=decline_code, attempt=1)
            return True
        self.attempts += 1
        retries = policy.retry_days
        self.next_retry_at = (
            self.period_start + timedelta(days=retries[self.attempts - 1]) if self.attempts <= len(retries) else None
        )
        if self.next_retry_at is not None and self.next_retry_at <= at:
            self.next_retry_at = at + timedelta(days=1)
        self._record(
            "payment_failed",
            at,
            amount=charge.amount,
            decline_code=decline_code,
            attempt=self.attempts,
            next_retry_at=self.next_retry_at,
        )
        if self.status is not Status.PAST_DUE and self.next_retry_at is not None:
            self.status = Status.PAST_DUE
            self._record("past_due", at, amount=charge.amount)
        elif self.next_retry_at is None:
            if policy.final is FinalAction.CANCELED:
                self._end(Status.CANCELED, at)
            else:
                self.status = Status.UNPAID
                self._record("suspended", at, amount=charge.amount)
        return True

    def action_required(self, charge: Charge, payment_id: str, at: datetime) -> bool:
        """The charge waits for the customer's authentication (``confirm-payment``)."""
        if not self.live or charge.period_start != self.period_start or self.paid_for_current():
            return False
        if self.pending_payment_id == payment_id:
            return False
        self.pending_payment_id = payment_id
        if self.status in (Status.TRIALING, Status.ACTIVE):
            self.status = Status.PAST_DUE
            self._record("past_due", at, amount=charge.amount)
        self.updated_at = at
        self._record("payment_action_required", at, amount=charge.amount, payment_id=payment_id)
        return True

    def charge_of(self, period_start: datetime, kind: ChargeKind) -> Charge:
        """The charge a payment's metadata names (an asynchronous outcome), as the aggregate asked for it."""
        return Charge(self.id, kind, period_start, self.amount, self.currency, "", 0)

    # -- the customer's requests ---------------------------------------------------------------

    def cancel(self, *, at_period_end: bool, at: datetime) -> None:
        self._require_live("cancel")
        if at_period_end and self.status in (Status.TRIALING, Status.ACTIVE):
            if self.cancel_at_period_end:
                return
            self.cancel_at_period_end = True
            self.updated_at = at
            self._record("canceled", at, at_period_end=True)
            return
        self._end(Status.CANCELED, at)

    def resume(self, at: datetime) -> None:
        self._require_live("resume")
        if not self.cancel_at_period_end:
            raise RuleBroken("not-pending-cancel", f"subscription {self.id} is not set to cancel at period end")
        self.cancel_at_period_end = False
        self.updated_at = at
        self._record("resumed", at)

    def change_plan(self, plan: Plan, at: datetime, seats: int | None = None) -> tuple[Proration, Charge | None]:
        """Move to ``plan`` (and ``seats``, on an organization's subscription) now, in the same billing
        period (see ``_periods`` for the proration): the new price is the plan's for all the seats.

        During a trial nothing is charged or credited. Otherwise an upgrade's net (a dearer plan, more
        seats) is charged now (the caller applies the change only once that charge succeeded: ``changed``);
        a downgrade's net is kept as credit for the next charges.
        """
        if self.status not in (Status.TRIALING, Status.ACTIVE):
            raise RuleBroken("subscription-not-active", f"subscription {self.id} is {self.status.value}")
        if seats is not None and seats != self.seats and self.organization_id is None:
            raise RuleBroken("not-an-organization-subscription", f"subscription {self.id} has no seats")
        seats = self.seats if seats is None else seats
        if plan.code == self.plan_code and seats == self.seats:
            raise RuleBroken("same-plan", f"subscription {self.id} is already on plan {plan.code} with {seats} seat(s)")
        price = plan.price(self.currency)
        if price is None:
            raise RuleBroken("currency-not-offered", f"plan {plan.code} has no price in {self.currency}")
        if plan.interval is not self.interval or plan.interval_count != self.interval_count:
            raise RuleBroken("interval-mismatch", "a plan change keeps the billing interval (cancel and subscribe)")
        if self.status is Status.TRIALING:
            return Proration(0, 0), None
        proration = prorate(self.amount, price.amount * seats, self.period_start, self.period_end, at)
        if proration.net <= 0:
            return proration, None
        charge = Charge(
            self.id,
            ChargeKind.CHANGE,
            self.period_start,
            proration.net,
            self.currency,
            f"sub-{self.id}-change-{self.changes + 1}",
        )
        return proration, charge

    def changed(
        self, plan: Plan, proration: Proration, payment_id: str | None, at: datetime, seats: int | None = None
    ) -> None:
        """Apply a plan (or seat count) change whose charge (if any) succeeded."""
        price = plan.price(self.currency)
        assert price is not None  # change_plan checked it
        before, seats_before = self.plan_code, self.seats
        self.plan_code, self.unit_amount = plan.code, price.amount
        self.seats = self.seats if seats is None else seats
        self.changes += 1
        if proration.net < 0:
            self.credit += -proration.net
        self.updated_at = at
        self._record(
            "plan_changed",
            at,
            previous_plan=before,
            previous_seats=seats_before,
            credit=proration.credit,
            charge=proration.charge,
            amount=max(proration.net, 0),
            payment_id=payment_id,
        )

    def confirmable(self) -> str:
        """The payment ``confirm-payment`` completes."""
        if not self.live or self.pending_payment_id is None:
            raise RuleBroken("no-payment-pending", f"subscription {self.id} has no payment waiting for confirmation")
        return self.pending_payment_id

    def pending_charge(self) -> Charge:
        kind = ChargeKind.FIRST if self.status is Status.INCOMPLETE else ChargeKind.RETRY
        return Charge(self.id, kind, self.period_start, self.amount, self.currency, "", 0)

    # -- helpers -----------------------------------------------------------------------------------

    def _charge(self, kind: ChargeKind) -> Charge:
        start = self.period_start.isoformat()
        key = (
            f"sub-{self.id}-{start}" if kind is not ChargeKind.RETRY else f"sub-{self.id}-{start}-retry-{self.attempts}"
        )
        used = min(self.credit, self.amount)
        return Charge(self.id, kind, self.period_start, self.amount - used, self.currency, key, used)

    def _require_live(self, action: str) -> None:
        if not self.live:
            raise RuleBroken(
                "subscription-ended", f"subscription {self.id} is {self.status.value}: cannot {action} (subscribe anew)"
            )

    def _end(self, status: Status, at: datetime) -> None:
        self.status = status
        self.ended_at = at
        self.cancel_at_period_end = False
        self.pending_payment_id, self.next_retry_at = None, None
        self.updated_at = at
        self._record("canceled" if status is Status.CANCELED else "expired", at)

    def _record(self, what: str, at: datetime, **extra: object) -> None:
        from elearning_core.subscription.events import subscription_event  # events import the model

        self._events.append(subscription_event(what, self, at, **extra))
