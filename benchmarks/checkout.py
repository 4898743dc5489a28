"""Checkout with the fake gateway on PostgreSQL: latency at 20 checkouts/s open loop, and zero double charges.

    python benchmarks/checkout.py                       # 30 s per phase
    python benchmarks/checkout.py --seconds 10 --no-record

One run on one throwaway database (issue 15's figure: p95 < 150 ms at 20 checkouts/s, zero double charges):

1. Seed: ``--courses`` published courses priced 49.00 EUR (tax-inclusive), ``--buyers`` accounts, each with a
   billing profile (Germany), signed in once. Every checkout buys a distinct (buyer, course) pair.
2. **Baseline** in the same run and at the same rate: ``GET /api/v1/me/billing-profile``, a cheap
   authenticated read, so the checkout figure is also given as a ratio to it.
3. **Checkout**: an open-loop client starts ``POST /api/v1/checkout`` (its own ``Idempotency-Key``, card
   4242 4242 4242 4242: succeeds) every 1/rate s; each one creates the order, charges the fake gateway and
   completes the order in one transaction (paid, grant, enrollment, invoice with its gapless number, ledger).
4. **Double charges**: the fake gateway's count of charges (``GET /bench/charges``, from the server process)
   against the paid orders and the ledger's payment postings; all three must be equal.

Figures are appended to benchmarks/RESULTS.md (``--no-record`` to skip).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from auth import run_server
from catalog import (
    DEFAULT_ADMIN_URL,
    LIMITS_OUT_OF_REACH,
    OUT,
    RESULTS,
    _cpu_seconds,
    _http_get,
    environment_facts,
    log,
    throwaway_database,
)
from outline import _pct
from progress import _open_loop, _row, _tokens

PASSWORD = "benchmark-password-0"
TARGET_P95_MS = 150.0
CARD = "fake_card_4242424242424242"
PROFILE = {
    "name": "Bench Buyer",
    "address": "1 Main St, Berlin",
    "country": "DE",
    "evidence": [{"kind": "billing_address", "country": "DE"}],
}


async def _seed(url: str, secret: str, buyers: int, courses: int) -> list[str]:
    """Priced courses and buyers (``learner{n}@example.org``, as ``progress._tokens`` signs them in)."""
    from elearning_adapters.container import bootstrap
    from elearning_adapters.settings import Settings
    from elearning_core.checkout.commands import PriceInput, SetPrices
    from elearning_core.checkout.model import ItemKind
    from elearning_core.course.commands import CourseSpec, LessonContentSpec, LessonSpec, SectionSpec
    from elearning_core.course.model import CourseStatus
    from elearning_core.identity.commands import CreateUser
    from elearning_core.shared.ports import SYSTEM

    async with await bootstrap(Settings(database_url=url, secret_key=secret, cache="none")) as platform:
        ids = []
        lesson = LessonSpec(title="The lesson", content=LessonContentSpec(body_markdown="A page."))
        specs = [
            CourseSpec(
                slug=f"bench-checkout-{n}",
                title=f"Checkout benchmark course {n}",
                status=CourseStatus.PUBLISHED,
                sections=[SectionSpec(title="Part 1", lessons=[lesson])],
            )
            for n in range(courses)
        ]
        for course in await platform.courses.import_courses(SYSTEM, specs):
            prices = SetPrices(prices=[PriceInput(currency="EUR", amount=4900)], tax_inclusive=True)
            await platform.checkout.set_prices(SYSTEM, ItemKind.COURSE, course.id, prices)
            ids.append(str(course.id))
        for n in range(buyers):
            await platform.identity.create_user(
                SYSTEM, CreateUser(email=f"learner{n}@example.org", display_name=f"Buyer {n}", password=PASSWORD)
            )
        return ids


async def _profiles(base: str, tokens: list[dict[str, str]]) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for headers in tokens:
            (await client.put("/api/v1/me/billing-profile", json=PROFILE, headers=headers)).raise_for_status()


async def _drain(url: str, secret: str) -> None:
    from elearning_adapters.container import bootstrap
    from elearning_adapters.settings import Settings

    async with await bootstrap(Settings(database_url=url, secret_key=secret, cache="none")) as platform:
        assert platform.events is not None
        await platform.events.drain()


@contextlib.contextmanager
def _events_worker(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m elearning_workers events`` on the benchmark's database: the handlers beside the API."""
    with (OUT / "checkout_events_worker.log").open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "elearning_workers", "events"],
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _counts(url: str) -> dict[str, int]:
    import psycopg

    from catalog import _libpq

    queries = {
        "orders": "SELECT count(*) FROM orders",
        "paid": "SELECT count(*) FROM orders WHERE status = 'paid'",
        "ledger_payments": "SELECT count(*) FROM ledger_transactions WHERE key LIKE 'payment:%'",
        "payment_ids": "SELECT count(DISTINCT payment_id) FROM orders WHERE payment_id IS NOT NULL",
        "invoices": "SELECT count(*) FROM invoices",
    }
    with psycopg.connect(_libpq(url)) as conn:
        return {name: int(conn.execute(sql).fetchall()[0][0]) for name, sql in queries.items()}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default=os.environ.get("BENCH_ADMIN_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each open-loop phase")
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--buyers", type=int, default=40)
    parser.add_argument("--courses", type=int, default=20)
    parser.add_argument(
        "--events",
        choices=("in-process", "events-worker", "workers"),
        default="in-process",
        help="in-process: the embedded default, every subscription (invoicing, the invoice PDFs) runs in the "
        "server process; events-worker: the server only writes the outbox (ELEARNING_EVENTS_RELAY=worker) and "
        "`python -m elearning_workers events` handles it concurrently in a process of its own; workers: the "
        "server only writes the outbox (ELEARNING_KAFKA_BOOTSTRAP_SERVERS set, as in a deployment whose consumers "
        "run elsewhere), drained by this script after the phase",
    )
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    count = int(args.rate * args.seconds)
    if count > args.buyers * args.courses:
        parser.error(f"{count} checkouts need more (buyer, course) pairs than {args.buyers} x {args.courses}")
    started = time.perf_counter()
    OUT.mkdir(exist_ok=True)
    facts = environment_facts(argparse.Namespace(wrk="wrk"))
    with throwaway_database(args.admin_url) as url:
        env = {
            "ELEARNING_DATABASE_URL": url,
            "ELEARNING_SECRET_KEY": secrets.token_urlsafe(32),
            "ELEARNING_ACCESS_TOKEN_TTL_SECONDS": "3600",
            "ELEARNING_CACHE": "memory" if args.events == "in-process" else "none",
            "ELEARNING_LOGIN_LIMIT_PER_IP": "100000",
            "ELEARNING_PAYMENTS_PROVIDER": "fake",
            **LIMITS_OUT_OF_REACH,
            "ELEARNING_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9" if args.events == "workers" else "",
            "ELEARNING_REDIS_URL": "",
            "ELEARNING_EVENTS_RELAY": "worker" if args.events == "events-worker" else "serve",
        }
        log(f"seeding: {args.courses} priced courses, {args.buyers} buyers")
        courses = asyncio.run(_seed(url, env["ELEARNING_SECRET_KEY"], args.buyers, args.courses))
        worker = _events_worker(env) if args.events == "events-worker" else contextlib.nullcontext()
        with (
            worker as handler,
            run_server(env, OUT / "checkout_server.log", app="_checkout_server:create_bench_app") as (server, base),
        ):
            tokens = asyncio.run(_tokens(base, args.buyers))
            asyncio.run(_profiles(base, tokens))
            log(f"baseline GET /api/v1/me/billing-profile: {args.rate:g}/s for {args.seconds:.0f} s")
            reads = [("GET", "/api/v1/me/billing-profile", tokens[i % args.buyers], None) for i in range(count)]
            cpu_before = _cpu_seconds(server.pid)
            baseline = asyncio.run(_open_loop(base, reads, args.rate))
            baseline_cpu = _cpu_seconds(server.pid) - cpu_before
            log(f"checkout: {args.rate:g}/s for {args.seconds:.0f} s")
            buys = []
            for i in range(count):
                # Spread over the courses (consecutive checkouts buy different courses), each pair bought once.
                course, buyer = i % args.courses, (i // args.courses) % args.buyers
                headers = {**tokens[buyer], "Idempotency-Key": str(uuid.uuid4())}
                body = {"item_id": courses[course], "currency": "EUR", "payment_method": CARD}
                buys.append(("POST", "/api/v1/checkout", headers, body))
            load = os.getloadavg()[0]
            cpu_before = _cpu_seconds(server.pid)
            handler_before = _cpu_seconds(handler.pid) if handler is not None else 0.0
            checkouts = asyncio.run(_open_loop(base, buys, args.rate))
            checkout_cpu = _cpu_seconds(server.pid) - cpu_before
            charges = json.loads(_http_get(f"{base}/bench/charges", timeout=10)[1])["charges"]
            caught_up = None
            if args.events != "workers":
                # The server's own consumers invoice and book after the answers: wait (bounded) until they
                # have, so the counts below are final, and say how long they trailed the last checkout.
                phase_end = time.perf_counter()
                for _ in range(300):
                    settled = _counts(url)
                    if settled["invoices"] == settled["ledger_payments"] == settled["paid"]:
                        caught_up = time.perf_counter() - phase_end
                        break
                    time.sleep(0.1)
            handler_cpu = _cpu_seconds(handler.pid) - handler_before if handler is not None else None
        if args.events == "workers":
            log("draining the outbox in this process (the consumers' work: invoicing, documents)")
            asyncio.run(_drain(url, env["ELEARNING_SECRET_KEY"]))
        counts = _counts(url)
    p95, p99 = _pct(checkouts[0], 0.95), _pct(checkouts[0], 0.99)
    base_p95 = _pct(baseline[0], 0.95)
    doubles = charges - counts["paid"]
    lines = [
        "",
        f"## Checkout with the fake gateway on PostgreSQL, events {args.events} ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"`python benchmarks/checkout.py --seconds {args.seconds:g} --rate {args.rate:g} --events {args.events}`; {facts['cpus']}, "
        f"Python {facts['python']}, revision {facts['revision']}. Open loop, {count} requests per phase.",
        "",
        "| phase | n | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
        _row("baseline `GET /api/v1/me/billing-profile`", baseline[0]),
        _row("**checkout** `POST /api/v1/checkout`", checkouts[0]),
        "",
        f"- failures: baseline {baseline[1]}, checkout {checkouts[1]}; achieved rate {checkouts[2]:.1f}/s",
        f"- server CPU per request: baseline {baseline_cpu / count * 1000:.1f} ms, checkout "
        f"{checkout_cpu / count * 1000:.1f} ms"
        + (f" (and the events worker {handler_cpu / count * 1000:.1f} ms)" if handler_cpu is not None else "")
        + f"; 1-minute load average at the checkout phase's start {load:.1f} "
        f"on {os.cpu_count()} CPUs (other processes share the machine)",
        f"- checkout p95 {p95:.1f} ms (target < {TARGET_P95_MS:.0f} ms: {'met' if p95 < TARGET_P95_MS else 'NOT met'}),"
        f" p99 {p99:.1f} ms; p95 ratio to the baseline {p95 / base_p95:.1f}x",
        f"- orders {counts['orders']}, paid {counts['paid']}, gateway charges {charges}, ledger payment postings "
        f"{counts['ledger_payments']}, distinct payment ids {counts['payment_ids']}, invoices {counts['invoices']}: "
        f"double charges {doubles}"
        + (
            ""
            if args.events == "workers"
            else f"; the invoicing ({args.events}) caught up {caught_up:.1f} s after the last checkout"
            if caught_up is not None
            else f"; the invoicing ({args.events}) had NOT caught up 30 s after the last checkout"
        ),
        f"- whole run {time.perf_counter() - started:.0f} s",
    ]
    print("\n".join(lines))
    if not args.no_record:
        with RESULTS.open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
