"""The rate limit holds across worker processes, and degrades without failing when Redis is gone.

Real OS processes, as uvicorn or gunicorn workers would be: each runs its own
event loop and connection pool, and they all hammer one Redis key at the same
moment (released together by a start signal). Only the Lua script's atomicity
keeps the total at the limit; a read-then-write limiter lets more through here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid

import pytest

from elearning_adapters.redis.ratelimit import RedisRateLimiter
from tests.contract.test_cache import DEAD_URL, REDIS_URL, delete_prefix, require_redis

WORKERS = 3
HITS_PER_WORKER = 300
LIMIT = 50
WINDOW = 600.0  # cannot roll over during the test

# argv: Redis URL, key prefix, hits, limit, window. Prints "ready", waits for a line on stdin,
# hits the shared key with many concurrent requests, prints its tally as JSON.
WORKER = """
import asyncio, json, sys
from elearning_adapters.redis.ratelimit import RedisRateLimiter

async def main() -> None:
    url, prefix, hits, limit, window = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    limiter = RedisRateLimiter(url, key_prefix=prefix, connect_timeout=5.0, socket_timeout=5.0)
    await limiter.hit("warm-up", 1, window)  # connect and load the script before the start signal
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    decisions = []
    for start in range(0, hits, 50):
        batch = min(50, hits - start)
        decisions += await asyncio.gather(*(limiter.hit("login:ann", limit, window) for _ in range(batch)))
    refused = [d for d in decisions if not d.allowed]
    print(json.dumps({
        "allowed": sum(d.allowed for d in decisions),
        "refused": len(refused),
        "min_retry_after": min((d.retry_after_seconds for d in refused), default=None),
        "breaker_open": limiter.breaker_open,
    }), flush=True)
    await limiter.aclose()

asyncio.run(main())
"""


async def test_concurrent_processes_let_no_more_than_the_limit_through() -> None:
    require_redis()
    prefix = f"test:{uuid.uuid4().hex}:"
    args = [REDIS_URL, prefix, str(HITS_PER_WORKER), str(LIMIT), str(WINDOW)]
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WORKER,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(WORKERS)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = await asyncio.wait_for(worker.stdout.readline(), 60)
            assert line.strip() == b"ready", (line, await worker.stderr.read() if worker.stderr else b"")
        for worker in workers:  # release them together
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        outputs = await asyncio.wait_for(asyncio.gather(*(w.communicate() for w in workers)), 60)
        tallies = []
        for worker, (out, err) in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, err.decode()
            tallies.append(json.loads(out))
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
        await delete_prefix(prefix)

    assert not any(t["breaker_open"] for t in tallies), "a worker lost Redis and limited in memory"
    assert sum(t["allowed"] for t in tallies) == LIMIT
    assert sum(t["refused"] for t in tallies) == WORKERS * HITS_PER_WORKER - LIMIT
    assert all(0 < t["min_retry_after"] <= WINDOW for t in tallies if t["refused"])


async def test_an_unreachable_redis_still_refuses_past_the_limit_in_process(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RedisRateLimiter(DEAD_URL)
    try:
        with caplog.at_level(logging.WARNING, logger="elearning_adapters.redis.ratelimit"):
            decisions = [await limiter.hit("login:ann", 5, WINDOW) for _ in range(20)]
            concurrent = await asyncio.gather(*(limiter.hit("ip:10.0.0.1", 5, WINDOW) for _ in range(50)))
            await limiter.reset("login:ann")
            after_reset = await limiter.hit("login:ann", 5, WINDOW)
        assert [d.allowed for d in decisions] == [True] * 5 + [False] * 15
        assert all(d.retry_after_seconds > 0 for d in decisions[5:])
        assert sum(d.allowed for d in concurrent) == 5
        assert after_reset.allowed
        assert limiter.breaker_open
        assert limiter.attempts == 1  # one refused connection, then the breaker answered
        assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1
    finally:
        await limiter.aclose()
