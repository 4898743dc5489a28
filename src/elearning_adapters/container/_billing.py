"""The billing module's wiring: the tax table, the documents (rendered and kept in the media
storage), the ledger's report queries and the service (on the shared unit of work)."""

from __future__ import annotations

from dependency_injector import providers

from elearning_adapters.billing.documents import BlobDocumentStore, DocumentRenderer
from elearning_adapters.billing.tax import TableTaxPolicy
from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.settings import Settings
from elearning_adapters.sql.billing import SqlLedgerReports
from elearning_adapters.storage import LocalFileStorage
from elearning_core.billing.service import BillingConfig, BillingService


def _config(settings: Settings) -> BillingConfig:
    return BillingConfig(settings.billing_seller_country, settings.billing_seller_name, settings.billing_seller_address)


def _store(settings: Settings) -> BlobDocumentStore:
    """Invoices live beside the other files the platform keeps (``billing/`` in the media storage)."""
    return BlobDocumentStore(LocalFileStorage(settings.resolved_media_dir))


class BillingWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)

    tax = providers.Singleton(TableTaxPolicy)
    printer = providers.Singleton(DocumentRenderer)
    store = providers.Singleton(_store, settings)
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
    )
