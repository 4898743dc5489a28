"""The Cache port contract, run on InMemoryCache and on RedisCache against a real Redis.

Also the behaviour only one adapter has: the in-memory LRU bounds, and the
Redis adapter's circuit breaker (dead port, hung server, connection cut
mid-way, recovery with replay of missed invalidations). Redis is required in
CI; elsewhere these tests skip when it cannot be reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import redis
import redis.asyncio

from elearning_adapters.cache import InMemoryCache
from elearning_adapters.redis import RedisCache
from elearning_core.shared.cache import Cache


def _worker_redis_url() -> str:
    """Redis db 0 for a plain run; db 1 + N for pytest-xdist worker gwN, so parallel workers share no keyspace."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    db = 1 + int(worker.removeprefix("gw")) % 15 if worker.startswith("gw") else 0
    return f"redis://127.0.0.1:6379/{db}"


# Keys and pub/sub channels are also namespaced per test (uuid prefixes): channels are not per db in Redis.
REDIS_URL = os.environ.get("ELEARNING_TEST_REDIS_URL") or _worker_redis_url()
IN_CI = bool(os.environ.get("CI"))
DEAD_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connections are refused at once


def redis_unavailable() -> str | None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
        return None
    except redis.RedisError as exc:
        return f"Redis at {REDIS_URL} is unreachable: {exc}"


def require_redis() -> None:
    reason = redis_unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"Redis is required in CI: {reason}")
        pytest.skip(reason)


class ManualClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def delete_prefix(prefix: str) -> None:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@dataclass
class CacheUnderTest:
    cache: Cache
    # Lets entries age: moves a fake clock in memory, really waits on Redis (expiry is server-side).
    advance: Callable[[float], Awaitable[None]]


@pytest.fixture(params=["memory", "redis"])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[CacheUnderTest]:
    if request.param == "memory":
        clock = ManualClock()

        async def tick(seconds: float) -> None:
            clock.advance(seconds)

        yield CacheUnderTest(InMemoryCache(clock=clock), tick)
        return
    require_redis()
    prefix = f"test:{uuid.uuid4().hex}:"
    # Generous timeouts: the port's behaviour is under test here, not the production 0.2 s
    # budget (the breaker tests below cover that), and a loaded CI machine must not trip it.
    cache = RedisCache(REDIS_URL, key_prefix=prefix, connect_timeout=5.0, socket_timeout=5.0)
    try:
        yield CacheUnderTest(cache, asyncio.sleep)
        assert not cache.breaker_open, "Redis failed during the test"
    finally:
        await cache.aclose()
        await delete_prefix(prefix)


# -- the port contract -----------------------------------------------------------------------


async def test_an_absent_key_is_a_miss(subject: CacheUnderTest) -> None:
    assert await subject.cache.get("absent") is None


async def test_set_then_get_returns_the_same_bytes(subject: CacheUnderTest) -> None:
    value = bytes(range(256)) * 4  # not UTF-8: values are opaque bytes
    await subject.cache.set("k", value, 60)
    assert await subject.cache.get("k") == value
    await subject.cache.set("empty", b"", 60)
    assert await subject.cache.get("empty") == b""


async def test_keys_are_distinct_and_may_hold_any_text(subject: CacheUnderTest) -> None:
    await subject.cache.set("catalog:slug:ünïcode key with spaces", b"1", 60)
    await subject.cache.set("catalog:slug:ünïcode key with spaces ", b"2", 60)
    assert await subject.cache.get("catalog:slug:ünïcode key with spaces") == b"1"
    assert await subject.cache.get("catalog:slug:ünïcode key with spaces ") == b"2"


async def test_get_many_answers_each_key_in_order_with_none_for_misses(subject: CacheUnderTest) -> None:
    await subject.cache.set("a", b"1", 60)
    await subject.cache.set("c", b"", 60)
    assert await subject.cache.get_many("a", "b", "c", "a") == [b"1", None, b"", b"1"]
    assert await subject.cache.get_many() == []
    await subject.cache.set("short", b"v", 0.2)
    await subject.advance(0.4)
    assert await subject.cache.get_many("short", "a") == [None, b"1"]


async def test_set_replaces_the_value(subject: CacheUnderTest) -> None:
    await subject.cache.set("k", b"old", 60)
    await subject.cache.set("k", b"new", 60)
    assert await subject.cache.get("k") == b"new"


async def test_a_large_value_round_trips(subject: CacheUnderTest) -> None:
    value = os.urandom(1024 * 1024)
    await subject.cache.set("big", value, 60)
    assert await subject.cache.get("big") == value


async def test_an_entry_expires_after_its_ttl(subject: CacheUnderTest) -> None:
    await subject.cache.set("short", b"v", 0.2)
    await subject.cache.set("long", b"v", 60)
    assert await subject.cache.get("short") == b"v"
    await subject.advance(0.4)
    assert await subject.cache.get("short") is None
    assert await subject.cache.get("long") == b"v"


async def test_setting_again_renews_the_ttl(subject: CacheUnderTest) -> None:
    await subject.cache.set("k", b"1", 0.2)
    await subject.cache.set("k", b"2", 60)
    await subject.advance(0.4)
    assert await subject.cache.get("k") == b"2"


@pytest.mark.parametrize("ttl", [0, -1])
async def test_a_ttl_must_be_positive(subject: CacheUnderTest, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        await subject.cache.set("k", b"v", ttl)
    assert await subject.cache.get("k") is None


async def test_delete_removes_several_keys_and_ignores_absent_ones(subject: CacheUnderTest) -> None:
    for key in ("a", "b", "c"):
        await subject.cache.set(key, key.encode(), 60)
    await subject.cache.delete("a", "c", "never-set")
    await subject.cache.delete()
    assert [await subject.cache.get(k) for k in ("a", "b", "c")] == [None, b"b", None]


async def test_incr_counts_from_zero(subject: CacheUnderTest) -> None:
    assert [await subject.cache.incr("n") for _ in range(3)] == [1, 2, 3]
    assert await subject.cache.get("n") == b"3"
    assert await subject.cache.incr("other") == 1


async def test_incr_continues_a_stored_integer(subject: CacheUnderTest) -> None:
    await subject.cache.set("n", b"41", 60)
    assert await subject.cache.incr("n") == 42
    assert await subject.cache.get("n") == b"42"


async def test_an_incremented_counter_does_not_expire(subject: CacheUnderTest) -> None:
    await subject.cache.incr("version")
    await subject.advance(0.3)
    assert await subject.cache.get("version") == b"1"


async def test_incr_keeps_an_existing_ttl(subject: CacheUnderTest) -> None:
    await subject.cache.set("n", b"5", 0.2)
    assert await subject.cache.incr("n") == 6
    await subject.advance(0.4)
    assert await subject.cache.get("n") is None


async def test_incr_after_delete_starts_again(subject: CacheUnderTest) -> None:
    await subject.cache.incr("n")
    await subject.cache.delete("n")
    assert await subject.cache.incr("n") == 1


async def test_concurrent_incrs_are_not_lost(subject: CacheUnderTest) -> None:
    results = await asyncio.gather(*(subject.cache.incr("n") for _ in range(50)))
    assert sorted(results) == list(range(1, 51))


# -- InMemoryCache: bounds -------------------------------------------------------------------


async def test_memory_cache_evicts_the_least_recently_used_entry() -> None:
    cache = InMemoryCache(max_entries=3)
    for key in ("a", "b", "c"):
        await cache.set(key, b"v", 60)
    assert await cache.get("a") == b"v"  # now b is the least recently used
    await cache.set("d", b"v", 60)
    assert [await cache.get(k) for k in ("a", "b", "c", "d")] == [b"v", None, b"v", b"v"]
    assert len(cache) == 3


async def test_memory_cache_keeps_its_byte_budget() -> None:
    cache = InMemoryCache(max_entries=100, max_bytes=100)
    await cache.set("a", b"x" * 40, 60)
    await cache.set("b", b"x" * 40, 60)
    await cache.set("c", b"x" * 40, 60)  # 3 x 41 bytes > 100: "a" goes
    assert [await cache.get(k) for k in ("a", "b", "c")] == [None, b"x" * 40, b"x" * 40]
    await cache.set("huge", b"x" * 200, 60)  # larger than the whole budget: not stored, nothing evicted
    assert await cache.get("huge") is None
    assert len(cache) == 2


async def test_memory_cache_replacing_a_value_frees_the_old_bytes() -> None:
    cache = InMemoryCache(max_entries=100, max_bytes=100)
    for _ in range(10):
        await cache.set("a", b"x" * 60, 60)
    await cache.set("b", b"x" * 30, 60)
    assert await cache.get("a") == b"x" * 60
    assert await cache.get("b") == b"x" * 30


# -- RedisCache: the circuit breaker -------------------------------------------------------------


class HungServer:
    """Accepts TCP connections and never answers: every command hits the read timeout."""

    def __init__(self) -> None:
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class CuttableProxy:
    """A loopback TCP proxy to Redis. ``cut()`` drops every connection and refuses new ones
    (Redis failing mid-way, as seen from the client); ``restore()`` forwards again."""

    def __init__(self, target_host: str = "127.0.0.1", target_port: int = 6379) -> None:
        self._target = (target_host, target_port)
        self._up = True
        self._links: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    def cut(self) -> None:
        self._up = False
        for writer in list(self._links):
            writer.close()

    def restore(self) -> None:
        self._up = True

    async def stop(self) -> None:
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if not self._up:
            client_writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        self._links.update({client_writer, upstream_writer})
        for source, sink in ((client_reader, upstream_writer), (upstream_reader, client_writer)):
            task = asyncio.create_task(self._pipe(source, sink, (client_writer, upstream_writer)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, pair: tuple[asyncio.StreamWriter, ...]
    ) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        for writer in pair:
            writer.close()
            self._links.discard(writer)


async def test_a_dead_redis_is_a_miss_and_a_no_op_then_the_breaker_opens(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    cache = RedisCache(DEAD_URL, cooldown_seconds=1.0, clock=clock)
    try:
        with caplog.at_level(logging.WARNING, logger="elearning_adapters.redis.cache"):
            assert await cache.get("k") is None
            assert cache.breaker_open
            assert cache.attempts == 1
            await cache.set("k", b"v", 60)
            await cache.delete("k")
            assert await cache.incr("n") == 0
            assert await cache.get("k") is None
            assert await cache.get_many("k", "n") == [None, None]
        # Within the cool-down nothing went to the network, and the outage was logged once.
        assert cache.attempts == 1
        assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1

        clock.advance(1.01)
        assert await cache.get("k") is None  # one probe after the cool-down...
        assert cache.attempts == 2
        assert await cache.get("k") is None  # ...which failed, so the breaker is open again
        assert cache.attempts == 2
    finally:
        await cache.aclose()


async def test_a_hung_redis_costs_one_timeout_per_cool_down() -> None:
    server = HungServer()
    clock = ManualClock()
    cache = RedisCache(await server.start(), socket_timeout=0.1, connect_timeout=0.1, clock=clock)
    try:
        assert await cache.get("k") is None
        assert cache.breaker_open
        results = await asyncio.gather(*(cache.get("k") for _ in range(20)))
        assert results == [None] * 20
        assert (cache.attempts, server.connections) == (1, 1)
    finally:
        await cache.aclose()
        await server.stop()


async def test_redis_failing_mid_way_opens_the_breaker_and_recovers_with_missed_invalidations() -> None:
    require_redis()
    prefix = f"test:{uuid.uuid4().hex}:"
    proxy = CuttableProxy()
    clock = ManualClock()
    cache = RedisCache(await proxy.start(), key_prefix=prefix, cooldown_seconds=1.0, clock=clock)
    try:
        await cache.set("outline", b"old", 60)
        assert await cache.incr("version") == 1
        assert await cache.get("outline") == b"old"

        proxy.cut()
        assert await cache.get("outline") is None  # the pooled connection is gone: a miss, no error
        assert cache.breaker_open
        await cache.delete("outline")  # invalidations Redis does not see now...
        assert await cache.incr("version") == 0
        attempts = cache.attempts

        proxy.restore()
        assert await cache.get("outline") is None  # still within the cool-down: not even tried
        assert cache.attempts == attempts

        clock.advance(1.01)
        assert await cache.get("other") is None  # the probe succeeds and closes the breaker
        assert not cache.breaker_open
        assert await cache.get("outline") is None  # ...are applied once it is back
        assert await cache.incr("version") == 3
    finally:
        await cache.aclose()
        await proxy.stop()
        await delete_prefix(prefix)


async def test_only_one_probe_at_a_time_after_the_cool_down() -> None:
    server = HungServer()
    clock = ManualClock()
    cache = RedisCache(await server.start(), socket_timeout=0.1, connect_timeout=0.1, clock=clock)
    try:
        await cache.get("k")
        clock.advance(5)
        assert await asyncio.gather(*(cache.get("k") for _ in range(10))) == [None] * 10
        assert cache.attempts == 2
        assert cache.breaker_open
    finally:
        await cache.aclose()
        await server.stop()
