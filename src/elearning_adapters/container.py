"""The composition root: the only place that chooses adapters for the core's ports.

Runtimes build one ``Container`` from ``Settings`` and ask it for services
explicitly; tests override providers instead of patching modules. Scripts and
tests embed the platform through ``bootstrap()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from dependency_injector import containers, providers

from elearning_adapters.cache import CachedCatalogQueries, InMemoryCache
from elearning_adapters.events import InProcessEventTransport, Subscription, catalog_cache_subscription
from elearning_adapters.redis.cache import RedisCache
from elearning_adapters.settings import Settings
from elearning_adapters.sql import migrate
from elearning_adapters.sql.course import catalog_queries_for
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.outbox_store import retention_of
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.course.queries import CatalogQueries
from elearning_core.course.service import CourseService
from elearning_core.shared.cache import Cache
from elearning_core.shared.clock import SystemClock
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import AdminOnlyPolicy


def _cursor_codec(settings: Settings) -> CursorCodec:
    return CursorCodec(settings.resolved_secret())


def _cache(settings: Settings) -> Cache | None:
    kind = settings.resolved_cache
    if kind == "redis":
        assert settings.redis_url is not None  # Settings refuses cache=redis without a URL
        return RedisCache(settings.redis_url, key_prefix=settings.redis_key_prefix)
    if kind == "memory":
        return InMemoryCache()
    return None


def _catalog_queries(database: Database, cache: Cache | None, settings: Settings) -> CatalogQueries:
    inner = catalog_queries_for(database)
    if cache is None:
        return inner
    return CachedCatalogQueries(inner, cache, settings.cache_ttl_seconds)


def _subscriptions(catalog: CatalogQueries) -> list[Subscription]:
    """Every consumer this configuration runs (a cache-less catalog needs no invalidation)."""
    subscriptions = []
    if isinstance(catalog, CachedCatalogQueries):
        subscriptions.append(catalog_cache_subscription(catalog))
    return subscriptions


def _event_transport(
    database: Database, subscriptions: list[Subscription], settings: Settings
) -> InProcessEventTransport | None:
    """The embedded default's transport; None when Kafka carries the events (the workers relay them)."""
    if not settings.events_in_process:
        return None
    return InProcessEventTransport(
        database,
        subscriptions,
        poll_seconds=settings.events_poll_seconds,
        max_attempts=settings.consumer_max_attempts,
        retention=retention_of(settings.outbox_retention_hours),
        inbox_retention=retention_of(settings.inbox_retention_hours),
    )


class AfterCommit:
    """What a commit does at once in its own process: wake the in-process transport, drop local cache entries."""

    def __init__(self, catalog: CatalogQueries, transport: InProcessEventTransport | None) -> None:
        self._catalog = catalog if isinstance(catalog, CachedCatalogQueries) else None
        self._transport = transport

    async def __call__(self, events: Sequence[DomainEvent]) -> None:
        if self._transport is not None:
            self._transport.wake()
        if self._catalog is not None:
            await self._catalog.invalidate_for(*events)


class Adapters(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    database = providers.Singleton(Database.from_settings, settings)
    clock = providers.Singleton(SystemClock)
    policy = providers.Singleton(AdminOnlyPolicy)
    cursors = providers.Singleton(_cursor_codec, settings)
    cache = providers.Singleton(_cache, settings)
    catalog_queries = providers.Singleton(_catalog_queries, database, cache, settings)
    subscriptions = providers.Singleton(_subscriptions, catalog_queries)
    event_transport = providers.Singleton(_event_transport, database, subscriptions, settings)
    after_commit = providers.Singleton(AfterCommit, catalog_queries, event_transport)
    unit_of_work = providers.Factory(SqlUnitOfWork, database, after_commit=after_commit)


class Services(containers.DeclarativeContainer):
    adapters = providers.DependenciesContainer()

    course = providers.Singleton(
        CourseService,
        uow=adapters.unit_of_work.provider,
        queries=adapters.catalog_queries,
        clock=adapters.clock,
        policy=adapters.policy,
        cursors=adapters.cursors,
    )


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    adapters = providers.Container(Adapters, settings=settings)
    services = providers.Container(Services, adapters=adapters)


def build_container(settings: Settings) -> Container:
    return Container(settings=settings)


@dataclass
class Platform:
    """The platform's services on one database, for scripts, tests and tools."""

    settings: Settings
    container: Container
    database: Database
    courses: CourseService
    events: InProcessEventTransport | None
    """The in-process event transport (None with Kafka): ``start()`` it, or ``await drain()`` for the effects now."""

    async def aclose(self) -> None:
        await close_adapters(self.container)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


async def bootstrap(settings: Settings | None = None, *, run_migrations: bool = True) -> Platform:
    """Build the platform on the database ``settings`` names (in-memory SQLite when omitted).

    Pending migrations are applied first unless ``run_migrations`` is false.
    """
    settings = settings or Settings.in_memory()
    container = build_container(settings)
    database = container.adapters.database()
    if run_migrations:
        await migrate.upgrade(database)
    return Platform(
        settings=settings,
        container=container,
        database=database,
        courses=container.services.course(),
        events=container.adapters.event_transport(),
    )


async def close_adapters(container: Container) -> None:
    """Stop the in-process transport, close the cache client and the database (runtimes call this on shutdown)."""
    adapters = container.adapters
    try:
        transport = adapters.event_transport()
        if transport is not None:
            await transport.stop()
        cache = adapters.cache()
        if isinstance(cache, RedisCache):
            await cache.aclose()
    finally:
        await adapters.database().dispose()
