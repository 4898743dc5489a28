"""The course outline as an enrolled learner reads it: p95 at a fixed request rate, on PostgreSQL.

    python benchmarks/outline.py        # 200 lessons, 50 requests/s for 30 s, open loop

The issue's figure: "Course outline for an enrolled learner (200 lessons) p95 < 100 ms at 50
requests/s". The run creates a throwaway database, imports one published course of 10 sections x
20 lessons (each with a ~1 KB Markdown body, rendered to HTML at publish), creates a learner, enrolls them, signs them in over HTTP,
and then an open-loop client starts ``GET /api/v1/courses/{id}`` with the learner's bearer token
every 1/rate s (whatever the previous requests are doing) and records each latency. In the same
run and at the same rate it measures ``GET /health`` as the baseline: the machine's and the
server's floor, so a busy machine shows in both numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

from auth import run_server
from catalog import DEFAULT_ADMIN_URL, OUT, RESULTS, ROOT, environment_facts, log, throwaway_database

LESSONS_PER_SECTION = 20
SECTIONS = 10
TARGET_P95_MS = 100.0
PASSWORD = "benchmark-password-0"
BODY = (
    "## What you will learn\n\nA paragraph with **bold**, *emphasis*, `code` and [a link](https://example.org).\n\n"
    "- one point\n- another point\n- a third point\n\n```python\nprint('hello')\n```\n\n"
    + "More explanation in plain sentences, enough to make a lesson of about a kilobyte. "
    * 8
)


def _spec() -> Any:
    from elearning_core.course.commands import CourseSpec, LessonContentSpec, LessonSpec, SectionSpec
    from elearning_core.course.model import CourseStatus

    body = LessonContentSpec(body_markdown=BODY)

    return CourseSpec(
        slug="bench-outline-200-lessons",
        title="A long course: 200 lessons",
        summary="Ten sections of twenty lessons.",
        description="Everything, step by step. " * 40,
        status=CourseStatus.PUBLISHED,
        sections=[
            SectionSpec(
                title=f"Part {s + 1}",
                lessons=[
                    LessonSpec(title=f"Lesson {s * LESSONS_PER_SECTION + n + 1}", content=body)
                    for n in range(LESSONS_PER_SECTION)
                ],
            )
            for s in range(SECTIONS)
        ],
    )


async def _seed(env: dict[str, str]) -> tuple[str, str]:
    from elearning_adapters.container import bootstrap
    from elearning_adapters.settings import Settings
    from elearning_core.identity.commands import CreateUser
    from elearning_core.shared.ports import SYSTEM

    settings = Settings(
        database_url=env["ELEARNING_DATABASE_URL"], secret_key=env["ELEARNING_SECRET_KEY"], cache="none"
    )
    async with await bootstrap(settings) as platform:
        (course,) = await platform.courses.import_courses(SYSTEM, [_spec()])
        learner = await platform.identity.create_user(
            SYSTEM, CreateUser(email="learner@example.org", display_name="Learner", password=PASSWORD)
        )
        await platform.enrollments.enroll(SYSTEM, course.id, learner.id)
        return str(course.id), str(learner.id)


async def _open_loop(base: str, path: str, headers: dict[str, str], rate: float, seconds: float) -> list[float]:
    import httpx

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits, headers=headers) as client:
        for _ in range(20):  # warm-up: connections, prepared statements
            (await client.get(path)).raise_for_status()

        async def one() -> float:
            start = time.perf_counter()
            response = await client.get(path)
            response.raise_for_status()
            return (time.perf_counter() - start) * 1000

        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one()))
        return list(await asyncio.gather(*tasks))


async def _token(base: str) -> str:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        response = await client.post("/api/v1/auth/login", json={"email": "learner@example.org", "password": PASSWORD})
        response.raise_for_status()
        return str(response.json()["access_token"])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default=os.environ.get("BENCH_ADMIN_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--wrk", default="wrk")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    OUT.mkdir(exist_ok=True)
    facts = environment_facts(argparse.Namespace(wrk=args.wrk))
    with throwaway_database(args.admin_url) as url:
        env = {
            "ELEARNING_DATABASE_URL": url,
            "ELEARNING_SECRET_KEY": secrets.token_urlsafe(32),
            "ELEARNING_ACCESS_TOKEN_TTL_SECONDS": "3600",
            "ELEARNING_CACHE": "none",
            "ELEARNING_KAFKA_BOOTSTRAP_SERVERS": "",
            "ELEARNING_REDIS_URL": "",
            "BENCH_USER_ID": "00000000-0000-0000-0000-000000000000",
            "BENCH_BARE_BODY_FILE": str(OUT / "outline_bare.json"),
        }
        (OUT / "outline_bare.json").write_bytes(b"{}")
        course_id, _ = asyncio.run(_seed(env))
        with run_server(env, OUT / "outline_server.log") as (_, base):
            token = asyncio.run(_token(base))
            auth = {"Authorization": f"Bearer {token}"}
            path = f"/api/v1/courses/{course_id}"
            log(f"baseline: GET /health at {args.rate:g}/s for {args.seconds:.0f} s")
            health = asyncio.run(_open_loop(base, "/health", {}, args.rate, args.seconds))
            log(f"outline: GET {path} at {args.rate:g}/s for {args.seconds:.0f} s")
            outline = asyncio.run(_open_loop(base, path, auth, args.rate, args.seconds))
    total = time.perf_counter() - started
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    p95 = _pct(outline, 0.95)
    lines = [
        f"## {now} - outline for an enrolled learner: {SECTIONS * LESSONS_PER_SECTION} lessons at {args.rate:g} req/s",
        "",
        f"- Command: `python benchmarks/outline.py{''.join(' ' + a for a in sys.argv[1:])}` (total {total:.0f} s)",
        f"- Code: {facts['revision']}",
        f"- Machine: {facts['cpus']} CPUs, {facts['os']}, Python {facts['python']}",
        "- Server: one uvicorn process, production app, PostgreSQL (throwaway database), no cache; open-loop client,"
        f" {len(outline)} requests per endpoint",
        "",
        "| endpoint | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |",
        "|---|---:|---:|---:|---:|",
        f"| baseline `GET /health` | {statistics.median(health):.1f} | {_pct(health, 0.95):.1f} | {_pct(health, 0.99):.1f}"
        f" | {max(health):.1f} |",
        f"| `GET /api/v1/courses/{{id}}` as the enrolled learner | {statistics.median(outline):.1f} | {p95:.1f}"
        f" | {_pct(outline, 0.99):.1f} | {max(outline):.1f} |",
        "",
        f"- **Outline p95 {p95:.1f} ms** (target < {TARGET_P95_MS:.0f} ms: {'met' if p95 < TARGET_P95_MS else 'NOT met'})",
    ]
    print("\n".join(lines))
    if not args.no_record:
        with RESULTS.open("a") as out:
            out.write("\n" + "\n".join(lines) + "\n")
        log(f"appended to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
