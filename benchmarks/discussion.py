"""A course's thread list with 10,000 threads, as an enrolled learner reads it: p95 at 50 requests/s on
PostgreSQL, against ``GET /health`` in the same run.

    python benchmarks/discussion.py                 # 10,000 threads, 50 requests/s for 30 s per endpoint

The issue's figure: "Thread list of a course with 10,000 threads: p95 < 50 ms at 50 requests/s on
PostgreSQL". The run creates a throwaway database, one published course, a learner enrolled in it (and
in a cohort, so the cohort filter is in every query) and 10,000 threads written straight to the tables
(one batch: the service would take minutes to post them and the read does not care how they were
written), with activity spread over 30 days, votes, 10 % cohort-scoped, 2 % pinned, 1 % hidden, a third
of them questions, and read marks of the learner on every third. Then an open-loop client (pre-encoded
requests, ``loadgen.py``) reads, each at the rate for the whole duration: the baseline, the first page by
activity, a deep page (the cursor of page 50) by activity, and the first pages by votes and unanswered.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from auth import run_server
from catalog import (
    DEFAULT_ADMIN_URL,
    LIMITS_OUT_OF_REACH,
    OUT,
    RESULTS,
    ROOT,
    environment_facts,
    log,
    throwaway_database,
)
from loadgen import open_loop

TARGET_P95_MS = 50.0
PASSWORD = "benchmark-password-0"


async def _seed(env: dict[str, str], threads: int) -> tuple[str, str, str]:
    from sqlalchemy import insert

    from elearning_adapters.container import bootstrap
    from elearning_adapters.settings import Settings
    from elearning_adapters.sql.discussion import discussion_posts, discussion_reads, discussion_threads
    from elearning_core.course.commands import CourseSpec, LessonSpec, SectionSpec
    from elearning_core.course.model import CourseStatus
    from elearning_core.enrollment.commands import CreateCohort
    from elearning_core.identity.commands import CreateUser
    from elearning_core.shared.ports import SYSTEM

    settings = Settings(
        database_url=env["ELEARNING_DATABASE_URL"], secret_key=env["ELEARNING_SECRET_KEY"], cache="none"
    )
    rng = random.Random(7)
    async with await bootstrap(settings) as platform:
        spec = CourseSpec(
            slug="bench-discussion",
            title="A busy course",
            status=CourseStatus.PUBLISHED,
            sections=[SectionSpec(title="Week 1", lessons=[LessonSpec(title="Loops")])],
        )
        (course,) = await platform.courses.import_courses(SYSTEM, [spec])
        cohort = await platform.enrollments.create_cohort(SYSTEM, course.id, CreateCohort(name="Spring"))
        other = await platform.enrollments.create_cohort(SYSTEM, course.id, CreateCohort(name="Autumn"))
        learner = await platform.identity.create_user(
            SYSTEM, CreateUser(email="learner@example.org", display_name="Learner", password=PASSWORD)
        )
        authors = [
            await platform.identity.create_user(
                SYSTEM, CreateUser(email=f"author{n}@example.org", display_name=f"Author {n}")
            )
            for n in range(50)
        ]
        await platform.enrollments.enroll(SYSTEM, course.id, learner.id, cohort.id)
        start = datetime(2026, 11, 1, tzinfo=UTC)
        thread_rows, post_rows, read_rows = [], [], []
        for n in range(threads):
            at = start + timedelta(seconds=rng.uniform(0, 30 * 86400))
            activity = at + timedelta(seconds=rng.uniform(0, 3 * 86400))
            question = n % 3 == 0
            thread_id = uuid.uuid4()
            author = rng.choice(authors).id
            thread_rows.append(
                {
                    "id": thread_id,
                    "course_id": course.id,
                    "kind": "question" if question else "discussion",
                    "title": f"Thread {n}: a question about lesson {n % 40}",
                    "author_id": author,
                    "anonymous": n % 17 == 0,
                    "lesson_id": None,
                    "cohort_id": (cohort.id if n % 2 else other.id) if n % 10 == 0 else None,
                    "accepted_post_id": None,
                    "pinned": n % 50 == 0,
                    "closed": False,
                    "locked": False,
                    "unanswered": question and n % 2 == 0,
                    "votes": rng.randint(0, 40),
                    "reply_count": rng.randint(0, 12),
                    "created_at": at,
                    "last_activity_at": activity,
                }
            )
            post_rows.append(
                {
                    "id": thread_id,
                    "thread_id": thread_id,
                    "parent_id": None,
                    "depth": 0,
                    "author_id": author,
                    "anonymous": n % 17 == 0,
                    "body": "A question with some **Markdown** and enough words to make an excerpt. " * 6,
                    "created_at": at,
                    "edited_at": None,
                    "votes": 0,
                    "endorsed": False,
                    "state": "hidden" if n % 100 == 7 else "visible",
                    "flag_count": 0,
                }
            )
            if n % 3 == 1:
                read_rows.append({"thread_id": thread_id, "user_id": learner.id, "read_at": activity})
        async with platform.database.write() as conn:
            await conn.execute(insert(discussion_threads), thread_rows)
            await conn.execute(insert(discussion_posts), post_rows)
            await conn.execute(insert(discussion_reads), read_rows)
            await conn.commit()
        async with platform.database.write() as conn:
            await conn.exec_driver_sql("ANALYZE discussion_threads; ANALYZE discussion_posts; ANALYZE discussion_reads")
            await conn.commit()
        return str(course.id), str(cohort.id), str(learner.id)


async def _token(base: str) -> str:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        response = await client.post("/api/v1/auth/login", json={"email": "learner@example.org", "password": PASSWORD})
        response.raise_for_status()
        return str(response.json()["access_token"])


async def _deep_cursor(base: str, path: str, headers: dict[str, str], pages: int) -> tuple[str, int]:
    """The cursor of page ``pages`` (20 threads each), and how many items the pages held."""
    import httpx

    cursor, seen = None, 0
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as client:
        for _ in range(pages):
            response = await client.get(path, params={"cursor": cursor} if cursor else {})
            response.raise_for_status()
            body = response.json()
            seen += len(body["items"])
            cursor = body["next_cursor"]
            assert cursor is not None, "fewer pages than asked"
    return cursor, seen


def _plan(url: str, course_id: str, cohort_id: str, learner_id: str) -> str:
    """PostgreSQL's plan of the first page by activity, as the learner asks it (the index it scans)."""
    import psycopg
    from sqlalchemy.dialects import postgresql

    from elearning_adapters.sql.discussion import _row_query, _visible_to, discussion_threads
    from elearning_core.discussion.model import Viewer

    t = discussion_threads
    viewer = Viewer(uuid.UUID(learner_id), staff=False, member=True, cohort_id=uuid.UUID(cohort_id))
    query = (
        _visible_to(_row_query(viewer.user_id).where(t.c.course_id == uuid.UUID(course_id)), viewer)
        .where(t.c.kind != "announcement")
        .order_by(t.c.pinned.desc(), t.c.last_activity_at.desc(), t.c.id.desc())
        .limit(21)
    )
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        rows = conn.execute("EXPLAIN (ANALYZE, TIMING OFF) " + sql).fetchall()  # type: ignore[arg-type]
    return "\n".join(str(r[0]) for r in rows)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default=os.environ.get("BENCH_ADMIN_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--threads", type=int, default=10_000)
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
            **LIMITS_OUT_OF_REACH,
            "ELEARNING_KAFKA_BOOTSTRAP_SERVERS": "",
            "ELEARNING_REDIS_URL": "",
            "BENCH_USER_ID": "00000000-0000-0000-0000-000000000000",
            "BENCH_BARE_BODY_FILE": str(OUT / "discussion_bare.json"),
        }
        (OUT / "discussion_bare.json").write_bytes(b"{}")
        log(f"seeding {args.threads} threads")
        course_id, cohort_id, learner_id = asyncio.run(_seed(env, args.threads))
        plan = _plan(url, course_id, cohort_id, learner_id)
        results: dict[str, list[float]] = {}
        failures: dict[str, int] = {}
        with run_server(env, OUT / "discussion_server.log") as (_server, base):
            headers = {"Authorization": f"Bearer {asyncio.run(_token(base))}"}
            threads = f"/api/v1/courses/{course_id}/threads"
            cursor, seen = asyncio.run(_deep_cursor(base, threads, headers, 50))
            endpoints: dict[str, tuple[str, dict[str, str]]] = {
                "baseline `GET /health`": ("/health", {}),
                "threads by activity, page 1": (threads, headers),
                f"threads by activity, page 51 (after {seen} threads)": (f"{threads}?cursor={cursor}", headers),
                "threads by votes, page 1": (f"{threads}?sort=votes", headers),
                "unanswered first, page 1": (f"{threads}?sort=unanswered", headers),
            }
            for name, (path, hdrs) in endpoints.items():
                count = int(args.rate * args.seconds)
                requests = [("GET", path, hdrs, None)] * count
                asyncio.run(open_loop(base, [("GET", path, hdrs, None)] * 20, 20))  # warm-up
                log(f"{name}: GET {path[:60]} at {args.rate:g}/s for {args.seconds:.0f} s")
                outcome = asyncio.run(open_loop(base, requests, args.rate))
                results[name], failures[name] = outcome.latencies_ms, outcome.failed
    total = time.perf_counter() - started
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    first = results["threads by activity, page 1"]
    worst = max(_pct(v, 0.95) for k, v in results.items() if not k.startswith("baseline"))
    lines = [
        f"## {now} - discussion thread list: {args.threads} threads at {args.rate:g} req/s",
        "",
        f"- Command: `python benchmarks/discussion.py{''.join(' ' + a for a in sys.argv[1:])}` (total {total:.0f} s)",
        f"- Code: {facts['revision']}",
        f"- Machine: {facts['cpus']} CPUs, {facts['os']}, Python {facts['python']}",
        "- Server: one uvicorn process, production app, PostgreSQL (throwaway database), no cache; open-loop"
        f" client (`loadgen.py`), {int(args.rate * args.seconds)} requests per endpoint; the enrolled learner"
        " of one cohort reads (cohort, hidden-post and block filters, unread marks joined)",
        "",
        "| endpoint | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | failed |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {name} | {statistics.median(v):.1f} | {_pct(v, 0.95):.1f} | {_pct(v, 0.99):.1f} | {max(v):.1f}"
            f" | {failures[name]} |"
            for name, v in results.items()
        ),
        "",
        f"- **Thread list p95 {_pct(first, 0.95):.1f} ms (page 1 by activity); worst of the four reads {worst:.1f} ms**"
        f" (target < {TARGET_P95_MS:.0f} ms: {'met' if worst < TARGET_P95_MS else 'NOT met'})",
        "",
        "PostgreSQL's plan of page 1 by activity (EXPLAIN ANALYZE, timing off):",
        "",
        "```",
        plan,
        "```",
    ]
    print("\n".join(lines))
    if not args.no_record:
        with RESULTS.open("a") as out:
            out.write("\n" + "\n".join(lines) + "\n")
        log(f"appended to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
