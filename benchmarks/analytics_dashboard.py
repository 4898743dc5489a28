#!/usr/bin/env python
"""The course dashboard's read over HTTP: p95 of ``GET /api/v1/courses/{id}/analytics/dashboard`` and of one
chart as SVG, against the production app (uvicorn, one worker) on PostgreSQL. Target: p95 < 100 ms for a
course with 10,000 learners and 1 million statements' worth of aggregates.

    python benchmarks/analytics_dashboard.py                              # in-memory aggregates (see below)
    python benchmarks/analytics_dashboard.py --aggregates sql --learners 10000 --statements 1000000
    python benchmarks/analytics_dashboard.py --aggregates sql --videos 800   # a course of 800 videos

What it does: creates a throwaway PostgreSQL database migrated to head, ``seed``s it (a published course,
and with ``--aggregates sql`` its statements and the aggregates rebuilt from them), starts the app, warms it
up, then sends ``--requests`` sequential GETs of the dashboard (the default 30-day window) and as many of the
chart ``--chart`` as SVG over one keep-alive connection (the first SVG is drawn, ``first_ms``; the next
come from the renderer's memo while the figures do not change), as a platform admin (the admin token: the access
check still reads the course), and prints p50/p95/max with the machine's load. Writes
``benchmarks/out/analytics-dashboard-<time>.json``; the database is dropped at the end. It does not edit
RESULTS.md.

``--aggregates sql``: the aggregates are the SQL ones, rebuilt from the generated statements (the rebuild's
time is printed too); the course has ``--videos`` videos (9 by default; the dashboard reads the marks of its
ten most viewed only). ``--aggregates memory`` (the default): the app's aggregates provider is overridden with
the in-memory aggregates of ``tests/analytics_dashboard_fakes.py`` (400 days of a course of ``--learners``
learners, two videos of 10 min and 2 h, three quizzes): everything but the aggregate reads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import httpx  # noqa: E402

from catalog import (  # noqa: E402
    DEFAULT_ADMIN_URL,
    LIMITS_OUT_OF_REACH,
    OUT,
    _cpu_model,
    _git_revision,
    _uvicorn,
    log,
    throwaway_database,
)

ADMIN_TOKEN = secrets.token_urlsafe(24)
TARGET_P95_MS = 100.0


async def seed(
    url: str, *, learners: int, statements: int, aggregates: str, rng_seed: int, videos: int = 9
) -> uuid.UUID:
    """The course the dashboard is read for: a published course of 20 lessons. With ``aggregates == "sql"``:
    about ``statements`` xAPI statements, ``learners`` learners in it (and a tenth of them in each of four other
    courses) watching its ``videos`` videos, spread over 60 days, written straight into the statement table by
    ``analytics_rebuild``'s generator, then the aggregates rebuilt from them by the function behind
    ``elearning analytics rebuild`` (timed: the rebuild's figure at this size)."""
    from elearning_adapters.container import bootstrap
    from elearning_adapters.settings import Settings
    from elearning_adapters.sql.analytics import rebuild_aggregates
    from elearning_core.course.commands import CourseSpec, LessonSpec, SectionSpec
    from elearning_core.shared.ports import SYSTEM

    # Batch work's time limits, as ``elearning analytics rebuild`` runs with (the API's 5 s would cut a chunk).
    platform = await bootstrap(Settings(database_url=url, db_work_class="batch"), run_migrations=True)
    try:
        spec = CourseSpec(
            slug="dashboard-bench",
            title="Dashboard bench",
            status="published",
            sections=[SectionSpec(title="S", lessons=[LessonSpec(title=f"Lesson {i}") for i in range(20)])],
        )
        (course,) = await platform.courses.import_courses(SYSTEM, [spec])
        if aggregates == "sql":
            from analytics_rebuild import generate

            began = time.perf_counter()
            written, _ = await asyncio.to_thread(
                generate, url, statements, learners, big=course.id, days=60, videos=videos
            )
            log(f"{written:,} statements written in {time.perf_counter() - began:.0f} s; rebuilding the aggregates")
            report = await rebuild_aggregates(platform.database, "UTC")
            REBUILD.update(statements=report.facts, seconds=round(report.seconds, 1))
            log(f"rebuild: {report.facts:,} statements in {report.seconds:.1f} s")
        return course.id
    finally:
        await platform.aclose()


REBUILD: dict[str, Any] = {}
"""The rebuild's figures when ``seed`` ran one (``--aggregates sql``)."""


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(base: str, path: str, requests: int, warmup: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    times: list[float] = []
    size, first = 0, 0.0
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for i in range(warmup + requests):
            start = time.perf_counter()
            response = client.get(path)
            elapsed = (time.perf_counter() - start) * 1000
            if response.status_code != 200:
                raise SystemExit(f"GET {path}: {response.status_code} {response.text[:300]}")
            size = len(response.content)
            if i == 0:
                first = elapsed
            if i >= warmup:
                times.append(elapsed)
    return {
        "first_ms": round(first, 1),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(_p(times, 0.95), 1),
        "max_ms": round(max(times), 1),
        "bytes": size,
        "requests": requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--aggregates", choices=["memory", "sql"], default="memory")
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--statements", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--chart", default="enrollments-completions")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--postgres-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--videos", type=int, help="the course's videos (--aggregates sql only; default 9)")
    args = parser.parse_args()
    if args.videos is not None and args.aggregates != "sql":
        parser.error("--videos needs --aggregates sql (the in-memory aggregates are two fixed videos)")
    videos = 9 if args.videos is None else args.videos
    OUT.mkdir(exist_ok=True)
    with throwaway_database(args.postgres_url) as url:
        course_id = asyncio.run(
            seed(
                url,
                learners=args.learners,
                statements=args.statements,
                aggregates=args.aggregates,
                rng_seed=args.seed,
                videos=videos,
            )
        )
        env = {
            **os.environ,
            **LIMITS_OUT_OF_REACH,
            "ELEARNING_DATABASE_URL": url,
            "ELEARNING_ADMIN_TOKEN": ADMIN_TOKEN,
            "BENCH_DASHBOARD_AGGREGATES": args.aggregates,
            "BENCH_DASHBOARD_COURSE": str(course_id),
            "BENCH_DASHBOARD_LEARNERS": str(args.learners),
        }
        stamp = time.strftime("%Y%m%d-%H%M%S")
        log_path = OUT / f"analytics-dashboard-server-{stamp}.log"
        with _uvicorn("_dashboard_server:create_dashboard_app", env, log_path, "/ready", 60.0) as server:
            base = server.base
            dashboard = measure(base, f"/api/v1/courses/{course_id}/analytics/dashboard", args.requests, args.warmup)
            log(f"dashboard: p50 {dashboard['p50_ms']} ms, p95 {dashboard['p95_ms']} ms, {dashboard['bytes']} bytes")
            chart_path = f"/api/v1/courses/{course_id}/analytics/charts/{args.chart}?format=svg"
            chart = measure(base, chart_path, args.requests, args.warmup)
            log(
                f"chart {args.chart} as SVG: first (drawn) {chart['first_ms']} ms, then (the renderer's memo) "
                f"p50 {chart['p50_ms']} ms, p95 {chart['p95_ms']} ms"
            )
    load = os.getloadavg()
    result: dict[str, Any] = {
        "aggregates": args.aggregates,
        "learners": args.learners,
        "statements": args.statements if args.aggregates == "sql" else None,
        "videos": videos if args.aggregates == "sql" else None,
        "rebuild": REBUILD or None,
        "dashboard": dashboard,
        "chart_svg": {"key": args.chart, **chart},
        "target_p95_ms": TARGET_P95_MS,
        "dashboard_meets_target": dashboard["p95_ms"] < TARGET_P95_MS,
        "load_average": [round(x, 2) for x in load],
        "cpu": _cpu_model(),
        "revision": _git_revision(),
    }
    path = OUT / f"analytics-dashboard-{stamp}.json"
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result, indent=2))
    log(f"written {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
