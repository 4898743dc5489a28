"""The database handle: an async engine configured per backend.

SQLite (the embedded default) gets WAL mode, a busy timeout, foreign keys and
``BEGIN IMMEDIATE`` for write transactions, so concurrent writers queue on
the lock instead of failing with "database is locked" on lock upgrade.
In-memory SQLite is one shared connection; a lock serialises its users.

A read made while the same task holds a write transaction of this database
(a use case asking another module's read port from inside its unit of work)
runs on that transaction's connection: it sees what the unit has written so
far, costs no second connection, and cannot wait for the lock the unit itself
holds (which on in-memory SQLite would wait for ever).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as _dt
import json
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from psycopg import AsyncConnection
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import DateTime, MetaData, Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection as SAConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from elearning_adapters.settings import Settings
from elearning_adapters.sql.deadlines import Budget, WorkClass, current_work, translated_deadlines

_WRITING: contextvars.ContextVar[tuple[Database, SAConnection, asyncio.Task[Any] | None] | None] = (
    contextvars.ContextVar("elearning_open_write_transaction", default=None)
)


_NO_DEADLINES = {"request": Budget(0, 0), "batch": Budget(0, 0)}


class EncodedJson(dict[str, Any]):
    """A JSON object whose text is encoded already (``text``): a JSON column is written with that text, not
    encoded a second time (the statement store encodes each statement once, for its digest and its row)."""

    __slots__ = ("text",)

    def __init__(self, value: dict[str, Any], text: str) -> None:
        super().__init__(value)
        self.text = text


def json_text(value: Any) -> str:
    """The engine's JSON encoder: an ``EncodedJson``'s own text, anything else ``json.dumps``."""
    return value.text if isinstance(value, EncodedJson) else json.dumps(value)


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        echo: bool = False,
        budgets: dict[WorkClass, Budget] | None = None,
        work: WorkClass = "request",
        pool_timeout: float = 30.0,
    ) -> None:
        """``budgets``: the PostgreSQL timeouts of each kind of work (none when omitted); ``work``: the kind
        this process's connections start with (see ``elearning_adapters.sql.deadlines``)."""
        self.url = make_url(url)
        self.budgets = dict(budgets or _NO_DEADLINES)
        self.work: WorkClass = work
        self._pool_timeout = pool_timeout
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.is_memory = self.is_sqlite and self.url.database in (None, "", ":memory:")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_memory:
            kwargs |= {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        elif self.is_sqlite:
            kwargs |= {"connect_args": {"timeout": 30}}
        else:
            kwargs |= {
                "pool_size": pool_size,
                "max_overflow": pool_size,
                "pool_pre_ping": False,
                "pool_recycle": 1800,
                "pool_timeout": pool_timeout,
                # The process's own timeouts travel with the connection's start-up: no round trip per request.
                "connect_args": {"options": self._libpq_options()},
            }
        self.engine: AsyncEngine = create_async_engine(self.url, json_serializer=json_text, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine, wal=not self.is_memory)
        # One shared connection (memory) must never interleave two transactions.
        self._lock: asyncio.Lock | None = asyncio.Lock() if self.is_memory else None
        # File SQLite allows one writer; queueing in-process avoids busy waits.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None
        self._pool_size = pool_size
        self._read_pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
        self._read_pool_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        if settings.is_sqlite and not settings.is_memory:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        batch = settings.db_batch_statement_timeout_ms
        budgets: dict[WorkClass, Budget] = {
            "request": Budget(settings.db_statement_timeout_ms, settings.db_lock_timeout_ms),
            "batch": Budget(batch, batch),
        }
        return cls(
            settings.resolved_database_url,
            pool_size=settings.db_pool_size,
            echo=settings.db_echo,
            budgets=budgets,
            work=settings.db_work_class,
            pool_timeout=settings.db_pool_timeout_seconds,
        )

    def _libpq_options(self) -> str:
        """This process's timeouts after the URL's own ``?options=`` (a search_path, say), which they would
        otherwise replace."""
        given = self.url.query.get("options", "")
        given = " ".join(given) if isinstance(given, tuple) else given
        return f"{given} {self.budgets[self.work].libpq_options()}".strip()

    def budget_override(self) -> Budget | None:
        """The budget to ``SET LOCAL`` in a transaction starting now: None when it is the connection's own."""
        wanted = current_work()
        if wanted is None or wanted == self.work or self.is_sqlite:
            return None
        return self.budgets[wanted]

    async def apply_budget(self, conn: SAConnection) -> None:
        """Inside a transaction just begun: give it the timeouts of the work asked for, if not the default."""
        budget = self.budget_override()
        if budget is not None:
            await conn.exec_driver_sql(budget.set_local())

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[SAConnection]:
        """A connection for queries; its transaction is rolled back at the end. Inside this task's
        own write transaction, that transaction's connection (left as it is)."""
        open_write = _WRITING.get()
        if open_write is not None and open_write[0] is self and open_write[2] is _current_task():
            yield open_write[1]
            return
        with translated_deadlines():
            async with self._guard(self._lock), self.engine.connect() as conn:
                if self.budget_override() is not None:
                    await conn.begin()
                    await self.apply_budget(conn)
                yield conn

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[SAConnection]:
        """A connection for a write transaction; the caller commits (and ``apply_budget``s after beginning)."""
        with translated_deadlines():
            async with self._guard(self._lock), self._guard(self._write_lock), self.engine.connect() as conn:
                if self.is_sqlite:
                    await conn.execution_options(sqlite_immediate=True)
                token = _WRITING.set((self, conn, _current_task()))
                try:
                    yield conn
                finally:
                    try:
                        _WRITING.reset(token)
                    except ValueError:  # left from another context than it was entered in
                        _WRITING.set(None)
                    if self.is_sqlite:
                        await _end_open_sqlite_transaction(conn)

    @staticmethod
    @contextlib.asynccontextmanager
    async def _guard(lock: asyncio.Lock | None) -> AsyncIterator[None]:
        if lock is None:
            yield
        else:
            async with lock:
                yield

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    @contextlib.asynccontextmanager
    async def hot_read(self) -> AsyncIterator[AsyncConnection[Any]]:
        """PostgreSQL only: a connection of the psycopg read pool (``read_pool``), for one-statement reads
        on hot paths; a statement, lock wait or checkout past its deadline raises ``DeadlineExceeded``,
        as ``read`` does."""
        with translated_deadlines():
            pool = await self.read_pool()
            async with pool.connection() as conn:
                yield conn

    async def read_pool(self) -> AsyncConnectionPool:
        """PostgreSQL only: a plain psycopg pool for hot read paths (autocommit, UTC, prepared statements).

        SQLAlchemy's async bridge costs several times the query itself on a
        catalog page; reads that are one statement skip it. Opened on first use.
        """
        if self.is_sqlite:
            raise RuntimeError("the psycopg read pool exists only for PostgreSQL")
        if self._read_pool is None:
            async with self._read_pool_lock:
                if self._read_pool is None:
                    conninfo = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
                    options = f"-c TimeZone=UTC {self._libpq_options()}"
                    pool = AsyncConnectionPool(
                        conninfo,
                        min_size=1,
                        max_size=self._pool_size,
                        timeout=self._pool_timeout,
                        kwargs={"autocommit": True, "options": options, "prepare_threshold": 0},
                        configure=_hot_read_connection,
                        open=False,
                        name="elearning-read",
                    )
                    await pool.open(wait=False)
                    self._read_pool = pool
        return self._read_pool

    async def dispose(self) -> None:
        if self._read_pool is not None:
            await self._read_pool.close()
            self._read_pool = None
        await self.engine.dispose()


async def _hot_read_connection(conn: AsyncConnection[Any]) -> None:
    """JSON columns decoded by msgspec (a tenth of ``json.loads``'s time: a catalog page decodes 20 tag lists)."""
    set_json_loads(msgspec.json.decode, conn)


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


async def _end_open_sqlite_transaction(conn: SAConnection) -> None:
    """Roll back whatever transaction the driver still has open before the connection goes back to the pool.

    A COMMIT that SQLite refuses (a deferred constraint, a full disk) leaves its
    transaction open while SQLAlchemy believes it ended, so neither the caller's
    rollback nor the pool's reset would end it: the pooled connection would keep
    the write lock and refuse the next BEGIN. Found by the crash-point state machine.
    """
    with contextlib.suppress(Exception):
        if conn.in_transaction():
            await conn.rollback()
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        if driver is not None and driver.in_transaction:
            await driver.rollback()


SQLITE_MMAP_BYTES = 256 * 1024 * 1024


def _configure_sqlite(engine: AsyncEngine, *, wal: bool) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Reads through the operating system's page cache, shared by every connection, instead of each
            # connection's own 2 MB of pages: the search index alone is hundreds of MB at 100,000 documents.
            cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# -- schema building blocks shared by every module's tables ----------------------

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[_dt.datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: _dt.datetime | None, dialect: Any) -> _dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass a timezone-aware one")
        value = value.astimezone(_dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: _dt.datetime | None, dialect: Any) -> _dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=_dt.UTC) if value.tzinfo is None else value.astimezone(_dt.UTC)


def dialect_insert(conn: SAConnection, table: Table) -> Any:
    """The connection's dialect's ``INSERT`` (PostgreSQL or SQLite), which has ``on_conflict_do_nothing``
    and ``on_conflict_do_update``: the one place the adapters choose it."""
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


def insert_ignoring_duplicates(conn: SAConnection, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING``: a concurrent duplicate waits for the first, then does nothing.

    Callers add ``RETURNING`` to learn whether a row went in: the driver's rowcount
    is not reliable for this statement (psycopg reports -1).
    """
    return dialect_insert(conn, table).on_conflict_do_nothing()
