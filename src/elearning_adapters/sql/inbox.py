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
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, String, Table, bindparam, delete, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Uuid

from elearning_adapters.sql.engine import UtcDateTime, dialect_insert, metadata

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
    return event_id in await record_processed_many(conn, consumer, [event_id], at=at)


INSERT_CHUNK = 300
"""Rows per multi-row insert: 3 parameters a row stays far below SQLite's (and psycopg's) parameter limits."""


async def record_processed_many(
    conn: AsyncConnection, consumer: str, event_ids: Sequence[uuid.UUID], *, at: datetime | None = None
) -> set[uuid.UUID]:
    """Record a batch of events as handled by ``consumer``; returns the ids that were new.

    One multi-row ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` (per
    ``INSERT_CHUNK`` ids): the ids it returns were not recorded before. An id
    given twice is recorded once. The rows go in sorted order, so two
    transactions recording overlapping batches take their row locks in one
    order and queue rather than deadlock.
    """
    when = at or datetime.now(UTC)
    unique = sorted(set(event_ids))
    if unique and conn.dialect.name == "postgresql":
        # One statement text whatever the batch size (an array parameter): compiled once and prepared by the
        # server, where a multi-row VALUES of 500 rows cost more to build than to run.
        inserted = await conn.execute(_PG_INSERT_MANY, {"consumer": consumer, "event_ids": unique, "at": when})
        return set(inserted.scalars())
    new: set[uuid.UUID] = set()
    for start in range(0, len(unique), INSERT_CHUNK):
        rows = [
            {"consumer": consumer, "event_id": e, "processed_at": when} for e in unique[start : start + INSERT_CHUNK]
        ]
        # RETURNING rather than rowcount: a skipped conflict returns no row on both backends, whatever the driver reports.
        inserted = await conn.execute(
            dialect_insert(conn, inbox)
            .on_conflict_do_nothing(index_elements=[inbox.c.consumer, inbox.c.event_id])
            .values(rows)
            .returning(inbox.c.event_id)
        )
        new.update(inserted.scalars())
    return new


_PG_INSERT_MANY = (
    postgresql.insert(inbox)
    .from_select(
        ["consumer", "event_id", "processed_at"],
        select(
            bindparam("consumer", type_=String()),
            func.unnest(bindparam("event_ids", type_=postgresql.ARRAY(Uuid))),
            bindparam("at", type_=UtcDateTime()),
        ),
    )
    .on_conflict_do_nothing(index_elements=[inbox.c.consumer, inbox.c.event_id])
    .returning(inbox.c.event_id)
)
"""``INSERT INTO inbox SELECT :consumer, unnest(:event_ids), :at ON CONFLICT DO NOTHING RETURNING event_id``:
``unnest`` yields the ids in their sorted order, so the rows are locked in one order (see above)."""


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
