"""The analytics module's wiring: the statement mapping (its IRIs under the public base URL), the
statement store, the ``analytics`` subscription that fills it, the service, and the statement forwarder
and retention with their jobs (``elearning_adapters.analytics.forwarder``), and the aggregates' reads
(``analytics_aggregates``)."""

from __future__ import annotations

from dependency_injector import providers

from elearning_adapters.analytics.forwarder import analytics_jobs, closers_of, destination_from_settings, forwarder_of
from elearning_adapters.analytics.projection import analytics_subscription
from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.events import Subscription
from elearning_adapters.settings import Settings
from elearning_adapters.sql.analytics import (
    SqlAggregateReads,
    SqlLrsCredentialStore,
    SqlOrganizationExists,
    SqlStatementFeed,
    SqlStatementStore,
)
from elearning_core.analytics.lrs import LrsService
from elearning_core.analytics.lrs_credentials import LrsCredentialService
from elearning_core.analytics.mapping import StatementMapper
from elearning_core.analytics.service import AnalyticsService
from elearning_core.analytics.vocabulary import PlatformIris
from elearning_core.shared.clock import Clock


def _iris(settings: Settings) -> PlatformIris:
    return PlatformIris(settings.resolved_public_base_url)


def _subscriptions(mapper: StatementMapper, clock: Clock, settings: Settings) -> list[Subscription]:
    return [analytics_subscription(mapper, clock, settings.analytics_time_zone)]


class AnalyticsWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)

    iris = providers.Singleton(_iris, settings)
    mapper = providers.Singleton(StatementMapper, iris)
    store = providers.Singleton(SqlStatementStore, shared.database, shared.clock)
    service = providers.Singleton(AnalyticsService, store, shared.cursors)
    # The learning record store (/xapi/statements) and its credentials.
    lrs = providers.Singleton(LrsService, service, store, shared.clock, iris.provided.home_page)
    lrs_credentials = providers.Singleton(
        LrsCredentialService,
        providers.Singleton(SqlLrsCredentialStore, shared.database),
        providers.Singleton(SqlOrganizationExists, shared.database),
        shared.clock,
        shared.policy,
    )

    subscriptions = providers.Singleton(_subscriptions, mapper, shared.clock, settings)
    analytics_aggregates = providers.Singleton(
        SqlAggregateReads, shared.database, settings.provided.analytics_time_zone
    )
    """The aggregates' read port (``AggregateReads``) the dashboards read."""

    feed = providers.Singleton(SqlStatementFeed, shared.database)
    destination = providers.Singleton(destination_from_settings, settings)
    forwarder = providers.Singleton(forwarder_of, feed, destination, shared.clock, settings)
    """The statement forwarder, or None when ``ELEARNING_ANALYTICS_FORWARD_TO`` is ``none``."""
    jobs = providers.Singleton(analytics_jobs, feed, forwarder, shared.clock, settings)
    closers = providers.Singleton(closers_of, destination)
