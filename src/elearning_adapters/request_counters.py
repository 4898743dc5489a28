"""Per-client request counters for the general rate limit: counted in memory, shared in the background.

The sign-in throttle (``ratelimit.py``) asks Redis on every attempt, which suits a handful of sign-ins
a minute, not every API request. Here a request is counted in this process's table, synchronously
and without I/O; ``redis/counter_sync.py`` (when Redis is configured) adds each key's new local count
to a shared counter every ``ELEARNING_RATE_LIMIT_SYNC_SECONDS`` and reads the shared total back, so
processes and replicas agree within one sync interval.

Windows are fixed and aligned to the wall clock (window number = ``time // window``), so every
process names the same window the same way, and a Redis key lives for one window only. A key's
usage is ``shared`` (the total Redis last answered, which includes this process's counts sent
before) plus ``pending`` (counted here since). Between two syncs, every process may admit up to
what it saw left; the overshoot is bounded by the requests the other processes admit in one interval.

When Redis is unreachable, pending counts keep adding up and the limit is held per process (the
breaker logs it and ``elearning_rate_limit_shared`` drops to 0); after the outage the counts are sent.

Memory is bounded: the table holds the current window's keys only (cleared when the window turns)
and at most ``max_keys`` of them; past that the oldest key of the window is forgotten (its count
starts again: the price of a bound that a flood of distinct keys cannot break).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class Usage:
    __slots__ = ("pending", "shared")

    def __init__(self) -> None:
        self.shared = 0
        self.pending = 0


class WindowCounters:
    """The current window's request count per key (a hashed credential, a client IP)."""

    def __init__(self, window_seconds: int, *, max_keys: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        if window_seconds < 1 or max_keys < 1:
            raise ValueError("window_seconds and max_keys must be positive")
        self.window_seconds = window_seconds
        self.max_keys = max_keys
        self._clock = clock
        self.window = int(clock() // window_seconds)
        self.table: dict[str, Usage] = {}

    def __len__(self) -> int:
        return len(self.table)

    def hit(self, key: str, limit: int) -> int:
        """Count one request for ``key`` if it is under ``limit``: the requests left after it, or -1 (refused)."""
        window = int(self._clock() // self.window_seconds)
        if window != self.window:
            self.window = window
            self.table = {}
        usage = self.table.get(key)
        if usage is None:
            if len(self.table) >= self.max_keys:
                del self.table[next(iter(self.table))]
            usage = self.table[key] = Usage()
        used = usage.shared + usage.pending
        if used >= limit:
            return -1
        usage.pending += 1
        return limit - used - 1

    def reset_in(self) -> int:
        """Whole seconds until the current window ends (at least 1)."""
        return max(1, math.ceil((self.window + 1) * self.window_seconds - self._clock()))

    def pending_batch(self) -> tuple[int, list[tuple[str, Usage, int]]]:
        """The window and, per key counted since the last sync, ``(key, usage, count to send)``."""
        return self.window, [(key, usage, usage.pending) for key, usage in self.table.items() if usage.pending]

    @staticmethod
    def apply(batch: list[tuple[str, Usage, int]], totals: list[int]) -> None:
        """The shared totals after adding ``batch``'s counts: they replace what was sent."""
        for (_, usage, sent), total in zip(batch, totals, strict=True):
            usage.shared = max(usage.shared, total)
            usage.pending -= sent


__all__ = ["Usage", "WindowCounters"]
