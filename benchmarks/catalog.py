#!/usr/bin/env python
"""HTTP benchmark of the catalog reads against a bare Litestar endpoint, in one server process.

One command::

    python benchmarks/catalog.py            # 5 rounds x 10 s, 32 connections, 1 wrk thread

What it does (see benchmarks/README.md):

1. creates a throwaway PostgreSQL database (``elearning_bench_<random>``), migrates it and seeds
   10,000 published courses plus one course with a 50-lesson outline through the platform's own
   service (``bootstrap`` + ``CourseService.import_courses``), unless ``--database-url`` is given;
2. captures the real first catalog page (``GET /api/v1/courses?limit=20``) once, in-process;
3. starts ONE uvicorn process (``benchmarks/_server.py``): the production app from ``create_app``
   plus ``GET /bench/bare`` returning those captured bytes as a constant;
4. runs ``wrk`` on loopback in alternating rounds (bare, list, outline, bare, ...), reads exact
   requests/s and p99 from ``benchmarks/wrk_report.lua``, prints per-round numbers and medians;
5. appends the result to ``benchmarks/RESULTS.md``; stops the server and drops the database,
   also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
LUA = HERE / "wrk_report.lua"
RESULTS = HERE / "RESULTS.md"

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
OUTLINE_SLUG = "bench-outline-50-lessons"
SEED_MARKER_SLUG = "bench-course-00000"
PAGE_SIZE = 20
TARGET_RATIO = 0.15
NOISY = 0.10  # median CPU share of unrelated processes above which a run is flagged
BATCH = 1_000

ENDPOINTS = ("bare", "list", "outline")
LABELS = {
    "bare": "bare  GET /bench/bare",
    "list": "list  GET /api/v1/courses?limit=20",
    "outline": "outline  GET /api/v1/courses/{id}",
}


# -- small helpers ---------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _with_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu() -> dict[int, float]:
    """CPU seconds of every ``postgres`` process on this machine (the server runs on loopback), by pid."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == "postgres":
                found[int(entry.name)] = _cpu_seconds(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def _machine_busy_seconds() -> float:
    """Non-idle CPU time of the whole machine, all cores (from /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- the database ------------------------------------------------------------------------------


@contextlib.contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    """A new empty database on the server ``admin_url`` names; dropped (WITH FORCE) on the way out."""
    import psycopg

    name = f"elearning_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_libpq(admin_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    log(f"created database {name}")
    try:
        yield _with_database(admin_url, name)
    finally:
        with psycopg.connect(_libpq(admin_url), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        log(f"dropped database {name}")


LANGUAGES = ("en", "en", "en", "es", "fr", "de", "pt-br", "ja", "it", "zh")
LEVELS = ("beginner", "intermediate", "advanced", "all_levels")
TAGS = (
    "python", "javascript", "data science", "machine learning", "sql", "web", "devops", "design",
    "ux", "statistics", "algebra", "writing", "marketing", "finance", "photography", "music",
    "rust", "go", "c++", "c#", "security", "cloud", "kubernetes", "excel", "spanish", "history",
    "biology", "physics", "career", "productivity",
)  # fmt: skip
TOPICS = (
    "Python", "JavaScript", "Data Analysis", "Machine Learning", "SQL", "Web Development", "DevOps",
    "Product Design", "Statistics", "Linear Algebra", "Creative Writing", "Digital Marketing",
    "Personal Finance", "Photography", "Music Theory", "Rust", "Cloud Security", "Kubernetes",
)  # fmt: skip
KINDS = ("Introduction to", "Practical", "Mastering", "Hands-on", "Foundations of", "Advanced", "A Crash Course in")


def _course_spec(i: int, rng: random.Random) -> Any:
    from elearning_core.course.commands import CourseSpec, LessonSpec, SectionSpec
    from elearning_core.course.model import CourseStatus, Level

    topic = rng.choice(TOPICS)
    title = f"{rng.choice(KINDS)} {topic} ({i})"
    tags = rng.sample(TAGS, rng.randint(1, 4))
    summary = (
        f"Learn {topic.lower()} step by step: short videos, quizzes and a final project. "
        f"Course {i} covers {', '.join(tags)} for {rng.choice(LEVELS).replace('_', ' ')} learners."
    )
    return CourseSpec(
        slug=f"bench-course-{i:05d}",
        title=title,
        summary=summary,
        description=summary * 3,
        language=rng.choice(LANGUAGES),
        level=Level(rng.choice(LEVELS)),
        tags=tags,
        status=CourseStatus.PUBLISHED,
        sections=[SectionSpec(title="Getting started", lessons=[LessonSpec(title="Welcome")])],
    )


def _outline_spec() -> Any:
    from elearning_core.course.commands import CourseSpec, LessonSpec, SectionSpec
    from elearning_core.course.model import CourseStatus, Level

    return CourseSpec(
        slug=OUTLINE_SLUG,
        title="The Complete Python Bootcamp: 50 lessons",
        summary="A long course: five sections of ten lessons each.",
        description="From variables to packaging, with exercises after every lesson. " * 20,
        language="en",
        level=Level.ALL_LEVELS,
        tags=["python", "programming", "bootcamp"],
        status=CourseStatus.PUBLISHED,
        sections=[
            SectionSpec(
                title=f"Part {s + 1}: {name}",
                lessons=[LessonSpec(title=f"Lesson {s * 10 + n + 1}: {name}, step {n + 1}") for n in range(10)],
            )
            for s, name in enumerate(("Basics", "Collections", "Functions", "Objects", "Packaging"))
        ],
    )


async def _prepare(url: str, courses: int, seed: int) -> dict[str, Any]:
    """Migrate; seed unless this database already holds the benchmark data. Returns facts about it."""
    from sqlalchemy import func, select

    from elearning_adapters.container import bootstrap
    from elearning_adapters.settings import Settings
    from elearning_adapters.sql.course import courses as courses_table
    from elearning_core.shared.ports import SYSTEM

    platform_ = await bootstrap(Settings(database_url=url, access_log=False, log_level="WARNING"))
    async with platform_:
        async with platform_.database.read() as conn:
            existing = (await conn.execute(select(func.count()).select_from(courses_table))).scalar_one()
            marker = (
                await conn.execute(select(courses_table.c.id).where(courses_table.c.slug == SEED_MARKER_SLUG))
            ).first()
        if existing and marker is None:
            raise SystemExit(
                f"the database holds {existing} courses that are not this benchmark's seed; "
                "pass an empty database or omit --database-url"
            )
        if marker is None:
            rng = random.Random(seed)
            started = time.perf_counter()
            specs = [_course_spec(i, rng) for i in range(courses)]
            for start in range(0, courses, BATCH):
                await platform_.courses.import_courses(SYSTEM, specs[start : start + BATCH])
                log(f"  seeded {min(start + BATCH, courses):,} / {courses:,} courses")
            await platform_.courses.import_courses(SYSTEM, [_outline_spec()])
            log(f"seeded {courses:,} + 1 courses in {time.perf_counter() - started:.1f} s (import_courses)")
        else:
            log(f"reusing the benchmark data already in the database ({existing:,} courses)")
        async with platform_.database.read() as conn:
            published = (
                await conn.execute(
                    select(func.count()).select_from(courses_table).where(courses_table.c.status == "published")
                )
            ).scalar_one()
            server_version = (await conn.exec_driver_sql("SHOW server_version")).scalar_one()
        outline = await platform_.courses.get_outline_by_slug(SYSTEM, OUTLINE_SLUG)
        lessons = sum(len(s.lessons) for s in outline.sections)
        return {
            "published": published,
            "outline_id": str(outline.id),
            "outline_sections": len(outline.sections),
            "outline_lessons": lessons,
            "postgres": server_version,
        }


def _vacuum(url: str) -> None:
    """VACUUM ANALYZE the fresh tables now, so autovacuum does not wake up in the middle of a round."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(_libpq(url), autocommit=True, connect_timeout=5) as conn:
        conn.execute("VACUUM (ANALYZE)")
    log(f"VACUUM (ANALYZE) in {time.perf_counter() - started:.1f} s")


async def _capture_first_page(url: str) -> bytes:
    """The exact bytes of the first catalog page, from the production app in-process."""
    from litestar.testing import AsyncTestClient

    from elearning_adapters.settings import Settings
    from elearning_http.app import create_app

    app = create_app(Settings(database_url=url, access_log=False, log_level="WARNING"))
    async with AsyncTestClient(app=app) as client:
        response = await client.get(f"/api/v1/courses?limit={PAGE_SIZE}", headers={"accept-encoding": "identity"})
        response.raise_for_status()
        return response.content


# -- the server ---------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    command: list[str]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def run_server(database_url: str, body_file: Path, log_path: Path, ready_timeout: float = 60.0) -> Iterator[Server]:
    port = _free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "--app-dir", str(HERE), "_server:create_bench_app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    env = os.environ | {
        "ELEARNING_DATABASE_URL": database_url,
        "BENCH_BARE_BODY_FILE": str(body_file),
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        server = Server(process, port, log_path, command)
        log(f"server pid {process.pid} on port {port}, output in {log_path.relative_to(ROOT)}")
        try:
            deadline = time.monotonic() + ready_timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the server exited with {process.returncode}; see {log_path}")
                with contextlib.suppress(OSError):
                    status, _ = _http_get(f"{server.base}/ready", timeout=2)
                    if status == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server was not ready within {ready_timeout:.0f} s; see {log_path}")
                time.sleep(0.2)
            log("server ready (/ready answered 200)")
            yield server
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    log(f"server stopped (exit {process.returncode})")


# -- the load generator ---------------------------------------------------------------------------


@dataclass
class Round:
    endpoint: str
    index: int  # 0 = warm-up
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: int
    server_cpu: float  # fraction of one core
    postgres_cpu: float
    wrk_cpu: float
    other_cpu: float  # everything else on the machine: should be ~0 for a clean run
    server_ms_per_request: float  # server CPU time per request: less sensitive to a busy machine
    raw: dict[str, Any] = field(repr=False)


def run_wrk(url: str, endpoint: str, index: int, args: argparse.Namespace, server_pid: int) -> Round:
    command = [
        args.wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration if index else args.warmup}s",
        "--latency", "--timeout", "10s", "-s", str(LUA), *args.wrk_header, url,
    ]  # fmt: skip
    pg0 = _postgres_cpu()
    cpu0 = (_cpu_seconds(server_pid), _children_cpu_seconds(), _machine_busy_seconds(), time.perf_counter())
    result = subprocess.run(command, capture_output=True, text=True, timeout=args.duration + args.warmup + 60)
    cpu1 = (_cpu_seconds(server_pid), _children_cpu_seconds(), _machine_busy_seconds(), time.perf_counter())
    pg1 = _postgres_cpu()
    wall = cpu1[3] - cpu0[3]
    server_cpu, wrk_cpu = (cpu1[0] - cpu0[0]) / wall, (cpu1[1] - cpu0[1]) / wall
    postgres_cpu = sum(t - pg0.get(pid, 0.0) for pid, t in pg1.items()) / wall  # backends alive at the end
    machine_cpu = (cpu1[2] - cpu0[2]) / wall
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    errors = sum(raw[k] for k in raw if k.startswith("errors_"))
    return Round(
        endpoint=endpoint,
        index=index,
        rps=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        requests=raw["requests"],
        errors=errors,
        server_cpu=server_cpu,
        postgres_cpu=postgres_cpu,
        wrk_cpu=wrk_cpu,
        other_cpu=max(0.0, machine_cpu - server_cpu - postgres_cpu - wrk_cpu),
        server_ms_per_request=1000 * (cpu1[0] - cpu0[0]) / max(raw["requests"], 1),
        raw=raw,
    )


# -- reporting ------------------------------------------------------------------------------------


@dataclass
class Summary:
    endpoint: str
    median_rps: float
    median_p99_ms: float
    median_p50_ms: float
    median_server_ms: float
    ratio: float | None
    cpu_ratio: float | None  # median(bare server CPU/request) / median(this endpoint's)


def summarise(rounds: list[Round]) -> list[Summary]:
    bare = statistics.median(r.rps for r in rounds if r.endpoint == "bare")
    bare_ms = statistics.median(r.server_ms_per_request for r in rounds if r.endpoint == "bare")
    out = []
    for endpoint in ENDPOINTS:
        mine = [r for r in rounds if r.endpoint == endpoint]
        rps = statistics.median(r.rps for r in mine)
        server_ms = statistics.median(r.server_ms_per_request for r in mine)
        out.append(
            Summary(
                endpoint=endpoint,
                median_rps=rps,
                median_p99_ms=statistics.median(r.p99_ms for r in mine),
                median_p50_ms=statistics.median(r.p50_ms for r in mine),
                median_server_ms=server_ms,
                ratio=None if endpoint == "bare" else rps / bare,
                cpu_ratio=None if endpoint == "bare" else bare_ms / server_ms,
            )
        )
    return out


def _verdict(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    return f">= {TARGET_RATIO:.2f}: " + ("met" if ratio >= TARGET_RATIO else "NOT met")


def print_tables(rounds: list[Round], summary: list[Summary]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text fallback
        for r in rounds:
            print(
                f"round {r.index} {r.endpoint:8} {r.rps:9.1f} req/s  p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms"
                f"  errors {r.errors}  cpu server {r.server_cpu:.0%} pg {r.postgres_cpu:.0%} wrk {r.wrk_cpu:.0%}"
                f" other {r.other_cpu:.0%}"
            )
        for s in summary:
            ratio = (
                "" if s.ratio is None else f"  ratio {s.ratio:.3f} ({_verdict(s.ratio)}), CPU ratio {s.cpu_ratio:.3f}"
            )
            print(f"median {s.endpoint:8} {s.median_rps:9.1f} req/s  p99 {s.median_p99_ms:7.2f} ms{ratio}")
        return
    console = Console(width=max(Console().width, 120))
    table = Table(title="Per round (alternating); CPU in % of one core")
    for name in (
        "round", "endpoint", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "server", "postgres", "wrk", "other",
        "server CPU ms/req",
    ):  # fmt: skip
        table.add_column(name, justify="left" if name == "endpoint" else "right")
    for r in rounds:
        table.add_row(
            str(r.index), r.endpoint, f"{r.rps:,.1f}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}", f"{r.max_ms:.1f}",
            str(r.errors), f"{r.server_cpu:.0%}", f"{r.postgres_cpu:.0%}", f"{r.wrk_cpu:.0%}", f"{r.other_cpu:.0%}",
            f"{r.server_ms_per_request:.2f}",
        )  # fmt: skip
    console.print(table)
    table = Table(title="Medians")
    for name in (
        "endpoint", "median req/s", "median p50 ms", "median p99 ms", "server CPU ms/req", "ratio vs bare", "target",
        "CPU ratio",
    ):  # fmt: skip
        table.add_column(name, justify="left" if name in ("endpoint", "target") else "right")
    for s in summary:
        table.add_row(
            LABELS[s.endpoint], f"{s.median_rps:,.1f}", f"{s.median_p50_ms:.2f}", f"{s.median_p99_ms:.2f}",
            f"{s.median_server_ms:.2f}", "-" if s.ratio is None else f"{s.ratio:.3f}", _verdict(s.ratio),
            "-" if s.cpu_ratio is None else f"{s.cpu_ratio:.3f}",
        )  # fmt: skip
    console.print(table)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _version(dist: str) -> str:
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return "not installed"


def _git_revision() -> str:
    """The commit measured, and whether the code under src/ differed from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "src", "pyproject.toml"], cwd=ROOT, capture_output=True, text=True
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    modified = [line[3:] for line in status if not line.startswith("??")]
    untracked = [line[3:] for line in status if line.startswith("??")]
    notes = []
    if modified:
        notes.append(f"uncommitted changes to {', '.join(modified)}")
    if untracked:
        notes.append(f"{len(untracked)} untracked path(s) under src/")
    return f"{head} + " + "; ".join(notes) if notes else f"{head} (clean src/)"


def environment_facts(args: argparse.Namespace) -> dict[str, str]:
    wrk_version = subprocess.run([args.wrk, "-v"], capture_output=True, text=True).stdout.splitlines()
    return {
        "cpus": f"{os.cpu_count()} ({_cpu_model()})",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "stack": (
            f"litestar {_version('litestar')}, uvicorn {_version('uvicorn')} "
            f"(loop: {'uvloop' if find_spec('uvloop') else 'asyncio'}, "
            f"http: {'httptools' if find_spec('httptools') else 'h11'}), "
            f"SQLAlchemy {_version('SQLAlchemy')}, psycopg {_version('psycopg')}, msgspec {_version('msgspec')}"
        ),
        "revision": _git_revision(),
        "wrk": wrk_version[0].split(" Copyright")[0].strip() if wrk_version else "wrk",
    }


def record(
    path: Path,
    args: argparse.Namespace,
    argv: list[str],
    facts: dict[str, Any],
    rounds: list[Round],
    summary: list[Summary],
    total_s: float,
) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    by = {s.endpoint: s for s in summary}
    lines = [
        f"## {now} - {args.rounds} rounds x {args.duration} s, {args.connections} connections, {args.threads} wrk thread(s)",
        "",
        f"- Command: `{shlex.join(['python', 'benchmarks/catalog.py', *argv])}` (total {total_s:.0f} s)",
        f"- Code: {facts['revision']}",
        f"- Machine: {facts['cpus']} CPUs, {facts['os']}, Python {facts['python']}, PostgreSQL {facts['postgres']}",
        f"- Stack: {facts['stack']}; {facts['wrk']}",
        f"- Machine load: median CPU of unrelated processes during the rounds {facts['other_cpu']:.0%} of a core"
        + (
            " - NOT idle: absolute numbers are depressed and ratios noisier"
            if facts["other_cpu"] > NOISY
            else " (idle)"
        ),
        f"- Data: {facts['published']:,} published courses ({facts['database']}); cache-related settings: {facts['cache']}",
        "- Server: one uvicorn process, one worker, the app as `server_app()` builds it but with"
        " `Settings(access_log=False, log_level='WARNING')`"
        " + `GET /bench/bare`; Prometheus and request-context middleware and gzip config as in production;"
        f" DB pool {facts['pool']}",
        f"- Requests: {'`' + ' '.join(args.wrk_header) + '`' if args.wrk_header else 'no Accept-Encoding (identity bodies)'};"
        f" warm-up {args.warmup} s per endpoint before round 1 (not counted)",
        f"  - bare: `GET /bench/bare` - constant {facts['bare_bytes']:,} bytes (the captured first catalog page)",
        f"  - list: `GET /api/v1/courses?limit=20` - first page, no filter, no cursor, {facts['page_bytes']:,} bytes",
        f"  - outline: `GET /api/v1/courses/{{id}}` - {facts['outline_sections']} sections x"
        f" {facts['outline_lessons'] // max(facts['outline_sections'], 1)} lessons, {facts['outline_bytes']:,} bytes",
        "",
        "| endpoint | median req/s | median p50 (ms) | median p99 (ms) | server CPU ms/request | ratio vs bare | target"
        " | CPU ratio |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for endpoint in ENDPOINTS:
        s = by[endpoint]
        lines.append(
            f"| {endpoint} | {s.median_rps:,.1f} | {s.median_p50_ms:.2f} | {s.median_p99_ms:.2f} | {s.median_server_ms:.2f} | "
            f"{'-' if s.ratio is None else f'{s.ratio:.3f}'} | {_verdict(s.ratio)} | "
            f"{'-' if s.cpu_ratio is None else f'{s.cpu_ratio:.3f}'} |"
        )
    lines += [
        "",
        "Ratio = median req/s over median bare req/s (the figure the target is about). CPU ratio = median bare"
        " server CPU per request over this endpoint's: what the ratio would be with the server CPU-bound in every"
        " round; when the two disagree, the machine was busy.",
        "",
        "<details><summary>Per round</summary>",
        "",
        "CPU columns are % of one core during the round: the uvicorn process, all postgres processes, wrk, and"
        " everything else on the machine (non-zero 'other' means the run shared the machine).",
        "",
        "| round | endpoint | req/s | p50 (ms) | p99 (ms) | max (ms) | errors | server CPU | pg CPU | wrk CPU | other CPU"
        " | server CPU ms/req |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rounds:
        lines.append(
            f"| {r.index} | {r.endpoint} | {r.rps:,.1f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.max_ms:.1f} | "
            f"{r.errors} | {r.server_cpu:.0%} | {r.postgres_cpu:.0%} | {r.wrk_cpu:.0%} | {r.other_cpu:.0%} | "
            f"{r.server_ms_per_request:.2f} |"
        )
    lines += ["", "</details>", "", ""]
    if not path.exists():
        path.write_text(
            "# Benchmark results\n\n"
            "Appended by `python benchmarks/catalog.py` (see README.md). Ratios are median(endpoint req/s) /"
            " median(bare req/s) within the same run; the target is >= 0.15 for both catalog reads.\n\n"
        )
    with path.open("a") as f:
        f.write("\n".join(lines))
    log(f"recorded in {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--database-url",
        help="use this PostgreSQL database (SQLAlchemy URL) instead of a throwaway one; it must be empty or\n"
        "already hold this benchmark's seed (it is migrated, seeded when empty, and never dropped)",
    )
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("ELEARNING_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL),
        help="server on which the throwaway database is created and dropped (default: %(default)s)",
    )
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds per endpoint (default: 5)")
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default: 10)")
    p.add_argument("--warmup", type=int, default=3, help="seconds of uncounted warm-up per endpoint (default: 3)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default: 32)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (default: 1)")
    p.add_argument("--courses", type=int, default=10_000, help="published courses to seed (default: 10000)")
    p.add_argument("--seed", type=int, default=20240601, help="random seed of the generated catalog")
    p.add_argument("--gzip", action="store_true", help="send 'Accept-Encoding: gzip' (default: identity bodies)")
    p.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk", help="wrk binary")
    p.add_argument("--results", type=Path, default=RESULTS, help="markdown file to append to (default: %(default)s)")
    p.add_argument("--no-record", action="store_true", help="print only; do not append to the results file")
    p.add_argument("--check", action="store_true", help="exit with status 1 when a ratio is below the target")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.duration < 1 or args.connections < 1 or args.threads < 1:
        p.error("--rounds, --duration, --connections and --threads must be positive")
    if args.threads > args.connections:
        p.error("--threads must not exceed --connections")
    args.wrk_header = ["-H", "Accept-Encoding: gzip"] if args.gzip else []
    return args


def _terminate_on_sigterm() -> None:
    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)
    # Also when started in the background by a shell that ignores SIGINT for its jobs.
    signal.signal(signal.SIGINT, handler)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    if not Path(args.wrk).exists():
        raise SystemExit(f"wrk not found at {args.wrk} (apt-get install wrk)")
    OUT.mkdir(parents=True, exist_ok=True)
    _terminate_on_sigterm()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        with contextlib.ExitStack() as stack:
            if args.database_url:
                url = args.database_url
                where = "given with --database-url, kept"
            else:
                url = stack.enter_context(throwaway_database(args.postgres_url))
                where = "throwaway database, dropped afterwards"
            facts: dict[str, Any] = asyncio.run(_prepare(url, args.courses, args.seed))
            _vacuum(url)
            facts |= environment_facts(args)
            facts["database"] = where
            from elearning_adapters.settings import Settings

            settings = Settings(database_url=url)
            facts["pool"] = f"db_pool_size={settings.db_pool_size} (Settings default)"
            # The figures are for "no cache": show whatever cache-related settings the app has.
            cache = {k: getattr(settings, k) for k in type(settings).model_fields if "cache" in k or "redis" in k}
            facts["cache"] = ", ".join(f"{k}={v!r}" for k, v in cache.items()) or "none defined"

            page = asyncio.run(_capture_first_page(url))
            body_file = OUT / f"bare_body_{stamp}.json"
            body_file.write_bytes(page)
            log(f"captured the first catalog page: {len(page):,} bytes -> {body_file.relative_to(ROOT)}")

            server = stack.enter_context(run_server(url, body_file, OUT / f"server_{stamp}.log"))
            urls = {
                "bare": f"{server.base}/bench/bare",
                "list": f"{server.base}/api/v1/courses?limit={PAGE_SIZE}",
                "outline": f"{server.base}/api/v1/courses/{facts['outline_id']}",
            }
            bodies = {}
            for endpoint, endpoint_url in urls.items():
                status, body = _http_get(endpoint_url)
                if status != 200:
                    raise RuntimeError(f"{endpoint_url} answered {status}: {body[:300]!r}")
                bodies[endpoint] = body
            if len(bodies["bare"]) != len(bodies["list"]):
                raise RuntimeError(f"bare body {len(bodies['bare'])} bytes != catalog page {len(bodies['list'])} bytes")
            items = json.loads(bodies["list"])["items"]
            lessons = sum(len(s["lessons"]) for s in json.loads(bodies["outline"])["sections"])
            if len(items) != PAGE_SIZE or lessons != facts["outline_lessons"]:
                raise RuntimeError(f"unexpected responses: {len(items)} items, {lessons} lessons")
            facts |= {
                "bare_bytes": len(bodies["bare"]),
                "page_bytes": len(bodies["list"]),
                "outline_bytes": len(bodies["outline"]),
            }
            log(
                f"bodies: bare {facts['bare_bytes']:,} B == list {facts['page_bytes']:,} B "
                f"(identical bytes: {bodies['bare'] == bodies['list']}), outline {facts['outline_bytes']:,} B "
                f"({facts['outline_sections']} sections, {lessons} lessons)"
            )

            if args.warmup:
                for endpoint in ENDPOINTS:
                    warm = run_wrk(urls[endpoint], endpoint, 0, args, server.process.pid)
                    log(f"warm-up {endpoint:8} {warm.rps:9,.1f} req/s (not counted)")
            rounds: list[Round] = []
            for index in range(1, args.rounds + 1):
                for endpoint in ENDPOINTS:
                    r = run_wrk(urls[endpoint], endpoint, index, args, server.process.pid)
                    rounds.append(r)
                    log(
                        f"round {index}/{args.rounds} {endpoint:8} {r.rps:9,.1f} req/s  p99 {r.p99_ms:7.2f} ms"
                        f"  errors {r.errors}  CPU server {r.server_cpu:.0%} pg {r.postgres_cpu:.0%}"
                        f" wrk {r.wrk_cpu:.0%} other {r.other_cpu:.0%}"
                    )
                    if server.process.poll() is not None:
                        raise RuntimeError(f"the server died; see {server.log_path}")
            if any(r.errors for r in rounds):
                log("WARNING: some requests failed (see the errors column); the numbers are suspect")
            facts["other_cpu"] = statistics.median(r.other_cpu for r in rounds)
            if facts["other_cpu"] > NOISY:
                log(
                    f"WARNING: other processes used {facts['other_cpu']:.0%} of a core (median) during the rounds;"
                    " the machine was not idle, so absolute numbers are low and ratios noisier"
                )
        # the server is stopped and the database dropped here
        total = time.perf_counter() - started
        summary = summarise(rounds)
        print_tables(rounds, summary)
        if not args.no_record:
            record(args.results, args, argv, facts, rounds, summary, total)
        print(f"total run time {total:.0f} s")
        met = all(s.ratio is None or s.ratio >= TARGET_RATIO for s in summary)
        return 1 if args.check and not met else 0
    except KeyboardInterrupt:
        log("interrupted; cleaned up")
        print(f"total run time {time.perf_counter() - started:.0f} s")
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
