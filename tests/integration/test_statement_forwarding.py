"""The statement forwarder against real destinations: Ralph (a real LRS process, read back through its
``GET /xAPI/statements``), a stub LRS that fails before it succeeds, and a Kafka-protocol broker; and the
retention job holding back what the forwarder has not sent. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest
from confluent_kafka import Consumer
from sqlalchemy import delete

from elearning_adapters import Platform, Settings, bootstrap
from elearning_adapters.analytics.forwarder import FORWARD, PRUNE
from elearning_adapters.sql.analytics import SqlStatementStore, xapi_forwarding
from elearning_core.analytics.forwarder import ForwardingStalled, RetryPolicy, StatementForwarder
from elearning_core.analytics.mapping import StatementMapper
from elearning_core.analytics.model import Statement
from elearning_core.analytics.vocabulary import PlatformIris
from elearning_core.scheduling.model import Job, Period
from elearning_core.shared.clock import FixedClock
from tests.conftest import migrated_sqlite, truncate_all
from tests.contract.test_statement_store import statement
from tests.unit.analytics.events import every_event

if TYPE_CHECKING:
    from tests.integration.ralph_lrs import RalphLrs

pytest_plugins = ["tests.integration.kafka_broker", "tests.integration.ralph_lrs"]

MAPPER = StatementMapper(PlatformIris("https://learn.example.org"))
WAIT = 20.0


def mapped_statements(copies: int) -> list[Statement]:
    """Realistic statements: every mapped event type (new event ids each copy), as the projection stores them."""
    return [s for _ in range(copies) for e in every_event().values() for s in MAPPER.map(e)]


PlatformFactory = Callable[..., Awaitable[Platform]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def make_platform(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[PlatformFactory]:
    """Builds the platform with forwarding settings, on a migrated SQLite file or the emptied PostgreSQL database."""
    if request.param == "sqlite":
        url = migrated_sqlite(tmp_path / "forwarding.db")
    else:
        url = request.getfixturevalue("postgres_url")
    built: list[Platform] = []

    async def make(**settings: Any) -> Platform:
        platform = await bootstrap(Settings(database_url=url, data_dir=tmp_path, **settings), run_migrations=False)
        if not built and request.param == "postgres":
            await truncate_all(platform.database)
        built.append(platform)
        return platform

    try:
        yield make
    finally:
        for platform in built:
            await platform.aclose()


def lrs_settings(lrs: RalphLrs, **more: Any) -> dict[str, Any]:
    return {
        "analytics_forward_to": "lrs",
        "analytics_forward_endpoint": lrs.url,
        "analytics_forward_username": lrs.username,
        "analytics_forward_password": lrs.password,
        **more,
    }


def job(platform: Platform, name: str) -> Job:
    jobs: list[Job] = platform.container.analytics.jobs()
    (found,) = [j for j in jobs if j.name == name]
    return found


async def run_job(platform: Platform, name: str) -> str:
    now = datetime.now(UTC)
    return await job(platform, name).run(Period(now, now + timedelta(seconds=1)))


def held_by_ralph(lrs: RalphLrs, ids: set[uuid.UUID]) -> list[dict[str, Any]]:
    return [s for s in lrs.statements() if uuid.UUID(s["id"]) in ids]


async def test_forwarded_statements_arrive_in_ralph_and_a_redelivery_adds_none(
    make_platform: PlatformFactory, ralph: RalphLrs
) -> None:
    platform = await make_platform(**lrs_settings(ralph, analytics_forward_batch_size=7))
    written = mapped_statements(2)
    await platform.container.analytics.store().append(written)
    result = await run_job(platform, FORWARD)
    assert f"forwarded {len(written)} statement(s)" in result
    assert ", 0 behind" in result

    ids = {s.id for s in written}
    held = held_by_ralph(ralph, ids)
    assert sorted(s["id"] for s in held) == sorted(str(i) for i in ids)
    sent = {str(s.id): s.as_json() for s in written}
    for got in held:  # the same statement, as Ralph's equivalence sees it (stored is the LRS's own)
        for part in ("actor", "verb", "object", "result", "context"):
            assert got.get(part) == sent[got["id"]].get(part), (got["id"], part)

    async with platform.database.write() as conn, conn.begin():  # the checkpoint lost: everything again
        await conn.execute(delete(xapi_forwarding))
    again = await run_job(platform, FORWARD)
    assert f"forwarded {len(written)} statement(s)" in again
    assert len(held_by_ralph(ralph, ids)) == len(written), "a redelivered statement was stored twice"


async def start_worker(
    platform: Platform, settings: dict[str, Any], tmp_path: Path, log: IO[bytes]
) -> asyncio.subprocess.Process:
    """``python -m elearning_workers forward-statements`` (what ``elearning worker forward-statements`` execs)."""
    env = {
        **os.environ,
        "ELEARNING_DATABASE_URL": str(platform.settings.database_url),
        "ELEARNING_DATA_DIR": str(tmp_path),
        "ELEARNING_LOG_JSON": "false",
        **{f"ELEARNING_{k.upper()}": str(v) for k, v in settings.items()},
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "elearning_workers",
        "forward-statements",
        "--idle-sleep",
        "0.1",
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )


async def test_a_forwarder_killed_mid_way_resumes_from_its_checkpoint_without_loss(
    make_platform: PlatformFactory, ralph: RalphLrs, tmp_path: Path
) -> None:
    settings = lrs_settings(ralph, analytics_forward_batch_size=2)
    platform = await make_platform(**settings)
    written = [statement() for _ in range(400)]
    await platform.container.analytics.store().append(written)
    feed, destination = platform.container.analytics.feed(), platform.container.analytics.forwarder()
    log = (tmp_path / "forwarder.log").open("wb")
    worker = await start_worker(platform, settings, tmp_path, log)
    try:  # killed (SIGKILL: no clean stop) as soon as its first checkpoint is written
        deadline = time.monotonic() + WAIT
        position = 0
        while position == 0 and time.monotonic() < deadline and worker.returncode is None:
            await asyncio.sleep(0.02)
            position = await feed.position(destination.destination)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        await asyncio.wait_for(worker.wait(), 10)
        log.close()
    position = await feed.position(destination.destination)
    assert 0 < position < 400, f"not killed mid-way (checkpoint {position}): {(tmp_path / 'forwarder.log').read_text()}"

    report = await destination.run(max_batches=1_000)
    assert report.lag.statements == 0
    ids = {s.id for s in written}
    held = held_by_ralph(ralph, ids)
    assert len(held) == len(written)
    assert {uuid.UUID(s["id"]) for s in held} == ids


class StubLrs:
    """A tiny LRS on loopback that answers 503 to its first ``failures`` POSTs (or always ``status``)."""

    def __init__(self, failures: int, status: int = 503) -> None:
        self.failures, self.status = failures, status
        self.posts: list[tuple[dict[str, str], list[dict[str, Any]]]] = []
        self.posted, self.accepted = threading.Event(), threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.posts.append((dict(self.headers), body))
                stub.posted.set()
                failing = stub.status != 200 and (stub.failures is None or len(stub.posts) <= stub.failures)
                answer = json.dumps({"error": "unavailable"} if failing else [s["id"] for s in body]).encode()
                if not failing:
                    stub.accepted.set()
                self.send_response(stub.status if failing else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/xapi"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


@pytest.fixture
def stub_lrs() -> Iterator[Callable[..., StubLrs]]:
    stubs: list[StubLrs] = []

    def make(failures: int | None, status: int = 503) -> StubLrs:
        stubs.append(StubLrs(failures, status))  # type: ignore[arg-type]
        return stubs[-1]

    yield make
    for stub in stubs:
        stub.close()


async def forwarding_to(make_platform: PlatformFactory, stub: StubLrs, **more: Any) -> Platform:
    return await make_platform(analytics_forward_to="lrs", analytics_forward_endpoint=stub.url, **more)


def quick(platform: Platform, budget: float) -> StatementForwarder:
    forwarder = platform.container.analytics.forwarder()
    return StatementForwarder(
        platform.container.analytics.feed(),
        forwarder._destination,
        platform.container.adapters.clock(),
        batch_size=10,
        retry=RetryPolicy(first=0.05, longest=0.2, budget=budget),
    )


async def test_retries_on_5xx_then_succeeds_with_the_xapi_version_and_basic_credentials(
    make_platform: PlatformFactory, stub_lrs: Callable[..., StubLrs]
) -> None:
    stub = stub_lrs(failures=2)
    platform = await forwarding_to(make_platform, stub, analytics_forward_username="u", analytics_forward_password="p")
    written = [statement() for _ in range(5)]
    await platform.container.analytics.store().append(written)
    report = await quick(platform, budget=10).run(max_batches=10)
    assert (report.forwarded, report.retries) == (5, 2)
    assert len(stub.posts) == 3
    assert all(body == stub.posts[0][1] for _, body in stub.posts)
    headers, body = stub.posts[-1]
    assert [s["id"] for s in body] == [str(s.id) for s in written]
    assert headers["X-Experience-API-Version"] == "1.0.3"
    assert headers["Authorization"] == "Basic dTpw"  # u:p
    assert await platform.container.analytics.feed().position(f"lrs:{stub.url}") == report.position


async def test_an_lrs_that_stays_down_stalls_the_run_and_a_refusal_is_not_retried(
    make_platform: PlatformFactory, stub_lrs: Callable[..., StubLrs]
) -> None:
    down = stub_lrs(failures=None)
    platform = await forwarding_to(make_platform, down)
    await platform.container.analytics.store().append([statement()])
    with pytest.raises(ForwardingStalled, match="503"):
        await quick(platform, budget=0.5).run(max_batches=10)
    assert len(down.posts) >= 2
    assert await platform.container.analytics.feed().position(f"lrs:{down.url}") == 0

    refusing = stub_lrs(failures=None, status=401)
    other = await forwarding_to(make_platform, refusing)
    with pytest.raises(Exception, match="401"):
        await quick(other, budget=10).run(max_batches=10)
    assert len(refusing.posts) == 1


async def test_kafka_destination_gets_each_statement_keyed_by_its_id(
    make_platform: PlatformFactory, kafka_broker: str
) -> None:
    topic = f"xapi-{uuid.uuid4().hex[:8]}"
    platform = await make_platform(
        analytics_forward_to="kafka",
        analytics_forward_kafka_bootstrap_servers=kafka_broker,
        analytics_forward_topic=topic,
        analytics_forward_batch_size=5,
    )
    written = mapped_statements(1)
    await platform.container.analytics.store().append(written)
    assert f"forwarded {len(written)} statement(s)" in await run_job(platform, FORWARD)

    consumer = Consumer({"bootstrap.servers": kafka_broker, "group.id": f"t-{topic}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got: dict[str, dict[str, Any]] = {}
    try:
        deadline = time.monotonic() + WAIT
        while len(got) < len(written) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            key, raw = message.key(), message.value()
            assert key is not None
            assert raw is not None
            value = json.loads(raw)
            assert key.decode() == value["id"]
            got[value["id"]] = value
    finally:
        consumer.close()
    assert set(got) == {str(s.id) for s in written}
    one = written[0]
    assert got[str(one.id)]["verb"] == one.as_json()["verb"]
    assert "stored" in got[str(one.id)]


async def test_retention_prunes_old_statements_only_up_to_the_forwarding_checkpoint(
    make_platform: PlatformFactory, stub_lrs: Callable[..., StubLrs]
) -> None:
    stub = stub_lrs(failures=0)
    platform = await forwarding_to(make_platform, stub, analytics_forward_batch_size=10, analytics_retention_days=30)
    old_store = SqlStatementStore(platform.database, FixedClock(datetime.now(UTC) - timedelta(days=40)))
    old = [statement() for _ in range(25)]
    await old_store.append(old)
    recent = [statement() for _ in range(3)]
    await platform.container.analytics.store().append(recent)
    await platform.container.analytics.forwarder().run(max_batches=1)  # the first 10 old ones

    assert "pruned 10 statement(s)" in await run_job(platform, PRUNE)
    store = platform.container.analytics.store()
    assert [await store.get(s.id) for s in old[:10]] == [None] * 10
    assert all([await store.get(s.id) for s in [*old[10:], *recent]])

    await run_job(platform, FORWARD)
    assert "pruned 15 statement(s)" in await run_job(platform, PRUNE)
    assert all([await store.get(s.id) for s in recent])  # younger than the retention: kept


async def test_the_platform_scheduler_runs_the_forwarding_job_by_itself(
    make_platform: PlatformFactory, stub_lrs: Callable[..., StubLrs]
) -> None:
    stub = stub_lrs(failures=0)
    platform = await forwarding_to(make_platform, stub, analytics_forward_seconds=0.2, scheduler_tick_seconds=0.05)
    written = [statement() for _ in range(3)]
    await platform.container.analytics.store().append(written)
    runner = platform.container.scheduling.runner()
    assert FORWARD in [j.name for j in runner.scheduler.jobs]
    runner.start()
    try:
        await asyncio.to_thread(stub.posted.wait, WAIT)
    finally:
        await runner.stop()
    assert [s["id"] for s in stub.posts[0][1]] == [str(s.id) for s in written]
    assert any(o.job == FORWARD and o.ok and "forwarded 3 statement(s)" in (o.result or "") for o in runner.outcomes)


async def test_the_worker_forwards_then_stops_cleanly_on_sigterm(
    make_platform: PlatformFactory, stub_lrs: Callable[..., StubLrs], tmp_path: Path
) -> None:
    stub = stub_lrs(failures=1)
    settings = {"analytics_forward_to": "lrs", "analytics_forward_endpoint": stub.url}
    platform = await make_platform(**settings)
    written = [statement() for _ in range(3)]
    await platform.container.analytics.store().append(written)
    log_path = tmp_path / "forwarder.log"
    with log_path.open("wb") as log:
        worker = await start_worker(platform, settings, tmp_path, log)
        try:
            assert await asyncio.to_thread(stub.accepted.wait, WAIT)  # the first POST got a 503, the retry a 200
            os.killpg(worker.pid, signal.SIGTERM)
            code = await asyncio.wait_for(worker.wait(), WAIT)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
    output = log_path.read_text()
    assert code == 0, output
    assert [s["id"] for s in stub.posts[-1][1]] == [str(s.id) for s in written]
    assert "3 statement(s) forwarded" in output
    feed = platform.container.analytics.feed()
    assert await feed.position(f"lrs:{stub.url}") == (await feed.horizon(beyond=0))
