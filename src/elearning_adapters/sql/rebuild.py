"""The SQL side of a projection rebuild: a query's rows as a keyset-ordered ``FactSource``.

``SqlKeysetSource(db, select(...), key=[table.c.a, table.c.b], fact=...)``
walks the query's rows in key order, ``chunk`` rows per statement, each chunk
starting after the last key seen (``WHERE (a, b) > (:a, :b)``, a row-value
comparison PostgreSQL and SQLite both index), so a chunk costs the same at the
millionth row as at the first. The key must be unique and selected by the
query; an index on it makes each chunk an index range scan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Row, Select, func, select, tuple_

from elearning_adapters.sql.engine import Database
from elearning_core.shared.rebuild import FactSource

T = TypeVar("T")

Key = tuple[Any, ...]


class SqlKeysetSource(FactSource[Key, T], Generic[T]):
    def __init__(
        self,
        database: Database,
        query: Select[Any],
        *,
        key: Sequence[ColumnElement[Any]],
        fact: Callable[[Row[Any]], T],
    ) -> None:
        if not key:
            raise ValueError("a keyset needs at least one key column")
        self._db = database
        self._query = query
        self._key = list(key)
        self._fact = fact

    def _key_of(self, row: Row[Any]) -> Key:
        return tuple(row._mapping[column] for column in self._key)

    def _compare(self, values: Key) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
        if len(self._key) == 1:
            return self._key[0], values[0]
        return tuple_(*self._key), tuple_(*values)

    async def count(self) -> int:
        async with self._db.read() as conn:
            return int((await conn.execute(select(func.count()).select_from(self._query.subquery()))).scalar_one())

    async def last_key(self) -> Key | None:
        query = self._query.order_by(None).order_by(*(c.desc() for c in self._key)).limit(1)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else self._key_of(row)

    async def chunk(self, after: Key | None, upto: Key, limit: int) -> Sequence[tuple[Key, T]]:
        column, last = self._compare(upto)
        query = self._query.where(column <= last)
        if after is not None:
            column, first = self._compare(after)
            query = query.where(column > first)
        query = query.order_by(None).order_by(*self._key).limit(limit)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [(self._key_of(row), self._fact(row)) for row in rows]
