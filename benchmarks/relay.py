#!/usr/bin/env python
"""Benchmark of the outbox relay: throughput into the broker and commit-to-consume latency.

One command::

    python benchmarks/relay.py          # 20,000 events; batch sizes 500/1000/2000; 200 events/s for 30 s

What it does (see benchmarks/README.md):

1. starts the noida-db Kafka-protocol broker (the real binary from the ``noida_db`` package, its own
   process group, a free loopback port, a temporary data directory) and creates a throwaway PostgreSQL
   database (``elearning_bench_<random>``) migrated with ``elearning_adapters.sql.migrate.upgrade``;
2. throughput: for each batch size, fills the outbox with N real course events (``append_to_outbox`` of
   the events real ``Course`` aggregates record, in transactions of 2,000 rows), times the publisher
   alone (``KafkaEventPublisher.publish`` of the same rows, no database), then ONE ``OutboxRelay`` with
   the real publisher (acks=all, idempotent) until the outbox is drained;
3. latency: the real relay worker (``python -m elearning_workers relay``) runs continuously while a
   writer commits course changes through ``CourseService`` at a steady event rate, and a ``confluent_kafka``
   consumer in its own process measures consume time minus commit time for every event;
4. prints the figures and appends a "Relay" section to ``benchmarks/RESULTS.md``. The broker, the child
   processes and the database are removed at the end, also after an error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import importlib.util
import io
import json
import os
import pstats
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from catalog import (  # the helpers of the catalog benchmark (same directory)
    DEFAULT_ADMIN_URL,
    _cpu_model,
    _cpu_seconds,
    _free_port,
    _git_revision,
    _libpq,
    _machine_busy_seconds,
    _postgres_cpu,
    _version,
    log,
    throwaway_database,
)

SCRIPT = Path(__file__).resolve()
HERE = SCRIPT.parent
ROOT = HERE.parent
OUT = HERE / "out"
RESULTS = HERE / "RESULTS.md"

TOPIC = "elearning.course"
PARTITIONS = 6  # KafkaEventPublisher.ensure_topics' default
TARGET_EPS = 5_000.0
TARGET_P99_S = 1.0
TARGET_RATE = 200.0
INSERT_CHUNK = 2_000
IMPORT_EVENTS = 5  # import of one published course, 1 section, 2 lessons: created, section, 2 lessons, published
CYCLE_EVENTS = IMPORT_EVENTS + 1  # + one single-event edit
EDIT_POOL = 100
BROKER_READY_TIMEOUT = 15.0
NOISY = 0.10


# -- processes -----------------------------------------------------------------------------------


def _noida_binary() -> str:
    """The real binary, as tests/integration/kafka_broker.py finds it (the pyenv/pip shim would not pass SIGTERM on)."""
    explicit = os.environ.get("ELEARNING_TEST_NOIDA_DB")
    if explicit:
        return explicit
    spec = importlib.util.find_spec("noida_db")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "noida-db"
        if candidate.is_file():
            candidate.chmod(candidate.stat().st_mode | 0o111)
            return str(candidate)
    raise SystemExit("noida-db is not installed (pip install noida-db)")


def _broker_reachable(bootstrap: str, timeout: float) -> bool:
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).list_topics(timeout=timeout)
    except Exception:
        return False
    return True


def _stop_group(process: subprocess.Popen[bytes], name: str, timeout: float = 10.0) -> None:
    """SIGTERM the process group, SIGKILL it if it does not go."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
    log(f"{name} stopped (exit {process.returncode})")


@dataclass
class Broker:
    process: subprocess.Popen[bytes]
    bootstrap: str
    version: str


@contextlib.contextmanager
def noida_broker(log_path: Path) -> Iterator[Broker]:
    binary = _noida_binary()
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="relay-bench-kafka-") as data_dir, log_path.open("ab") as out:
        process = subprocess.Popen(
            [binary, "start", "--only", "kafka", "--host", "127.0.0.1", "--kafka-port", str(port),
             "--data-dir", data_dir],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
        )  # fmt: skip
        broker = Broker(process, f"127.0.0.1:{port}", f"noida-db {_version('noida-db')}")
        try:
            deadline = time.monotonic() + BROKER_READY_TIMEOUT
            while not _broker_reachable(broker.bootstrap, 0.5):
                if process.poll() is not None:
                    raise RuntimeError(f"noida-db exited with {process.returncode}; see {log_path}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"noida-db did not answer within {BROKER_READY_TIMEOUT:.0f} s; see {log_path}")
                time.sleep(0.05)
            log(f"noida-db pid {process.pid} on {broker.bootstrap}, data in {data_dir}")
            yield broker
        finally:
            _stop_group(process, "noida-db")


class CpuMeter:
    """CPU shares (of one core) of named processes, PostgreSQL and everything else, between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.shares: dict[str, float] = {}

    def _sample(self) -> tuple[dict[str, float], dict[int, float], float, float]:
        return (
            {name: _cpu_seconds(pid) for name, pid in self.pids.items()},
            _postgres_cpu(),
            _machine_busy_seconds(),
            time.perf_counter(),
        )

    def start(self) -> None:
        self._start = self._sample()

    def stop(self) -> dict[str, float]:
        (named0, pg0, busy0, t0), (named1, pg1, busy1, t1) = self._start, self._sample()
        wall = max(t1 - t0, 1e-9)
        self.shares = {name: (named1[name] - named0[name]) / wall for name in self.pids}
        self.shares["postgres"] = sum(t - pg0.get(pid, 0.0) for pid, t in pg1.items()) / wall
        self.shares["other"] = max(0.0, (busy1 - busy0) / wall - sum(self.shares.values()))
        return self.shares


def _fmt_cpu(shares: dict[str, float]) -> str:
    return ", ".join(f"{name} {share:.0%}" for name, share in shares.items())


def _spawn(command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """A child in its own process group (stopped with _stop_group), run from the repository root."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(command, cwd=ROOT, start_new_session=True, **kwargs)


# -- events --------------------------------------------------------------------------------------


def real_course_events(count: int, rng: random.Random) -> list[Any]:
    """``count`` events recorded by real Course aggregates: created, section, 2 lessons, details, published."""
    from elearning_core.course.model import Course, Level

    at = datetime.now(UTC)
    events: list[Any] = []
    i = 0
    while len(events) < count:
        tag = uuid.uuid4().hex[:8]
        course = Course.create(
            title=f"Relay benchmark course {i} {tag}",
            slug=f"relay-bench-{i}-{tag}",
            at=at,
            summary="Learn step by step: short videos, quizzes and a final project.",
            language=rng.choice(("en", "es", "fr", "de")),
            level=rng.choice(list(Level)),
            tags=rng.sample(["python", "sql", "web", "devops", "design", "statistics"], 2),
        )
        section = course.add_section("Getting started", at)
        course.add_lesson(section.id, "Welcome", at)
        course.add_lesson(section.id, "Setting up", at)
        course.change_details(at, summary=f"Updated summary {tag}: now with exercises after every lesson.")
        course.publish(at)
        events.extend(course.pull_events())
        i += 1
    return events[:count]


def in_memory_records(count: int) -> list[Any]:
    """Outbox records that exist only in memory (for warming a producer up)."""
    return as_records(real_course_events(count, random.Random(1)))


def as_records(events: Sequence[Any]) -> list[Any]:
    """Domain events as the outbox records the relay would produce (in memory only)."""
    from elearning_adapters.sql.outbox import topic_for
    from elearning_adapters.sql.outbox_store import OutboxRecord

    now = datetime.now(UTC)
    return [
        OutboxRecord(
            id=-1 - n,
            event_id=e.event_id,
            topic=topic_for(e),
            message_key=str(e.aggregate_id),
            event_type=e.type,
            payload=e.payload(),
            occurred_at=e.occurred_at,
            created_at=now,
            attempts=0,
        )
        for n, e in enumerate(events)
    ]


async def fill_outbox(db: Any, events: Sequence[Any]) -> float:
    """Write the events with ``append_to_outbox`` in transactions of INSERT_CHUNK rows; returns seconds."""
    from elearning_adapters.sql.outbox import append_to_outbox

    started = time.perf_counter()
    for start in range(0, len(events), INSERT_CHUNK):
        async with db.write() as conn:
            await conn.begin()
            await append_to_outbox(conn, events[start : start + INSERT_CHUNK])
            await conn.commit()
    return time.perf_counter() - started


async def pending_records(db: Any) -> list[Any]:
    """The unpublished rows as the relay would hand them over (same fields, id order)."""
    from sqlalchemy import select

    from elearning_adapters.sql.outbox import outbox
    from elearning_adapters.sql.outbox_store import record_from_row

    async with db.read() as conn:
        rows = (
            await conn.execute(select(outbox).where(outbox.c.published_at.is_(None)).order_by(outbox.c.id))
        ).mappings()
        return [record_from_row(r) for r in rows]


def _vacuum(url: str, table: str = "outbox") -> None:
    import psycopg

    with psycopg.connect(_libpq(url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"VACUUM (ANALYZE) {table}")


def _topic_end(bootstrap: str) -> int:
    """Sum of the topic's high watermarks: how many messages it holds."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"relay-bench-wm-{uuid.uuid4()}"})
    try:
        partitions = consumer.list_topics(TOPIC, timeout=5).topics[TOPIC].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=5)[1] for p in partitions)
    finally:
        consumer.close()


# -- throughput ----------------------------------------------------------------------------------


class TimedPublisher:
    """The real publisher, with the time spent inside ``publish`` added up (the relay's own work is the rest)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.calls = 0

    async def publish(self, records: Sequence[Any]) -> None:
        started = time.perf_counter()
        try:
            await self.inner.publish(records)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


@functools.cache
def _timed_store_class() -> Any:
    from elearning_adapters.sql.outbox_store import OutboxStore

    class TimedStore(OutboxStore):
        """The real store; adds up the time of the PostgreSQL claim (SELECT ... FOR UPDATE SKIP LOCKED + key check)."""

        claim_seconds = 0.0

        async def _claim_pg(self, conn: Any, limit: int) -> list[Any]:
            started = time.perf_counter()
            try:
                return await super()._claim_pg(conn, limit)
            finally:
                self.claim_seconds += time.perf_counter() - started

    return TimedStore


@dataclass
class ThroughputRun:
    batch_size: int
    repeat: int
    events: int
    fill_s: float
    publisher_s: float
    relay_s: float
    relay_in_publish_s: float
    relay_in_claim_s: float
    batches: int
    topic_delta_publisher: int
    topic_delta_relay: int
    pending_after: int
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def publisher_eps(self) -> float:
        return self.events / self.publisher_s

    @property
    def relay_eps(self) -> float:
        return self.events / self.relay_s

    @property
    def ratio(self) -> float:
        return self.relay_eps / self.publisher_eps


def _publisher(bootstrap: str) -> Any:
    from elearning_adapters.kafka import KafkaEventPublisher

    return KafkaEventPublisher(bootstrap)  # production config: acks=all, idempotent, linger 5 ms, lz4


async def _warm(publisher: Any, warmup: list[Any]) -> None:
    await publisher.publish(warmup)  # connects, fetches metadata, gets a producer id


async def _drain(relay: Any, target: int, seconds: float, profile: cProfile.Profile | None = None) -> float:
    """Run the relay's own loop until it has published ``target`` events; returns the seconds it took."""
    stop = asyncio.Event()
    started = time.perf_counter()
    if profile is not None:
        profile.enable()
    task = asyncio.create_task(relay.run(stop))
    try:
        deadline = started + seconds
        while relay.stats.published < target:
            if task.done():
                raise RuntimeError(f"the relay stopped early: {task.exception()!r}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"the relay published {relay.stats.published} of {target} in {seconds:.0f} s")
            await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - started
    finally:
        if profile is not None:
            profile.disable()
        stop.set()
        await asyncio.wait_for(task, 30)
    if relay.stats.failures:
        raise RuntimeError(f"{relay.stats.failures} relay rounds failed: {relay.stats.last_error}")
    return elapsed


async def throughput_round(
    db: Any, url: str, broker: Broker, args: argparse.Namespace, batch_size: int, repeat: int, warmup: list[Any]
) -> ThroughputRun:
    from elearning_adapters.sql.outbox_store import OutboxStore
    from elearning_workers.relay import OutboxRelay

    store = OutboxStore(db)
    await store.prune(timedelta(0), now=datetime.now(UTC) + timedelta(seconds=1))  # an empty outbox each round
    events = real_course_events(args.events, random.Random(batch_size * 1000 + repeat))
    fill_s = await fill_outbox(db, events)
    _vacuum(url)
    records = await pending_records(db)
    if len(records) != args.events:
        raise RuntimeError(f"expected {args.events} pending rows, found {len(records)}")

    # Baseline: the publisher alone, same rows in the same batches, no database.
    publisher = _publisher(broker.bootstrap)
    await _warm(publisher, warmup)
    end0 = _topic_end(broker.bootstrap)
    started = time.perf_counter()
    for start in range(0, len(records), batch_size):
        await publisher.publish(records[start : start + batch_size])
    publisher_s = time.perf_counter() - started
    await publisher.aclose()
    end1 = _topic_end(broker.bootstrap)

    # The relay: claim, publish, mark, commit, until drained.
    timed = TimedPublisher(_publisher(broker.bootstrap))
    await _warm(timed.inner, warmup)
    timed.seconds, timed.calls = 0.0, 0
    relay = OutboxRelay(db, timed, batch_size=batch_size, idle_sleep=args.idle_sleep)
    timed_store = _timed_store_class()(db)
    relay._store = timed_store  # the same store class, with the claim timed (benchmark only)
    await store.pending_stats()  # a pooled connection is ready
    end2 = _topic_end(broker.bootstrap)
    meter = CpuMeter({"bench (relay)": os.getpid(), "noida-db": broker.process.pid})
    meter.start()
    relay_s = await _drain(relay, args.events, args.timeout)
    cpu = meter.stop()
    await timed.inner.aclose()
    pending = (await store.pending_stats()).count
    end3 = _topic_end(broker.bootstrap)
    return ThroughputRun(
        batch_size=batch_size,
        repeat=repeat,
        events=args.events,
        fill_s=fill_s,
        publisher_s=publisher_s,
        relay_s=relay_s,
        relay_in_publish_s=timed.seconds,
        relay_in_claim_s=timed_store.claim_seconds,
        batches=relay.stats.batches,
        topic_delta_publisher=end1 - end0,
        topic_delta_relay=end3 - end2,
        pending_after=pending,
        cpu=cpu,
    )


async def profile_relay(db: Any, url: str, broker: Broker, args: argparse.Namespace, warmup: list[Any]) -> str:
    """One more drain under cProfile (slower than the measured runs); returns the top functions."""
    from elearning_adapters.kafka import envelope_for
    from elearning_adapters.sql.outbox_store import OutboxStore
    from elearning_workers.relay import OutboxRelay

    store = OutboxStore(db)
    await store.prune(timedelta(0), now=datetime.now(UTC) + timedelta(seconds=1))
    await fill_outbox(db, real_course_events(args.events, random.Random(7)))
    _vacuum(url)
    records = await pending_records(db)
    started = time.perf_counter()
    for record in records:
        envelope_for(record, "elearning-platform").to_json()
    envelope_us = 1e6 * (time.perf_counter() - started) / len(records)

    publisher = _publisher(broker.bootstrap)
    await _warm(publisher, warmup)
    relay = OutboxRelay(db, publisher, batch_size=args.batch_size, idle_sleep=args.idle_sleep)
    profile = cProfile.Profile()
    elapsed = await _drain(relay, args.events, args.timeout * 3, profile)
    await publisher.aclose()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = OUT / f"relay_profile_{stamp}.prof"
    profile.dump_stats(path)
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(35)
    header = (
        f"cProfile of one drain, batch size {args.batch_size}: {args.events:,} events in {elapsed:.2f} s under the"
        f" profiler ({args.events / elapsed:,.0f} events/s); envelope_for(...).to_json() alone:"
        f" {envelope_us:.1f} us/event; full dump {path.relative_to(ROOT)}\n"
    )
    return header + _trim_pstats(text.getvalue())


def _trim_pstats(text: str) -> str:
    keep = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("Ordered by", "List reduced")) or "function calls" in stripped:
            if "function calls" in stripped or stripped.startswith("Ordered by"):
                keep.append(stripped)
            continue
        keep.append(line.replace(str(Path(sys.prefix)), "<py>").replace(str(ROOT) + "/", ""))
    return "\n".join(keep)


# -- latency -------------------------------------------------------------------------------------


def consumer_child(argv: list[str]) -> int:
    """``relay.py --consumer-child BOOTSTRAP OUT READY SECONDS``: record (event id, consume time) of every message.

    Reads the topic from the start (own group, earliest), writes READY once it has caught up with
    the end offsets of its start, then appends ``<event-id> <unix time>`` per message until SIGTERM.
    """
    from confluent_kafka import Consumer, TopicPartition

    bootstrap, out_path, ready_path, seconds = argv[0], Path(argv[1]), Path(argv[2]), float(argv[3])
    stopping = False

    def on_term(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"relay-bench-latency-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    assigned = False

    def on_assign(_consumer: Any, partitions: list[Any]) -> None:
        nonlocal assigned
        assigned = True

    deadline = time.monotonic() + seconds
    try:
        partitions = consumer.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1] for p in partitions}
        position = dict.fromkeys(partitions, 0)
        consumer.subscribe([TOPIC], on_assign=on_assign)
        ready = False
        with out_path.open("w") as out:
            while not stopping and time.monotonic() < deadline:
                # poll(), not consume(n, t): consume waits for n messages or the timeout, which would add latency
                msg = consumer.poll(0.1)
                now = time.time()
                if msg is not None:
                    if msg.error() is not None:
                        print(f"consumer error: {msg.error()}", file=sys.stderr, flush=True)
                        continue
                    partition, offset = msg.partition(), msg.offset()
                    if partition is not None and offset is not None:
                        position[partition] = offset + 1
                    if ready:
                        headers = dict(msg.headers() or [])
                        out.write(f"{headers.get('event-id', b'?').decode()} {now:.6f}\n")
                        out.flush()
                if not ready and assigned and all(position[p] >= ends[p] for p in partitions):
                    ready = True
                    partial = ready_path.with_suffix(".tmp")
                    partial.write_text(json.dumps({"skipped": sum(ends.values())}))
                    partial.rename(ready_path)  # atomic: the parent never reads half a file
    finally:
        consumer.close()
    return 0


@functools.cache
def _recording_uow_class() -> Any:
    from elearning_adapters.sql.uow import SqlUnitOfWork

    class RecordingUnitOfWork(SqlUnitOfWork):
        """The real SQL unit of work; records, per event id, the wall time at which its commit returned."""

        def __init__(self, db: Any, sink: dict[uuid.UUID, tuple[float, float]]) -> None:
            super().__init__(db)
            self._sink = sink

        async def commit(self) -> None:
            events = [e for a in self.courses.seen() for e in a.pending_events]
            await super().commit()
            committed = time.time()
            for event in events:
                self._sink[event.event_id] = (committed, event.occurred_at.timestamp())

    return RecordingUnitOfWork


@dataclass
class LatencyResult:
    rate: float
    duration: float
    planned: int
    issued: int
    failed_writes: int
    achieved_rate: float  # committed events per second
    tx_rate: float  # committed transactions per second
    max_start_lag_ms: float
    committed: int
    consumed: int
    missing: int
    duplicates: int
    latencies_ms: list[float]
    occurred_latencies_ms: list[float]
    relay_published: str
    cpu: dict[str, float]
    skipped_backlog: int

    def pct(self, q: float, values: list[float] | None = None) -> float:
        data = sorted(self.latencies_ms if values is None else values)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, max(0, round(q * len(data) + 0.5) - 1))]


async def _wait_for(condition: Any, what: str, seconds: float, interval: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {seconds:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


async def latency_phase(db: Any, url: str, broker: Broker, args: argparse.Namespace, platform_: Any) -> LatencyResult:
    from elearning_adapters.sql.outbox_store import OutboxStore
    from elearning_core.course.commands import (
        CourseRef,
        CourseSpec,
        LessonSpec,
        RenameLesson,
        SectionSpec,
        UpdateCourse,
    )
    from elearning_core.course.model import CourseStatus
    from elearning_core.course.service import CourseService
    from elearning_core.shared.ports import SYSTEM

    store = OutboxStore(db)
    pool_size = EDIT_POOL  # the edits rotate over these: a course is changed every few seconds, never concurrently
    tag = uuid.uuid4().hex[:6]
    specs = [
        CourseSpec(
            slug=f"relay-latency-{tag}-{i}",
            title=f"Latency course {i}",
            summary="A course the writer keeps changing.",
            sections=[SectionSpec(title="Getting started", lessons=[LessonSpec(title="Welcome")])],
        )
        for i in range(pool_size)
    ]
    courses = await platform_.courses.import_courses(SYSTEM, specs)
    targets = [(c.id, c.sections[0].id, c.sections[0].lessons[0].id) for c in courses]
    log(f"latency: {pool_size} draft courses imported for the writer")

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    relay_log = OUT / f"relay_worker_{stamp}.log"
    env = os.environ | {
        "ELEARNING_DATABASE_URL": url,
        "ELEARNING_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "ELEARNING_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable, "-m", "elearning_workers", "relay",
        "--batch-size", str(args.batch_size), "--idle-sleep", str(args.idle_sleep),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="relay-bench-consumer-") as tmp, relay_log.open("wb") as relay_out:
        relay_proc = _spawn(command, env=env, stdout=relay_out, stderr=subprocess.STDOUT)
        consumer_proc: subprocess.Popen[bytes] | None = None
        tasks: list[asyncio.Task[None]] = []
        log(
            f"latency: relay worker pid {relay_proc.pid}: {shlex.join(command[1:])} (log {relay_log.relative_to(ROOT)})"
        )
        try:

            async def drained() -> bool:
                if relay_proc.poll() is not None:
                    raise RuntimeError(f"the relay worker exited with {relay_proc.returncode}; see {relay_log}")
                return bool((await store.pending_stats()).count == 0)

            await _wait_for(drained, "the relay worker to drain the setup events", 60)
            out_path, ready_path = Path(tmp) / "consumed.txt", Path(tmp) / "ready.json"
            consumer_proc = _spawn(
                [sys.executable, str(SCRIPT), "--consumer-child", broker.bootstrap, str(out_path), str(ready_path),
                 str(args.duration + args.drain_timeout + 120)],
            )  # fmt: skip

            async def consumer_ready() -> bool:
                if consumer_proc is not None and consumer_proc.poll() is not None:
                    raise RuntimeError(f"the consumer exited with {consumer_proc.returncode}")
                return ready_path.exists()

            await _wait_for(consumer_ready, "the consumer to join and catch up", 60)
            skipped = int(json.loads(ready_path.read_text())["skipped"])
            log(f"latency: consumer pid {consumer_proc.pid} caught up ({skipped:,} earlier messages skipped)")

            sink: dict[uuid.UUID, tuple[float, float]] = {}
            container = platform_.container
            service = CourseService(
                uow=lambda: _recording_uow_class()(db, sink),
                queries=container.course.catalog_queries(),
                clock=container.adapters.clock(),
                policy=container.adapters.policy(),
                cursors=container.adapters.cursors(),
            )

            async def import_course(n: int) -> None:
                spec = CourseSpec(
                    slug=f"relay-latency-{tag}-new-{n}",
                    title=f"Latency import {n}",
                    summary="Imported while the relay runs.",
                    status=CourseStatus.PUBLISHED,
                    sections=[SectionSpec(title="Basics", lessons=[LessonSpec(title="One"), LessonSpec(title="Two")])],
                )
                await service.import_courses(SYSTEM, [spec])

            async def edit(n: int) -> None:
                course_id, section_id, lesson_id = targets[n % pool_size]
                kind = (n // pool_size) % 4
                if kind == 0:  # a new title every time: an unchanged one records no event
                    await service.update(SYSTEM, UpdateCourse(course_id=course_id, title=f"Latency course v{n}"))
                elif kind == 1:
                    await service.rename_lesson(
                        SYSTEM,
                        RenameLesson(course_id=course_id, section_id=section_id, lesson_id=lesson_id, title=f"L{n}"),
                    )
                elif kind == 2:
                    await service.publish(SYSTEM, CourseRef(course_id=course_id))
                else:
                    await service.unpublish(SYSTEM, CourseRef(course_id=course_id))

            meter = CpuMeter(
                {
                    "bench (writer)": os.getpid(),
                    "relay worker": relay_proc.pid,
                    "consumer": consumer_proc.pid,
                    "noida-db": broker.process.pid,
                }
            )
            # One cycle = two transactions: an import (IMPORT_EVENTS events) and an edit (1 event).
            cycles = max(1, round(args.rate * args.duration / CYCLE_EVENTS))
            planned = 2 * cycles
            failures: list[str] = []
            in_flight = asyncio.Semaphore(args.max_in_flight)
            max_lag = 0.0

            async def one(job: Any) -> None:
                try:
                    await job
                except Exception as exc:  # counted and reported; the run goes on
                    failures.append(f"{type(exc).__name__}: {exc}")
                finally:
                    in_flight.release()

            loop = asyncio.get_running_loop()
            meter.start()
            t0 = loop.time() + 0.1
            hard_stop = t0 + args.duration + 5.0  # bounded: a writer that cannot keep up stops issuing here
            for j in range(planned):
                cycle, is_edit = divmod(j, 2)
                events_before = cycle * CYCLE_EVENTS + (IMPORT_EVENTS if is_edit else 0)
                scheduled = t0 + events_before / args.rate  # absolute schedule: lateness never accumulates
                delay = scheduled - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await in_flight.acquire()
                now = loop.time()
                if now > hard_stop:
                    in_flight.release()
                    break
                max_lag = max(max_lag, now - scheduled)
                tasks.append(asyncio.create_task(one(edit(cycle) if is_edit else import_course(cycle))))
            await asyncio.wait_for(asyncio.gather(*tasks), 60)
            writing_s = loop.time() - t0  # until the last commit returned
            issued = len(tasks)
            log(
                f"latency: writer issued {issued:,} of {planned:,} transactions in {writing_s:.1f} s,"
                f" {len(sink):,} events committed, {len(failures)} failed {failures[:3]}, latest start"
                f" {1000 * max_lag:.0f} ms behind schedule"
            )

            def consumed_ids() -> dict[uuid.UUID, list[float]]:
                seen: dict[uuid.UUID, list[float]] = {}
                if out_path.exists():
                    for line in out_path.read_text().splitlines():
                        parts = line.split()
                        if len(parts) == 2:
                            with contextlib.suppress(ValueError):
                                seen.setdefault(uuid.UUID(parts[0]), []).append(float(parts[1]))
                return seen

            async def all_consumed() -> bool:
                return set(sink) <= set(consumed_ids())

            with contextlib.suppress(RuntimeError):  # missing events are reported, not fatal
                await _wait_for(all_consumed, "every committed event to be consumed", args.drain_timeout, 0.2)
            cpu = meter.stop()
            seen = consumed_ids()
        finally:
            for task in tasks:
                task.cancel()
            if consumer_proc is not None:
                _stop_group(consumer_proc, "consumer")
            _stop_group(relay_proc, "relay worker")
    relay_text = relay_log.read_text(errors="replace")
    stopped_line = next((ln for ln in relay_text.splitlines() if "outbox relay stopped" in ln), "(no stop line)")
    latencies, occurred = [], []
    for event_id, (committed, occurred_at) in sink.items():
        times = seen.get(event_id)
        if times:
            latencies.append(1000 * (min(times) - committed))
            occurred.append(1000 * (min(times) - occurred_at))
    return LatencyResult(
        rate=args.rate,
        duration=args.duration,
        planned=planned,
        issued=issued,
        failed_writes=len(failures),
        achieved_rate=len(sink) / max(writing_s, 1e-9),
        tx_rate=issued / max(writing_s, 1e-9),
        max_start_lag_ms=1000 * max_lag,
        committed=len(sink),
        consumed=len(latencies),
        missing=len(sink) - len(latencies),
        duplicates=sum(len(seen[e]) - 1 for e in sink if e in seen),
        latencies_ms=latencies,
        occurred_latencies_ms=occurred,
        relay_published=stopped_line.split(": ", 1)[-1].strip() if "stopped" in stopped_line else stopped_line,
        cpu=cpu,
        skipped_backlog=skipped,
    )


# -- the whole run --------------------------------------------------------------------------------


async def run_all(url: str, broker: Broker, args: argparse.Namespace) -> dict[str, Any]:
    from elearning_adapters.container import bootstrap
    from elearning_adapters.settings import Settings

    result: dict[str, Any] = {}
    _publisher(broker.bootstrap).ensure_topics([TOPIC], partitions=PARTITIONS)
    platform_ = await bootstrap(Settings(database_url=url, log_level="WARNING"))  # migrate.upgrade
    async with platform_:
        db = platform_.database
        async with db.read() as conn:
            result["postgres"] = (await conn.exec_driver_sql("SHOW server_version")).scalar_one()
        log(f"database migrated; topic {TOPIC} with {PARTITIONS} partitions")
        warmup = in_memory_records(50)
        runs: list[ThroughputRun] = []
        if not args.skip_throughput:
            for repeat in range(1, args.repeat + 1):
                for batch_size in args.batch_sizes:
                    r = await throughput_round(db, url, broker, args, batch_size, repeat, warmup)
                    runs.append(r)
                    log(
                        f"throughput batch {batch_size:5}: relay {r.relay_eps:8,.0f} ev/s ({r.relay_s:.2f} s,"
                        f" {r.relay_in_publish_s / r.relay_s:.0%} in publish,"
                        f" {r.relay_in_claim_s / r.relay_s:.0%} in claim), publisher alone {r.publisher_eps:8,.0f}"
                        f" ev/s, ratio {r.ratio:.2f}; fill {args.events / r.fill_s:,.0f} rows/s;"
                        f" topic +{r.topic_delta_relay:,}; pending after {r.pending_after}; CPU {_fmt_cpu(r.cpu)}"
                    )
            headline = statistics.median(r.relay_eps for r in runs if r.batch_size == args.batch_size)
            if args.profile == "always" or (args.profile == "auto" and headline < TARGET_EPS):
                log("profiling one more drain under cProfile")
                result["profile"] = await profile_relay(db, url, broker, args, warmup)
        result["runs"] = runs
        if not args.skip_latency:
            lat = await latency_phase(db, url, broker, args, platform_)
            result["latency"] = lat
            log(
                f"latency: {lat.consumed:,}/{lat.committed:,} consumed, missing {lat.missing}, p50 {lat.pct(0.5):.1f}"
                f" p95 {lat.pct(0.95):.1f} p99 {lat.pct(0.99):.1f} max {max(lat.latencies_ms, default=float('nan')):.1f}"
                f" ms; CPU {_fmt_cpu(lat.cpu)}"
            )
    return result


# -- reporting ------------------------------------------------------------------------------------


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


@dataclass
class BatchSummary:
    batch_size: int
    relay_eps: float
    publisher_eps: float
    ratio: float
    in_publish: float
    in_claim: float
    other_cpu: float
    bench_cpu: float
    pg_cpu: float
    broker_cpu: float
    fill_rps: float
    topic_ok: bool


def summarise(runs: list[ThroughputRun], batch_sizes: list[int]) -> list[BatchSummary]:
    out = []
    for b in batch_sizes:
        mine = [r for r in runs if r.batch_size == b]
        if not mine:
            continue
        out.append(
            BatchSummary(
                batch_size=b,
                relay_eps=statistics.median(r.relay_eps for r in mine),
                publisher_eps=statistics.median(r.publisher_eps for r in mine),
                ratio=statistics.median(r.ratio for r in mine),
                in_publish=statistics.median(r.relay_in_publish_s / r.relay_s for r in mine),
                in_claim=statistics.median(r.relay_in_claim_s / r.relay_s for r in mine),
                other_cpu=statistics.median(r.cpu["other"] for r in mine),
                bench_cpu=statistics.median(r.cpu["bench (relay)"] for r in mine),
                pg_cpu=statistics.median(r.cpu["postgres"] for r in mine),
                broker_cpu=statistics.median(r.cpu["noida-db"] for r in mine),
                fill_rps=statistics.median(r.events / r.fill_s for r in mine),
                topic_ok=all(
                    r.topic_delta_relay == r.events and r.topic_delta_publisher == r.events and r.pending_after == 0
                    for r in mine
                ),
            )
        )
    return out


def print_report(result: dict[str, Any], args: argparse.Namespace) -> None:
    summary = summarise(result["runs"], args.batch_sizes)
    if summary:
        print()
        print(f"Throughput: {args.events:,} events per drain, one OutboxRelay, medians of {args.repeat} round(s)")
        print(
            f"{'batch':>6} {'relay ev/s':>11} {'publisher ev/s':>15} {'relay/pub':>10} {'in publish':>11}"
            f" {'in claim':>9} {'relay CPU':>10} {'pg CPU':>7} {'broker CPU':>11} {'other CPU':>10}  target >= {TARGET_EPS:,.0f}"
        )
        for s in summary:
            print(
                f"{s.batch_size:>6} {s.relay_eps:>11,.0f} {s.publisher_eps:>15,.0f} {s.ratio:>10.2f} {s.in_publish:>11.0%}"
                f" {s.in_claim:>9.0%} {s.bench_cpu:>10.0%} {s.pg_cpu:>7.0%} {s.broker_cpu:>11.0%} {s.other_cpu:>10.0%}"
                f"  {_met(s.relay_eps >= TARGET_EPS)}{'' if s.topic_ok else '  (COUNT MISMATCH)'}"
            )
    lat: LatencyResult | None = result.get("latency")
    if lat is not None:
        print()
        print(
            f"Latency at {lat.rate:g} events/s for {lat.duration:g} s (relay idle sleep {args.idle_sleep} s,"
            f" batch {args.batch_size}): commit -> consume"
        )
        print(
            f"  count {lat.consumed:,} of {lat.committed:,} committed, missing {lat.missing}, duplicates"
            f" {lat.duplicates}, failed writes {lat.failed_writes}, achieved {lat.achieved_rate:.1f} events/s"
            f" in {lat.tx_rate:.1f} transactions/s"
        )
        print(
            f"  p50 {lat.pct(0.5):.1f} ms  p95 {lat.pct(0.95):.1f} ms  p99 {lat.pct(0.99):.1f} ms"
            f"  max {max(lat.latencies_ms, default=float('nan')):.1f} ms  -> p99 < {TARGET_P99_S:g} s:"
            f" {_met(lat.pct(0.99) < TARGET_P99_S * 1000 and lat.missing == 0)}"
        )
        print(f"  CPU: {_fmt_cpu(lat.cpu)}")
    if "profile" in result:
        print()
        print(result["profile"])


def environment_facts(broker: Broker) -> dict[str, str]:
    import platform

    return {
        "cpus": f"{os.cpu_count()} ({_cpu_model()})",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "stack": (
            f"confluent-kafka {_version('confluent-kafka')} (librdkafka {_librdkafka()}), {broker.version},"
            f" SQLAlchemy {_version('SQLAlchemy')}, psycopg {_version('psycopg')}"
        ),
        "revision": _git_revision(),
    }


def _librdkafka() -> str:
    import confluent_kafka

    return str(confluent_kafka.libversion()[0])


def record(
    path: Path, args: argparse.Namespace, argv: list[str], facts: dict[str, Any], result: dict[str, Any]
) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    summary = summarise(result["runs"], args.batch_sizes)
    lat: LatencyResult | None = result.get("latency")
    others = [s.other_cpu for s in summary] + ([lat.cpu["other"]] if lat else [])
    other = max(others, default=0.0)
    lines = []
    if not path.exists() or "\n# Relay\n" not in path.read_text():
        lines += [
            "",
            "# Relay",
            "",
            "Appended by `python benchmarks/relay.py` (see README.md). Targets: relay throughput into the broker"
            f" >= {TARGET_EPS:,.0f} events/s; commit-to-consume latency p99 < {TARGET_P99_S:g} s at {TARGET_RATE:g}"
            " events/s.",
        ]
    lines += [
        "",
        f"## {now} - {args.events:,} events per drain, batch sizes {', '.join(map(str, args.batch_sizes))};"
        f" latency {args.rate:g} events/s x {args.duration:g} s",
        "",
        f"- Command: `{shlex.join(['python', 'benchmarks/relay.py', *argv])}` (total {facts['total_s']:.0f} s)",
        f"- Code: {facts['revision']}",
        f"- Machine: {facts['cpus']} CPUs, {facts['os']}, Python {facts['python']}, PostgreSQL {result['postgres']}",
        f"- Stack: {facts['stack']}; broker on loopback, topic `{TOPIC}` with {PARTITIONS} partitions, replication 1",
        f"- Machine load: CPU of unrelated processes up to {other:.0%} of a core during the measurements"
        + (" - NOT idle: the figures are depressed" if other > NOISY else " (idle)"),
        "- Producer: `KafkaEventPublisher` defaults (acks=all, enable.idempotence, linger.ms=5, lz4,"
        " message.timeout.ms=10000)",
    ]
    if summary:
        lines += [
            "",
            "### Throughput",
            "",
            f"Outbox pre-filled with {args.events:,} real course events per drain (`append_to_outbox` of the events"
            " recorded by `Course` aggregates: created, section added, 2 lessons added, details changed, published;"
            f" {INSERT_CHUNK:,} rows per transaction), then `VACUUM (ANALYZE) outbox`. ONE `OutboxRelay` (its own"
            f" `run()` loop, idle sleep {args.idle_sleep} s) in the benchmark process drains it; events/s = {args.events:,}"
            " / time until the last batch was marked and committed. 'publisher alone' = `KafkaEventPublisher.publish`"
            " of the same rows in the same batches, no database. Each producer is warmed up with 50 in-memory events"
            f" first. Medians of {args.repeat} round(s). 'in publish' = share of the relay's time spent inside"
            " `publish()`; 'in claim' = inside the PostgreSQL claim (`SELECT ... FOR UPDATE SKIP LOCKED`, the"
            " blocked-keys query, row decoding); the rest is marking (`UPDATE ... WHERE id IN (...)`), COMMIT and the"
            " loop. CPU in % of one core.",
            "",
            "| batch | relay events/s | publisher alone events/s | relay / publisher | in publish | in claim"
            " | relay proc CPU"
            " | postgres CPU | noida-db CPU | other CPU | target | counts |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for s in summary:
            lines.append(
                f"| {s.batch_size} | {s.relay_eps:,.0f} | {s.publisher_eps:,.0f} | {s.ratio:.2f} | {s.in_publish:.0%} |"
                f" {s.in_claim:.0%} | {s.bench_cpu:.0%} | {s.pg_cpu:.0%} | {s.broker_cpu:.0%} | {s.other_cpu:.0%} |"
                f" >= {TARGET_EPS:,.0f}: {_met(s.relay_eps >= TARGET_EPS)} |"
                f" {'ok' if s.topic_ok else 'MISMATCH'} |"
            )
        lines += [
            "",
            "'counts ok' = the topic grew by exactly N messages per drain (no loss, no duplicate) and nothing was"
            f" left pending. Outbox writes while pre-filling: ~{statistics.median(s.fill_rps for s in summary):,.0f}"
            " rows/s.",
        ]
    if lat is not None:
        met = lat.pct(0.99) < TARGET_P99_S * 1000 and lat.missing == 0
        lines += [
            "",
            "### Latency",
            "",
            f"The relay worker as deployed (`python -m elearning_workers relay --batch-size {args.batch_size}"
            f" --idle-sleep {args.idle_sleep}`, its own process) runs while a writer in the benchmark process commits"
            " course changes through `CourseService`, alternating two kinds of transaction: `import_courses` of one"
            f" published course with 1 section and 2 lessons ({IMPORT_EVENTS} events) and one single-event edit"
            f" (update title, rename lesson, publish, unpublish in turn over {EDIT_POOL} draft courses), so"
            f" {CYCLE_EVENTS} events per 2 transactions. Transactions start on an absolute schedule of"
            f" {args.rate:g} events/s for {args.duration:g} s (at most {args.max_in_flight} in flight). A confluent_kafka"
            " consumer in a third process (own group, auto.offset.reset=earliest, session.timeout.ms=6000, other"
            " settings librdkafka defaults) records the wall time of every message. Latency = consume time - the"
            " time the writer's commit returned (recorded per event id by a thin wrapper around the real"
            " `SqlUnitOfWork.commit`).",
            "",
            "| events/s achieved | committed | consumed | missing | duplicates | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |"
            " target p99 |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            f"| {lat.achieved_rate:.1f} | {lat.committed:,} | {lat.consumed:,} | {lat.missing} | {lat.duplicates} |"
            f" {lat.pct(0.5):.1f} | {lat.pct(0.95):.1f} | {lat.pct(0.99):.1f} |"
            f" {max(lat.latencies_ms, default=float('nan')):.1f} | < {TARGET_P99_S * 1000:.0f} ms: {_met(met)} |",
            "",
            f"- From the event's `occurred_at` instead (taken before the transaction's writes, so it includes them):"
            f" p50 {lat.pct(0.5, lat.occurred_latencies_ms):.1f}, p99 {lat.pct(0.99, lat.occurred_latencies_ms):.1f},"
            f" max {max(lat.occurred_latencies_ms, default=float('nan')):.1f} ms.",
            f"- Writer: {lat.issued:,} of {lat.planned:,} planned transactions issued ({lat.tx_rate:.1f}/s),"
            f" {lat.failed_writes} failed, latest start {lat.max_start_lag_ms:.1f} ms behind schedule."
            f" Relay worker: {lat.relay_published}.",
            f"- CPU (% of one core): {_fmt_cpu(lat.cpu)}.",
        ]
    if "profile" in result:
        lines += ["", "<details><summary>Profile of the relay</summary>", "", "```", result["profile"], "```", "",
                  "</details>"]  # fmt: skip
    lines += ["", ""]
    with path.open("a") as f:
        f.write("\n".join(lines))
    log(f"recorded in {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=20_000, help="events per throughput drain (default: 20000)")
    p.add_argument(
        "--batch-size", type=int, default=1_000, help="relay batch size: headline throughput and latency (1000)"
    )
    p.add_argument("--batch-sizes", default="500,1000,2000", help="batch sizes of the throughput sweep (500,1000,2000)")
    p.add_argument("--repeat", type=int, default=1, help="throughput rounds per batch size; medians reported (1)")
    p.add_argument("--rate", type=float, default=TARGET_RATE, help="latency: committed changes per second (200)")
    p.add_argument("--duration", type=float, default=30.0, help="latency: seconds of writing (30)")
    p.add_argument("--idle-sleep", type=float, default=0.05, help="relay idle sleep in seconds (0.05)")
    p.add_argument("--max-in-flight", type=int, default=32, help="latency: concurrent writer transactions at most (32)")
    p.add_argument("--drain-timeout", type=float, default=30.0, help="latency: wait for the last events (30 s)")
    p.add_argument("--timeout", type=float, default=120.0, help="bound of one throughput drain in seconds (120)")
    p.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                   help="cProfile one more drain: auto = when the throughput target is missed")  # fmt: skip
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("ELEARNING_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL),
        help="server on which the throwaway database is created and dropped (default: %(default)s)",
    )
    p.add_argument("--results", type=Path, default=RESULTS, help="markdown file to append to (default: %(default)s)")
    p.add_argument("--no-record", action="store_true", help="print only; do not append to the results file")
    args = p.parse_args(argv)
    try:
        sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    except ValueError:
        p.error("--batch-sizes must be comma-separated integers")
    args.batch_sizes = sorted(set(sizes) | {args.batch_size})
    if min(args.batch_sizes) < 1 or args.events < 1 or args.repeat < 1 or args.rate <= 0 or args.duration <= 0:
        p.error("sizes, --events, --repeat, --rate and --duration must be positive")
    if args.idle_sleep < 0 or args.max_in_flight < 1:
        p.error("--idle-sleep must be >= 0 and --max-in-flight >= 1")
    return args


def _terminate_on_signals() -> None:
    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, handler)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--consumer-child"]:
        return consumer_child(argv[1:])
    args = parse_args(argv)
    started = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    _terminate_on_signals()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        with contextlib.ExitStack() as stack:
            broker = stack.enter_context(noida_broker(OUT / f"noida_db_{stamp}.log"))
            url = stack.enter_context(throwaway_database(args.postgres_url))
            result = asyncio.run(run_all(url, broker, args))
            facts: dict[str, Any] = environment_facts(broker)
        # the broker is stopped and the database dropped here
        facts["total_s"] = time.perf_counter() - started
        print_report(result, args)
        if not args.no_record:
            record(args.results, args, argv, facts, result)
        print(f"total run time {facts['total_s']:.0f} s")
        return 0
    except KeyboardInterrupt:
        log("interrupted; cleaned up")
        return 130


if __name__ == "__main__":
    if shutil.which("git") is None:
        print("note: git not found; the code revision is not recorded", file=sys.stderr)
    sys.exit(main(sys.argv[1:]))
