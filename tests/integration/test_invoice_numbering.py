"""Gapless invoice numbers under real concurrency: 100 invoices issued at once through the
platform's billing service get 100 consecutive numbers, while other transactions take numbers and
roll back on purpose, and repeats of one order fail after taking theirs. Also: PostgreSQL refuses
to update an issued invoice or a posted ledger entry."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from elearning_adapters.container import Platform, bootstrap
from elearning_adapters.settings import Settings
from elearning_adapters.sql.billing import invoices
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.billing.commands import EvidenceInput, IssueInvoice, LineInput, ProfileInput
from elearning_core.billing.ledger import Account
from elearning_core.billing.model import EvidenceKind
from elearning_core.billing.service import document_key
from elearning_core.shared.errors import Conflict
from elearning_core.shared.ports import SYSTEM
from tests.conftest import truncate_all

ISSUES = 100
ROLLBACKS = 20
REPEATS = 10


class Abandoned(Exception):
    """Raised inside a unit of work on purpose, after it took a number."""


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    # Issues of one series queue on its counter row by design: 130 requests at once wait longer than the
    # default pool timeout for a connection, and (on a busy machine: another test worker on the other
    # core) than the request's lock and statement timeouts. The test is about the numbers, not those bounds.
    return Settings(
        database_url=request.getfixturevalue("postgres_url"),
        data_dir=tmp_path,
        db_pool_size=20,
        db_pool_timeout_seconds=60,
        db_lock_timeout_ms=60_000,
        db_statement_timeout_ms=60_000,
    )


@pytest.fixture
async def platform(settings: Settings) -> AsyncIterator[Platform]:
    async with await bootstrap(settings, run_migrations=False, start_keys=False) as platform:
        await truncate_all(platform.database)
        yield platform


def an_order(n: int, order: str | None = None) -> IssueInvoice:
    return IssueInvoice(
        customer_id=uuid.uuid4(),
        order_ref=order or f"order-{n}",
        currency="EUR",
        profile=ProfileInput(
            name=f"Learner {n}", country="FR", evidence=[EvidenceInput(kind=EvidenceKind.IP_ADDRESS, country="FR")]
        ),
        lines=[LineInput(description="Course", unit_price=1000 + n, reference="course:x")],
    )


async def test_concurrent_issues_get_consecutive_numbers_with_rollbacks_in_between(
    platform: Platform, settings: Settings
) -> None:
    service = platform.billing
    rng = random.Random(15)
    await service.issue_invoice(SYSTEM, an_order(0, "the-repeated-order"))

    async def issue(n: int) -> str:
        await asyncio.sleep(rng.random() / 100)
        return (await service.issue_invoice(SYSTEM, an_order(n))).number

    async def abandon(n: int) -> None:
        await asyncio.sleep(rng.random() / 100)
        with pytest.raises(Abandoned):
            await take_a_number_and_fail()

    async def take_a_number_and_fail() -> None:
        unit: SqlUnitOfWork = platform.container.adapters.unit_of_work()
        async with unit as uow:
            await uow.invoice_numbers.next("INV", service_year)
            await asyncio.sleep(0.005)
            raise Abandoned

    async def repeat(n: int) -> None:
        await asyncio.sleep(rng.random() / 100)
        # Another customer's repeat of an invoiced order is refused (after the lookup, before a number
        # would be kept): it must leave no gap either.
        with pytest.raises(Conflict):
            await service.issue_invoice(SYSTEM, an_order(n, "the-repeated-order"))

    service_year = (await service.export(SYSTEM, *_all_time()))[0].year
    work = [issue(n) for n in range(1, ISSUES + 1)]
    work += [abandon(n) for n in range(ROLLBACKS)]
    work += [repeat(n) for n in range(REPEATS)]
    rng.shuffle(work)
    results = await asyncio.wait_for(asyncio.gather(*work), timeout=90)

    numbers = sorted(r for r in results if isinstance(r, str))
    assert len(numbers) == ISSUES
    expected = [f"INV-{service_year}-{n:06d}" for n in range(2, ISSUES + 2)]  # 1 is the repeated order's
    assert numbers == expected
    async with platform.database.read() as conn:
        stored = list((await conn.execute(select(invoices.c.number).order_by(invoices.c.number))).scalars())
        count = (await conn.execute(select(func.count()).select_from(invoices))).scalar_one()
    assert stored == [f"INV-{service_year}-000001", *expected]
    assert count == ISSUES + 1
    balances = await service.balances(SYSTEM)
    assert sum(b.amount for b in balances) == 0
    receivables = {b.account: b.amount for b in balances}[Account.RECEIVABLES]
    exported = await service.export(SYSTEM, *_all_time())
    assert receivables == sum(i.gross.amount for i in exported)
    # The billing-documents subscription rendered and stored every invoice's documents.
    transport = platform.events
    assert transport is not None
    await asyncio.wait_for(transport.drain(), timeout=90)
    for invoice in exported:
        pdf = (settings.resolved_media_dir / document_key(invoice.number, "pdf")).read_bytes()
        assert pdf.startswith(b"%PDF-")
    assert await service.document(SYSTEM, exported[-1].id, "pdf") == pdf


async def test_postgres_refuses_to_update_issued_invoices_and_posted_entries(platform: Platform) -> None:
    await platform.billing.issue_invoice(SYSTEM, an_order(1))
    for table, column in (("invoices", "gross"), ("ledger_entries", "amount"), ("invoice_lines", "net")):
        async with platform.database.write() as conn:
            with pytest.raises(Exception, match="immutable"):
                await conn.execute(text(f"UPDATE {table} SET {column} = 1"))
            await conn.rollback()


def _all_time() -> tuple[datetime, datetime]:
    return datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
