"""The RateLimiter port contract, run on InMemoryRateLimiter, on RedisRateLimiter against a real Redis,
and on the unit tests' FakeRateLimiter (so the fake stays honest).

Also what only one adapter has: the in-memory bounds and sliding window on a
manual clock, and the Redis adapter's key layout and circuit breaker. Redis is
required in CI; elsewhere its tests skip when it cannot be reached. Limits
across OS processes are in tests/integration/test_rate_limit_processes.py.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import redis.asyncio

from elearning_adapters.ratelimit import InMemoryRateLimiter
from elearning_adapters.redis.ratelimit import RedisRateLimiter
from elearning_core.auth.ports import RateDecision, RateLimiter
from tests.contract.test_cache import REDIS_URL, CuttableProxy, HungServer, ManualClock, delete_prefix, require_redis
from tests.fakes import FakeRateLimiter

LONG = 60.0  # a window that cannot roll over during a test
SHORT = 0.4  # a window a test waits out on Redis


@dataclass
class LimiterUnderTest:
    limiter: RateLimiter
    # Lets time pass: moves a fake clock in memory, really waits on Redis (the window is server-side).
    advance: Callable[[float], Awaitable[None]]


@pytest.fixture(params=["memory", "fake", "redis"])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[LimiterUnderTest]:
    if request.param in ("memory", "fake"):
        clock = ManualClock()

        async def tick(seconds: float) -> None:
            clock.advance(seconds)

        in_process: RateLimiter = (
            InMemoryRateLimiter(clock=clock) if request.param == "memory" else FakeRateLimiter(clock)
        )
        yield LimiterUnderTest(in_process, tick)
        return
    require_redis()
    prefix = f"test:{uuid.uuid4().hex}:"
    # Generous timeouts: the port's behaviour is under test here, not the 0.2 s production
    # budget (the breaker tests below cover that), and a loaded CI machine must not trip it.
    limiter = RedisRateLimiter(REDIS_URL, key_prefix=prefix, connect_timeout=5.0, socket_timeout=5.0)
    try:
        yield LimiterUnderTest(limiter, asyncio.sleep)
        assert not limiter.breaker_open, "Redis failed during the test"
    finally:
        await limiter.aclose()
        await delete_prefix(prefix)


async def hits(limiter: RateLimiter, key: str, n: int, limit: int, window: float = LONG) -> list[RateDecision]:
    return [await limiter.hit(key, limit, window) for _ in range(n)]


async def wait_until_allowed(subject: LimiterUnderTest, key: str, limit: int, window: float) -> RateDecision:
    """Wait as long as the limiter says, then try; on Redis, retry (bounded) in case of clock granularity."""
    decision = await subject.limiter.hit(key, limit, window)
    for _ in range(20):
        if decision.allowed:
            return decision
        await subject.advance(decision.retry_after_seconds)
        decision = await subject.limiter.hit(key, limit, window)
    return decision


# -- the port contract -----------------------------------------------------------------------


async def test_exactly_the_limit_is_allowed_then_refused_with_a_retry_after(subject: LimiterUnderTest) -> None:
    decisions = await hits(subject.limiter, "login:ann", 6, limit=5)
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    refused = decisions[-1]
    assert refused.remaining == 0
    assert 0 < refused.retry_after_seconds <= LONG
    assert all(d.retry_after_seconds == 0 for d in decisions[:5])


async def test_refusals_keep_refusing_and_do_not_push_the_release_back(subject: LimiterUnderTest) -> None:
    first, *more = [d for d in await hits(subject.limiter, "k", 10, limit=2) if not d.allowed]
    assert not any(d.allowed for d in more)
    assert all(d.retry_after_seconds <= first.retry_after_seconds for d in more)


async def test_remaining_counts_down(subject: LimiterUnderTest) -> None:
    decisions = await hits(subject.limiter, "k", 4, limit=3)
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]


async def test_a_limit_of_one_allows_one(subject: LimiterUnderTest) -> None:
    decisions = await hits(subject.limiter, "k", 2, limit=1)
    assert [(d.allowed, d.remaining) for d in decisions] == [(True, 0), (False, 0)]


async def test_attempts_are_allowed_again_after_the_window(subject: LimiterUnderTest) -> None:
    decisions = await hits(subject.limiter, "k", 3, limit=2, window=SHORT)
    assert [d.allowed for d in decisions] == [True, True, False]
    assert 0 < decisions[-1].retry_after_seconds <= SHORT
    again = await wait_until_allowed(subject, "k", 2, SHORT)
    assert again.allowed


async def test_keys_are_independent(subject: LimiterUnderTest) -> None:
    await hits(subject.limiter, "login:ann", 3, limit=3)
    assert not (await subject.limiter.hit("login:ann", 3, LONG)).allowed
    assert (await subject.limiter.hit("login:bob", 3, LONG)).remaining == 2
    assert (await subject.limiter.hit("ip:10.0.0.1", 3, LONG)).allowed
    assert (await subject.limiter.hit("login:ann ", 3, LONG)).allowed  # any text: a trailing space is another key


async def test_reset_clears_a_key_and_only_that_key(subject: LimiterUnderTest) -> None:
    await hits(subject.limiter, "a", 3, limit=3)
    await hits(subject.limiter, "b", 3, limit=3)
    await subject.limiter.reset("a")
    await subject.limiter.reset("never-hit")
    assert (await subject.limiter.hit("a", 3, LONG)).remaining == 2
    assert not (await subject.limiter.hit("b", 3, LONG)).allowed


@pytest.mark.parametrize(
    ("limit", "window"),
    [(0, 60.0), (-1, 60.0), (5, 0.0), (5, -1.0), (5, math.nan), (5, math.inf)],
)
async def test_invalid_arguments_raise_and_count_nothing(subject: LimiterUnderTest, limit: int, window: float) -> None:
    with pytest.raises(ValueError, match=r"limit|window_seconds"):
        await subject.limiter.hit("k", limit, window)
    assert (await subject.limiter.hit("k", 1, LONG)).allowed


async def test_concurrent_hits_on_one_key_allow_exactly_the_limit(subject: LimiterUnderTest) -> None:
    decisions = await asyncio.gather(*(subject.limiter.hit("hot", 17, LONG) for _ in range(200)))
    assert sum(d.allowed for d in decisions) == 17
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(17))
    assert all(d.retry_after_seconds > 0 for d in decisions if not d.allowed)


# -- InMemoryRateLimiter: the window and the bounds ------------------------------------------


async def test_memory_window_slides_one_attempt_at_a_time() -> None:
    clock = ManualClock()
    limiter = InMemoryRateLimiter(clock=clock)
    assert (await limiter.hit("k", 2, 10)).allowed
    clock.advance(4)
    assert (await limiter.hit("k", 2, 10)).allowed
    refused = await limiter.hit("k", 2, 10)
    assert (refused.allowed, refused.retry_after_seconds) == (False, pytest.approx(6))
    clock.advance(6)  # the first attempt leaves the window; the second is still in it
    assert (await limiter.hit("k", 2, 10)).allowed
    assert (await limiter.hit("k", 2, 10)).retry_after_seconds == pytest.approx(4)


async def test_memory_lowering_the_limit_refuses_until_enough_attempts_expire() -> None:
    clock = ManualClock()
    limiter = InMemoryRateLimiter(clock=clock)
    for _ in range(3):
        assert (await limiter.hit("k", 5, 10)).allowed
        clock.advance(1)
    refused = await limiter.hit("k", 2, 10)  # 3 attempts at t=0,1,2 (now 3); under 2 once t=1 expires
    assert (refused.allowed, refused.retry_after_seconds) == (False, pytest.approx(8))


async def test_memory_evicts_the_least_recently_hit_key_beyond_max_keys() -> None:
    limiter = InMemoryRateLimiter(max_keys=3, clock=ManualClock())
    for key in ("a", "b", "c", "a", "d"):  # "b" is the least recently hit when "d" arrives
        await limiter.hit(key, 1, LONG)
    assert len(limiter) == 3
    assert (await limiter.hit("b", 1, LONG)).allowed
    assert not (await limiter.hit("a", 1, LONG)).allowed


async def test_memory_drops_keys_whose_window_passed() -> None:
    clock = ManualClock()
    limiter = InMemoryRateLimiter(clock=clock)
    for i in range(100):
        await limiter.hit(f"ip:{i}", 5, 1)
    assert len(limiter) == 100
    clock.advance(2)
    await limiter.hit("later", 5, 1)
    assert len(limiter) == 1


# -- RedisRateLimiter: key layout and the breaker --------------------------------------------


async def test_redis_keys_live_under_the_prefix_and_expire_with_the_window() -> None:
    require_redis()
    prefix = f"test:{uuid.uuid4().hex}:"
    limiter = RedisRateLimiter(REDIS_URL, key_prefix=prefix, connect_timeout=5.0, socket_timeout=5.0)
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        await limiter.hit("login:ann", 3, 30)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        assert keys == [f"{prefix}login:ann".encode()]
        assert 0 < await client.pttl(keys[0]) <= 30_000
    finally:
        await client.aclose()
        await limiter.aclose()
        await delete_prefix(prefix)


async def test_a_hung_redis_costs_one_timeout_per_cool_down_and_limits_in_memory(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = HungServer()
    clock = ManualClock()
    limiter = RedisRateLimiter(await server.start(), socket_timeout=0.1, connect_timeout=0.1, clock=clock)
    try:
        with caplog.at_level(logging.WARNING, logger="elearning_adapters.redis.ratelimit"):
            first = await limiter.hit("k", 3, LONG)
            assert first.allowed
            assert limiter.breaker_open
            rest = await asyncio.gather(*(limiter.hit("k", 3, LONG) for _ in range(20)))
        assert sum(d.allowed for d in rest) == 2
        assert (limiter.attempts, server.connections) == (1, 1)
        assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1

        clock.advance(1.01)  # one probe after the cool-down, which times out again
        assert not (await limiter.hit("k", 3, LONG)).allowed
        assert limiter.attempts == 2
        assert limiter.breaker_open
    finally:
        await limiter.aclose()
        await server.stop()


async def test_redis_failing_mid_way_limits_in_memory_then_recovers() -> None:
    require_redis()
    prefix = f"test:{uuid.uuid4().hex}:"
    proxy = CuttableProxy()
    clock = ManualClock()
    limiter = RedisRateLimiter(await proxy.start(), key_prefix=prefix, cooldown_seconds=1.0, clock=clock)
    try:
        assert (await limiter.hit("k", 1, LONG)).allowed  # counted in Redis

        proxy.cut()
        assert (await limiter.hit("k", 1, LONG)).allowed  # this process's memory had not seen "k"
        assert limiter.breaker_open
        assert not (await limiter.hit("k", 1, LONG)).allowed  # but now it has: bounded, not open
        attempts = limiter.attempts

        proxy.restore()
        assert (await limiter.hit("other", 1, LONG)).allowed
        assert limiter.attempts == attempts  # within the cool-down Redis is not even tried

        clock.advance(1.01)
        assert not (await limiter.hit("k", 1, LONG)).allowed  # the probe reaches Redis, which counted "k"
        assert not limiter.breaker_open
        assert (await limiter.hit("fresh", 1, LONG)).allowed
    finally:
        await limiter.aclose()
        await proxy.stop()
        await delete_prefix(prefix)
