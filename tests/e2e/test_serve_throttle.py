"""The sign-in throttle holds across server processes: ``elearning serve --workers 2`` on PostgreSQL and Redis.

Two uvicorn worker processes share one listening socket, so concurrent
requests land on both. Each process has its own event loop and Redis pool;
only the limiter's atomic script in Redis keeps the total of attempts that
get through at the limit. Everything beyond it is 429 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from elearning_adapters.container import bootstrap
from elearning_adapters.settings import Settings
from elearning_core.identity.commands import CreateUser
from elearning_core.shared.ports import SYSTEM
from tests.conftest import truncate_all
from tests.contract.test_cache import REDIS_URL, require_redis
from tests.served import free_port, ready, wait_for

pytestmark = pytest.mark.postgres

ELEARNING = str(Path(sys.executable).parent / "elearning")
LIMIT = 5
ATTEMPTS = 60
EMAIL = "throttled@example.org"
PASSWORD = "the-right-password-1"


async def _seed_user(database_url: str) -> None:
    settings = Settings(database_url=database_url, cache="none")
    async with await bootstrap(settings, run_migrations=False, start_keys=True) as platform:
        await truncate_all(platform.database)
        await platform.identity.create_user(SYSTEM, CreateUser(email=EMAIL, display_name="T", password=PASSWORD))


@pytest.fixture
def two_workers(postgres_url: str, tmp_path: Path) -> Iterator[str]:
    require_redis()
    asyncio.run(_seed_user(postgres_url))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELEARNING_")} | {
        "ELEARNING_DATABASE_URL": postgres_url,
        "ELEARNING_REDIS_URL": REDIS_URL,
        "ELEARNING_REDIS_KEY_PREFIX": f"throttle-test-{uuid.uuid4().hex[:8]}:",
        "ELEARNING_LOGIN_LIMIT_PER_ACCOUNT": str(LIMIT),
        "ELEARNING_LOGIN_LIMIT_PER_IP": "10000",
        # What is under test is the shared count in Redis. With the default 0.2 s, a loaded CI host once
        # timed a command out: the breaker then limited per process (5 through in each, 10 in all), which
        # is the documented degraded mode, not this test's subject.
        "ELEARNING_REDIS_TIMEOUT_SECONDS": "10",
        "ELEARNING_ADMIN_TOKEN": "throttle-admin",
        "ELEARNING_ACCESS_LOG": "false",
        "ELEARNING_LOG_JSON": "false",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [ELEARNING, "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: ready(base) or process.poll() is not None, "the server to answer /ready")
        assert process.poll() is None, log.read_text()
        workers = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        assert len(workers) >= 2, f"expected two worker processes under {process.pid}: {workers}"
        yield base
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def _attempt(base: str) -> httpx.Response:
    # A fresh connection per attempt, so the kernel spreads them over both workers.
    with httpx.Client(base_url=base, timeout=30) as client:
        return client.post("/api/v1/auth/login", json={"email": EMAIL, "password": "a-wrong-password"})


def test_two_worker_processes_let_no_more_than_the_limit_through(two_workers: str, tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(lambda _: _attempt(two_workers), range(ATTEMPTS)))
    statuses = Counter(r.status_code for r in responses)
    # The server's log says whether a worker fell back to counting in memory.
    assert statuses == {401: LIMIT, 429: ATTEMPTS - LIMIT}, (statuses, (tmp_path / "serve.log").read_text())
    for response in responses:
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) > 0
            assert response.json()["retry_after"] == int(response.headers["retry-after"])
    # The right password does not get around it either, on whichever worker it lands.
    with httpx.Client(base_url=two_workers, timeout=30) as client:
        right = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert right.status_code == 429, right.text
