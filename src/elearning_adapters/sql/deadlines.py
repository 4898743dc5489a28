"""Deadlines inward: how long one statement, one lock wait and one pool checkout may take, per kind of work.

Two kinds of work, each with its PostgreSQL ``statement_timeout`` and ``lock_timeout``:

- ``request``: what the API does for a client (reads and writes alike), a few seconds at most;
- ``batch``: CLI commands, workers, consumers, imports and exports, minutes.

A process's connections start with its own kind's timeouts, passed in the libpq ``options`` at connect
time, so the per-request hot path pays no round trip for them. Work of the other kind inside the same
process (``with work("batch"):`` around an export in the API) gets ``SET LOCAL`` at the start of its
transaction: one round trip, and only there; the transaction's end restores the connection's default.

What runs out becomes ``DeadlineExceeded`` (elearning_core): the unit of work rolls back and the HTTP
mapping answers 503 with ``Retry-After``. SQLite has no statement timeout: a statement runs to its end
there; its ``busy_timeout`` bounds a lock wait and is reported as ``lock-timeout``.
"""

from __future__ import annotations

import contextlib
import contextvars
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import psycopg.errors
import psycopg_pool
import sqlalchemy.exc

from elearning_core.shared.errors import DeadlineExceeded

WorkClass = Literal["request", "batch"]

_WORK: contextvars.ContextVar[WorkClass | None] = contextvars.ContextVar("elearning_db_work_class", default=None)


@dataclass(frozen=True, slots=True)
class Budget:
    """The PostgreSQL timeouts of one kind of work, in milliseconds (0: none)."""

    statement_timeout_ms: int
    lock_timeout_ms: int

    def libpq_options(self) -> str:
        return f"-c statement_timeout={self.statement_timeout_ms} -c lock_timeout={self.lock_timeout_ms}"

    def set_local(self) -> str:
        return (
            f"SET LOCAL statement_timeout = {int(self.statement_timeout_ms)}; "
            f"SET LOCAL lock_timeout = {int(self.lock_timeout_ms)}"
        )


@contextlib.contextmanager
def work(kind: WorkClass) -> Iterator[None]:
    """Run the transactions opened inside this block (this task and the tasks it starts) as ``kind``."""
    token = _WORK.set(kind)
    try:
        yield
    finally:
        _WORK.reset(token)


def current_work() -> WorkClass | None:
    """The kind of work asked for by an enclosing ``work()`` block, if any."""
    return _WORK.get()


@contextlib.contextmanager
def translated_deadlines() -> Iterator[None]:
    """Raise a driver or pool error that reports a deadline as ``DeadlineExceeded``; others pass unchanged.

    Every way to the database (``Database.read``, ``write``, ``hot_read``, the unit of work) goes through
    this, so nothing above the adapters sees a driver's exception for a deadline."""
    try:
        yield
    except Exception as exc:
        translated = deadline_error(exc)
        if translated is None:
            raise
        raise translated from exc


def deadline_error(exc: BaseException) -> DeadlineExceeded | None:
    """``exc`` as the deadline it reports, or None when it reports something else (or is one already)."""
    if isinstance(exc, DeadlineExceeded):
        return None
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        found = _classify(current)
        if found is not None:
            return found
        current = getattr(current, "orig", None) or current.__cause__
    return None


def _classify(exc: BaseException) -> DeadlineExceeded | None:
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return DeadlineExceeded("lock-timeout", "the database row or table this needs stayed locked too long")
    if isinstance(exc, psycopg.errors.QueryCanceled):
        if "statement timeout" in str(exc):
            return DeadlineExceeded("statement-timeout", "a database statement took longer than its time limit")
        return DeadlineExceeded("query-canceled", "a database statement was cancelled")
    if isinstance(exc, sqlalchemy.exc.TimeoutError | psycopg_pool.PoolTimeout):
        return DeadlineExceeded(
            "pool-timeout",
            "no database connection could be had in time: the server is busy or its database unreachable",
        )
    if isinstance(exc, sqlite3.OperationalError) and "database is locked" in str(exc):
        return DeadlineExceeded("lock-timeout", "the database stayed locked by another writer too long")
    return None
