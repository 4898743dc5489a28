#!/usr/bin/env python
"""Benchmark: how long does one password verify take with the default Argon2id parameters?

The identity issue: "Argon2id with parameters tuned so one verify takes <= 50 ms here
and >= OWASP's minimum", and "the same response time for an unknown email and a wrong
password". One command::

    python benchmarks/passwords.py          # 50 verifies per configuration

Measures, interleaved so both see the same machine:

- ``verify`` of the right password with the adapter's defaults and with OWASP's
  minimum Argon2id configuration (m=19 MiB, t=2, p=1) as the baseline: median, p95,
  max, and the ratio of the medians;
- ``verify`` of a wrong password against ``verify_unknown`` (the unknown-email path),
  both with the defaults: medians and their ratio, which should be ~1.

Each call is timed as a login pays for it: ``await`` on the event loop, including the
hop to the worker thread. Prints the tables and appends a section to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from catalog import _cpu_model, _git_revision, _version, log
from elearning_adapters.security.passwords import (
    DEFAULT_MEMORY_COST_KIB,
    DEFAULT_PARALLELISM,
    DEFAULT_TIME_COST,
    Argon2PasswordHasher,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
BUDGET_MS = 50.0
OWASP_MINIMUM = {"memory_cost_kib": 19456, "time_cost": 2, "parallelism": 1}
DEFAULTS = {
    "memory_cost_kib": DEFAULT_MEMORY_COST_KIB,
    "time_cost": DEFAULT_TIME_COST,
    "parallelism": DEFAULT_PARALLELISM,
}
PASSWORD = "correct horse battery staple"
WARMUP = 3


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, to tell whether something else ran meanwhile."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


async def _timed(call: Callable[[], Awaitable[bool]], expected: bool) -> float:
    started = time.perf_counter()
    result = await call()
    elapsed = time.perf_counter() - started
    if result is not expected:
        raise SystemExit(f"a verify returned {result}, expected {expected}: the benchmark measures the wrong thing")
    return elapsed * 1000


@dataclass
class Run:
    samples: dict[str, list[float]]  # ms per call: default, owasp, wrong, unknown, burst
    first_unknown_ms: float
    bound: int
    other_cpu: float  # % of one core used by other processes during the calls

    def stats(self, name: str) -> dict[str, float]:
        ordered = sorted(self.samples[name])
        return {
            "calls": len(ordered),
            "median": statistics.median(ordered),
            "p95": ordered[math.ceil(0.95 * len(ordered)) - 1],
            "max": ordered[-1],
        }


async def measure(verifies: int) -> Run:
    default = Argon2PasswordHasher(**DEFAULTS)
    owasp = Argon2PasswordHasher(**OWASP_MINIMUM)
    default_hash, owasp_hash = await default.hash(PASSWORD), await owasp.hash(PASSWORD)
    first_unknown = await _timed(lambda: default.verify_unknown(PASSWORD), False)  # makes the dummy hash
    for _ in range(WARMUP):
        await default.verify(default_hash, PASSWORD)
        await owasp.verify(owasp_hash, PASSWORD)
        await default.verify_unknown(PASSWORD)

    samples: dict[str, list[float]] = {"default": [], "owasp": [], "wrong": [], "unknown": [], "burst": []}
    busy0, total0 = _cpu_ticks()
    cpu0, wall0 = time.process_time(), time.monotonic()
    for _ in range(verifies):
        samples["default"].append(await _timed(lambda: default.verify(default_hash, PASSWORD), True))
        samples["owasp"].append(await _timed(lambda: owasp.verify(owasp_hash, PASSWORD), True))
        samples["wrong"].append(await _timed(lambda: default.verify(default_hash, PASSWORD + "!"), False))
        samples["unknown"].append(await _timed(lambda: default.verify_unknown(PASSWORD + "!"), False))
    # A burst of logins: as many verifies at once as the default bound lets run (one per CPU).
    bound = default.max_concurrency
    for _ in range(max(verifies // bound, 1)):
        samples["burst"] += await asyncio.gather(
            *(_timed(lambda: default.verify(default_hash, PASSWORD), True) for _ in range(bound))
        )
    busy1, total1 = _cpu_ticks()
    ours = (time.process_time() - cpu0) / (time.monotonic() - wall0)  # in cores
    machine = (busy1 - busy0) / max(total1 - total0, 1) * (os.cpu_count() or 1)
    return Run(samples, first_unknown, bound, max(machine - ours, 0.0) * 100)


def render(run: Run) -> str:
    d, o, w, u, b = (run.stats(name) for name in ("default", "owasp", "wrong", "unknown", "burst"))
    lines = [
        "| parameters | m (KiB) | t | p | verifies | median (ms) | p95 (ms) | max (ms) | p95 <= 50 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, params, s in (
        ("default (adapter)", DEFAULTS, d),
        ("OWASP minimum (baseline)", OWASP_MINIMUM, o),
        (f"default, {run.bound} at once (the default bound)", DEFAULTS, b),
    ):
        met = "-" if s is b else "met" if s["p95"] <= BUDGET_MS else "NOT met"
        lines.append(
            f"| {name} | {params['memory_cost_kib']} | {params['time_cost']} | {params['parallelism']}"
            f" | {s['calls']:.0f} | {s['median']:.1f} | {s['p95']:.1f} | {s['max']:.1f} | {met} |"
        )
    lines += [
        "",
        f"Default / OWASP minimum: median verify time x{d['median'] / o['median']:.2f},"
        f" memory x{DEFAULTS['memory_cost_kib'] / OWASP_MINIMUM['memory_cost_kib']:.2f},"
        f" passes x{DEFAULTS['time_cost'] / OWASP_MINIMUM['time_cost']:.2f}.",
        "",
        "| login path (default parameters) | calls | median (ms) | p95 (ms) | max (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, s in (("wrong password: `verify`", w), ("unknown email: `verify_unknown`", u)):
        lines.append(f"| {name} | {s['calls']:.0f} | {s['median']:.1f} | {s['p95']:.1f} | {s['max']:.1f} |")
    lines += [
        "",
        f"Unknown / wrong median: {u['median'] / w['median']:.3f}. The first `verify_unknown` (which hashes"
        f" to make its dummy instead of verifying) took {run.first_unknown_ms:.1f} ms.",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verifies", type=int, default=50, help="timed calls per measurement (default: 50)")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    parser.add_argument("--results", type=Path, default=RESULTS, help="file to append the section to")
    args = parser.parse_args(argv)
    log(f"measuring {args.verifies} x 4 calls (default, OWASP minimum, wrong password, unknown email) and a burst")
    started = time.monotonic()
    run = asyncio.run(measure(args.verifies))
    tables = render(run)
    load = f"{run.other_cpu:.0f}% of a core " + ("(idle)" if run.other_cpu < 20 else "- NOT idle: times are inflated")
    print(f"\n{tables}\n\nCPU of other processes during the calls: {load}")
    if not args.no_record:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        command = " ".join(["python benchmarks/passwords.py", *argv])
        with args.results.open("a") as out:
            out.write(
                f"\n\n## {now} - Password hashing: Argon2id verify time\n\n"
                f"- Command: `{command}` (total {time.monotonic() - started:.0f} s)\n"
                f"- Code: {_git_revision()}; {os.cpu_count()} CPUs ({_cpu_model()}); Python {sys.version.split()[0]},"
                f" argon2-cffi {_version('argon2-cffi')}, argon2-cffi-bindings {_version('argon2-cffi-bindings')}\n"
                f"- Machine load: CPU of other processes during the calls {load}\n"
                "- Each call timed around `await` on the event loop (thread hop included); the four single-call"
                " kinds interleaved, then the burst; a hash and 3 warm-up calls first. Argon2id, 16-byte salt,"
                " 32-byte hash.\n\n"
                f"{tables}\n"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
