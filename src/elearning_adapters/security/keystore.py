"""The signing keys shared by every process: a ``KeyRing`` reloaded from a store, and a token service that uses it.

Several server processes (uvicorn/gunicorn workers, the CLI) must sign with the
same key and accept each other's tokens, so the keys live in the database
(``elearning_adapters.sql.signing_keys.SqlSigningKeyStore``, private parts
encrypted at rest) and each process holds a ``SharedKeyRing``: a ``KeyRing``
loaded from the store at ``start()`` and reloaded from then on.

When another process rotates, this one learns of it in two ways:

- ``refresh_if_stale()`` reloads when the ring is older than ``reload_seconds``;
  call it before handling a request (``RefreshingTokenService.verify_access_fresh``
  does). Until then this process may keep signing with the key just retired, so a
  retired key verifies for ``retired_at + access TTL + leeway + reload_seconds``:
  the ring's ``retention`` includes the reload period.
- a token signed by a key this process has never seen fails with ``UnknownKeyId``;
  ``reload_for_unknown_kid()`` then reloads, at most once per
  ``min_reload_interval_seconds`` so a stream of forged kids costs the database one
  read per interval, and the caller verifies once more.

Verification itself stays synchronous and touches no I/O: the hot path is
``JwtTokenService.verify_access`` on the in-memory ring.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from elearning_adapters.security.tokens import (
    DEFAULT_ACCESS_TTL,
    DEFAULT_LEEWAY,
    DEFAULT_MAX_TOKEN_BYTES,
    EDDSA,
    SUPPORTED_ALGORITHMS,
    JwtTokenService,
    KeyRing,
    SigningKey,
    UnknownKeyId,
)
from elearning_core.auth.ports import AccessClaims, TokenService
from elearning_core.shared.clock import Clock, SystemClock

log = logging.getLogger(__name__)

DEFAULT_RELOAD_SECONDS = 30.0
DEFAULT_MIN_RELOAD_INTERVAL_SECONDS = 5.0


class KeyStoreError(Exception):
    """The shared signing keys cannot be used (undecryptable, inconsistent); the message is safe to show an operator."""


class SigningKeyStore(Protocol):
    """Where the shared signing keys persist; every write is one transaction, safe against concurrent processes."""

    async def load(self) -> list[SigningKey]:
        """Every stored key, active and retired (until pruned), oldest first."""
        ...

    async def ensure_active(self, algorithm: str) -> SigningKey:
        """The active key; creates the first one (of ``algorithm``) when there is none. Exactly one wins a race."""
        ...

    async def rotate(self, algorithm: str, *, older_than: timedelta | None = None) -> SigningKey:
        """Retire the active key now and store a new one; with ``older_than``, only if the active key is that old.

        Returns the active key after the call (the new one, or the current one when not due).
        """
        ...

    async def prune(self, retention: timedelta) -> list[str]:
        """Delete the keys retired ``retention`` ago or longer (past their window); return their kids."""
        ...


class SharedKeyRing:
    """This process's view of the stored keys: a ``KeyRing`` that reloads from the store.

    ``ring`` is the ``KeyRing`` to give ``JwtTokenService``; it exists once ``start()``
    has run, and later reloads swap its keys in place, so the service never needs rebuilding.
    Rotate and prune through this object, never ``ring.rotate()``: a key made there
    would exist in this process only, and the next reload would drop it.

    If reloads keep failing, this process goes on signing with the key it knows, and
    other processes refuse those tokens once that key's window has passed. That is
    accepted: a process that cannot read the database cannot sign anyone in either.
    """

    def __init__(
        self,
        store: SigningKeyStore,
        *,
        algorithm: str = EDDSA,
        access_ttl: timedelta = DEFAULT_ACCESS_TTL,
        leeway: timedelta = DEFAULT_LEEWAY,
        reload_seconds: float = DEFAULT_RELOAD_SECONDS,
        min_reload_interval_seconds: float = DEFAULT_MIN_RELOAD_INTERVAL_SECONDS,
        clock: Clock | None = None,
    ) -> None:
        if algorithm not in SUPPORTED_ALGORITHMS:
            raise ValueError(f"unsupported algorithm {algorithm!r}; use one of {', '.join(SUPPORTED_ALGORITHMS)}")
        if reload_seconds <= 0 or min_reload_interval_seconds <= 0:
            raise ValueError("reload_seconds and min_reload_interval_seconds are positive")
        self._store = store
        self.algorithm = algorithm
        self.access_ttl = access_ttl
        self.leeway = leeway
        self.reload_period = timedelta(seconds=reload_seconds)
        self.min_reload_interval = timedelta(seconds=min_reload_interval_seconds)
        # A process may sign with a just-retired key until its next reload: the window covers that too.
        self.retention = access_ttl + leeway + self.reload_period
        self._clock = clock or SystemClock()
        self._lock = asyncio.Lock()
        self._ring: KeyRing | None = None
        self._next_refresh_at: datetime | None = None
        self._unknown_kid_reload_at: datetime | None = None
        self.generation = 0  # counts successful reloads: a caller can tell whether the ring changed meanwhile

    @property
    def ring(self) -> KeyRing:
        if self._ring is None:
            raise RuntimeError("the shared key ring is not started: await SharedKeyRing.start() first")
        return self._ring

    @property
    def started(self) -> bool:
        return self._ring is not None

    async def start(self) -> KeyRing:
        """Make sure a key exists (the first process to start creates it), then load the ring."""
        async with self._lock:
            active = await self._store.ensure_active(self.algorithm)
            if active.algorithm != self.algorithm:
                log.warning(
                    "the active signing key %s uses %s, not the configured %s: it keeps signing, and the "
                    "next rotation switches algorithm (which ends the access tokens of the old one)",
                    active.kid,
                    active.algorithm,
                    self.algorithm,
                )
            await self._reload()
            return self.ring

    async def reload(self) -> None:
        """Reload now, whatever the time since the last reload."""
        async with self._lock:
            await self._reload()

    async def refresh_if_stale(self) -> bool:
        """Reload when the last reload is ``reload_seconds`` old; True when this call reloaded.

        Cheap when fresh (one clock read, no lock). Concurrent callers reload once.
        A failed reload raises, and the next attempt waits ``min_reload_interval``
        so a database outage is not hit by every request.
        """
        if not self._due():
            return False
        async with self._lock:
            if not self._due():  # another coroutine reloaded while this one waited
                return False
            try:
                await self._reload()
            except Exception:
                self._next_refresh_at = self._clock.now() + self.min_reload_interval
                raise
            return True

    async def reload_for_unknown_kid(self) -> bool:
        """Reload because a token named an unknown kid; at most once per ``min_reload_interval``.

        True when this call reloaded; False when rate-limited (the kid is most likely forged).
        """
        async with self._lock:
            now = self._clock.now()
            last = self._unknown_kid_reload_at
            if last is not None and now - last < self.min_reload_interval:
                return False
            self._unknown_kid_reload_at = now
            await self._reload()
            return True

    async def rotate(self, *, older_than: timedelta | None = None) -> SigningKey:
        """Rotate in the store (every process follows at its next reload) and reload here at once."""
        async with self._lock:
            await self._store.rotate(self.algorithm, older_than=older_than)
            await self._reload()
            return self.ring.active

    async def prune(self) -> list[str]:
        """Delete the stored keys no live token can need any more (retired longer ago than ``retention``)."""
        async with self._lock:
            dropped = await self._store.prune(self.retention)
            if dropped and self._ring is not None:
                await self._reload()
            return dropped

    def _due(self) -> bool:
        return self._next_refresh_at is None or self._clock.now() >= self._next_refresh_at

    async def _reload(self) -> None:
        """Load the stored keys into the ring (the caller holds the lock)."""
        now = self._clock.now()
        keys = await self._store.load()
        if not any(k.retired_at is None for k in keys):  # every key retired or deleted by hand: make one
            await self._store.ensure_active(self.algorithm)
            keys = await self._store.load()
        active = [k for k in keys if k.retired_at is None]
        if len(active) != 1:
            raise KeyStoreError(f"the signing key store holds {len(active)} active keys; exactly one must be active")
        algorithm = active[0].algorithm
        # A ring verifies one algorithm; keys of an algorithm switched away from stop verifying at once.
        usable = [k for k in keys if k.algorithm == algorithm]
        if self._ring is None:
            self._ring = KeyRing(usable, retention=self.retention, clock=self._clock)
        else:
            self._ring.replace_keys(usable)
        self._next_refresh_at = now + self.reload_period
        self.generation += 1


class RefreshingTokenService(TokenService):
    """``JwtTokenService`` on a ``SharedKeyRing``, with an async verification that can reload the ring.

    The synchronous ``TokenService`` methods delegate unchanged (the core calls
    ``issue_access``); the HTTP layer calls ``await verify_access_fresh(token)``.
    """

    def __init__(self, tokens: JwtTokenService, keys: SharedKeyRing) -> None:
        if tokens.ring is not keys.ring:
            raise ValueError("the token service must sign with the shared ring's KeyRing")
        if keys.retention < tokens.access_ttl + tokens.leeway + keys.reload_period:
            raise ValueError(
                f"the shared ring keeps retired keys for {keys.retention}, less than a token lives plus the "
                f"reload period ({tokens.access_ttl} + {tokens.leeway} leeway + {keys.reload_period})"
            )
        self.tokens = tokens
        self.keys = keys

    @classmethod
    def create(
        cls,
        keys: SharedKeyRing,
        *,
        issuer: str,
        audience: str,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        clock: Clock | None = None,
    ) -> RefreshingTokenService:
        """The service on a started ring, with the ring's access TTL and leeway (one source for both)."""
        tokens = JwtTokenService(
            keys.ring,
            issuer=issuer,
            audience=audience,
            access_ttl=keys.access_ttl,
            leeway=keys.leeway,
            max_token_bytes=max_token_bytes,
            clock=clock,
        )
        return cls(tokens, keys)

    def issue_access(self, subject: str, *, scope: Sequence[str] = (), session_id: str | None = None) -> str:
        return self.tokens.issue_access(subject, scope=scope, session_id=session_id)

    def verify_access(self, token: str) -> AccessClaims:
        return self.tokens.verify_access(token)

    def jwks(self) -> dict[str, Any]:
        return self.tokens.jwks()

    async def refresh_if_stale(self) -> bool:
        """Reload the ring when it is stale; a failure is logged, not raised (the current keys still serve)."""
        try:
            return await self.keys.refresh_if_stale()
        except Exception:
            log.exception("could not reload the signing keys; verifying with the keys loaded before")
            return False

    async def verify_access_fresh(self, token: str) -> AccessClaims:
        """``verify_access`` on a ring at most ``reload_seconds`` old; a token of an unknown kid gets one reload and one retry.

        Raises ``InvalidToken`` like ``verify_access``; never a database error.
        """
        await self.refresh_if_stale()
        generation = self.keys.generation
        try:
            return self.tokens.verify_access(token)
        except UnknownKeyId:
            try:
                await self.keys.reload_for_unknown_kid()
            except Exception:
                log.exception("could not reload the signing keys for an unknown kid")
            if self.keys.generation == generation:  # no reload since the first try (rate-limited or failed)
                raise
        return self.tokens.verify_access(token)
