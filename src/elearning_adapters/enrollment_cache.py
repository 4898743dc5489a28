"""The enrollment read that content gating makes on every learner's content read, through the cache.

An enrolled learner's outline read costs no query on a cache hit: the outline comes
from the catalog cache, and the learner's enrollment date from here. Only positive
answers are kept (``enrolled:<course id>:<user id>`` -> the ISO 8601 start), so a learner
who has just enrolled is never refused by a stale "not enrolled"; the entry is dropped
after every commit that records an enrollment event for that learner and course
(``invalidate_for``, from ``AfterCommit``: in the process that commits, which with Redis
is every process's cache). A change committed by a process without the cache (the CLI
on the embedded default) shows within the TTL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from elearning_adapters.sql.video import SqlEnrollmentLookup
from elearning_core.shared.cache import Cache
from elearning_core.shared.events import DomainEvent


class CachedEnrollmentLookup:
    """``is_enrolled`` and ``enrolled_since`` (the course, video and assessment modules' narrow read) cached."""

    def __init__(
        self, inner: SqlEnrollmentLookup, cache: Cache, ttl_seconds: float, *, prefix: str = "enrolled"
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._inner, self._cache, self._ttl, self._prefix = inner, cache, ttl_seconds, prefix

    def _key(self, course_id: uuid.UUID, user_id: uuid.UUID) -> str:
        return f"{self._prefix}:{course_id}:{user_id}"

    async def enrolled_since(self, user_id: uuid.UUID, course_id: uuid.UUID) -> datetime | None:
        return await self.enrolled_since_from(user_id, course_id, await self._cache.get(self._key(course_id, user_id)))

    def key_of(self, user_id: uuid.UUID, course_id: uuid.UUID) -> str:
        """The entry's key, for a caller that reads it with others in one round trip (``Cache.get_many``)."""
        return self._key(course_id, user_id)

    async def enrolled_since_from(
        self, user_id: uuid.UUID, course_id: uuid.UUID, cached: bytes | None
    ) -> datetime | None:
        """``enrolled_since`` given what the cache held under ``key_of`` (None: a miss, read and kept)."""
        if cached is not None:
            try:
                return datetime.fromisoformat(cached.decode())
            except ValueError:
                pass  # unreadable: a miss
        since = await self._inner.enrolled_since(user_id, course_id)
        if since is not None:
            await self._cache.set(self._key(course_id, user_id), since.isoformat().encode(), self._ttl)
        return since

    async def is_enrolled(self, user_id: uuid.UUID, course_id: uuid.UUID) -> bool:
        return await self.enrolled_since(user_id, course_id) is not None

    async def invalidate_for(self, *events: DomainEvent) -> None:
        """Drop the entries of the learners whose enrollment these events changed."""
        keys = list(dict.fromkeys(self._keys_of(events)))
        if keys:
            await self._cache.delete(*keys)

    def _keys_of(self, events: Iterable[DomainEvent]) -> Iterable[str]:
        for event in events:
            if event.module() != "enrollment":
                continue
            course_id, user_id = getattr(event, "course_id", None), getattr(event, "user_id", None)
            if isinstance(course_id, uuid.UUID) and isinstance(user_id, uuid.UUID):
                yield self._key(course_id, user_id)
