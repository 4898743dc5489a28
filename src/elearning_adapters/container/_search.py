"""The search module's wiring: the engine of the platform's database (SQLite FTS5 or PostgreSQL
full-text search), the synonyms, the query log, the audience read, the service and the ``search``
subscription that keeps the index fresh."""

from __future__ import annotations

from dependency_injector import providers

from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.events import Subscription
from elearning_adapters.search.projection import search_subscription
from elearning_adapters.settings import Settings
from elearning_adapters.sql.search import SqlQueryLog, SqlSearchAudience, SqlSearchEngine, SqlSynonyms, index_for
from elearning_core.search.service import SearchService


def _subscriptions(engine: SqlSearchEngine) -> list[Subscription]:
    return [search_subscription(engine)]


class SearchWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)

    index = providers.Singleton(index_for, shared.database)
    synonyms = providers.Singleton(SqlSynonyms, shared.database)
    log = providers.Singleton(SqlQueryLog, shared.database)
    audience = providers.Singleton(SqlSearchAudience, shared.database)
    service = providers.Singleton(SearchService, index, audience, synonyms, log, shared.clock, shared.cursors)

    subscriptions = providers.Singleton(_subscriptions, index)
