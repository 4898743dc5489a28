"""The cache port: a byte-oriented key-value store with expiry, shared by every module.

Values are bytes so the port stays free of any serialisation choice; callers
own their codec and their key layout. A cache is an optimisation, never a
source of truth: an adapter that cannot reach its store answers a miss and
drops writes instead of raising, so callers fall back to the real read.
"""

from __future__ import annotations

from typing import Protocol


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None:
        """The value stored under ``key``, or None when absent, expired or unreachable."""
        ...

    async def get_many(self, *keys: str) -> list[bytes | None]:
        """The values under ``keys``, in order (None where absent): one round trip where the store allows
        (Redis ``MGET``). This default asks ``get`` once per key, for adapters without a batch read."""
        return [await self.get(key) for key in keys]

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Store ``value`` under ``key`` for ``ttl_seconds`` (> 0), replacing any previous value."""
        ...

    async def delete(self, *keys: str) -> None:
        """Remove ``keys``; absent keys are ignored."""
        ...

    async def incr(self, key: str) -> int:
        """Add one to the integer stored under ``key`` (absent counts as 0) and return the new value.

        Meant for namespace versions: the counter has no expiry of its own, and
        callers must not rely on the exact value, only on it changing (an
        unreachable store answers 0).
        """
        ...
