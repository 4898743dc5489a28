"""The export's read of the statement store: one actor's statements in stored order (the (actor, seq) index)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from elearning_adapters.sql.analytics._credentials import row_exists
from elearning_adapters.sql.analytics._tables import xapi_statements
from elearning_adapters.sql.engine import Database
from elearning_core.analytics.export import LearnerStatements, UserExists

s = xapi_statements


class SqlLearnerStatements(LearnerStatements):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def count(self, agent: str) -> int:
        async with self._db.read() as conn:
            return int((await conn.execute(select(func.count()).where(s.c.actor == agent))).scalar_one())

    async def page(self, agent: str, *, after: int | None, limit: int) -> list[tuple[int, dict[str, Any]]]:
        query = select(s.c.seq, s.c.statement).where(s.c.actor == agent)
        if after is not None:
            query = query.where(s.c.seq > after)
        async with self._db.read() as conn:
            rows = (await conn.execute(query.order_by(s.c.seq).limit(limit))).all()
        return [(seq, data) for seq, data in rows]


class SqlUserExists(UserExists):
    """Whether an account exists (deleted ones too: they keep their row), read from the identity module's table."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def __call__(self, user_id: uuid.UUID) -> bool:
        return await row_exists(self._db, "users", user_id)
