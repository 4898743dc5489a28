"""Revenue per course and month from the billing ledger (``elearning_core.analytics.revenue``), in the caller's
transaction: on an invoice's events (``billing.invoice_issued.v1``, ``billing.credit_note_issued.v1``, both
with the invoice as aggregate) the projection counts that invoice's ledger transactions, and the rebuild
counts every invoice's. A transaction counts once, whoever meets it first (``analytics_revenue_counted``).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import BigInteger, String, column, select, table
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Uuid

from elearning_adapters.sql.analytics._aggregate_tables import (
    analytics_revenue,
    analytics_revenue_buyers,
    analytics_revenue_counted,
)
from elearning_adapters.sql.analytics._aggregate_writer import AggregateWriter, course_zones
from elearning_adapters.sql.engine import UtcDateTime, dialect_insert
from elearning_core.analytics.revenue import RevenueEntry, course_of_reference, revenue_delta

REVENUE_EVENTS = ("billing.invoice_issued.v1", "billing.credit_note_issued.v1")
_ACCOUNTS = ("revenue", "refunds")
_KINDS = ("invoice", "credit_note")
_CHUNK = 500
# The billing module's tables, as far as the aggregates read them (no import of its adapter).
_entries = table(
    "ledger_entries",
    column("transaction_id", Uuid),
    column("account", String),
    column("reference", String),
    column("invoice_id", Uuid),
    column("currency", String),
    column("amount", BigInteger),
    column("kind", String),
    column("occurred_at", UtcDateTime),
)
_invoices = table("invoices", column("id", Uuid), column("customer_id", Uuid))


async def count_revenue(conn: AsyncConnection, invoices: Iterable[uuid.UUID], platform_zone: str) -> None:
    """Count the invoices' ledger transactions (invoice and credit notes) not counted yet."""
    wanted = sorted(set(invoices))
    for start in range(0, len(wanted), _CHUNK):
        await _count(conn, wanted[start : start + _CHUNK], platform_zone)


async def _count(conn: AsyncConnection, invoices: list[uuid.UUID], platform_zone: str) -> None:
    e, i = _entries, _invoices
    rows = (
        await conn.execute(
            select(
                e.c.transaction_id,
                e.c.reference,
                e.c.currency,
                e.c.amount,
                e.c.occurred_at,
                e.c.account,
                i.c.customer_id,
            )
            .select_from(e.outerjoin(i, i.c.id == e.c.invoice_id))
            .where(e.c.invoice_id.in_(invoices), e.c.account.in_(_ACCOUNTS), e.c.kind.in_(_KINDS))
        )
    ).all()
    transactions = sorted({row[0] for row in rows})
    if not transactions:
        return
    c = analytics_revenue_counted
    inserted = await conn.execute(
        dialect_insert(conn, c).on_conflict_do_nothing().returning(c.c.transaction_id),
        [{"transaction_id": t} for t in transactions],
    )
    new = set(inserted.scalars())
    entries = [
        RevenueEntry(tx, reference, currency, int(amount), at, customer, account == "revenue")
        for tx, reference, currency, amount, at, account, customer in rows
        if tx in new
    ]
    courses = {course for entry in entries if (course := course_of_reference(entry.reference)) is not None}
    zones = await course_zones(conn, courses, platform_zone)
    delta = revenue_delta(entries, zones)
    writer = AggregateWriter(conn)
    buyers: Counter[tuple[Any, ...]] = Counter()
    for scope, month, currency, n in await writer.new_keys(
        analytics_revenue_buyers, sorted(delta.purchasers), ("course_id", "month", "currency", "customer")
    ):
        buyers[scope, month, currency] += n
    r = analytics_revenue
    totals = [
        {
            "course_id": s,
            "month": m,
            "currency": cur,
            "net_minor": delta.net.get((s, m, cur), 0),
            "purchasers": buyers.get((s, m, cur), 0),
        }
        for s, m, cur in sorted(set(delta.net) | set(buyers))
    ]
    await writer.upsert(
        r,
        totals,
        ["course_id", "month", "currency"],
        lambda x: {"net_minor": r.c.net_minor + x.net_minor, "purchasers": r.c.purchasers + x.purchasers},
    )


async def invoices_in_ledger(conn: AsyncConnection) -> list[uuid.UUID]:
    """Every invoice with revenue or refunds booked (what the rebuild counts)."""
    e = _entries
    found = await conn.execute(
        select(e.c.invoice_id).where(e.c.account.in_(_ACCOUNTS), e.c.invoice_id.is_not(None)).distinct()
    )
    return sorted(found.scalars())
