"""CachedCatalogQueries over the real SQL catalog queries (SQLite), with both caches.

The inner adapter is wrapped in a small counting CatalogQueries, so "served
from the cache" is proven by the database not being asked, and "Redis down"
by the reads staying correct while RedisCache's breaker keeps it off the
network.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from elearning_adapters import Settings, bootstrap
from elearning_adapters.cache import CachedCatalogQueries, InMemoryCache
from elearning_adapters.container import Platform
from elearning_adapters.redis import RedisCache
from elearning_adapters.search.projection import refresh_course
from elearning_core.course.commands import AddLesson, AddSection, CourseRef, CreateCourse, RenameLesson, UpdateCourse
from elearning_core.course.model import Course, CourseStatus, Level
from elearning_core.course.queries import CatalogFilter, CatalogKey, CatalogQueries, CourseOutline, CourseSummary
from elearning_core.course.service import CourseService
from elearning_core.shared.cache import Cache
from elearning_core.shared.ports import ANONYMOUS, SYSTEM
from tests.contract.test_cache import (
    DEAD_URL,
    REDIS_URL,
    CuttableProxy,
    ManualClock,
    delete_prefix,
    require_redis,
)


class CountingQueries(CatalogQueries):
    """Passes every read to ``inner`` and counts it, per method."""

    def __init__(self, inner: CatalogQueries) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    async def list_courses(self, where: CatalogFilter, after: CatalogKey | None, limit: int) -> list[CourseSummary]:
        self.calls["list_courses"] += 1
        return await self.inner.list_courses(where, after, limit)

    async def outline(self, course_id: uuid.UUID) -> CourseOutline | None:
        self.calls["outline"] += 1
        return await self.inner.outline(course_id)

    async def outline_by_slug(self, slug: str) -> CourseOutline | None:
        self.calls["outline_by_slug"] += 1
        return await self.inner.outline_by_slug(slug)

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [n for n in os.environ if n.startswith("ELEARNING_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    # No cache of the container's own: each test wraps the bare catalog reads in the cache it studies.
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", data_dir=tmp_path, cache="none")
    async with await bootstrap(settings) as embedded:
        yield embedded


@pytest.fixture
def db_reads(platform: Platform) -> CountingQueries:
    return CountingQueries(platform.container.course.catalog_queries())


@dataclass
class CacheSetup:
    name: str
    cache: Cache
    clock: Callable[[], float]
    # Lets cache entries age: a fake clock in memory, a real wait on Redis (expiry is server-side).
    advance: Callable[[float], Awaitable[None]]

    def wrap(self, inner: CatalogQueries, ttl_seconds: float = 60.0) -> CachedCatalogQueries:
        return CachedCatalogQueries(inner, self.cache, ttl_seconds, clock=self.clock)


@pytest.fixture(params=["memory", "redis"])
async def cache_setup(request: pytest.FixtureRequest) -> AsyncIterator[CacheSetup]:
    if request.param == "memory":
        clock = ManualClock()

        async def tick(seconds: float) -> None:
            clock.advance(seconds)

        yield CacheSetup("memory", InMemoryCache(clock=clock), clock, tick)
        return
    require_redis()
    prefix = f"test:{uuid.uuid4().hex}:"
    # Generous timeouts: these tests are about sharing reads, and on a loaded CI machine (two xdist workers
    # on two cores) a connection now and then took past the 0.2 s default and tripped the breaker.
    cache = RedisCache(REDIS_URL, key_prefix=prefix, connect_timeout=5.0, socket_timeout=5.0)
    try:
        yield CacheSetup("redis", cache, time.monotonic, asyncio.sleep)
        assert not cache.breaker_open, "Redis failed during the test"
    finally:
        await cache.aclose()
        await delete_prefix(prefix)


async def a_course(
    platform: Platform,
    title: str,
    *,
    sections: int = 1,
    lessons: int = 2,
    publish: bool = True,
    **details: object,
) -> Course:
    course = await platform.courses.create(SYSTEM, CreateCourse(title=title, **details))
    for s in range(sections):
        section = await platform.courses.add_section(SYSTEM, AddSection(course_id=course.id, title=f"Part {s + 1}"))
        for n in range(lessons):
            await platform.courses.add_lesson(
                SYSTEM, AddLesson(course_id=course.id, section_id=section.id, title=f"Lesson {s + 1}.{n + 1}")
            )
    if publish:
        course = await platform.courses.publish(SYSTEM, CourseRef(course_id=course.id))
    async with platform.database.write() as conn, conn.begin():  # the search projection's part (the text filter)
        await refresh_course(conn, platform.container.search.index(), course.id)
    return course


async def a_catalog(platform: Platform) -> list[Course]:
    return [
        await a_course(platform, "Python for Data Analysis", tags=["python", "data"], level=Level.INTERMEDIATE),
        await a_course(platform, "Rust in Action", language="pt-br", level=Level.ADVANCED, owner_id=uuid.uuid4()),
        await a_course(platform, "Ünïcode Básics", sections=3, lessons=3, summary="Texto 100% útil", tags=["text"]),
        await a_course(platform, "Empty outline", sections=0, lessons=0, publish=False),
        await a_course(platform, "Draft with lessons", publish=False, description="Long text"),
    ]


FILTERS = [
    CatalogFilter(),
    CatalogFilter(status=None),
    CatalogFilter(status=CourseStatus.DRAFT),
    CatalogFilter(language="pt-br"),
    CatalogFilter(level=Level.INTERMEDIATE),
    CatalogFilter(tag="PYTHON"),
    CatalogFilter(text="100%"),
    CatalogFilter(text="nothing matches this"),
]


async def test_cached_reads_return_exactly_what_uncached_reads_return(
    platform: Platform, db_reads: CountingQueries, cache_setup: CacheSetup
) -> None:
    courses = await a_catalog(platform)
    cached = cache_setup.wrap(db_reads)
    uncached = db_reads.inner
    for where in FILTERS:
        for limit in (1, 2, 100):
            expected = await uncached.list_courses(where, None, limit)
            for _ in range(2):  # the miss, then the hit
                # repr() compares what == does not: tz objects, enum types, list vs tuple.
                assert repr(await cached.list_courses(where, None, limit)) == repr(expected)
        rows = await uncached.list_courses(where, None, 100)
        if rows:
            first = rows[0]
            sort_at = first.published_at if where.status is CourseStatus.PUBLISHED else first.created_at
            assert sort_at is not None
            expected = await uncached.list_courses(where, (sort_at, first.id), 100)
            for _ in range(2):
                assert repr(await cached.list_courses(where, (sort_at, first.id), 100)) == repr(expected)
    for course in courses:
        expected_outline = await uncached.outline(course.id)
        assert expected_outline is not None
        for _ in range(2):
            assert repr(await cached.outline(course.id)) == repr(expected_outline)
            assert repr(await cached.outline_by_slug(course.slug)) == repr(expected_outline)
    for _ in range(2):
        assert await cached.outline(uuid.uuid4()) is None
        assert await cached.outline_by_slug("no-such-course") is None
        assert await cached.outline_by_slug("x" * 10_000) is None


async def test_a_second_read_is_served_from_the_cache(
    platform: Platform, db_reads: CountingQueries, cache_setup: CacheSetup
) -> None:
    [course, *_] = await a_catalog(platform)
    cached = cache_setup.wrap(db_reads)
    unknown = uuid.uuid4()
    first = (
        await cached.list_courses(CatalogFilter(), None, 20),
        await cached.outline(course.id),
        await cached.outline_by_slug(course.slug),
        await cached.outline(unknown),
    )
    assert db_reads.calls == {"list_courses": 1, "outline": 2, "outline_by_slug": 1}
    db_reads.calls.clear()
    second = (
        await cached.list_courses(CatalogFilter(), None, 20),
        await cached.outline(course.id),
        await cached.outline_by_slug(course.slug),
        await cached.outline(unknown),
    )
    assert second == first
    assert db_reads.total == 0
    # Another page, filter or limit is another entry.
    await cached.list_courses(CatalogFilter(), None, 19)
    await cached.list_courses(CatalogFilter(language="en"), None, 20)
    assert db_reads.calls == {"list_courses": 2}


@pytest.mark.parametrize("pass_slug", [True, False])
async def test_after_a_change_and_invalidate_course_the_next_read_shows_it(
    platform: Platform, db_reads: CountingQueries, cache_setup: CacheSetup, pass_slug: bool
) -> None:
    course = await a_course(platform, "Before the change", lessons=1)
    other = await a_course(platform, "Untouched course")
    cached = cache_setup.wrap(db_reads)
    assert (await cached.outline_by_slug("before-the-change")) is not None
    assert (await cached.outline(other.id)) is not None
    await cached.list_courses(CatalogFilter(), None, 20)

    # A published course keeps its slug: unpublish, rename, publish again.
    await platform.courses.unpublish(SYSTEM, CourseRef(course_id=course.id))
    await platform.courses.update(SYSTEM, UpdateCourse(course_id=course.id, title="After", slug="after-the-change"))
    await platform.courses.publish(SYSTEM, CourseRef(course_id=course.id))
    outline = await platform.courses.get_outline(SYSTEM, course.id)
    section, lesson = outline.sections[0], outline.sections[0].lessons[0]
    await platform.courses.rename_lesson(
        SYSTEM, RenameLesson(course_id=course.id, section_id=section.id, lesson_id=lesson.id, title="Renamed")
    )
    await cached.invalidate_course(course.id, "after-the-change" if pass_slug else None)

    titles = {r.id: r.title for r in await cached.list_courses(CatalogFilter(), None, 20)}
    assert titles == {course.id: "After", other.id: "Untouched course"}
    by_id = await cached.outline(course.id)
    assert by_id is not None
    assert (by_id.title, by_id.slug, by_id.sections[0].lessons[0].title) == ("After", "after-the-change", "Renamed")
    assert await cached.outline_by_slug("after-the-change") == by_id
    assert await cached.outline_by_slug("before-the-change") is None
    # Other courses' outlines stay cached.
    db_reads.calls.clear()
    assert (await cached.outline(other.id)) is not None
    assert db_reads.total == 0


async def test_by_slug_reads_are_cached_again_right_after_an_invalidation(
    platform: Platform, db_reads: CountingQueries, cache_setup: CacheSetup
) -> None:
    course = await a_course(platform, "Hot course")
    cached = cache_setup.wrap(db_reads)
    await cached.outline_by_slug(course.slug)
    await platform.courses.update(SYSTEM, UpdateCourse(course_id=course.id, title="Hot and changed"))
    await cached.invalidate_course(course.id, course.slug)
    db_reads.calls.clear()
    for _ in range(5):
        outline = await cached.outline_by_slug(course.slug)
        assert outline is not None
        assert outline.title == "Hot and changed"
    # The slug is resolved once, the outline read once by id (with the race guard); then hits.
    assert db_reads.calls == {"outline_by_slug": 1, "outline": 1}


async def test_a_published_draft_appears_after_invalidation(
    platform: Platform, db_reads: CountingQueries, cache_setup: CacheSetup
) -> None:
    draft = await a_course(platform, "Soon live", publish=False)
    cached = cache_setup.wrap(db_reads)
    assert await cached.list_courses(CatalogFilter(), None, 20) == []
    await platform.courses.publish(SYSTEM, CourseRef(course_id=draft.id))
    await cached.invalidate_course(draft.id, draft.slug)
    assert [r.id for r in await cached.list_courses(CatalogFilter(), None, 20)] == [draft.id]


async def test_a_deleted_course_is_gone_after_invalidation(
    platform: Platform, db_reads: CountingQueries, cache_setup: CacheSetup
) -> None:
    course = await a_course(platform, "Short lived", publish=False)
    cached = cache_setup.wrap(db_reads)
    assert await cached.outline(course.id) is not None
    assert await cached.outline_by_slug(course.slug) is not None
    assert [r.id for r in await cached.list_courses(CatalogFilter(status=None), None, 20)] == [course.id]
    await platform.courses.delete(SYSTEM, CourseRef(course_id=course.id))
    await cached.invalidate_course(course.id)
    assert await cached.outline(course.id) is None
    assert await cached.outline_by_slug(course.slug) is None
    assert await cached.list_courses(CatalogFilter(status=None), None, 20) == []


async def test_invalidate_all_drops_every_entry(
    platform: Platform, db_reads: CountingQueries, cache_setup: CacheSetup
) -> None:
    course = await a_course(platform, "Kept in cache")
    cached = cache_setup.wrap(db_reads)
    await cached.list_courses(CatalogFilter(), None, 20)
    await cached.outline(course.id)
    await cached.outline_by_slug(course.slug)
    await cached.invalidate_all()
    db_reads.calls.clear()
    await cached.list_courses(CatalogFilter(), None, 20)
    await cached.outline(course.id)
    await cached.outline_by_slug(course.slug)
    assert db_reads.calls == {"list_courses": 1, "outline": 1, "outline_by_slug": 1}


async def test_without_invalidation_the_stale_value_is_served_until_the_ttl(
    platform: Platform, db_reads: CountingQueries, cache_setup: CacheSetup
) -> None:
    course = await a_course(platform, "Original title")
    cached = cache_setup.wrap(db_reads, ttl_seconds=0.5)
    await cached.list_courses(CatalogFilter(), None, 20)
    await cached.outline(course.id)
    await platform.courses.update(SYSTEM, UpdateCourse(course_id=course.id, title="New title"))
    # The catalog lists published versions: the new title is listed once published.
    await platform.courses.publish(SYSTEM, CourseRef(course_id=course.id))

    [row] = await cached.list_courses(CatalogFilter(), None, 20)
    outline = await cached.outline(course.id)
    assert (row.title, outline and outline.title) == ("Original title", "Original title")

    await cache_setup.advance(1.0)
    [row] = await cached.list_courses(CatalogFilter(), None, 20)
    outline = await cached.outline(course.id)
    assert (row.title, outline and outline.title) == ("New title", "New title")


async def test_a_read_that_started_before_an_invalidation_does_not_store_the_old_outline(
    platform: Platform, cache_setup: CacheSetup
) -> None:
    course = await a_course(platform, "Raced")
    inner = platform.container.course.catalog_queries()
    cached: CachedCatalogQueries | None = None

    class ChangedDuringTheRead(CountingQueries):
        async def outline(self, course_id: uuid.UUID) -> CourseOutline | None:
            old = await super().outline(course_id)
            if self.calls["outline"] > 1:
                return old
            await platform.courses.update(SYSTEM, UpdateCourse(course_id=course_id, title="Changed"))
            assert cached is not None
            await cached.invalidate_course(course_id)
            return old

    cached = cache_setup.wrap(ChangedDuringTheRead(inner))
    stale = await cached.outline(course.id)
    assert stale is not None
    assert stale.title == "Raced"  # this read raced the change...
    fresh = await cached.outline(course.id)  # ...but did not leave the old outline behind
    assert fresh is not None
    assert fresh.title == "Changed"


@pytest.mark.parametrize("limit", [1, 3, 10])
async def test_the_service_pages_through_the_cached_catalog_without_gaps_or_duplicates(
    platform: Platform, db_reads: CountingQueries, cache_setup: CacheSetup, limit: int
) -> None:
    # The catalog contract's paging scenario, through the cache: twice, the second time from it.
    courses = [await a_course(platform, f"Course {n}", lessons=1) for n in range(10)]
    await a_course(platform, "Course draft", publish=False)
    service = CourseService(
        platform.container.adapters.unit_of_work.provider,
        cache_setup.wrap(db_reads),
        platform.container.adapters.clock(),
        platform.container.adapters.policy(),
        platform.container.adapters.cursors(),
    )
    expected = [c.id for c in sorted(courses, key=lambda c: (c.published_at, c.id), reverse=True)]
    for round_ in range(2):
        db_reads.calls.clear()
        for actor, where, count in (
            (ANONYMOUS, CatalogFilter(text="course"), 10),
            (SYSTEM, CatalogFilter(status=None), 11),
        ):
            seen: list[uuid.UUID] = []
            cursor: str | None = None
            for _ in range(12):
                page = await service.list_courses(actor, where, cursor=cursor, limit=limit)
                seen.extend(item.id for item in page.items)
                if (cursor := page.next_cursor) is None:
                    break
            assert cursor is None
            assert len(seen) == len(set(seen)) == count
            if actor is ANONYMOUS:
                assert seen == expected
        if round_ == 1:
            assert db_reads.total == 0


# -- the list page's hit path: shared cache reads, decoded once ------------------------------------


class GatedCache(Cache):
    """Passes every call to ``inner``; while closed, list page reads wait at the gate, as they would
    for a slow round trip. Counts the list page reads that reached it."""

    def __init__(self, inner: Cache) -> None:
        self.inner = inner
        self.page_reads = 0
        self.waiting = 0
        self._open = asyncio.Event()
        self._open.set()

    def close(self) -> None:
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    async def get(self, key: str) -> bytes | None:
        if ":list:" in key:
            self.page_reads += 1
            self.waiting += 1
            try:
                await self._open.wait()
            finally:
                self.waiting -= 1
        return await self.inner.get(key)

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        await self.inner.set(key, value, ttl_seconds)

    async def delete(self, *keys: str) -> None:
        await self.inner.delete(*keys)

    async def incr(self, key: str) -> int:
        return await self.inner.incr(key)


async def turns_until(condition: Callable[[], bool]) -> None:
    """Let the other tasks run until ``condition`` holds: turns of the event loop first, then short sleeps, for
    at most 10 s. On Redis the tasks make a round trip (the list version) before they reach the gate, and on a
    loaded CI machine one took longer than a thousand turns: the test failed with the tasks still on their way."""
    deadline = time.monotonic() + 10
    turns = 0
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"the other tasks never got there ({turns} turns, 10 s)")
        turns += 1
        await asyncio.sleep(0 if turns < 1_000 else 0.001)


async def test_concurrent_reads_of_a_page_share_one_cache_read(
    platform: Platform, db_reads: CountingQueries, cache_setup: CacheSetup
) -> None:
    await a_catalog(platform)
    gate = GatedCache(cache_setup.cache)
    # A clock that moves only when told: the list version is read once per step, and only page reads
    # reach the gate. Each step outlives the process's near copy of a page (version_ttl_seconds).
    clock = ManualClock()
    cached = CachedCatalogQueries(db_reads, gate, clock=clock)
    first_page = await cached.list_courses(CatalogFilter(), None, 20)  # fills the cache
    other_page = await cached.list_courses(CatalogFilter(language="pt-br"), None, 20)
    clock.advance(0.5)
    gate.close()
    gate.page_reads = 0
    first = [asyncio.create_task(cached.list_courses(CatalogFilter(), None, 20)) for _ in range(5)]
    other = [asyncio.create_task(cached.list_courses(CatalogFilter(language="pt-br"), None, 20)) for _ in range(3)]
    await turns_until(lambda: gate.waiting == 2)
    gate.open()
    assert await asyncio.gather(*first) == [first_page] * 5
    assert await asyncio.gather(*other) == [other_page] * 3
    assert gate.page_reads == 2  # one per page key, shared by the reads that came while it was on its way
    assert db_reads.calls == {"list_courses": 2}  # the two fills only

    # Within the near copy's life a read does not ask the shared cache at all...
    assert await cached.list_courses(CatalogFilter(), None, 20) == first_page
    assert gate.page_reads == 2
    # ...after it, reads ask the cache again: sharing lasts one round trip, not longer.
    clock.advance(0.5)
    assert await cached.list_courses(CatalogFilter(), None, 20) == first_page
    assert gate.page_reads == 3


async def test_a_page_is_served_from_the_process_s_near_copy_until_the_list_version_is_looked_up_again(
    platform: Platform, db_reads: CountingQueries, cache_setup: CacheSetup
) -> None:
    """Two processes on one shared cache: each keeps its own near copy of a page for
    ``version_ttl_seconds``; one's invalidation is seen by the other once it looks the version up again,
    by itself at once."""
    course = await a_course(platform, "Near copies")
    gate = GatedCache(cache_setup.cache)
    clock = ManualClock()
    here = CachedCatalogQueries(db_reads, gate, clock=clock)
    there = CachedCatalogQueries(db_reads, cache_setup.cache, clock=clock)
    [before] = await here.list_courses(CatalogFilter(), None, 20)
    assert [before] == await there.list_courses(CatalogFilter(), None, 20)
    gate.page_reads = 0
    for _ in range(3):
        assert await here.list_courses(CatalogFilter(), None, 20) == [before]
    assert gate.page_reads == 0  # the near copy: no round trip to the shared cache

    await platform.courses.update(SYSTEM, UpdateCourse(course_id=course.id, title="Near copies, renamed"))
    await platform.courses.publish(SYSTEM, CourseRef(course_id=course.id))
    await there.invalidate_course(course.id, course.slug)
    [seen_there] = await there.list_courses(CatalogFilter(), None, 20)
    assert seen_there.title == "Near copies, renamed"  # the invalidating process: at once
    clock.advance(0.5)  # the other looks the list version up again...
    [seen_here] = await here.list_courses(CatalogFilter(), None, 20)
    assert seen_here.title == "Near copies, renamed"  # ...and reads the new page
    assert gate.page_reads == 1


async def test_a_cancelled_read_leaves_the_reads_that_joined_it_a_correct_answer(
    platform: Platform, db_reads: CountingQueries, cache_setup: CacheSetup
) -> None:
    await a_catalog(platform)
    gate = GatedCache(cache_setup.cache)
    clock = ManualClock()
    cached = CachedCatalogQueries(db_reads, gate, clock=clock)
    expected = await cached.list_courses(CatalogFilter(), None, 20)
    clock.advance(0.5)  # past the near copy's life: the next reads ask the cache
    gate.close()
    gate.page_reads = 0
    leader = asyncio.create_task(cached.list_courses(CatalogFilter(), None, 20))
    await turns_until(lambda: gate.waiting == 1)
    joined = [asyncio.create_task(cached.list_courses(CatalogFilter(), None, 20)) for _ in range(3)]
    for _ in range(3):
        await asyncio.sleep(0)
    assert (gate.page_reads, [t.done() for t in joined]) == (1, [False] * 3)  # waiting for the leader's read
    db_reads.calls.clear()
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    gate.open()
    # The shared read never answered: each joined read takes it as a miss and reads the database.
    assert await asyncio.gather(*joined) == [expected] * 3
    assert db_reads.calls == {"list_courses": 3}


async def test_rows_served_from_the_decoded_page_are_each_read_s_own_list(
    platform: Platform, db_reads: CountingQueries, cache_setup: CacheSetup
) -> None:
    await a_catalog(platform)
    cached = cache_setup.wrap(db_reads)
    expected = await cached.list_courses(CatalogFilter(status=None), None, 20)  # the miss
    for _ in range(2):  # the hit that decodes, then one that does not
        mine = await cached.list_courses(CatalogFilter(status=None), None, 20)
        assert mine == expected
        mine.clear()  # a caller may do what it likes with its list...
    again = await cached.list_courses(CatalogFilter(status=None), None, 20)
    assert again == expected != []  # ...the next read is not affected
    assert db_reads.calls == {"list_courses": 1}


# -- Redis unreachable: reads degrade to the database, never to errors ---------------------------


async def test_with_redis_down_reads_are_correct_and_the_breaker_spares_further_attempts(
    platform: Platform, db_reads: CountingQueries
) -> None:
    courses = await a_catalog(platform)
    clock = ManualClock()
    cache = RedisCache(DEAD_URL, clock=clock)
    cached = CachedCatalogQueries(db_reads, cache, clock=clock)
    try:
        for _ in range(2):
            assert await cached.list_courses(CatalogFilter(), None, 20) == await db_reads.inner.list_courses(
                CatalogFilter(), None, 20
            )
            for course in courses:
                assert await cached.outline(course.id) == await db_reads.inner.outline(course.id)
                assert await cached.outline_by_slug(course.slug) == await db_reads.inner.outline_by_slug(course.slug)
        await cached.invalidate_course(courses[0].id, courses[0].slug)
        await cached.invalidate_all()
        assert cache.breaker_open
        assert cache.attempts == 1  # one refused connection; every later call answered by the breaker
        # The second list read came within the life of the near copy the first one kept (the clock
        # stands still); every other read went to the database.
        assert db_reads.calls == {"list_courses": 1, "outline": 10, "outline_by_slug": 10}
    finally:
        await cache.aclose()


async def test_redis_failing_mid_way_degrades_to_uncached_reads_and_catches_up_after(
    platform: Platform, db_reads: CountingQueries
) -> None:
    require_redis()
    course = await a_course(platform, "Cached before the outage")
    prefix = f"test:{uuid.uuid4().hex}:"
    proxy = CuttableProxy()
    clock = ManualClock()
    cache = RedisCache(await proxy.start(), key_prefix=prefix, cooldown_seconds=1.0, clock=clock)
    cached = CachedCatalogQueries(db_reads, cache, clock=clock)
    try:
        await cached.list_courses(CatalogFilter(), None, 20)
        await cached.outline(course.id)
        db_reads.calls.clear()
        await cached.list_courses(CatalogFilter(), None, 20)
        await cached.outline(course.id)
        assert db_reads.total == 0  # warm

        proxy.cut()
        clock.advance(0.5)  # past the near copy's life: the read asks Redis (versions, then the page)
        [row] = await cached.list_courses(CatalogFilter(), None, 20)
        assert row.title == "Cached before the outage"
        assert cache.breaker_open
        attempts = cache.attempts
        # The change and its invalidation happen while Redis is unreachable.
        await platform.courses.update(SYSTEM, UpdateCourse(course_id=course.id, title="Changed in the outage"))
        await platform.courses.publish(SYSTEM, CourseRef(course_id=course.id))  # the catalog lists published versions
        await cached.invalidate_course(course.id, course.slug)
        [row] = await cached.list_courses(CatalogFilter(), None, 20)
        outline = await cached.outline(course.id)
        assert (row.title, outline and outline.title) == ("Changed in the outage", "Changed in the outage")
        assert cache.attempts == attempts  # within the cool-down Redis is not tried again

        proxy.restore()
        clock.advance(1.5)
        # Redis still holds the old entries, but the missed invalidation is replayed first.
        [row] = await cached.list_courses(CatalogFilter(), None, 20)
        outline = await cached.outline(course.id)
        assert (row.title, outline and outline.title) == ("Changed in the outage", "Changed in the outage")
        assert not cache.breaker_open
        db_reads.calls.clear()
        await cached.list_courses(CatalogFilter(), None, 20)
        await cached.outline(course.id)
        assert db_reads.total == 0  # cached again
    finally:
        await cache.aclose()
        await proxy.stop()
        await delete_prefix(prefix)


async def test_closing_the_redis_client_mid_way_keeps_reads_correct(
    platform: Platform, db_reads: CountingQueries
) -> None:
    require_redis()
    course = await a_course(platform, "Closed client")
    prefix = f"test:{uuid.uuid4().hex}:"
    cache = RedisCache(REDIS_URL, key_prefix=prefix)
    cached = CachedCatalogQueries(db_reads, cache)
    try:
        expected = await cached.outline(course.id)
        await cache.aclose()
        assert await cached.outline(course.id) == expected
        assert await cached.outline_by_slug(course.slug) == expected
        assert [r.id for r in await cached.list_courses(CatalogFilter(), None, 20)] == [course.id]
    finally:
        await cache.aclose()
        await delete_prefix(prefix)


async def test_the_list_version_token_moves_with_every_invalidation_and_only_a_cache_has_one(
    platform: Platform, db_reads: CountingQueries, cache_setup: CacheSetup
) -> None:
    """``list_version`` is what the HTTP page memo keys anonymous pages by: it changes on an invalidation in
    this process at once and in another once it looks the version up again; a reader without a cache has
    no token (so nothing is memoized over it)."""
    course = await a_course(platform, "Versioned")
    clock = ManualClock()
    here = CachedCatalogQueries(db_reads, cache_setup.cache, clock=clock)
    there = CachedCatalogQueries(db_reads, cache_setup.cache, clock=clock)
    before = await here.list_version()
    assert before is not None
    assert await there.list_version() == before
    await here.invalidate_course(course.id, course.slug)
    after = await here.list_version()
    assert after != before
    assert await there.list_version() == before  # within its version_ttl_seconds
    clock.advance(0.5)
    assert await there.list_version() == after
    assert await db_reads.list_version() is None
