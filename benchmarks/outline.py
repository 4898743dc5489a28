"""The course outline as an enrolled learner reads it: p95 at a fixed request rate, on PostgreSQL.

    python benchmarks/outline.py        # 200 lessons, 50 requests/s for 30 s, open loop

The issue's figure: "Course outline for an enrolled learner (200 lessons) p95 < 100 ms at 50
requests/s". The run creates a throwaway database, imports one published course of 10 sections x
20 lessons (each with a ~1 KB Markdown body, rendered to HTML at publish), creates a learner, enrolls them, signs them in over HTTP,
and then an open-loop client starts ``GET /api/v1/courses/{id}`` with the learner's bearer token
every 1/rate s (whatever the previous requests are doing) and records each latency. In the same
run and at the same rate it measures ``GET /health`` as the baseline: the machine's and the
server's floor, so a busy machine shows in both numbers.

Content gating's figure ("at most 0.3 ms of server CPU per request"): after the latency phases,
alternating closed-loop rounds read the same outline as the enrolled learner (gated: the published
version, the learner's enrollment looked up, the gate applied) and as the course's instructor with
``?version=published`` (the ungated staff read of the same version: the same sign-in work, the same
bytes, no enrollment read, no gate). The server's CPU time (``/proc/<pid>/stat``) over each round,
divided by its requests, gives CPU ms per request; the difference of the medians is what gating
costs. Two sections carry a release date in the past, so the gate evaluates releases while every
lesson stays open and both reads answer the same bytes (checked).

    python benchmarks/outline.py --seconds 10 --cpu-requests 1500 --no-record   # about a minute
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
from catalog import (
    DEFAULT_ADMIN_URL,
    LIMITS_OUT_OF_REACH,
    OUT,
    RESULTS,
    ROOT,
    _cpu_seconds,
    environment_facts,
    log,
    throwaway_database,
)

LESSONS_PER_SECTION = 20
SECTIONS = 10
TARGET_P95_MS = 100.0
PASSWORD = "benchmark-password-0"
TARGET_GATING_CPU_MS = 0.3
BODY = (
    "## What you will learn\n\nA paragraph with **bold**, *emphasis*, `code` and [a link](https://example.org).\n\n"
    "- one point\n- another point\n- a third point\n\n```python\nprint('hello')\n```\n\n"
    + "More explanation in plain sentences, enough to make a lesson of about a kilobyte. "
    * 8
)


def _spec() -> Any:
    from datetime import timedelta

    from elearning_core.course.commands import CourseSpec, LessonContentSpec, LessonSpec, SectionSpec
    from elearning_core.course.model import CourseStatus

    body = LessonContentSpec(body_markdown=BODY)
    released = datetime.now(UTC) - timedelta(days=1)  # a release date the gate checks, already past

    return CourseSpec(
        slug="bench-outline-200-lessons",
        title="A long course: 200 lessons",
        summary="Ten sections of twenty lessons.",
        description="Everything, step by step. " * 40,
        status=CourseStatus.PUBLISHED,
        sections=[
            SectionSpec(
                title=f"Part {s + 1}",
                release_at=released if s >= SECTIONS - 2 else None,
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
    from elearning_core.identity.commands import CreateUser, RoleGrantSpec
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
        instructor = await platform.identity.create_user(
            SYSTEM, CreateUser(email="instructor@example.org", display_name="Instructor", password=PASSWORD)
        )
        await platform.identity.grant_role(
            SYSTEM, instructor.id, RoleGrantSpec(role="instructor", scope="course", scope_id=course.id)
        )
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


async def _token(base: str, email: str = "learner@example.org") -> str:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        response.raise_for_status()
        return str(response.json()["access_token"])


async def _cpu_rounds(
    base: str, pid: int, reads: dict[str, tuple[str, dict[str, str]]], requests: int, rounds: int, concurrency: int
) -> dict[str, list[float]]:
    """Server CPU ms per request of each read, per round; the reads alternate round by round."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    per_request: dict[str, list[float]] = {name: [] for name in reads}
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        bodies = {}
        for name, (path, headers) in reads.items():
            for _ in range(20):  # warm-up: connections, prepared statements, caches
                response = await client.get(path, headers=headers)
                response.raise_for_status()
            bodies[name] = response.content
        if len(set(bodies.values())) != 1:
            raise RuntimeError("the gated and the ungated reads do not answer the same bytes")

        async def worker(path: str, headers: dict[str, str], count: int) -> None:
            for _ in range(count):
                (await client.get(path, headers=headers)).raise_for_status()

        for _ in range(rounds):
            for name, (path, headers) in reads.items():
                shares = [
                    requests // concurrency + (1 if i < requests % concurrency else 0) for i in range(concurrency)
                ]
                before = _cpu_seconds(pid)
                await asyncio.gather(*(worker(path, headers, n) for n in shares))
                per_request[name].append((_cpu_seconds(pid) - before) * 1000 / requests)
    return per_request


async def _in_process(url: str, course_id: str, learner_id: str, calls: int, rounds: int) -> dict[str, list[float]]:
    """CPU ms per call in this process (``time.process_time``, so other processes' load counts little):
    the learner's gated read, the ungated published read, and the gate's two parts on their own."""
    import uuid

    from elearning_adapters.container import bootstrap
    from elearning_adapters.settings import Settings
    from elearning_core.course.gating import Viewer, gate_outline
    from elearning_core.shared.ports import SYSTEM, Principal

    course, user = uuid.UUID(course_id), uuid.UUID(learner_id)
    learner = Principal(subject=f"user:{user}", roles=frozenset({"learner"}), user_id=user)
    async with await bootstrap(Settings(database_url=url, cache="none"), run_migrations=False) as platform:
        service, lookup = platform.courses, platform.container.adapters.enrollment_lookup()
        published = await service.get_outline(SYSTEM, course, "published")
        viewer = Viewer(enrolled_at=await lookup.enrolled_since(user, course))
        now = datetime.now(UTC)

        async def gate() -> None:
            gate_outline(published, viewer, now)

        measured = {
            "gated": lambda: service.get_outline(learner, course),
            "ungated": lambda: service.get_outline(SYSTEM, course, "published"),
            "lookup": lambda: lookup.enrolled_since(user, course),
            "gate": gate,
        }
        results: dict[str, list[float]] = {name: [] for name in measured}
        for call in measured.values():
            for _ in range(20):
                await call()
        for _ in range(rounds):
            for name, call in measured.items():
                started = time.process_time()
                for _ in range(calls):
                    await call()
                results[name].append((time.process_time() - started) * 1000 / calls)
    return results


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default=os.environ.get("BENCH_ADMIN_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--wrk", default="wrk")
    parser.add_argument("--cpu-requests", type=int, default=2000, help="requests per CPU round")
    parser.add_argument("--cpu-rounds", type=int, default=3, help="rounds per read (alternating)")
    parser.add_argument("--concurrency", type=int, default=8, help="connections of the CPU rounds")
    parser.add_argument("--cache", choices=["none", "memory"], default="none", help="the server's catalog cache")
    parser.add_argument("--in-process-calls", type=int, default=300, help="calls per in-process round")
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
            "ELEARNING_CACHE": args.cache,
            **LIMITS_OUT_OF_REACH,
            "ELEARNING_KAFKA_BOOTSTRAP_SERVERS": "",
            "ELEARNING_REDIS_URL": "",
            "BENCH_USER_ID": "00000000-0000-0000-0000-000000000000",
            "BENCH_BARE_BODY_FILE": str(OUT / "outline_bare.json"),
        }
        (OUT / "outline_bare.json").write_bytes(b"{}")
        course_id, learner_id = asyncio.run(_seed(env))
        log(f"in-process CPU: {args.cpu_rounds} rounds x {args.in_process_calls} calls of each read")
        parts = asyncio.run(_in_process(url, course_id, learner_id, args.in_process_calls, args.cpu_rounds))
        with run_server(env, OUT / "outline_server.log") as (server, base):
            token = asyncio.run(_token(base))
            auth = {"Authorization": f"Bearer {token}"}
            staff = {"Authorization": f"Bearer {asyncio.run(_token(base, 'instructor@example.org'))}"}
            path = f"/api/v1/courses/{course_id}"
            log(f"baseline: GET /health at {args.rate:g}/s for {args.seconds:.0f} s")
            health = asyncio.run(_open_loop(base, "/health", {}, args.rate, args.seconds))
            log(f"outline: GET {path} at {args.rate:g}/s for {args.seconds:.0f} s")
            outline = asyncio.run(_open_loop(base, path, auth, args.rate, args.seconds))
            log(f"server CPU: {args.cpu_rounds} rounds x {args.cpu_requests} requests, gated learner vs ungated staff")
            reads = {"learner": (path, auth), "staff": (f"{path}?version=published", staff)}
            cpu = asyncio.run(
                _cpu_rounds(base, server.pid, reads, args.cpu_requests, args.cpu_rounds, args.concurrency)
            )
    total = time.perf_counter() - started
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    p95 = _pct(outline, 0.95)
    learner_cpu, staff_cpu = statistics.median(cpu["learner"]), statistics.median(cpu["staff"])
    gating_cpu = learner_cpu - staff_cpu
    part = {name: statistics.median(values) for name, values in parts.items()}
    lines = [
        f"## {now} - outline for an enrolled learner: {SECTIONS * LESSONS_PER_SECTION} lessons at {args.rate:g} req/s",
        "",
        f"- Command: `python benchmarks/outline.py{''.join(' ' + a for a in sys.argv[1:])}` (total {total:.0f} s)",
        f"- Code: {facts['revision']}",
        f"- Machine: {facts['cpus']} CPUs, {facts['os']}, Python {facts['python']}",
        f"- Server: one uvicorn process, production app, PostgreSQL (throwaway database), cache {args.cache};"
        f" open-loop client, {len(outline)} requests per endpoint",
        "",
        "| endpoint | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |",
        "|---|---:|---:|---:|---:|",
        f"| baseline `GET /health` | {statistics.median(health):.1f} | {_pct(health, 0.95):.1f} | {_pct(health, 0.99):.1f}"
        f" | {max(health):.1f} |",
        f"| `GET /api/v1/courses/{{id}}` as the enrolled learner | {statistics.median(outline):.1f} | {p95:.1f}"
        f" | {_pct(outline, 0.99):.1f} | {max(outline):.1f} |",
        "",
        f"- **Outline p95 {p95:.1f} ms** (target < {TARGET_P95_MS:.0f} ms: {'met' if p95 < TARGET_P95_MS else 'NOT met'})",
        "",
        f"Server CPU per request, {args.cpu_rounds} alternating rounds x {args.cpu_requests} requests"
        f" ({args.concurrency} connections; median of rounds, rounds in brackets):",
        "",
        "| read | server CPU ms/request |",
        "|---|---:|",
        f"| enrolled learner, gated (`GET /api/v1/courses/{{id}}`) | {learner_cpu:.3f}"
        f" ({', '.join(f'{v:.3f}' for v in cpu['learner'])}) |",
        f"| instructor, ungated (`?version=published`, same bytes) | {staff_cpu:.3f}"
        f" ({', '.join(f'{v:.3f}' for v in cpu['staff'])}) |",
        "",
        f"- **Content gating: {gating_cpu:+.3f} ms of server CPU per request** (target <= {TARGET_GATING_CPU_MS} ms:"
        f" {'met' if gating_cpu <= TARGET_GATING_CPU_MS else 'NOT met'}; the difference of two noisy medians"
        " on a shared machine: compare it with the rounds' spread)",
        "",
        f"In-process CPU per call (`time.process_time`, {args.cpu_rounds} rounds x {args.in_process_calls} calls,"
        " medians), the course service without HTTP and without a cache:",
        "",
        "| call | CPU ms/call |",
        "|---|---:|",
        f"| `get_outline(learner)`: gated | {part['gated']:.3f} |",
        f"| `get_outline(staff, 'published')`: ungated | {part['ungated']:.3f} |",
        f"| the enrollment lookup alone (`enrolled_since`, PostgreSQL) | {part['lookup']:.3f} |",
        f"| the gate alone (`gate_outline`, {SECTIONS * LESSONS_PER_SECTION} lessons) | {part['gate']:.3f} |",
        "",
        f"- **Gating's own work: {part['lookup'] + part['gate']:.3f} ms per request** (lookup + gate; target <="
        f" {TARGET_GATING_CPU_MS} ms: {'met' if part['lookup'] + part['gate'] <= TARGET_GATING_CPU_MS else 'NOT met'})",
    ]
    print("\n".join(lines))
    if not args.no_record:
        with RESULTS.open("a") as out:
            out.write("\n" + "\n".join(lines) + "\n")
        log(f"appended to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
