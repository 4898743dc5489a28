"""The analytics module's use cases so far: the statement store as the xAPI statements resource reads it.

``query`` is ``GET /xapi/statements`` without its HTTP: the filters, a page in stored order and the
opaque cursor of the next page (the resource's ``more`` link carries it). Who may call these is the
LRS resource's business (``lrs.LrsService``: credentials scoped to an organization, bearer tokens).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from elearning_core.analytics.model import Statement, StoredStatement
from elearning_core.analytics.ports import StatementQuery, StatementStore
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, CursorCodec, Page, check_page_size, scope_of


def _seq(key: list[Any]) -> int:
    (value,) = key
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("not a statement position")
    return value


class AnalyticsService:
    def __init__(self, store: StatementStore, cursors: CursorCodec) -> None:
        self._store, self._cursors = store, cursors

    async def record(self, statements: Sequence[Statement]) -> list[uuid.UUID]:
        """Store statements (idempotent by id; ``StatementConflict`` for a reused id with other content)."""
        return await self._store.append(statements)

    async def statement(self, statement_id: uuid.UUID) -> Statement | None:
        return await self._store.get(statement_id)

    async def voided_statement(self, statement_id: uuid.UUID) -> Statement | None:
        return await self._store.get_voided(statement_id)

    async def statements(
        self, query: StatementQuery, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[StoredStatement]:
        check_page_size(limit)
        scope = scope_of(
            "xapi-statements",
            query.agent,
            query.verb,
            query.activity,
            query.registration,
            query.since.isoformat() if query.since else None,
            query.until.isoformat() if query.until else None,
            query.ascending,
            None if query.organizations is None else ",".join(sorted(str(o) for o in query.organizations)),
        )
        after = self._cursors.after(scope, cursor, _seq)
        rows = await self._store.query(query, after=after, limit=limit + 1)
        return self._cursors.page(scope, rows, limit, lambda s: [s.seq])
