"""The platform's token service: the shared key ring's tokens, usable once ``start()`` has loaded the keys."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from elearning_adapters.security.keystore import RefreshingTokenService, SharedKeyRing
from elearning_core.auth.ports import AccessClaims, TokenService

log = logging.getLogger("elearning.platform")


class PlatformTokens(TokenService):
    """The token service on the shared key ring, usable once ``start()`` has loaded the keys.

    Services are built before the process has touched the database; the keys
    are loaded at start-up (``bootstrap()``, the app's startup hook).
    """

    def __init__(self, keys: SharedKeyRing, *, issuer: str, audience: str) -> None:
        self.keys = keys
        self._issuer = issuer
        self._audience = audience
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
