"""The subscription module's wiring: the plan catalog's service; the subscription service (on the shared
unit of work, charging through the payment module's gateway, reading path courses and organization
membership through narrow reads); its two subscriptions (``subscription-payments``: the ``payment.*.v1``
outcomes of subscription charges; ``subscription-billing``: each paid period or upgrade invoiced and its
payment booked, once); and the jobs ``subscriptions.renew`` and ``subscriptions.dunning``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from dependency_injector import providers
from sqlalchemy.ext.asyncio import AsyncConnection

import elearning_core.payment.events as payment_events
import elearning_core.subscription.events as subscription_events
from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.events import Subscription
from elearning_adapters.settings import Settings
from elearning_adapters.sql.subscription import SqlCoursesOfPaths, SqlMemberships
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.billing.commands import Capture
from elearning_core.billing.ports import BillingUnitOfWork
from elearning_core.billing.service import BillingService
from elearning_core.payment.ports import PaymentGateway
from elearning_core.scheduling.model import Job, Period, Schedule, in_batches
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ports import SYSTEM
from elearning_core.subscription.model import DunningPolicy, FinalAction
from elearning_core.subscription.ports import SubscriptionUnitOfWork
from elearning_core.subscription.service import PlanService, SubscriptionService

SUBSCRIPTION_PAYMENTS = "subscription-payments"
SUBSCRIPTION_BILLING = "subscription-billing"
RENEW = "subscriptions.renew"
DUNNING = "subscriptions.dunning"
JOB_BATCH = 100
JOB_MAX_BATCHES = 100
"""A bound on one run (10,000 subscriptions, each charged in its own transaction); the rest waits a period."""

JoinUnitOfWork = Callable[[AsyncConnection], SubscriptionUnitOfWork]
JoinBilling = Callable[[AsyncConnection], BillingUnitOfWork]
JoinBoth = Callable[[AsyncConnection], SqlUnitOfWork]
"""``SharedWiring.joined_unit_of_work``: the SQL unit of work serves every module's view."""


def _dunning(settings: Settings) -> DunningPolicy:
    return DunningPolicy(
        settings.dunning_retries, FinalAction(settings.dunning_final), timedelta(days=settings.trial_notice_days)
    )


def payments_subscription(join: JoinUnitOfWork, service: Callable[[], SubscriptionService]) -> Subscription:
    """Apply the outcomes of subscription payments the webhooks report (authentication completed, a
    payment processed later), in a unit of work joined to the dispatcher's transaction with its inbox row."""

    async def outcome(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, payment_events.PaymentOutcome)
        await service().joined(lambda: join(conn)).record_payment_outcome(event)

    return Subscription(
        name=SUBSCRIPTION_PAYMENTS,
        description="applies webhook-reported payment outcomes to the subscriptions they charged",
        handlers={
            payment_events.PaymentSucceeded.type: outcome,
            payment_events.PaymentFailed.type: outcome,
            payment_events.PaymentRequiresAction.type: outcome,
        },
    )


def billing_subscription(
    join: JoinUnitOfWork,
    join_billing: JoinBilling,
    service: Callable[[], SubscriptionService],
    billing: Callable[[], BillingService],
) -> Subscription:
    """Invoice each paid period and upgrade charge and book its payment in the ledger: once per period
    (the invoice's ``order_ref``) and once per gateway payment (the posting's key), however often the
    webhook and the synchronous answer report it or the event is redelivered."""

    async def paid(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, subscription_events.SubscriptionEvent)
        request = await service().joined(lambda: join(conn)).invoice_for(event)
        if request is None:
            return
        paid = None
        if request.payment_id is not None and request.amount > 0:
            paid = Capture(amount=request.amount, payment_ref=request.payment_id)
        await billing().joined(lambda: join_billing(conn)).issue_invoice(SYSTEM, request.invoice, paid)

    return Subscription(
        name=SUBSCRIPTION_BILLING,
        description="invoices each paid subscription period and upgrade, and books its payment in the ledger",
        handlers={
            subscription_events.SubscriptionActivated.type: paid,
            subscription_events.SubscriptionRenewed.type: paid,
            subscription_events.SubscriptionPlanChanged.type: paid,
        },
    )


def _subscriptions(
    join: JoinBoth, service: Callable[[], SubscriptionService], billing: Callable[[], BillingService]
) -> list[Subscription]:
    return [payments_subscription(join, service), billing_subscription(join, join, service, billing)]


def subscription_jobs(service: Callable[[], SubscriptionService], settings: Settings) -> list[Job]:
    """``subscriptions.renew`` (periods and trials that ended are charged off session; trials announced;
    incomplete ones expired) and ``subscriptions.dunning`` (past-due retries on the schedule). Both work
    by state: each subscription is moved in its own transaction under its row lock, and each charge
    carries its period's idempotency key, so a run repeated for a period charges nothing twice."""

    async def renew(period: Period) -> str:
        del period  # by state: whatever is due now
        moved = await in_batches(service().renew_due, JOB_BATCH, JOB_MAX_BATCHES)
        return f"moved {moved} subscription(s)"

    async def dunning(period: Period) -> str:
        del period
        moved = await in_batches(service().dunning_due, JOB_BATCH, JOB_MAX_BATCHES)
        return f"retried {moved} past-due subscription(s)"

    every = settings.subscription_renew_seconds
    schedule = Schedule(timedelta(seconds=every or 300))
    retry = timedelta(seconds=min(every or 300, 30))
    return [
        Job(
            RENEW,
            schedule,
            renew,
            description="charges the subscription periods and trials that ended (off session)",
            retry_after=retry,
            automatic=every > 0,
        ),
        Job(
            DUNNING,
            schedule,
            dunning,
            description="retries the failed renewals on the dunning schedule, then suspends or cancels",
            retry_after=retry,
            automatic=every > 0,
        ),
    ]


class SubscriptionWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)
    gateway: providers.Dependency[PaymentGateway] = providers.Dependency()
    """The payment module's gateway: subscriptions charge through it."""
    billing: providers.Dependency[BillingService] = providers.Dependency()
    """The billing module's service: the ``subscription-billing`` subscription records invoices through it."""

    plans = providers.Singleton(
        PlanService,
        uow=shared.unit_of_work.provider,
        resources=shared.resources,
        policy=shared.policy,
        clock=shared.clock,
        cursors=shared.cursors,
    )

    service = providers.Singleton(
        SubscriptionService,
        uow=shared.unit_of_work.provider,
        gateway=gateway,
        paths=providers.Singleton(SqlCoursesOfPaths, shared.database),
        members=providers.Singleton(SqlMemberships, shared.database),
        policy=shared.policy,
        clock=shared.clock,
        cursors=shared.cursors,
        dunning=providers.Singleton(_dunning, settings),
    )

    subscriptions = providers.Singleton(
        _subscriptions, shared.joined_unit_of_work.provider, service.provider, billing.provider
    )
    jobs = providers.Singleton(subscription_jobs, service.provider, settings)
