#!/usr/bin/env python
"""Benchmark of the learning record store's ingest: ``POST /xapi/statements`` in batches of 100 on PostgreSQL.

One command::

    python benchmarks/xapi_post.py                       # 4 connections, 20 s, batches of 100
    python benchmarks/xapi_post.py --connections 8 --seconds 30 --batch 100

The issue's figure: "``POST /xapi/statements`` with batches of 100: >= 2,000 statements/s". The run creates
a throwaway PostgreSQL database migrated to head, an organization and an LRS credential (``all``), then
starts one uvicorn process with the production app (``_server.py``, as catalog.py starts it) and drives it
closed-loop: ``--connections`` persistent connections, each posting a batch, reading the answer, posting
the next (``loadgen.Connection``), for ``--seconds``. Every batch is new statements (their own ids) of 200
learners over 50 activities, each statement checked by the core's model when built. The same connections
then run ``GET /health`` closed-loop for as long: the server's bare request rate in the same run, beside
which the POST request rate is a ratio. Afterwards the store's row count must equal the statements
answered 200. Prints the figures and the load average (before, after) and writes
``benchmarks/out/xapi-post-<time>.json``; the database is dropped at the end. It does not edit RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import secrets
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from catalog import (  # noqa: E402
    DEFAULT_ADMIN_URL,
    LIMITS_OUT_OF_REACH,
    OUT,
    _cpu_model,
    _git_revision,
    _uvicorn,
    log,
    throwaway_database,
)
from loadgen import Connection  # noqa: E402

TARGET = 2000.0
VERBS = ("experienced", "attempted", "answered", "completed", "passed", "failed")
TOOL = "https://tool.example.org"


async def _seed(url: str) -> tuple[str, str]:
    from elearning_adapters.container import bootstrap
    from elearning_adapters.settings import Settings
    from elearning_core.analytics.lrs_credentials import LrsScope
    from elearning_core.identity.commands import CreateOrganization
    from elearning_core.shared.ports import SYSTEM

    async with await bootstrap(Settings(database_url=url, cache="none"), run_migrations=True) as platform:
        org = await platform.identity.create_organization(SYSTEM, CreateOrganization(slug="bench", name="Bench"))
        made = await platform.lrs_credentials.create(SYSTEM, org.id, frozenset({LrsScope.ALL}), "benchmark")
        return made.credential.key, made.secret


def _statement(rng: random.Random) -> dict[str, Any]:
    verb = rng.choice(VERBS)
    learner = rng.randrange(200)
    data: dict[str, Any] = {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "actor": {"objectType": "Agent", "account": {"homePage": TOOL, "name": f"learner-{learner}"}},
        "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}", "display": {"en-US": verb}},
        "object": {
            "objectType": "Activity",
            "id": f"{TOOL}/activities/{rng.randrange(50)}",
            "definition": {"type": "http://adlnet.gov/expapi/activities/lesson", "name": {"en-US": "A lesson"}},
        },
        "context": {"registration": str(uuid.UUID(int=learner + 1)), "platform": "bench-tool"},
        "timestamp": datetime.now(UTC).isoformat(),
    }
    if verb in ("passed", "failed", "answered"):
        data["result"] = {"score": {"scaled": round(rng.random(), 2)}, "success": verb != "failed"}
    return data


def _batches(count: int, size: int, seed: int) -> list[list[dict[str, Any]]]:
    from elearning_core.analytics.model import Statement

    rng = random.Random(seed)
    batches = [[_statement(rng) for _ in range(size)] for _ in range(count)]
    for statement in batches[0]:
        Statement.model_validate(statement)  # what the server will accept (the rest are built alike)
    return batches


async def _closed_loop(
    base: str, connections: int, seconds: float, requests: list[tuple[str, str, dict[str, str], Any]]
) -> tuple[int, int, float, list[float]]:
    """(answered 200, failed, elapsed s, latencies ms) of ``connections`` workers taking requests in turn."""
    queue = iter(requests)
    ok = failed = 0
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal ok, failed
        conn = Connection(base)
        try:
            while time.perf_counter() < deadline:
                request = next(queue, None)
                if request is None:
                    return
                started = time.perf_counter()
                status, _ = await conn.request(*request)
                latencies.append((time.perf_counter() - started) * 1000)
                if status == 200:
                    ok += 1
                else:
                    failed += 1
        finally:
            conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return ok, failed, time.perf_counter() - start, latencies


async def _stored(url: str) -> int:
    from sqlalchemy import func, select

    from elearning_adapters.sql.analytics import xapi_statements
    from elearning_adapters.sql.engine import Database

    db = Database(url)
    try:
        async with db.read() as conn:
            return int((await conn.execute(select(func.count()).select_from(xapi_statements))).scalar_one())
    finally:
        await db.dispose()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default=os.environ.get("BENCH_ADMIN_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 60:
        parser.error("--seconds is between 1 and 60")
    OUT.mkdir(exist_ok=True)
    load_before = os.getloadavg()
    with throwaway_database(args.admin_url) as url:
        key, secret = asyncio.run(_seed(url))
        # Enough batches for the run at up to 10,000 statements/s; a run that empties them stops early.
        batches = _batches(int(10_000 * args.seconds / args.batch) + 20, args.batch, args.seed)
        auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
        headers = {"Authorization": auth, "X-Experience-API-Version": "1.0.3"}
        posts = [("POST", "/xapi/statements", headers, batch) for batch in batches]
        (OUT / "xapi_bare.json").write_bytes(b"{}")
        env = {
            **os.environ,
            **LIMITS_OUT_OF_REACH,
            "ELEARNING_DATABASE_URL": url,
            "ELEARNING_SECRET_KEY": secrets.token_urlsafe(32),
            "ELEARNING_CACHE": "none",
            "ELEARNING_KAFKA_BOOTSTRAP_SERVERS": "",
            "ELEARNING_REDIS_URL": "",
            "BENCH_BARE_BODY_FILE": str(OUT / "xapi_bare.json"),
        }
        with _uvicorn("_server:create_bench_app", env, OUT / "xapi_server.log", "/ready", 60.0) as server:
            base = server.base
            warm = asyncio.run(_closed_loop(base, args.connections, 5, posts[-10:]))  # connections, prepared plans
            log(f"POST /xapi/statements, batches of {args.batch}, {args.connections} connections, {args.seconds:g} s")
            ok, failed, elapsed, latencies = asyncio.run(
                _closed_loop(base, args.connections, args.seconds, posts[:-10])
            )
            health = [("GET", "/health", {}, None)] * 10_000_000
            log(f"GET /health, {args.connections} connections, {args.seconds:g} s")
            h_ok, h_failed, h_elapsed, _ = asyncio.run(_closed_loop(base, args.connections, args.seconds, health))
        stored = asyncio.run(_stored(url))
    load_after = os.getloadavg()
    expected = (ok + warm[0]) * args.batch
    rate = ok * args.batch / elapsed
    figures = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "revision": _git_revision(),
        "cpus": f"{os.cpu_count()} ({_cpu_model()})",
        "connections": args.connections,
        "batch": args.batch,
        "seconds": round(elapsed, 1),
        "posts_ok": ok,
        "posts_failed": failed,
        "statements_per_s": round(rate),
        "post_requests_per_s": round(ok / elapsed, 1),
        "post_p50_ms": round(_pct(latencies, 0.5), 1),
        "post_p95_ms": round(_pct(latencies, 0.95), 1),
        "health_requests_per_s": round(h_ok / h_elapsed),
        "health_failed": h_failed,
        "post_to_health_request_ratio": round((ok / elapsed) / (h_ok / h_elapsed), 4) if h_ok else None,
        "stored_rows": stored,
        "stored_as_expected": stored == expected,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "target_statements_per_s": TARGET,
    }
    path = OUT / f"xapi-post-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    verdict = "met" if rate >= TARGET else "NOT met"
    print(f"{rate:,.0f} statements/s (target >= {TARGET:,.0f}: {verdict}); written to {path.relative_to(HERE.parent)}")
    return 0 if stored == expected and not failed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
