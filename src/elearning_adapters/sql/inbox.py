"""The inbox: which events each consumer has already handled (consumer-side idempotency).

Delivery is at-least-once, so a consumer may see an event again (a redelivery
after a crash before the offset commit, a rebalance, a duplicate publish).
A handler records ``(consumer, event_id)`` in the same transaction as its
effect; if the row is already there the effect was committed before and the
handler is skipped. Concurrent deliveries of one event queue on the primary
key: the second insert waits for the first transaction and then does nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, String, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Uuid

from elearning_adapters.sql.engine import UtcDateTime, metadata

inbox = Table(
    "inbox",
    metadata,
    Column("consumer", String(200), primary_key=True),
    Column("event_id", Uuid, primary_key=True),
    Column("processed_at", UtcDateTime, nullable=False),
)


async def record_processed(
    conn: AsyncConnection, consumer: str, event_id: uuid.UUID, *, at: datetime | None = None
) -> bool:
    """Record ``event_id`` as handled by ``consumer`` in the caller's transaction.

    Returns False, writing nothing, if it was recorded before. The caller
    commits (together with the handler's effect) or rolls back.
    """
    values = {"consumer": consumer, "event_id": event_id, "processed_at": at or datetime.now(UTC)}
    dialect = conn.dialect.name
    statement: Any
    if dialect == "postgresql":
        statement = (
            postgresql.insert(inbox)
            .values(values)
            .on_conflict_do_nothing(index_elements=[inbox.c.consumer, inbox.c.event_id])
        )
    elif dialect == "sqlite":
        statement = (
            sqlite.insert(inbox)
            .values(values)
            .on_conflict_do_nothing(index_elements=[inbox.c.consumer, inbox.c.event_id])
        )
    else:  # pragma: no cover - the platform runs on PostgreSQL and SQLite only
        raise NotImplementedError(f"the inbox does not support the {dialect} dialect")
    # RETURNING rather than rowcount: a skipped conflict returns no row on both backends, whatever the driver reports.
    inserted = await conn.execute(statement.returning(inbox.c.event_id))
    return inserted.first() is not None


async def prune_inbox(conn: AsyncConnection, older_than: timedelta, *, now: datetime | None = None) -> int:
    """Forget events handled more than ``older_than`` ago (in the caller's transaction).

    The retention must outlast any redelivery: the outbox retention (days),
    far beyond a consumer's uncommitted window or a relay's retry.
    """
    cutoff = (now or datetime.now(UTC)) - older_than
    result = await conn.execute(delete(inbox).where(inbox.c.processed_at < cutoff))
    return int(result.rowcount)


async def is_processed(conn: AsyncConnection, consumer: str, event_id: uuid.UUID) -> bool:
    query = select(inbox.c.event_id).where(inbox.c.consumer == consumer, inbox.c.event_id == event_id)
    return (await conn.execute(query)).first() is not None
