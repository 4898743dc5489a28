"""Dead letters of the in-process transport: what Kafka keeps in ``<topic>.dlq``, the embedded default keeps here.

A message the dispatcher gave up on (unreadable, or failing ``max_attempts``
times) is stored with the error and its origin before the transport moves
past it, so nothing is lost; ``elearning events dlq`` lists and replays them.
A replay asks the running transport to dispatch the row again; the row is
deleted once its handler succeeds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, delete, func, insert, select, update
from sqlalchemy.types import Uuid

from elearning_adapters.sql.engine import Database, UtcDateTime, metadata

_ERROR_MAX = 2000

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("consumer", String(200), nullable=False),
    Column("topic", String(200), nullable=False),
    Column("message_key", String(200), nullable=False),
    Column("event_id", Uuid, nullable=True),
    Column("event_type", String(200), nullable=True),
    Column("message", Text, nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("outbox_id", BigInteger, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("replay_requested_at", UtcDateTime, nullable=True),
)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    consumer: str
    topic: str
    message_key: str
    event_id: uuid.UUID | None
    event_type: str | None
    message: str
    error: str
    attempts: int
    outbox_id: int | None
    created_at: datetime
    replay_requested_at: datetime | None


class DeadLetterStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(
        self,
        *,
        consumer: str,
        topic: str,
        message_key: str,
        message: bytes,
        error: str,
        attempts: int,
        event_id: uuid.UUID | None = None,
        event_type: str | None = None,
        outbox_id: int | None = None,
    ) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                insert(dead_letters).values(
                    consumer=consumer,
                    topic=topic,
                    message_key=message_key,
                    event_id=event_id,
                    event_type=event_type,
                    message=message.decode("utf-8", errors="replace"),
                    error=error[:_ERROR_MAX],
                    attempts=attempts,
                    outbox_id=outbox_id,
                    created_at=datetime.now(UTC),
                )
            )
            await conn.commit()

    async def all(self, *, topic: str | None = None, limit: int | None = None) -> list[DeadLetter]:
        query = select(dead_letters).order_by(dead_letters.c.id)
        if topic is not None:
            query = query.where(dead_letters.c.topic == topic)
        if limit is not None:
            query = query.limit(limit)
        async with self._db.read() as conn:
            return [_from_row(row) for row in (await conn.execute(query)).mappings()]

    async def counts(self) -> dict[str, int]:
        """Dead letters per original topic."""
        query = select(dead_letters.c.topic, func.count()).group_by(dead_letters.c.topic)
        async with self._db.read() as conn:
            return {topic: int(n) for topic, n in (await conn.execute(query)).all()}

    async def request_replay(self, ids: list[int] | None = None) -> int:
        """Ask the running transport to dispatch these dead letters (all when ``ids`` is None) again."""
        statement = update(dead_letters).values(replay_requested_at=datetime.now(UTC))
        if ids is not None:
            statement = statement.where(dead_letters.c.id.in_(ids))
        async with self._db.write() as conn:
            result = await conn.execute(statement)
            await conn.commit()
            return result.rowcount

    async def replay_requested(self, limit: int) -> list[DeadLetter]:
        query = (
            select(dead_letters)
            .where(dead_letters.c.replay_requested_at.is_not(None))
            .order_by(dead_letters.c.id)
            .limit(limit)
        )
        async with self._db.read() as conn:
            return [_from_row(row) for row in (await conn.execute(query)).mappings()]

    async def resolve(self, dead_letter_id: int) -> None:
        """The replay succeeded: the dead letter is gone."""
        async with self._db.write() as conn:
            await conn.execute(delete(dead_letters).where(dead_letters.c.id == dead_letter_id))
            await conn.commit()

    async def failed_again(self, dead_letter_id: int, error: str, attempts: int) -> None:
        """The replay failed too: keep it, with the new error, until the next replay request."""
        async with self._db.write() as conn:
            await conn.execute(
                update(dead_letters)
                .where(dead_letters.c.id == dead_letter_id)
                .values(
                    error=error[:_ERROR_MAX],
                    attempts=dead_letters.c.attempts + attempts,
                    replay_requested_at=None,
                )
            )
            await conn.commit()


def _from_row(row: Any) -> DeadLetter:
    return DeadLetter(**{c.name: row[c.name] for c in dead_letters.columns})
