"""The in-process cache, and the catalog reads served through any Cache.

Key layout of ``CachedCatalogQueries`` (under ``<prefix>:<codec version>:``):

- ``ver:list`` / ``ver:all``: namespace versions. Every course invalidation
  bumps ``ver:list``; ``invalidate_all`` bumps both.
- ``list:<ver:list>:<digest of filter scope, after key, limit>``: one list page.
  Bumping the version orphans every page at once; orphans expire by TTL.
- ``id:<ver:all>:<course id>``: an outline (the draft), or ``null`` for an unknown id.
- ``pub:<ver:all>:<course id>``: the latest published version's outline (what learners
  read), or ``null``; invalidated with the id entry. Numbered versions are not cached.
- ``slug:<ver:all>:<slug>``: the course id of a slug (16 bytes), so that an
  invalidation knowing only the id also covers the by-slug read: that read
  resolves the id, goes through the by-id read and checks the outline still
  carries the slug (after a rename it does not, and the database is asked).
  Unknown slugs are not cached.
- ``gen:<course id>``: a short-lived token rewritten by every invalidation of
  the course. A miss re-reads it after the database read and stores the
  result only if it did not change, so a read that started before a commit
  cannot put the old outline back after the invalidation removed it.

Version numbers are read from the cache at most every ``version_ttl_seconds``
(default 0.5 s) per process, which saves a round trip per read. A process that
invalidates sees its own change at once; others within that interval, which
keeps "a published change is visible within one second".

A list page is the hottest read (everyone opens the first page), so its hit
path does less: concurrent reads of one page key share one cache round trip,
and the decoded rows of the last bytes seen per page key are kept, so the same
bytes are not decoded again. Both only skip work whose result is already in
hand: every read still asks the cache (or joins a request for the same key
that is on its way), and gets exactly what decoding the cached bytes gives.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import msgspec

from elearning_core.course.model import SLUG_MAX
from elearning_core.course.queries import (
    CatalogFilter,
    CatalogKey,
    CatalogQueries,
    CourseOutline,
    CourseSummary,
    TeachingScope,
    VersionSummary,
)
from elearning_core.shared.cache import Cache
from elearning_core.shared.events import DomainEvent

log = logging.getLogger(__name__)


class InMemoryCache(Cache):
    """A bounded LRU cache with per-entry expiry, for one process.

    Asyncio-safe because no method awaits while touching the dict: each call
    runs to completion on the event loop without interleaving. Not thread-safe.
    """

    def __init__(
        self,
        max_entries: int = 10_000,
        max_bytes: int = 64 * 1024 * 1024,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be positive")
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._max_entries, self._max_bytes = max_entries, max_bytes
        self._bytes = 0
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def get_many(self, *keys: str) -> list[bytes | None]:
        return [self._live(key) for key in keys]

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._put(key, bytes(value), self._clock() + ttl_seconds)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._drop(key)

    async def incr(self, key: str) -> int:
        current = self._live(key)
        if current is None:
            value, expires_at = 1, float("inf")
        else:
            value, expires_at = int(current) + 1, self._entries[key][1]
        self._put(key, str(value).encode(), expires_at)
        return value

    def _live(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= self._clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def _put(self, key: str, value: bytes, expires_at: float) -> None:
        self._drop(key)
        size = len(key) + len(value)
        if size > self._max_bytes:
            return
        self._entries[key] = (value, expires_at)
        self._bytes += size
        while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
            old_key, (old_value, _) = self._entries.popitem(last=False)
            self._bytes -= len(old_key) + len(old_value)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(key) + len(entry[0])


# -- the catalog through a cache ------------------------------------------------------------


class CatalogCodec:
    """Read models to JSON bytes and back, exactly (UUIDs, aware datetimes, enums, nesting).

    msgspec decodes straight into the frozen dataclasses with their field
    types, so a decoded value equals the one encoded. ``VERSION`` is part of
    every key: changing the read models means bumping it, and old entries are
    then never read.
    """

    # c2: lesson content, published versions; c3: preview, release dates, access; c4: requirements
    VERSION = "c4"

    def __init__(self) -> None:
        self._encoder = msgspec.json.Encoder()
        self._summaries = msgspec.json.Decoder(list[CourseSummary])
        self._outline: msgspec.json.Decoder[CourseOutline | None] = msgspec.json.Decoder(CourseOutline | None)

    def encode_summaries(self, rows: list[CourseSummary]) -> bytes:
        return self._encoder.encode(rows)

    def decode_summaries(self, data: bytes) -> list[CourseSummary]:
        return self._summaries.decode(data)

    def encode_outline(self, outline: CourseOutline | None) -> bytes:
        return self._encoder.encode(outline)

    def decode_outline(self, data: bytes) -> CourseOutline | None:
        return self._outline.decode(data)


# How long an invalidation's token outlives it: longer than any database read it must catch.
_GEN_TTL_SECONDS = 30.0
# More courses than this in one commit are invalidated all at once (invalidate_all).
BULK_INVALIDATION = 20
# Page keys whose decoded rows are kept (per process); beyond this, the oldest is dropped.
_DECODED_PAGES = 32
_DECODED_OUTLINES = 32


class CachedCatalogQueries(CatalogQueries):
    """CatalogQueries served from a Cache, filled from ``inner`` on a miss.

    The cache is an optimisation only: an entry that cannot be decoded is a
    miss, and a cache that is unreachable answers misses (see RedisCache), so
    reads stay correct, merely uncached. ``invalidate_course`` and
    ``invalidate_all`` are called by the course-event consumer.
    """

    def __init__(
        self,
        inner: CatalogQueries,
        cache: Cache,
        ttl_seconds: float = 60.0,
        *,
        prefix: str = "catalog",
        version_ttl_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._inner, self._cache, self._ttl = inner, cache, ttl_seconds
        self._prefix = f"{prefix}:{CatalogCodec.VERSION}:"
        self._codec = CatalogCodec()
        self._version_ttl = version_ttl_seconds
        self._clock = clock
        self._versions: tuple[int, int] | None = None
        self._versions_read_at = float("-inf")
        # Read path of the list pages: cache reads on their way, by key; the last bytes decoded, by key,
        # with when the cache last gave them (the near copy, see ``_near_page``).
        self._page_reads: dict[str, asyncio.Future[bytes | None]] = {}
        self._pages: OrderedDict[str, tuple[bytes, list[CourseSummary], float]] = OrderedDict()
        # Outlines: the last bytes decoded, by key, with the outline they gave. Only ever returned for the
        # same bytes the shared cache gives now, so this holds no staleness of its own, only the decode.
        self._outlines: OrderedDict[str, tuple[bytes, CourseOutline | None]] = OrderedDict()

    # -- reads ---------------------------------------------------------------------------

    async def list_courses(self, where: CatalogFilter, after: CatalogKey | None, limit: int) -> list[CourseSummary]:
        list_version, _ = await self._current_versions()
        key = f"{self._prefix}list:{list_version}:{_page_digest(where.scope(), after, limit)}"
        near = self._near_page(key)
        if near is not None:
            return near
        cached = await self._shared_get(key)
        if cached is not None:
            rows = self._decoded_page(key, cached)
            if rows is not None:
                return rows
        rows = await self._inner.list_courses(where, after, limit)
        data = self._codec.encode_summaries(rows)
        await self._cache.set(key, data, self._ttl)
        self._keep_page(key, data, list(rows))
        return rows

    async def list_version(self) -> int | None:
        """The list version this process holds (re-read every ``version_ttl_seconds``; 0 until the first
        change, and while the shared cache does not answer)."""
        list_version, _ = await self._current_versions()
        return list_version

    async def outline(self, course_id: uuid.UUID) -> CourseOutline | None:
        _, all_version = await self._current_versions()
        return await self._guarded_outline(self._id_key(all_version, course_id), course_id, self._inner.outline)

    async def published_outline(self, course_id: uuid.UUID, number: int | None = None) -> CourseOutline | None:
        if number is not None:
            return await self._inner.published_outline(course_id, number)
        _, all_version = await self._current_versions()
        return await self._guarded_outline(
            self._pub_key(all_version, course_id), course_id, self._inner.published_outline
        )

    async def published_outline_by_slug(self, slug: str, number: int | None = None) -> CourseOutline | None:
        if number is not None or len(slug) > SLUG_MAX:
            return await self._inner.published_outline_by_slug(slug, number)
        _, all_version = await self._current_versions()
        slug_key = f"{self._prefix}slug:{all_version}:{slug}"
        pointer = await self._cache.get(slug_key)
        if pointer is not None and len(pointer) == 16:
            outline = await self.published_outline(uuid.UUID(bytes=pointer))
            if outline is not None and outline.slug == slug:
                return outline
        outline = await self._inner.published_outline_by_slug(slug)
        if outline is not None:
            await self._cache.set(slug_key, outline.id.bytes, self._ttl)
        return outline

    async def versions(
        self, course_id: uuid.UUID, before: int | None = None, limit: int | None = None
    ) -> list[VersionSummary]:
        # Staff only, and rare: not worth an invalidation path of its own.
        return await self._inner.versions(course_id, before, limit)

    async def teaching(self, where: TeachingScope, after: CatalogKey | None, limit: int) -> list[CourseSummary]:
        # Per user and staff only: drafts change under the author's hands, so never cached.
        return await self._inner.teaching(where, after, limit)

    async def _guarded_outline(
        self, key: str, course_id: uuid.UUID, read: Callable[[uuid.UUID], Awaitable[CourseOutline | None]]
    ) -> CourseOutline | None:
        """A cached outline, or ``read`` it and cache it unless the course was invalidated meanwhile."""
        found, outline = await self._cached_outline(key)
        if found:
            return outline
        gen_key = self._gen_key(course_id)
        before = await self._cache.get(gen_key)
        outline = await read(course_id)
        if await self._cache.get(gen_key) == before:
            await self._cache.set(key, self._codec.encode_outline(outline), self._ttl)
        return outline

    async def outline_by_slug(self, slug: str) -> CourseOutline | None:
        if len(slug) > SLUG_MAX:
            # No course has such a slug; do not let arbitrary request text size cache keys.
            return await self._inner.outline_by_slug(slug)
        _, all_version = await self._current_versions()
        slug_key = f"{self._prefix}slug:{all_version}:{slug}"
        pointer = await self._cache.get(slug_key)
        if pointer is not None and len(pointer) == 16:
            # Through the by-id read: cached there, or refilled there with its race guard.
            outline = await self.outline(uuid.UUID(bytes=pointer))
            if outline is not None and outline.slug == slug:
                return outline
        # Unknown slugs are not cached: a course may take any slug at any time.
        outline = await self._inner.outline_by_slug(slug)
        if outline is not None:
            await self._cache.set(slug_key, outline.id.bytes, self._ttl)
            # Fill the id entry too, unless the course was invalidated lately: this read may
            # have started before that change was committed.
            if await self._cache.get(self._gen_key(outline.id)) is None:
                await self._cache.set(
                    self._id_key(all_version, outline.id), self._codec.encode_outline(outline), self._ttl
                )
        return outline

    async def _shared_get(self, key: str) -> bytes | None:
        """``cache.get(key)``, shared with the reads of the same key that arrive while it is on its way.

        A joining read gets the answer to a request sent shortly before it started and
        answered after: as fresh as its own would be, since a page key names one list
        version and is only ever filled with that version's listing.
        """
        pending = self._page_reads.get(key)
        if pending is not None:
            # shield: a joining read that is cancelled must not cancel the others' answer.
            return await asyncio.shield(pending)
        pending = asyncio.get_running_loop().create_future()
        self._page_reads[key] = pending
        value: bytes | None = None
        try:
            value = await self._cache.get(key)
            return value
        finally:
            # Also when this read failed or was cancelled: then the others see a miss and read the database.
            del self._page_reads[key]
            pending.set_result(value)

    def _near_page(self, key: str) -> list[CourseSummary] | None:
        """The rows of page ``key`` as the shared cache gave them less than ``version_ttl_seconds`` ago.

        A page key names one list version, and this process looks the list version up again after
        ``version_ttl_seconds``: a change is seen that late already. Serving the page from the process's
        own copy for that long adds no staleness of a new kind, and takes the shared cache's round trip
        off nearly every read of a busy page (issue 13: the cached list at 0.7 of a bare app).
        """
        known = self._pages.get(key)
        if known is None or self._clock() - known[2] >= self._version_ttl:
            return None
        self._pages.move_to_end(key)
        return list(known[1])

    def _decoded_page(self, key: str, data: bytes) -> list[CourseSummary] | None:
        """The rows ``data`` decodes to (None if it cannot be decoded), decoding the same bytes only once."""
        known = self._pages.get(key)
        if known is not None and known[0] == data:
            self._keep_page(key, data, known[1])
            return list(known[1])
        try:
            rows = self._codec.decode_summaries(data)
        except msgspec.DecodeError as exc:
            log.warning("unreadable catalog cache entry %s (%s); reading the database", key, exc)
            return None
        self._keep_page(key, data, rows)
        return list(rows)

    def _keep_page(self, key: str, data: bytes, rows: list[CourseSummary]) -> None:
        """Remember page ``key`` as the shared cache holds it now (``data``, decoded to ``rows``)."""
        self._pages[key] = (data, rows, self._clock())
        self._pages.move_to_end(key)
        if len(self._pages) > _DECODED_PAGES:
            self._pages.popitem(last=False)

    # -- invalidation ----------------------------------------------------------------------

    async def invalidate_course(self, course_id: uuid.UUID, slug: str | None = None) -> None:
        """Forget everything cached about one course: its outline and every list page.

        ``slug`` is optional: by-slug entries only point at the id, so dropping
        the id entry is enough; passing the slug also drops its pointer.
        """
        self._pages.clear()  # this process's near copies: at once, even when the shared cache does not answer
        self._outlines.clear()
        await self._cache.set(self._gen_key(course_id), os.urandom(8), _GEN_TTL_SECONDS)
        known = self._versions
        _, all_version = await self._current_versions(fresh=True)
        # Also under the last version this process saw: if the cache did not answer just now
        # (read as 0), these are the keys an unreachable Redis must delete once it is back.
        all_versions = dict.fromkeys([all_version, *([known[1]] if known else [])])
        keys = [self._id_key(v, course_id) for v in all_versions]
        keys.extend(self._pub_key(v, course_id) for v in all_versions)
        if slug:
            keys.extend(f"{self._prefix}slug:{v}:{slug}" for v in all_versions)
        await self._cache.delete(*keys)
        list_version = await self._cache.incr(self._prefix + "ver:list")
        self._remember_versions(list_version, all_version)

    async def invalidate_for(self, *events: DomainEvent) -> None:
        """Invalidate what course events change: each course once, whatever the number of its events."""
        courses: dict[uuid.UUID, str | None] = {}
        for event in events:
            if event.module() == "course":
                slug = getattr(event, "slug", None)
                courses[event.aggregate_id] = slug if isinstance(slug, str) else courses.get(event.aggregate_id)
        if len(courses) > BULK_INVALIDATION:
            # A bulk change (an import): one namespace bump instead of several cache round trips per course.
            await self.invalidate_all()
            return
        for course_id, slug in courses.items():
            await self.invalidate_course(course_id, slug)

    async def invalidate_all(self) -> None:
        """Forget every cached catalog read (after a bulk change, or a consumer that fell behind)."""
        self._pages.clear()
        self._outlines.clear()
        all_version = await self._cache.incr(self._prefix + "ver:all")
        list_version = await self._cache.incr(self._prefix + "ver:list")
        self._remember_versions(list_version, all_version)

    # -- helpers -------------------------------------------------------------------------

    def _id_key(self, all_version: int, course_id: uuid.UUID) -> str:
        return f"{self._prefix}id:{all_version}:{course_id}"

    def _pub_key(self, all_version: int, course_id: uuid.UUID) -> str:
        return f"{self._prefix}pub:{all_version}:{course_id}"

    def _gen_key(self, course_id: uuid.UUID) -> str:
        return f"{self._prefix}gen:{course_id}"

    async def _cached_outline(self, key: str) -> tuple[bool, CourseOutline | None]:
        cached = await self._cache.get(key)
        if cached is None:
            return False, None
        known = self._outlines.get(key)
        if known is not None and (known[0] is cached or known[0] == cached):
            # The same bytes as last time (a 200-lesson outline decodes in ~1 ms; comparing takes microseconds).
            return True, known[1]
        try:
            outline = self._codec.decode_outline(cached)
        except msgspec.DecodeError as exc:
            log.warning("unreadable catalog cache entry %s (%s); reading the database", key, exc)
            return False, None
        self._outlines[key] = (cached, outline)
        self._outlines.move_to_end(key)
        if len(self._outlines) > _DECODED_OUTLINES:
            self._outlines.popitem(last=False)
        return True, outline

    async def _current_versions(self, *, fresh: bool = False) -> tuple[int, int]:
        if not fresh and self._versions is not None and self._clock() - self._versions_read_at < self._version_ttl:
            return self._versions
        list_version = _as_int(await self._cache.get(self._prefix + "ver:list"))
        all_version = _as_int(await self._cache.get(self._prefix + "ver:all"))
        self._versions, self._versions_read_at = (list_version, all_version), self._clock()
        return self._versions

    def _remember_versions(self, list_version: int, all_version: int) -> None:
        if list_version:
            self._versions, self._versions_read_at = (list_version, all_version), self._clock()
        else:
            # The cache did not answer: read the versions again next time.
            self._versions = None


@functools.lru_cache(maxsize=4096)
def _page_digest(scope: str, after: CatalogKey | None, limit: int) -> str:
    """The part of a list page's key that names the page (hot: the same first pages recur)."""
    page = json.dumps([scope, [after[0].isoformat(), str(after[1])] if after else None, limit])
    return hashlib.blake2b(page.encode(), digest_size=16).hexdigest()


def _as_int(raw: bytes | None) -> int:
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0
