#!/usr/bin/env python
"""Benchmark of the projection mechanism: events/s through the Kafka consumer, batched vs one at a time.

One command::

    python benchmarks/projection.py                 # 20,000 events batched (500), 2,000 one at a time
    python benchmarks/projection.py --events 50000 --single-events 5000 --batch-size 1000
    python benchmarks/projection.py --progress      # the REAL progress projection (see below)

What it does (see benchmarks/README.md):

1. starts the noida-db Kafka-protocol broker (``relay.py``'s ``noida_broker``: the real binary, its own
   process group, a free loopback port) and creates a throwaway PostgreSQL database
   (``elearning_bench_<random>``) migrated with ``elearning_adapters.sql.migrate.upgrade``, plus a
   projection table ``bench_projection (course_id PRIMARY KEY, events, last_type)``;
2. per round, publishes real course events (``relay.py``'s ``in_memory_records``: what ``Course``
   aggregates record) to a fresh 6-partition topic with the relay's producer, BEFORE the consumer starts,
   so the consumer drains a backlog (the figure is the consumer's throughput, not the producer's);
3. runs ONE real ``ConsumerRunner`` (the worker's class: inbox dedupe, offsets committed after handling)
   whose handler upserts the event's course row in ``bench_projection`` through the batch's connection
   (``INSERT ... ON CONFLICT DO UPDATE``: a small, real projection write), and times it from its first
   handled event to its last: rounds ``batched`` (``--batch-size``), ``one at a time`` (batch size 1,
   the runner's previous behaviour) and ``set-wise`` (``--batch-size`` with a ``batch_handler`` doing one
   multi-row upsert per batch);
With ``--progress`` the handler is the real ``progress`` subscription instead: a published course of 12
lessons (9 videos of 150 s, 3 texts), ``--learners`` enrolled, ``--events`` progress events of their
sessions (mostly 25-second heartbeats, some views and done marks, 2 % of learners through the whole
course) interleaved as concurrent viewers produce them, their facts already recorded (the consumer drains
a backlog); rounds over the first ``--single-events`` events one at a time, batched with the per-type
handlers, and set-wise (the subscription's ``batch_handler``), then set-wise over all ``--events``; every
round starts from the same derived state and the rounds over the same events must record the same
completions.

4. checks that the projection counted every event exactly once, prints the figures and writes them to
   ``benchmarks/out/projection-<time>.json``. It does not edit RESULTS.md. The broker and the database
   are removed at the end, also after an error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from catalog import DEFAULT_ADMIN_URL, _cpu_model, _git_revision, _version, log, throwaway_database
from relay import as_records, in_memory_records, noida_broker

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PARTITIONS = 6
TARGET_EPS = 2_000.0
WAIT_S = 300.0

CREATE_PROJECTION = """
CREATE TABLE bench_projection (
    course_id uuid PRIMARY KEY,
    events integer NOT NULL,
    last_type varchar(80) NOT NULL
)
"""
UPSERT = """
INSERT INTO bench_projection (course_id, events, last_type) VALUES (:course_id, 1, :last_type)
ON CONFLICT (course_id) DO UPDATE SET events = bench_projection.events + 1, last_type = EXCLUDED.last_type
"""
UPSERT_MANY = """
INSERT INTO bench_projection (course_id, events, last_type)
SELECT course_id, count(*), (array_agg(last_type ORDER BY n DESC))[1]
FROM unnest(CAST(:ids AS uuid[]), CAST(:types AS text[])) WITH ORDINALITY AS e(course_id, last_type, n)
GROUP BY course_id
ON CONFLICT (course_id) DO UPDATE SET events = bench_projection.events + EXCLUDED.events,
    last_type = EXCLUDED.last_type
"""


@dataclass
class Round:
    name: str
    batch_size: int
    events: int
    seconds: float
    events_per_second: float
    batches: int
    offset_commits: int
    counted: int  # sum of bench_projection.events after the round (--progress: events handled): must equal `events`
    lesson_completions: int | None = None  # --progress: LessonCompleted events the round recorded
    course_completions: int | None = None  # --progress: CourseCompleted events the round recorded

    @classmethod
    def of(cls, name: str, batch: int, count: int, runner: Any, seconds: float, first: int, counted: int) -> Round:
        """A round's figures from its runner (``first``: events handled when the clock started)."""
        return cls(
            name=name,
            batch_size=batch,
            events=count,
            seconds=round(seconds, 3),
            events_per_second=round((count - first) / seconds, 1),
            batches=runner.stats.batches,
            offset_commits=runner.stats.offset_commits,
            counted=counted,
        )


async def publish(bootstrap: str, topic: str, count: int) -> set[str]:
    """``count`` real course events on ``topic``; returns their types."""
    return await publish_records(bootstrap, topic, in_memory_records(count))


async def publish_records(bootstrap: str, topic: str, records: Sequence[Any]) -> set[str]:
    """Outbox records produced to ``topic`` (keyed by aggregate, like the relay); returns their types."""
    from elearning_adapters.kafka import KafkaEventPublisher

    records = [replace(r, topic=topic) for r in records]
    publisher = KafkaEventPublisher(bootstrap, delivery_timeout=60.0)
    try:
        await asyncio.to_thread(publisher.ensure_topics, [topic], partitions=PARTITIONS)
        for start in range(0, len(records), 5_000):
            await publisher.publish(records[start : start + 5_000])
    finally:
        await publisher.aclose()
    return {r.event_type for r in records}


async def one_round(
    db: Any, bootstrap: str, name: str, count: int, batch_size: int, *, setwise: bool, max_wait: float
) -> Round:
    from sqlalchemy import text

    async def upsert(event: Any, envelope: Any, conn: Any) -> None:
        await conn.execute(text(UPSERT), {"course_id": event.aggregate_id, "last_type": envelope.type})

    async def upsert_many(items: Sequence[tuple[Any, Any]], conn: Any) -> None:
        ids = [e.aggregate_id for e, _ in items]
        await conn.execute(text(UPSERT_MANY), {"ids": ids, "types": [env.type for _, env in items]})

    async with db.write() as conn:
        await conn.execute(text("TRUNCATE bench_projection"))
        await conn.commit()
    topic = f"bench.projection.{name.replace(' ', '-')}.{uuid.uuid4().hex[:8]}"
    types = await publish(bootstrap, topic, count)
    log(f"{name}: {count} events published to {topic}")
    handlers = dict.fromkeys(types, upsert)
    runner, seconds, first = await consume(
        db, bootstrap, topic, handlers, name, count, batch_size, upsert_many if setwise else None, max_wait
    )
    async with db.read() as conn:
        counted = int((await conn.execute(text("SELECT coalesce(sum(events), 0) FROM bench_projection"))).scalar_one())
    if counted != count:
        raise RuntimeError(f"{name}: the projection counted {counted} events of {count}")
    result = Round.of(name, batch_size, count, runner, seconds, first, counted)
    log(f"{name}: {result.events_per_second:,.0f} events/s ({count} events, {result.offset_commits} offset commits)")
    return result


async def consume(
    db: Any,
    bootstrap: str,
    topic: str,
    handlers: dict[str, Any],
    name: str,
    count: int,
    batch_size: int,
    batch_handler: Any,
    max_wait: float,
) -> tuple[Any, float, int]:
    """One real ``ConsumerRunner`` drains ``count`` events of ``topic``; (runner, seconds from its first handled
    event to its last, events handled when the clock started)."""
    from elearning_workers.consumer import ConsumerRunner

    runner = ConsumerRunner(
        f"bench-{uuid.uuid4().hex[:8]}",
        bootstrap,
        [topic],
        handlers,
        db,
        consumer_name=f"bench-{name}-{uuid.uuid4().hex[:6]}",
        batch_size=batch_size,
        batch_max_wait=max_wait,
        batch_handler=batch_handler,
        poll_timeout=0.1,
        ensure_dlq_topics=False,
    )
    task = asyncio.create_task(runner.run())
    began: float | None = None
    first = 0
    deadline = time.monotonic() + WAIT_S
    try:
        while runner.stats.handled + runner.stats.skipped < count:
            if task.done():
                await task
                raise RuntimeError(f"the consumer stopped early: {runner.stats}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: not done within {WAIT_S:.0f} s: {runner.stats}")
            if began is None and runner.stats.handled > 0:
                began = time.monotonic()
                first = runner.stats.handled
            await asyncio.sleep(0.005)
        ended = time.monotonic()
    finally:
        runner.stop()
        await asyncio.wait_for(task, 30)
    assert began is not None
    return runner, max(ended - began, 1e-6), first


async def run(url: str, bootstrap: str, args: argparse.Namespace) -> list[Round]:
    from sqlalchemy import text

    from elearning_adapters.sql import migrate
    from elearning_adapters.sql.engine import Database

    db = Database(url)
    try:
        await migrate.upgrade(db)
        async with db.write() as conn:
            await conn.execute(text(CREATE_PROJECTION))
            await conn.commit()
        wait = args.max_wait_ms / 1000
        rounds = [
            await one_round(db, bootstrap, "one at a time", args.single_events, 1, setwise=False, max_wait=wait),
            await one_round(db, bootstrap, "batched", args.events, args.batch_size, setwise=False, max_wait=wait),
        ]
        if not args.skip_setwise:
            rounds.append(
                await one_round(db, bootstrap, "set-wise", args.events, args.batch_size, setwise=True, max_wait=wait)
            )
        return rounds
    finally:
        await db.dispose()


async def run_progress(url: str, bootstrap: str, args: argparse.Namespace) -> list[Round]:
    """The REAL progress projection: its subscription's handlers (and its set-wise ``batch_handler``) on a
    published course's learners, from the same derived state each round (see ``_progress_workload``)."""
    import _progress_workload as workload
    from elearning_adapters.container import bootstrap as build_platform
    from elearning_adapters.progress import progress_subscription
    from elearning_adapters.settings import Settings

    wait = args.max_wait_ms / 1000
    with tempfile.TemporaryDirectory() as data_dir:
        platform = await build_platform(Settings(database_url=url, data_dir=Path(data_dir)))
        try:
            began = time.monotonic()
            load = await workload.build(platform, args.learners, args.events)
            log(
                f"{len(load.learners)} learners enrolled, {len(load.events)} events and their facts recorded in"
                f" {time.monotonic() - began:.1f} s; mix: {load.mix}"
            )
            records = as_records(load.events)
            subscription = progress_subscription(platform.container.progress.projector())
            prefix = min(args.single_events, len(records))
            plan = [
                ("one at a time", prefix, 1, False),
                ("batched", prefix, args.batch_size, False),
                ("set-wise", prefix, args.batch_size, True),
                ("set-wise all", len(records), args.batch_size, True),
            ]
            rounds = []
            for name, count, batch_size, setwise in plan:
                await workload.reset_derived(platform, load.course_id)
                mark = (await workload.completions(platform, 0))[2]
                topic = f"bench.progress.{name.replace(' ', '-')}.{uuid.uuid4().hex[:8]}"
                await publish_records(bootstrap, topic, records[:count])
                runner, seconds, first = await consume(
                    platform.database,
                    bootstrap,
                    topic,
                    dict(subscription.handlers),
                    f"progress-{name.replace(' ', '-')}",
                    count,
                    batch_size,
                    subscription.batch_handler if setwise else None,
                    wait,
                )
                lessons, courses, _ = await workload.completions(platform, mark)
                result = replace(
                    Round.of(f"progress {name}", batch_size, count, runner, seconds, first, runner.stats.handled),
                    lesson_completions=lessons,
                    course_completions=courses,
                )
                log(
                    f"{result.name}: {result.events_per_second:,.0f} events/s ({count} events,"
                    f" {result.offset_commits} offset commits, {lessons} lessons and {courses} courses completed)"
                )
                rounds.append(result)
            same = {(r.lesson_completions, r.course_completions) for r in rounds if r.events == prefix}
            if len(same) != 1:
                raise RuntimeError(f"the rounds over the same events recorded different completions: {same}")
            return rounds
        finally:
            await platform.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events of the batched rounds")
    parser.add_argument("--single-events", type=int, default=2_000, help="events of the one-at-a-time round")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--max-wait-ms", type=float, default=50.0)
    parser.add_argument("--skip-setwise", action="store_true", help="only the batched and one-at-a-time rounds")
    parser.add_argument(
        "--progress",
        action="store_true",
        help="the real progress projection (its handlers on a course's learners) instead of the synthetic upsert",
    )
    parser.add_argument("--learners", type=int, default=1_000, help="--progress: learners of the course")
    parser.add_argument("--postgres-url", default=DEFAULT_ADMIN_URL, help="server for the throwaway database")
    args = parser.parse_args(argv)
    for name in ("events", "single_events", "batch_size", "learners"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    sys.path.insert(0, str(HERE.parent / "src"))
    OUT.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    load = os.getloadavg()
    with noida_broker(OUT / f"projection-broker-{stamp}.log") as broker, throwaway_database(args.postgres_url) as url:
        rounds = asyncio.run((run_progress if args.progress else run)(url, broker.bootstrap, args))
    single = next(r for r in rounds if r.batch_size == 1)
    print()
    print(f"{'round':<24} {'batch':>6} {'events':>8} {'seconds':>8} {'events/s':>10} {'commits':>8}  vs one at a time")
    for r in rounds:
        ratio = r.events_per_second / single.events_per_second
        print(
            f"{r.name:<24} {r.batch_size:>6} {r.events:>8} {r.seconds:>8.2f} {r.events_per_second:>10,.0f}"
            f" {r.offset_commits:>8}  x{ratio:.1f}"
        )
    best = max(rounds, key=lambda r: r.events_per_second if r.batch_size > 1 else 0)
    met = "met" if best.events_per_second >= TARGET_EPS else "NOT met"
    handler = "the progress projection" if args.progress else "per-event upsert handler"
    print(f"target >= {TARGET_EPS:,.0f} events/s with batching ({handler}, best: {best.name}): {met}")
    print(f"load average at the start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (a busy machine skews every figure)")
    facts = {
        "revision": _git_revision(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "load_average_at_start": load,
        "broker": broker.version,
        "confluent_kafka": _version("confluent-kafka"),
        "mode": "progress" if args.progress else "synthetic",
        "rounds": [asdict(r) for r in rounds],
    }
    path = OUT / f"projection-{stamp}.json"
    path.write_text(json.dumps(facts, indent=2))
    log(f"figures written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
