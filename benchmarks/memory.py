"""Memory after overload: does a burst leave the server's RSS higher, and does a repeat add more?

Starts ``elearning serve`` (one process; SQLite in a temporary data directory, or ``--database-url``),
seeds published courses through the API, then: RSS idle; ``--bursts`` times the same burst (``--concurrency``
connections opened at once, ``--requests`` requests in all, 4 catalog reads to 1 course-draft creation,
one request per connection so every request is a new connection, as an overload of many clients is);
after each burst, the peak RSS (``VmHWM``, reset before each burst where the kernel allows) and the RSS
once the server is idle again (``--settle`` seconds after the last answer).

    python benchmarks/memory.py                                  # defaults: 5 bursts x 4,000 requests, 500 at once
    python benchmarks/memory.py --env MALLOC_ARENA_MAX=2         # an environment variable for the server
    python benchmarks/memory.py --markdown >> benchmarks/RESULTS.md

The target (issue 13): each repeat adds less than 5 % to the idle RSS after the burst (no leak), and the
peak is bounded by what the server admits at once (``ELEARNING_MAX_CONNECTIONS``, later the in-flight
limit), not by the size of the burst.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: its tests' server helper

from tests.served import ADMIN, serve_env, serving

from catalog import LIMITS_OUT_OF_REACH


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in KiB, from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Vm")
    )
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


@dataclass
class Burst:
    peak_kib: int
    idle_kib: int
    outcomes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


async def _one(client: httpx.AsyncClient, base: str, i: int, run: int, outcomes: Counter[str]) -> None:
    try:
        if i % 5 == 4:
            response = await client.post(
                f"{base}/api/v1/courses",
                json={"title": f"Burst {run} {i}", "slug": f"burst-{run}-{i}"},
                headers=ADMIN | {"Connection": "close"},
            )
        else:
            response = await client.get(f"{base}/api/v1/courses", params={"limit": 20}, headers={"Connection": "close"})
        outcomes[str(response.status_code)] += 1
    except httpx.TransportError as exc:
        outcomes[type(exc).__name__] += 1


async def burst(base: str, run: int, requests: int, concurrency: int) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:

        async def bounded(i: int) -> None:
            async with gate:
                await _one(client, base, i, run, outcomes)

        await asyncio.gather(*(bounded(i) for i in range(requests)))
    return outcomes


def seed(base: str, courses: int) -> None:
    with httpx.Client(base_url=base, headers=ADMIN, timeout=60) as client:
        for n in range(courses):
            course = client.post(
                "/api/v1/courses",
                json={"title": f"Seeded {n}", "slug": f"seeded-{n}", "summary": "A course seeded for the run " * 5},
            ).json()
            section = client.post(f"/api/v1/courses/{course['id']}/sections", json={"title": "S"}).json()
            client.post(f"/api/v1/courses/{course['id']}/sections/{section['id']}/lessons", json={"title": "L"})
            response = client.post(f"/api/v1/courses/{course['id']}/publish")
            response.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--requests", type=int, default=4000, help="requests per burst")
    parser.add_argument("--concurrency", type=int, default=500, help="connections open at once")
    parser.add_argument("--courses", type=int, default=60, help="published courses seeded first")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds idle before the idle RSS is read")
    parser.add_argument("--database-url", default=None, help="ELEARNING_DATABASE_URL (default: SQLite, temporary)")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server's environment")
    parser.add_argument("--markdown", action="store_true", help="print a RESULTS.md section")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="elearning-memory-"))
    settings = {"log_level": "WARNING"} | ({"database_url": args.database_url} if args.database_url else {})
    extra = dict(item.split("=", 1) for item in args.env)
    env = serve_env(data_dir / "data", **settings) | LIMITS_OUT_OF_REACH | extra
    try:
        with serving(env, data_dir / "serve.log") as server:
            pid = server.process.pid
            seed(server.base, args.courses)
            time.sleep(args.settle)
            idle_before, _ = rss_kib(pid)
            bursts: list[Burst] = []
            for run in range(args.bursts):
                can_reset = reset_peak(pid)
                started = time.monotonic()
                outcomes = asyncio.run(burst(server.base, run, args.requests, args.concurrency))
                seconds = time.monotonic() - started
                _, peak = rss_kib(pid)
                time.sleep(args.settle)
                idle, _ = rss_kib(pid)
                bursts.append(Burst(peak if can_reset or run == 0 else -1, idle, outcomes, seconds))
                print(
                    f"burst {run + 1}: {dict(outcomes)} in {seconds:.1f}s; peak {peak / 1024:.1f} MiB, "
                    f"idle after {idle / 1024:.1f} MiB",
                    file=sys.stderr,
                )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)

    report(args, extra, idle_before, bursts)


def report(args: argparse.Namespace, extra: dict[str, str], idle_before: int, bursts: list[Burst]) -> None:
    mib = 1024
    lines = [
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC - memory after overload bursts "
        f"({args.bursts} x {args.requests} requests, {args.concurrency} connections at once, 4 reads : 1 write; "
        f"{'PostgreSQL' if args.database_url else 'SQLite'}"
        f"{'; ' + ', '.join(f'{k}={v}' for k, v in extra.items()) if extra else ''})",
        "",
        f"Idle RSS before the first burst: {idle_before / mib:.1f} MiB.",
        "",
        "| burst | answers | peak RSS (MiB) | idle RSS after (MiB) | vs previous idle |",
        "|---|---|---|---|---|",
    ]
    previous = idle_before
    for n, b in enumerate(bursts, 1):
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(b.outcomes.items()))
        peak = f"{b.peak_kib / mib:.1f}" if b.peak_kib >= 0 else "n/a"
        lines.append(f"| {n} | {answers} | {peak} | {b.idle_kib / mib:.1f} | {b.idle_kib / previous - 1:+.1%} |")
        previous = b.idle_kib
    growth = [bursts[i].idle_kib / bursts[i - 1].idle_kib - 1 for i in range(1, len(bursts))]
    if growth:
        lines += ["", f"Largest growth of the idle RSS from one repeat to the next: {max(growth):+.1%} (target < 5 %)."]
    output = "\n".join(lines)
    print(output if args.markdown else output.replace("|", " ").replace("---", ""))


if __name__ == "__main__":
    main()
