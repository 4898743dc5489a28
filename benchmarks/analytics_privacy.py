#!/usr/bin/env python
"""Benchmark of the analytics privacy work on PostgreSQL: one deleted learner's statements pseudonymised, and one
learner's statements exported.

One command::

    python benchmarks/analytics_privacy.py                       # 200,000 statements, the learner has 20,000
    python benchmarks/analytics_privacy.py --statements 1000000 --target 50000

What it does: creates a throwaway PostgreSQL database migrated to head and stores ``--statements`` statements
(``StatementWriter.insert_new``, as the projection does) of ``--learners`` learners, ``--target`` of them one
learner's. Then it times (1) the ``identity.user_deleted.v1`` handling of that learner
(``AnalyticsProjection.user_deleted``: the rewrite of every statement of theirs, in one transaction) and checks
that no statement names them any more, and (2) the NDJSON export of another learner with ``--target`` statements
(``StatementExport.ndjson``: pages of 500 read through the (actor, seq) index), bytes and statements per second,
and (3) what a writer of statements (a projection batch, an LRS ``POST``) adds for the accounts' advisory locks
(``lock_accounts``, one sweep of 100 and of 500 accounts in a write transaction), as medians over ``--rounds``
beside the same transaction with one ``SELECT 1`` (a round trip), interleaved.
Prints the figures and writes ``benchmarks/out/analytics-privacy-<time>.json``; the database is dropped at the end.
It does not edit RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sqlalchemy import String, cast, func, select, text  # noqa: E402

from analytics_ingest import run_and_report  # noqa: E402
from catalog import DEFAULT_ADMIN_URL, _cpu_model, _git_revision, _vacuum, log  # noqa: E402
from elearning_adapters.analytics.projection import AnalyticsProjection  # noqa: E402
from elearning_adapters.sql import migrate  # noqa: E402
from elearning_adapters.sql.analytics import (  # noqa: E402
    SqlLearnerStatements,
    StatementWriter,
    lock_accounts,
    xapi_statements,
)
from elearning_adapters.sql.engine import Database  # noqa: E402
from elearning_core.analytics.export import StatementExport  # noqa: E402
from elearning_core.analytics.mapping import StatementMapper  # noqa: E402
from elearning_core.analytics.model import Account, Activity, Agent, Statement, Verb  # noqa: E402
from elearning_core.analytics.pseudonyms import Pseudonyms, account_key  # noqa: E402
from elearning_core.analytics.vocabulary import EXPERIENCED, PlatformIris  # noqa: E402
from elearning_core.shared.clock import SystemClock  # noqa: E402

HOME = "https://learn.example.org"
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _statement(user: uuid.UUID, n: int) -> Statement:
    return Statement(
        id=uuid.uuid4(),
        actor=Agent(account=Account(home_page=HOME, name=str(user))),
        verb=Verb.of(EXPERIENCED),
        object=Activity(id=f"{HOME}/xapi/activities/lesson/{n % 50}"),
        timestamp=T0 + timedelta(seconds=n),
    )


async def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    db = Database(url)
    try:
        await migrate.upgrade(db)
        deleted, exported = uuid.uuid4(), uuid.uuid4()
        others = [uuid.uuid4() for _ in range(args.learners)]
        rest = args.statements - 2 * args.target
        owners = [deleted] * args.target + [exported] * args.target + [others[n % len(others)] for n in range(rest)]
        # Interleaved, as a learner's statements are among everyone's in stored order.
        owners.sort(key=lambda _: os.urandom(2))
        started = time.perf_counter()
        for begin in range(0, len(owners), 2_000):
            batch = [_statement(u, begin + i) for i, u in enumerate(owners[begin : begin + 2_000])]
            async with db.write() as conn, conn.begin():
                await StatementWriter(conn).insert_new(batch, SystemClock().now())
        log(f"stored {len(owners)} statements in {time.perf_counter() - started:.1f} s")
        await asyncio.to_thread(_vacuum, url)

        projection = AnalyticsProjection(StatementMapper(PlatformIris(HOME)), SystemClock(), Pseudonyms(b"bench"))
        started = time.perf_counter()
        async with db.write() as conn, conn.begin():
            rewritten = await projection.user_deleted(deleted, conn)
        pseudonymise_seconds = time.perf_counter() - started
        s = xapi_statements
        async with db.read() as conn:
            left = (
                await conn.execute(
                    select(func.count()).where(cast(s.c.statement, String).contains(str(deleted), autoescape=True))
                )
            ).scalar_one()
        assert rewritten == args.target, (rewritten, args.target)
        assert left == 0, left

        export = StatementExport(exported, account_key(HOME, str(exported)), SqlLearnerStatements(db))
        started = time.perf_counter()
        size = lines = 0
        async for chunk in export.ndjson():
            size += len(chunk)
            lines += chunk.count(b"\n")
        export_seconds = time.perf_counter() - started
        assert lines == args.target, (lines, args.target)
        locks = await _lock_cost(db, [str(u) for u in others], args.rounds)
        return {
            "benchmark": "analytics-privacy",
            "statements": len(owners),
            "learner_statements": args.target,
            "pseudonymise_seconds": round(pseudonymise_seconds, 2),
            "pseudonymised_per_second": round(rewritten / pseudonymise_seconds),
            "export_seconds": round(export_seconds, 2),
            "exported_per_second": round(lines / export_seconds),
            "export_bytes": size,
            **locks,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "cpu": _cpu_model(),
            "revision": _git_revision(),
        }
    finally:
        await db.dispose()


async def _lock_cost(db: Database, accounts: list[str], rounds: int) -> dict[str, float]:
    """Median milliseconds of a write transaction with one round trip, and with the account locks of 100 and
    of 500 accounts, the three interleaved round after round."""

    async def one_round_trip() -> None:
        async with db.write() as conn, conn.begin():
            await conn.execute(text("SELECT 1"))

    def sweep(n: int) -> Any:
        async def timed() -> None:
            async with db.write() as conn, conn.begin():
                await lock_accounts(conn, accounts[:n])

        return timed

    kinds = {"round_trip_ms": one_round_trip, "locks_100_ms": sweep(100), "locks_500_ms": sweep(500)}
    samples: dict[str, list[float]] = {name: [] for name in kinds}
    for _ in range(rounds):
        for name, call in kinds.items():
            started = time.perf_counter()
            await call()
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: round(statistics.median(values), 3) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--statements", type=int, default=200_000)
    parser.add_argument("--learners", type=int, default=2_000)
    parser.add_argument("--target", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=300, help="rounds of the account-lock timing")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    run_and_report("analytics-privacy", parser.parse_args(), run)


if __name__ == "__main__":
    main()
