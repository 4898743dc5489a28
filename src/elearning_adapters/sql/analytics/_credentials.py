"""The learning record store's credentials (migration 0035): key, the secret's digest, organization, scopes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, String, Table, exists, select, update
from sqlalchemy.types import Uuid

from elearning_adapters.sql.engine import Database, UtcDateTime, metadata
from elearning_core.analytics.lrs_credentials import LrsCredential, LrsCredentialStore, LrsScope, OrganizationExists

lrs_credentials = Table(
    "lrs_credentials",
    metadata,
    Column("key", String(40), primary_key=True),
    Column("secret_digest", String(64), nullable=False),
    Column("organization_id", Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("scopes", String(100), nullable=False),
    Column("label", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
)
Index("ix_lrs_credentials_organization", lrs_credentials.c.organization_id)

c = lrs_credentials


def _credential(row: Any) -> LrsCredential:
    return LrsCredential(
        key=row.key,
        organization_id=row.organization_id,
        scopes=frozenset(LrsScope(s) for s in row.scopes.split()),
        secret_digest=row.secret_digest,
        created_at=row.created_at,
        label=row.label,
        revoked_at=row.revoked_at,
    )


class SqlLrsCredentialStore(LrsCredentialStore):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, credential: LrsCredential) -> None:
        async with self._db.write() as conn, conn.begin():
            await conn.execute(
                c.insert().values(
                    key=credential.key,
                    secret_digest=credential.secret_digest,
                    organization_id=credential.organization_id,
                    scopes=" ".join(sorted(s.value for s in credential.scopes)),
                    label=credential.label,
                    created_at=credential.created_at,
                    revoked_at=credential.revoked_at,
                )
            )

    async def get(self, key: str) -> LrsCredential | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(c).where(c.c.key == key))).first()
        return None if row is None else _credential(row)

    async def list(self, organization_id: uuid.UUID | None) -> list[LrsCredential]:
        statement = select(c).order_by(c.c.created_at.desc(), c.c.key)
        if organization_id is not None:
            statement = statement.where(c.c.organization_id == organization_id)
        async with self._db.read() as conn:
            return [_credential(row) for row in await conn.execute(statement)]

    async def revoke(self, key: str, at: datetime) -> bool:
        async with self._db.write() as conn, conn.begin():
            done = await conn.execute(update(c).where(c.c.key == key, c.c.revoked_at.is_(None)).values(revoked_at=at))
        return bool(done.rowcount)


class SqlOrganizationExists(OrganizationExists):
    """Whether an organization exists, read from the identity module's table (no import of its adapter)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def __call__(self, organization_id: uuid.UUID) -> bool:
        return await row_exists(self._db, "organizations", organization_id)


async def row_exists(database: Database, table: str, ident: uuid.UUID) -> bool:
    """Whether the row ``ident`` of another module's table ``table`` (keyed by ``id``) exists."""
    rows = metadata.tables[table]
    async with database.read() as conn:
        return bool((await conn.execute(select(exists().where(rows.c.id == ident)))).scalar())
