"""Idempotency keys in the database, so a repeat is recognised whichever server process it reaches.

One row per (caller, route, key). A claim is one short transaction of its own,
committed before the request runs: the primary key decides between two requests
that claim the same key at once (the second sees the first's row and is told
the key is in use), and the row then carries the stored answer for the repeats.
A row whose request died while holding it (``locked_until`` passed, no answer)
may be taken over; an expired row is a free key.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, LargeBinary, String, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from elearning_adapters.sql.engine import Database, UtcDateTime, metadata
from elearning_core.shared.ports import (
    Claim,
    ClaimOutcome,
    IdempotencyScope,
    IdempotencyStore,
    StoredResponse,
)

KEY_MAX = 255
CALLER_MAX = 255
ROUTE_MAX = 300

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("caller", String(CALLER_MAX), primary_key=True),
    Column("route", String(ROUTE_MAX), primary_key=True),
    Column("key", String(KEY_MAX), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    # While the first request runs: until when it holds the key. NULL once its answer is stored.
    Column("locked_until", UtcDateTime, nullable=True),
    Column("status", Integer, nullable=True),
    Column("headers", JSON, nullable=True),
    Column("body", LargeBinary, nullable=True),
)
Index("ix_idempotency_keys_expires_at", idempotency_keys.c.expires_at)

_CLAIM_TRIES = 3


def _where(scope: IdempotencyScope) -> Any:
    c = idempotency_keys.c
    return (c.caller == scope.caller) & (c.route == scope.route) & (c.key == scope.key)


class SqlIdempotencyStore(IdempotencyStore):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(
        self, scope: IdempotencyScope, fingerprint: str, *, now: datetime, ttl: timedelta, lock: timedelta
    ) -> Claim:
        fresh = {
            "fingerprint": fingerprint,
            "created_at": now,
            "expires_at": now + ttl,
            "locked_until": now + lock,
            "status": None,
            "headers": None,
            "body": None,
        }
        for _ in range(_CLAIM_TRIES):
            try:
                return await self._claim_once(scope, fingerprint, now, fresh)
            except IntegrityError:
                continue  # another request inserted the key between our read and our insert: read it
        return Claim(ClaimOutcome.IN_USE)

    async def _claim_once(
        self, scope: IdempotencyScope, fingerprint: str, now: datetime, fresh: dict[str, Any]
    ) -> Claim:
        c = idempotency_keys.c
        async with self._db.write() as conn:
            query = select(c.fingerprint, c.expires_at, c.locked_until, c.status, c.headers, c.body).where(
                _where(scope)
            )
            row = (await conn.execute(query.with_for_update())).one_or_none()
            if row is None:
                await conn.execute(
                    insert(idempotency_keys).values(caller=scope.caller, route=scope.route, key=scope.key, **fresh)
                )
            elif row.expires_at <= now:
                await conn.execute(update(idempotency_keys).where(_where(scope)).values(**fresh))
            elif row.fingerprint != fingerprint:
                return Claim(ClaimOutcome.MISMATCH)
            elif row.status is not None:
                headers = tuple((str(name), str(value)) for name, value in row.headers or ())
                return Claim(ClaimOutcome.REPLAY, StoredResponse(row.status, headers, bytes(row.body or b"")))
            elif row.locked_until is not None and row.locked_until > now:
                return Claim(ClaimOutcome.IN_USE)
            else:
                # Its request died holding the key (no answer, lock run out): this repeat runs it again.
                await conn.execute(
                    update(idempotency_keys).where(_where(scope)).values(locked_until=fresh["locked_until"])
                )
            await conn.commit()
        return Claim(ClaimOutcome.NEW)

    async def complete(self, scope: IdempotencyScope, fingerprint: str, response: StoredResponse) -> None:
        c = idempotency_keys.c
        async with self._db.write() as conn:
            await conn.execute(
                update(idempotency_keys)
                .where(_where(scope), c.fingerprint == fingerprint, c.status.is_(None))
                .values(
                    status=response.status,
                    headers=[list(header) for header in response.headers],
                    body=response.body,
                    locked_until=None,
                )
            )
            await conn.commit()

    async def release(self, scope: IdempotencyScope, fingerprint: str) -> None:
        c = idempotency_keys.c
        async with self._db.write() as conn:
            await conn.execute(
                delete(idempotency_keys).where(_where(scope), c.fingerprint == fingerprint, c.status.is_(None))
            )
            await conn.commit()

    async def prune(self, now: datetime) -> int:
        async with self._db.write() as conn:
            result = await conn.execute(delete(idempotency_keys).where(idempotency_keys.c.expires_at <= now))
            await conn.commit()
        return int(result.rowcount or 0)
