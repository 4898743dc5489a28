"""The read every authenticated request makes: user status, email verification, grants and session state, in one
statement."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, true

from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.identity._tables import grant_from, login_sessions, user_grants, users
from elearning_core.auth.ports import PrincipalQueries, PrincipalRecord

# One row per grant (one row with NULL grant columns when there are none). The session
# test does not depend on the user row, so PostgreSQL runs it once (an InitPlan).
_PG_PRINCIPAL = """
SELECT u.status, g.role, g.scope_kind, g.scope_id, {session}, u.email_verified_at IS NOT NULL
FROM users u LEFT JOIN user_grants g ON g.user_id = u.id
WHERE u.id = %(user_id)s
"""
_PG_SESSION_ACTIVE = (
    "EXISTS (SELECT 1 FROM login_sessions s WHERE s.id = %(session_id)s AND s.user_id = %(user_id)s"
    " AND s.revoked_at IS NULL AND s.expires_at > %(at)s)"
)
_PG_PRINCIPAL_WITH_SESSION = _PG_PRINCIPAL.format(session=_PG_SESSION_ACTIVE)
_PG_PRINCIPAL_WITHOUT_SESSION = _PG_PRINCIPAL.format(session="TRUE")


def _principal_from(user_id: uuid.UUID, rows: Sequence[Sequence[Any]]) -> PrincipalRecord | None:
    if not rows:
        return None
    grants = tuple(grant_from(r[1], r[2], r[3]) for r in rows if r[1] is not None)
    return PrincipalRecord(
        user_id=user_id,
        status=rows[0][0],
        grants=grants,
        session_active=bool(rows[0][4]),
        email_verified=bool(rows[0][5]),
    )


class SqlPrincipalQueries(PrincipalQueries):
    """The per-request read: user status, every grant and the session's state, in one statement.

    On PostgreSQL it goes through the plain psycopg read pool as one prepared
    statement: the SQLAlchemy async bridge costs several times the query (on a
    benchmark of this change: 0.4 ms against 2.6 ms per call, the statement itself 0.1 ms).
    ``fast_path=False`` forces the portable Core statement, which SQLite always
    uses. Either way it reads by index only: the users and user_grants primary
    keys (user_grants' leads with user_id) and one login_sessions index.
    """

    def __init__(self, db: Database, *, fast_path: bool | None = None) -> None:
        self._db = db
        self._fast = (not db.is_sqlite) if fast_path is None else fast_path and not db.is_sqlite

    async def principal_record(
        self, user_id: uuid.UUID, session_id: uuid.UUID | None, at: datetime
    ) -> PrincipalRecord | None:
        if self._fast:
            return await self._pg(user_id, session_id, at)
        if session_id is None:
            session_active: Any = true()
        else:
            session_active = exists().where(
                login_sessions.c.id == session_id,
                login_sessions.c.user_id == user_id,
                login_sessions.c.revoked_at.is_(None),
                login_sessions.c.expires_at > at,
            )
        query = (
            select(
                users.c.status,
                user_grants.c.role,
                user_grants.c.scope_kind,
                user_grants.c.scope_id,
                session_active.label("session_active"),
                users.c.email_verified_at.is_not(None).label("email_verified"),
            )
            .select_from(users.outerjoin(user_grants, user_grants.c.user_id == users.c.id))
            .where(users.c.id == user_id)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return _principal_from(user_id, rows)

    async def _pg(self, user_id: uuid.UUID, session_id: uuid.UUID | None, at: datetime) -> PrincipalRecord | None:
        params: dict[str, Any] = {"user_id": user_id}
        if session_id is None:
            sql = _PG_PRINCIPAL_WITHOUT_SESSION
        else:
            sql = _PG_PRINCIPAL_WITH_SESSION
            params |= {"session_id": session_id, "at": at}
        async with self._db.hot_read() as conn:
            rows = await (await conn.execute(sql, params)).fetchall()
        return _principal_from(user_id, rows)
