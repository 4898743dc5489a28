"""The RateLimiter port: in process memory, and in Redis behind a circuit breaker.

Both use a sliding window log (see ``elearning_core.auth.ports.RateLimiter``):
per key, the times of the attempts allowed in the last window; an attempt is
allowed when fewer than ``limit`` remain after dropping the expired ones. Memory
per key is at most ``limit`` timestamps, which suits the small limits of login
and reset throttling (a handful per minute), not high-volume API quotas.

``RedisRateLimiter`` runs each hit as one Lua script, so trimming, counting and
recording are atomic across every worker process that shares the Redis, and
times come from the Redis server's clock, so workers with skewed clocks still
agree. When Redis cannot be reached it neither raises nor lets everything
through: it answers from an internal ``InMemoryRateLimiter`` (per-process
limits: degraded but bounded), logs one warning, and like ``RedisCache`` keeps
a breaker open for ``cooldown_seconds`` so a dead Redis costs at most one
timeout per cool-down. Attempts counted in memory during an outage are not
copied to Redis afterwards, and a ``reset`` that could not reach Redis is not
replayed: the key then stays throttled until its window passes, which errs on
the safe side.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, RedisError, ResponseError

from elearning_core.auth.ports import RateDecision, RateLimiter

log = logging.getLogger(__name__)

_FAILED: Any = object()


def _check(limit: int, window_seconds: float) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, not {limit!r}")
    if not (isinstance(window_seconds, int | float) and math.isfinite(window_seconds) and window_seconds > 0):
        raise ValueError(f"window_seconds must be a positive finite number, not {window_seconds!r}")


class InMemoryRateLimiter(RateLimiter):
    """One process's limiter: the embedded default, and the Redis limiter's fallback.

    ``hit`` never awaits while it reads and updates a key, so on one event loop
    every hit is atomic without a lock. Memory is bounded: a key whose newest
    attempt left the window is dropped on the next sweep, and beyond
    ``max_keys`` the least recently hit key is evicted (forgetting its
    attempts: the price of a bound that a flood of distinct keys cannot break).
    """

    def __init__(self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be positive")
        self._max_keys = max_keys
        self._clock = clock
        # key -> (window of the last hit, times of allowed attempts, oldest first); least recently hit first.
        self._keys: OrderedDict[str, tuple[float, deque[float]]] = OrderedDict()
        self._next_sweep = float("-inf")

    def __len__(self) -> int:
        return len(self._keys)

    async def hit(self, key: str, limit: int, window_seconds: float) -> RateDecision:
        _check(limit, window_seconds)
        now = self._clock()
        self._sweep(now)
        entry = self._keys.get(key)
        times = entry[1] if entry is not None else deque()
        while times and times[0] <= now - window_seconds:
            times.popleft()
        count = len(times)
        if count < limit:
            times.append(now)
            decision = RateDecision(True, limit - count - 1, 0.0)
        else:
            # The attempt whose expiry brings the count below the limit (the oldest,
            # unless the limit was lowered since these attempts were counted).
            release = times[count - limit] + window_seconds
            decision = RateDecision(False, 0, max(release - now, 1e-6))
        if times:
            self._keys[key] = (window_seconds, times)
            self._keys.move_to_end(key)
            while len(self._keys) > self._max_keys:
                self._keys.popitem(last=False)
        else:
            self._keys.pop(key, None)
        return decision

    async def reset(self, key: str) -> None:
        self._keys.pop(key, None)

    def _sweep(self, now: float) -> None:
        """Drop keys whose every attempt has left its window; at most once a second, O(expired keys)."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + 1.0
        # Least recently hit first: stop at the first key that is still live. A live key
        # with a long window can shelter expired ones behind it; max_keys bounds those.
        while self._keys:
            key, (window, times) = next(iter(self._keys.items()))
            if times and times[-1] > now - window:
                return
            del self._keys[key]


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
        self._script = self._redis.register_script(_HIT)
        self._prefix = key_prefix
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._fallback = InMemoryRateLimiter(max_keys=fallback_max_keys, clock=clock)
        self._open_until: float | None = None
        self._probing = False
        self._last_response_error_log = float("-inf")
        self.attempts = 0
        """Commands actually sent to Redis (calls answered by the open breaker are not counted)."""

    @property
    def breaker_open(self) -> bool:
        """True while hits are counted in process memory because Redis failed recently."""
        return self._open_until is not None

    async def aclose(self) -> None:
        await self._redis.aclose()

    # -- the port ------------------------------------------------------------------------

    async def hit(self, key: str, limit: int, window_seconds: float) -> RateDecision:
        _check(limit, window_seconds)
        window_us = max(1, math.ceil(window_seconds * 1_000_000))
        member = os.urandom(12).hex()
        result = await self._call(lambda: self._script(keys=[self._prefix + key], args=[limit, window_us, member]))
        if result is _FAILED:
            return await self._fallback.hit(key, limit, window_seconds)
        allowed, remaining, retry_us = (int(x) for x in result)
        return RateDecision(bool(allowed), remaining, retry_us / 1_000_000)

    async def reset(self, key: str) -> None:
        await self._fallback.reset(key)
        await self._call(lambda: self._redis.delete(self._prefix + key))

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
            result = await command()
            if probing:
                self._open_until = None
                log.warning("Redis rate limiter reachable again; limits hold across processes again")
            return result
        except ConnectionError as exc:
            if _pool_exhausted(exc):
                # Every pooled connection stayed busy: Redis is fine, this one hit is counted locally.
                return _FAILED
            self._trip(exc)
            return _FAILED
        except ResponseError as exc:
            # Redis answered (out of memory, a foreign value under our key...): not an outage.
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
                "Redis rate limiter unreachable (%s: %s); limiting per process in memory, retrying every %.1f s",
                type(exc).__name__,
                exc,
                self._cooldown,
            )
        else:
            log.debug("Redis rate limiter still unreachable: %s", exc)
        self._open_until = self._clock() + self._cooldown

    def _log_response_error(self, exc: ResponseError) -> None:
        now = self._clock()
        if now - self._last_response_error_log >= self._cooldown:
            self._last_response_error_log = now
            log.warning("Redis rate limiter refused a command: %s", exc)


def _pool_exhausted(exc: ConnectionError) -> bool:
    """BlockingConnectionPool's "no free connection in time", as opposed to Redis failing."""
    return isinstance(exc.__cause__, TimeoutError) and "No connection available" in str(exc)
