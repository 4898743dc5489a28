"""The checkout module's wiring: the service (on the shared unit of work, with one transaction across
modules for the saga's steps, the enrollment module's seats and the billing module's invoices through their
services, the payment module's gateway and billing's tax table), the ``checkout-payments`` subscription
(the payment events settle their orders), the ``checkout-invoicing`` subscription (a paid order's invoice
and ledger postings) and the ``checkout.expire-holds`` job."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

from dependency_injector import providers
from sqlalchemy.ext.asyncio import AsyncConnection

import elearning_core.checkout.events as checkout_events
import elearning_core.payment.events as payment_events
from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.events import Subscription
from elearning_adapters.settings import Settings
from elearning_adapters.sql.checkout import SqlTransactions
from elearning_core.billing.ports import TaxPolicy
from elearning_core.billing.service import BillingService
from elearning_core.checkout.ports import CheckoutUnitOfWork
from elearning_core.checkout.service import CheckoutConfig, CheckoutService
from elearning_core.enrollment.service import EnrollmentService
from elearning_core.payment.ports import PaymentGateway
from elearning_core.scheduling.model import Job, Period, Schedule
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent

log = logging.getLogger(__name__)

CHECKOUT_PAYMENTS = "checkout-payments"
CHECKOUT_INVOICING = "checkout-invoicing"
EXPIRE_HOLDS = "checkout.expire-holds"

JoinUnitOfWork = Callable[[AsyncConnection], CheckoutUnitOfWork]


def _config(settings: Settings) -> CheckoutConfig:
    return CheckoutConfig(settings.billing_seller_country, settings.checkout_hold_minutes)


def _order_of(event: payment_events.PaymentOutcome) -> uuid.UUID | None:
    """The order a payment was for (``metadata.order_id``); None for other payments (subscriptions)."""
    try:
        return uuid.UUID(event.metadata["order_id"])
    except (KeyError, ValueError):
        return None


def payments_subscription(join: JoinUnitOfWork, service: Callable[[], CheckoutService]) -> Subscription:
    """The payment events are the source of truth for outcomes that come after the checkout's answer; each
    settles its order in the dispatcher's transaction, with the event's inbox row (so once)."""

    async def succeeded(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, payment_events.PaymentSucceeded)
        if (order_id := await _known_order(event, conn)) is not None:
            await service().joined(lambda: join(conn)).payment_succeeded(order_id, event.payment_id)

    async def failed(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, payment_events.PaymentFailed)
        if (order_id := await _known_order(event, conn)) is not None:
            await service().joined(lambda: join(conn)).payment_failed(order_id, event.payment_id, event.decline_code)

    async def refunded(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, payment_events.PaymentRefunded)
        if (order_id := await _known_order(event, conn)) is not None:
            await (
                service().joined(lambda: join(conn)).provider_refunded(order_id, event.payment_id, event.refunded_total)
            )

    async def _known_order(event: payment_events.PaymentOutcome, conn: AsyncConnection) -> uuid.UUID | None:
        """The event's order when this platform has it (another platform's payment, or a subscription's, is
        none of checkout's business)."""
        order_id = _order_of(event)
        if order_id is None:
            return None
        async with join(conn) as uow:
            known = await uow.orders.get(order_id)
        if known is None:
            log.info("payment %s names order %s, which is not ours: ignored", event.payment_id, order_id)
            return None
        return order_id

    return Subscription(
        name=CHECKOUT_PAYMENTS,
        description="settles orders from their payments' outcomes (paid, failed, refunded at the provider)",
        handlers={
            payment_events.PaymentSucceeded.type: succeeded,
            payment_events.PaymentFailed.type: failed,
            payment_events.PaymentRefunded.type: refunded,
        },
    )


def invoicing_subscription(join: JoinUnitOfWork, service: Callable[[], CheckoutService]) -> Subscription:
    """A paid order's invoice and payment booking, in the dispatcher's transaction (once: keyed by the order)."""

    async def paid(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, checkout_events.OrderPaid)
        await service().joined(lambda: join(conn)).invoice_order(event.aggregate_id)

    return Subscription(
        name=CHECKOUT_INVOICING,
        description="issues each paid order's invoice and books its payment in the ledger",
        handlers={checkout_events.OrderPaid.type: paid},
    )


def checkout_jobs(service: Callable[[], CheckoutService], settings: Settings) -> list[Job]:
    """``checkout.expire-holds``: by state (open orders past their hold, refunds still owed), each settled
    under its order's row lock, so a rerun in the same period does nothing twice."""

    async def expire(period: Period) -> str:
        del period
        expired, refunded = await service().expire_holds()
        return f"expired {expired} order(s), made {refunded} owed refund(s)"

    every = settings.checkout_expire_seconds
    return [
        Job(
            EXPIRE_HOLDS,
            Schedule(timedelta(seconds=every or 60)),
            expire,
            description="expires checkouts whose seat hold ran out and makes the automatic refunds still owed",
            retry_after=timedelta(seconds=10),
            automatic=every > 0,
        )
    ]


def _subscriptions(join: JoinUnitOfWork, service: Callable[[], CheckoutService]) -> list[Subscription]:
    return [payments_subscription(join, service), invoicing_subscription(join, service)]


class CheckoutWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)
    enrollment: providers.Dependency[EnrollmentService] = providers.Dependency()
    billing: providers.Dependency[BillingService] = providers.Dependency()
    gateway: providers.Dependency[PaymentGateway] = providers.Dependency()
    tax: providers.Dependency[TaxPolicy] = providers.Dependency()

    transactions = providers.Singleton(SqlTransactions, shared.database, shared.joined_unit_of_work.provider)
    service = providers.Singleton(
        CheckoutService,
        uow=shared.unit_of_work.provider,
        transactions=transactions,
        seats=enrollment,
        billing=billing,
        gateway=gateway,
        tax=tax,
        resources=shared.resources,
        clock=shared.clock,
        policy=shared.policy,
        cursors=shared.cursors,
        config=providers.Singleton(_config, settings),
    )

    subscriptions = providers.Singleton(_subscriptions, shared.joined_unit_of_work.provider, service.provider)
    jobs = providers.Singleton(checkout_jobs, service.provider, settings)
