"""The rate limit and the trusted-proxy resolver on real ``elearning serve`` processes (PostgreSQL, Redis).

Four servers on loopback, started together: two sharing one Redis (the limit holds across them), one
whose Redis does not answer (the limit holds per process), one behind a trusted proxy (127.0.0.1).
Every wait is bounded; nothing asserts a timing, only statuses, headers and counts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from elearning_http.ratelimit import token_key
from tests.contract.test_cache import DEAD_URL, REDIS_URL, require_redis
from tests.processes import stop_process_group
from tests.served import free_port, ready, wait_for

pytestmark = pytest.mark.postgres

ELEARNING = str(Path(sys.executable).parent / "elearning")
COURSES = "/api/v1/courses"
TOKEN = "Bearer overload-admin"
SHARED_LIMIT = 20


def _start(name: str, env: dict[str, str], tmp_path: Path) -> tuple[str, subprocess.Popen[bytes], Path]:
    port = free_port()
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [ELEARNING, "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    return f"http://127.0.0.1:{port}", process, log


@pytest.fixture(scope="module")
def servers(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    require_redis()
    tmp_path = tmp_path_factory.mktemp("overload")
    prefix = f"overload-test-{uuid.uuid4().hex[:8]}:"
    base = {k: v for k, v in os.environ.items() if not k.startswith("ELEARNING_")} | {
        "ELEARNING_DATABASE_URL": postgres_url,
        "ELEARNING_ADMIN_TOKEN": TOKEN.removeprefix("Bearer "),
        "ELEARNING_ACCESS_LOG": "false",
        "ELEARNING_LOG_JSON": "false",
        "ELEARNING_REDIS_KEY_PREFIX": prefix,
        "ELEARNING_CACHE": "none",
        "ELEARNING_RATE_LIMIT_WINDOW_SECONDS": "3600",
        "ELEARNING_RATE_LIMIT_SYNC_SECONDS": "0.05",
    }
    # A generous Redis timeout: a loaded CI host must not trip the counters' breaker (the per-process
    # fallback is redis_down's subject, not the shared count's).
    shared = base | {
        "ELEARNING_REDIS_URL": REDIS_URL,
        "ELEARNING_RATE_LIMIT_PER_TOKEN": str(SHARED_LIMIT),
        "ELEARNING_REDIS_TIMEOUT_SECONDS": "10",
    }
    configs = {
        "a": shared,
        "b": shared,
        "redis_down": base
        | {"ELEARNING_REDIS_URL": DEAD_URL, "ELEARNING_RATE_LIMIT_PER_TOKEN": "5", "ELEARNING_RATE_LIMIT_PER_IP": "8"},
        "behind_proxy": base | {"ELEARNING_TRUSTED_PROXIES": '["127.0.0.1"]', "ELEARNING_RATE_LIMIT_PER_IP": "3"},
    }
    started = {name: _start(name, env, tmp_path) for name, env in configs.items()}
    try:
        for name, (url, process, log) in started.items():
            wait_for(lambda u=url, p=process: ready(u) or p.poll() is not None, f"server {name} to answer /ready")
            assert process.poll() is None, log.read_text()
        yield {name: url for name, (url, _, _) in started.items()} | {"prefix": prefix}
    finally:
        for _, process, _ in started.values():
            stop_process_group(process, 30)
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()


def _get(base: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(f"{base}{COURSES}", headers=headers or {}, timeout=10)


def _shared_count(prefix: str) -> int:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        suffix = token_key(TOKEN.encode())
        return sum(int(client.get(key) or 0) for key in client.scan_iter(f"{prefix}ratelimit:window:*:{suffix}"))
    finally:
        client.close()


def test_the_limit_holds_across_two_servers_through_redis(servers: dict[str, str]) -> None:
    a, b, prefix = servers["a"], servers["b"], servers["prefix"]
    auth = {"Authorization": TOKEN}
    assert [_get(a, auth).status_code for _ in range(15)] == [200] * 15
    wait_for(lambda: _shared_count(prefix) == 15, "server a to share its 15 requests")
    assert _get(b, auth).status_code == 200
    wait_for(lambda: _shared_count(prefix) == 16, "server b to share its first request and read the total")
    # b now knows the 16 of both: exactly 4 more fit under the limit of 20.
    statuses = [_get(b, auth) for _ in range(6)]
    assert [r.status_code for r in statuses] == [200] * 4 + [429] * 2
    assert statuses[-1].headers["ratelimit-policy"] == f'"token";q={SHARED_LIMIT};w=3600'
    assert statuses[-1].headers["ratelimit"].startswith('"token";r=0;t=')
    wait_for(lambda: _shared_count(prefix) == SHARED_LIMIT, "server b to share its last admitted requests")
    # a's view is one sync old: it may admit one more (the documented overshoot), then refuses.
    assert _get(a, auth).status_code == 200
    wait_for(lambda: _shared_count(prefix) == SHARED_LIMIT + 1, "server a to share it and read the total back")
    assert _get(a, auth).status_code == 429


def test_with_redis_down_the_limit_holds_per_process(servers: dict[str, str]) -> None:
    down = servers["redis_down"]
    auth = {"Authorization": TOKEN}
    assert [_get(down, auth).status_code for _ in range(7)] == [200] * 5 + [429] * 2
    metrics = httpx.get(f"{down}/metrics", timeout=10).text
    assert "elearning_rate_limit_shared 0.0" in metrics
    # Without a trusted proxy a forwarded header changes nothing: the address limit (8) counted the 5
    # admitted requests, so 3 more fit whatever each claims to come from.
    spoofed = [_get(down, {"X-Forwarded-For": f"203.0.113.{n}"}).status_code for n in range(5)]
    assert spoofed == [200] * 3 + [429] * 2


def test_behind_a_trusted_proxy_the_forwarded_client_is_limited_not_the_proxy(servers: dict[str, str]) -> None:
    proxy = servers["behind_proxy"]
    # Six clients behind the proxy: each has its own quota of 3, none is refused.
    assert [_get(proxy, {"X-Forwarded-For": f"198.51.100.{n}"}).status_code for n in range(6)] == [200] * 6
    # One client that writes addresses of its own left of what the proxy appended: its real address counts.
    statuses = [_get(proxy, {"X-Forwarded-For": f"10.9.9.{n}, 203.0.113.77"}).status_code for n in range(5)]
    assert statuses == [200] * 3 + [429] * 2
