"""The subscription state machine under random histories (Hypothesis stateful), through the service on the
in-memory unit of work and the fake gateway: payments that succeed, fail or need authentication, time
passing (the renewal and dunning jobs, run twice each time), cancel, resume and plan changes.

Invariants after every step: only legal states and transitions; the grants' status and end match the
subscription's; never two charges for one period; and the money charged minus the credit still held equals
the sum of the paid periods' prices and of the plan changes' prorated nets."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from elearning_adapters.payments.fake import DECLINED_ON_CHARGE, REQUIRES_ACTION, card_token
from elearning_core.auth.service import user_principal
from elearning_core.payment.model import PaymentStatus
from elearning_core.shared.errors import DomainError
from elearning_core.subscription.commands import ChangePlan, SavePaymentMethod, Subscribe
from elearning_core.subscription.events import (
    SubscriptionActivated,
    SubscriptionEvent,
    SubscriptionPlanChanged,
    SubscriptionRenewed,
)
from elearning_core.subscription.model import Status, Subscription
from elearning_core.subscription.service._subscriptions import grant_state, reference
from tests.subscription_fakes import a_plan, a_world

T = TypeVar("T")
USER = uuid.UUID(int=1)
ME = user_principal(USER, (), None, email_verified=True)
GOOD = "4242424242424242"
CARDS = {"ok": GOOD, "fail": DECLINED_ON_CHARGE, "action": REQUIRES_ACTION}
PRICES = {"basic": 1000, "pro": 2900, "max": 9900}

LEGAL = {
    Status.INCOMPLETE: {Status.INCOMPLETE, Status.ACTIVE, Status.EXPIRED, Status.CANCELED},
    Status.TRIALING: {Status.TRIALING, Status.ACTIVE, Status.PAST_DUE, Status.EXPIRED, Status.CANCELED},
    Status.ACTIVE: {Status.ACTIVE, Status.PAST_DUE, Status.EXPIRED, Status.CANCELED},
    Status.PAST_DUE: {Status.PAST_DUE, Status.ACTIVE, Status.UNPAID, Status.CANCELED},
    Status.UNPAID: {Status.UNPAID, Status.CANCELED},
    Status.CANCELED: {Status.CANCELED},
    Status.EXPIRED: {Status.EXPIRED},
}


class SubscriptionLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.world = a_world(retry_days=(1, 3, 5))
        for code, amount in PRICES.items():
            self.world.add_plan(a_plan(code, amount, trial_days=7 if code == "basic" else 0))
        self.world.add_users(USER)
        self.sub_id: uuid.UUID | None = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.loop.close()

    def card(self, which: str) -> None:
        """The customer's saved card now behaves like this test card (the fake keeps cards by method id)."""
        gateway = self.world.gateway
        for method_id, (customer, _number) in list(gateway._methods.items()):
            gateway._methods[method_id] = (customer, CARDS[which])

    def sub(self) -> Subscription:
        assert self.sub_id is not None
        return self.world.data.subscriptions[self.sub_id]

    @initialize(plan=st.sampled_from(sorted(PRICES)), first=st.sampled_from(["ok", "action"]))
    def subscribe(self, plan: str, first: str) -> None:
        self.run(self.world.service.save_payment_method(ME, SavePaymentMethod(token=card_token(GOOD))))
        self.card(first)
        cmd = Subscribe(plan_code=plan, currency="EUR", billing_name="A", billing_country="FR")
        self.sub_id = self.run(self.world.service.subscribe(ME, cmd)).id

    @rule(which=st.sampled_from(sorted(CARDS)))
    def card_behaves(self, which: str) -> None:
        self.card(which)

    @rule(days=st.integers(min_value=1, max_value=40))
    def time_passes(self, days: int) -> None:
        """A day at a time, the jobs running (twice: a rerun of a period does nothing) every day."""
        for _ in range(days):
            self.world.clock.advance(timedelta(days=1))
            for _ in range(2):
                self.run(self.world.service.renew_due(10))
                self.run(self.world.service.dunning_due(10))

    @rule(at_period_end=st.booleans())
    def cancel(self, at_period_end: bool) -> None:
        assert self.sub_id is not None
        self.attempt(self.world.service.cancel(ME, self.sub_id, at_period_end=at_period_end))

    @rule()
    def resume(self) -> None:
        assert self.sub_id is not None
        self.attempt(self.world.service.resume(ME, self.sub_id))

    @rule(plan=st.sampled_from(sorted(PRICES)), hours=st.integers(min_value=0, max_value=24 * 27))
    def change_plan(self, plan: str, hours: int) -> None:
        assert self.sub_id is not None
        self.world.clock.advance(timedelta(hours=hours))
        self.attempt(self.world.service.change_plan(ME, self.sub_id, ChangePlan(plan_code=plan)))

    @rule(authenticated=st.booleans())
    def confirm_payment(self, authenticated: bool) -> None:
        assert self.sub_id is not None
        pending = self.sub().pending_payment_id
        if pending is not None and self.world.gateway._payments[pending].status is PaymentStatus.REQUIRES_ACTION:
            self.world.gateway.authenticate(pending, success=authenticated)
        self.attempt(self.world.service.confirm_payment(ME, self.sub_id))

    def attempt(self, coro: Coroutine[Any, Any, object]) -> None:
        """A request the rules may refuse: a refusal is a domain error and changes nothing."""
        with contextlib.suppress(DomainError):
            self.run(coro)

    @invariant()
    def only_legal_states_and_transitions(self) -> None:
        """Every step's event carries the state it left the subscription in: each consecutive pair is legal."""
        if self.sub_id is None:
            return
        states = [Status(e.status) for e in self.world.data.outbox if isinstance(e, SubscriptionEvent)]
        states.append(self.sub().status)
        for before, after in itertools.pairwise(states):
            assert after in LEGAL[before], (before, after)
        for status in set(states):
            event(f"reached {status.value}")  # --hypothesis-show-statistics: every state is visited

    @invariant()
    def grants_follow_the_subscription(self) -> None:
        if self.sub_id is None:
            return
        sub = self.sub()
        mine = [g for g in self.world.grants(USER) if g.reference == reference(sub.id)]
        state = grant_state(sub)
        if state is None:
            assert mine == []
            return
        if mine:  # a subscription canceled before any grant has none
            assert {(g.status, g.ends_at) for g in mine} == {state}

    @invariant()
    def never_two_charges_for_one_period(self) -> None:
        periods = [
            (p.metadata["subscription_id"], p.metadata["period_start"])
            for p in self.world.gateway._payments.values()
            if p.status is PaymentStatus.SUCCEEDED and p.metadata.get("charge") != "change"
        ]
        assert len(periods) == len(set(periods))

    @invariant()
    def money_charged_minus_credit_held_is_what_was_due(self) -> None:
        if self.sub_id is None:
            return
        charged = sum(
            p.amount.amount for p in self.world.gateway._payments.values() if p.status is PaymentStatus.SUCCEEDED
        )
        due = 0
        for step in self.world.data.outbox:
            if isinstance(step, SubscriptionActivated | SubscriptionRenewed):
                due += PRICES[step.plan_code] * step.seats
            elif isinstance(step, SubscriptionPlanChanged):
                due += step.charge - step.credit
        assert charged - self.sub().credit == due
        assert self.sub().credit >= 0


SubscriptionLifecycle.TestCase.settings = settings(
    max_examples=200, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestSubscriptionLifecycle = SubscriptionLifecycle.TestCase
