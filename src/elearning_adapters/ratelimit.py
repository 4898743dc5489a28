"""The RateLimiter port in process memory: the embedded default, and the Redis limiter's fallback.

Both limiters (this one and ``redis/ratelimit.py``) use a sliding window log
(see ``elearning_core.auth.ports.RateLimiter``): per key, the times of the
attempts allowed in the last window; an attempt is allowed when fewer than
``limit`` remain after dropping the expired ones. Memory per key is at most
``limit`` timestamps, which suits the small limits of login and reset
throttling (a handful per minute), not high-volume API quotas.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from elearning_core.auth.ports import RateDecision, RateLimiter


def check_limit(limit: int, window_seconds: float) -> None:
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
        check_limit(limit, window_seconds)
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
