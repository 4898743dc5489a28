"""The composition root: the only place that chooses adapters for the core's ports.

Runtimes build one ``Container`` from ``Settings`` and ask it for services
explicitly; tests override providers instead of patching modules. Scripts and
tests embed the platform through ``bootstrap()``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Any, Self

from dependency_injector import containers, providers

from elearning_adapters.assessment.patterns import RegexPatternMatcher
from elearning_adapters.cache import CachedCatalogQueries, InMemoryCache
from elearning_adapters.content import SanitizingMarkdownRenderer
from elearning_adapters.email import mailer_from_settings
from elearning_adapters.events import InProcessEventTransport, Subscription, catalog_cache_subscription
from elearning_adapters.media.ffmpeg import FfmpegTranscoder, FfprobeMediaProber
from elearning_adapters.media.processor import VideoProcessor, video_processing_subscription
from elearning_adapters.media.signer import HmacPlaybackSigner
from elearning_adapters.ratelimit import InMemoryRateLimiter
from elearning_adapters.redis.cache import RedisCache
from elearning_adapters.redis.ratelimit import RedisRateLimiter
from elearning_adapters.security.keystore import RefreshingTokenService, SharedKeyRing
from elearning_adapters.security.oidc import HttpOidcProvider
from elearning_adapters.security.passwords import Argon2PasswordHasher
from elearning_adapters.settings import Settings
from elearning_adapters.sql import migrate
from elearning_adapters.sql.assessment import SqlAssessmentQueries
from elearning_adapters.sql.course import catalog_queries_for
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.enrollment import (
    SqlCourseLookup,
    SqlEnrollmentQueries,
    SqlLearnerLookup,
    SqlPrerequisiteChecker,
)
from elearning_adapters.sql.idempotency import SqlIdempotencyStore
from elearning_adapters.sql.identity import SqlPrincipalQueries, SqlUserQueries
from elearning_adapters.sql.outbox_store import retention_of
from elearning_adapters.sql.resources import SqlResourceDirectory
from elearning_adapters.sql.signing_keys import SqlSigningKeyStore
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_adapters.sql.video import SqlEnrollmentLookup
from elearning_adapters.storage import LocalFileStorage
from elearning_core.assessment.service import AssessmentService
from elearning_core.auth.model import RolePolicy
from elearning_core.auth.ports import AccessClaims, OidcProvider, RateLimiter, TokenService
from elearning_core.auth.service import AuthConfig, AuthService
from elearning_core.course.queries import CatalogQueries
from elearning_core.course.service import CourseService
from elearning_core.enrollment.service import EnrollmentService
from elearning_core.identity.service import IdentityConfig, IdentityService, MailQueue, Throttle
from elearning_core.shared.cache import Cache
from elearning_core.shared.clock import SystemClock
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.pagination import CursorCodec
from elearning_core.video.service import VideoConfig, VideoService

log = logging.getLogger("elearning.platform")


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


def _subscriptions(catalog: CatalogQueries, video_processor: VideoProcessor) -> list[Subscription]:
    """Every consumer this configuration runs (a cache-less catalog needs no invalidation)."""
    subscriptions = []
    if isinstance(catalog, CachedCatalogQueries):
        subscriptions.append(catalog_cache_subscription(catalog))
    subscriptions.append(video_processing_subscription(video_processor))
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


def _rate_limiter(settings: Settings) -> RateLimiter:
    """Throttles that hold across worker processes need Redis; the embedded default counts in memory."""
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url, key_prefix=f"{settings.redis_key_prefix}ratelimit:")
    return InMemoryRateLimiter()


def _key_ring(database: Database, settings: Settings) -> SharedKeyRing:
    return SharedKeyRing(
        SqlSigningKeyStore(database, settings.resolved_secret()),
        algorithm=settings.token_algorithm,
        access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        reload_seconds=settings.signing_key_reload_seconds,
    )


class PlatformTokens(TokenService):
    """The token service on the shared key ring, usable once ``start()`` has loaded the keys.

    Services are built before the process has touched the database; the keys
    are loaded at start-up (``bootstrap()``, the app's startup hook).
    """

    def __init__(self, keys: SharedKeyRing, settings: Settings) -> None:
        self.keys = keys
        self._issuer = settings.resolved_token_issuer
        self._audience = settings.token_audience
        self._service: RefreshingTokenService | None = None

    async def start(self) -> None:
        if self._service is None:
            await self.keys.start()
            log.info("token signing keys loaded: active key %s", self.keys.ring.active.kid)
            self._service = RefreshingTokenService.create(self.keys, issuer=self._issuer, audience=self._audience)

    @property
    def started(self) -> bool:
        return self._service is not None

    def _started(self) -> RefreshingTokenService:
        if self._service is None:
            raise RuntimeError("the signing keys are not loaded: the platform was not started")
        return self._service

    def issue_access(self, subject: str, *, scope: Sequence[str] = (), session_id: str | None = None) -> str:
        return self._started().issue_access(subject, scope=scope, session_id=session_id)

    def verify_access(self, token: str) -> AccessClaims:
        return self._started().verify_access(token)

    async def verify_access_fresh(self, token: str) -> AccessClaims:
        # The inner service reloads stale keys itself: only a process that could not load them at start-up
        # tries here (without a second staleness check on every request).
        if self._service is None:
            await self.start()
        return await self._started().verify_access_fresh(token)

    async def ready(self) -> None:
        if self._service is None:
            await self.start()  # a process that started while the database was down tries again now
        else:
            await self._service.refresh_if_stale()

    def jwks(self) -> dict[str, Any]:
        return self._started().jwks()


def _oidc_providers(settings: Settings) -> dict[str, OidcProvider]:
    return {config.name: HttpOidcProvider(config) for config in settings.oidc_providers}


def _auth_config(settings: Settings) -> AuthConfig:
    return AuthConfig(
        access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        refresh_ttl=timedelta(days=settings.refresh_token_ttl_days),
        session_lifetime=timedelta(days=settings.session_lifetime_days),
        login_per_account=Throttle(settings.login_limit_per_account, settings.login_window_seconds),
        login_per_ip=Throttle(settings.login_limit_per_ip, settings.login_window_seconds),
    )


def _identity_config(settings: Settings) -> IdentityConfig:
    return IdentityConfig(
        public_url=settings.resolved_public_base_url,
        registration_open=settings.registration_open,
        reset_per_account=Throttle(settings.reset_limit_per_account, settings.reset_window_seconds),
        reset_per_ip=Throttle(settings.reset_limit_per_ip, settings.reset_window_seconds),
    )


def _media_storage(settings: Settings) -> LocalFileStorage:
    return LocalFileStorage(settings.resolved_media_dir)


def _playback_signer(settings: Settings) -> HmacPlaybackSigner:
    return HmacPlaybackSigner(settings.resolved_secret())


def _video_config(settings: Settings) -> VideoConfig:
    return VideoConfig(
        max_upload_bytes=settings.video_max_upload_bytes,
        playback_ttl=timedelta(seconds=settings.playback_url_ttl_seconds),
        transcode_timeout_seconds=settings.transcode_timeout_seconds,
    )


def _video_processor(adapters: Any, settings: Settings) -> VideoProcessor:
    # The subscriptions (built early: the transport needs them) hold the processor, which needs the
    # video service, which needs the unit of work, which needs the transport: resolved at first use.
    def service() -> VideoService:
        built: VideoService = adapters.video_service()
        return built

    return VideoProcessor(service, settings.transcode_concurrency)


class Adapters(containers.DeclarativeContainer):
    __self__ = providers.Self()
    settings = providers.Dependency(instance_of=Settings)

    database = providers.Singleton(Database.from_settings, settings)
    clock = providers.Singleton(SystemClock)
    policy = providers.Singleton(RolePolicy)
    cursors = providers.Singleton(_cursor_codec, settings)
    cache = providers.Singleton(_cache, settings)
    catalog_queries = providers.Singleton(_catalog_queries, database, cache, settings)
    video_processor = providers.Singleton(_video_processor, __self__, settings)
    subscriptions = providers.Singleton(_subscriptions, catalog_queries, video_processor)
    event_transport = providers.Singleton(_event_transport, database, subscriptions, settings)
    after_commit = providers.Singleton(AfterCommit, catalog_queries, event_transport)
    unit_of_work = providers.Factory(SqlUnitOfWork, database, after_commit=after_commit)
    password_hasher = providers.Singleton(Argon2PasswordHasher)
    mailer = providers.Singleton(mailer_from_settings, settings)
    mail_queue = providers.Singleton(MailQueue, mailer)
    rate_limiter = providers.Singleton(_rate_limiter, settings)
    key_ring = providers.Singleton(_key_ring, database, settings)
    tokens = providers.Singleton(PlatformTokens, key_ring, settings)
    principal_queries = providers.Singleton(SqlPrincipalQueries, database)
    user_queries = providers.Singleton(SqlUserQueries, database)
    resources = providers.Singleton(SqlResourceDirectory, database)
    oidc_providers = providers.Singleton(_oidc_providers, settings)
    media_storage = providers.Singleton(_media_storage, settings)
    enrollment_lookup = providers.Singleton(SqlEnrollmentLookup, database)
    playback_signer = providers.Singleton(_playback_signer, settings)
    media_prober = providers.Singleton(FfprobeMediaProber)
    transcoder = providers.Singleton(FfmpegTranscoder)
    video_service = providers.Singleton(
        VideoService,
        uow=unit_of_work.provider,
        storage=media_storage,
        resources=resources,
        enrollments=enrollment_lookup,
        signer=playback_signer,
        prober=media_prober,
        transcoder=transcoder,
        clock=clock,
        policy=policy,
        cursors=cursors,
        config=providers.Singleton(_video_config, settings),
    )
    enrollment_queries = providers.Singleton(SqlEnrollmentQueries, database)
    course_lookup = providers.Singleton(SqlCourseLookup, database)
    learner_lookup = providers.Singleton(SqlLearnerLookup, database)
    prerequisites = providers.Singleton(SqlPrerequisiteChecker, database)
    assessment_queries = providers.Singleton(SqlAssessmentQueries, database)
    pattern_matcher = providers.Singleton(RegexPatternMatcher, timeout_seconds=0.05)
    idempotency_store = providers.Singleton(SqlIdempotencyStore, database)


class Services(containers.DeclarativeContainer):
    adapters = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)

    identity = providers.Singleton(
        IdentityService,
        uow=adapters.unit_of_work.provider,
        users=adapters.user_queries,
        hasher=adapters.password_hasher,
        mail=adapters.mail_queue,
        limiter=adapters.rate_limiter,
        resources=adapters.resources,
        clock=adapters.clock,
        policy=adapters.policy,
        cursors=adapters.cursors,
        config=providers.Singleton(_identity_config, settings),
    )
    auth = providers.Singleton(
        AuthService,
        uow=adapters.unit_of_work.provider,
        hasher=adapters.password_hasher,
        tokens=adapters.tokens,
        principals=adapters.principal_queries,
        limiter=adapters.rate_limiter,
        clock=adapters.clock,
        providers=adapters.oidc_providers,
        config=providers.Singleton(_auth_config, settings),
    )

    course = providers.Singleton(
        CourseService,
        uow=adapters.unit_of_work.provider,
        queries=adapters.catalog_queries,
        clock=adapters.clock,
        policy=adapters.policy,
        cursors=adapters.cursors,
        renderer=providers.Singleton(SanitizingMarkdownRenderer),
    )

    enrollment = providers.Singleton(
        EnrollmentService,
        uow=adapters.unit_of_work.provider,
        queries=adapters.enrollment_queries,
        courses=adapters.course_lookup,
        learners=adapters.learner_lookup,
        prerequisites=adapters.prerequisites,
        resources=adapters.resources,
        clock=adapters.clock,
        policy=adapters.policy,
        cursors=adapters.cursors,
    )

    video = adapters.video_service

    assessment = providers.Singleton(
        AssessmentService,
        uow=adapters.unit_of_work.provider,
        queries=adapters.assessment_queries,
        enrollments=adapters.enrollment_lookup,
        courses=adapters.course_lookup,
        resources=adapters.resources,
        matcher=adapters.pattern_matcher,
        clock=adapters.clock,
        policy=adapters.policy,
        cursors=adapters.cursors,
    )


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    adapters = providers.Container(Adapters, settings=settings)
    services = providers.Container(Services, adapters=adapters, settings=settings)


def build_container(settings: Settings) -> Container:
    return Container(settings=settings)


@dataclass
class Platform:
    """The platform's services on one database, for scripts, tests and tools."""

    settings: Settings
    container: Container
    database: Database
    courses: CourseService
    identity: IdentityService
    auth: AuthService
    enrollments: EnrollmentService
    events: InProcessEventTransport | None
    """The in-process event transport (None with Kafka): ``start()`` it, or ``await drain()`` for the effects now."""

    @property
    def videos(self) -> VideoService:
        service: VideoService = self.container.services.video()
        return service

    @property
    def assessment(self) -> AssessmentService:
        service: AssessmentService = self.container.services.assessment()
        return service

    @property
    def video_processor(self) -> VideoProcessor:
        """Runs the pipeline in this process for the events ``events`` delivers (``wait_idle`` to await it)."""
        processor: VideoProcessor = self.container.adapters.video_processor()
        return processor

    async def start_keys(self) -> None:
        """Load the token signing keys (creating the first on a new database); idempotent."""
        await self.container.adapters.tokens().start()

    async def aclose(self) -> None:
        await close_adapters(self.container)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


async def bootstrap(
    settings: Settings | None = None, *, run_migrations: bool = True, start_keys: bool | None = None
) -> Platform:
    """Build the platform on the database ``settings`` names (in-memory SQLite when omitted).

    Pending migrations are applied first unless ``run_migrations`` is false.
    ``start_keys`` (default: when migrating) loads the token signing keys,
    creating the first one on a new database; a platform that issues or checks
    tokens needs them (``await platform.start_keys()`` later does the same).
    """
    settings = settings or Settings.in_memory()
    container = build_container(settings)
    database = container.adapters.database()
    if run_migrations:
        await migrate.upgrade(database)
    if run_migrations if start_keys is None else start_keys:
        await container.adapters.tokens().start()
    return Platform(
        settings=settings,
        container=container,
        database=database,
        courses=container.services.course(),
        identity=container.services.identity(),
        auth=container.services.auth(),
        enrollments=container.services.enrollment(),
        events=container.adapters.event_transport(),
    )


async def close_adapters(container: Container) -> None:
    """Stop the in-process transport, close the cache client and the database (runtimes call this on shutdown)."""
    adapters = container.adapters
    try:
        transport = adapters.event_transport()
        if transport is not None:
            await transport.stop()
        await adapters.video_processor().aclose()
        cache = adapters.cache()
        if isinstance(cache, RedisCache):
            await cache.aclose()
        limiter = adapters.rate_limiter()
        if isinstance(limiter, RedisRateLimiter):
            await limiter.aclose()
        for provider in adapters.oidc_providers().values():
            if isinstance(provider, HttpOidcProvider):
                await provider.aclose()
        await adapters.mail_queue().drain()
    finally:
        await adapters.database().dispose()
