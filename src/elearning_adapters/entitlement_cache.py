"""The entitlement check's reads through the cache: a course's offer, a learner's grants for it, and the
course's scopes (the staff test), so a check on a cache hit issues no SQL statement.

The cache holds the grants, never the verdict: ``decide`` compares each grant's end with the clock on
every check, so a cached grant never outlives its end. Keys (under ``<prefix>:v2:``):

- ``offer:<course id>``: the offer, or ``null`` when none is recorded (a free course);
- ``grants:<user id>``: every grant of the user, all courses (an empty list too): one key per learner, so a
  grant of every course (a plan or seat that includes all courses) is dropped with the others;
- ``course:<course id>``: the course's owner and organization (only known courses are kept);
- ``gen:<course id>`` and ``gen:user:<user id>``: a short-lived token rewritten by every invalidation. A miss reads it
  before and after the database read and stores what it read only if it did not change, so a read that
  began before a commit cannot put the old grants back after the invalidation removed them.

Invalidation, so that a refund or cancellation reaches every process within a second: the process
that commits the change drops the keys right after its commit (a commit listener); with Redis that is
every process's cache, so their next check reads the database. A change committed by a process without
the cache (or whose listener failed: it never fails the commit) reaches the others through its event:
the ``entitlement-cache`` subscription drops the same keys (the in-process transport looks at the
outbox every 0.1 s; under Kafka the relay and consumers carry it). Course events drop the course's
scopes (an owner or organization change).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import TypeVar

import msgspec

from elearning_adapters.enrollment_cache import CachedEnrollmentLookup
from elearning_adapters.sql.entitlement import SqlEntitlementReads
from elearning_core.auth.model import ResourceRef
from elearning_core.auth.ports import ResourceDirectory
from elearning_core.entitlement.access import EntitlementCheck
from elearning_core.entitlement.model import CourseOffer, Grant, Verdict, decide
from elearning_core.entitlement.ports import AccessReads, Grants, Offers
from elearning_core.shared.cache import Cache
from elearning_core.shared.clock import Clock
from elearning_core.shared.events import DomainEvent

log = logging.getLogger(__name__)

T = TypeVar("T")

# Longer than any database read an invalidation must catch (see ``gen:`` above).
_GEN_TTL_SECONDS = 30.0
CODEC_VERSION = "v2"
"""v2: grants are kept per learner (v1 kept them per learner and course)."""


class CachedEntitlementReads(Offers, Grants, AccessReads, ResourceDirectory):
    """``Offers``, ``Grants`` and the course half of ``ResourceDirectory``, served from a ``Cache``.

    The cache is an optimisation only: an entry that cannot be decoded is a miss, and an unreachable
    cache answers misses (``RedisCache``), so checks stay correct, merely uncached.
    """

    def __init__(
        self,
        inner: SqlEntitlementReads,
        resources: ResourceDirectory,
        cache: Cache,
        ttl_seconds: float,
        *,
        prefix: str = "entitlement",
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._inner, self._resources, self._cache, self._ttl = inner, resources, cache, ttl_seconds
        self._prefix = f"{prefix}:{CODEC_VERSION}:"
        self._encoder = msgspec.json.Encoder()
        self._offer_decoder: msgspec.json.Decoder[CourseOffer | None] = msgspec.json.Decoder(CourseOffer | None)
        self._grants_decoder = msgspec.json.Decoder(list[Grant])
        self._ref_decoder = msgspec.json.Decoder(ResourceRef)

    # -- reads ---------------------------------------------------------------------------------

    async def offer(self, course_id: uuid.UUID) -> CourseOffer | None:
        found, offer = await self._read(self._offer_key(course_id), self._offer_decoder.decode)
        if found:
            return offer
        return await self._fill(
            self._offer_key(course_id), self._gen_key(course_id), lambda: self._inner.offer(course_id), True
        )

    async def grants(self, user_id: uuid.UUID, course_id: uuid.UUID) -> Sequence[Grant]:
        found, grants = await self._read(self._grants_key(user_id), self._grants_decoder.decode)
        if not found or grants is None:
            grants = await self._user_grants(user_id)
        return [g for g in grants if g.covers(course_id)]

    async def _user_grants(self, user_id: uuid.UUID) -> list[Grant]:
        """A miss of ``grants:<user>``: every grant of the user from the database, kept if nothing changed meanwhile."""

        async def read() -> list[Grant]:
            return list(await self._inner.grants_of_user(user_id))

        return await self._fill(self._grants_key(user_id), self._user_gen_key(user_id), read, True)

    async def offer_and_grants(
        self, user_id: uuid.UUID | None, course_id: uuid.UUID
    ) -> tuple[CourseOffer | None, Sequence[Grant]]:
        """The content gates' read: the offer and the learner's grants in one round trip (``get_many``) and
        no SQL on a hit; a miss fills only what it missed, and a free course never reads the grants."""
        if user_id is None:
            return await self.offer(course_id), ()
        cached = await self._cache.get_many(*self.access_keys(user_id, course_id))
        return await self.offer_and_grants_from(user_id, course_id, *cached)

    def access_keys(self, user_id: uuid.UUID, course_id: uuid.UUID) -> tuple[str, str]:
        """The offer's and the learner's grants' keys, for a caller that reads them with others in one round trip."""
        return self._offer_key(course_id), self._grants_key(user_id)

    async def offer_and_grants_from(
        self, user_id: uuid.UUID, course_id: uuid.UUID, cached_offer: bytes | None, cached_grants: bytes | None
    ) -> tuple[CourseOffer | None, Sequence[Grant]]:
        """``offer_and_grants`` given what the cache held under ``access_keys`` (misses are read and kept)."""
        offer_key, grants_key = self.access_keys(user_id, course_id)
        found, offer = self._decoded(offer_key, cached_offer, self._offer_decoder.decode)
        if not found:
            offer = await self._fill(offer_key, self._gen_key(course_id), lambda: self._inner.offer(course_id), True)
        if offer is None or not offer.paid:
            return offer, ()
        found, grants = self._decoded(grants_key, cached_grants, self._grants_decoder.decode)
        if not found or grants is None:
            grants = await self._user_grants(user_id)
        return offer, [g for g in grants if g.covers(course_id)]

    async def course(self, course_id: uuid.UUID) -> ResourceRef | None:
        key = self._course_key(course_id)
        found, ref = await self._read(key, self._ref_decoder.decode)
        if found and ref is not None:
            return ref
        # Unknown courses are not kept: a course id may come into existence at any time.
        return await self._fill(key, self._gen_key(course_id), lambda: self._resources.course(course_id), False)

    async def organization_exists(self, organization_id: uuid.UUID) -> bool:
        return await self._resources.organization_exists(organization_id)

    # -- invalidation ------------------------------------------------------------------------

    async def invalidate_for(self, *events: DomainEvent) -> None:
        """Drop what these events made stale: offers and course scopes by course, grants by learner and course."""
        keys: dict[str, str] = {}  # entry key -> its generation key
        for event in events:
            for key, gen in self._keys_of(event):
                keys[key] = gen
        if not keys:
            return
        token = os.urandom(8)
        for gen in dict.fromkeys(keys.values()):
            await self._cache.set(gen, token, _GEN_TTL_SECONDS)
        await self._cache.delete(*keys)

    def _keys_of(self, event: DomainEvent) -> Iterable[tuple[str, str]]:
        module = event.module()
        if module == "course":
            yield self._course_key(event.aggregate_id), self._gen_key(event.aggregate_id)
            return
        if module != "entitlement":
            return
        course_id, user_id = getattr(event, "course_id", None), getattr(event, "user_id", None)
        if isinstance(user_id, uuid.UUID):
            yield self._grants_key(user_id), self._user_gen_key(user_id)
        elif isinstance(course_id, uuid.UUID):
            yield self._offer_key(course_id), self._gen_key(course_id)

    # -- helpers -------------------------------------------------------------------------------

    async def _read(self, key: str, decode: Callable[[bytes], T]) -> tuple[bool, T | None]:
        return self._decoded(key, await self._cache.get(key), decode)

    @staticmethod
    def _decoded(key: str, cached: bytes | None, decode: Callable[[bytes], T]) -> tuple[bool, T | None]:
        if cached is None:
            return False, None
        try:
            return True, decode(cached)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("unreadable entitlement cache entry %s (%s); reading the database", key, exc)
            return False, None

    async def _fill(self, key: str, gen_key: str, read: Callable[[], Awaitable[T]], keep_none: bool) -> T:
        before = await self._cache.get(gen_key)
        value = await read()
        if (value is not None or keep_none) and await self._cache.get(gen_key) == before:
            await self._cache.set(key, self._encoder.encode(value), self._ttl)
        return value

    def _offer_key(self, course_id: uuid.UUID) -> str:
        return f"{self._prefix}offer:{course_id}"

    def _grants_key(self, user_id: uuid.UUID) -> str:
        return f"{self._prefix}grants:{user_id}"

    def _course_key(self, course_id: uuid.UUID) -> str:
        return f"{self._prefix}course:{course_id}"

    def _gen_key(self, course_id: uuid.UUID) -> str:
        return f"{self._prefix}gen:{course_id}"

    def _user_gen_key(self, user_id: uuid.UUID) -> str:
        return f"{self._prefix}gen:user:{user_id}"


class CachedAccessCheck(EntitlementCheck):
    """The check over the caches, for a gate that needs the learner's enrollment too (a lesson read): the
    enrollment, the offer and the grants in ONE ``get_many`` on a hit, so the check adds no round trip to
    the enrollment read gating made anyway. Both caches must share the one ``Cache`` (the wiring's)."""

    def __init__(
        self, reads: CachedEntitlementReads, enrollments: CachedEnrollmentLookup, cache: Cache, clock: Clock
    ) -> None:
        super().__init__(reads, enrollments, clock)
        self._cached, self._enrolled, self._shared_cache, self._now = reads, enrollments, cache, clock

    async def enrolled_verdict(self, user_id: uuid.UUID, course_id: uuid.UUID) -> tuple[datetime | None, Verdict]:
        enrolled_key = self._enrolled.key_of(user_id, course_id)
        enrolled, offer_bytes, grants_bytes = await self._shared_cache.get_many(
            enrolled_key, *self._cached.access_keys(user_id, course_id)
        )
        enrolled_at = await self._enrolled.enrolled_since_from(user_id, course_id, enrolled)
        offer, grants = await self._cached.offer_and_grants_from(user_id, course_id, offer_bytes, grants_bytes)
        return enrolled_at, decide(offer, grants, self._now.now(), enrolled_at=enrolled_at)
