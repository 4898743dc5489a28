"""The RateLimiter port on Redis, behind the shared circuit breaker (``breaker.py``).

Each hit is one Lua script, so trimming, counting and recording are atomic
across every worker process that shares the Redis, and times come from the
Redis server's clock, so workers with skewed clocks still agree. When Redis
cannot be reached the limiter neither raises nor lets everything through: it
answers from an internal ``InMemoryRateLimiter`` (per-process limits: degraded
but bounded). Attempts counted in memory during an outage are not copied to
Redis afterwards, and a ``reset`` that could not reach Redis is not replayed:
the key then stays throttled until its window passes, which errs on the safe
side.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable

from elearning_adapters.ratelimit import InMemoryRateLimiter, check_limit
from elearning_adapters.redis.breaker import FAILED, RedisBreaker, redis_client
from elearning_core.auth.ports import RateDecision, RateLimiter

log = logging.getLogger(__name__)


# KEYS[1] the key; ARGV: limit, window in microseconds, a member unique to this hit.
# Returns {allowed (0/1), remaining, retry after in microseconds}.
_HIT = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, math.ceil(window / 1000))
  return {1, limit - count - 1, 0}
end
local release = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
return {0, 0, math.max(1, tonumber(release[2]) + window - now)}
"""


class RedisRateLimiter(RateLimiter):
    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        key_prefix: str = "ratelimit:",
        max_connections: int = 32,
        connect_timeout: float = 0.2,
        socket_timeout: float = 0.2,
        cooldown_seconds: float = 1.0,
        fallback_max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis_client(
            url, max_connections=max_connections, connect_timeout=connect_timeout, socket_timeout=socket_timeout
        )
        self._script = self._redis.register_script(_HIT)
        self._breaker = RedisBreaker(
            "Redis rate limiter",
            "limiting per process in memory",
            logger=log,
            cooldown_seconds=cooldown_seconds,
            clock=clock,
        )
        self._prefix = key_prefix
        self._fallback = InMemoryRateLimiter(max_keys=fallback_max_keys, clock=clock)

    @property
    def breaker_open(self) -> bool:
        """True while hits are counted in process memory because Redis failed recently."""
        return self._breaker.is_open

    @property
    def attempts(self) -> int:
        """Commands actually sent to Redis (calls answered by the open breaker are not counted)."""
        return self._breaker.attempts

    async def aclose(self) -> None:
        await self._redis.aclose()

    # -- the port ------------------------------------------------------------------------

    async def hit(self, key: str, limit: int, window_seconds: float) -> RateDecision:
        check_limit(limit, window_seconds)
        window_us = max(1, math.ceil(window_seconds * 1_000_000))
        member = os.urandom(12).hex()
        result = await self._breaker.call(
            lambda: self._script(keys=[self._prefix + key], args=[limit, window_us, member])
        )
        if result is FAILED:
            return await self._fallback.hit(key, limit, window_seconds)
        allowed, remaining, retry_us = (int(x) for x in result)
        return RateDecision(bool(allowed), remaining, retry_us / 1_000_000)

    async def reset(self, key: str) -> None:
        await self._fallback.reset(key)
        await self._breaker.call(lambda: self._redis.delete(self._prefix + key))
