"""Deadlines inward on real PostgreSQL: a statement, a lock wait or a pool checkout past its budget ends the
unit of work as ``DeadlineExceeded``, with nothing it wrote committed; batch work gets its own budget."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from elearning_adapters.sql.deadlines import Budget, work
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.shared.errors import DeadlineExceeded

pytestmark = pytest.mark.postgres

REQUEST = Budget(statement_timeout_ms=300, lock_timeout_ms=200)
BATCH = Budget(statement_timeout_ms=20_000, lock_timeout_ms=20_000)


@pytest.fixture
async def db(postgres_url: str) -> AsyncIterator[Database]:
    database = Database(postgres_url, pool_size=1, budgets={"request": REQUEST, "batch": BATCH}, pool_timeout=0.5)
    async with database.engine.connect() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS deadline_probe (id int PRIMARY KEY, note text)"))
        await conn.execute(text("TRUNCATE deadline_probe"))
        await conn.execute(text("INSERT INTO deadline_probe VALUES (1, 'original')"))
        await conn.commit()
    try:
        yield database
    finally:
        async with database.engine.connect() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS deadline_probe"))
            await conn.commit()
        await database.dispose()


async def _rows(db: Database) -> list[tuple[int, str]]:
    async with db.read() as conn:
        return [(r[0], r[1]) for r in await conn.execute(text("SELECT id, note FROM deadline_probe ORDER BY id"))]


async def test_a_slow_statement_ends_the_unit_of_work_and_its_write_is_rolled_back(db: Database) -> None:
    async def insert_then_sleep() -> None:
        async with SqlUnitOfWork(db) as uow:
            await uow.connection.execute(text("INSERT INTO deadline_probe VALUES (2, 'half-written')"))
            await uow.connection.execute(text("SELECT pg_sleep(2)"))
            await uow.commit()

    with pytest.raises(DeadlineExceeded) as caught:
        await insert_then_sleep()
    assert caught.value.what == "statement-timeout"
    assert await _rows(db) == [(1, "original")]


async def test_a_lock_held_elsewhere_ends_the_update_as_a_lock_timeout(db: Database) -> None:
    async def insert_then_update() -> None:
        async with SqlUnitOfWork(db) as uow:
            await uow.connection.execute(text("INSERT INTO deadline_probe VALUES (3, 'before the lock')"))
            await uow.connection.execute(text("UPDATE deadline_probe SET note = 'changed' WHERE id = 1"))
            await uow.commit()

    holder = Database(str(db.url.render_as_string(hide_password=False)))
    try:
        async with holder.engine.connect() as other:
            await other.execute(text("SELECT 1 FROM deadline_probe WHERE id = 1 FOR UPDATE"))
            with pytest.raises(DeadlineExceeded) as caught:
                await insert_then_update()
            await other.rollback()
    finally:
        await holder.dispose()
    assert caught.value.what == "lock-timeout"
    assert await _rows(db) == [(1, "original")]


async def test_an_exhausted_pool_gives_the_pool_timeout(db: Database) -> None:
    # pool_size=1 and as many overflow connections: two held connections exhaust it.
    async with db.engine.connect() as first, db.engine.connect() as second:
        await first.execute(text("SELECT 1"))
        await second.execute(text("SELECT 1"))
        with pytest.raises(DeadlineExceeded) as caught:
            async with SqlUnitOfWork(db):
                pass
        assert caught.value.what == "pool-timeout"
        with pytest.raises(DeadlineExceeded):
            async with db.read():
                pass
    assert await _rows(db) == [(1, "original")]  # and the pool serves again once connections come back


async def test_batch_work_gets_its_own_budget_only_inside_its_transaction(db: Database) -> None:
    async def timeouts() -> tuple[str, str]:
        async with SqlUnitOfWork(db) as uow:
            row = (
                await uow.connection.execute(
                    text("SELECT current_setting('statement_timeout'), current_setting('lock_timeout')")
                )
            ).one()
            return row[0], row[1]

    assert await timeouts() == ("300ms", "200ms")
    with work("batch"):
        assert await timeouts() == ("20s", "20s")
        async with SqlUnitOfWork(db) as uow:  # a statement the request budget would end
            await uow.connection.execute(text("SELECT pg_sleep(0.5)"))
            await uow.connection.execute(text("UPDATE deadline_probe SET note = 'batch' WHERE id = 1"))
            await uow.commit()
    assert await timeouts() == ("300ms", "200ms")  # SET LOCAL ended with its transaction
    assert await _rows(db) == [(1, "batch")]


async def test_the_hot_read_pool_carries_the_request_budget(db: Database) -> None:
    pool = await db.read_pool()
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT current_setting('statement_timeout')")).fetchone()
    assert row is not None
    assert row[0] == "300ms"


async def test_requests_past_their_deadline_free_the_connection_for_the_next(db: Database) -> None:
    async def slow() -> None:
        async with SqlUnitOfWork(db) as uow:
            await uow.connection.execute(text("SELECT pg_sleep(5)"))

    results = await asyncio.wait_for(asyncio.gather(*(slow() for _ in range(4)), return_exceptions=True), 30)
    assert all(isinstance(r, DeadlineExceeded) for r in results), results
    assert await _rows(db) == [(1, "original")]
