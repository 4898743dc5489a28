"""User progress on PostgreSQL: the outline with progress, video heartbeats, completion latency.

    python benchmarks/progress.py                 # every phase, about 5 minutes
    python benchmarks/progress.py --seconds 10 --no-record   # a quick look

The issue's figures (issue 14) and how each is measured, in one run on one throwaway database:

1. **Outline with progress** (target p95 < 100 ms at 50 requests/s, 200 lessons): one published course of
   10 sections x 20 text lessons (and a video section), a learner who viewed half of them. An open-loop
   client starts ``GET /api/v1/courses/{id}/progress`` every 1/rate s; in the same run and at the same rate,
   ``GET /health`` (the floor) and ``GET /api/v1/courses/{id}`` (the outline without progress, for scale).
2. **Video heartbeats** (target >= 400/s sustained with p99 < 100 ms): an open-loop client sends
   ``POST .../lessons/{video lesson}/heartbeats`` at the rate for the whole phase, spread over many
   learners (each with its own token, each heartbeat the next 10 s of the video). "Sustained" is checked,
   not assumed: the phase reports the rate actually achieved, and the time the projection needs after the
   phase to handle the heartbeats' events (the outbox drained). Server CPU per heartbeat comes from
   ``/proc/<pid>/stat`` over the phase.
3. **Lesson completed -> visible in the learner's progress read** (target p99 < 1 s, in-process and Kafka):
   a learner views a text lesson (``POST .../view``: a text lesson completes when viewed by default) and then
   polls ``GET /api/v1/courses/{id}/progress/learners/{user}`` every 10 ms until the lesson reads completed;
   the latency is from the view's response to the first read that shows it. Once with the embedded
   in-process transport, once with Kafka (the noida-db broker, ``python -m elearning_workers relay`` and
   ``... consume progress``, the server with ``ELEARNING_KAFKA_BOOTSTRAP_SERVERS``).
The rebuild figure (1 million facts in < 2 minutes) is ``benchmarks/progress_rebuild.py``'s.

Figures are appended to benchmarks/RESULTS.md (``--no-record`` to skip).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
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
from loadgen import Connection, open_loop
from outline import _pct
from relay import _spawn, _stop_group, noida_broker

SECTIONS = 10
LESSONS_PER_SECTION = 20
VIDEO_SECONDS = 3600
PASSWORD = "benchmark-password-0"
TARGET_OUTLINE_P95_MS = 100.0
TARGET_HEARTBEATS_PER_S = 400.0
TARGET_HEARTBEAT_P99_MS = 100.0
TARGET_VISIBLE_P99_MS = 1000.0
TARGET_REBUILD_S = 120.0
BODY = "A lesson of a few sentences, enough to be a real page. " * 16


def _spec() -> Any:
    from elearning_core.course.commands import CourseSpec, LessonContentSpec, LessonSpec, SectionSpec
    from elearning_core.course.model import CourseStatus

    text = LessonContentSpec(body_markdown=BODY)
    return CourseSpec(
        slug="bench-progress",
        title="Progress benchmark: 200 lessons and a video",
        summary="Ten sections of twenty lessons, then a video.",
        status=CourseStatus.DRAFT,
        sections=[
            SectionSpec(
                title=f"Part {s + 1}",
                lessons=[
                    LessonSpec(title=f"Lesson {s * LESSONS_PER_SECTION + n + 1}", content=text)
                    for n in range(LESSONS_PER_SECTION)
                ],
            )
            for s in range(SECTIONS)
        ],
    )


async def _seed(url: str, secret: str, learners: int) -> dict[str, Any]:
    """The course (published with a video lesson), the learners (enrolled), the ids the phases use."""
    from elearning_adapters.container import bootstrap
    from elearning_adapters.settings import Settings
    from elearning_core.course.commands import AddLesson, AddSection, CourseRef, SetLessonContent
    from elearning_core.shared.ports import SYSTEM
    from elearning_core.video.commands import CreateVideo

    async with await bootstrap(Settings(database_url=url, secret_key=secret, cache="none")) as platform:
        (course,) = await platform.courses.import_courses(SYSTEM, [_spec()])
        video = await platform.videos.create_video(SYSTEM, course.id, CreateVideo(title="The long video"))
        section = await platform.courses.add_section(SYSTEM, AddSection(course_id=course.id, title="Video"))
        lesson = await platform.courses.add_lesson(
            SYSTEM, AddLesson(course_id=course.id, section_id=section.id, title="Watch this")
        )
        await platform.courses.set_lesson_content(
            SYSTEM,
            SetLessonContent(
                course_id=course.id,
                section_id=section.id,
                lesson_id=lesson.id,
                kind="video",
                video_id=video.id,
                duration_seconds=VIDEO_SECONDS,
            ),
        )
        await platform.courses.publish(SYSTEM, CourseRef(course_id=course.id))
        outline = await platform.courses.get_outline(SYSTEM, course.id, "published")
        text_lessons = [str(le.id) for s in outline.sections for le in s.lessons if le.video_id is None]
        ids = await enrol_with_passwords(platform, course.id, [f"learner{n}@example.org" for n in range(learners)])
        if platform.events is not None:
            await platform.events.drain()
        return {
            "course": str(course.id),
            "video_lesson": str(lesson.id),
            "text_lessons": text_lessons,
            "learners": ids,
        }


async def enrol_with_passwords(platform: Any, course_id: uuid.UUID, emails: list[str]) -> list[str]:
    """Accounts with ``PASSWORD`` (so they can sign in), enrolled in the course through the services; their ids."""
    from elearning_core.identity.commands import CreateUser
    from elearning_core.shared.ports import SYSTEM

    ids = []
    for email in emails:
        name = email.split("@")[0].capitalize()
        user = await platform.identity.create_user(
            SYSTEM, CreateUser(email=email, display_name=name, password=PASSWORD)
        )
        await platform.enrollments.enroll(SYSTEM, course_id, user.id)
        ids.append(str(user.id))
    return ids


async def _tokens(base: str, count: int) -> list[dict[str, str]]:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        slots = asyncio.Semaphore(4)

        async def one(n: int) -> dict[str, str]:
            async with slots:
                response = await client.post(
                    "/api/v1/auth/login", json={"email": f"learner{n}@example.org", "password": PASSWORD}
                )
                response.raise_for_status()
                return {"Authorization": f"Bearer {response.json()['access_token']}"}

        return list(await asyncio.gather(*(one(n) for n in range(count))))


def _row(name: str, values: list[float]) -> str:
    return (
        f"| {name} | {len(values)} | {statistics.median(values):.1f} | {_pct(values, 0.95):.1f}"
        f" | {_pct(values, 0.99):.1f} | {max(values):.1f} |"
    )


async def _open_loop(
    base: str, requests: list[tuple[str, str, dict[str, str], Any]], rate: float
) -> tuple[list[float], int, float]:
    """Start each (method, path, headers, json) at its time; (latencies ms, failures, achieved rate)."""
    outcome = await open_loop(base, requests, rate)
    if outcome.failures:
        log(f"failures: {outcome.failures}, at {outcome.failed_at[:20]} s")
    return outcome.latencies_ms, outcome.failed, outcome.achieved_rate


def _unpublished(url: str) -> int:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()
        return int(row[0]) if row else 0


async def _drained_after(url: str, seconds: float) -> float:
    """Seconds until the outbox holds nothing unpublished (bounded)."""
    started = time.perf_counter()
    while _unpublished(url):
        if time.perf_counter() - started > seconds:
            raise RuntimeError(f"the outbox was not drained within {seconds:.0f} s")
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


async def _visibility(
    base: str, course: str, pairs: list[tuple[str, dict[str, str], str]], concurrency: int, limit_s: float
) -> list[float]:
    """For each (user, headers, lesson): view it, then poll the learner's progress until it reads completed.

    Each worker holds one lean connection (``loadgen.Connection``): with httpx, polling every 10 ms cost the
    client several ms of CPU per poll, so four pollers took a core from the processes being measured."""
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[str, dict[str, str], str]] = asyncio.Queue()
    for pair in pairs:
        queue.put_nowait(pair)

    async def worker() -> None:
        connection = Connection(base)
        try:
            while not queue.empty():
                user, headers, lesson = queue.get_nowait()
                status, _ = await connection.request("POST", f"/api/v1/courses/{course}/lessons/{lesson}/view", headers)
                if status != 204:
                    raise RuntimeError(f"viewing lesson {lesson} answered {status}")
                viewed = time.perf_counter()
                while True:
                    status, body = await connection.request(
                        "GET", f"/api/v1/courses/{course}/progress/learners/{user}", headers
                    )
                    if status != 200:
                        raise RuntimeError(f"the learner's progress answered {status}")
                    if lesson in json.loads(body)["completed_lesson_ids"]:
                        break
                    if time.perf_counter() - viewed > limit_s:
                        raise RuntimeError(f"lesson {lesson} of {user} not completed within {limit_s:.0f} s")
                    await asyncio.sleep(0.01)
                latencies.append((time.perf_counter() - viewed) * 1000)
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


@contextlib.contextmanager
def _kafka_workers(env: dict[str, str], bootstrap: str) -> Iterator[None]:
    """The relay and the progress consumers as operators run them, against the broker."""
    full = {**os.environ, **env, "ELEARNING_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "PYTHONUNBUFFERED": "1"}
    processes = []
    with contextlib.ExitStack() as logs:
        try:
            for name, argv in (("relay", ["relay"]), ("consumer", ["consume"])):
                out = logs.enter_context((OUT / f"progress_{name}.log").open("wb"))
                command = [sys.executable, "-m", "elearning_workers", *argv]
                processes.append((_spawn(command, env=full, stdout=out, stderr=subprocess.STDOUT), name))
            yield
        finally:
            for process, name in processes:
                _stop_group(process, name)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default=os.environ.get("BENCH_ADMIN_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each open-loop phase")
    parser.add_argument("--outline-rate", type=float, default=50.0)
    parser.add_argument("--heartbeat-rate", type=float, default=TARGET_HEARTBEATS_PER_S)
    parser.add_argument("--learners", type=int, default=200, help="learners sending heartbeats")
    parser.add_argument("--samples", type=int, default=300, help="completions timed per transport")
    parser.add_argument("--skip-kafka", action="store_true")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7", help="the Kafka phase's cache")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--profile", metavar="FILE", help="py-spy record the server over the heartbeat phase")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    OUT.mkdir(exist_ok=True)
    facts = environment_facts(argparse.Namespace(wrk="wrk"))
    lines: list[str] = []
    with throwaway_database(args.admin_url) as url:
        env = {
            "ELEARNING_DATABASE_URL": url,
            "ELEARNING_SECRET_KEY": secrets.token_urlsafe(32),
            "ELEARNING_ACCESS_TOKEN_TTL_SECONDS": "3600",
            "ELEARNING_CACHE": "memory",
            "ELEARNING_LOGIN_LIMIT_PER_IP": "100000",  # every learner signs in from this one address
            # A server taking the heartbeats of ~10,000 viewers: a heartbeat waiting for its group commit holds
            # no database connection, so the admission bound (default 2 x the pool = 40, sized for requests
            # that do) is raised as docs/overload.md says to tune it. With 40, a 64 ms gen-2 garbage
            # collection at 400/s refuses a handful of heartbeats with 503 (measured; see progress.md).
            "ELEARNING_MAX_IN_FLIGHT": os.environ.get("BENCH_MAX_IN_FLIGHT", "200"),
            **LIMITS_OUT_OF_REACH,
            "ELEARNING_KAFKA_BOOTSTRAP_SERVERS": "",
            "ELEARNING_REDIS_URL": "",
            "BENCH_USER_ID": "00000000-0000-0000-0000-000000000000",
            "BENCH_BARE_BODY_FILE": str(OUT / "progress_bare.json"),
        }
        (OUT / "progress_bare.json").write_bytes(b"{}")
        log(f"seeding: a course of {SECTIONS * LESSONS_PER_SECTION} lessons + a video, {args.learners} learners")
        seed = asyncio.run(_seed(url, env["ELEARNING_SECRET_KEY"], args.learners))
        course, lessons = seed["course"], seed["text_lessons"]
        users = seed["learners"]
        with run_server(env, OUT / "progress_server.log") as (server, base):
            tokens = asyncio.run(_tokens(base, args.learners))
            # The outline reader viewed half the lessons.
            reader = tokens[0]
            half = lessons[: len(lessons) // 2]
            asyncio.run(
                _open_loop(
                    base, [("POST", f"/api/v1/courses/{course}/lessons/{le}/view", reader, None) for le in half], 50
                )
            )
            asyncio.run(_drained_after(url, 60))
            count = int(args.outline_rate * args.seconds)
            results = {}
            for name, path, headers in (
                ("baseline `GET /health`", "/health", {}),
                ("outline without progress `GET /api/v1/courses/{id}`", f"/api/v1/courses/{course}", reader),
                ("**outline with progress** `GET /api/v1/courses/{id}/progress`", f"/api/v1/courses/{course}/progress", reader),
            ):  # fmt: skip
                log(f"{name}: {args.outline_rate:g}/s for {args.seconds:.0f} s")
                results[name] = asyncio.run(_open_loop(base, [("GET", path, headers, None)] * count, args.outline_rate))
            outline_p95 = _pct(results["**outline with progress** `GET /api/v1/courses/{id}/progress`"][0], 0.95)

            log(f"heartbeats: {args.heartbeat_rate:g}/s for {args.seconds:.0f} s over {args.learners} learners")
            beats = []
            session = uuid.uuid4().hex
            for i in range(int(args.heartbeat_rate * args.seconds)):
                learner, step = i % args.learners, i // args.learners
                start = (step * 10) % (VIDEO_SECONDS - 10)
                body = {
                    "start": start,
                    "end": start + 10,
                    "position": start + 10,
                    "state": "playing",
                    "playback_rate": 1.0,
                    "player_session_id": f"{session}-{learner}",
                }
                path = f"/api/v1/courses/{course}/lessons/{seed['video_lesson']}/heartbeats"
                beats.append(("POST", path, tokens[learner], body))
            profiler = (
                subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(server.pid), "--rate", "200", "--format", "raw",
                                  "-o", args.profile, "--duration", str(int(args.seconds))])
                if args.profile else None
            )  # fmt: skip
            cpu_before, client_before = _cpu_seconds(server.pid), time.process_time()
            beat_ms, beat_failures, beat_rate = asyncio.run(_open_loop(base, beats, args.heartbeat_rate))
            beat_cpu = (_cpu_seconds(server.pid) - cpu_before) * 1000 / len(beats)
            client_cpu = (time.process_time() - client_before) * 1000 / len(beats)
            catch_up = asyncio.run(_drained_after(url, 120))
            if profiler is not None:
                profiler.wait(timeout=60)

            log(f"completion -> visible, in-process: {args.samples} lessons")
            pairs = [
                (users[n % args.learners], tokens[n % args.learners], lessons[len(half) + n // args.learners])
                for n in range(1, args.samples + 1)
            ]
            visible_inprocess = asyncio.run(_visibility(base, course, pairs, 4, 30))
        visible_kafka: list[float] = []
        warm_up: list[float] = []
        if not args.skip_kafka:
            with noida_broker(OUT / "progress_broker.log") as broker:
                # As deployed with Kafka: the catalog cache in Redis (its invalidation crosses processes).
                kafka_env = {
                    **env,
                    "ELEARNING_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
                    "ELEARNING_CACHE": "redis",
                    "ELEARNING_REDIS_URL": args.redis_url,
                }
                with (
                    _kafka_workers(kafka_env, broker.bootstrap),
                    run_server(kafka_env, OUT / "progress_server_kafka.log") as (
                        _server,
                        base,
                    ),
                ):
                    tokens = asyncio.run(_tokens(base, args.learners))
                    # Warm-up, uncounted: the first completions after the workers start wait for the consumers'
                    # first fetches and the producer's metadata (a one-time cost, reported below), not the
                    # steady-state path the figure is about. Their lesson (the last) is one no sample uses.
                    warm_up = asyncio.run(
                        _visibility(base, course, [(users[n], tokens[n], lessons[-1]) for n in range(8)], 4, 60)
                    )
                    log(f"completion -> visible, Kafka: {args.samples} lessons")
                    offset = len(half) + args.samples // args.learners + 1
                    pairs = [
                        (users[n % args.learners], tokens[n % args.learners], lessons[offset + n // args.learners])
                        for n in range(1, args.samples + 1)
                    ]
                    visible_kafka = asyncio.run(_visibility(base, course, pairs, 4, 60))
    total = time.perf_counter() - started
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    beat_p99 = _pct(beat_ms, 0.99)
    lines += [
        f"## {now} - progress: outline with progress, heartbeats, completion latency",
        "",
        f"- Command: `python benchmarks/progress.py{''.join(' ' + a for a in sys.argv[1:])}` (total {total:.0f} s)",
        f"- Code: {facts['revision']}",
        f"- Machine: {facts['cpus']} CPUs, {facts['os']}, Python {facts['python']}",
        f"- Server: one uvicorn process, production app, PostgreSQL (throwaway database), memory cache,"
        f" `ELEARNING_MAX_IN_FLIGHT={env['ELEARNING_MAX_IN_FLIGHT']}`; open-loop"
        " client in another process (`benchmarks/loadgen.py`: pre-encoded requests, persistent connections)",
        "",
        f"Reads at {args.outline_rate:g} requests/s, {args.seconds:.0f} s each, the reader having viewed"
        f" {len(lessons) // 2} of {len(lessons)} lessons:",
        "",
        "| read | requests | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |",
        "|---|---:|---:|---:|---:|---:|",
        *(_row(name, values) for name, (values, _f, _r) in results.items()),
        "",
        f"- **Outline with progress p95 {outline_p95:.1f} ms** (target < {TARGET_OUTLINE_P95_MS:.0f} ms:"
        f" {_met(outline_p95 < TARGET_OUTLINE_P95_MS)})",
        "",
        f"Heartbeats, open loop at {args.heartbeat_rate:g}/s for {args.seconds:.0f} s over {args.learners} learners:",
        "",
        "| call | requests | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |",
        "|---|---:|---:|---:|---:|---:|",
        _row("`POST .../lessons/{id}/heartbeats`", beat_ms),
        "",
        f"- Achieved {beat_rate:.0f} heartbeats/s, {beat_failures} failed; the projection had handled every"
        f" heartbeat's event {catch_up:.2f} s after the load stopped.",
        f"- **Heartbeats: {beat_rate:.0f}/s with p99 {beat_p99:.1f} ms** (target >= {TARGET_HEARTBEATS_PER_S:.0f}/s"
        f" with p99 < {TARGET_HEARTBEAT_P99_MS:.0f} ms: "
        f"{_met(beat_rate >= TARGET_HEARTBEATS_PER_S * 0.98 and beat_p99 < TARGET_HEARTBEAT_P99_MS and not beat_failures)})",
        f"- **Server CPU per heartbeat: {beat_cpu:.2f} ms** (the whole process: the request, its transaction, and"
        f" the in-process projection handling its event); the load generator's own CPU: {client_cpu:.2f} ms per"
        " heartbeat",
        "",
        "Lesson completed -> visible in the learner's progress read (view, then poll every 10 ms):",
        "",
        "| transport | samples | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |",
        "|---|---:|---:|---:|---:|---:|",
        _row("in-process (embedded default)", visible_inprocess),
        *([_row("Kafka (relay + consumer workers)", visible_kafka)] if visible_kafka else []),
        "",
        f"- **In-process p99 {_pct(visible_inprocess, 0.99):.0f} ms** (target < {TARGET_VISIBLE_P99_MS:.0f} ms:"
        f" {_met(_pct(visible_inprocess, 0.99) < TARGET_VISIBLE_P99_MS)})",
    ]
    if visible_kafka:
        lines.append(
            f"- **Kafka p99 {_pct(visible_kafka, 0.99):.0f} ms** (target < {TARGET_VISIBLE_P99_MS:.0f} ms:"
            f" {_met(_pct(visible_kafka, 0.99) < TARGET_VISIBLE_P99_MS)}), after a warm-up of {len(warm_up)}"
            f" uncounted completions just after the workers started ({min(warm_up):.0f}-{max(warm_up):.0f} ms: the"
            " consumers' first fetches)"
        )
    print("\n".join(lines))
    if not args.no_record:
        with RESULTS.open("a") as out:
            out.write("\n" + "\n".join(lines) + "\n")
        log(f"appended to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
