#!/usr/bin/env python
"""Benchmark: how long after a commit does a cached catalog read show the change?

The issue's rule: "a published change is visible within one second". One command::

    python benchmarks/visibility.py          # 100 changes per mode, one every 100 ms

For each mode a writer platform with NO cache of its own commits a change (a
rename of a published course), and a reader that serves the catalog through
its cache (filled before every change, so it holds the stale value) polls
``get_outline`` and ``list_courses`` every 5 ms until both show the new title.
The writer cannot touch the reader's cache: only the event path can.

- ``kafka``: PostgreSQL, a noida-db Kafka-protocol broker, Redis; the real
  ``python -m elearning_workers relay`` and ``consume catalog-cache`` processes.
- ``in-process``: PostgreSQL; the reader's in-process transport (as inside
  ``elearning serve``) with its in-memory cache.

Prints p50/p95/p99/max per mode and appends a section to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from catalog import DEFAULT_ADMIN_URL, _git_revision, _version, log, throwaway_database
from relay import _spawn, _stop_group, noida_broker

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
RESULTS = HERE / "RESULTS.md"
TARGET_S = 1.0
REDIS_URL = os.environ.get("ELEARNING_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
POLL_S = 0.005
GIVE_UP_S = 10.0


async def _seed(platform: Any) -> uuid.UUID:
    from elearning_core.course.commands import AddLesson, AddSection, CourseRef, CreateCourse
    from elearning_core.shared.ports import SYSTEM

    svc = platform.courses
    course = await svc.create(SYSTEM, CreateCourse(title="Visibility 0"))
    section = await svc.add_section(SYSTEM, AddSection(course_id=course.id, title="S"))
    await svc.add_lesson(SYSTEM, AddLesson(course_id=course.id, section_id=section.id, title="L"))
    await svc.publish(SYSTEM, CourseRef(course_id=course.id))
    return course.id


async def measure(writer: Any, reader: Any, course_id: uuid.UUID, changes: int, interval: float) -> list[float]:
    """Seconds from each commit until both cached reads show it (GIVE_UP_S + 1 when they never did)."""
    from elearning_core.course.commands import UpdateCourse
    from elearning_core.shared.ports import ANONYMOUS, SYSTEM

    async def shows(title: str) -> bool:
        outline = await reader.get_outline(ANONYMOUS, course_id)
        page = await reader.list_courses(ANONYMOUS)
        return bool(outline.title == title and page.items and page.items[0].title == title)

    latencies = []
    for i in range(1, changes + 1):
        await shows("")  # fill the cache with the current (soon stale) values
        title = f"Visibility {i}"
        await writer.courses.update(SYSTEM, UpdateCourse(course_id=course_id, title=title))
        committed = time.perf_counter()
        while not await shows(title):
            if time.perf_counter() - committed > GIVE_UP_S:
                break
            await asyncio.sleep(POLL_S)
        latencies.append(time.perf_counter() - committed)
        await asyncio.sleep(max(0.0, interval - latencies[-1]))
    return latencies


@contextlib.asynccontextmanager
async def platforms(settings: Any) -> AsyncIterator[tuple[Any, Any]]:
    from elearning_adapters import Settings, bootstrap

    writer = await bootstrap(
        Settings(database_url=settings.database_url, data_dir=settings.data_dir, cache="none"), run_migrations=False
    )
    reader = await bootstrap(settings, run_migrations=False)
    try:
        yield writer, reader
    finally:
        await reader.aclose()
        await writer.aclose()


async def run_in_process(database_url: str, changes: int, interval: float) -> list[float]:
    from elearning_adapters import Settings

    settings = Settings(database_url=database_url, data_dir=OUT, cache="memory")
    async with platforms(settings) as (writer, reader):
        course_id = await _seed(writer)
        assert reader.events is not None
        reader.events.start()
        try:
            return await measure(writer, reader.courses, course_id, changes, interval)
        finally:
            await reader.events.stop()


@contextlib.contextmanager
def workers(env: dict[str, str]) -> Iterator[None]:
    OUT.mkdir(exist_ok=True)
    logs = [(OUT / f"visibility_{name}.log").open("wb") for name in ("relay", "consume")]
    processes = [
        _spawn([sys.executable, "-m", "elearning_workers", *args], env=env, stdout=out, stderr=subprocess.STDOUT)
        for args, out in zip((["relay", "--idle-sleep", "0.05"], ["consume", "catalog-cache"]), logs, strict=True)
    ]
    try:
        yield
    finally:
        for process, name in zip(processes, ("relay", "consume"), strict=True):
            _stop_group(process, name)
        for out in logs:
            out.close()


async def run_kafka(database_url: str, bootstrap: str, changes: int, interval: float) -> list[float]:
    from elearning_adapters import Settings
    from elearning_adapters.kafka.lag import group_lag

    prefix = f"bench-visibility-{uuid.uuid4().hex[:8]}:"
    settings = Settings(
        database_url=database_url,
        data_dir=OUT,
        kafka_bootstrap_servers=bootstrap,
        redis_url=REDIS_URL,
        redis_key_prefix=prefix,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELEARNING_")} | {
        "ELEARNING_DATABASE_URL": database_url,
        "ELEARNING_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "ELEARNING_REDIS_URL": REDIS_URL,
        "ELEARNING_REDIS_KEY_PREFIX": prefix,
        "ELEARNING_DATA_DIR": str(OUT),
    }
    try:
        async with platforms(settings) as (writer, reader):
            course_id = await _seed(writer)
            with workers(env):
                deadline = time.monotonic() + 60
                while True:  # the consumer has joined and handled the seed events
                    lag = await asyncio.to_thread(group_lag, bootstrap, "catalog-cache", ["elearning.course"], 2.0)
                    committed = await _inbox_count(writer.database)
                    if lag and sum(lag.values()) == 0 and committed >= 4:
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError("the catalog-cache consumer did not catch up within 60 s")
                    await asyncio.sleep(0.2)
                return await measure(writer, reader.courses, course_id, changes, interval)
    finally:
        await _delete_prefix(prefix)


async def _inbox_count(database: Any) -> int:
    from sqlalchemy import func, select

    from elearning_adapters.sql.inbox import inbox

    async with database.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(inbox))).scalar_one())


async def _delete_prefix(prefix: str) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def _migrate(url: str) -> None:
    from elearning_adapters.sql import migrate
    from elearning_adapters.sql.engine import Database

    async def go() -> None:
        db = Database(url)
        try:
            await migrate.upgrade(db)
        finally:
            await db.dispose()

    asyncio.run(go())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def summary(latencies: list[float]) -> dict[str, float]:
    return {
        "p50": statistics.median(latencies) * 1000,
        "p95": pct(latencies, 0.95) * 1000,
        "p99": pct(latencies, 0.99) * 1000,
        "max": max(latencies) * 1000,
        "missed": float(sum(1 for x in latencies if x > GIVE_UP_S)),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=100, help="changes measured per mode (default: 100)")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between changes (default: 0.1)")
    parser.add_argument("--postgres-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    started = time.monotonic()
    results: dict[str, dict[str, float]] = {}
    with noida_broker(OUT / "visibility_broker.log") as broker:
        for mode in ("in-process", "kafka"):
            with throwaway_database(args.postgres_url) as url:
                _migrate(url)
                log(f"measuring {mode}: {args.changes} changes, one every {args.interval:g} s")
                if mode == "kafka":
                    latencies = asyncio.run(run_kafka(url, broker.bootstrap, args.changes, args.interval))
                else:
                    latencies = asyncio.run(run_in_process(url, args.changes, args.interval))
                results[mode] = summary(latencies)
    lines = [
        "| mode | changes | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | never visible | p99 < 1 s |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for mode, s in results.items():
        met = "met" if s["p99"] < TARGET_S * 1000 and not s["missed"] else "NOT met"
        lines.append(
            f"| {mode} | {args.changes} | {s['p50']:.0f} | {s['p95']:.0f} | {s['p99']:.0f} | {s['max']:.0f}"
            f" | {s['missed']:.0f} | {met} |"
        )
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        with RESULTS.open("a") as out:
            out.write(
                f"\n\n## {now} - Visibility of a committed change in cached catalog reads\n\n"
                f"- Command: `python benchmarks/visibility.py {' '.join(argv)}`".rstrip()
                + f" (total {time.monotonic() - started:.0f} s)\n"
                f"- Code: {_git_revision()}; {os.cpu_count()} CPUs; confluent-kafka {_version('confluent-kafka')},"
                f" redis-py {_version('redis')}, noida-db {_version('noida-db')}\n"
                "- A writer with no cache renames a published course; a reader whose cache holds the old title polls"
                " `get_outline` and the first `list_courses` page every 5 ms until both show the new one."
                " kafka: relay and consume catalog-cache worker processes, Redis cache; in-process: the reader's"
                " in-process transport and memory cache. PostgreSQL for both.\n\n"
                f"{table}\n"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
