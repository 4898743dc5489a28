"""Subscriptions end to end on the in-memory unit of work and the fake gateway, with a fixed clock:
subscribing (trial, immediate charge, decline, authentication), renewals run twice for one period, the
dunning schedule, cancel/resume, plan changes with proration, seats, and the grants following each step."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from elearning_adapters.payments.fake import DECLINED, DECLINED_ON_CHARGE, REQUIRES_ACTION, card_token
from elearning_core.auth.model import Grant as RoleGrant
from elearning_core.auth.model import Role, Scope
from elearning_core.auth.service import user_principal
from elearning_core.entitlement.model import GrantStatus, Source
from elearning_core.payment.events import PaymentSucceeded
from elearning_core.shared.errors import NotFound
from elearning_core.shared.ports import Principal
from elearning_core.subscription.commands import AssignSeat, ChangePlan, SavePaymentMethod, Subscribe
from elearning_core.subscription.model import FinalAction, RuleBroken, Status
from elearning_core.subscription.service import PaymentDeclined
from tests.subscription_fakes import SUB_T0, SubscriptionWorld, a_plan, a_world

ALICE = uuid.UUID(int=1)
BOB = uuid.UUID(int=2)
ORG = uuid.UUID(int=100)
GOOD = "4242424242424242"


def me(user: uuid.UUID = ALICE, *grants: RoleGrant) -> Principal:
    return user_principal(user, grants, None, email_verified=True)


async def subscribed(world: SubscriptionWorld, card: str = GOOD, plan: str = "pro", **extra: object) -> uuid.UUID:
    world.add_users(ALICE, BOB)
    await world.service.save_payment_method(me(), SavePaymentMethod(token=card_token(card)))
    cmd = Subscribe.model_validate(
        {"plan_code": plan, "currency": "EUR", "billing_name": "Alice", "billing_country": "FR", **extra}
    )
    return (await world.service.subscribe(me(), cmd)).id


async def test_subscribing_charges_the_first_period_and_grants_every_course_until_its_end() -> None:
    world = a_world()
    world.add_plan(a_plan())
    sub_id = await subscribed(world)
    sub = await world.service.subscription(me(), sub_id)
    assert sub.status is Status.ACTIVE
    assert (sub.period_start, sub.period_end) == (SUB_T0, datetime(2026, 2, 28, 12, tzinfo=UTC))
    assert world.gateway.charges == 1
    [grant] = world.grants(ALICE)
    assert (grant.course_id, grant.status, grant.ends_at) == (None, GrantStatus.ACTIVE, sub.period_end)
    assert grant.source is Source.SUBSCRIPTION
    assert world.types() == ["subscription.created.v1", "subscription.activated.v1"]


async def test_a_declined_first_payment_keeps_nothing() -> None:
    world = a_world()
    world.add_plan(a_plan())
    with pytest.raises(PaymentDeclined, match="card_declined"):
        await subscribed(world, DECLINED_ON_CHARGE)
    assert world.data.subscriptions == {}
    assert world.grants(ALICE) == []


async def test_saving_a_declined_card_is_refused_naming_the_decline() -> None:
    world = a_world()
    world.add_users(ALICE)
    with pytest.raises(PaymentDeclined, match="card_declined") as refused:
        await world.service.save_payment_method(me(), SavePaymentMethod(token=card_token(DECLINED)))
    assert refused.value.rule == "payment-declined"


async def test_the_renewal_job_run_twice_for_one_period_charges_once() -> None:
    world = a_world()
    world.add_plan(a_plan())
    sub_id = await subscribed(world)
    world.clock.advance(timedelta(days=29))  # 1 March 12:00 > 28 February 12:00
    assert await world.service.renew_due(100) == 1
    assert await world.service.renew_due(100) == 0
    sub = await world.service.subscription(me(), sub_id)
    assert world.gateway.charges == 2
    assert (sub.period_start, sub.period_end) == (
        datetime(2026, 2, 28, 12, tzinfo=UTC),
        datetime(2026, 3, 31, 12, tzinfo=UTC),  # from the anchor, no drift from February's clamping
    )
    assert world.grants(ALICE)[0].ends_at == sub.period_end
    assert world.types()[-1] == "subscription.renewed.v1"


async def test_dunning_retries_on_schedule_then_suspends() -> None:
    world = a_world(retry_days=(1, 3))
    world.add_plan(a_plan())
    sub_id = await subscribed(world)
    # The customer's card starts failing: replace the saved method's card (the fake keeps it by id).
    sub = await world.service.subscription(me(), sub_id)
    world.gateway._methods[sub.payment_method_id] = (sub.customer_id, DECLINED_ON_CHARGE)
    start = datetime(2026, 2, 28, 12, tzinfo=UTC)
    world.clock.advance(start - SUB_T0)
    await world.service.renew_due(100)
    sub = await world.service.subscription(me(), sub_id)
    assert (sub.status, sub.attempts, sub.next_retry_at) == (Status.PAST_DUE, 1, start + timedelta(days=1))
    assert world.grants(ALICE)[0].status is GrantStatus.PAST_DUE
    world.clock.advance(timedelta(hours=23))
    assert await world.service.dunning_due(100) == 0  # not yet
    world.clock.advance(timedelta(hours=1))
    assert await world.service.dunning_due(100) == 1
    assert await world.service.dunning_due(100) == 0  # run twice: one retry
    sub = await world.service.subscription(me(), sub_id)
    assert (sub.attempts, sub.next_retry_at) == (2, start + timedelta(days=3))
    world.clock.advance(timedelta(days=2))
    await world.service.dunning_due(100)
    sub = await world.service.subscription(me(), sub_id)
    assert sub.status is Status.UNPAID
    assert world.grants(ALICE)[0].status is GrantStatus.PAST_DUE
    failed = [e for e in world.types() if e == "subscription.payment_failed.v1"]
    assert len(failed) == 3
    assert world.types()[-1] == "subscription.suspended.v1"


async def test_dunning_may_cancel_after_the_last_retry() -> None:
    world = a_world(retry_days=(), final=FinalAction.CANCELED)
    world.add_plan(a_plan())
    sub_id = await subscribed(world)
    sub = await world.service.subscription(me(), sub_id)
    world.gateway._methods[sub.payment_method_id] = (sub.customer_id, DECLINED_ON_CHARGE)
    world.clock.advance(timedelta(days=29))
    await world.service.renew_due(100)
    sub = await world.service.subscription(me(), sub_id)
    assert sub.status is Status.CANCELED
    assert world.grants(ALICE)[0].status is GrantStatus.CANCELED


async def test_a_trial_charges_nothing_announces_its_end_then_charges() -> None:
    world = a_world()
    world.add_plan(a_plan(trial_days=14))
    sub_id = await subscribed(world)
    sub = await world.service.subscription(me(), sub_id)
    assert (sub.status, world.gateway.charges) == (Status.TRIALING, 0)
    assert world.grants(ALICE)[0].ends_at == SUB_T0 + timedelta(days=14)
    world.clock.advance(timedelta(days=11))
    await world.service.renew_due(100)
    assert world.types()[-1] == "subscription.trial_ending.v1"
    await world.service.renew_due(100)
    assert world.types().count("subscription.trial_ending.v1") == 1
    world.clock.advance(timedelta(days=3))
    await world.service.renew_due(100)
    sub = await world.service.subscription(me(), sub_id)
    assert (sub.status, world.gateway.charges) == (Status.ACTIVE, 1)
    assert sub.period_start == SUB_T0 + timedelta(days=14)
    assert world.types()[-1] == "subscription.activated.v1"


async def test_a_payment_needing_authentication_waits_for_confirm_payment() -> None:
    world = a_world()
    world.add_plan(a_plan())
    sub_id = await subscribed(world, REQUIRES_ACTION)
    sub = await world.service.subscription(me(), sub_id)
    assert sub.status is Status.INCOMPLETE
    assert sub.pending_payment_id is not None
    assert world.grants(ALICE) == []
    assert "subscription.payment_action_required.v1" in world.types()
    world.gateway.authenticate(sub.pending_payment_id)
    sub = await world.service.confirm_payment(me(), sub_id)
    assert sub.status is Status.ACTIVE
    assert world.grants(ALICE)[0].status is GrantStatus.ACTIVE


async def test_the_webhook_and_the_synchronous_answer_pay_the_period_once() -> None:
    world = a_world()
    world.add_plan(a_plan())
    sub_id = await subscribed(world, REQUIRES_ACTION)
    sub = await world.service.subscription(me(), sub_id)
    assert sub.pending_payment_id is not None
    world.gateway.authenticate(sub.pending_payment_id)
    payment = await world.gateway.confirm_payment(sub.pending_payment_id)
    event = PaymentSucceeded(
        occurred_at=SUB_T0,
        aggregate_id=uuid.uuid4(),
        provider="fake",
        payment_id=payment.id,
        amount=payment.amount.amount,
        currency="EUR",
        metadata=payment.metadata,
        provider_event_id="evt_1",
    )
    assert await world.service.record_payment_outcome(event) is True
    assert await world.service.record_payment_outcome(event) is False
    with pytest.raises(RuleBroken, match="no payment"):
        await world.service.confirm_payment(me(), sub_id)
    assert world.types().count("subscription.activated.v1") == 1


async def test_cancel_at_period_end_then_resume_then_cancel_expires_at_the_end() -> None:
    world = a_world()
    world.add_plan(a_plan())
    sub_id = await subscribed(world)
    await world.service.cancel(me(), sub_id, at_period_end=True)
    await world.service.resume(me(), sub_id)
    await world.service.cancel(me(), sub_id, at_period_end=True)
    world.clock.advance(timedelta(days=40))
    await world.service.renew_due(100)
    sub = await world.service.subscription(me(), sub_id)
    assert sub.status is Status.EXPIRED
    assert world.gateway.charges == 1
    [grant] = world.grants(ALICE)
    assert (grant.status, grant.ends_at) == (GrantStatus.CANCELED, datetime(2026, 2, 28, 12, tzinfo=UTC))
    with pytest.raises(RuleBroken) as refused:
        await world.service.resume(me(), sub_id)
    assert refused.value.rule == "subscription-ended"


async def test_an_upgrade_is_charged_prorated_now_and_a_downgrade_credited_to_the_next_renewal() -> None:
    world = a_world()
    world.add_plan(a_plan("pro", 2800))
    world.add_plan(a_plan("max", 5600))
    sub_id = await subscribed(world)  # 31 Jan -> 28 Feb: 28 days
    world.clock.advance(timedelta(days=14))  # half of the period left
    up = await world.service.change_plan(me(), sub_id, ChangePlan(plan_code="max"))
    assert (up.proration.credit, up.proration.charge, up.charged) == (1400, 2800, 1400)
    down = await world.service.change_plan(me(), sub_id, ChangePlan(plan_code="pro"))
    assert (down.proration.credit, down.proration.charge, down.charged) == (2800, 1400, 0)
    assert down.subscription.credit == 1400
    world.clock.advance(timedelta(days=14))
    await world.service.renew_due(100)
    payments = [p.amount.amount for p in world.gateway._payments.values()]
    assert payments == [2800, 1400, 2800 - 1400]


async def test_a_stranger_learns_nothing_of_a_subscription() -> None:
    world = a_world()
    world.add_plan(a_plan())
    sub_id = await subscribed(world)
    with pytest.raises(NotFound):
        await world.service.subscription(me(BOB), sub_id)
    with pytest.raises(NotFound):
        await world.service.cancel(me(BOB), sub_id, at_period_end=False)


async def an_organization_world() -> tuple[SubscriptionWorld, Principal]:
    """A world with a plan, ALICE the organization's admin (with a saved card) and BOB its member."""
    world = a_world()
    world.add_plan(a_plan())
    admin = me(ALICE, RoleGrant(Role.ORGANIZATION_ADMIN, Scope.organization(ORG)))
    world.add_users(ALICE, BOB)
    world.members.members.add((ORG, BOB))
    await world.service.save_payment_method(admin, SavePaymentMethod(token=card_token(GOOD)))
    return world, admin


async def test_organization_seats_follow_the_subscription_and_a_revoked_seat_is_revoked() -> None:
    world, admin = await an_organization_world()
    cmd = Subscribe(
        plan_code="pro", currency="EUR", organization_id=ORG, seats=1, billing_name="Org", billing_country="DE"
    )
    sub = await world.service.subscribe(admin, cmd)
    assert world.gateway._payments
    assert next(iter(world.gateway._payments.values())).amount.amount == 1900
    with pytest.raises(RuleBroken, match="does not belong"):
        await world.service.assign_seat(admin, sub.id, AssignSeat(user_id=ALICE))
    await world.service.assign_seat(admin, sub.id, AssignSeat(user_id=BOB))
    [grant] = world.grants(BOB)
    assert (grant.source, grant.status) == (Source.ORGANIZATION_SEAT, GrantStatus.ACTIVE)
    world.members.members.add((ORG, ALICE))
    with pytest.raises(RuleBroken) as full:
        await world.service.assign_seat(admin, sub.id, AssignSeat(user_id=ALICE))
    assert full.value.rule == "no-seat-left"
    await world.service.revoke_seat(admin, sub.id, BOB)
    assert world.grants(BOB)[0].status is GrantStatus.REVOKED
    with pytest.raises(NotFound):
        await world.service.subscribe(me(BOB), cmd)  # not this organization's admin


def test_subscribe_input_names_bad_fields() -> None:
    good = {"plan_code": "pro", "currency": "EUR", "billing_name": "Ada", "billing_country": "fr"}
    assert Subscribe.model_validate(good).billing_country == "FR"
    for field, value in [("billing_country", "F1"), ("billing_name", "   "), ("currency", "XXX"), ("seats", 2)]:
        with pytest.raises(ValidationError) as refused:
            Subscribe.model_validate({**good, field: value})
        assert field in str(refused.value)


async def test_listed_courses_and_paths_give_one_grant_each_and_a_plan_change_moves_them() -> None:
    c1, c2, c3 = uuid.UUID(int=501), uuid.UUID(int=502), uuid.UUID(int=503)
    path = uuid.UUID(int=600)
    world = a_world(paths={path: [c2, c3]})
    world.add_plan(a_plan("listed", 1000, all_courses=False, course_ids=(c1,), path_ids=(path,)))
    world.add_plan(a_plan("everything", 1000))
    sub_id = await subscribed(world, plan="listed")
    assert sorted(str(g.course_id) for g in world.grants(ALICE)) == sorted(str(c) for c in (c1, c2, c3))
    await world.service.change_plan(me(), sub_id, ChangePlan(plan_code="everything"))
    by_course = {g.course_id: g.status for g in world.grants(ALICE)}
    assert by_course == {
        c1: GrantStatus.CANCELED,
        c2: GrantStatus.CANCELED,
        c3: GrantStatus.CANCELED,
        None: GrantStatus.ACTIVE,
    }


async def test_an_organization_buys_more_seats_prorated_and_cannot_go_below_the_assigned_ones() -> None:
    world, admin = await an_organization_world()
    world.members.members.add((ORG, ALICE))
    cmd = Subscribe(
        plan_code="pro", currency="EUR", organization_id=ORG, seats=2, billing_name="Org", billing_country="DE"
    )
    sub = await world.service.subscribe(admin, cmd)
    await world.service.assign_seat(admin, sub.id, AssignSeat(user_id=BOB))
    await world.service.assign_seat(admin, sub.id, AssignSeat(user_id=ALICE))
    charged_before = len(world.gateway._payments)

    # Half-way through the period, two more seats: the unused half of 2 seats is credited, half of 4 charged.
    world.clock.advance((sub.period_end - sub.period_start) / 2)
    up = await world.service.change_plan(admin, sub.id, ChangePlan(seats=4))
    assert (up.proration.credit, up.proration.charge) == (1900, 3800)
    assert up.subscription.seats == 4
    assert up.subscription.plan_code == "pro"
    assert up.charged == 1900
    assert len(world.gateway._payments) == charged_before + 1
    await world.service.assign_seat(admin, up.subscription.id, AssignSeat(user_id=ALICE))  # already seated: no-op

    with pytest.raises(RuleBroken) as in_use:
        await world.service.change_plan(admin, sub.id, ChangePlan(seats=1))
    assert in_use.value.rule == "seats-in-use"
    assert (await world.service.subscription(admin, sub.id)).seats == 4  # nothing changed

    down = await world.service.change_plan(admin, sub.id, ChangePlan(seats=2))
    assert down.subscription.seats == 2
    assert down.charged == 0
    assert (down.proration.credit, down.proration.charge) == (3800, 1900)
    assert down.subscription.credit == 1900
    with pytest.raises(RuleBroken) as same:
        await world.service.change_plan(admin, sub.id, ChangePlan(seats=2, plan_code="pro"))
    assert same.value.rule == "same-plan"


async def test_a_personal_subscription_has_no_seats_to_change() -> None:
    world = a_world()
    world.add_plan(a_plan())
    world.add_users(ALICE)
    await world.service.save_payment_method(me(), SavePaymentMethod(token=card_token(GOOD)))
    good = {"plan_code": "pro", "currency": "EUR", "billing_name": "Ada", "billing_country": "FR"}
    sub = await world.service.subscribe(me(), Subscribe.model_validate(good))
    with pytest.raises(RuleBroken) as refused:
        await world.service.change_plan(me(), sub.id, ChangePlan(seats=3))
    assert refused.value.rule == "not-an-organization-subscription"
    with pytest.raises(ValidationError, match="give plan_code, seats or both"):
        ChangePlan.model_validate({})
