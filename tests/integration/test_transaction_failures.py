"""A transaction that fails at BEGIN or at COMMIT must not poison the next one (SQLite).

Both were found by the crash-point state machine (test_crash_points.py): a
COMMIT that SQLite refuses left its transaction open on the pooled
connection, and a BEGIN that failed kept the in-process write lock forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from elearning_adapters import Platform, Settings, bootstrap
from elearning_adapters.sql.outbox import outbox
from elearning_adapters.sql.outbox_store import OutboxRecord
from elearning_core.course.commands import CreateCourse
from elearning_core.shared.ports import SYSTEM
from elearning_workers.relay import OutboxRelay

WAIT = 10.0


class NoopPublisher:
    async def publish(self, records: Any) -> None:
        self.records: list[OutboxRecord] = list(records)


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'tx.db'}", data_dir=tmp_path, cache="none")
    async with await bootstrap(settings) as embedded:
        yield embedded


async def test_a_commit_that_sqlite_refuses_leaves_the_next_write_working(platform: Platform) -> None:
    async with platform.database.write() as conn:
        # Marking a row published inserts a child of a missing parent: the deferred check fails at COMMIT.
        for statement in (
            "CREATE TABLE parent (id INTEGER PRIMARY KEY)",
            "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER "
            "REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)",
            "CREATE TRIGGER refuse AFTER UPDATE OF published_at ON outbox "
            "BEGIN INSERT INTO child (parent_id) VALUES (42); END",
        ):
            await conn.execute(text(statement))
        await conn.commit()
    await platform.courses.create(SYSTEM, CreateCourse(title="One"))

    with pytest.raises(IntegrityError):
        await OutboxRelay(platform.database, NoopPublisher()).relay_once()

    second = await asyncio.wait_for(platform.courses.create(SYSTEM, CreateCourse(title="Two")), WAIT)
    async with platform.database.read() as conn:
        rows = (await conn.execute(select(outbox.c.message_key, outbox.c.published_at))).all()
    assert {r.message_key for r in rows} >= {str(second.id)}
    assert all(r.published_at is None for r in rows)  # the refused mark was rolled back


async def test_a_begin_that_fails_gives_the_write_lock_back(platform: Platform) -> None:
    failures = [OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))]

    def refuse_once(_conn: Any) -> None:
        if failures:
            raise failures.pop()

    # Before the listener that sends BEGIN: as when SQLite's busy timeout runs out.
    event.listen(platform.database.engine.sync_engine, "begin", refuse_once, insert=True)
    with pytest.raises(OperationalError, match="database is locked") as refused:
        await platform.courses.create(SYSTEM, CreateCourse(title="Refused"))

    # ``refused`` keeps the failed unit of work's frames alive, as a logged or re-raised error would:
    # only an explicit release, not garbage collection, may give the lock back.
    created = await asyncio.wait_for(platform.courses.create(SYSTEM, CreateCourse(title="After")), WAIT)
    assert created.title == "After"
    assert refused.value is not None
