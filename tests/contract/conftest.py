"""One backend fixture for the contract suites: the fakes, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy import select, text

from elearning_adapters.sql import migrate
from elearning_adapters.sql.course import SqlCatalogQueries, catalog_queries_for
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.identity import IDENTITY_TABLES, SqlPrincipalQueries, SqlUserQueries, one_time_tokens
from elearning_adapters.sql.outbox import outbox
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.auth.ports import AuthUnitOfWork, PrincipalQueries
from elearning_core.course.ports import CourseUnitOfWork
from elearning_core.course.queries import CatalogQueries
from elearning_core.identity.ports import UserQueries
from tests.conftest import ALL_TABLES
from tests.fakes import FakeStore, FakeUnitOfWork, InMemoryCatalogQueries, InMemoryPrincipalQueries, InMemoryUserQueries


class PlatformUnitOfWork(CourseUnitOfWork, AuthUnitOfWork, Protocol):
    """Every module's view at once: what both the SQL unit of work and the fake offer."""


@dataclass(frozen=True)
class Backend:
    name: str
    uow: Callable[[], PlatformUnitOfWork]
    queries: CatalogQueries
    # SQLite serialises write transactions (BEGIN IMMEDIATE plus an in-process lock),
    # so two of its units of work can never be open at the same time.
    overlapping_writers: bool
    users: UserQueries
    principals: PrincipalQueries
    # The event types in the outbox, in the order they were committed.
    outbox_types: Callable[[], Awaitable[list[str]]]
    # Every address the one-time tokens hold (pending email changes), sorted.
    token_addresses: Callable[[], Awaitable[list[str]]]
    # The SQL backends' database (the catalog's text filter reads the search index kept in it).
    database: Database | None = None


@pytest.fixture(autouse=True)
def _session_databases_created_outside_the_event_loop(request: pytest.FixtureRequest) -> None:
    """Create the session's databases from synchronous code.

    ``postgres_url`` migrates with ``asyncio.run``, which fails when it is first
    requested from inside an async fixture (a running loop); requesting it here
    first, from a sync fixture, avoids that.
    """
    callspec = getattr(request.node, "callspec", None)
    params = callspec.params if callspec is not None else {}
    for name in ("backend", "db"):
        if str(params.get(name)).startswith("postgres"):
            request.getfixturevalue("postgres_url")
        if params.get(name) == "sqlite":
            request.getfixturevalue("migrated_sqlite_file")


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per session; each test works on a copy (much faster than migrating)."""
    path = tmp_path_factory.mktemp("contract") / "template.db"

    async def _migrate() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await migrate.upgrade(db)
        finally:
            await db.dispose()

    asyncio.run(_migrate())
    return path


async def _empty(db: Database) -> None:
    """Delete every row (for a handful of rows, far quicker than TRUNCATE)."""
    async with db.write() as conn:
        for table in (*IDENTITY_TABLES, *ALL_TABLES):
            await conn.execute(text(f"DELETE FROM {table}"))
        await conn.commit()


async def sql_database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """The backend's database, migrated and empty: a copy of the session's migrated SQLite file,
    or the session's PostgreSQL database emptied."""
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("migrated_sqlite_file"), tmp_path / "contract.db")
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'contract.db'}")
        assert await migrate.is_up_to_date(db)
        return db
    db = Database(request.getfixturevalue("postgres_url"))
    await _empty(db)
    return db


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database of each SQL backend, for contract tests of SQL reads that have no fake."""
    database = await sql_database(request, tmp_path)
    try:
        yield database
    finally:
        await database.dispose()


def outbox_reader(db: Database) -> Callable[[], Awaitable[list[str]]]:
    """The event types in the database's outbox, in the order they were written."""

    async def sql_outbox() -> list[str]:
        async with db.read() as conn:
            return list((await conn.execute(select(outbox.c.event_type).order_by(outbox.c.id))).scalars())

    return sql_outbox


@pytest.fixture(
    params=[
        "fake",
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("postgres-core", marks=pytest.mark.postgres),
    ]
)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "fake":
        store = FakeStore()

        async def fake_outbox() -> list[str]:
            return [e.type for e in store.outbox]

        async def fake_addresses() -> list[str]:
            return sorted(t.new_email for t in store.records["tokens"].values() if t.new_email is not None)

        yield Backend(
            "fake",
            lambda: FakeUnitOfWork(store),
            InMemoryCatalogQueries(store),
            overlapping_writers=True,
            users=InMemoryUserQueries(store),
            principals=InMemoryPrincipalQueries(store),
            outbox_types=fake_outbox,
            token_addresses=fake_addresses,
        )
        return
    db = await sql_database(request, tmp_path)
    # "postgres" reads through the psycopg fast path the container picks; "postgres-core"
    # through the portable SQLAlchemy Core queries, so both stay honest on PostgreSQL.
    core = request.param == "postgres-core"
    queries = SqlCatalogQueries(db) if core else catalog_queries_for(db)

    sql_outbox = outbox_reader(db)

    async def sql_addresses() -> list[str]:
        async with db.read() as conn:
            query = select(one_time_tokens.c.new_email).where(one_time_tokens.c.new_email.is_not(None))
            return sorted((await conn.execute(query)).scalars())

    try:
        yield Backend(
            request.param,
            lambda: SqlUnitOfWork(db),
            queries,
            overlapping_writers=not db.is_sqlite,
            users=SqlUserQueries(db),
            principals=SqlPrincipalQueries(db, fast_path=False if core else None),
            outbox_types=sql_outbox,
            token_addresses=sql_addresses,
            database=db,
        )
    finally:
        await db.dispose()
