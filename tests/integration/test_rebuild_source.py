"""``SqlKeysetSource`` walks a query's rows in key order on SQLite and PostgreSQL (the rebuild's SQL side)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select

from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.rebuild import SqlKeysetSource
from elearning_core.shared.rebuild import rebuild


@pytest.fixture
async def facts(database: Database) -> AsyncIterator[Table]:
    """A throwaway fact table keyed (learner, seq): several facts per learner, so the key is composite."""
    table = Table(
        f"facts_{uuid.uuid4().hex[:10]}",
        MetaData(),
        Column("learner", Integer, primary_key=True),
        Column("seq", Integer, primary_key=True),
        Column("what", String(40), nullable=False),
    )
    async with database.write() as conn:
        await conn.run_sync(table.metadata.create_all)
        rows = [{"learner": 100 - i % 7, "seq": i, "what": f"fact {i}"} for i in range(250)]
        await conn.execute(table.insert(), rows)
        await conn.commit()
    try:
        yield table
    finally:
        async with database.write() as conn:
            await conn.run_sync(table.metadata.drop_all)
            await conn.commit()


async def test_a_composite_keyset_walks_every_row_once_in_key_order(database: Database, facts: Table) -> None:
    source = SqlKeysetSource(
        database, select(facts), key=[facts.c.learner, facts.c.seq], fact=lambda r: (r.learner, r.seq, r.what)
    )
    applied: list[tuple[int, int, str]] = []
    progress: list[int] = []

    async def apply(chunk: Sequence[tuple[int, int, str]]) -> None:
        applied.extend(chunk)
        async with database.write() as conn:  # facts recorded during the walk are past its end
            await conn.execute(facts.insert(), [{"learner": 1000, "seq": len(applied), "what": "later"}])
            await conn.commit()

    report = await rebuild(source, apply, chunk_size=40, progress=lambda done, _total: progress.append(done))
    assert applied == sorted((100 - i % 7, i, f"fact {i}") for i in range(250))
    assert (report.facts, report.chunks) == (250, 7)
    assert progress == [0, 40, 80, 120, 160, 200, 240, 250]


async def test_a_single_key_and_a_filtered_query(database: Database, facts: Table) -> None:
    query = select(facts.c.seq, facts.c.what).where(facts.c.learner == 100)
    source = SqlKeysetSource(database, query, key=[facts.c.seq], fact=lambda r: r.what)
    assert await source.count() == 36
    applied: list[str] = []

    async def apply(chunk: Sequence[str]) -> None:
        applied.extend(chunk)

    await rebuild(source, apply, chunk_size=10)
    assert applied == [f"fact {i}" for i in range(0, 250, 7)]


async def test_a_keyset_needs_a_key(database: Database, facts: Table) -> None:
    with pytest.raises(ValueError, match="at least one key column"):
        SqlKeysetSource(database, select(facts), key=[], fact=lambda r: r)
