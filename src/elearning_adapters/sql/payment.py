"""The payment tables: the providers' webhook inbox and the payments' recorded states.

``payment_webhook_events`` is keyed by (provider, event id): a repeated delivery's insert finds
the row (``ON CONFLICT DO NOTHING``), and concurrent deliveries of one event queue on the key,
so exactly one of them goes on to apply it. ``payment_records`` holds each payment's state as
its webhooks moved it; ``lock`` creates the row when missing and locks it (PostgreSQL
``FOR UPDATE``; SQLite serialises writers anyway), so two different webhooks of one payment
apply one after the other and the state only moves forward.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, PrimaryKeyConstraint, String, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import JSON

from elearning_adapters.sql.engine import UtcDateTime, dialect_insert, metadata
from elearning_core.payment.model import GatewayEvent, Money, PaymentRecord, PaymentStatus
from elearning_core.payment.ports import PaymentRecords, WebhookInbox

payment_webhook_events = Table(
    "payment_webhook_events",
    metadata,
    Column("provider", String(20), nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("type", String(100), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("payload", JSON, nullable=False),
    PrimaryKeyConstraint("provider", "event_id"),
)

payment_records = Table(
    "payment_records",
    metadata,
    Column("provider", String(20), nullable=False),
    Column("payment_id", String(255), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=True),
    Column("refunded", BigInteger, nullable=False),
    Column("decline_code", String(100), nullable=True),
    Column("updated_at", UtcDateTime, nullable=True),
    PrimaryKeyConstraint("provider", "payment_id"),
)

PAYMENT_TABLES = ("payment_records", "payment_webhook_events")


def _insert_ignoring_conflicts(conn: AsyncConnection, table: Table) -> Any:
    return dialect_insert(conn, table).on_conflict_do_nothing(index_elements=list(table.primary_key.columns))


class SqlWebhookInbox(WebhookInbox):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, event: GatewayEvent, received_at: datetime) -> bool:
        row = {
            "provider": event.provider,
            "event_id": event.event_id,
            "type": event.provider_type[:100],
            "received_at": received_at,
            "payload": event.payload,
        }
        statement = _insert_ignoring_conflicts(self._conn, payment_webhook_events).values(row)
        inserted = await self._conn.execute(statement.returning(payment_webhook_events.c.event_id))
        return inserted.first() is not None


class SqlPaymentRecords(PaymentRecords):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._seen: list[PaymentRecord] = []

    def seen(self) -> list[PaymentRecord]:
        """The records saved in this unit of work (their events go to the outbox)."""
        return list(self._seen)

    async def lock(self, provider: str, payment_id: str, amount: Money) -> PaymentRecord:
        empty = {
            "provider": provider,
            "payment_id": payment_id,
            "amount": amount.amount,
            "currency": amount.currency,
            "refunded": 0,
        }
        await self._conn.execute(_insert_ignoring_conflicts(self._conn, payment_records).values(empty))
        query = select(payment_records).where(
            payment_records.c.provider == provider, payment_records.c.payment_id == payment_id
        )
        if self._conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await self._conn.execute(query)).mappings().one()
        return _record(row)

    async def get(self, provider: str, payment_id: str) -> PaymentRecord | None:
        query = select(payment_records).where(
            payment_records.c.provider == provider, payment_records.c.payment_id == payment_id
        )
        row = (await self._conn.execute(query)).mappings().first()
        return None if row is None else _record(row)

    async def save(self, record: PaymentRecord) -> None:
        await self._conn.execute(
            update(payment_records)
            .where(payment_records.c.provider == record.provider, payment_records.c.payment_id == record.payment_id)
            .values(
                status=None if record.status is None else record.status.value,
                refunded=record.refunded,
                decline_code=record.decline_code,
                updated_at=record.updated_at,
            )
        )
        if all(r is not record for r in self._seen):
            self._seen.append(record)


def _record(row: Any) -> PaymentRecord:
    return PaymentRecord(
        row["provider"],
        row["payment_id"],
        Money(int(row["amount"]), row["currency"]),
        status=None if row["status"] is None else PaymentStatus(row["status"]),
        refunded=int(row["refunded"]),
        decline_code=row["decline_code"],
        updated_at=row["updated_at"],
    )
