"""The identity and auth modules' wiring: accounts, mail, throttles, signing keys, tokens, OIDC providers."""

from __future__ import annotations

from datetime import timedelta

from dependency_injector import providers

from elearning_adapters.container._wiring import Closer, ModuleWiring
from elearning_adapters.email import mailer_from_settings
from elearning_adapters.ratelimit import InMemoryRateLimiter
from elearning_adapters.redis.ratelimit import RedisRateLimiter
from elearning_adapters.security import Argon2PasswordHasher, PlatformTokens
from elearning_adapters.security.keystore import SharedKeyRing
from elearning_adapters.security.oidc import HttpOidcProvider
from elearning_adapters.settings import Settings
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.identity import SqlPrincipalQueries, SqlUserQueries
from elearning_adapters.sql.signing_keys import SqlSigningKeyStore
from elearning_core.auth.ports import OidcProvider, RateLimiter
from elearning_core.auth.service import AuthConfig, AuthService
from elearning_core.identity.service import IdentityConfig, IdentityService, MailQueue, Throttle


def _rate_limiter(settings: Settings) -> RateLimiter:
    """Throttles that hold across worker processes need Redis; the embedded default counts in memory."""
    if settings.redis_url:
        timeout = settings.redis_timeout_seconds
        return RedisRateLimiter(
            settings.redis_url,
            key_prefix=f"{settings.redis_key_prefix}ratelimit:",
            connect_timeout=timeout,
            socket_timeout=timeout,
        )
    return InMemoryRateLimiter()


def _key_ring(database: Database, settings: Settings) -> SharedKeyRing:
    return SharedKeyRing(
        SqlSigningKeyStore(database, settings.resolved_secret()),
        algorithm=settings.token_algorithm,
        access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        reload_seconds=settings.signing_key_reload_seconds,
    )


def _tokens(keys: SharedKeyRing, settings: Settings) -> PlatformTokens:
    return PlatformTokens(keys, issuer=settings.resolved_token_issuer, audience=settings.token_audience)


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


def _closers(limiter: RateLimiter, oidc: dict[str, OidcProvider], mail: MailQueue) -> list[Closer]:
    """Send the mails still queued, then close the Redis and OIDC clients."""
    closers: list[Closer] = [mail.drain]
    if isinstance(limiter, RedisRateLimiter):
        closers.append(limiter.aclose)
    closers.extend(provider.aclose for provider in oidc.values() if isinstance(provider, HttpOidcProvider))
    return closers


class IdentityWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)

    password_hasher = providers.Singleton(Argon2PasswordHasher)
    mailer = providers.Singleton(mailer_from_settings, settings)
    mail_queue = providers.Singleton(MailQueue, mailer)
    rate_limiter = providers.Singleton(_rate_limiter, settings)
    key_ring = providers.Singleton(_key_ring, shared.database, settings)
    tokens = providers.Singleton(_tokens, key_ring, settings)
    principal_queries = providers.Singleton(SqlPrincipalQueries, shared.database)
    user_queries = providers.Singleton(SqlUserQueries, shared.database)
    oidc_providers = providers.Singleton(_oidc_providers, settings)

    service = providers.Singleton(
        IdentityService,
        uow=shared.unit_of_work.provider,
        users=user_queries,
        hasher=password_hasher,
        mail=mail_queue,
        limiter=rate_limiter,
        resources=shared.resources,
        clock=shared.clock,
        policy=shared.policy,
        cursors=shared.cursors,
        config=providers.Singleton(_identity_config, settings),
    )
    auth = providers.Singleton(
        AuthService,
        uow=shared.unit_of_work.provider,
        hasher=password_hasher,
        tokens=tokens,
        principals=principal_queries,
        limiter=rate_limiter,
        clock=shared.clock,
        providers=oidc_providers,
        config=providers.Singleton(_auth_config, settings),
    )

    closers = providers.Singleton(_closers, rate_limiter, oidc_providers, mail_queue)
