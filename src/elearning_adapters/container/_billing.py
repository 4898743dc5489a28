"""The billing module's wiring: the tax table, the documents (rendered and kept in the media
storage), the ledger's report queries, the service (on the shared unit of work, reading the
payment module's gateway to reconcile) and the ``billing-documents`` subscription (an issued
invoice or credit note is rendered and stored)."""

from __future__ import annotations

from collections.abc import Callable

from dependency_injector import providers
from sqlalchemy.ext.asyncio import AsyncConnection

import elearning_core.billing.events as billing_events
from elearning_adapters.billing.documents import BlobDocumentStore, DocumentRenderer
from elearning_adapters.billing.tax import TableTaxPolicy
from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.events import Subscription
from elearning_adapters.settings import Settings
from elearning_adapters.sql.billing import SqlLedgerReports
from elearning_core.billing.ports import BillingUnitOfWork
from elearning_core.billing.service import BillingConfig, BillingService
from elearning_core.payment.ports import PaymentGateway
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent

BILLING_DOCUMENTS = "billing-documents"

JoinUnitOfWork = Callable[[AsyncConnection], BillingUnitOfWork]


def _config(settings: Settings) -> BillingConfig:
    return BillingConfig(settings.billing_seller_country, settings.billing_seller_name, settings.billing_seller_address)


def documents_subscription(join: JoinUnitOfWork, service: Callable[[], BillingService]) -> Subscription:
    """Render and store each issued invoice and credit note, reading them in a unit of work joined to
    the dispatcher's transaction (docs/projections.md)."""

    async def invoice_issued(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, billing_events.InvoiceIssued)
        await service().joined(lambda: join(conn)).keep_documents(event.aggregate_id)

    async def credit_note_issued(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, billing_events.CreditNoteIssued)
        await service().joined(lambda: join(conn)).keep_documents(event.aggregate_id, event.number)

    return Subscription(
        name=BILLING_DOCUMENTS,
        description="renders issued invoices and credit notes to HTML and PDF and stores them",
        handlers={
            billing_events.InvoiceIssued.type: invoice_issued,
            billing_events.CreditNoteIssued.type: credit_note_issued,
        },
    )


def _subscriptions(join: JoinUnitOfWork, service: Callable[[], BillingService]) -> list[Subscription]:
    return [documents_subscription(join, service)]


class BillingWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)
    gateway: providers.Dependency[PaymentGateway] = providers.Dependency()
    """The payment module's gateway, whose records ``reconcile`` reads."""

    tax = providers.Singleton(TableTaxPolicy)
    printer = providers.Singleton(DocumentRenderer)
    # Invoices live beside the other files the platform keeps (``billing/`` in the object store).
    store = providers.Singleton(BlobDocumentStore, shared.object_store)
    reports = providers.Singleton(SqlLedgerReports, shared.database)

    service = providers.Singleton(
        BillingService,
        uow=shared.unit_of_work.provider,
        reports=reports,
        tax=tax,
        printer=printer,
        store=store,
        clock=shared.clock,
        policy=shared.policy,
        cursors=shared.cursors,
        config=providers.Singleton(_config, settings),
        gateway=gateway,
    )

    subscriptions = providers.Singleton(_subscriptions, shared.joined_unit_of_work.provider, service.provider)
