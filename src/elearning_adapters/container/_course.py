"""The course module's wiring: the catalog reads (cached when a cache is configured) and the course service."""

from __future__ import annotations

from collections.abc import Sequence

from dependency_injector import providers

from elearning_adapters.cache import CachedCatalogQueries
from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.content import SanitizingMarkdownRenderer
from elearning_adapters.events import CommitListener, Subscription, catalog_cache_subscription
from elearning_adapters.settings import Settings
from elearning_adapters.sql.course import catalog_queries_for
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.progress import SqlLearnerFactsReader
from elearning_core.course.queries import CatalogQueries
from elearning_core.course.service import CourseService
from elearning_core.entitlement.ports import AccessCheck
from elearning_core.shared.cache import Cache
from elearning_core.shared.events import DomainEvent


def _catalog_queries(database: Database, cache: Cache | None, settings: Settings) -> CatalogQueries:
    inner = catalog_queries_for(database)
    if cache is None:
        return inner
    return CachedCatalogQueries(inner, cache, settings.cache_ttl_seconds)


def _subscriptions(catalog: CatalogQueries) -> list[Subscription]:
    """A cached catalog is invalidated by every course event (a cache-less one needs nothing)."""
    if isinstance(catalog, CachedCatalogQueries):
        return [catalog_cache_subscription(catalog)]
    return []


def _commit_listeners(catalog: CatalogQueries) -> list[CommitListener]:
    """The committing process drops its own cached entries at once, before the subscription runs anywhere."""
    if not isinstance(catalog, CachedCatalogQueries):
        return []

    async def invalidate(events: Sequence[DomainEvent]) -> None:
        await catalog.invalidate_for(*events)

    return [invalidate]


class CourseWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)
    access: providers.Dependency[AccessCheck] = providers.Dependency()
    """The entitlement check (the entitlement module's wiring): paid courses open to learners with access only."""

    catalog_queries = providers.Singleton(_catalog_queries, shared.database, shared.cache, settings)
    renderer = providers.Singleton(SanitizingMarkdownRenderer)
    learner_facts = providers.Singleton(SqlLearnerFactsReader, shared.database)
    """Conditional release's read of what learners have done: the progress module's facts (completed lessons,
    best quiz percents, passed quizzes), one statement per learner and course."""

    service = providers.Singleton(
        CourseService,
        uow=shared.unit_of_work.provider,
        queries=catalog_queries,
        clock=shared.clock,
        policy=shared.policy,
        cursors=shared.cursors,
        renderer=renderer,
        enrollments=shared.enrollment_lookup,
        facts=learner_facts,
        access=access,
    )

    subscriptions = providers.Singleton(_subscriptions, catalog_queries)
    commit_listeners = providers.Singleton(_commit_listeners, catalog_queries)
