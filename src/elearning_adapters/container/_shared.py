"""The adapters every module shares: database, clock, policy, cursors, cache, event transport, unit of work."""

from __future__ import annotations

from collections.abc import Sequence

from dependency_injector import containers, providers

from elearning_adapters.cache import InMemoryCache
from elearning_adapters.events import AfterCommit, InProcessEventTransport, Subscription
from elearning_adapters.redis.cache import RedisCache
from elearning_adapters.settings import Settings
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.enrollment import SqlCourseLookup
from elearning_adapters.sql.idempotency import SqlIdempotencyStore
from elearning_adapters.sql.outbox_store import retention_of
from elearning_adapters.sql.resources import SqlResourceDirectory
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_adapters.sql.video import SqlEnrollmentLookup
from elearning_core.auth.model import RolePolicy
from elearning_core.shared.cache import Cache
from elearning_core.shared.clock import SystemClock
from elearning_core.shared.pagination import CursorCodec


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


def _event_transport(
    database: Database, subscriptions: Sequence[Subscription], settings: Settings
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


class SharedWiring(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    subscriptions = providers.Dependency(instance_of=list)
    """Every module's subscriptions, gathered by the assembly (``Container``)."""
    commit_listeners = providers.Dependency(instance_of=list)
    """Every module's commit listeners, gathered by the assembly."""

    database = providers.Singleton(Database.from_settings, settings)
    clock = providers.Singleton(SystemClock)
    policy = providers.Singleton(
        RolePolicy, require_verified_email=providers.Callable(lambda s: s.require_verified_email, settings)
    )
    cursors = providers.Singleton(_cursor_codec, settings)
    cache = providers.Singleton(_cache, settings)
    event_transport = providers.Singleton(_event_transport, database, subscriptions, settings)
    after_commit = providers.Singleton(AfterCommit, event_transport, commit_listeners)
    unit_of_work = providers.Factory(SqlUnitOfWork, database, after_commit=after_commit)
    # Idempotency-Key answers, for every runtime route that takes the header (enrollment, later checkout).
    idempotency_store = providers.Singleton(SqlIdempotencyStore, database)

    # Narrow read ports that several modules read (a module never calls another module's service).
    resources = providers.Singleton(SqlResourceDirectory, database)
    course_lookup = providers.Singleton(SqlCourseLookup, database)
    enrollment_lookup = providers.Singleton(SqlEnrollmentLookup, database)
