"""Claiming, marking and pruning outbox rows: the relay's side of the outbox.

A claim is a transaction held open while its rows are produced to the broker;
marking them published happens in that same transaction, so a row is marked
only if the claim that delivered it commits. Losing the process mid-batch
rolls the claim back and the rows are delivered again (at-least-once).

PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets several relays share the work
without ever claiming the same row. A relay also leaves out every key whose
earlier rows another relay is still delivering, so per-key order holds across
relays (rows of one aggregate get ids in commit order: the aggregate's row
lock serialises its writers before their outbox inserts).

SQLite: no row locks. A claim takes the database write lock (``BEGIN
IMMEDIATE``) for the whole batch, so a second relay and the application's
writers queue behind it: while the broker is down each attempt holds writers
up to the publisher's delivery timeout. Run one relay per SQLite database and
keep that timeout short. An idle poll takes no lock.

``attempts`` counts publish attempts, the successful one included;
``last_error`` keeps the latest failure until the row is published.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, String, all_, and_, any_, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters import metrics
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.inbox import prune_inbox
from elearning_adapters.sql.outbox import outbox

_ERROR_MAX = 2000

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One unpublished outbox row, as the relay hands it to a publisher."""

    id: int
    event_id: uuid.UUID
    topic: str
    message_key: str
    event_type: str
    payload: dict[str, Any]
    occurred_at: datetime
    created_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class PendingStats:
    count: int
    oldest_age: timedelta | None  # None when nothing is pending


class ClaimedBatch:
    """Rows claimed by one open transaction; commit them as published or release them.

    An empty claim may hold no transaction at all (``conn`` is None): finishing it touches nothing.
    """

    def __init__(self, conn: AsyncConnection | None, records: list[OutboxRecord]) -> None:
        if conn is None and records:
            raise ValueError("a claim with rows needs its connection")
        self._conn = conn
        self.records = records
        self._done = False

    def __len__(self) -> int:
        return len(self.records)

    async def mark_published(self, ids: Iterable[int] | None = None, *, at: datetime | None = None) -> int:
        """Mark the given claimed rows (all by default) published and commit the claim."""
        self._check_open()
        claimed = {r.id for r in self.records}
        chosen = claimed if ids is None else set(ids)
        if not chosen <= claimed:
            raise ValueError(f"rows {sorted(chosen - claimed)} are not part of this claim")
        count = 0
        if chosen and self._conn is not None:
            result = await self._conn.execute(
                update(outbox)
                .where(_id_in(self._conn, sorted(chosen)), outbox.c.published_at.is_(None))
                .values(published_at=at or datetime.now(UTC), attempts=outbox.c.attempts + 1, last_error=None)
            )
            count = result.rowcount
        await self._commit()
        return count

    async def release(self, error: str) -> None:
        """Leave every claimed row unpublished, counting the failed attempt and its error, and commit."""
        self._check_open()
        if self.records and self._conn is not None:
            await self._conn.execute(
                update(outbox)
                .where(_id_in(self._conn, [r.id for r in self.records]), outbox.c.published_at.is_(None))
                .values(attempts=outbox.c.attempts + 1, last_error=error[:_ERROR_MAX])
            )
        await self._commit()

    def _check_open(self) -> None:
        if self._done:
            raise RuntimeError("this claim is already finished")

    async def _commit(self) -> None:
        if self._conn is not None:
            await self._conn.commit()
        self._done = True


class OutboxStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    @contextlib.asynccontextmanager
    async def claim_batch(self, limit: int) -> AsyncIterator[ClaimedBatch]:
        """Claim up to ``limit`` unpublished rows in ``id`` order for the duration of the block.

        Leaving the block without ``mark_published()`` or ``release()`` (an
        exception, a cancellation) rolls back: nothing is marked.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if self._db.is_sqlite and not await self._any_pending():
            # An idle relay must not take SQLite's write lock on every poll.
            yield ClaimedBatch(None, [])
            return
        async with self._db.write() as conn:
            await conn.begin()
            try:
                records = await (self._claim_sqlite(conn, limit) if self._db.is_sqlite else self._claim_pg(conn, limit))
                yield ClaimedBatch(conn, records)
            finally:
                if conn.in_transaction():
                    await conn.rollback()

    async def _claim_sqlite(self, conn: AsyncConnection, limit: int) -> list[OutboxRecord]:
        query = select(outbox).where(outbox.c.published_at.is_(None)).order_by(outbox.c.id).limit(limit)
        return [record_from_row(row) for row in (await conn.execute(query)).mappings()]

    async def _claim_pg(self, conn: AsyncConnection, limit: int) -> list[OutboxRecord]:
        query = (
            select(outbox)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        records = [record_from_row(row) for row in (await conn.execute(query)).mappings()]
        if not records:
            return records
        # Rows skipped because another relay holds them may precede ours for the same key:
        # leave those keys alone until that relay is done (their locks stay ours till commit).
        mine = [r.id for r in records]
        blocked_query = (
            select(outbox.c.message_key)
            .where(
                outbox.c.published_at.is_(None),
                outbox.c.message_key
                == any_(bindparam("keys", sorted({r.message_key for r in records}), type_=ARRAY(String))),
                outbox.c.id < max(mine),
                outbox.c.id != all_(bindparam("mine", mine, type_=ARRAY(BigInteger))),
            )
            .distinct()
        )
        blocked = set((await conn.execute(blocked_query)).scalars())
        return [r for r in records if r.message_key not in blocked]

    async def peek(self, limit: int) -> list[OutboxRecord]:
        """Up to ``limit`` unpublished rows in ``id`` order, without claiming them.

        For the in-process transport, whose handlers write in transactions of
        their own: holding SQLite's write lock over them would deadlock. Two
        peekers may see the same rows; the consumers' inbox makes that harmless.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        query = select(outbox).where(outbox.c.published_at.is_(None)).order_by(outbox.c.id).limit(limit)
        async with self._db.read() as conn:
            return [record_from_row(row) for row in (await conn.execute(query)).mappings()]

    async def _any_pending(self) -> bool:
        async with self._db.read() as conn:
            query = select(outbox.c.id).where(outbox.c.published_at.is_(None)).limit(1)
            return (await conn.execute(query)).first() is not None

    async def mark_published(self, ids: Sequence[int], *, at: datetime | None = None) -> int:
        """Mark rows published in a transaction of their own (tools and repairs; the relay marks its claim)."""
        if not ids:
            return 0
        async with self._db.write() as conn:
            result = await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(list(ids)), outbox.c.published_at.is_(None))
                .values(published_at=at or datetime.now(UTC))
            )
            await conn.commit()
            return result.rowcount

    async def prune(self, older_than: timedelta, *, now: datetime | None = None) -> int:
        """Delete rows published more than ``older_than`` ago; unpublished rows are never pruned."""
        cutoff = (now or datetime.now(UTC)) - older_than
        async with self._db.write() as conn:
            result = await conn.execute(
                delete(outbox).where(and_(outbox.c.published_at.is_not(None), outbox.c.published_at < cutoff))
            )
            await conn.commit()
            return result.rowcount

    async def prune_inbox(self, older_than: timedelta) -> int:
        """Delete inbox rows of events handled more than ``older_than`` ago."""
        async with self._db.write() as conn:
            count = await prune_inbox(conn, older_than)
            await conn.commit()
            return count

    async def pending_stats(self, *, now: datetime | None = None) -> PendingStats:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None))
                )
            ).one()
        count, oldest = int(row[0]), row[1]
        if oldest is None:
            return PendingStats(count=count, oldest_age=None)
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        return PendingStats(count=count, oldest_age=max((now or datetime.now(UTC)) - oldest, timedelta(0)))


class Retention:
    """Prunes outbox rows published, and inbox rows handled, longer ago than their retention.

    Called by the relays between rounds, at most once every ``every`` seconds,
    so a running relay keeps both tables small without an operator's cron job;
    a retention of None never prunes that table. The inbox must remember an
    event as long as it may be delivered again (a consumer group reset to the
    start of a topic), so its retention is its own and longer by default.
    """

    def __init__(
        self,
        store: OutboxStore,
        keep: timedelta | None,
        *,
        keep_inbox: timedelta | None = None,
        every: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store, self._keep, self._keep_inbox = store, keep, keep_inbox
        self._every, self._clock = every, clock
        self._last = float("-inf")

    async def maybe_prune(self) -> int:
        """Prune if it is time; returns the number of outbox rows deleted."""
        if (self._keep is None and self._keep_inbox is None) or self._clock() - self._last < self._every:
            return 0
        self._last = self._clock()
        pruned = await self._store.prune(self._keep) if self._keep is not None else 0
        handled = await self._store.prune_inbox(self._keep_inbox) if self._keep_inbox is not None else 0
        if pruned:
            metrics.PRUNED.inc(pruned)
        if pruned or handled:
            log.info("pruned %d published outbox rows and %d inbox rows", pruned, handled)
        return pruned


def retention_of(hours: float) -> timedelta | None:
    """A ``*_retention_hours`` setting as a period (0 = keep everything)."""
    return timedelta(hours=hours) if hours > 0 else None


def record_from_row(row: Any) -> OutboxRecord:
    """An outbox row (a mapping) as the relay hands it to a publisher."""
    return OutboxRecord(
        id=row["id"],
        event_id=row["event_id"],
        topic=row["topic"],
        message_key=row["message_key"],
        event_type=row["event_type"],
        payload=row["payload"],
        occurred_at=row["occurred_at"],
        created_at=row["created_at"],
        attempts=row["attempts"],
    )


def _id_in(conn: AsyncConnection, ids: list[int]) -> Any:
    """``id IN (...)``; on PostgreSQL as ``id = ANY(:ids)``: one array parameter, so the
    statement text stays the same for every batch size and psycopg can cache and prepare it."""
    if conn.dialect.name == "postgresql":
        return outbox.c.id == any_(bindparam("ids", ids, type_=ARRAY(BigInteger)))
    return outbox.c.id.in_(ids)
