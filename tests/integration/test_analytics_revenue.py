"""Revenue per course and month from the billing ledger, on SQLite and PostgreSQL: an invoice's events count
its ledger transactions (net of credit notes) in the month of the course's time zone and the platform's, a
redelivered event or a second event of the same invoice counts nothing twice, and the rebuild from the ledger
gives the same figures."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from elearning_adapters.analytics.projection import project
from elearning_adapters.sql.analytics import SqlAggregateReads, rebuild_aggregates
from elearning_adapters.sql.billing import invoices, ledger_entries, ledger_transactions
from elearning_adapters.sql.engine import Database
from elearning_core.analytics.aggregates import RevenueMonth
from elearning_core.billing.events import CreditNoteIssued, InvoiceIssued
from elearning_core.shared.clock import FixedClock
from tests.analytics_history import COURSES, LEARNERS, MAPPER, PLATFORM_ZONE, SINCE, UNTIL
from tests.conftest import migrated_sqlite
from tests.integration.test_analytics_aggregates import NOW, setup

C0, C1 = COURSES
INV1, INV2 = uuid.UUID(int=0x901), uuid.UUID(int=0x902)
MARCH_31 = datetime(2026, 3, 31, 12, tzinfo=UTC)  # 1 April in Auckland (C0), 31 March in New York
APRIL_10, APRIL_15 = datetime(2026, 4, 10, tzinfo=UTC), datetime(2026, 4, 15, tzinfo=UTC)


def invoice_row(ident: uuid.UUID, customer: uuid.UUID, n: int, at: datetime) -> dict[str, object]:
    return {
        "id": ident, "number": f"INV-{n}", "series": "INV", "year": 2026, "customer_id": customer,
        "order_ref": f"order-{n}", "currency": "EUR", "profile": {}, "tax_rate_bp": 0, "tax_treatment": "none",
        "tax_note": "", "tax_inclusive": False, "net": 0, "tax": 0, "gross": 0, "issued_at": at,
    }  # fmt: skip


async def post(db: Database, kind: str, invoice: uuid.UUID, at: datetime, lines: list[tuple[str, str, int]]) -> None:
    """A ledger transaction of the invoice: its revenue/refunds lines (account, reference, amount) and receivables."""
    tx = uuid.uuid4()
    entries = [(account, reference, amount) for account, reference, amount in lines]
    entries.append(("receivables", "", -sum(amount for _, _, amount in lines)))
    async with db.write() as conn, conn.begin():
        await conn.execute(insert(ledger_transactions).values(id=tx, key=f"{kind}:{tx}", kind=kind, occurred_at=at))
        await conn.execute(
            insert(ledger_entries),
            [
                {"transaction_id": tx, "position": n, "account": account, "reference": reference, "invoice_id": invoice,
                 "currency": "EUR", "amount": amount, "kind": kind, "occurred_at": at}
                for n, (account, reference, amount) in enumerate(entries)
            ],
        )  # fmt: skip


def issued(invoice: uuid.UUID, customer: uuid.UUID, at: datetime) -> InvoiceIssued:
    return InvoiceIssued(
        occurred_at=at, aggregate_id=invoice, number="x", customer_id=customer, order_ref="o", currency="EUR", total=0
    )


EXPECTED_C0 = [RevenueMonth(date(2026, 4, 1), "EUR", 5000 + 2000 - 1000, 2)]
EXPECTED_C1 = [RevenueMonth(date(2026, 3, 1), "EUR", 3000, 1)]
EXPECTED_PLATFORM = [
    RevenueMonth(date(2026, 3, 1), "EUR", 8000, 1),
    RevenueMonth(date(2026, 4, 1), "EUR", 1000, 1),
]


async def figures(db: Database) -> tuple[list[RevenueMonth], list[RevenueMonth], list[RevenueMonth]]:
    reads = SqlAggregateReads(db, PLATFORM_ZONE)
    c0, c1 = await reads.course(C0, SINCE, UNTIL), await reads.course(C1, SINCE, UNTIL)
    assert c0 is not None
    assert c1 is not None
    return c0.revenue, c1.revenue, (await reads.platform(SINCE, UNTIL)).revenue


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return (
        migrated_sqlite(tmp_path / "revenue.db")
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )


def test_revenue_per_course_and_month_from_the_ledger(url: str) -> None:
    async def go() -> None:
        db = Database(url)
        try:
            await setup(db)
            async with db.write() as conn, conn.begin():
                await conn.execute(
                    insert(invoices),
                    [invoice_row(INV1, LEARNERS[0], 1, MARCH_31), invoice_row(INV2, LEARNERS[1], 2, APRIL_10)],
                )
            await post(db, "invoice", INV1, MARCH_31, [("revenue", str(C0), -5000), ("revenue", str(C1), -3000)])
            await post(db, "invoice", INV2, APRIL_10, [("revenue", str(C0), -2000), ("revenue", "not-a-course", -70)])
            await post(db, "credit_note", INV1, APRIL_15, [("refunds", str(C0), 1000)])
            first = issued(INV1, LEARNERS[0], MARCH_31)
            events = [
                first,
                issued(INV2, LEARNERS[1], APRIL_10),
                CreditNoteIssued(occurred_at=APRIL_15, aggregate_id=INV1, number="CN-1", credit_note_id=uuid.uuid4(),
                                 customer_id=LEARNERS[0], order_ref="o", currency="EUR", total=1000, full=False),
            ]  # fmt: skip
            for batch in ([events[0]], events[1:], [first]):  # the last: a redelivery
                async with db.write() as conn, conn.begin():
                    await project(MAPPER, FixedClock(NOW), batch, conn, platform_zone=PLATFORM_ZONE)
            assert await figures(db) == (EXPECTED_C0, EXPECTED_C1, EXPECTED_PLATFORM)
            await rebuild_aggregates(db, PLATFORM_ZONE, chunk_size=1)
            assert await figures(db) == (EXPECTED_C0, EXPECTED_C1, EXPECTED_PLATFORM)
        finally:
            await db.dispose()

    asyncio.run(go())
