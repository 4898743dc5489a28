"""Subscriptions: subscribe, cancel, resume, change plan, confirm a payment, seats, saved payment methods,
and the work of time (renewals and dunning, run by the scheduler's jobs) and of asynchronous payment
outcomes (the ``payment.*.v1`` events).

Every change of a subscription happens with its row locked, and writes the access grants it implies in
the same unit of work (``_Grants``): a learner's access and the subscription never disagree. Charges go
through the payment module's gateway port with the idempotency key the aggregate gives, and the off-session
charges of the jobs are made while the subscription is locked, so two runs for one period queue and the
second finds nothing due (and a crash between the charge and the commit repeats the same key: the same
payment, never a second one).
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from elearning_core.auth.model import Grant as RoleGrant
from elearning_core.auth.model import Permission, Role, Scope
from elearning_core.billing.commands import EvidenceInput, IssueInvoice, LineInput, ProfileInput
from elearning_core.billing.model import BillingProfile, EvidenceKind
from elearning_core.entitlement.events import EntitlementChanged, EntitlementGranted
from elearning_core.entitlement.model import Grant, GrantStatus, Source
from elearning_core.payment.events import PaymentFailed, PaymentOutcome, PaymentRequiresAction, PaymentSucceeded
from elearning_core.payment.model import Money, Payment, PaymentRequest, PaymentStatus
from elearning_core.payment.ports import GatewayRefused, GatewayUnavailable, PaymentGateway
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import DeadlineExceeded, NotFound, Unauthenticated
from elearning_core.shared.ids import new_uuid
from elearning_core.shared.pagination import (
    DEFAULT_PAGE_SIZE,
    CursorCodec,
    Page,
    check_page_size,
    iso_time,
    scope_of,
    uuid_key,
)
from elearning_core.shared.ports import Policy, Principal
from elearning_core.subscription.commands import AssignSeat, ChangePlan, SavePaymentMethod, Subscribe
from elearning_core.subscription.events import (
    SubscriptionActivated,
    SubscriptionEvent,
    SubscriptionPlanChanged,
    SubscriptionRenewed,
)
from elearning_core.subscription.model import (
    Charge,
    ChargeKind,
    DunningPolicy,
    Plan,
    PlanStatus,
    Proration,
    RuleBroken,
    Status,
    Subscription,
)
from elearning_core.subscription.ports import (
    CoursesOfPaths,
    Memberships,
    SavedMethod,
    SubscriptionKey,
    SubscriptionUnitOfWork,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_METHODS = 10
"""Saved payment methods per user: the list is bounded, so it is one page."""
RENEWING = frozenset({Status.INCOMPLETE, Status.TRIALING, Status.ACTIVE})
DUNNING = frozenset({Status.PAST_DUE})


class PaymentDeclined(RuleBroken):
    """The gateway declined the card (a 409 whose ``type`` is ``payment-declined``, naming the decline code)."""

    def __init__(self, decline_code: str | None) -> None:
        super().__init__("payment-declined", f"the payment was declined ({decline_code or 'no reason given'})")
        self.decline_code = decline_code


@dataclass(frozen=True, slots=True)
class SubscriptionInvoice:
    """What billing records for a paid period or change: the invoice, and the payment booked on it."""

    invoice: IssueInvoice
    amount: int
    payment_id: str | None
    """None when nothing was charged (a credit covered the period): the invoice of nothing posts nothing."""


@dataclass(frozen=True, slots=True)
class ChangeResult:
    subscription: Subscription
    proration: Proration
    charged: int


def reference(subscription_id: uuid.UUID) -> str:
    """The grants' ``reference``: which subscription gave them."""
    return f"subscription:{subscription_id}"


async def _seats_left_for(uow: SubscriptionUnitOfWork, sub: Subscription, seats: int) -> None:
    """Refuse a seat count below the seats assigned (``seats-in-use``)."""
    if seats < sub.seats and len(await uow.subscriptions.seats(sub.id, limit=seats + 1)) > seats:
        raise RuleBroken(
            "seats-in-use", f"more than {seats} seat(s) of subscription {sub.id} are assigned: revoke some first"
        )


def grant_state(sub: Subscription) -> tuple[GrantStatus, datetime | None] | None:
    """The status and end the subscription's grants must have (None: no grant yet, an incomplete one).

    trialing/active: active until the paid period's (or trial's) end; past_due and unpaid: past due (the
    access is suspended, the refusal says ``subscription-past-due``); canceled/expired: canceled, ended."""
    if sub.status is Status.INCOMPLETE:
        return None
    if sub.status in (Status.TRIALING, Status.ACTIVE):
        return GrantStatus.ACTIVE, sub.paid_through
    if sub.status in (Status.PAST_DUE, Status.UNPAID):
        return GrantStatus.PAST_DUE, sub.paid_through
    return GrantStatus.CANCELED, sub.ended_at


class SubscriptionService:
    def __init__(
        self,
        uow: Callable[[], SubscriptionUnitOfWork],
        gateway: PaymentGateway,
        paths: CoursesOfPaths,
        members: Memberships,
        policy: Policy,
        clock: Clock,
        cursors: CursorCodec,
        dunning: DunningPolicy,
    ) -> None:
        self._uow, self._gateway, self._paths, self._members = uow, gateway, paths, members
        self._policy, self._clock, self._cursors, self.dunning = policy, clock, cursors, dunning

    def joined(self, uow: Callable[[], SubscriptionUnitOfWork]) -> SubscriptionService:
        """The same service over another unit-of-work factory (an event handler's own transaction)."""
        service = copy.copy(self)
        service._uow = uow
        return service

    # -- saved payment methods -------------------------------------------------------------------

    async def save_payment_method(self, actor: Principal, cmd: SavePaymentMethod) -> SavedMethod:
        user = _user(actor)
        customer = await _reachable(self._gateway.ensure_customer(str(user)))
        saved = await _reachable(self._gateway.save_payment_method(customer, cmd.token))
        if not saved.saved:
            raise PaymentDeclined(saved.decline_code)
        async with self._uow() as uow:
            existing = await uow.subscriptions.methods(user)
            if len(existing) >= MAX_METHODS:
                raise RuleBroken("too-many-payment-methods", f"at most {MAX_METHODS} saved payment methods")
            method = SavedMethod(
                saved.id,
                user,
                self._gateway.provider,
                customer,
                saved.last4,
                cmd.make_default or not existing,
                self._clock.now(),
            )
            await uow.subscriptions.add_method(method)
            await uow.commit()
        return method

    async def payment_methods(self, actor: Principal) -> list[SavedMethod]:
        user = _user(actor)
        async with self._uow() as uow:
            return await uow.subscriptions.methods(user)

    async def delete_payment_method(self, actor: Principal, method_id: str) -> None:
        """Forget a saved method; refused while a live subscription renews with it."""
        user = _user(actor)
        async with self._uow() as uow:
            live = await uow.subscriptions.listing(
                user_id=user, organization_id=None, status=None, after=None, limit=1000
            )
            if any(s.live and s.payment_method_id == method_id for s in live):
                raise RuleBroken("payment-method-in-use", f"a live subscription renews with {method_id}")
            if not await uow.subscriptions.remove_method(user, method_id):
                raise NotFound("payment method", method_id)
            await uow.commit()

    # -- subscribing -----------------------------------------------------------------------------

    async def subscribe(self, actor: Principal, cmd: Subscribe) -> Subscription:
        """Start a subscription: a trial (no charge yet), or the first period charged now with the saved
        method (declined: refused, nothing kept; needing authentication: ``incomplete`` until
        ``confirm-payment``)."""
        user = _user(actor)
        if cmd.organization_id is not None and not self._org_admin(actor, cmd.organization_id):
            raise NotFound("organization", cmd.organization_id)
        now = self._clock.now()
        async with self._uow() as uow:
            plan = await uow.plans.plan(cmd.plan_code)
            if plan is None or plan.status is not PlanStatus.ACTIVE:
                raise NotFound("plan", cmd.plan_code)
            methods = await uow.subscriptions.methods(user)
        method = _method(methods, cmd.payment_method_id)
        sub = Subscription.start(
            id=new_uuid(),
            user_id=user,
            organization_id=cmd.organization_id,
            plan=plan,
            currency=cmd.currency,
            seats=cmd.seats,
            customer_id=method.customer_id,
            payment_method_id=method.id,
            at=now,
            billing_name=cmd.billing_name,
            billing_country=cmd.billing_country.upper(),
        )
        charge = sub.first_charge()
        if charge is not None:
            payment = await _reachable(self._charge(sub, charge, off_session=False))
            if payment.status is PaymentStatus.FAILED:
                raise PaymentDeclined(payment.decline_code)
            self._apply(sub, charge, payment, now)
        sub.reschedule(self.dunning)
        async with self._uow() as uow:
            uow.subscriptions.add(sub)
            await _Grants(uow, self._paths, now).sync(sub, plan)
            await uow.commit()
        return sub

    # -- the customer's requests on a subscription -------------------------------------------------

    async def subscription(self, actor: Principal, subscription_id: uuid.UUID) -> Subscription:
        async with self._uow() as uow:
            sub = await uow.subscriptions.get(subscription_id)
            return self._visible(actor, sub, subscription_id)

    async def subscriptions(
        self,
        actor: Principal,
        *,
        organization_id: uuid.UUID | None = None,
        user_id: uuid.UUID | None = None,
        status: Status | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[Subscription]:
        """Mine; an organization's for its admins; anyone's (or all) for billing managers."""
        limit = check_page_size(limit)
        staff = self._policy.authorize(actor, Permission.BILLING_MANAGE).allowed
        if organization_id is not None:
            if not (staff or self._org_admin(actor, organization_id)):
                raise NotFound("organization", organization_id)
        elif not staff or user_id is not None:
            user_id = user_id if staff else _user(actor)
        listing = scope_of("subscriptions", str(user_id), str(organization_id), status or "")
        after = self._cursors.after(listing, cursor, _key)
        async with self._uow() as uow:
            rows = await uow.subscriptions.listing(
                user_id=user_id, organization_id=organization_id, status=status, after=after, limit=limit + 1
            )
        return self._cursors.page(listing, rows, limit, _key_of)

    async def cancel(self, actor: Principal, subscription_id: uuid.UUID, *, at_period_end: bool) -> Subscription:
        return await self._change(
            actor, subscription_id, lambda sub, now: sub.cancel(at_period_end=at_period_end, at=now)
        )

    async def resume(self, actor: Principal, subscription_id: uuid.UUID) -> Subscription:
        return await self._change(actor, subscription_id, lambda sub, now: sub.resume(now))

    async def change_plan(self, actor: Principal, subscription_id: uuid.UUID, cmd: ChangePlan) -> ChangeResult:
        """Switch plans or seat counts now; an upgrade's prorated net is charged at once (declined or needing
        authentication: refused, nothing changes), a downgrade's is kept as credit for the next charges.
        Fewer seats than are assigned is refused (``seats-in-use``: revoke seats first); the subscription
        is locked, so a seat assigned meanwhile is counted."""
        now = self._clock.now()
        async with self._uow() as uow:
            sub = self._visible(actor, await uow.subscriptions.lock(subscription_id), subscription_id)
            code = cmd.plan_code or sub.plan_code
            plan = await uow.plans.plan(code)
            if plan is None or plan.status is not PlanStatus.ACTIVE:
                raise NotFound("plan", code)
            if cmd.seats is not None and sub.organization_id is not None:
                await _seats_left_for(uow, sub, cmd.seats)
            proration, charge = sub.change_plan(plan, now, cmd.seats)
            payment_id = None
            if charge is not None:
                payment = await _reachable(self._charge(sub, charge, off_session=False))
                if payment.status is not PaymentStatus.SUCCEEDED:
                    raise PaymentDeclined(payment.decline_code or "authentication_required")
                payment_id = payment.id
            sub.changed(plan, proration, payment_id, now, cmd.seats)
            await self._settle(uow, sub, now)
        return ChangeResult(sub, proration, charge.amount if charge is not None else 0)

    async def confirm_payment(self, actor: Principal, subscription_id: uuid.UUID) -> Subscription:
        """After the customer authenticated the pending payment: ask the gateway for its outcome."""
        now = self._clock.now()
        async with self._uow() as uow:
            sub = self._visible(actor, await uow.subscriptions.lock(subscription_id), subscription_id)
            payment_id = sub.confirmable()
            payment = await _reachable(self._gateway.confirm_payment(payment_id))
            if payment.status is PaymentStatus.REQUIRES_ACTION:
                raise RuleBroken("payment-action-required", f"payment {payment_id} still waits for authentication")
            self._apply(sub, sub.pending_charge(), payment, now)
            await self._settle(uow, sub, now)
        return sub

    # -- seats -----------------------------------------------------------------------------------

    async def assign_seat(self, actor: Principal, subscription_id: uuid.UUID, cmd: AssignSeat) -> list[uuid.UUID]:
        """Give a member of the organization a seat. The subscription is locked while its seats are
        counted, so concurrent assignments never exceed the seat count."""
        now = self._clock.now()
        async with self._uow() as uow:
            sub = self._seated(actor, await uow.subscriptions.lock(subscription_id), subscription_id)
            assert sub.organization_id is not None
            if not sub.live:
                raise RuleBroken("subscription-ended", f"subscription {sub.id} is {sub.status.value}")
            if not await self._members.is_member(sub.organization_id, cmd.user_id):
                raise RuleBroken("not-a-member", f"user {cmd.user_id} does not belong to the organization")
            holders = await uow.subscriptions.seats(sub.id)
            if cmd.user_id in holders:
                return holders
            if len(holders) >= sub.seats:
                raise RuleBroken("no-seat-left", f"all {sub.seats} seat(s) of subscription {sub.id} are assigned")
            await uow.subscriptions.add_seat(sub.id, cmd.user_id, now)
            plan = await uow.plans.plan(sub.plan_code)
            await _Grants(uow, self._paths, now).sync(sub, plan, users=[cmd.user_id])
            await uow.commit()
        return [*holders, cmd.user_id]

    async def revoke_seat(self, actor: Principal, subscription_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Take a seat back: its holder's grants become ``revoked``."""
        now = self._clock.now()
        async with self._uow() as uow:
            sub = self._seated(actor, await uow.subscriptions.lock(subscription_id), subscription_id)
            if not await uow.subscriptions.remove_seat(sub.id, user_id):
                raise NotFound("seat", user_id)
            await _Grants(uow, self._paths, now).revoke(sub, user_id)
            await uow.commit()

    async def seats(
        self, actor: Principal, subscription_id: uuid.UUID, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[uuid.UUID]:
        """The seat holders, in user id order, paged (an organization may hold thousands of seats)."""
        limit = check_page_size(limit)
        listing = scope_of("subscription-seats", subscription_id)
        after = self._cursors.after(listing, cursor, uuid_key)
        async with self._uow() as uow:
            sub = self._seated(actor, await uow.subscriptions.get(subscription_id), subscription_id)
            holders = await uow.subscriptions.seats(sub.id, after=after, limit=limit + 1)
        return self._cursors.page(listing, holders, limit, lambda user_id: [str(user_id)])

    # -- the work of time (the jobs) -------------------------------------------------------------

    async def renew_due(self, limit: int) -> int:
        """One batch of the ``subscriptions.renew`` job: trials and periods that ended (charged off
        session), trials to announce, incomplete subscriptions to expire. Returns how many moved."""
        return await self._advance_due(RENEWING, limit)

    async def dunning_due(self, limit: int) -> int:
        """One batch of the ``subscriptions.dunning`` job: past-due subscriptions whose retry is due."""
        return await self._advance_due(DUNNING, limit)

    async def _advance_due(self, statuses: frozenset[Status], limit: int) -> int:
        now = self._clock.now()
        async with self._uow() as uow:
            ids = await uow.subscriptions.due(now, statuses, None, limit)
        moved = 0
        for subscription_id in ids:
            try:
                moved += await self._advance(subscription_id, statuses, now)
            except GatewayUnavailable:
                # Nothing was committed; the next run charges again with the same key (never twice).
                log.warning("gateway unavailable for subscription %s; it is retried next run", subscription_id)
        return moved

    async def _advance(self, subscription_id: uuid.UUID, statuses: frozenset[Status], now: datetime) -> int:
        async with self._uow() as uow:
            sub = await uow.subscriptions.lock(subscription_id)
            if sub is None or sub.status not in statuses:
                return 0  # another run moved it meanwhile
            before = (sub.status, sub.period_start, sub.attempts, sub.trial_notified)
            charge = sub.due(now, self.dunning)
            if charge is not None:
                if charge.amount == 0:
                    sub.paid(charge, None, now)
                else:
                    self._apply(sub, charge, await self._charge(sub, charge, off_session=True), now)
            if (sub.status, sub.period_start, sub.attempts, sub.trial_notified) == before and charge is None:
                return 0
            await self._settle(uow, sub, now)
        return 1

    # -- asynchronous payment outcomes (the payment.*.v1 events) ------------------------------------

    async def record_payment_outcome(self, event: PaymentOutcome) -> bool:
        """Apply a payment's outcome reported by webhook to the subscription its metadata names: the
        source of truth for payments that finished after the request (authentication, processing).
        True when it changed the subscription; a repeat or a stale outcome changes nothing."""
        meta = event.metadata
        if "subscription_id" not in meta or meta.get("charge") == ChargeKind.CHANGE.value:
            return False
        now = self._clock.now()
        async with self._uow() as uow:
            sub = await uow.subscriptions.lock(uuid.UUID(meta["subscription_id"]))
            if sub is None:
                return False
            charge = Charge(
                sub.id,
                ChargeKind(meta.get("charge", ChargeKind.RENEWAL.value)),
                datetime.fromisoformat(meta["period_start"]),
                event.amount,
                event.currency,
                meta.get("key", ""),
                int(meta.get("credit_used", "0")),
            )
            if isinstance(event, PaymentSucceeded):
                changed = sub.paid(charge, event.payment_id, now)
            elif isinstance(event, PaymentFailed):
                # Only a payment the subscription waits for: a failure it was told synchronously is known.
                changed = sub.pending_payment_id == event.payment_id and sub.failed(
                    charge, event.decline_code, now, self.dunning
                )
            elif isinstance(event, PaymentRequiresAction):
                changed = sub.action_required(charge, event.payment_id, now)
            else:
                changed = False
            if changed:
                await self._settle(uow, sub, now)
        return changed

    # -- what billing records ------------------------------------------------------------------------

    async def invoice_for(self, event: SubscriptionEvent) -> SubscriptionInvoice | None:
        """The invoice (and the payment to book on it) of a paid period or an upgrade's charge; None for
        the other events. ``order_ref`` names the period (or the change), so billing issues it once
        however often the event is delivered, and the payment is booked once per gateway payment."""
        if isinstance(event, SubscriptionActivated | SubscriptionRenewed):
            order_ref = f"subscription:{event.aggregate_id}:{event.period_start.isoformat()}"
            what = f"{event.plan_code}, {event.period_start:%Y-%m-%d} to {event.period_end:%Y-%m-%d}"
            if event.credit_used:
                what += f" (credit of {event.credit_used} minor units applied)"
            payment_id = event.payment_id
        elif isinstance(event, SubscriptionPlanChanged) and event.amount > 0:
            order_ref = f"subscription:{event.aggregate_id}:change:{event.event_id}"
            was = (
                f"{event.previous_plan} x {event.previous_seats} seats"
                if event.organization_id is not None and event.previous_seats is not None
                else event.previous_plan
            )
            what = f"change from {was} to {event.plan_code}, prorated to {event.period_end:%Y-%m-%d}"
            payment_id = event.payment_id
        else:
            return None
        async with self._uow() as uow:
            sub = await uow.subscriptions.get(event.aggregate_id)
            plan = await uow.plans.plan(event.plan_code)
            stored = None if sub is None else await uow.billing_profiles.get(sub.user_id)
        if sub is None:
            return None
        seats = f" x {event.seats} seats" if event.organization_id is not None else ""
        invoice = IssueInvoice(
            customer_id=sub.user_id,
            order_ref=order_ref,
            currency=event.currency,
            profile=_profile(sub, stored),
            lines=[
                LineInput(description=f"Subscription {what}{seats}", unit_price=event.amount, reference=str(sub.id))
            ],
            tax_inclusive=plan.tax_inclusive if plan is not None else True,
        )
        return SubscriptionInvoice(invoice, event.amount, payment_id)

    # -- helpers ---------------------------------------------------------------------------------

    async def _charge(self, sub: Subscription, charge: Charge, *, off_session: bool) -> Payment:
        metadata = charge.metadata() | {"credit_used": str(charge.credit_used)}
        return await self._gateway.create_payment(
            PaymentRequest(
                amount=Money(charge.amount, charge.currency),
                customer_id=sub.customer_id,
                payment_method_id=sub.payment_method_id,
                idempotency_key=charge.key,
                off_session=off_session,
                metadata=metadata,
            )
        )

    def _apply(self, sub: Subscription, charge: Charge, payment: Payment, now: datetime) -> None:
        if payment.status is PaymentStatus.SUCCEEDED:
            sub.paid(charge, payment.id, now)
        elif payment.status is PaymentStatus.FAILED:
            sub.failed(charge, payment.decline_code, now, self.dunning)
        else:  # requires action, or processing: the webhook tells the outcome
            sub.action_required(charge, payment.id, now)

    async def _settle(self, uow: SubscriptionUnitOfWork, sub: Subscription, now: datetime) -> None:
        sub.reschedule(self.dunning)
        await uow.subscriptions.save(sub)
        await _Grants(uow, self._paths, now).sync(sub, await uow.plans.plan(sub.plan_code))
        await uow.commit()

    async def _change(
        self, actor: Principal, subscription_id: uuid.UUID, step: Callable[[Subscription, datetime], None]
    ) -> Subscription:
        now = self._clock.now()
        async with self._uow() as uow:
            sub = self._visible(actor, await uow.subscriptions.lock(subscription_id), subscription_id)
            step(sub, now)
            await self._settle(uow, sub, now)
        return sub

    def _visible(self, actor: Principal, sub: Subscription | None, subscription_id: uuid.UUID) -> Subscription:
        """The subscription, for its payer, its organization's admins and billing managers; not found for
        anyone else (they learn nothing about it)."""
        if sub is not None and (
            (actor.user_id is not None and actor.user_id == sub.user_id)
            or (sub.organization_id is not None and self._org_admin(actor, sub.organization_id))
            or self._policy.authorize(actor, Permission.BILLING_MANAGE).allowed
        ):
            return sub
        raise NotFound("subscription", subscription_id)

    def _seated(self, actor: Principal, sub: Subscription | None, subscription_id: uuid.UUID) -> Subscription:
        sub = self._visible(actor, sub, subscription_id)
        if sub.organization_id is None:
            raise RuleBroken("not-an-organization-subscription", f"subscription {sub.id} has no seats")
        return sub

    def _org_admin(self, actor: Principal, organization_id: uuid.UUID) -> bool:
        """An admin of this organization (the role policy's ``organization_admin`` on its scope), or of the
        platform."""
        if self._policy.authorize(actor, Permission.BILLING_MANAGE).allowed:
            return True
        scope = Scope.organization(organization_id)
        return any(
            isinstance(g, RoleGrant) and g.role is Role.ORGANIZATION_ADMIN and g.scope == scope for g in actor.grants
        )


class _Grants:
    """The access a subscription gives, kept in step with it in the caller's unit of work: one grant per
    holder (the payer, or each seat's holder) of every course (``course_id`` None) or one per course the
    plan lists (paths resolved to their courses now)."""

    def __init__(self, uow: SubscriptionUnitOfWork, paths: CoursesOfPaths, now: datetime) -> None:
        self._uow, self._paths, self._now = uow, paths, now

    async def sync(self, sub: Subscription, plan: Plan | None, users: Sequence[uuid.UUID] | None = None) -> None:
        state = grant_state(sub)
        if state is None or plan is None:
            return
        status, ends = state
        courses = await self._courses(plan)
        source = Source.SUBSCRIPTION if sub.organization_id is None else Source.ORGANIZATION_SEAT
        if users is None:
            users = [sub.user_id] if sub.organization_id is None else await self._uow.subscriptions.seats(sub.id)
        for user in users:
            await self._sync_user(sub, user, source, courses, status, ends)

    async def revoke(self, sub: Subscription, user: uuid.UUID) -> None:
        for grant in await self._mine(sub, user):
            await self._save(grant, grant.with_status(GrantStatus.REVOKED, min(self._now, grant.ends_at or self._now)))

    async def _sync_user(
        self,
        sub: Subscription,
        user: uuid.UUID,
        source: Source,
        courses: list[uuid.UUID | None],
        status: GrantStatus,
        ends: datetime | None,
    ) -> None:
        existing = {g.course_id: g for g in await self._mine(sub, user)}
        store = self._uow.entitlements
        for course in courses:
            grant = existing.pop(course, None)
            if grant is None:
                if status is GrantStatus.ACTIVE:
                    new = Grant(user, course, source, status, self._now, ends, reference(sub.id))
                    await store.add_grant(new, self._now)
                    store.record(EntitlementGranted.of(new, self._now))
            elif (grant.status, grant.ends_at) != (status, ends):
                await self._save(grant, grant.with_status(status, ends))
        for dropped in existing.values():  # a course the new plan does not include
            if dropped.status is not GrantStatus.CANCELED:
                await self._save(dropped, dropped.with_status(GrantStatus.CANCELED, self._now))

    async def _mine(self, sub: Subscription, user: uuid.UUID) -> list[Grant]:
        ref = reference(sub.id)
        grants = await self._uow.entitlements.grants_of_user(user)
        return [g for g in grants if g.reference == ref and g.status is not GrantStatus.REVOKED]

    async def _save(self, before: Grant, after: Grant) -> None:
        await self._uow.entitlements.save_grant(after, self._now)
        self._uow.entitlements.record(EntitlementChanged.of(before, after, self._now))

    async def _courses(self, plan: Plan) -> list[uuid.UUID | None]:
        if plan.includes.all_courses:
            return [None]
        courses: list[uuid.UUID | None] = list(plan.includes.course_ids)
        if plan.includes.path_ids:
            for course in await self._paths.courses_of_paths(plan.includes.path_ids):
                if course not in courses:
                    courses.append(course)
        return courses


async def _reachable(call: Awaitable[T]) -> T:
    """A gateway call made for a customer's request: a gateway that cannot be reached is a 503 to retry
    (with the same ``Idempotency-Key``: the charge's own key makes a retry safe), not a stack trace."""
    try:
        return await call
    except GatewayUnavailable as exc:
        raise DeadlineExceeded(
            "payment-gateway-unavailable", f"the payment provider could not be reached ({exc}); try again"
        ) from None
    except GatewayRefused as exc:
        raise RuleBroken("payment-refused", str(exc)) from None


def _user(actor: Principal) -> uuid.UUID:
    if actor.user_id is None:
        raise Unauthenticated("subscriptions belong to a user's sign-in")
    return actor.user_id


def _method(methods: list[SavedMethod], wanted: str | None) -> SavedMethod:
    if wanted is None:
        default = next((m for m in methods if m.is_default), None)
        if default is None:
            raise RuleBroken("payment-method-required", "save a payment method first (POST /api/v1/me/payment-methods)")
        return default
    found = next((m for m in methods if m.id == wanted), None)
    if found is None:
        raise NotFound("payment method", wanted)
    return found


def _key(key: list[Any]) -> SubscriptionKey:
    at, subscription_id = key
    return datetime.fromisoformat(str(at)), uuid.UUID(str(subscription_id))


def _key_of(sub: Subscription) -> list[Any]:
    return [iso_time(sub.created_at), str(sub.id)]


def _profile(sub: Subscription, stored: BillingProfile | None) -> ProfileInput:
    """The customer's stored billing profile (address, evidence, tax id: reverse charge for businesses)
    as it is when the period is invoiced; without one, the name and country given when subscribing."""
    if stored is not None:
        return ProfileInput(
            name=stored.name,
            address=stored.address,
            country=stored.country,
            evidence=[EvidenceInput(kind=e.kind, country=e.country) for e in stored.evidence],
            tax_id=stored.tax_id,
        )
    return ProfileInput(
        name=sub.billing_name or str(sub.user_id),
        country=sub.billing_country,
        evidence=[EvidenceInput(kind=EvidenceKind.DECLARED, country=sub.billing_country)],
    )
