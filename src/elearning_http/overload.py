"""The overload layers around the app, built from settings: client address, rate limit, admission.

Outermost first: the client address is resolved (only when proxies are trusted), the rate limit
refuses a client over its quota (429) before it takes a slot, admission control refuses past the
bound on work in flight (503). Each is a raw ASGI middleware, cheap on the hot path (docs/overload.md).
"""

from __future__ import annotations

from litestar.types import ASGIApp

from elearning_adapters.container import Container
from elearning_adapters.redis.counter_sync import RedisCounterSync
from elearning_adapters.request_counters import WindowCounters
from elearning_adapters.settings import Settings
from elearning_http.admission import AdmissionMiddleware
from elearning_http.client_ip import ClientAddressMiddleware, TrustedProxies
from elearning_http.ratelimit import RateLimitMiddleware


class OverloadLayers:
    def __init__(self, settings: Settings, container: Container) -> None:
        self.settings = settings
        self.proxies = TrustedProxies(settings.trusted_proxies)
        self.counters: WindowCounters | None = None
        self.sync: RedisCounterSync | None = None
        if settings.rate_limit_enabled:
            self.counters = container.adapters.request_counters()
            self.sync = container.adapters.counter_sync()
        self.admission: AdmissionMiddleware | None = None

    def wrap(self, app: ASGIApp) -> ASGIApp:
        settings = self.settings
        self.admission = AdmissionMiddleware(
            app,
            max_in_flight=settings.resolved_max_in_flight,
            max_streams=settings.max_streams,
            retry_after_seconds=settings.overload_retry_after_seconds,
        )
        wrapped: ASGIApp = self.admission
        if self.counters is not None:
            wrapped = RateLimitMiddleware(
                wrapped, self.counters, per_token=settings.rate_limit_per_token, per_ip=settings.rate_limit_per_ip
            )
        if self.proxies:
            wrapped = ClientAddressMiddleware(wrapped, self.proxies)
        return wrapped

    def start(self) -> None:
        if self.sync is not None:
            self.sync.start()

    async def aclose(self) -> None:
        if self.sync is not None:
            await self.sync.aclose()


__all__ = ["OverloadLayers"]
