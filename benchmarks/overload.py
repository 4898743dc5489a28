#!/usr/bin/env python
"""Overload: an open-loop client at twice the saturating rate, against one server process on one core.

One command::

    python benchmarks/overload.py             # saturation, then 2x for 30 s, then recovery
    python benchmarks/overload.py --seconds 10 --no-record

What it does (see benchmarks/README.md):

1. the middleware's own CPU: an in-process loop over a constant ASGI app with and without the overload
   layers (rate limit + admission), microseconds per request;
2. a throwaway PostgreSQL database seeded with published courses through the platform's service
   (``benchmarks/catalog.py``'s helpers, imported);
3. one uvicorn process running ``elearning_http.app:server_app`` (what ``elearning serve`` runs) pinned
   to core 0 with ``taskset -c 0``; this process (the load generator) pinned to core 1, and the
   PostgreSQL server's processes moved to core 1 too (``sched_setaffinity``, restored at the end);
4. the saturating rate, closed loop: ``--connections`` clients back to back for ``--saturation-seconds``;
5. normal latency: open loop at half that rate; then the overload: open loop at ``--factor`` (2) times
   that rate for ``--seconds`` (30); then recovery at half the rate again, in one schedule with no gap;
   4 catalog reads (``GET /api/v1/courses?limit=20``, anonymous) to 1 course-draft creation
   (``POST /api/v1/courses`` with the admin token);
6. reports the status counts (only 2xx, 429 and 503 allowed), the p99 of the admitted requests during the
   overload (target < 250 ms), and the time from the end of the overload until the p99 of each later
   second is back within twice the normal p99 (target within 5 s); appends it to RESULTS.md.

The open-loop client is this script's own: asyncio on raw sockets (HTTP/1.1 keep-alive), each request
sent at its scheduled time on an idle connection or a new one (so a slow server never slows the
sending), its latency measured from the scheduled time, not from when it could be sent, so queueing in
the client counts against the server (no coordinated omission). ``wrk`` is closed loop (a slow server
slows it down), ``wrk2`` and ``vegeta`` are not installed here, and a Python client on its own core
reaches the 2x rate of a one-core Python server with room to spare (the report says the rate achieved).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from catalog import (  # noqa: E402  (benchmarks/ is not a package: its helpers are imported from beside)
    DEFAULT_ADMIN_URL,
    LIMITS_OUT_OF_REACH,
    OUT,
    RESULTS,
    ROOT,
    _cpu_seconds,
    _git_revision,
    _http_get,
    _machine_busy_seconds,
    _postgres_cpu,
    _prepare,
    _uvicorn,
    log,
    throwaway_database,
)

ADMIN_TOKEN = "overload-bench-admin"
LIST = "/api/v1/courses?limit=20"
TARGET_P99_MS = 250.0
TARGET_RECOVERY_S = 5.0
TIMEOUT_S = 30.0


# -- the middleware's CPU, in-process --------------------------------------------------------------------


def middleware_cpu(calls: int = 200_000) -> dict[str, float]:
    """Microseconds per request of a constant ASGI app, bare and behind the rate limit + admission layers."""
    from elearning_adapters.request_counters import WindowCounters
    from elearning_http.admission import AdmissionMiddleware
    from elearning_http.ratelimit import RateLimitMiddleware

    body = {"type": "http.response.body", "body": b"{}", "more_body": False}
    start = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}

    async def constant(scope: Any, receive: Any, send: Any) -> None:
        await send(start)
        await send(body)

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    layered = RateLimitMiddleware(
        AdmissionMiddleware(constant, max_in_flight=40, max_streams=64),
        WindowCounters(60),
        per_token=10**9,
        per_ip=10**9,
    )
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"accept", b"application/json"),
        (b"authorization", b"Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"),
        (b"user-agent", b"bench"),
    ]
    scope = {"type": "http", "path": "/api/v1/courses", "method": "GET", "headers": headers, "client": ("10.1.2.3", 5)}

    async def loop(app: Any) -> float:
        began = time.process_time()
        for _ in range(calls):
            await app(scope, receive, send)
        return (time.process_time() - began) / calls * 1e6

    async def rounds() -> dict[str, float]:
        bare, wrapped = [], []
        for _ in range(3):  # alternating, median of three
            bare.append(await loop(constant))
            wrapped.append(await loop(layered))
        bare.sort()
        wrapped.sort()
        return {"bare_us": bare[1], "layered_us": wrapped[1], "added_us": wrapped[1] - bare[1]}

    return asyncio.run(rounds())


# -- the server --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def server(database_url: str, log_path: Path, cpu: int, extra_env: dict[str, str]) -> Iterator[tuple[str, int, int]]:
    """``elearning_http.app:server_app`` under uvicorn (as ``elearning serve`` runs it), pinned to ``cpu``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELEARNING_")} | {
        "ELEARNING_DATABASE_URL": database_url,
        "ELEARNING_ADMIN_TOKEN": ADMIN_TOKEN,
        "ELEARNING_ACCESS_LOG": "false",
        "ELEARNING_LOG_LEVEL": "WARNING",
        "ELEARNING_CACHE": "none",
        **extra_env,
    }
    with _uvicorn(
        "elearning_http.app:server_app", env, log_path, "/ready", 60.0, prefix=("taskset", "-c", str(cpu))
    ) as running:
        yield "127.0.0.1", running.process.pid, running.port


@contextlib.contextmanager
def postgres_on(cpu: int) -> Iterator[int]:
    """Move the PostgreSQL server's processes to ``cpu`` (new backends inherit it); restore them after."""
    saved: dict[int, set[int]] = {}
    for pid in _postgres_cpu():
        with contextlib.suppress(OSError):
            saved[pid] = os.sched_getaffinity(pid)
            os.sched_setaffinity(pid, {cpu})
    try:
        yield len(saved)
    finally:
        everything = set(range(os.cpu_count() or 1))
        for pid in list(_postgres_cpu()):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, saved.get(pid, everything) or everything)


# -- the client ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    intended: float
    kind: str
    status: int  # 0: no answer (timeout, connection error)
    latency: float


@dataclass
class Client:
    host: str
    port: int
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)
    opened: int = 0
    sequence: int = 0

    def request(self, kind: str) -> bytes:
        if kind == "list":
            return f"GET {LIST} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()
        self.sequence += 1
        body = json.dumps({"title": f"Overload draft {os.getpid()}-{self.sequence}"}).encode()
        return (
            f"POST /api/v1/courses HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def call(self, kind: str, intended: float) -> Result:
        loop = asyncio.get_running_loop()
        connection = None
        try:
            async with asyncio.timeout(TIMEOUT_S):
                request = self.request(kind)
                head = b""
                while not head:
                    reused = bool(self.idle)
                    if reused:
                        connection = self.idle.pop()
                    else:
                        connection = await asyncio.open_connection(self.host, self.port)
                        self.opened += 1
                    reader, writer = connection
                    writer.write(request)
                    try:
                        head = await reader.readuntil(b"\r\n\r\n")
                    except (asyncio.IncompleteReadError, ConnectionError):
                        writer.close()
                        if not reused:
                            raise
                        # The server closed this idle keep-alive connection meanwhile: send on a new one.
                status = int(head[9:12])
                length = 0
                keep = True
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        keep = False
                if length:
                    await reader.readexactly(length)
            if keep:
                self.idle.append(connection)
            else:
                connection[1].close()
            return Result(intended, kind, status, loop.time() - intended)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            if connection is not None:
                connection[1].close()
            return Result(intended, kind, 0, loop.time() - intended)

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


def kind_of(n: int) -> str:
    return "create" if n % 5 == 4 else "list"


async def closed_loop(host: str, port: int, connections: int, seconds: float) -> tuple[float, list[Result]]:
    """``connections`` clients, each sending its next request when the last one is answered."""
    loop = asyncio.get_running_loop()
    results: list[Result] = []
    end = loop.time() + seconds

    async def worker(offset: int) -> None:
        client = Client(host, port)
        n = offset
        while loop.time() < end:
            results.append(await client.call(kind_of(n), loop.time()))
            n += 1
        await client.close()

    began = loop.time()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    return len(results) / (loop.time() - began), results


async def open_loop(
    host: str, port: int, phases: list[tuple[str, float, float]]
) -> tuple[dict[str, Any], list[Result]]:
    """Requests at fixed intervals through ``phases`` (name, rate/s, seconds), one schedule with no gap."""
    loop = asyncio.get_running_loop()
    client = Client(host, port)
    tasks: list[asyncio.Task[Result]] = []
    start = loop.time() + 0.2
    bounds: dict[str, Any] = {}
    at = start
    n = 0
    late = 0.0
    for name, rate, seconds in phases:
        bounds[name] = (at - start, at - start + seconds)
        interval = 1.0 / rate
        for i in range(int(rate * seconds)):
            intended = at + i * interval
            delay = intended - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late = max(late, -delay)
            tasks.append(loop.create_task(client.call(kind_of(n), intended)))
            n += 1
        at += seconds
    results = await asyncio.gather(*tasks)
    await client.close()
    for result in results:
        result.intended -= start
    return {"bounds": bounds, "connections": client.opened, "max_send_lag_ms": late * 1000}, list(results)


# -- figures -----------------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def phase(results: list[Result], bounds: tuple[float, float]) -> list[Result]:
    return [r for r in results if bounds[0] <= r.intended < bounds[1]]


def recovery_seconds(
    results: list[Result], end_of_load: float, end: float, normal_p99: float, buckets: list[float]
) -> float | None:
    """Seconds after the load stops until every later 1 s bucket has its p99 within twice the normal p99."""
    threshold = max(2 * normal_p99, 0.010)
    t = end_of_load
    while t + 1 <= end + 1e-9:
        answered = [r.latency for r in results if t <= r.intended < t + 1 and 200 <= r.status < 300]
        buckets.append(pct(answered, 0.99) if answered else float("inf"))
        t += 1
    for i in range(len(buckets)):
        if all(b <= threshold for b in buckets[i:]):
            return float(i)
    return None


def statuses(results: list[Result]) -> Counter[int]:
    return Counter(r.status for r in results)


def run(args: argparse.Namespace) -> dict[str, Any]:
    facts: dict[str, Any] = {"revision": _git_revision()}
    log("middleware CPU, in-process")
    facts["micro"] = middleware_cpu(args.micro_calls)
    log(f"  {facts['micro']}")
    os.sched_setaffinity(0, {args.client_cpu})
    with throwaway_database(args.admin_url) as url:
        facts["data"] = asyncio.run(_prepare(url, args.courses, 7))
        extra = dict(LIMITS_OUT_OF_REACH)
        if args.max_in_flight:
            extra["ELEARNING_MAX_IN_FLIGHT"] = str(args.max_in_flight)
        OUT.mkdir(exist_ok=True)
        with (
            postgres_on(args.client_cpu) as moved,
            server(url, OUT / "overload-server.log", args.server_cpu, extra) as (
                host,
                server_pid,
                port,
            ),
        ):
            facts["postgres_moved"] = moved
            log("warm-up, closed loop, 3 s")
            asyncio.run(closed_loop(host, port, args.connections, 3))
            log(f"saturation, closed loop, {args.connections} connections, {args.saturation_seconds} s")
            rate, closed = asyncio.run(closed_loop(host, port, args.connections, args.saturation_seconds))
            facts["saturation"] = {
                "rate": rate,
                "statuses": statuses(closed),
                "p99": pct([r.latency for r in closed], 0.99),
            }
            log(f"  saturating rate {rate:.0f} req/s, statuses {dict(statuses(closed))}")
            phases = [
                ("normal", rate / 2, args.normal_seconds),
                ("overload", rate * args.factor, args.seconds),
                ("recovery", rate / 2, args.recovery_seconds),
            ]
            log("open loop: " + ", ".join(f"{n} {r:.0f}/s x {s:.0f} s" for n, r, s in phases))
            cpu_before = _cpu_seconds(server_pid), time.process_time(), _machine_busy_seconds(), time.monotonic()
            pg_before = sum(_postgres_cpu().values())
            meta, results = asyncio.run(open_loop(host, port, phases))
            elapsed = time.monotonic() - cpu_before[3]
            server_cpu = _cpu_seconds(server_pid) - cpu_before[0]
            own_cpu = time.process_time() - cpu_before[1]
            pg_cpu = sum(_postgres_cpu().values()) - pg_before
            other = _machine_busy_seconds() - cpu_before[2] - server_cpu - own_cpu - pg_cpu
            facts["cpu"] = {
                "server": server_cpu / elapsed,
                "client": own_cpu / elapsed,
                "postgres": pg_cpu / elapsed,
                "other": max(0.0, other / elapsed),
            }
            scrape = _http_get(f"http://127.0.0.1:{port}/metrics")[1].decode()
    facts["open"] = meta
    facts["phases"] = phases
    facts["refused_metric"] = [
        line for line in scrape.splitlines() if line.startswith("elearning_http_refused_requests_total")
    ]
    by_phase = {name: phase(results, meta["bounds"][name]) for name, _, _ in phases}
    normal_ok = [r.latency for r in by_phase["normal"] if 200 <= r.status < 300]
    overload_ok = [r.latency for r in by_phase["overload"] if 200 <= r.status < 300]
    facts["normal"] = {
        "p50": pct(normal_ok, 0.5),
        "p99": pct(normal_ok, 0.99),
        "statuses": statuses(by_phase["normal"]),
    }
    facts["overload"] = {
        "sent": len(by_phase["overload"]),
        "statuses": statuses(by_phase["overload"]),
        "p50": pct(overload_ok, 0.5),
        "p99": pct(overload_ok, 0.99),
        "admitted_rate": len(overload_ok) / args.seconds,
    }
    facts["recovery_statuses"] = statuses(by_phase["recovery"])
    end_of_load = meta["bounds"]["overload"][1]
    facts["recovery_p99s"] = []
    facts["recovery_s"] = recovery_seconds(
        results, end_of_load, meta["bounds"]["recovery"][1], facts["normal"]["p99"], facts["recovery_p99s"]
    )
    facts["all_statuses"] = statuses(results)
    facts["bad"] = {s: c for s, c in facts["all_statuses"].items() if not (200 <= s < 300 or s in (429, 503))}
    return facts


def report(facts: dict[str, Any], args: argparse.Namespace, argv: list[str]) -> str:
    micro, sat, normal, over = facts["micro"], facts["saturation"], facts["normal"], facts["overload"]
    rec = facts["recovery_s"]
    ms = 1000
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    lines = [
        f"## {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} - overload: open loop at {args.factor:g}x the saturating"
        f" rate for {args.seconds:g} s",
        "",
        f"- Command: `{shlex.join(['python', 'benchmarks/overload.py', *argv])}`",
        f"- Code: {facts['revision']}",
        f"- Server: one uvicorn process running `elearning_http.app:server_app` (as `elearning serve`), pinned to CPU"
        f" {args.server_cpu}; PostgreSQL (throwaway database, {facts['data']['published']:,} published courses; cache"
        f" none) and the load generator on CPU {args.client_cpu} ({facts['postgres_moved']} postgres processes moved);"
        f" admission bound {args.max_in_flight or 'default (2 x (pool 10 + overflow 10) = 40)'}; rate limits set out"
        " of reach (this measures admission control)",
        "- Mix: 4 `GET /api/v1/courses?limit=20` (anonymous) : 1 `POST /api/v1/courses` (admin token, a new draft)",
        f"- Client: this script's asyncio open-loop generator on raw sockets, latency from the scheduled send time;"
        f" {facts['open']['connections']} connections opened; worst send lag {facts['open']['max_send_lag_ms']:.1f} ms",
        "",
        "| phase | rate offered (req/s) | seconds | statuses | p50 2xx (ms) | p99 2xx (ms) |",
        "|---|---:|---:|---|---:|---:|",
        f"| saturation (closed loop, {args.connections} conn.) | {sat['rate']:.0f} achieved | {args.saturation_seconds:g}"
        f" | {dict(sorted(sat['statuses'].items()))} | | {sat['p99'] * ms:.1f} |",
        f"| normal (open loop) | {facts['phases'][0][1]:.0f} | {args.normal_seconds:g} |"
        f" {dict(sorted(normal['statuses'].items()))} | {normal['p50'] * ms:.1f} | {normal['p99'] * ms:.1f} |",
        f"| **overload** (open loop) | {facts['phases'][1][1]:.0f} | {args.seconds:g} |"
        f" {dict(sorted(over['statuses'].items()))} | {over['p50'] * ms:.1f} | {over['p99'] * ms:.1f} |",
        f"| recovery (open loop) | {facts['phases'][2][1]:.0f} | {args.recovery_seconds:g} |"
        f" {dict(sorted(facts['recovery_statuses'].items()))} | | |",
        "",
        f"- **Statuses: only 2xx, 429 and 503: {verdict(not facts['bad'])}**"
        + (f" (others: {facts['bad']}; 0 = no answer within {TIMEOUT_S:g} s)" if facts["bad"] else ""),
        f"- **p99 of admitted requests under overload {over['p99'] * ms:.1f} ms** (target < {TARGET_P99_MS:g} ms:"
        f" {verdict(over['p99'] * ms < TARGET_P99_MS)}); admitted {over['admitted_rate']:.0f} req/s of"
        f" {over['sent'] / args.seconds:.0f} offered",
        f"- **Back to normal latency {'never within the run' if rec is None else f'{rec:.0f} s'} after the load stopped**"
        f" (p99 of each later second within 2x the normal p99; target within {TARGET_RECOVERY_S:g} s:"
        f" {verdict(rec is not None and rec <= TARGET_RECOVERY_S)})",
        "- p99 of each second after the load stopped (ms): "
        + ", ".join(f"{b * ms:.0f}" for b in facts["recovery_p99s"]),
        f"- CPU during the open-loop run, in cores: server {facts['cpu']['server']:.2f}, load generator"
        f" {facts['cpu']['client']:.2f}, PostgreSQL {facts['cpu']['postgres']:.2f}, other processes on the machine"
        f" {facts['cpu']['other']:.2f}"
        + (" (NOT idle: other processes shared the cores)" if facts["cpu"]["other"] > 0.1 else ""),
        f"- Server metrics after the run: {'; '.join(facts['refused_metric']) or 'none'}",
        f"- Middleware CPU (in-process, constant ASGI app, median of 3 x {args.micro_calls:,} calls): bare"
        f" {micro['bare_us']:.2f} us, behind the rate limit + admission {micro['layered_us']:.2f} us:"
        f" **+{micro['added_us']:.2f} us per request**",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL server to create the database on")
    p.add_argument("--courses", type=int, default=2_000, help="published courses to seed")
    p.add_argument("--connections", type=int, default=16, help="closed-loop clients measuring the saturating rate")
    p.add_argument("--saturation-seconds", type=float, default=10)
    p.add_argument("--normal-seconds", type=float, default=5)
    p.add_argument("--seconds", type=float, default=30, help="length of the overload")
    p.add_argument("--recovery-seconds", type=float, default=10)
    p.add_argument("--factor", type=float, default=2.0, help="the overload as a multiple of the saturating rate")
    p.add_argument("--max-in-flight", type=int, default=0, help="ELEARNING_MAX_IN_FLIGHT (0: the default)")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--micro-calls", type=int, default=200_000)
    p.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    facts = run(args)
    text = report(facts, args, argv)
    print(text)
    if not args.no_record:
        with RESULTS.open("a") as out:
            out.write("\n" + text)
        log(f"appended to {RESULTS.relative_to(ROOT)}")
    return 0 if not facts["bad"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
