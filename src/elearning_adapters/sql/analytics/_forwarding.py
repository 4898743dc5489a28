"""The statement store as the forwarder and retention read it: stored order, checkpoints, pruning.

The horizon is what makes "in stored order, without loss" true on PostgreSQL: ``seq`` is taken from a
sequence when a row is inserted, not when its transaction commits, so a reader could see seq 101 while
seq 100's transaction is still open, move its checkpoint past 100 and never send it. The horizon is read
under ``LOCK TABLE ... IN SHARE MODE``, which waits for every transaction that inserted into the table to
end (and holds new inserts back for that one short read): every seq at or below the ``max(seq)`` it then
sees is committed or will never be. The lock is only taken when a plain read sees statements beyond the
forwarder's position, so a caught-up forwarder's polls hold nothing back. On SQLite one writer at a time
commits in seq order, so ``max(seq)`` of any read is a horizon.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.analytics._tables import xapi_forwarding, xapi_statements
from elearning_adapters.sql.engine import Database, dialect_insert
from elearning_core.analytics.forwarder import Lag, OutgoingStatement, StatementFeed

s, f = xapi_statements, xapi_forwarding
HORIZON_LOCK_TIMEOUT = "5s"
"""How long the horizon waits for open inserting transactions (they are short: a projection batch, an LRS
POST); past it the run fails and is retried, rather than holding the API's inserts back any longer."""


class SqlStatementFeed(StatementFeed):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def position(self, destination: str) -> int:
        async with self._db.read() as conn:
            found = (await conn.execute(select(f.c.position).where(f.c.destination == destination))).scalar()
        return int(found or 0)

    async def horizon(self, *, beyond: int) -> int:
        top = select(func.max(s.c.seq))
        async with self._db.read() as conn:
            seen = int((await conn.execute(top)).scalar() or 0)
        if self._db.is_sqlite or seen <= beyond:  # nothing new committed: no lock (a caught-up forwarder's poll)
            return seen
        async with self._db.write() as conn, conn.begin():
            await self._db.apply_budget(conn)
            await conn.execute(text(f"SET LOCAL lock_timeout = '{HORIZON_LOCK_TIMEOUT}'"))
            await conn.execute(text(f"LOCK TABLE {s.name} IN SHARE MODE"))
            return int((await conn.execute(top)).scalar() or 0)

    async def after(self, position: int, *, upto: int, limit: int) -> list[OutgoingStatement]:
        query = (
            select(s.c.seq, s.c.id, s.c.statement)
            .where(s.c.seq > position, s.c.seq <= upto)
            .order_by(s.c.seq)
            .limit(limit)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [OutgoingStatement(seq=seq, id=_uuid(ident), data=data) for seq, ident, data in rows]

    async def advance(self, destination: str, position: int, *, at: datetime) -> None:
        async with self._db.write() as conn, conn.begin():
            await self._db.apply_budget(conn)
            insert = dialect_insert(conn, f).values(destination=destination, position=position, updated_at=at)
            await conn.execute(
                insert.on_conflict_do_update(
                    index_elements=[f.c.destination],
                    set_={"position": insert.excluded.position, "updated_at": insert.excluded.updated_at},
                    where=f.c.position < insert.excluded.position,
                )
            )

    async def lag(self, destination: str, *, cap: int) -> Lag:
        position = await self.position(destination)
        behind = select(s.c.seq).where(s.c.seq > position).limit(cap).subquery()
        async with self._db.read() as conn:
            count = (await conn.execute(select(func.count()).select_from(behind))).scalar() or 0
            oldest = (
                await conn.execute(select(s.c.stored).where(s.c.seq > position).order_by(s.c.seq).limit(1))
            ).scalar()
        return Lag(int(count), oldest)

    async def prune(self, *, stored_before: datetime, upto: int | None, limit: int) -> int:
        # Never the newest statement: SQLite hands out max(seq) + 1 (the table has no AUTOINCREMENT), so with the
        # top rows gone a new statement could take a seq at or below a checkpoint, and never be forwarded.
        newest = select(func.max(s.c.seq)).scalar_subquery()
        oldest = select(s.c.seq).where(s.c.stored < stored_before, s.c.seq < newest)
        if upto is not None:
            oldest = oldest.where(s.c.seq <= upto)
        chosen = oldest.order_by(s.c.seq).limit(limit)
        async with self._db.write() as conn, conn.begin():
            await self._db.apply_budget(conn)
            return await _delete(conn, chosen)


async def _delete(conn: AsyncConnection, chosen: Any) -> int:
    # The batch's seqs first, then a DELETE by primary key: one bounded statement on both databases.
    seqs = list((await conn.execute(chosen)).scalars())
    if not seqs:
        return 0
    await conn.execute(s.delete().where(s.c.seq.in_(seqs)))
    return len(seqs)


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
