"""The statement feed's contract (stored order between a checkpoint and the horizon, checkpoints that never
move back, lag, pruning bounded by age, checkpoint and batch), on the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from elearning_adapters.sql.analytics import SqlStatementFeed, SqlStatementStore
from elearning_core.analytics.forwarder import StatementFeed
from elearning_core.analytics.ports import StatementQuery, StatementStore
from elearning_core.shared.clock import FixedClock
from tests.analytics_fakes import InMemoryStatementStore
from tests.contract.conftest import sql_database
from tests.contract.test_statement_store import statement
from tests.fakes import T0
from tests.forwarding_fakes import InMemoryStatementFeed

LRS = "lrs:https://lrs.example.org/xAPI"


@dataclass
class Feed:
    feed: StatementFeed
    store: StatementStore
    clock: FixedClock


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Feed]:
    clock = FixedClock(T0)
    if request.param == "fake":
        store = InMemoryStatementStore(clock)
        yield Feed(InMemoryStatementFeed(store), store, clock)
        return
    db = await sql_database(request, tmp_path)
    try:
        yield Feed(SqlStatementFeed(db), SqlStatementStore(db, clock), clock)
    finally:
        await db.dispose()


async def stored_seqs(b: Feed) -> list[int]:
    return [s.seq for s in await b.store.query(StatementQuery(ascending=True), after=None, limit=1000)]


async def test_reads_in_stored_order_between_a_position_and_the_horizon(backend: Feed) -> None:
    written = [statement() for _ in range(5)]
    await backend.store.append(written)
    seqs = await stored_seqs(backend)
    horizon = await backend.feed.horizon(beyond=0)
    assert horizon == seqs[-1]
    everything = await backend.feed.after(0, upto=horizon, limit=100)
    assert [s.id for s in everything] == [s.id for s in written]
    assert [s.seq for s in everything] == seqs
    assert everything[0].data["id"] == str(written[0].id)
    assert everything[0].data["verb"]["id"] == written[0].verb.id
    assert "stored" in everything[0].data
    middle = await backend.feed.after(seqs[0], upto=seqs[3], limit=2)
    assert [s.seq for s in middle] == seqs[1:3]
    assert await backend.feed.after(seqs[1], upto=seqs[1], limit=10) == []


async def test_an_empty_store_has_horizon_zero(backend: Feed) -> None:
    assert await backend.feed.horizon(beyond=0) == 0
    assert await backend.feed.after(0, upto=0, limit=10) == []


async def test_a_checkpoint_starts_at_zero_and_never_moves_back(backend: Feed) -> None:
    assert await backend.feed.position(LRS) == 0
    await backend.feed.advance(LRS, 7, at=T0)
    await backend.feed.advance(LRS, 5, at=T0 + timedelta(seconds=1))
    assert await backend.feed.position(LRS) == 7
    await backend.feed.advance(LRS, 9, at=T0 + timedelta(seconds=2))
    assert await backend.feed.position(LRS) == 9
    assert await backend.feed.position("kafka:other") == 0


async def test_lag_counts_what_is_after_the_checkpoint_and_its_oldest_stored_time(backend: Feed) -> None:
    await backend.store.append([statement(), statement()])
    backend.clock.advance(timedelta(minutes=5))
    await backend.store.append([statement()])
    seqs = await stored_seqs(backend)
    lag = await backend.feed.lag(LRS, cap=100)
    assert (lag.statements, lag.oldest_stored) == (3, T0)
    await backend.feed.advance(LRS, seqs[1], at=T0)
    lag = await backend.feed.lag(LRS, cap=100)
    assert (lag.statements, lag.oldest_stored) == (1, T0 + timedelta(minutes=5))
    assert (await backend.feed.lag(LRS, cap=0)).statements == 0
    await backend.feed.advance(LRS, seqs[2], at=T0)
    assert (await backend.feed.lag(LRS, cap=100)).oldest_stored is None


async def test_prune_deletes_the_oldest_before_the_cutoff_within_the_limit_and_the_checkpoint(backend: Feed) -> None:
    old = [statement() for _ in range(4)]
    await backend.store.append(old)
    backend.clock.advance(timedelta(days=10))
    recent = statement()
    await backend.store.append([recent])
    seqs = await stored_seqs(backend)
    cutoff = T0 + timedelta(days=1)
    assert await backend.feed.prune(stored_before=cutoff, upto=seqs[2], limit=2) == 2
    assert await stored_seqs(backend) == seqs[2:]
    assert await backend.feed.prune(stored_before=cutoff, upto=seqs[2], limit=10) == 1
    assert await backend.feed.prune(stored_before=cutoff, upto=seqs[2], limit=10) == 0
    assert await backend.feed.prune(stored_before=cutoff, upto=None, limit=10) == 1
    assert await stored_seqs(backend) == [seqs[4]]
    assert await backend.store.get(recent.id) is not None
    assert await backend.store.get(old[0].id) is None


async def test_the_horizon_waits_for_an_open_inserting_transaction(backend: Feed) -> None:
    """PostgreSQL hands out seqs at insert time: a statement whose transaction is still open must not be
    passed over. The horizon is read only once that transaction ended, and includes it."""
    if not isinstance(backend.feed, SqlStatementFeed) or backend.feed._db.is_sqlite:
        pytest.skip("only PostgreSQL has concurrent inserting transactions")
    from elearning_adapters.sql.analytics import StatementWriter

    db = backend.feed._db
    await backend.store.append([statement()])
    inserted, release = asyncio.Event(), asyncio.Event()

    async def slow_insert() -> None:
        async with db.write() as conn, conn.begin():
            await StatementWriter(conn).insert_new([statement(ident=uuid.uuid4())], T0)
            inserted.set()
            await asyncio.wait_for(release.wait(), 10)

    writer = asyncio.create_task(slow_insert())
    await asyncio.wait_for(inserted.wait(), 10)
    await backend.store.append([statement()])  # committed after the open one took its seq
    horizon = asyncio.create_task(backend.feed.horizon(beyond=0))
    await asyncio.sleep(0.3)
    assert not horizon.done(), "the horizon was read while a transaction that took a seq was open"
    release.set()
    await writer
    top = await asyncio.wait_for(horizon, 10)
    assert top == (await stored_seqs(backend))[-1]


async def test_prune_keeps_the_newest_statement_so_a_later_one_is_never_at_or_below_a_checkpoint(backend: Feed) -> None:
    """SQLite gives a new row max(seq) + 1: with every row pruned, the next statement would take seq 1 again,
    below the destination's checkpoint, and never be forwarded."""
    await backend.store.append([statement() for _ in range(3)])
    seqs = await stored_seqs(backend)
    await backend.feed.advance(LRS, seqs[-1], at=T0)
    backend.clock.advance(timedelta(days=40))
    assert await backend.feed.prune(stored_before=backend.clock.now(), upto=seqs[-1], limit=10) == 2
    assert await stored_seqs(backend) == [seqs[-1]]
    later = statement()
    await backend.store.append([later])
    new = await backend.feed.after(
        await backend.feed.position(LRS), upto=await backend.feed.horizon(beyond=0), limit=10
    )
    assert [s.id for s in new] == [later.id]


async def test_a_caught_up_horizon_does_not_wait_for_open_writers(backend: Feed) -> None:
    """With nothing committed beyond the position, the horizon answers at once (a caught-up forwarder's poll
    holds no insert back); what the open transaction writes is for the next call."""
    if not isinstance(backend.feed, SqlStatementFeed) or backend.feed._db.is_sqlite:
        pytest.skip("only PostgreSQL has concurrent inserting transactions")
    from elearning_adapters.sql.analytics import StatementWriter

    db = backend.feed._db
    await backend.store.append([statement()])
    (top,) = await stored_seqs(backend)
    inserted, release = asyncio.Event(), asyncio.Event()

    async def slow_insert() -> None:
        async with db.write() as conn, conn.begin():
            await StatementWriter(conn).insert_new([statement()], T0)
            inserted.set()
            await asyncio.wait_for(release.wait(), 10)

    writer = asyncio.create_task(slow_insert())
    try:
        await asyncio.wait_for(inserted.wait(), 10)
        assert await asyncio.wait_for(backend.feed.horizon(beyond=top), 2) == top
    finally:
        release.set()
        await writer
