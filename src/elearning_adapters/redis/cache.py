"""The Cache port on Redis, behind the shared circuit breaker (``breaker.py``).

A cache must never turn a Redis problem into a failed request: while Redis
cannot answer, every read is a miss and every write is dropped.

Deletes and increments that could not reach Redis are invalidations: losing
them would leave stale entries behind once Redis answers again. They are
remembered (bounded) and replayed when Redis answers again, before the call
that found it back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableSet
from typing import Any

from redis.exceptions import ResponseError

from elearning_adapters.redis.breaker import FAILED, RedisBreaker, redis_client
from elearning_core.shared.cache import Cache

log = logging.getLogger(__name__)

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
        self._redis = redis_client(
            url, max_connections=max_connections, connect_timeout=connect_timeout, socket_timeout=socket_timeout
        )
        self._breaker = RedisBreaker(
            "Redis cache", "serving uncached reads", logger=log, cooldown_seconds=cooldown_seconds, clock=clock
        )
        self._prefix = key_prefix
        self._pending_deletes: set[str] = set()
        self._pending_incrs: set[str] = set()

    @property
    def breaker_open(self) -> bool:
        """True while calls are answered locally because Redis failed recently."""
        return self._breaker.is_open

    @property
    def attempts(self) -> int:
        """Commands actually sent to Redis (calls answered by the open breaker are not counted)."""
        return self._breaker.attempts

    async def aclose(self) -> None:
        await self._redis.aclose()

    # -- the port ------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        result = await self._call(lambda: self._redis.get(self._prefix + key))
        return None if result is FAILED else result

    async def get_many(self, *keys: str) -> list[bytes | None]:
        """One ``MGET``: a check's offer, grants and course scopes in one round trip."""
        if not keys:
            return []
        full = [self._prefix + k for k in keys]
        result = await self._call(lambda: self._redis.mget(full))
        return [None] * len(keys) if result is FAILED else list(result)

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        px = max(1, round(ttl_seconds * 1000))
        await self._call(lambda: self._redis.set(self._prefix + key, value, px=px))

    async def delete(self, *keys: str) -> None:
        if not keys:
            return
        full = [self._prefix + k for k in keys]
        if await self._call(lambda: self._redis.delete(*full)) is FAILED:
            self._remember(self._pending_deletes, full)

    async def incr(self, key: str) -> int:
        result = await self._call(lambda: self._redis.incr(self._prefix + key))
        if result is FAILED:
            self._remember(self._pending_incrs, [self._prefix + key])
            return 0
        return int(result)

    # -- through the breaker ---------------------------------------------------------------

    async def _call(self, command: Callable[[], Awaitable[Any]]) -> Any:
        """The command's result, or ``FAILED``; missed invalidations go first, so a read after an outage sees them."""
        pending = self._pending_deletes or self._pending_incrs
        return await self._breaker.call(command, before=self._replay if pending else None)

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
                self._breaker.log_response_error(exc)
            self._pending_incrs.discard(key)
        log.info("replayed %d invalidations missed while Redis was unreachable", len(deletes) + len(incrs))

    @staticmethod
    def _remember(pending: MutableSet[str], keys: list[str]) -> None:
        for key in keys:
            if len(pending) >= MAX_PENDING_INVALIDATIONS:
                log.warning("too many invalidations missed while Redis was unreachable; the rest wait for TTLs")
                return
            pending.add(key)
