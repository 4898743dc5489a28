#!/usr/bin/env python
"""Benchmark of the analytics projection's ingest: xAPI statements/s from events into PostgreSQL.

One command::

    python benchmarks/analytics_ingest.py                  # 20,000 events in batches of 500
    python benchmarks/analytics_ingest.py --events 50000 --batch-size 1000
    python benchmarks/analytics_ingest.py --consumers 2        # two worker processes, one per partition

What it does: creates a throwaway PostgreSQL database migrated to head, enrolls ``--learners``
learners in one course (so every statement's registration is read for real), builds ``--events``
events of their activity as a platform produces them (80 % video heartbeats in the four player
states, 10 % lesson views, 5 % submitted attempts of five answered items, 5 % graded attempts), as
wire envelopes, and hands them to the real ``analytics`` subscription's dispatcher
(``EventDispatcher.dispatch_batch``: inbox rows, registrations, mapping, one multi-row insert per batch,
the aggregates, one commit) in batches of ``--batch-size``, timed from the first batch to the last. The
dispatcher is built as the worker builds it (its caches empty), and start-up's objects are frozen out of the
garbage collector as the worker does (``freeze_startup_objects``) before the clock starts. Then it dispatches
the first batch again (a redelivery: every event a duplicate) and checks that the store holds exactly
the statements the events map to, and that the aggregates the batches kept equal a rebuild from the stored
statements (row for row, every aggregate table).

``--consumers N`` runs the batches in N processes at once, as N worker processes of the ``analytics`` consumer
group each handle their partitions: an event goes to process ``crc32(message key) % N`` (the message key is the
event's aggregate id, as the relay keys it), each process with its own dispatcher, connection pool and batches,
timed from the moment all are ready to the last one's end.

Prints the figures and writes ``benchmarks/out/analytics-ingest-<time>.json``; the database is dropped at
the end. It does not edit RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import sys
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sqlalchemy import func, insert, select, text  # noqa: E402

from catalog import DEFAULT_ADMIN_URL, _cpu_model, _git_revision, log, throwaway_database  # noqa: E402
from elearning_adapters.analytics.projection import analytics_subscription  # noqa: E402
from elearning_adapters.container import freeze_startup_objects  # noqa: E402
from elearning_adapters.events.dispatch import EventDispatcher  # noqa: E402
from elearning_adapters.sql import migrate  # noqa: E402
from elearning_adapters.sql.analytics import AGGREGATE_TABLES, rebuild_aggregates, xapi_statements  # noqa: E402
from elearning_adapters.sql.engine import Database  # noqa: E402
from elearning_adapters.sql.enrollment import enrollments  # noqa: E402
from elearning_core.analytics.mapping import StatementMapper  # noqa: E402
from elearning_core.analytics.pseudonyms import Pseudonyms  # noqa: E402
from elearning_core.analytics.vocabulary import PlatformIris  # noqa: E402
from elearning_core.assessment.events import AttemptGraded, AttemptSubmitted, SubmittedItem  # noqa: E402
from elearning_core.progress.events import LessonViewed, VideoWatched, progress_key  # noqa: E402
from elearning_core.shared.clock import SystemClock  # noqa: E402
from elearning_core.shared.envelope import to_envelope  # noqa: E402
from elearning_core.shared.events import DomainEvent  # noqa: E402

T0 = datetime(2026, 12, 1, tzinfo=UTC)
Runner = Callable[[argparse.Namespace, str], Awaitable[dict[str, Any]]]
STATES = ("playing", "playing", "playing", "paused", "seeking", "ended")


Catalogue = tuple[list[uuid.UUID], list[uuid.UUID], uuid.UUID, list[uuid.UUID]]
"""A course's content the events are about: nine lessons, their videos (nine unless asked: video ``i`` is in
lesson ``i % 9``), a quiz and its five questions."""


def catalogue(videos: int = 9) -> Catalogue:
    return (
        [uuid.uuid4() for _ in range(9)],
        [uuid.uuid4() for _ in range(videos)],
        uuid.uuid4(),
        [uuid.uuid4() for _ in range(5)],
    )


def _events(
    count: int, course: uuid.UUID, learners: list[uuid.UUID], rng: random.Random, content: Catalogue | None = None
) -> list[DomainEvent]:
    """``count`` events of ``learners`` in ``course``, about ``content`` (a new catalogue when None)."""
    lessons, videos, quiz, questions = content or catalogue()
    events: list[DomainEvent] = []
    for n in range(count):
        user = rng.choice(learners)
        at = T0 + timedelta(seconds=n)
        base: dict[str, Any] = {"occurred_at": at, "course_id": course, "user_id": user}
        roll = rng.random()
        if roll < 0.8:
            i, start = rng.randrange(len(videos)), rng.randrange(0, 140)
            events.append(
                VideoWatched(
                    aggregate_id=progress_key(course, user),
                    **base,
                    lesson_id=lessons[i % len(lessons)],
                    video_id=videos[i],
                    start_seconds=start,
                    end_seconds=start + 10,
                    position_seconds=start + 10,
                    state=rng.choice(STATES),
                    playback_rate=1.0,
                    player_session_id=str(uuid.uuid4()),
                    duration_seconds=150.0,
                    watched_seconds=float(start + 10),
                )
            )
        elif roll < 0.9:
            events.append(LessonViewed(aggregate_id=progress_key(course, user), **base, lesson_id=rng.choice(lessons)))
        elif roll < 0.95:
            items = [
                SubmittedItem(
                    question_id=q,
                    version=1,
                    kind="single_choice",
                    points=1,
                    answered=True,
                    response={"choice": rng.choice("abcd")},
                    score=float(rng.random() < 0.6),
                )
                for q in questions
            ]
            events.append(
                AttemptSubmitted(
                    aggregate_id=uuid.uuid4(),
                    quiz_id=quiz,
                    number=1,
                    reason="learner",
                    late_seconds=0,
                    needs_grading=False,
                    items=items,
                    **base,
                )
            )
        else:
            percent = rng.uniform(0, 100)
            events.append(
                AttemptGraded(
                    aggregate_id=uuid.uuid4(),
                    quiz_id=quiz,
                    number=1,
                    score=percent / 20,
                    max_score=5,
                    percent=percent,
                    passed=percent >= 60,
                    **base,
                )
            )
    return events


async def _count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(xapi_statements))).scalar_one())


async def _never(_seconds: float) -> bool:
    return True


def _dispatcher(db: Database) -> EventDispatcher:
    """The ``analytics`` subscription's dispatcher, as a worker builds it (its mapper's caches empty)."""
    mapper = StatementMapper(PlatformIris("https://learn.example.org"))
    subscription = analytics_subscription(mapper, SystemClock(), Pseudonyms(b"bench"))
    return EventDispatcher(
        subscription.name, subscription.handlers, db, max_attempts=1, batch_handler=subscription.batch_handler
    )


async def _consume(dispatcher: EventDispatcher, raws: list[str], batch_size: int) -> int:
    """Dispatch ``raws`` in batches of ``batch_size``; how many batches fell back to one event at a time."""
    for start in range(0, len(raws), batch_size):
        chunk = raws[start : start + batch_size]
        await dispatcher.dispatch_batch(chunk, where=["bench"] * len(chunk), sleep=_never)
    return dispatcher.stats.batch_fallbacks


def _partitions(events: list[DomainEvent], raws: list[str], n: int) -> list[list[str]]:
    """The envelopes as ``n`` partitions, by their message key (the aggregate id), each in publication order."""
    parts: list[list[str]] = [[] for _ in range(n)]
    for event, raw in zip(events, raws, strict=True):
        parts[zlib.crc32(str(event.aggregate_id).encode()) % n].append(raw)
    return parts


def _consumer_process(url: str, raws: list[str], batch_size: int, go: Any, done: Any) -> None:
    """One worker process: its own dispatcher and pool; waits for ``go``, then reports (end time, fallbacks)."""

    async def consume() -> int:
        db = Database(url)
        try:
            dispatcher = _dispatcher(db)
            async with db.read() as conn:  # the pool's first connection, before the clock starts
                await conn.execute(text("SELECT 1"))
            freeze_startup_objects()
            go.wait()
            return await _consume(dispatcher, raws, batch_size)
        finally:
            await db.dispose()

    fallbacks = asyncio.run(consume())
    done.put((time.perf_counter(), fallbacks))


def _consume_in_processes(url: str, partitions: list[list[str]], batch_size: int) -> tuple[float, int]:
    """Run one consumer process per partition at once; (seconds from the start to the last end, fallbacks)."""
    context = multiprocessing.get_context("spawn")
    go, done = context.Event(), context.Queue()
    processes = [
        context.Process(target=_consumer_process, args=(url, part, batch_size, go, done)) for part in partitions
    ]
    for process in processes:
        process.start()
    time.sleep(5)  # the processes start their interpreters and connect
    started = time.perf_counter()
    go.set()
    results = [done.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0, f"a consumer process exited with {process.exitcode}"
    return max(end for end, _ in results) - started, sum(f for _, f in results)


async def _aggregates(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every aggregate table's rows, sorted: what the batches kept, to compare with a rebuild."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with db.read() as conn:
        for name in AGGREGATE_TABLES:
            rows = await conn.execute(text(f"SELECT * FROM {name}"))
            out[name] = sorted((tuple(row) for row in rows), key=repr)
    return out


async def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    db = Database(url)
    try:
        await migrate.upgrade(db)
        rng = random.Random(18)
        course, learners = uuid.uuid4(), [uuid.uuid4() for _ in range(args.learners)]
        async with db.write() as conn, conn.begin():
            await conn.execute(
                insert(enrollments),
                [
                    {
                        "id": uuid.uuid4(),
                        "course_id": course,
                        "user_id": u,
                        "status": "active",
                        "source": "self",
                        "enrolled_at": T0,
                    }
                    for u in learners
                ],
            )
        events = _events(args.events, course, learners, rng)
        expected = sum(len(StatementMapper(PlatformIris("https://learn.example.org")).map(e)) for e in events)
        raws = [to_envelope(e, "bench").to_json() for e in events]
        partitions = _partitions(events, raws, args.consumers)
        count = len(events)
        del events  # what a worker does not hold: the decoded events the wire envelopes were made from
        log(f"{count} events -> {expected} statements, batches of {args.batch_size}, {args.consumers} consumer(s)")
        if args.consumers == 1:
            dispatcher = _dispatcher(db)
            freeze_startup_objects()  # as the worker does once its consumers are built
            started = time.perf_counter()
            fallbacks = await _consume(dispatcher, raws, args.batch_size)
            seconds = time.perf_counter() - started
        else:
            seconds, fallbacks = _consume_in_processes(url, partitions, args.batch_size)
            dispatcher = _dispatcher(db)
        stored = await _count(db)
        kept = await _aggregates(db)
        again = raws[: args.batch_size]
        await dispatcher.dispatch_batch(again, where=["bench"] * len(again), sleep=_never)
        after_redelivery = await _count(db)
        assert stored == expected == after_redelivery, (stored, expected, after_redelivery)
        assert fallbacks == dispatcher.stats.batch_fallbacks == 0
        await rebuild_aggregates(db, "UTC")
        assert kept == await _aggregates(db), "the aggregates the batches kept differ from a rebuild"
        log("the kept aggregates equal a rebuild from the stored statements")
        return {
            "benchmark": "analytics-ingest",
            "events": count,
            "statements": stored,
            "batch_size": args.batch_size,
            "consumers": args.consumers,
            "seconds": round(seconds, 2),
            "events_per_second": round(count / seconds),
            "statements_per_second": round(stored / seconds),
            "redelivered_batch_added": after_redelivery - stored,
            "cpu": _cpu_model(),
            "revision": _git_revision(),
        }
    finally:
        await db.dispose()


def run_and_save(name: str, parser: argparse.ArgumentParser, run: Runner) -> None:
    """Parse the arguments (adding ``--admin-url``), run on a throwaway database, print the result and write it
    to ``benchmarks/out/<name>-<time>.json`` (the analytics benchmarks' common end)."""
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    run_and_report(name, parser.parse_args(), run)


def run_and_report(
    name: str, args: argparse.Namespace, run: Callable[[argparse.Namespace, str], Awaitable[dict[str, Any]]]
) -> None:
    """``run`` on a throwaway database of the server ``args.admin_url``; its figures printed and kept in
    ``benchmarks/out/<name>-<time>.json``."""
    with throwaway_database(args.admin_url) as url:
        result = asyncio.run(run(args, url))
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    path = out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    log(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--learners", type=int, default=2_000)
    parser.add_argument("--consumers", type=int, default=1, help="worker processes, one per partition")
    run_and_save("analytics-ingest", parser, run)


if __name__ == "__main__":
    main()
