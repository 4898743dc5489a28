"""The whole backbone as deployed: PostgreSQL, a Kafka-protocol broker, Redis, and real worker processes.

A writer (think: another API process, or the CLI) commits course changes
with no cache of its own, so nothing but the events can reach the readers'
cache. ``elearning worker relay`` publishes the outbox to the broker,
``elearning worker consume catalog-cache`` invalidates the Redis cache, and
a reader API (cached in Redis) must show each change. The workers' and the
API's Prometheus figures are checked on the way, and both workers must stop
cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import socket
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from elearning_adapters import Platform, Settings, bootstrap
from elearning_adapters.events.subscriptions import CATALOG_CACHE
from elearning_adapters.kafka import KafkaEventPublisher
from elearning_adapters.kafka.lag import group_lag
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.inbox import inbox
from elearning_adapters.sql.outbox import outbox
from elearning_core.course.commands import AddLesson, AddSection, CourseRef, CreateCourse, UpdateCourse
from elearning_core.shared.ports import SYSTEM
from elearning_http.app import create_app
from tests.conftest import truncate_all
from tests.contract.test_cache import DEAD_URL, REDIS_URL, delete_prefix, require_redis
from tests.prometheus import metric

pytest_plugins = ["tests.integration.kafka_broker"]

ADMIN = {"Authorization": "Bearer backbone-e2e-token"}
TOPIC = "elearning.course"
WAIT = 60.0  # the bound of every wait here: generous, the machine may be busy; no timing is asserted
ELEARNING_CLI = str(Path(sys.executable).parent / "elearning")

pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for(check: Callable[[], Awaitable[Any]], what: str, seconds: float = WAIT) -> Any:
    """Poll ``check`` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


class Workers:
    """The worker processes of one test; each is stopped with SIGTERM and must exit 0."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.processes: dict[str, tuple[asyncio.subprocess.Process, Path]] = {}

    async def start(self, name: str, *args: str) -> None:
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                ELEARNING_CLI, "worker", *args, env=self.env, stdout=out, stderr=asyncio.subprocess.STDOUT
            )
        self.processes[name] = (process, log)

    def output(self, name: str) -> str:
        return self.processes[name][1].read_text(errors="replace")

    def alive(self, name: str) -> bool:
        return self.processes[name][0].returncode is None

    async def stop_all(self) -> dict[str, int | None]:
        codes: dict[str, int | None] = {}
        for name, (process, _log) in self.processes.items():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            try:
                codes[name] = await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                codes[name] = await process.wait()
        return codes


@pytest.fixture
def prefix() -> Iterator[str]:
    require_redis()
    value = f"test-backbone-{uuid.uuid4().hex[:8]}:"
    yield value
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, delete_prefix(value)).result()


def deployed(postgres_url: str, kafka_broker: str, prefix: str, data_dir: Path) -> Settings:
    """The settings of every process of a deployment on these services, the course topic created."""
    KafkaEventPublisher(kafka_broker).ensure_topics([TOPIC], partitions=3)
    return Settings(
        database_url=postgres_url,
        data_dir=data_dir,
        kafka_bootstrap_servers=kafka_broker,
        redis_url=REDIS_URL,
        redis_key_prefix=prefix,
        admin_token="backbone-e2e-token",
        access_log=False,
    )


@pytest.fixture
def deployment(postgres_url: str, kafka_broker: str, prefix: str, tmp_path: Path) -> Settings:
    return deployed(postgres_url, kafka_broker, prefix, tmp_path)


def environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELEARNING_")}
    env |= {
        "ELEARNING_DATABASE_URL": str(settings.database_url),
        "ELEARNING_DATA_DIR": str(settings.data_dir),
        "ELEARNING_KAFKA_BOOTSTRAP_SERVERS": str(settings.kafka_bootstrap_servers),
        "ELEARNING_REDIS_URL": str(settings.redis_url),
        "ELEARNING_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "ELEARNING_LOG_LEVEL": "INFO",
    }
    return env


@pytest.fixture
async def writer(deployment: Settings) -> AsyncIterator[Platform]:
    """Commits with no cache and no Kafka of its own: its changes reach readers only through the outbox."""
    platform = await bootstrap(
        Settings(database_url=deployment.database_url, data_dir=deployment.data_dir, cache="none"),
        run_migrations=False,
    )
    await truncate_all(platform.database)
    try:
        yield platform
    finally:
        await platform.aclose()


async def inbox_ids(db: Database, consumer: str) -> set[uuid.UUID]:
    async with db.read() as conn:
        return set((await conn.execute(select(inbox.c.event_id).where(inbox.c.consumer == consumer))).scalars())


async def test_changes_reach_the_redis_cached_catalog_through_the_relay_and_the_cache_consumer(
    deployment: Settings, writer: Platform, kafka_broker: str, tmp_path: Path
) -> None:
    relay_port, consume_port = _free_port(), _free_port()
    workers = Workers(environment(deployment), tmp_path)
    await workers.start("relay", "relay", "--idle-sleep", "0.05", "--metrics-port", str(relay_port))
    await workers.start("consume", "consume", CATALOG_CACHE, "--metrics-port", str(consume_port))
    reader = create_app(deployment)
    codes: dict[str, int | None] = {}
    try:
        async with AsyncTestClient(reader) as client:
            # Earlier tests left course events on the shared broker: let the cache consumer join and catch up first.
            await wait_for(_true_if(lambda: "assigned elearning.course" in workers.output("consume")), "assignment")
            await wait_for(
                lambda: _caught_up(kafka_broker),
                "the catalog-cache consumer to reach the end of elearning.course",
            )
            assert (await client.get("/api/v1/courses", params={"limit": 100})).json()["items"] == []

            svc = writer.courses
            course = await svc.create(SYSTEM, CreateCourse(title="Through Kafka"))
            section = await svc.add_section(SYSTEM, AddSection(course_id=course.id, title="S"))
            await svc.add_lesson(SYSTEM, AddLesson(course_id=course.id, section_id=section.id, title="L"))
            await svc.publish(SYSTEM, CourseRef(course_id=course.id))
            committed = time.monotonic()

            async def listed() -> list[str]:
                items = (await client.get("/api/v1/courses", params={"limit": 100})).json()["items"]
                return [i["id"] for i in items]

            assert await wait_for(listed, "the published course in the cached list") == [str(course.id)]
            visible_after = time.monotonic() - committed

            outline = await client.get(f"/api/v1/courses/{course.id}")
            assert outline.json()["title"] == "Through Kafka"
            assert (await client.get(f"/api/v1/courses/{course.id}")).json()["title"] == "Through Kafka"  # cached

            await svc.update(SYSTEM, UpdateCourse(course_id=course.id, title="Renamed through Kafka"))
            # Learners see published versions only: the rename reaches them with the next publish.
            await svc.publish(SYSTEM, CourseRef(course_id=course.id))

            async def renamed() -> bool:
                response = await client.get(f"/api/v1/courses/{course.id}")
                return bool(response.json()["title"] == "Renamed through Kafka")

            await wait_for(renamed, "the renamed course in the cached outline")

            # Every event of ours went through the consumer's inbox, once.
            async with writer.database.read() as conn:
                ours = set((await conn.execute(select(outbox.c.event_id))).scalars())
            handled = await wait_for(
                lambda: _superset(inbox_ids(writer.database, CATALOG_CACHE), ours), "the inbox to hold every event"
            )
            assert ours <= handled
            # The figures: the API reads lag and dead letters from the broker; the workers count their work.
            api_metrics = (await client.get("/metrics")).text
            assert metric(api_metrics, "elearning_broker_stats_up") == 1.0
            assert metric(api_metrics, "elearning_consumer_lag", group=CATALOG_CACHE, topic=TOPIC) == 0.0
            assert metric(api_metrics, "elearning_dlq_messages", topic=TOPIC) is not None
            assert metric(api_metrics, "elearning_outbox_pending") == 0.0
            relay_metrics = await asyncio.to_thread(scrape, relay_port)
            assert (metric(relay_metrics, "elearning_relay_published_events_total", transport="kafka") or 0) >= len(
                ours
            )
            consume_metrics = await asyncio.to_thread(scrape, consume_port)
            handled_count = metric(
                consume_metrics, "elearning_consumer_messages_total", consumer=CATALOG_CACHE, outcome="handled"
            )
            assert (handled_count or 0) >= len(ours)
            assert workers.alive("relay")
            assert workers.alive("consume")
    finally:
        codes = await workers.stop_all()
    assert codes == {"relay": 0, "consume": 0}, workers.output("relay") + workers.output("consume")
    assert "outbox relay stopped" in workers.output("relay")
    assert f"consumer {CATALOG_CACHE} stopped" in workers.output("consume")
    print(f"published course visible in the cached list {visible_after * 1000:.0f} ms after the commit")


def _true_if(condition: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return condition()

    return check


async def _caught_up(bootstrap: str) -> bool:
    lag = await asyncio.to_thread(group_lag, bootstrap, CATALOG_CACHE, [TOPIC], 2.0)
    return bool(lag) and sum(lag.values()) == 0


async def _superset(found: Awaitable[set[uuid.UUID]], wanted: set[uuid.UUID]) -> set[uuid.UUID] | None:
    got = await found
    return got if wanted <= got else None


async def test_with_redis_down_the_cached_api_answers_uncached_and_reports_degraded(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'down.db'}",
        data_dir=tmp_path,
        redis_url=DEAD_URL,
        admin_token="backbone-e2e-token",
        access_log=False,
    )
    platform = await bootstrap(settings)
    try:
        app = create_app(container=platform.container, run_events=False)
        async with AsyncTestClient(app) as client:
            created = await client.post("/api/v1/courses", json={"title": "No Redis"}, headers=ADMIN)
            assert created.status_code == 201, created.text
            course_id = created.json()["id"]
            for _ in range(3):  # a miss, then the breaker answers locally: still the database's truth
                response = await client.get(f"/api/v1/courses/{course_id}", headers=ADMIN)
                assert response.status_code == 200
                assert response.json()["title"] == "No Redis"
            public = await client.get("/api/v1/courses")
            assert public.status_code == 200
            assert public.json()["items"] == []
            ready = await client.get("/ready")
            assert ready.status_code == 200
            assert ready.json() == {"status": "degraded", "checks": {"database": "ok", "redis": "down"}}
    finally:
        await platform.aclose()
