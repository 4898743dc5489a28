#!/usr/bin/env python
"""Another consumer's latency while an announcement to a course of 10,000 learners fans out and its mails go.

One command::

    python benchmarks/fanout_latency.py                  # 10,000 learners
    python benchmarks/fanout_latency.py --learners 2000 --seconds 20

Issue 16's figure: "all 10,000 mails handed to the SMTP server within 5 minutes, WHILE OTHER CONSUMERS KEEP
THEIR LATENCY". ``notifications.py`` times the fan-out and the sender in its own process; this run measures
the second half, in the platform's default layout: ONE server process (uvicorn, one worker,
``elearning_http.app:server_app``, which is what ``elearning serve`` runs) on PostgreSQL with the in-process
event transport (every consumer) and the scheduler (``notifications.fan-out``, ``notifications.send``) in it,
and a real SMTP server process (aiosmtpd, ``tests/smtp_server.py``).

1. Seed (not measured): one published course of 200 text lessons, ``--probes`` learners with passwords
   enrolled through the services, ``--learners`` more enrolled in bulk SQL (``notifications.seed_learners``),
   and an instructor of the course.
2. The probe, the other consumer: an open-loop client sends ``POST .../lessons/{id}/view`` at ``--rate``
   (each a text lesson not yet viewed by a probe learner; viewing completes it), and a poller reads
   ``progress_lesson_completions`` every 10 ms for the pending (learner, lesson) pairs. The figure is from
   the view's answer (its event is committed in the outbox then) to the first poll that sees the progress
   projection's row: event -> projection row visible, through the in-process transport.
3. Baseline: the probe alone for ``--seconds``.
4. Fan-out: the instructor posts the announcement (``POST /api/v1/courses/{id}/announcements``, timed), and
   the probe runs at the same rate until every mail of the announcement reached the SMTP server (its mailbox)
   or ``--max-seconds`` passed. Also recorded: when all in-app notifications were written and when the last
   mail arrived, from the announcement's answer.
5. Prints a table and the lines for RESULTS.md; writes ``benchmarks/out/fanout_latency-<time>.json``.

``--profile FILE`` records the server with py-spy (``--gil``, raw format) over the fan-out phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository: its tests' SMTP server helper
sys.path.insert(0, str(HERE))

from tests.smtp_server import SmtpServer  # noqa: E402

from auth import run_server  # noqa: E402
from catalog import (  # noqa: E402
    DEFAULT_ADMIN_URL,
    LIMITS_OUT_OF_REACH,
    OUT,
    _cpu_seconds,
    environment_facts,
    log,
    throwaway_database,
)
from loadgen import Connection  # noqa: E402
from notifications import _mailbox_lines, seed_learners  # noqa: E402
from outline import _pct  # noqa: E402
from progress import PASSWORD, enrol_with_passwords  # noqa: E402

SECTIONS, LESSONS_PER_SECTION = 10, 20
POLL_SECONDS = 0.01
TARGET_MAIL_S = 300.0


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [float(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK"), sum(fields) / os.sysconf("SC_CLK_TCK")


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


async def _seed(url: str, secret: str, probes: int, learners: int) -> dict[str, Any]:
    from elearning_adapters.container import bootstrap
    from elearning_adapters.settings import Settings
    from elearning_core.course.commands import CourseSpec, LessonContentSpec, LessonSpec, SectionSpec
    from elearning_core.identity.commands import CreateUser, RoleGrantSpec
    from elearning_core.shared.ports import SYSTEM

    text = LessonContentSpec(body_markdown="A short lesson.")
    spec = CourseSpec(
        slug="bench-fanout",
        title="Fan-out benchmark",
        status="published",
        sections=[
            SectionSpec(
                title=f"Part {s + 1}",
                lessons=[LessonSpec(title=f"Lesson {s}.{n}", content=text) for n in range(LESSONS_PER_SECTION)],
            )
            for s in range(SECTIONS)
        ],
    )
    settings = Settings(database_url=url, secret_key=secret, cache="none", scheduler="off")
    async with await bootstrap(settings) as platform:
        (course,) = await platform.courses.import_courses(SYSTEM, [spec])
        outline = await platform.courses.get_outline(SYSTEM, course.id, "published")
        lessons = [str(le.id) for s in outline.sections for le in s.lessons]
        teacher = await platform.identity.create_user(
            SYSTEM, CreateUser(email="teacher@bench.example", display_name="Teacher", password=PASSWORD)
        )
        await platform.identity.grant_role(
            SYSTEM, teacher.id, RoleGrantSpec(role="instructor", scope="course", scope_id=course.id)
        )
        ids = await enrol_with_passwords(platform, course.id, [f"probe{n}@bench.example" for n in range(probes)])
        await seed_learners(platform, course.id, learners)
        if platform.events is not None:
            await platform.events.drain()
    return {"course": str(course.id), "lessons": lessons, "probes": ids}


async def _login(base: str, emails: list[str]) -> list[dict[str, str]]:
    connection = Connection(base)
    headers = []
    try:
        for email in emails:
            status, body = await connection.request(
                "POST", "/api/v1/auth/login", {}, {"email": email, "password": PASSWORD}
            )
            if status != 200:
                raise RuntimeError(f"signing in {email} answered {status}: {body[:200]!r}")
            headers.append({"Authorization": f"Bearer {json.loads(body)['access_token']}"})
    finally:
        connection.close()
    return headers


@dataclass
class Probe:
    """Views at a steady rate, each the next lesson of the next probe learner; the completions it waits for."""

    base: str
    course: str
    lessons: list[str]
    learners: list[str]
    headers: list[dict[str, str]]
    sent: int = 0
    pending: dict[tuple[str, str], float] = field(default_factory=dict)

    def next_view(self) -> tuple[str, str, dict[str, str]] | None:
        learner, step = self.sent % len(self.learners), self.sent // len(self.learners)
        if step >= len(self.lessons):
            return None
        self.sent += 1
        return self.learners[learner], self.lessons[step], self.headers[learner]


@dataclass
class Phase:
    view_ms: list[float] = field(default_factory=list)
    visible_ms: list[float] = field(default_factory=list)
    visible_at: list[float] = field(default_factory=list)
    """When each completion was seen, in seconds from the phase's start."""
    failures: dict[str, int] = field(default_factory=dict)
    unseen: int = 0
    seconds: float = 0.0
    marks: dict[str, float] = field(default_factory=dict)


async def _run_phase(
    probe: Probe, rate: float, url: str, until: Any, max_seconds: float, pids: dict[str, int]
) -> Phase:
    """Views at ``rate`` until ``until()`` is true (checked every 0.5 s) or ``max_seconds``; then waits up to
    30 s for the pending completions. ``until`` may record marks in the phase."""
    import psycopg

    phase = Phase()
    idle: list[Connection] = []
    stop = asyncio.Event()

    async def view(learner: str, lesson: str, headers: dict[str, str], scheduled: float) -> None:
        connection = idle.pop() if idle else Connection(probe.base)
        try:
            status, _ = await connection.request(
                "POST", f"/api/v1/courses/{probe.course}/lessons/{lesson}/view", headers
            )
        except OSError as exc:
            connection.close()
            phase.failures[type(exc).__name__] = phase.failures.get(type(exc).__name__, 0) + 1
            return
        answered = time.perf_counter()
        idle.append(connection)
        if status != 204:
            phase.failures[str(status)] = phase.failures.get(str(status), 0) + 1
            return
        phase.view_ms.append((answered - scheduled) * 1000)
        probe.pending[(learner, lesson)] = answered

    async def poll() -> None:
        async with await psycopg.AsyncConnection.connect(_libpq(url), autocommit=True) as conn:
            while not (stop.is_set() and not probe.pending):
                if probe.pending:
                    learners = list({u for u, _ in probe.pending})
                    lessons = list({le for _, le in probe.pending})
                    rows = await (
                        await conn.execute(
                            "SELECT user_id::text, lesson_id::text FROM progress_lesson_completions"
                            " WHERE course_id = %s AND user_id = ANY(%s::uuid[]) AND lesson_id = ANY(%s::uuid[])",
                            (probe.course, learners, lessons),
                        )
                    ).fetchall()
                    seen = time.perf_counter()
                    for key in rows:
                        answered = probe.pending.pop((key[0], key[1]), None)
                        if answered is not None:
                            phase.visible_ms.append((seen - answered) * 1000)
                            phase.visible_at.append(seen - start)
                if stop.is_set() and time.perf_counter() > drain_deadline:
                    break
                await asyncio.sleep(POLL_SECONDS)

    async def watch() -> None:
        while not stop.is_set():
            if await until(phase, time.perf_counter() - start) or time.perf_counter() - start > max_seconds:
                stop.set()
                break
            await asyncio.sleep(0.5)

    drain_deadline = float("inf")
    cpu_before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
    busy_before, total_before = _machine_busy()
    phase.marks["load_at_start"] = os.getloadavg()[0]
    start = time.perf_counter()
    poller, watcher = asyncio.create_task(poll()), asyncio.create_task(watch())
    tasks = []
    i = 0
    while not stop.is_set():
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        if stop.is_set():
            break
        nxt = probe.next_view()
        if nxt is None:
            log("the probe learners viewed every lesson: the phase ends early")
            stop.set()
            break
        tasks.append(asyncio.create_task(view(*nxt, scheduled)))
        i += 1
    await asyncio.gather(*tasks)
    phase.seconds = time.perf_counter() - start
    for name, pid in pids.items():
        phase.marks[f"cpu_{name}_pct"] = (_cpu_seconds(pid) - cpu_before[name]) * 100 / phase.seconds
    busy, total = _machine_busy()
    phase.marks["machine_busy_pct"] = (busy - busy_before) * 100 / (total - total_before)
    drain_deadline = time.perf_counter() + 30
    await watcher
    await poller
    phase.unseen = len(probe.pending)
    probe.pending.clear()
    for connection in idle:
        connection.close()
    return phase


async def _count(url: str, sql: str) -> int:
    import psycopg

    async with await psycopg.AsyncConnection.connect(_libpq(url), autocommit=True) as conn:
        row = await (await conn.execute(sql)).fetchone()
        return int(row[0]) if row else 0


async def _measure(
    args: argparse.Namespace, url: str, server: SmtpServer, seed: dict[str, Any], base: str, pid: int
) -> dict[str, Any]:
    emails = [f"probe{n}@bench.example" for n in range(args.probes)]
    headers = await _login(base, emails)
    (teacher,) = await _login(base, ["teacher@bench.example"])
    probe = Probe(base, seed["course"], seed["lessons"], seed["probes"], headers)
    audience = args.learners + args.probes

    log(f"baseline: views at {args.rate:g}/s for {args.seconds:.0f} s")

    async def elapsed(_phase: Phase, seconds: float) -> bool:
        return bool(seconds >= args.seconds)

    pids = {"server": pid, "smtp": server.pid or 0}
    baseline = await _run_phase(probe, args.rate, url, elapsed, args.seconds + 1, pids)
    mails_before = _mailbox_lines(server)

    log(f"fan-out: the announcement to {audience} learners, views at {args.rate:g}/s until every mail is handed")
    connection = Connection(base)
    t0 = time.perf_counter()
    status, body = await connection.request(
        "POST",
        f"/api/v1/courses/{seed['course']}/announcements",
        teacher,
        {"title": "Exam moved", "body": "The exam is on **Friday** now."},
    )
    announced = time.perf_counter()
    connection.close()
    if status != 201:
        raise RuntimeError(f"the announcement answered {status}: {body[:300]!r}")
    profiler = (
        await asyncio.create_subprocess_exec(str(Path(sys.executable).with_name("py-spy")), "record", "--pid",
                                             str(pid), "--gil", "--rate", "100", "--format", "raw", "-o", args.profile)
        if args.profile else None
    )  # fmt: skip

    async def mails_handed(phase: Phase, seconds: float) -> bool:
        if "in_app_s" not in phase.marks:
            written = await _count(url, "SELECT count(*) FROM notifications WHERE type = 'announcement'")
            if written >= audience:
                phase.marks["in_app_s"] = time.perf_counter() - announced
        if _mailbox_lines(server) - mails_before >= audience:
            phase.marks["mails_s"] = time.perf_counter() - announced
            return True
        return False

    fanout = await _run_phase(probe, args.rate, url, mails_handed, args.max_seconds, pids)
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)  # py-spy writes its profile and exits
        await asyncio.wait_for(profiler.wait(), 60)
    return {
        "baseline": baseline,
        "fanout": fanout,
        "announce_ms": (announced - t0) * 1000,
        "mails_received": _mailbox_lines(server) - mails_before,
        "audience": audience,
    }


def _stats(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(_pct(values, 0.50), 1),
        "p95": round(_pct(values, 0.95), 1),
        "p99": round(_pct(values, 0.99), 1),
        "max": round(max(values), 1),
    }


def _row(name: str, values: list[float]) -> str:
    s = _stats(values)
    if not s["n"]:
        return f"| {name} | 0 | - | - | - | - |"
    return f"| {name} | {s['n']} | {s['p50']} | {s['p95']} | {s['p99']} | {s['max']} |"


def _report(args: argparse.Namespace, result: dict[str, Any], total: float) -> tuple[list[str], dict[str, Any]]:
    base, fan = result["baseline"], result["fanout"]
    facts = environment_facts(argparse.Namespace(wrk="true"))
    ratio = {
        q: round(_pct(fan.visible_ms, q) / _pct(base.visible_ms, q), 2) if fan.visible_ms and base.visible_ms else None
        for q in (0.5, 0.95, 0.99)
    }
    mails_s = fan.marks.get("mails_s")
    in_app = fan.marks.get("in_app_s", 0.0)
    p99 = _pct(fan.visible_ms, 0.99) if fan.visible_ms else float("inf")
    kept = ratio[0.99] is not None and ratio[0.99] <= 3 and p99 < 1000
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    argv = "".join(" " + a for a in sys.argv[1:])
    lines = [
        f"## {now} - notifications: another consumer's latency while an announcement fans out",
        "",
        f"- Command: `python benchmarks/fanout_latency.py{argv}` (total {total:.0f} s)",
        f"- Code: {facts['revision']}; Machine: {facts['cpus']} CPUs, {facts['os']}, Python {facts['python']}",
        "- One server process as `elearning serve` runs it (uvicorn, one worker, in-process consumers and scheduler)"
        " on PostgreSQL (throwaway database); a real aiosmtpd process; the probe: lesson views at"
        f" {args.rate:g}/s by {args.probes} learners, each completion polled in `progress_lesson_completions`"
        f" every {POLL_SECONDS * 1000:.0f} ms",
        f"- Announcement to {result['audience']} learners: request {result['announce_ms']:.1f} ms; all in-app"
        f" notifications written {fan.marks.get('in_app_s', float('nan')):.1f} s after it; all mails handed"
        f" {f'{mails_s:.1f} s' if mails_s else f'NOT within {args.max_seconds:.0f} s'} after it"
        f" ({result['mails_received']} received by the SMTP server)",
        "",
        "| phase | measure | n | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |",
        "|---|---|---:|---:|---:|---:|---:|",
        "| baseline " + _row("view -> completion visible", base.visible_ms),
        "| **fan-out in flight** " + _row("view -> completion visible", fan.visible_ms),
        "| baseline " + _row("`POST .../view` answered", base.view_ms),
        "| fan-out in flight " + _row("`POST .../view` answered", fan.view_ms),
        "| ... while the in-app notifications are written "
        + _row(
            "view -> completion visible",
            [ms for ms, at in zip(fan.visible_ms, fan.visible_at, strict=True) if at <= in_app],
        ),
        "| ... then while the mails are sent "
        + _row(
            "view -> completion visible",
            [ms for ms, at in zip(fan.visible_ms, fan.visible_at, strict=True) if at > in_app],
        ),
        "",
        f"- Ratio fan-out / baseline of view -> visible: p50 {ratio[0.5]}x, p95 {ratio[0.95]}x, p99 {ratio[0.99]}x;"
        f" failed views (by status) {base.failures or 0} / {fan.failures or 0}; completions never seen"
        f" {base.unseen} / {fan.unseen}",
        *(
            f"- {name}: the server process {p.marks['cpu_server_pct']:.0f} % of a CPU, the SMTP server"
            f" {p.marks['cpu_smtp_pct']:.0f} %, the whole machine {p.marks['machine_busy_pct']:.0f} % busy"
            f" (1-minute load average {p.marks['load_at_start']:.1f} at the start)"
            for name, p in (("Baseline", base), ("Fan-out", fan))
        ),
        f"- **Other consumers keep their latency: {'met' if kept else 'NOT met'}** (p99 at most 3x the baseline"
        f" and < 1 s); mails within {TARGET_MAIL_S:.0f} s: {'met' if mails_s and mails_s < TARGET_MAIL_S else 'NOT met'}",
    ]
    data = {
        **{
            name: {
                "visible": _stats(p.visible_ms),
                "view": _stats(p.view_ms),
                "seconds": p.seconds,
                "failures": p.failures,
                **p.marks,
            }
            for name, p in (("baseline", base), ("fanout", fan))
        },
        "ratio": {str(k): v for k, v in ratio.items()},
        "announce_ms": round(result["announce_ms"], 1),
        "audience": result["audience"],
        "mails_received": result["mails_received"],
    }
    return lines, data


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--learners", type=int, default=10_000, help="learners enrolled besides the probes")
    parser.add_argument("--probes", type=int, default=50, help="learners viewing lessons (the probe)")
    parser.add_argument("--rate", type=float, default=20.0, help="lesson views per second in both phases")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the baseline phase")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="longest fan-out phase")
    parser.add_argument("--profile", metavar="FILE", help="py-spy record --gil the server over the fan-out phase")
    args = parser.parse_args(argv)
    if args.probes < 1 or args.rate <= 0 or args.learners < 0:
        parser.error("--probes and --rate must be positive, --learners not negative")
    started = time.perf_counter()
    OUT.mkdir(exist_ok=True)
    secret = secrets.token_urlsafe(32)
    with (
        tempfile.TemporaryDirectory() as tmp,
        throwaway_database(args.admin_url) as url,
        SmtpServer(Path(tmp) / "smtp") as smtp,
    ):
        log(
            f"seeding: a course of {SECTIONS * LESSONS_PER_SECTION} lessons, {args.probes} probes, {args.learners} learners"
        )
        seed = asyncio.run(_seed(url, secret, args.probes, args.learners))
        env = {
            "ELEARNING_DATABASE_URL": url,
            "ELEARNING_SECRET_KEY": secret,
            "ELEARNING_DATA_DIR": str(Path(tmp) / "data"),
            "ELEARNING_MAIL_BACKEND": "smtp",
            "ELEARNING_SMTP_HOST": smtp.host,
            "ELEARNING_SMTP_PORT": str(smtp.port),
            "ELEARNING_CACHE": "memory",
            "ELEARNING_KAFKA_BOOTSTRAP_SERVERS": "",
            "ELEARNING_REDIS_URL": "",
            "ELEARNING_LOGIN_LIMIT_PER_IP": "100000",
            "ELEARNING_ACCESS_TOKEN_TTL_SECONDS": "3600",
            "ELEARNING_LOG_LEVEL": "WARNING",
            "ELEARNING_ACCESS_LOG": "false",
            **LIMITS_OUT_OF_REACH,
        }
        with run_server(env, OUT / "fanout_latency_server.log", app="elearning_http.app:server_app") as (process, base):
            result = asyncio.run(_measure(args, url, smtp, seed, base, process.pid))
    lines, data = _report(args, result, time.perf_counter() - started)
    path = OUT / f"fanout_latency-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(data, indent=2))
    print("\n".join(lines))
    log(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
