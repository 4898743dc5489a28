#!/usr/bin/env python
"""Benchmark of ``elearning analytics rebuild``: recounting every aggregate from stored statements in PostgreSQL.

One command::

    python benchmarks/analytics_rebuild.py                       # 1,000,000 statements
    python benchmarks/analytics_rebuild.py --statements 100000   # a quick check
    python benchmarks/analytics_rebuild.py --videos 800          # a big course of 800 videos, not 9

What it does: creates a throwaway PostgreSQL database migrated to head and writes about ``--statements``
statements straight into ``xapi_statements`` with COPY (not timed): every learner's enrollment, then the
activity of ``analytics_ingest.py``'s generator (80 % video heartbeats, 10 % lesson views, 5 % submitted
attempts of five answered items, 5 % grades), 10,000 learners in one course (``--learners``) of nine
videos (``--videos``) and a tenth of them in each of four other courses. Then it times ``rebuild_aggregates``
(the function the CLI runs: emptying the tables, then 5,000 statements per transaction in stored order) and
prints statements/s and the total, and the time of 20 reads of the big course's dashboard figures
(``SqlAggregateReads.course`` of its ten most viewed videos, as the dashboard reads; its only course row is
written for that) and of 20 reads of all its videos.
Writes ``benchmarks/out/analytics-rebuild-<time>.json``; the database is dropped at the end. It does not
edit RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from analytics_ingest import _events, catalogue, run_and_save  # noqa: E402
from catalog import _cpu_model, _git_revision, log  # noqa: E402
from elearning_adapters.sql import migrate  # noqa: E402
from elearning_adapters.sql.analytics import SqlAggregateReads, rebuild_aggregates  # noqa: E402
from elearning_adapters.sql.analytics._store import _row  # noqa: E402
from elearning_adapters.sql.engine import Database  # noqa: E402
from elearning_core.analytics._dashboard_report import HEATMAP_VIDEOS  # noqa: E402
from elearning_core.analytics.mapping import StatementMapper  # noqa: E402
from elearning_core.analytics.vocabulary import PlatformIris  # noqa: E402
from elearning_core.enrollment.events import Enrolled  # noqa: E402
from elearning_core.shared.events import DomainEvent  # noqa: E402

T0 = datetime(2026, 11, 1, tzinfo=UTC)
COLUMNS = ("id", "digest", "actor", "verb", "activity", "registration", "voids", "voided", "timestamp", "stored")
CHUNK_EVENTS = 5000


def _copy(url: str, statements: list[Any], stored: datetime) -> None:
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as conn, conn.cursor() as cur:
        names = ", ".join([*COLUMNS, "statement"])
        with cur.copy(f"COPY xapi_statements ({names}) FROM STDIN") as copy:
            for statement in statements:
                row = _row(statement, stored)
                copy.write_row([*(row[c] for c in COLUMNS), json.dumps(row["statement"])])
        conn.commit()


def generate(
    url: str, total: int, learners: int, *, big: uuid.UUID | None = None, days: int = 1, videos: int = 9
) -> tuple[int, uuid.UUID]:
    """About ``total`` statements in stored order, written in chunks; returns how many and the big course.

    ``big``: a course already stored to be the big one (else a course row is written for it). ``days``: the
    activity is spread over that many days back from its first (a chunk's statements on one day), as a
    dashboard's window would see it. ``videos``: the big course's videos (the heartbeats pick one at random;
    the other courses have nine)."""
    rng = random.Random(18)
    mapper = StatementMapper(PlatformIris("https://learn.example.org"))
    courses = [big or uuid.uuid4(), *(uuid.uuid4() for _ in range(4))]
    people = [uuid.uuid4() for _ in range(learners)]
    cohorts = {courses[0]: people, **{c: rng.sample(people, max(1, learners // 10)) for c in courses[1:]}}
    # A course keeps its lessons, videos and quiz.
    contents = {course: catalogue(videos if course == courses[0] else 9) for course in courses}
    written, chunk = 0, 0
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as conn:
        if big is None:
            conn.execute(
                "INSERT INTO courses (id, slug, title, summary, description, language, level, tags, status, version, "
                "created_at, updated_at, section_count, lesson_count, search_text) VALUES "
                "(%s, 'big', 'Big', '', '', 'en', 'beginner', '[]', 'published', 1, %s, %s, 1, 9, 'big')",
                (courses[0], T0, T0),
            )
        conn.commit()
    enrolments: list[DomainEvent] = [
        Enrolled(occurred_at=T0, aggregate_id=uuid.uuid4(), course_id=c, user_id=u, cohort_id=None, source="self")
        for c, members in cohorts.items()
        for u in members
    ]
    for start in range(0, len(enrolments), CHUNK_EVENTS):
        statements = [s for e in enrolments[start : start + CHUNK_EVENTS] for s in mapper.map(e)]
        _copy(url, statements, T0)
        written += len(statements)
    while written < total:
        course = courses[0] if rng.random() < 0.6 else rng.choice(courses[1:])
        events = _events(CHUNK_EVENTS, course, cohorts[course], rng, contents[course])
        statements = [s for e in events for s in mapper.map(e)][: total - written]
        if days > 1:
            back = timedelta(days=chunk % days)
            statements = [s.model_copy(update={"timestamp": s.timestamp - back}) for s in statements if s.timestamp]
        chunk += 1
        _copy(url, statements, T0)
        written += len(statements)
        log(f"generated {written:,} statements")
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute("ANALYZE xapi_statements")  # what autovacuum does after a bulk load, before the rebuild reads
    return written, courses[0]


async def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    db = Database(url)
    try:
        await migrate.upgrade(db)
        started = time.perf_counter()
        written, big = await asyncio.to_thread(generate, url, args.statements, args.learners, videos=args.videos)
        log(f"{written:,} statements written in {time.perf_counter() - started:.0f} s; rebuilding")
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.perf_counter()
            if now - last[0] > 10:
                last[0] = now
                log(f"rebuild: {done:,} of {total:,}")

        report = await rebuild_aggregates(db, "UTC", progress=progress, chunk_size=args.chunk_size)
        reads = SqlAggregateReads(db, "UTC")
        timings: dict[int | None, list[float]] = {HEATMAP_VIDEOS: [], None: []}
        for limit, times in timings.items():
            for _ in range(20):
                began = time.perf_counter()
                figures = await reads.course(big, date(2026, 1, 1), date(2026, 12, 31), videos=limit)
                times.append((time.perf_counter() - began) * 1000)
            assert figures is not None
            assert figures.funnel["enrolled"] == args.learners
            assert limit is None or len(figures.videos) <= limit
        shown, every = timings[HEATMAP_VIDEOS], timings[None]
        return {
            "benchmark": "analytics-rebuild",
            "statements": report.facts,
            "chunk_size": args.chunk_size,
            "transactions": report.chunks,
            "seconds": round(report.seconds, 1),
            "statements_per_second": round(report.facts / report.seconds),
            "videos": args.videos,
            "course_read_ms_median": round(statistics.median(shown), 1),
            "course_read_ms_max": round(max(shown), 1),
            "course_read_all_videos_ms_median": round(statistics.median(every), 1),
            "course_read_all_videos_ms_max": round(max(every), 1),
            "cpu": _cpu_model(),
            "revision": _git_revision(),
        }
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--statements", type=int, default=1_000_000)
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=5000)
    parser.add_argument("--videos", type=int, default=9, help="the big course's videos")
    run_and_save("analytics-rebuild", parser, run)


if __name__ == "__main__":
    main()
