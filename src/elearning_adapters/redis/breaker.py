"""One Redis client behind a circuit breaker: what every Redis adapter shares.

A Redis adapter here is an optimisation or a shared counter, never a source of
truth, so a Redis problem must not become a failed request. Commands run with
short socket timeouts and no retries; the first failure opens the breaker and
logs once, and for ``cooldown_seconds`` every call is answered ``FAILED``
without touching the network, so a dead Redis costs at most one timeout per
cool-down. After the cool-down one call probes Redis; success closes the
breaker. Each adapter decides what ``FAILED`` means for it (a cache miss, a
limit counted in process memory).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, RedisError, ResponseError

FAILED: Any = object()
"""What ``RedisBreaker.call`` answers when Redis could not (or was not asked to) answer."""


def redis_client(url: str, *, max_connections: int, connect_timeout: float, socket_timeout: float) -> Redis:
    """A client whose every command is one attempt with short timeouts.

    A burst beyond ``max_connections`` waits for a free connection (up to the
    socket timeout) instead of failing; a wait that times out is one failed
    call, not an outage (see ``RedisBreaker``).
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        socket_timeout=socket_timeout,
        # One attempt per command: the breaker, not a retry loop, decides when to try again.
        retry=Retry(NoBackoff(), 0),
    )
    return Redis(connection_pool=pool)


class RedisBreaker:
    def __init__(
        self,
        what: str,
        degraded: str,
        *,
        logger: logging.Logger,
        cooldown_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``what`` names the adapter in log lines ("Redis cache"); ``degraded`` says how it serves meanwhile."""
        self._what, self._degraded, self._log = what, degraded, logger
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._open_until: float | None = None
        self._probing = False
        self._last_response_error_log = float("-inf")
        self.attempts = 0
        """Calls actually sent to Redis (calls answered by the open breaker are not counted)."""

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    async def call(
        self, command: Callable[[], Awaitable[Any]], *, before: Callable[[], Awaitable[None]] | None = None
    ) -> Any:
        """The command's result, or ``FAILED``. ``before`` runs first on the same attempt (e.g. a replay)."""
        probing = False
        if self._open_until is not None:
            if self._probing or self._clock() < self._open_until:
                return FAILED
            probing = self._probing = True
        try:
            self.attempts += 1
            if before is not None:
                await before()
            result = await command()
            if probing:
                self._open_until = None
                self._log.warning("%s reachable again", self._what)
            return result
        except ConnectionError as exc:
            if _pool_exhausted(exc):
                # Every pooled connection stayed busy: Redis is fine, this one call fails alone.
                return FAILED
            self._trip(exc)
            return FAILED
        except ResponseError as exc:
            # Redis answered (wrong type, out of memory...): not an outage, so no breaker.
            self.log_response_error(exc)
            return FAILED
        except (RedisError, OSError) as exc:
            self._trip(exc)
            return FAILED
        finally:
            if probing:
                self._probing = False

    def _trip(self, exc: BaseException) -> None:
        if self._open_until is None:
            self._log.warning(
                "%s unreachable (%s: %s); %s, retrying every %.1f s",
                self._what,
                type(exc).__name__,
                exc,
                self._degraded,
                self._cooldown,
            )
        else:
            self._log.debug("%s still unreachable: %s", self._what, exc)
        self._open_until = self._clock() + self._cooldown

    def log_response_error(self, exc: ResponseError) -> None:
        """Log a refused command, at most once per cool-down (a misbehaving key must not flood the log)."""
        now = self._clock()
        if now - self._last_response_error_log >= self._cooldown:
            self._last_response_error_log = now
            self._log.warning("%s refused a command: %s", self._what, exc)


def _pool_exhausted(exc: ConnectionError) -> bool:
    """BlockingConnectionPool's "no free connection in time", as opposed to Redis failing."""
    return isinstance(exc.__cause__, TimeoutError) and "No connection available" in str(exc)
