"""The object-store tus uploads' state (``elearning_core.video.uploads.UploadStates``) in the upload rows.

The lease is two columns of ``video_uploads`` (holder, until), taken by a conditional ``UPDATE`` committed
at once, so every API process sees it: of two PATCHes racing for a free (or run-out) lease, PostgreSQL
re-evaluates the second's WHERE on the row the first committed and SQLite serialises the writers, so one
wins. Saving the state re-checks the holder in the same transaction (a fence against a holder whose lease
was taken over). The parts are rows of ``video_upload_parts``: a save writes the ones its PATCH added.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    and_,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.types import Uuid

from elearning_adapters.sql.engine import Database, metadata
from elearning_adapters.sql.video import video_uploads
from elearning_core.shared.storage import UploadedPart
from elearning_core.video.uploads import StoredUploadRef, UploadState, UploadStates

video_upload_parts = Table(
    "video_upload_parts",
    metadata,
    Column("upload_id", Uuid, ForeignKey("video_uploads.id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("etag", String(200), nullable=False),
    Column("size", BigInteger, nullable=False),
)

u = video_uploads.c
p = video_upload_parts.c


class SqlUploadStates(UploadStates):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def claim(self, upload_id: uuid.UUID, holder: str, now: datetime, until: datetime) -> UploadState | None:
        async with self._db.write() as conn, conn.begin():
            taken = await conn.execute(
                update(video_uploads)
                .where(u.id == upload_id, or_(u.lease_holder.is_(None), u.lease_until <= now))
                .values(lease_holder=holder, lease_until=until)
            )
            if taken.rowcount != 1:
                return None
            return await self._read(conn, upload_id)

    async def renew(self, upload_id: uuid.UUID, holder: str, until: datetime) -> bool:
        async with self._db.write() as conn, conn.begin():
            renewed = await conn.execute(
                update(video_uploads).where(_held(upload_id, holder)).values(lease_until=until)
            )
            return bool(renewed.rowcount == 1)

    async def save(
        self, upload_id: uuid.UUID, holder: str, state: UploadState, *, stored_parts: int = 0, release: bool = False
    ) -> bool:
        values: dict[str, Any] = {
            "upload_offset": state.offset,
            "multipart_id": state.multipart_id,
            "staged": list(state.staged),
        }
        if release:
            values |= {"lease_holder": None, "lease_until": None}
        new = state.parts[stored_parts:]
        async with self._db.write() as conn, conn.begin():
            saved = await conn.execute(update(video_uploads).where(_held(upload_id, holder)).values(**values))
            if saved.rowcount != 1:
                return False
            # Rows after the stored parts (none, as parts are only ever added after them) give way to the new
            # ones; with none stored, the parts are replaced whole.
            after = state.parts[stored_parts - 1].number if stored_parts else 0
            await conn.execute(delete(video_upload_parts).where(p.upload_id == upload_id, p.number > after))
            if new:
                await conn.execute(
                    insert(video_upload_parts),
                    [{"upload_id": upload_id, "number": x.number, "etag": x.etag, "size": x.size} for x in new],
                )
            return True

    async def release(self, upload_id: uuid.UUID, holder: str) -> None:
        async with self._db.write() as conn, conn.begin():
            await conn.execute(
                update(video_uploads).where(_held(upload_id, holder)).values(lease_holder=None, lease_until=None)
            )

    async def state(self, upload_id: uuid.UUID) -> UploadState | None:
        async with self._db.read() as conn:
            return await self._read(conn, upload_id)

    @staticmethod
    async def _read(conn: Any, upload_id: uuid.UUID) -> UploadState | None:
        row = (await conn.execute(select(u.upload_offset, u.multipart_id, u.staged).where(u.id == upload_id))).first()
        if row is None:
            return None
        parts = await conn.execute(select(p.number, p.etag, p.size).where(p.upload_id == upload_id).order_by(p.number))
        return UploadState(
            offset=row.upload_offset,
            multipart_id=row.multipart_id,
            parts=tuple(UploadedPart(x.number, x.etag, x.size) for x in parts),
            staged=tuple(int(size) for size in row.staged or ()),
        )

    async def expired(self, now: datetime, limit: int) -> list[StoredUploadRef]:
        async with self._db.read() as conn:
            rows = await conn.execute(
                select(u.id, u.video_id, u.multipart_id, u.upload_offset, u.length)
                .where(u.expires_at <= now)
                .order_by(u.expires_at)
                .limit(limit)
            )
            return [StoredUploadRef(r.id, r.video_id, r.multipart_id, r.upload_offset >= r.length) for r in rows]

    async def forget(self, upload_id: uuid.UUID) -> None:
        async with self._db.write() as conn, conn.begin():
            await conn.execute(delete(video_upload_parts).where(p.upload_id == upload_id))
            await conn.execute(delete(video_uploads).where(u.id == upload_id))

    async def live(self, now: datetime) -> tuple[set[str], set[uuid.UUID]]:
        async with self._db.read() as conn:
            rows = (await conn.execute(select(u.id, u.multipart_id).where(u.expires_at > now))).all()
        return {r.multipart_id for r in rows if r.multipart_id is not None}, {r.id for r in rows}


def _held(upload_id: uuid.UUID, holder: str) -> Any:
    return and_(u.id == upload_id, u.lease_holder == holder)
