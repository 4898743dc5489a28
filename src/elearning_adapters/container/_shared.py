"""The adapters every module shares: database, clock, policy, cursors, cache, event transport, unit of work,
and the object store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from dependency_injector import containers, providers

from elearning_adapters.cache import InMemoryCache
from elearning_adapters.enrollment_cache import CachedEnrollmentLookup
from elearning_adapters.events import AfterCommit, InProcessEventTransport, Subscription
from elearning_adapters.redis.cache import RedisCache
from elearning_adapters.redis.counter_sync import RedisCounterSync
from elearning_adapters.request_counters import WindowCounters
from elearning_adapters.settings import Settings
from elearning_adapters.sql.certificate import SqlCredentialKeys
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.enrollment import SqlCourseLookup
from elearning_adapters.sql.idempotency import SqlIdempotencyStore
from elearning_adapters.sql.outbox_store import retention_of
from elearning_adapters.sql.resources import SqlResourceDirectory
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_adapters.sql.video import SqlEnrollmentLookup
from elearning_adapters.storage import LocalFileStorage
from elearning_core.auth.model import RolePolicy
from elearning_core.shared.cache import Cache
from elearning_core.shared.clock import SystemClock
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.storage import ObjectStore


def _cursor_codec(settings: Settings) -> CursorCodec:
    return CursorCodec(settings.resolved_secret())


def _cache(settings: Settings) -> Cache | None:
    kind = settings.resolved_cache
    if kind == "redis":
        assert settings.redis_url is not None  # Settings refuses cache=redis without a URL
        timeout = settings.redis_timeout_seconds
        return RedisCache(
            settings.redis_url, key_prefix=settings.redis_key_prefix, connect_timeout=timeout, socket_timeout=timeout
        )
    if kind == "memory":
        return InMemoryCache()
    return None


def _local_media(settings: Settings) -> LocalFileStorage:
    return LocalFileStorage(settings.resolved_media_dir)


def _object_store(settings: Settings, local: LocalFileStorage) -> ObjectStore:
    """The store files go to: the media directory (embedded default), or the S3-compatible one configured."""
    if settings.storage_backend == "local":
        return local
    from elearning_adapters.storage.s3 import S3Config, S3ObjectStore  # boto3 is loaded only where chosen

    assert settings.s3_bucket is not None  # Settings refuses storage_backend=s3 without a bucket
    secret = settings.s3_secret_access_key
    return S3ObjectStore(
        S3Config(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            public_endpoint_url=settings.s3_public_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=None if secret is None else secret.get_secret_value(),
            path_style=settings.resolved_s3_path_style,
            cdn_base_url=settings.s3_cdn_base_url,
            presign_expiry=timedelta(seconds=settings.s3_presign_expiry_seconds),
            part_size=settings.s3_part_size_bytes,
            max_connections=settings.s3_max_connections,
        )
    )


async def close_store(store: ObjectStore) -> None:
    close = getattr(store, "aclose", None)
    if close is not None:
        await close()


def _credential_keys(database: Database, settings: Settings) -> SqlCredentialKeys:
    return SqlCredentialKeys(database, settings.resolved_secret(), settings.resolved_public_base_url)


def _request_counters(settings: Settings) -> WindowCounters:
    return WindowCounters(settings.rate_limit_window_seconds, max_keys=settings.rate_limit_max_keys)


def _counter_sync(counters: WindowCounters, settings: Settings) -> RedisCounterSync | None:
    """The rate limit's counters shared through Redis when it is configured; else each process limits alone."""
    if not settings.redis_url:
        return None
    return RedisCounterSync(
        counters,
        settings.redis_url,
        key_prefix=f"{settings.redis_key_prefix}ratelimit:window:",
        interval_seconds=settings.rate_limit_sync_seconds,
        socket_timeout=settings.redis_timeout_seconds,
    )


def _enrollment_lookup(
    database: Database, cache: Cache | None, settings: Settings
) -> SqlEnrollmentLookup | CachedEnrollmentLookup:
    """Content gating's read on every learner's content read: cached (positive answers) when a cache is set."""
    inner = SqlEnrollmentLookup(database)
    if cache is None:
        return inner
    return CachedEnrollmentLookup(inner, cache, settings.cache_ttl_seconds)


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
        batch_size=settings.consumer_batch_size,
        batch_max_wait=settings.consumer_batch_max_wait_ms / 1000,
        yield_factor=settings.events_yield_factor,
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
    # The certificate module's signing keys: its signer works in the unit of work's transaction.
    credential_keys = providers.Singleton(_credential_keys, database, settings)
    unit_of_work = providers.Factory(
        SqlUnitOfWork, database, after_commit=after_commit, credential_keys=credential_keys
    )
    # An event handler's unit of work: ``joined_unit_of_work(conn)`` works in the batch's transaction (see
    # docs/projections.md); its after-commit hook runs once the dispatcher has committed the batch.
    joined_unit_of_work = providers.Factory(
        SqlUnitOfWork.joining, after_commit=after_commit, credential_keys=credential_keys
    )
    # Idempotency-Key answers, for every runtime route that takes the header (enrollment, later checkout).
    idempotency_store = providers.Singleton(SqlIdempotencyStore, database)
    # The general per-client rate limit's counters (HTTP), and their background sharing through Redis.
    request_counters = providers.Singleton(_request_counters, settings)
    counter_sync = providers.Singleton(_counter_sync, request_counters, settings)

    # Narrow read ports that several modules read (a module never calls another module's service).
    resources = providers.Singleton(SqlResourceDirectory, database)
    course_lookup = providers.Singleton(SqlCourseLookup, database)
    enrollment_lookup = providers.Singleton(_enrollment_lookup, database, cache, settings)

    # Files: the local media directory (the video pipeline's tus uploads and ffmpeg still need its paths), and
    # the object store every other file goes through: that directory, or S3 (ELEARNING_STORAGE_BACKEND).
    local_media = providers.Singleton(_local_media, settings)
    object_store = providers.Singleton(_object_store, settings, local_media)
