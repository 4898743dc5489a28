#!/usr/bin/env python
"""Micro-benchmark: a cached catalog read (hit) against the SQL read it replaces, in one process.

One command::

    python benchmarks/cache_micro.py          # 1,000 courses, 5 rounds x 2,000 calls per path

What it does:

1. creates a throwaway PostgreSQL database ``elearning_cachebench_<random>`` (psycopg, at
   ``--postgres-url``), migrates and seeds it with ``--courses`` published courses through
   ``bootstrap()`` + ``CourseService.import_courses`` (no raw SQL);
2. times, in alternating rounds, ``list_courses(CatalogFilter(), None, 21)`` (the first page as the
   service asks for it: page size 20 plus one) and ``outline(id)`` on:
   - ``sql``: the inner adapter the container picks (PgCatalogQueries, the psycopg fast path);
   - ``hit memory``: CachedCatalogQueries over InMemoryCache, entry already cached;
   - ``hit redis``: CachedCatalogQueries over RedisCache (``--redis-url``), entry already cached;
   - ``hit redis, versions read every call``: the same with ``version_ttl_seconds=0``, i.e. one
     more Redis round trip per read (what the process-local version cache saves);
3. prints the median over rounds of the CPU time per call of THIS process (``time.process_time``)
   and of the wall time per call. The PostgreSQL and Redis servers' own CPU is not in the CPU
   figure (it is in the wall figure, which also includes loopback latency);
4. drops the database, also on errors and Ctrl-C.

It needs PostgreSQL at 127.0.0.1:5432 (user ``postgres``, trust auth) and Redis at 127.0.0.1:6379.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@contextlib.contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    """A new empty database; dropped (WITH FORCE) on the way out. Yields its SQLAlchemy URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"elearning_cachebench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    log(f"created database {name}")
    try:
        yield (
            make_url(admin_url)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        log(f"dropped database {name}")


def course_specs(count: int, seed: int) -> list[Any]:
    from elearning_core.course.commands import CourseSpec, LessonSpec, SectionSpec
    from elearning_core.course.model import CourseStatus, Level

    rng = random.Random(seed)
    tags = ("python", "sql", "web", "devops", "design", "statistics", "rust", "cloud", "music", "finance")
    languages = ("en", "en", "en", "es", "fr", "de", "pt-br")
    specs = []
    for i in range(count):
        chosen = rng.sample(tags, rng.randint(1, 4))
        summary = f"Course {i}: {', '.join(chosen)}, step by step, with quizzes and a final project."
        specs.append(
            CourseSpec(
                slug=f"cache-bench-{i:05d}",
                title=f"Practical {chosen[0].title()} ({i})",
                summary=summary,
                description=summary * 3,
                language=rng.choice(languages),
                level=rng.choice(list(Level)),
                tags=chosen,
                status=CourseStatus.PUBLISHED,
                sections=[
                    SectionSpec(title=f"Part {s + 1}", lessons=[LessonSpec(title=f"Lesson {n + 1}") for n in range(5)])
                    for s in range(3)
                ],
            )
        )
    return specs


async def delete_keys(redis_url: str, prefix: str) -> None:
    """Remove the benchmark's keys (every one is under the RedisCache key prefix)."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    except redis.RedisError as exc:
        log(f"could not remove the benchmark's Redis keys ({prefix}*): {exc}")
    finally:
        await client.aclose()


async def per_call(call: Callable[[], Awaitable[object]], calls: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per call of ``call``, over ``calls`` sequential calls."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        await call()
    return (time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls


async def run(args: argparse.Namespace) -> None:
    from sqlalchemy import text

    from elearning_adapters.cache import CachedCatalogQueries, InMemoryCache
    from elearning_adapters.container import bootstrap
    from elearning_adapters.redis import RedisCache
    from elearning_adapters.settings import Settings
    from elearning_core.course.queries import CatalogFilter
    from elearning_core.shared.ports import SYSTEM

    with throwaway_database(args.postgres_url) as url:
        async with await bootstrap(Settings(database_url=url, log_level="WARNING")) as embedded:
            started = time.perf_counter()
            imported = await embedded.courses.import_courses(SYSTEM, course_specs(args.courses, args.seed))
            log(f"seeded {len(imported):,} published courses in {time.perf_counter() - started:.1f} s")
            async with embedded.database.write() as conn:
                await conn.execute(text("ANALYZE"))
                await conn.commit()

            sql = embedded.container.course.catalog_queries()
            prefix = f"cachebench:{uuid.uuid4().hex}:"
            redis_cache = RedisCache(args.redis_url, key_prefix=prefix)
            paths = {
                "sql": sql,
                "hit memory": CachedCatalogQueries(sql, InMemoryCache(), ttl_seconds=3600),
                "hit redis": CachedCatalogQueries(sql, redis_cache, ttl_seconds=3600),
                "hit redis, versions read every call": CachedCatalogQueries(
                    sql, redis_cache, ttl_seconds=3600, version_ttl_seconds=0, prefix="catalog-noversioncache"
                ),
            }
            first = CatalogFilter()
            course_id = imported[len(imported) // 2].id
            reads: dict[str, Callable[[Any], Callable[[], Awaitable[object]]]] = {
                "list_courses(limit=21)": lambda q: lambda: q.list_courses(first, None, 21),
                "outline(id)": lambda q: lambda: q.outline(course_id),
            }
            try:
                expected_page = await sql.list_courses(first, None, 21)
                expected_outline = await sql.outline(course_id)
                for name, queries in paths.items():
                    # Warm every path (fills the caches, prepares statements) and check it answers the same.
                    for _ in range(50):
                        assert await queries.list_courses(first, None, 21) == expected_page, name
                        assert await queries.outline(course_id) == expected_outline, name
                if redis_cache.breaker_open:
                    raise SystemExit(f"Redis at {args.redis_url} is unreachable; the 'hit redis' rows would be misses")

                results: dict[tuple[str, str], list[tuple[float, float]]] = {}
                for round_ in range(args.rounds):
                    for read, make in reads.items():
                        for name, queries in paths.items():
                            results.setdefault((read, name), []).append(await per_call(make(queries), args.calls))
                    log(f"round {round_ + 1}/{args.rounds} done")
                if redis_cache.breaker_open:
                    raise SystemExit("Redis failed during the run; the figures are not hits")
            finally:
                await redis_cache.aclose()
                await delete_keys(args.redis_url, prefix)

    print()
    print(f"{args.courses:,} published courses, PostgreSQL via PgCatalogQueries; median of {args.rounds} rounds")
    print(f"of {args.calls:,} sequential calls each; CPU = this process only (time.process_time).")
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.system()}")
    print()
    print(f"{'read':<24} {'path':<38} {'CPU us/call':>12} {'wall us/call':>13} {'CPU vs sql':>11}")
    for read in reads:
        sql_cpu = statistics.median(c for c, _ in results[(read, "sql")])
        for name in paths:
            cpu = statistics.median(c for c, _ in results[(read, name)])
            wall = statistics.median(w for _, w in results[(read, name)])
            print(f"{read:<24} {name:<38} {cpu * 1e6:>12.1f} {wall * 1e6:>13.1f} {cpu / sql_cpu:>10.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="libpq URL of a server's admin database")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--courses", type=int, default=1_000)
    parser.add_argument("--calls", type=int, default=2_000, help="sequential calls per path and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
