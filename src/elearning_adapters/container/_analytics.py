"""The analytics module's wiring: the statement mapping (its IRIs under the public base URL), the
statement store, the ``analytics`` subscription that fills it, the service, and the statement forwarder
and retention with their jobs (``elearning_adapters.analytics.forwarder``), and the aggregates' reads
(``analytics_aggregates``)."""

from __future__ import annotations

import uuid

from dependency_injector import providers
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.analytics.forwarder import analytics_jobs, closers_of, destination_from_settings, forwarder_of
from elearning_adapters.analytics.projection import LearnerRenamed, analytics_subscription
from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.events import Subscription
from elearning_adapters.settings import Settings
from elearning_adapters.sql.analytics import (
    SqlAggregateReads,
    SqlLearnerStatements,
    SqlLrsCredentialStore,
    SqlOrganizationExists,
    SqlStatementFeed,
    SqlStatementStore,
    SqlUserExists,
    rename_learner,
)
from elearning_adapters.sql.engine import Database
from elearning_core.analytics.export import StatementExportService
from elearning_core.analytics.lrs import LrsService
from elearning_core.analytics.lrs_credentials import LrsCredentialService
from elearning_core.analytics.mapping import StatementMapper
from elearning_core.analytics.pseudonyms import Pseudonyms
from elearning_core.analytics.service import AnalyticsService
from elearning_core.analytics.vocabulary import PlatformIris
from elearning_core.shared.clock import Clock


def _iris(settings: Settings) -> PlatformIris:
    return PlatformIris(settings.resolved_public_base_url)


def _pseudonyms(settings: Settings) -> Pseudonyms:
    return Pseudonyms(settings.resolved_secret())


def _store(database: Database, clock: Clock, iris: PlatformIris, pseudonyms: Pseudonyms) -> SqlStatementStore:
    return SqlStatementStore(database, clock, (iris.home_page, pseudonyms))


def _subscriptions(
    mapper: StatementMapper,
    clock: Clock,
    pseudonyms: Pseudonyms,
    on_learner_renamed: list[LearnerRenamed],
    settings: Settings,
) -> list[Subscription]:
    return [analytics_subscription(mapper, clock, pseudonyms, on_learner_renamed, settings.analytics_time_zone)]


async def _rename_aggregates_learner(conn: AsyncConnection, user_id: uuid.UUID, pseudonym: uuid.UUID) -> None:
    await rename_learner(conn, str(user_id), str(pseudonym))


class AnalyticsWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)

    iris = providers.Singleton(_iris, settings)
    mapper = providers.Singleton(StatementMapper, iris)
    pseudonyms = providers.Singleton(_pseudonyms, settings)
    """Deleted accounts' statements go under HMAC pseudonyms keyed by the platform's secret (ELEARNING_SECRET_KEY)."""
    store = providers.Singleton(_store, shared.database, shared.clock, iris, pseudonyms)
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

    on_learner_renamed = providers.List(providers.Object(_rename_aggregates_learner))
    """``async (conn, user_id, pseudonym)`` hooks run with the rewrite of a deleted account's statements: the
    aggregates' learner-keyed rows follow (``rename_learner``); add a provider here to move another module's."""
    export = providers.Singleton(
        StatementExportService,
        providers.Singleton(SqlLearnerStatements, shared.database),
        providers.Singleton(SqlUserExists, shared.database),
        shared.policy,
        iris.provided.home_page,
    )
    """A learner's statements for their right of access (``GET /api/v1/me/statements/export``)."""
    subscriptions = providers.Singleton(_subscriptions, mapper, shared.clock, pseudonyms, on_learner_renamed, settings)
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
