"""Subscriptions on the embedded platform (a SQLite file, then PostgreSQL), through the real wiring: the
in-process events, the payment webhooks, the billing subscription and the scheduler's jobs.

A webhook reporting success before the synchronous answer, after it, and repeated gives one activation,
one invoice per period and one ledger posting per payment; the renewal job run twice for a period charges
once; dunning retries on its schedule (a fixed clock) and then suspends; the ledger stays balanced after
each step."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from dependency_injector import providers

from elearning_adapters.container import Platform, bootstrap
from elearning_adapters.payments.fake import (
    DECLINED_ON_CHARGE,
    REQUIRES_ACTION,
    SUCCEEDS,
    FakePaymentGateway,
    card_token,
)
from elearning_adapters.settings import Settings
from elearning_core.auth.service import user_principal
from elearning_core.billing.commands import EvidenceInput, ProfileInput
from elearning_core.billing.ledger import Account
from elearning_core.billing.model import EvidenceKind, TaxTreatment
from elearning_core.entitlement.model import GrantStatus
from elearning_core.identity.model import User
from elearning_core.payment.model import GatewayEvent, Money, WebhookKind
from elearning_core.payment.service import WebhookOutcome
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.ports import SYSTEM, Principal
from elearning_core.subscription.commands import SavePaymentMethod, Subscribe
from elearning_core.subscription.model import RuleBroken, Status
from tests.conftest import truncate_all
from tests.subscription_fakes import SUB_T0, a_plan

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def platform(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Platform, FixedClock]]:
    clock = FixedClock(SUB_T0)
    if request.param == "sqlite":
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'platform.db'}", data_dir=tmp_path)
        platform = await bootstrap(settings)
    else:
        settings = Settings(database_url=request.getfixturevalue("postgres_url"), data_dir=tmp_path)
        platform = await bootstrap(settings, run_migrations=False)
        await truncate_all(platform.database)
    platform.container.adapters.clock.override(providers.Object(clock))
    try:
        yield platform, clock
    finally:
        await platform.aclose()


async def a_user(platform: Platform) -> Principal:
    user = User.register(email=f"{uuid.uuid4().hex[:10]}@example.org", display_name="A", at=SUB_T0, password_hash=None)
    async with platform.container.adapters.unit_of_work() as uow:
        uow.users.add(user)
        await uow.plans.save(a_plan("pro", 1900))
        await uow.commit()
    return user_principal(user.id, (), None, email_verified=True)


def succeeded(event_id: str, payment_id: str, amount: int, metadata: dict[str, str]) -> GatewayEvent:
    return GatewayEvent(
        provider="fake",
        event_id=event_id,
        provider_type="payment.succeeded",
        kind=WebhookKind.SUCCEEDED,
        payment_id=payment_id,
        amount=Money(amount, "EUR"),
        payload={},
        metadata=metadata,
    )


async def books(platform: Platform, me: Principal) -> tuple[int, int]:
    """(invoices of the customer, receivables left), after asserting the ledger balances."""
    balances = await platform.billing.balances(SYSTEM)
    assert sum(b.amount for b in balances) == 0
    receivable = sum(b.amount for b in balances if b.account is Account.RECEIVABLES)
    return len((await platform.billing.mine(me, limit=100)).items), receivable


async def test_a_webhook_before_after_and_again_pays_and_books_each_period_once(
    platform: tuple[Platform, FixedClock],
) -> None:
    app, clock = platform
    events = app.events
    assert events is not None
    gateway = app.container.payment.gateway()
    assert isinstance(gateway, FakePaymentGateway)
    me = await a_user(app)
    subs = app.subscriptions
    await subs.save_payment_method(me, SavePaymentMethod(token=card_token(REQUIRES_ACTION)))
    cmd = Subscribe(plan_code="pro", currency="EUR", billing_name="Ada", billing_country="FR")
    sub = await subs.subscribe(me, cmd)
    assert sub.status is Status.INCOMPLETE
    assert sub.pending_payment_id is not None

    # The customer authenticates; the provider's webhook arrives before the platform asks (confirm-payment).
    gateway.authenticate(sub.pending_payment_id)
    payment = await gateway.confirm_payment(sub.pending_payment_id)
    first = succeeded("evt_1", payment.id, payment.amount.amount, payment.metadata)
    assert await app.payments.record_webhook(first) is WebhookOutcome.APPLIED
    await events.drain()
    assert (await subs.subscription(me, sub.id)).status is Status.ACTIVE
    with pytest.raises(RuleBroken, match="no payment"):
        await subs.confirm_payment(me, sub.id)  # the synchronous answer, after: nothing left to do
    assert await app.payments.record_webhook(first) is WebhookOutcome.DUPLICATE
    await events.drain()
    assert await books(app, me) == (1, 0)

    # Renewal: the card now charges off session without a step; the job runs twice for the period.
    async with app.container.adapters.unit_of_work() as uow:
        stored = await uow.subscriptions.get(sub.id)
    assert stored is not None
    gateway._methods[stored.payment_method_id] = (stored.customer_id, SUCCEEDS)
    charges = gateway.charges
    clock.advance(timedelta(days=29))
    runner = app.container.scheduling.scheduler()
    assert (await runner.run_now("subscriptions.renew")).result == "moved 1 subscription(s)"
    assert (await runner.run_now("subscriptions.renew")).result == "moved 0 subscription(s)"
    assert gateway.charges == charges + 1
    await events.drain()
    renewed = await subs.subscription(me, sub.id)
    assert renewed.status is Status.ACTIVE
    assert renewed.paid_through == renewed.period_end

    # The webhook of the renewal's payment arrives after the synchronous answer, twice: no second booking.
    renewal = next(p for p in gateway._payments.values() if p.metadata.get("charge") == "renewal")
    late = succeeded("evt_2", renewal.id, renewal.amount.amount, renewal.metadata)
    assert await app.payments.record_webhook(late) is WebhookOutcome.APPLIED
    assert await app.payments.record_webhook(late) is WebhookOutcome.DUPLICATE
    await events.drain()
    assert await books(app, me) == (2, 0)


async def test_dunning_through_the_scheduler_retries_on_schedule_then_suspends(
    platform: tuple[Platform, FixedClock],
) -> None:
    app, clock = platform
    gateway = app.container.payment.gateway()
    assert isinstance(gateway, FakePaymentGateway)
    me = await a_user(app)
    await app.subscriptions.save_payment_method(me, SavePaymentMethod(token=card_token(SUCCEEDS)))
    cmd = Subscribe(plan_code="pro", currency="EUR", billing_name="Ada", billing_country="FR")
    sub = await app.subscriptions.subscribe(me, cmd)
    gateway._methods[sub.payment_method_id] = (sub.customer_id, DECLINED_ON_CHARGE)
    runner = app.container.scheduling.scheduler()
    clock.advance(sub.period_end - SUB_T0)
    assert (await runner.run_now("subscriptions.renew")).result == "moved 1 subscription(s)"
    seen = []
    for days in (1, 3, 5):  # ELEARNING_DUNNING_RETRY_DAYS' default, from the period's start
        clock.advance(sub.period_end + timedelta(days=days) - clock.now() - timedelta(minutes=1))
        assert (await runner.run_now("subscriptions.dunning")).result == "retried 0 past-due subscription(s)"
        clock.advance(timedelta(minutes=1))
        assert (await runner.run_now("subscriptions.dunning")).result == "retried 1 past-due subscription(s)"
        assert (await runner.run_now("subscriptions.dunning")).result == "retried 0 past-due subscription(s)"
        seen.append((await app.subscriptions.subscription(me, sub.id)).status)
    assert seen == [Status.PAST_DUE, Status.PAST_DUE, Status.UNPAID]
    async with app.container.adapters.unit_of_work() as uow:
        (grant,) = await uow.entitlements.grants_of_user(sub.user_id)
    assert grant.status is GrantStatus.PAST_DUE
    assert grant.ends_at == sub.period_end
    assert app.events is not None
    await app.events.drain()
    assert await books(app, me) == (1, 0)  # only the first period was paid and invoiced


async def test_a_period_is_invoiced_to_the_stored_billing_profile_with_its_reverse_charge(
    platform: tuple[Platform, FixedClock],
) -> None:
    """A business that stored its billing profile (another member state than the seller's Germany, a VAT number) is invoiced to it,
    not to the name and country declared when subscribing: reverse charge, the tax id on the invoice."""
    app, _clock = platform
    events = app.events
    assert events is not None
    me = await a_user(app)
    profile = ProfileInput(
        name="Lovelace BV",
        address="Damrak 1, Amsterdam",
        country="NL",
        evidence=[EvidenceInput(kind=EvidenceKind.BILLING_ADDRESS, country="NL")],
        tax_id="NL123456789B01",
    )
    await app.checkout.set_profile(me, profile)
    await app.subscriptions.save_payment_method(me, SavePaymentMethod(token=card_token(SUCCEEDS)))
    sub = await app.subscriptions.subscribe(
        me, Subscribe(plan_code="pro", currency="EUR", billing_name="Ada", billing_country="FR")
    )
    assert sub.status is Status.ACTIVE
    await events.drain()
    (invoice,) = (await app.billing.mine(me, limit=10)).items
    assert (invoice.profile.name, invoice.profile.country, invoice.profile.tax_id) == (
        "Lovelace BV",
        "NL",
        "NL123456789B01",
    )
    assert invoice.tax.treatment is TaxTreatment.REVERSE_CHARGE
    assert await books(app, me) == (1, 0)
