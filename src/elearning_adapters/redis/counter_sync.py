"""Shares the rate limit's local counters through Redis, in the background (see ``request_counters.py``).

Every ``interval`` seconds, one pipeline per process: ``INCRBY`` of each active key's new local count
and an ``EXPIRE`` of two windows (a key is named by its window, so it is never reused), and the totals
Redis answers become each key's shared usage. No request ever awaits this. Behind the shared circuit
breaker: with Redis down the sync is skipped (one log line when it trips, one when it recovers) and
the counts wait in memory, so the limit holds per process meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from prometheus_client import Gauge

from elearning_adapters.redis.breaker import FAILED, RedisBreaker, redis_client
from elearning_adapters.request_counters import WindowCounters

log = logging.getLogger(__name__)

SHARED = Gauge(
    "elearning_rate_limit_shared",
    "1 while the rate limit's counters are shared through Redis, 0 while Redis is unreachable (per-process limit)",
)


class RedisCounterSync:
    def __init__(
        self,
        counters: WindowCounters,
        url: str,
        *,
        key_prefix: str = "ratelimit:window:",
        interval_seconds: float = 0.2,
        cooldown_seconds: float = 1.0,
        socket_timeout: float = 0.2,
    ) -> None:
        self.counters = counters
        self.interval = interval_seconds
        self._prefix = key_prefix
        self._redis = redis_client(
            url, max_connections=2, connect_timeout=socket_timeout, socket_timeout=socket_timeout
        )
        self._breaker = RedisBreaker(
            "Redis rate-limit counters",
            "limiting per process in memory",
            logger=log,
            cooldown_seconds=cooldown_seconds,
        )
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0
        """Syncs that reached Redis (for tests and the benchmark)."""
        SHARED.set_function(lambda: 0 if self._breaker.is_open else 1)

    @property
    def breaker_open(self) -> bool:
        return self._breaker.is_open

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="rate-limit-sync")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._redis.aclose()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sync_once()
            except Exception:  # the loop must outlive any one bad round
                log.exception("rate-limit counter sync failed")

    async def sync_once(self) -> bool:
        """One round: send the pending counts, take the totals. False when Redis did not answer."""
        window, batch = self.counters.pending_batch()
        if not batch:
            return True
        ttl = 2 * self.counters.window_seconds
        prefix = f"{self._prefix}{window}:"

        async def send() -> Any:
            pipe = self._redis.pipeline(transaction=False)
            for key, _, count in batch:
                pipe.incrby(prefix + key, count)
                pipe.expire(prefix + key, ttl)
            return await pipe.execute()

        result = await self._breaker.call(send)
        if result is FAILED:
            return False
        self.counters.apply(batch, [int(total) for total in result[::2]])
        self.rounds += 1
        return True


__all__ = ["SHARED", "RedisCounterSync"]
