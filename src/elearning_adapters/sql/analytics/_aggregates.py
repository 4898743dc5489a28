"""Keeping the aggregates: the projection's step (``count_new``), the rebuild from the stored statements
(``rebuild_aggregates``) and the learner rename the account deletion needs (``rename_learner``).

Concurrency with a rebuild. On PostgreSQL the projection takes a shared transaction-level advisory lock
(``AGGREGATES_LOCK``) *before* it stores a batch's statements, and the rebuild holds the same lock
exclusively for its whole run: batches in flight finish first, the rebuild then reads the last stored
``seq`` and recomputes everything up to it in chunk transactions, and the batches that arrive meanwhile wait
(their statements are stored, and counted, after it). On SQLite (one writer at a time anyway) the rebuild
is one write transaction, which the projection's batches wait for. An interrupted rebuild leaves the tables
partly rebuilt (the PostgreSQL lock goes with its session): running it again starts over and is right.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from sqlalchemy import and_, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.analytics._aggregate_tables import (
    AGGREGATE_TABLES,
    analytics_attempts,
    analytics_distinct,
    analytics_learners,
    analytics_lessons_done,
    analytics_video_reach,
)
from elearning_adapters.sql.analytics._aggregate_writer import AggregateWriter, course_zones
from elearning_adapters.sql.analytics._revenue import count_revenue, invoices_in_ledger
from elearning_adapters.sql.analytics._tables import xapi_statements
from elearning_adapters.sql.engine import Database, metadata
from elearning_core.analytics.aggregating import collect, course_of
from elearning_core.shared.rebuild import Progress, RebuildReport, rebuild

AGGREGATES_LOCK = 0x61677273  # "aggs": the advisory lock key shared by the projection and the rebuild
REBUILD_CHUNK = 5000
s = xapi_statements


async def share_aggregates_lock(conn: AsyncConnection) -> None:
    """In the projection's batch transaction, before its statements are stored: wait out a running rebuild."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": AGGREGATES_LOCK})


async def count_new(conn: AsyncConnection, statements: Sequence[Mapping[str, Any]], platform_zone: str) -> None:
    """Add what newly stored statements (their JSON) count to the aggregates, in the caller's transaction."""
    if not statements:
        return
    zones = await course_zones(conn, {c for data in statements if (c := course_of(data)) is not None}, platform_zone)
    await AggregateWriter(conn).apply(collect(statements, zones), zones)


async def rename_learner(conn: AsyncConnection, old: str, new: str) -> None:
    """Rewrite the learner-keyed rows of ``old`` (a user id, as statements name their actor) to ``new`` (its
    pseudonym), in the caller's transaction: the aggregates keep their counts, and statements of the renamed
    actor stored later count as the same learner. A full pass over those tables (an account deletion is rare).

    A row whose key the pseudonym holds already (a statement of the deleted account stored under its pseudonym
    before the deletion's event came) keeps the pseudonym's row and drops the old one: the rename never fails
    on a key, and running it again changes nothing."""
    for table in (
        analytics_distinct,
        analytics_learners,
        analytics_lessons_done,
        analytics_video_reach,
        analytics_attempts,
    ):
        twin = table.alias("twin")
        same_key = [twin.c[c.name] == c for c in table.primary_key.columns if c.name != "learner"]
        taken = select(twin.c.learner).where(twin.c.learner == new, *same_key).exists()
        await conn.execute(update(table).where(table.c.learner == old, ~taken).values(learner=new))
        await conn.execute(delete(table).where(table.c.learner == old))


class _Statements:
    """The platform's own, not voided, stored statements in stored order (the rebuild's facts)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._where = and_(s.c.organization_id.is_(None), s.c.voided.is_(False))

    async def count(self) -> int:
        return int((await self._conn.execute(select(func.count()).select_from(s).where(self._where))).scalar_one())

    async def last_key(self) -> int | None:
        found = (await self._conn.execute(select(func.max(s.c.seq)).where(self._where))).scalar_one()
        return None if found is None else int(found)

    async def chunk(self, after: int | None, upto: int, limit: int) -> Sequence[tuple[int, dict[str, Any]]]:
        query = select(s.c.seq, s.c.statement).where(self._where, s.c.seq <= upto)
        if after is not None:
            query = query.where(s.c.seq > after)
        rows = await self._conn.execute(query.order_by(s.c.seq).limit(limit))
        return [(int(seq), data) for seq, data in rows]


@contextlib.asynccontextmanager
async def _exclusive(conn: AsyncConnection) -> AsyncIterator[None]:
    """The whole rebuild's hold: PostgreSQL's session advisory lock, SQLite's one write transaction."""
    if conn.dialect.name != "postgresql":
        async with conn.begin():
            yield
        return
    await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": AGGREGATES_LOCK})
    await conn.commit()
    try:
        yield
    finally:
        if conn.in_transaction():
            await conn.rollback()
        await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": AGGREGATES_LOCK})
        await conn.commit()


@contextlib.asynccontextmanager
async def _step(conn: AsyncConnection) -> AsyncIterator[None]:
    """One chunk's transaction on PostgreSQL (inside SQLite's single one, nothing)."""
    if conn.dialect.name != "postgresql":
        yield
        return
    if conn.in_transaction():
        await conn.commit()
    async with conn.begin():
        yield


async def rebuild_aggregates(
    database: Database, platform_zone: str, *, progress: Progress | None = None, chunk_size: int = REBUILD_CHUNK
) -> RebuildReport:
    """Empty the aggregates' tables and recount them from the stored statements, ``chunk_size`` per transaction,
    then the revenue from the billing ledger (``chunk_size`` invoices per transaction)."""
    async with database.write() as conn, _exclusive(conn):
        source = _Statements(conn)

        async def reset() -> None:
            async with _step(conn):
                for name in AGGREGATE_TABLES:
                    await conn.execute(delete(metadata.tables[name]))

        async def apply(chunk: Sequence[dict[str, Any]]) -> None:
            async with _step(conn):
                await count_new(conn, chunk, platform_zone)

        report = await rebuild(source, apply, reset=reset, chunk_size=chunk_size, progress=progress)
        async with _step(conn):
            invoices = await invoices_in_ledger(conn)
        for start in range(0, len(invoices), chunk_size):
            async with _step(conn):
                await count_revenue(conn, invoices[start : start + chunk_size], platform_zone)
        return report
