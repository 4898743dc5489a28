#!/usr/bin/env python
"""Benchmark of the subscription renewal job: subscriptions renewed per second, and that a second run of
the same period charges nothing.

One command::

    python benchmarks/subscription_renewals.py                       # 2,000 subscriptions, PostgreSQL
    python benchmarks/subscription_renewals.py --subscriptions 500 --sqlite

What it does: a throwaway database (``elearning_bench_<random>`` on PostgreSQL, dropped at the end; or a
SQLite file in a temporary directory), migrated and filled through the platform itself (``bootstrap()``;
users, one plan, one saved card and one subscription each, through ``Platform.subscriptions``, the first
period charged by the fake gateway); then the clock is moved past the period's end and the job
``subscriptions.renew`` is run through the scheduler (``run_now``): the figure is its wall time for every
subscription (each charged off session and renewed in its own transaction, grants extended, events in the
outbox). The job is run a second time for the same period: it must move and charge nothing. Prints the
figures; it writes no file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"elearning_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield (
            make_url(admin_url)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def run(database_url: str, data_dir: Path, count: int) -> None:
    from dependency_injector import providers

    from elearning_adapters.container import bootstrap
    from elearning_adapters.payments.fake import FakePaymentGateway, card_token
    from elearning_adapters.settings import Settings
    from elearning_core.auth.service import user_principal
    from elearning_core.identity.commands import CreateUser
    from elearning_core.shared.clock import FixedClock
    from elearning_core.shared.ports import SYSTEM
    from elearning_core.subscription.commands import PlanSpec, SavePaymentMethod, Subscribe

    clock = FixedClock(datetime(2026, 1, 31, 12, tzinfo=UTC))
    platform = await bootstrap(Settings(database_url=database_url, data_dir=data_dir, scheduler="off"))
    platform.container.adapters.clock.override(providers.Object(clock))
    try:
        spec = {
            "code": "pro",
            "name": "Pro",
            "interval": "month",
            "prices": [{"currency": "EUR", "amount": 1900}],
            "tax_inclusive": True,
            "includes": {"all_courses": True},
            "status": "active",
        }
        await platform.plans.import_plans(SYSTEM, [PlanSpec.model_validate(spec)])
        started = time.perf_counter()
        for n in range(count):
            user = await platform.identity.create_user(
                SYSTEM, CreateUser(email=f"bench-{n}@example.org", display_name=f"Learner {n}")
            )
            me = user_principal(user.id, (), None, email_verified=True)
            await platform.subscriptions.save_payment_method(
                me, SavePaymentMethod(token=card_token("4242424242424242"))
            )
            cmd = Subscribe(plan_code="pro", currency="EUR", billing_name=f"Learner {n}", billing_country="FR")
            await platform.subscriptions.subscribe(me, cmd)
        seeded = time.perf_counter() - started
        gateway = platform.container.payment.gateway()
        assert isinstance(gateway, FakePaymentGateway)
        charges = gateway.charges
        clock.advance(timedelta(days=29))
        scheduler = platform.container.scheduling.scheduler()
        started = time.perf_counter()
        first = await scheduler.run_now("subscriptions.renew")
        renewal = time.perf_counter() - started
        started = time.perf_counter()
        second = await scheduler.run_now("subscriptions.renew")
        rerun = time.perf_counter() - started
        print(f"database: {database_url.split('://')[0]}, subscriptions: {count}")
        print(f"subscribe (user, card, first charge): {seeded:.2f} s, {count / seeded:.0f}/s")
        print(f"renew job: {first.result} in {renewal:.2f} s, {count / renewal:.0f} renewals/s")
        print(f"renew job again, same period: {second.result} in {rerun * 1000:.1f} ms")
        print(f"charges during the two runs: {gateway.charges - charges} (expected {count})")
        assert gateway.charges - charges == count
    finally:
        await platform.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=2000)
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.sqlite:
            asyncio.run(run(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", Path(tmp), args.subscriptions))
        else:
            with throwaway_database(args.postgres_url) as url:
                asyncio.run(run(url, Path(tmp), args.subscriptions))


if __name__ == "__main__":
    main()
