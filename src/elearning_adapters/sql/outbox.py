"""The transactional outbox: domain events stored in the same transaction as the state change.

The relay (event backbone) reads unpublished rows in ``id`` order and marks
them published once the broker has acknowledged them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import JSON, Uuid

from elearning_adapters.sql.engine import UtcDateTime, metadata
from elearning_core.shared.events import DomainEvent

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("topic", String(200), nullable=False),
    Column("message_key", String(200), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=True),
)
Index(
    "ix_outbox_pending",
    outbox.c.id,
    postgresql_where=outbox.c.published_at.is_(None),
    sqlite_where=outbox.c.published_at.is_(None),
)


def topic_for(event: DomainEvent) -> str:
    """Topic per module (``elearning.course``), so consumers subscribe by module."""
    return f"elearning.{event.module()}"


def topic_for_type(type_name: str) -> str:
    """The topic that carries events of a versioned type name (``course.published.v1``)."""
    return f"elearning.{type_name.split('.', 1)[0]}"


async def append_to_outbox(conn: AsyncConnection, events: Sequence[DomainEvent]) -> None:
    if not events:
        return
    now = datetime.now(UTC)
    await conn.execute(
        insert(outbox),
        [
            {
                "event_id": e.event_id,
                "topic": topic_for(e),
                "message_key": str(e.aggregate_id),
                "event_type": e.type,
                "payload": e.payload(),
                "occurred_at": e.occurred_at,
                "created_at": now,
            }
            for e in events
        ],
    )
