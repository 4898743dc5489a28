"""The Cache port on Redis, behind a circuit breaker.

A cache must never turn a Redis problem into a failed request. Every command
runs with short socket timeouts and no retries; the first failure opens the
breaker, logs once, and for ``cooldown_seconds`` every call is answered
locally (a miss, a dropped write) without touching the network, so a dead
Redis costs at most one timeout per cool-down. After the cool-down one call
probes Redis; success closes the breaker.

Deletes and increments that could not reach Redis are invalidations: losing
them would leave stale entries behind once Redis answers again. They are
remembered (bounded) and replayed when the breaker closes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableSet
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, RedisError, ResponseError

from elearning_core.shared.cache import Cache

log = logging.getLogger(__name__)

_FAILED: Any = object()

# Invalidations remembered while Redis is unreachable; beyond this, entries rely on their TTL.
MAX_PENDING_INVALIDATIONS = 10_000


class RedisCache(Cache):
    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        key_prefix: str = "",
        max_connections: int = 32,
        connect_timeout: float = 0.2,
        socket_timeout: float = 0.2,
        cooldown_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # A burst beyond ``max_connections`` waits for a free connection (up to the socket
        # timeout) instead of failing; a wait that times out is a miss, not an outage.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
            # One attempt per command: the breaker, not a retry loop, decides when to try again.
            retry=Retry(NoBackoff(), 0),
        )
        self._redis = Redis(connection_pool=pool)
        self._prefix = key_prefix
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._open_until: float | None = None
        self._probing = False
        self._pending_deletes: set[str] = set()
        self._pending_incrs: set[str] = set()
        self._last_response_error_log = float("-inf")
        self.attempts = 0
        """Commands actually sent to Redis (calls answered by the open breaker are not counted)."""

    @property
    def breaker_open(self) -> bool:
        """True while calls are answered locally because Redis failed recently."""
        return self._open_until is not None

    async def aclose(self) -> None:
        await self._redis.aclose()

    # -- the port ------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        result = await self._call(lambda: self._redis.get(self._prefix + key))
        return None if result is _FAILED else result

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        px = max(1, round(ttl_seconds * 1000))
        await self._call(lambda: self._redis.set(self._prefix + key, value, px=px))

    async def delete(self, *keys: str) -> None:
        if not keys:
            return
        full = [self._prefix + k for k in keys]
        if await self._call(lambda: self._redis.delete(*full)) is _FAILED:
            self._remember(self._pending_deletes, full)

    async def incr(self, key: str) -> int:
        result = await self._call(lambda: self._redis.incr(self._prefix + key))
        if result is _FAILED:
            self._remember(self._pending_incrs, [self._prefix + key])
            return 0
        return int(result)

    # -- the breaker ---------------------------------------------------------------------

    async def _call(self, command: Callable[[], Awaitable[Any]]) -> Any:
        """The command's result, or ``_FAILED`` when Redis could not (or was not asked to) answer."""
        probing = False
        if self._open_until is not None:
            if self._probing or self._clock() < self._open_until:
                return _FAILED
            probing = self._probing = True
        try:
            self.attempts += 1
            if self._pending_deletes or self._pending_incrs:
                # Before the command, so that a read after an outage already sees them.
                await self._replay()
            result = await command()
            if probing:
                self._open_until = None
                log.warning("Redis cache reachable again")
            return result
        except ConnectionError as exc:
            if _pool_exhausted(exc):
                # Every pooled connection stayed busy: Redis is fine, this one call goes uncached.
                return _FAILED
            self._trip(exc)
            return _FAILED
        except ResponseError as exc:
            # Redis answered (wrong type, out of memory...): not an outage, so no breaker.
            self._log_response_error(exc)
            return _FAILED
        except (RedisError, OSError) as exc:
            self._trip(exc)
            return _FAILED
        finally:
            if probing:
                self._probing = False

    def _trip(self, exc: BaseException) -> None:
        if self._open_until is None:
            log.warning(
                "Redis cache unreachable (%s: %s); serving uncached reads, retrying every %.1f s",
                type(exc).__name__,
                exc,
                self._cooldown,
            )
        else:
            log.debug("Redis cache still unreachable: %s", exc)
        self._open_until = self._clock() + self._cooldown

    async def _replay(self) -> None:
        """Apply the invalidations Redis missed, now that it answers again."""
        deletes, incrs = list(self._pending_deletes), list(self._pending_incrs)
        if deletes:
            await self._redis.delete(*deletes)
            self._pending_deletes.difference_update(deletes)
        for key in incrs:
            try:
                await self._redis.incr(key)
            except ResponseError as exc:
                self._log_response_error(exc)
            self._pending_incrs.discard(key)
        log.info("replayed %d invalidations missed while Redis was unreachable", len(deletes) + len(incrs))

    @staticmethod
    def _remember(pending: MutableSet[str], keys: list[str]) -> None:
        for key in keys:
            if len(pending) >= MAX_PENDING_INVALIDATIONS:
                log.warning("too many invalidations missed while Redis was unreachable; the rest wait for TTLs")
                return
            pending.add(key)

    def _log_response_error(self, exc: ResponseError) -> None:
        now = self._clock()
        if now - self._last_response_error_log >= self._cooldown:
            self._last_response_error_log = now
            log.warning("Redis cache refused a command: %s", exc)


def _pool_exhausted(exc: ConnectionError) -> bool:
    """BlockingConnectionPool's "no free connection in time", as opposed to Redis failing."""
    return isinstance(exc.__cause__, TimeoutError) and "No connection available" in str(exc)
