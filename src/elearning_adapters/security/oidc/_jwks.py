"""The provider's signing keys, cached by ``kid``, refetched on rotation but never too often."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import jwt

log = logging.getLogger("elearning_adapters.security.oidc")

DEFAULT_JWKS_TTL_SECONDS = 600.0
DEFAULT_MIN_REFRESH_SECONDS = 30.0
DEFAULT_MAX_KEYS = 50


class JwksUnavailable(Exception):
    """No key set could be loaded (and none is cached)."""


_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


def _suits(jwk: Mapping[str, Any], alg: str) -> bool:
    """Whether ``jwk`` may verify a signature made with ``alg``: its own ``alg`` (if any) and its type agree."""
    if "alg" in jwk and jwk["alg"] != alg:
        return False
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if alg.startswith(("RS", "PS")):
        return kty == "RSA"
    if alg in _EC_CURVES:
        return kty == "EC" and crv == _EC_CURVES[alg]
    if alg == "EdDSA":
        return kty == "OKP" and crv in ("Ed25519", "Ed448")
    return False


def _signing_keys(document: Mapping[str, Any], max_keys: int) -> list[dict[str, Any]]:
    """The verification keys of a JWKS: public, for signatures, at most ``max_keys`` of them."""
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise ValueError("the JWKS has no keys list")
    usable: list[dict[str, Any]] = []
    for jwk in keys:
        if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "EC", "OKP"):
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        ops = jwk.get("key_ops")
        if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
            continue
        kid = jwk.get("kid")
        if kid is not None and not isinstance(kid, str):
            continue
        if "d" in jwk:  # private material has no business in a published key set
            continue
        usable.append(jwk)
    if len(usable) > max_keys:
        log.warning("the JWKS holds %d signing keys; keeping the first %d", len(usable), max_keys)
    return usable[:max_keys]


class JwksCache:
    """A provider's signing keys by ``kid``, refetched on expiry or on an unknown ``kid``, never too often.

    ``fetch`` returns the JWKS document (a mapping with ``keys``). A refetch
    happens when the keys are older than ``ttl``, or when a token names a
    ``kid`` we do not hold; either way at most once per
    ``min_refresh_interval`` seconds, and callers that arrive while one fetch
    is in flight wait for it instead of starting their own. If a refetch
    fails, the keys we already hold keep serving (an outage of the provider's
    JWKS endpoint should not log everybody out); with none held,
    ``JwksUnavailable`` is raised.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Mapping[str, Any]]],
        *,
        ttl: float = DEFAULT_JWKS_TTL_SECONDS,
        min_refresh_interval: float = DEFAULT_MIN_REFRESH_SECONDS,
        max_keys: int = DEFAULT_MAX_KEYS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0 or min_refresh_interval < 0 or max_keys < 1:
            raise ValueError("ttl must be positive, min_refresh_interval not negative and max_keys at least 1")
        self._fetch = fetch
        self._ttl = ttl
        self._min_refresh_interval = min_refresh_interval
        self._max_keys = max_keys
        self._monotonic = monotonic
        self._lock = asyncio.Lock()
        self._keys: list[dict[str, Any]] = []
        self._built: dict[tuple[int, str], jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self.generation = 0  # bumped by every successful fetch
        self.fetches = 0  # fetch attempts, for tests and metrics

    @property
    def kids(self) -> tuple[str | None, ...]:
        return tuple(k.get("kid") for k in self._keys)

    def _may_fetch(self) -> bool:
        return self._attempted_at is None or self._monotonic() - self._attempted_at >= self._min_refresh_interval

    def _expired(self) -> bool:
        return self._fetched_at is None or self._monotonic() - self._fetched_at >= self._ttl

    async def refresh(self, *, since: int | None = None) -> bool:
        """Refetch unless a fetch happened since generation ``since`` or the rate limit forbids it.

        Returns whether the held keys are newer than generation ``since`` (or, when
        ``since`` is None, whether this call fetched them).
        """
        seen = self.generation if since is None else since
        async with self._lock:
            if self.generation != seen:
                return True  # another caller refreshed while we waited: share its result
            if not self._may_fetch():
                return False
            self._attempted_at = self._monotonic()
            self.fetches += 1
            try:
                keys = _signing_keys(await self._fetch(), self._max_keys)
            except Exception as exc:  # any failure of the fetch: keep what we hold
                log.warning("could not load the JWKS: %s", exc)
                if not self._keys:
                    raise JwksUnavailable(str(exc)) from exc
                return False
            self._keys = keys
            self._built = {}
            self._fetched_at = self._monotonic()
            self.generation += 1
            return True

    async def key(self, kid: str | None, alg: str) -> jwt.PyJWK | None:
        """The key that verifies a token with header ``kid``/``alg``; None when the provider publishes none.

        A token without ``kid`` is verified with the provider's only key for ``alg``,
        and refused when there are several (trying each would multiply the work an
        attacker can make us do).
        """
        if self._expired():
            generation = self.generation
            if not await self.refresh(since=generation) and not self._keys:
                raise JwksUnavailable("no keys loaded")
        found = self._find(kid, alg)
        if found is None and kid is not None and await self.refresh(since=self.generation):
            found = self._find(kid, alg)
        return found

    def _find(self, kid: str | None, alg: str) -> jwt.PyJWK | None:
        if kid is None:
            candidates = [i for i, k in enumerate(self._keys) if _suits(k, alg)]
            if len(candidates) != 1:
                return None
            index = candidates[0]
        else:
            index = next((i for i, k in enumerate(self._keys) if k.get("kid") == kid and _suits(k, alg)), -1)
            if index < 0:
                return None
        built = self._built.get((index, alg))
        if built is None:
            try:
                built = jwt.PyJWK(self._keys[index], algorithm=alg)
            except jwt.PyJWTError as exc:
                log.warning("the JWKS key %r cannot verify %s: %s", kid, alg, exc)
                return None
            self._built[(index, alg)] = built
        return built
