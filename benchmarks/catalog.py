#!/usr/bin/env python
"""HTTP benchmark of the catalog reads against a bare Litestar app and a bare endpoint of the platform's app.

One command::

    python benchmarks/catalog.py            # 5 rounds x 10 s, 32 connections, 1 wrk thread, Redis cache
    python benchmarks/catalog.py --cache none     # the catalog reads straight from PostgreSQL

What it does (see benchmarks/README.md):

1. creates a throwaway PostgreSQL database (``elearning_bench_<random>``), migrates it and seeds
   10,000 published courses plus one course with a 50-lesson outline through the platform's own
   service (``bootstrap`` + ``CourseService.import_courses``), unless ``--database-url`` is given;
2. captures the real first catalog page (``GET /api/v1/courses?limit=20``) and the outline once,
   in-process, with no cache;
3. starts one uvicorn process (``benchmarks/_server.py``): the production app from ``create_app``
   plus ``GET /bench/bare`` returning those captured bytes as a constant, with the catalog cache
   ``--cache`` names (``ELEARNING_CACHE``; for ``redis`` a dedicated Redis database, flushed before
   and after the run), and checks that its responses equal the uncached ones; and a second uvicorn
   process, started the same way, serving the bare app (``benchmarks/_bare_app.py``: a minimal Litestar
   app whose one route returns the same bytes);
4. runs ``wrk`` on loopback in alternating rounds (bare app, bare, list, outline, bare app, ...), reads
   exact requests/s and p99 from ``benchmarks/wrk_report.lua``, prints per-round numbers and medians
   with every ratio against the bare app (and, as before, against the in-app bare endpoint);
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
# Targets against the in-app bare endpoint (the earlier issues):
TARGET_RATIO = 0.15  # the skeleton issue: both catalog reads, straight from the database
CACHED_LIST_TARGET = 0.6  # the cache issue: the first list page served from the catalog cache
# Against the bare app: the uncached list's figure when the bare app was added (issue 12), not to regress
# from; the Redis-cached list's is issue 13's (anonymous pages answered from their encoded bytes).
BARE_APP_LIST_TARGETS = {"none": 0.22, "redis": 0.7}
CACHES = ("none", "memory", "redis")
# A Redis database of its own: the run FLUSHDBs it, so never 0 (the tests and the default URL use 0).
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
CATALOG_KEYS = "catalog:*"  # CachedCatalogQueries' keys, under Settings.redis_key_prefix
NOISY = 0.10  # median CPU share of unrelated processes above which a run is flagged
BATCH = 1_000

ENDPOINTS = ("bare_app", "bare", "list", "outline")
LABELS = {
    "bare_app": "bare app  GET /bench/bare",
    "bare": "bare  GET /bench/bare",
    "list": "list  GET /api/v1/courses?limit=20",
    "outline": "outline  GET /api/v1/courses/{id}",
}


# -- small helpers ---------------------------------------------------------------------------


def targets(cache: str) -> dict[str, float]:
    """The ratio vs the bare app each endpoint must reach (only the list has one so far)."""
    return {"list": BARE_APP_LIST_TARGETS[cache]} if cache in BARE_APP_LIST_TARGETS else {}


def targets_in_app(cache: str) -> dict[str, float]:
    """The ratio vs the in-app bare endpoint each catalog read must reach: the list's is higher from a cache."""
    return {"list": TARGET_RATIO if cache == "none" else CACHED_LIST_TARGET, "outline": TARGET_RATIO}


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


@contextlib.contextmanager
def kept_database(admin_url: str, name: str) -> Iterator[str]:
    """The database ``name`` on the server ``admin_url`` names, created if missing and kept afterwards (a
    benchmark's expensive corpus reused across runs)."""
    import psycopg

    with psycopg.connect(_libpq(admin_url), autocommit=True, connect_timeout=5) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
            log(f"created database {name} (kept)")
    yield _with_database(admin_url, name)


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

    # No cache while seeding (with ``auto`` an ELEARNING_REDIS_URL in the environment would get the seed's
    # invalidations), and the in-process event transport whatever the environment says about Kafka.
    settings = Settings(
        database_url=url, access_log=False, log_level="WARNING", cache="none", kafka_bootstrap_servers=None
    )
    platform_ = await bootstrap(settings)
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
        # The seed's ~4 events per course sit in the outbox. Left there, the server's in-process transport
        # would dispatch them during the rounds: CPU and queries in every endpoint's rounds and, with a
        # cache, one invalidation per event, so the list would miss all along. Deliver them now, as caught-up
        # consumers would have: with no cache here there is no subscription, and the server's cache starts
        # empty anyway (a fresh process; Redis flushed).
        delivered = await drain_outbox(platform_)
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
            "outbox_delivered": delivered,
        }


async def drain_outbox(platform_: Any) -> int:
    """Deliver every pending outbox event through the platform's in-process transport (a seed's events, as
    caught-up consumers would have), so that the server measured afterwards does not: the count delivered."""
    from elearning_adapters.sql.outbox_store import OutboxStore

    assert platform_.events is not None
    started = time.perf_counter()
    delivered: int = await platform_.events.drain(max_rounds=1_000_000)
    pending = await OutboxStore(platform_.database).pending_stats()
    if pending.count:
        raise RuntimeError(f"{pending.count} outbox events still pending after the drain")
    log(f"outbox: {delivered:,} pending events delivered in {time.perf_counter() - started:.1f} s; 0 pending")
    return delivered


def _vacuum(url: str) -> None:
    """VACUUM ANALYZE the fresh tables now, so autovacuum does not wake up in the middle of a round."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(_libpq(url), autocommit=True, connect_timeout=5) as conn:
        conn.execute("VACUUM (ANALYZE)")
    log(f"VACUUM (ANALYZE) in {time.perf_counter() - started:.1f} s")


async def _capture_uncached(url: str, outline_id: str) -> tuple[bytes, bytes]:
    """The exact bytes of the first catalog page and of the outline, from the production app in-process,
    with no cache: the bare body, and what the server's (possibly cached) responses must equal."""
    from litestar.testing import AsyncTestClient

    from elearning_adapters.settings import Settings
    from elearning_http.app import create_app

    app = create_app(Settings(database_url=url, access_log=False, log_level="WARNING", cache="none"))
    async with AsyncTestClient(app=app) as client:
        bodies = []
        for path in (f"/api/v1/courses?limit={PAGE_SIZE}", f"/api/v1/courses/{outline_id}"):
            response = await client.get(path, headers={"accept-encoding": "identity"})
            response.raise_for_status()
            bodies.append(response.content)
        return bodies[0], bodies[1]


# -- the cache --------------------------------------------------------------------------------------


def _redis_db(url: str) -> int:
    from redis.connection import parse_url

    return int(parse_url(url).get("db", 0))


@contextlib.contextmanager
def dedicated_redis_db(url: str) -> Iterator[dict[str, Any]]:
    """The Redis database ``url`` names, emptied (FLUSHDB) before and after the run: it must be the
    benchmark's own. Database 0 is refused: the tests and ``ELEARNING_REDIS_URL`` examples use it."""
    import redis

    db = _redis_db(url)
    if db == 0:
        raise SystemExit(f"--redis-url {url}: database 0 is shared (tests use it); name another, e.g. /15")
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        info = client.info("server")
        stale = client.dbsize()
        client.flushdb()
        log(f"Redis {info['redis_version']}: database {db} flushed ({stale} keys were there)")
        yield {"redis_version": info["redis_version"], "db": db, "client": client}
    finally:
        with contextlib.suppress(redis.RedisError):
            client.flushdb()
            log(f"Redis database {db} flushed")
        client.close()


def _server_cache_env(args: argparse.Namespace) -> dict[str, str]:
    """Exactly the cache asked for: never ``auto``, which would pick one from the environment
    (an in-process cache with the embedded defaults, Redis whenever ELEARNING_REDIS_URL is set)."""
    env = {"ELEARNING_CACHE": args.cache}
    if args.cache == "redis":
        env["ELEARNING_REDIS_URL"] = args.redis_url
    return env


def _check_cache_state(state: dict[str, Any], cache: str) -> None:
    expected = {"none": (False, None), "memory": (True, "InMemoryCache"), "redis": (True, "RedisCache")}[cache]
    if state.get("resolved") != cache or (state.get("cached"), state.get("cache")) != expected:
        raise RuntimeError(f"the server did not build the cache asked for (--cache {cache}): {state}")
    if state.get("breaker_open"):
        raise RuntimeError(f"the server's Redis cache is not reachable (breaker open): {state}")


# -- the server ---------------------------------------------------------------------------------


# The rate limit stays on in every benchmark server (its cost per request is part of what is measured),
# with limits no run reaches: one load generator on loopback is one client IP.
LIMITS_OUT_OF_REACH = {"ELEARNING_RATE_LIMIT_PER_TOKEN": "10000000", "ELEARNING_RATE_LIMIT_PER_IP": "10000000"}
_CACHE_ENV = ("ELEARNING_CACHE", "ELEARNING_REDIS_URL", "ELEARNING_KAFKA_BOOTSTRAP_SERVERS")


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
def run_server(
    database_url: str, body_file: Path, log_path: Path, cache_env: dict[str, str], ready_timeout: float = 60.0
) -> Iterator[Server]:
    """The platform's app (``_server.py``), ready when ``/ready`` answers 200."""
    # The cache is the one cache_env names, whatever this shell's environment says about Redis or Kafka
    # (Kafka would turn the in-process events, and with them the in-process cache, off).
    inherited = {k: v for k, v in os.environ.items() if k not in _CACHE_ENV}
    env = {
        **inherited,
        **cache_env,
        **LIMITS_OUT_OF_REACH,
        "ELEARNING_DATABASE_URL": database_url,
        "BENCH_BARE_BODY_FILE": str(body_file),
    }
    with _uvicorn("_server:create_bench_app", env, log_path, "/ready", ready_timeout) as server:
        yield server


@contextlib.contextmanager
def run_bare_app(body_file: Path, log_path: Path, ready_timeout: float = 60.0) -> Iterator[Server]:
    """The bare Litestar app (``_bare_app.py``), served exactly as the platform's app is."""
    env = {**os.environ, "BENCH_BARE_BODY_FILE": str(body_file)}
    with _uvicorn("_bare_app:create_bare_app", env, log_path, "/bench/bare", ready_timeout) as server:
        yield server


@contextlib.contextmanager
def _uvicorn(
    factory: str,
    env: dict[str, str],
    log_path: Path,
    ready_path: str,
    ready_timeout: float,
    prefix: tuple[str, ...] = (),
) -> Iterator[Server]:
    """One uvicorn process, one worker, the same flags for every app; stopped on the way out.

    ``prefix`` goes before the interpreter (``("taskset", "-c", "0")`` pins the server, as overload.py does).
    """
    port = _free_port()
    command = [
        *prefix, sys.executable, "-m", "uvicorn", "--factory", "--app-dir", str(HERE), factory,
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    env = {**env, "PYTHONUNBUFFERED": "1"}
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
                    status, _ = _http_get(f"{server.base}{ready_path}", timeout=2)
                    if status == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server was not ready within {ready_timeout:.0f} s; see {log_path}")
                time.sleep(0.2)
            log(f"server {factory} ready ({ready_path} answered 200)")
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


def _cache_state(server: Server) -> dict[str, Any]:
    status, body = _http_get(f"{server.base}/bench/cache")
    if status != 200:
        raise RuntimeError(f"/bench/cache answered {status}: {body[:300]!r}")
    state: dict[str, Any] = json.loads(body)
    return state


def _check_catalog_bodies(
    urls: dict[str, str], uncached: dict[str, bytes], lessons: int, when: str
) -> dict[str, bytes]:
    """GET the list and the outline: 200, 20 items, every lesson, and the same document as without a cache."""
    bodies = {}
    for endpoint in ("list", "outline"):
        status, body = _http_get(urls[endpoint])
        if status != 200:
            raise RuntimeError(f"{when} {endpoint} read: {urls[endpoint]} answered {status}: {body[:300]!r}")
        if json.loads(body) != json.loads(uncached[endpoint]):
            raise RuntimeError(f"{when} {endpoint} read differs from the uncached response: {body[:300]!r}")
        bodies[endpoint] = body
    items = json.loads(bodies["list"])["items"]
    found = sum(len(s["lessons"]) for s in json.loads(bodies["outline"])["sections"])
    if len(items) != PAGE_SIZE or found != lessons:
        raise RuntimeError(f"{when} reads: unexpected responses: {len(items)} items, {found} lessons")
    return bodies


def _cache_summary(
    args: argparse.Namespace,
    before: dict[str, Any],
    after: dict[str, Any],
    rounds: list[Round],
    redis_db: dict[str, Any] | None,
) -> str:
    """What served the catalog reads, in one line for the report."""
    checked = "list and outline equal to the uncached responses before and after the rounds"
    if args.cache == "none":
        return f"the server's catalog reads are `{after['catalog_queries']}`, no cache; {checked}"
    text = (
        f"`CachedCatalogQueries` over `{after['cache']}`, filled by the first read and the warm-up; {checked}"
        " (the second read a cache hit)"
    )
    if redis_db is not None:
        pattern = redis_db["key_prefix"] + CATALOG_KEYS
        keys = sum(1 for _ in redis_db["client"].scan_iter(match=pattern, count=1000))
        reads = sum(r.requests for r in rounds if r.endpoint in ("list", "outline"))
        commands = after["redis_commands"] - before["redis_commands"]
        text += (
            f"; Redis {redis_db['redis_version']} at `{args.redis_url}` (database {redis_db['db']}, FLUSHDB before"
            f" and after), {keys} catalog keys after the rounds, {commands:,} Redis commands during the rounds"
            f" ({commands / max(reads, 1):.2f} per list or outline request), breaker closed"
        )
    if "entries" in after:
        text += f"; {after['entries']} entries in the process's cache after the rounds"
    return text


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


def wait_until_idle(pid: int, quiet: float = 0.2, limit: float = 15.0) -> None:
    """Wait until process ``pid`` has used no CPU for ``quiet`` seconds (at most ``limit`` seconds).

    When wrk stops it closes its connections with requests still in the server, which finishes them: left
    alone they would take CPU (and admission slots: a 503 for the next round's first requests) from the
    next round."""
    deadline = time.perf_counter() + limit
    last = _cpu_seconds(pid)
    while time.perf_counter() < deadline:
        time.sleep(quiet)
        now = _cpu_seconds(pid)
        if now - last < 0.01:
            return
        last = now


def run_wrk(url: str, endpoint: str, index: int, args: argparse.Namespace, server_pid: int) -> Round:
    wait_until_idle(server_pid)
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
    ratio: float | None  # median req/s over the bare app's (None for the bare app)
    cpu_ratio: float | None  # median(bare app server CPU/request) / median(this endpoint's)
    target: float | None  # the ratio vs the bare app this endpoint must reach
    ratio_in_app: float | None  # median req/s over the in-app bare endpoint's (catalog reads only)
    target_in_app: float | None  # the ratio vs the in-app bare endpoint this endpoint must reach

    @property
    def met(self) -> bool:
        return all(
            ratio is None or target is None or ratio >= target
            for ratio, target in ((self.ratio, self.target), (self.ratio_in_app, self.target_in_app))
        )


def summarise(rounds: list[Round], goals: dict[str, float], goals_in_app: dict[str, float]) -> list[Summary]:
    def median_rps(endpoint: str) -> float:
        return statistics.median(r.rps for r in rounds if r.endpoint == endpoint)

    bare_app, bare = median_rps("bare_app"), median_rps("bare")
    bare_app_ms = statistics.median(r.server_ms_per_request for r in rounds if r.endpoint == "bare_app")
    out = []
    for endpoint in ENDPOINTS:
        mine = [r for r in rounds if r.endpoint == endpoint]
        rps = median_rps(endpoint)
        server_ms = statistics.median(r.server_ms_per_request for r in mine)
        out.append(
            Summary(
                endpoint=endpoint,
                median_rps=rps,
                median_p99_ms=statistics.median(r.p99_ms for r in mine),
                median_p50_ms=statistics.median(r.p50_ms for r in mine),
                median_server_ms=server_ms,
                ratio=None if endpoint == "bare_app" else rps / bare_app,
                cpu_ratio=None if endpoint == "bare_app" else bare_app_ms / server_ms,
                target=goals.get(endpoint),
                ratio_in_app=rps / bare if endpoint in ("list", "outline") else None,
                target_in_app=goals_in_app.get(endpoint),
            )
        )
    return out


def _verdict(ratio: float | None, target: float | None) -> str:
    if ratio is None or target is None:
        return "-"
    return f">= {target:.2f}: " + ("met" if ratio >= target else "NOT met")


def _fmt(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.3f}"


def print_tables(rounds: list[Round], summary: list[Summary], cache: str) -> None:
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
                ""
                if s.ratio is None
                else f"  ratio vs bare app {s.ratio:.3f} ({_verdict(s.ratio, s.target)}), CPU ratio {s.cpu_ratio:.3f},"
                f" vs in-app bare {_fmt(s.ratio_in_app)} ({_verdict(s.ratio_in_app, s.target_in_app)})"
            )
            print(
                f"median {s.endpoint:8} {s.median_rps:9.1f} req/s  p99 {s.median_p99_ms:7.2f} ms{ratio}  cache {cache}"
            )
        return
    console = Console(width=max(Console().width, 120))
    table = Table(title=f"Per round (alternating), catalog cache: {cache}; CPU in % of one core")
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
    table = Table(title=f"Medians, catalog cache: {cache}")
    for name in (
        "endpoint", "median req/s", "median p50 ms", "median p99 ms", "server CPU ms/req", "ratio vs bare app",
        "target", "CPU ratio", "ratio vs in-app bare", "target (in-app)",
    ):  # fmt: skip
        table.add_column(name, justify="left" if name in ("endpoint", "target", "target (in-app)") else "right")
    for s in summary:
        table.add_row(
            LABELS[s.endpoint], f"{s.median_rps:,.1f}", f"{s.median_p50_ms:.2f}", f"{s.median_p99_ms:.2f}",
            f"{s.median_server_ms:.2f}", _fmt(s.ratio), _verdict(s.ratio, s.target), _fmt(s.cpu_ratio),
            _fmt(s.ratio_in_app), _verdict(s.ratio_in_app, s.target_in_app),
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
        f"## {now} - cache: {args.cache} - {args.rounds} rounds x {args.duration} s, {args.connections} connections,"
        f" {args.threads} wrk thread(s)",
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
        f"- Data: {facts['published']:,} published courses ({facts['database']}); outbox empty before the server"
        f" started ({facts['outbox_delivered']:,} seed events delivered first: the server's in-process event transport"
        " polls but finds nothing to deliver during the rounds)",
        f"- Cache: **{args.cache}** - {facts['cache_summary']}; server settings: {facts['cache']}",
        "- Server: one uvicorn process, one worker, the app as `server_app()` builds it but with"
        " `Settings(access_log=False, log_level='WARNING')`"
        " + `GET /bench/bare`; Prometheus and request-context middleware and gzip config as in production;"
        f" DB pool {facts['pool']}. The bare app: a second uvicorn process started with the same command and flags,"
        " serving `benchmarks/_bare_app.py` (a Litestar app with only `GET /bench/bare`, no middleware)",
        f"- Requests: {'`' + ' '.join(args.wrk_header) + '`' if args.wrk_header else 'no Accept-Encoding (identity bodies)'};"
        f" warm-up {args.warmup} s per endpoint before round 1 (not counted)",
        f"  - bare app: `GET /bench/bare` of the bare app - the same constant {facts['bare_bytes']:,} bytes",
        f"  - bare: `GET /bench/bare` - constant {facts['bare_bytes']:,} bytes (the captured first catalog page)",
        f"  - list: `GET /api/v1/courses?limit=20` - first page, no filter, no cursor, {facts['page_bytes']:,} bytes",
        f"  - outline: `GET /api/v1/courses/{{id}}` - {facts['outline_sections']} sections x"
        f" {facts['outline_lessons'] // max(facts['outline_sections'], 1)} lessons, {facts['outline_bytes']:,} bytes",
        "",
        "| endpoint | median req/s | median p50 (ms) | median p99 (ms) | server CPU ms/request | ratio vs bare app"
        " | target | CPU ratio | ratio vs in-app bare | target (in-app) |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for endpoint in ENDPOINTS:
        s = by[endpoint]
        lines.append(
            f"| {endpoint} | {s.median_rps:,.1f} | {s.median_p50_ms:.2f} | {s.median_p99_ms:.2f} | {s.median_server_ms:.2f} | "
            f"{_fmt(s.ratio)} | {_verdict(s.ratio, s.target)} | {_fmt(s.cpu_ratio)} | {_fmt(s.ratio_in_app)} | "
            f"{_verdict(s.ratio_in_app, s.target_in_app)} |"
        )
    lines += [
        "",
        "Ratio = median req/s over the bare app's median req/s (the figure the targets are about). CPU ratio = median"
        " bare app server CPU per request over this endpoint's: what the ratio would be with the server CPU-bound in"
        " every round; when the two disagree, the machine was busy. Ratio vs in-app bare = over the platform app's"
        " own `/bench/bare` (the figure earlier runs reported).",
        "",
        "<details><summary>Per round</summary>",
        "",
        "CPU columns are % of one core during the round: the uvicorn process measured (the bare app's for bare_app),"
        " all postgres processes, wrk, and everything else on the machine (non-zero 'other' means the run shared"
        " the machine).",
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
            " median(bare app req/s) within the same run, the bare app being a separate minimal Litestar app"
            " serving the same bytes; the ratios against the platform's in-app bare endpoint are reported beside"
            " them.\n\n"
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
    p.add_argument(
        "--cache",
        choices=CACHES,
        default="redis",
        help="catalog cache of the server (ELEARNING_CACHE): none = straight from PostgreSQL, memory = in-process,\n"
        "redis = Redis at --redis-url (default: %(default)s)",
    )
    p.add_argument(
        "--redis-url",
        default=os.environ.get("ELEARNING_BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help="Redis database for --cache redis, the benchmark's own: it is FLUSHDBed before and after the run;\n"
        "database 0 is refused (default: %(default)s)",
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
    if args.cache == "redis" and _redis_db(args.redis_url) == 0:
        p.error(f"--redis-url {args.redis_url}: database 0 is shared (the tests use it); name another, e.g. /15")
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

            cache_env = _server_cache_env(args)
            settings = Settings(database_url=url, cache=args.cache, redis_url=cache_env.get("ELEARNING_REDIS_URL"))
            facts["pool"] = f"db_pool_size={settings.db_pool_size} (Settings default)"
            # The server's cache-related settings, as it reads them from cache_env.
            cache = {k: getattr(settings, k) for k in type(settings).model_fields if "cache" in k or "redis" in k}
            facts["cache"] = ", ".join(f"{k}={v!r}" for k, v in cache.items()) or "none defined"
            redis_db = stack.enter_context(dedicated_redis_db(args.redis_url)) if args.cache == "redis" else None
            if redis_db is not None:
                redis_db["key_prefix"] = getattr(settings, "redis_key_prefix", "elearning:")

            page, outline = asyncio.run(_capture_uncached(url, facts["outline_id"]))
            body_file = OUT / f"bare_body_{stamp}.json"
            body_file.write_bytes(page)
            log(f"captured the first catalog page (no cache): {len(page):,} bytes -> {body_file.relative_to(ROOT)}")
            uncached = {"list": page, "outline": outline}

            server = stack.enter_context(run_server(url, body_file, OUT / f"server_{stamp}.log", cache_env))
            bare_app = stack.enter_context(run_bare_app(body_file, OUT / f"bare_app_{stamp}.log"))
            servers = {endpoint: bare_app if endpoint == "bare_app" else server for endpoint in ENDPOINTS}
            urls = {
                "bare_app": f"{bare_app.base}/bench/bare",
                "bare": f"{server.base}/bench/bare",
                "list": f"{server.base}/api/v1/courses?limit={PAGE_SIZE}",
                "outline": f"{server.base}/api/v1/courses/{facts['outline_id']}",
            }
            state = _cache_state(server)
            _check_cache_state(state, args.cache)
            log(f"server catalog cache: {args.cache} ({state})")
            for endpoint in ("bare_app", "bare"):
                status, bare = _http_get(urls[endpoint])
                if status != 200 or bare != page:
                    raise RuntimeError(
                        f"{urls[endpoint]} answered {status} with {len(bare)} bytes, not the captured page"
                    )
            # With a cache, the first read fills it and the second is a hit: both must equal the uncached bytes.
            bodies = _check_catalog_bodies(urls, uncached, facts["outline_lessons"], "first")
            if args.cache != "none":
                bodies = _check_catalog_bodies(urls, uncached, facts["outline_lessons"], "second (cached)")
            facts |= {
                "bare_bytes": len(bare),
                "page_bytes": len(bodies["list"]),
                "outline_bytes": len(bodies["outline"]),
            }
            log(
                f"bodies: bare {facts['bare_bytes']:,} B == list {facts['page_bytes']:,} B, outline"
                f" {facts['outline_bytes']:,} B ({facts['outline_sections']} sections, {facts['outline_lessons']}"
                " lessons); list and outline identical to the uncached bytes"
            )

            if args.warmup:
                for endpoint in ENDPOINTS:
                    warm = run_wrk(urls[endpoint], endpoint, 0, args, servers[endpoint].process.pid)
                    log(f"warm-up {endpoint:8} {warm.rps:9,.1f} req/s (not counted)")
            at_rounds = _cache_state(server)
            rounds: list[Round] = []
            for index in range(1, args.rounds + 1):
                for endpoint in ENDPOINTS:
                    r = run_wrk(urls[endpoint], endpoint, index, args, servers[endpoint].process.pid)
                    rounds.append(r)
                    log(
                        f"round {index}/{args.rounds} {endpoint:8} {r.rps:9,.1f} req/s  p99 {r.p99_ms:7.2f} ms"
                        f"  errors {r.errors}  CPU server {r.server_cpu:.0%} pg {r.postgres_cpu:.0%}"
                        f" wrk {r.wrk_cpu:.0%} other {r.other_cpu:.0%}"
                    )
                    for died in (s for s in (server, bare_app) if s.process.poll() is not None):
                        raise RuntimeError(f"a server died; see {died.log_path}")
            if any(r.errors for r in rounds):
                log("WARNING: some requests failed (see the errors column); the numbers are suspect")
            # Still the uncached answers, and the cache still the one asked for (Redis still reachable).
            _check_catalog_bodies(urls, uncached, facts["outline_lessons"], "after the rounds")
            after = _cache_state(server)
            _check_cache_state(after, args.cache)
            facts["cache_summary"] = _cache_summary(args, at_rounds, after, rounds, redis_db)
            log(f"cache: {facts['cache_summary']}")
            facts["other_cpu"] = statistics.median(r.other_cpu for r in rounds)
            if facts["other_cpu"] > NOISY:
                log(
                    f"WARNING: other processes used {facts['other_cpu']:.0%} of a core (median) during the rounds;"
                    " the machine was not idle, so absolute numbers are low and ratios noisier"
                )
        # the server is stopped and the database dropped here
        total = time.perf_counter() - started
        summary = summarise(rounds, targets(args.cache), targets_in_app(args.cache))
        print_tables(rounds, summary, args.cache)
        if not args.no_record:
            record(args.results, args, argv, facts, rounds, summary, total)
        print(f"total run time {total:.0f} s")
        met = all(s.met for s in summary)
        return 1 if args.check and not met else 0
    except KeyboardInterrupt:
        log("interrupted; cleaned up")
        print(f"total run time {time.perf_counter() - started:.0f} s")
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
