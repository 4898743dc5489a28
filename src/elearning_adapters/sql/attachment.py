"""The ``lesson_attachments`` table: a lesson's uploaded files (their bytes are in the object store).

No foreign key to the lesson: a lesson removed from the draft stays in the published version learners
read, and its files with it. Rejected (infected) uploads keep their row as the record of what was refused.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table, Uuid, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.engine import UtcDateTime, metadata
from elearning_core.attachment.model import AttachmentStatus, LessonAttachment
from elearning_core.attachment.ports import AttachmentStore
from elearning_core.shared.events import RecordsEvents

lesson_attachments = Table(
    "lesson_attachments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("lesson_id", Uuid, nullable=False),
    Column("name", String(300), nullable=False),
    Column("content_type", String(127), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("signature", String(300), nullable=True),
    Column("uploaded_by", Uuid, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_lesson_attachments_lesson", "lesson_id", "status", "id"),
)


def _attachment(row: Any) -> LessonAttachment:
    return LessonAttachment(
        id=row.id,
        course_id=row.course_id,
        lesson_id=row.lesson_id,
        name=row.name,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        status=AttachmentStatus(row.status),
        uploaded_by=row.uploaded_by,
        created_at=row.created_at,
        signature=row.signature,
    )


class SqlAttachmentStore(AttachmentStore):
    """On the unit of work's connection; the attachments it touched give their events at commit."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._seen: list[LessonAttachment] = []

    def seen(self) -> list[RecordsEvents]:
        return list(self._seen)

    async def get(self, attachment_id: uuid.UUID) -> LessonAttachment | None:
        row = (
            await self._conn.execute(select(lesson_attachments).where(lesson_attachments.c.id == attachment_id))
        ).first()
        if row is None:
            return None
        attachment = _attachment(row)
        self._seen.append(attachment)
        return attachment

    async def count_available(self, lesson_id: uuid.UUID) -> int:
        query = select(func.count()).where(
            lesson_attachments.c.lesson_id == lesson_id, lesson_attachments.c.status == AttachmentStatus.AVAILABLE.value
        )
        return int((await self._conn.execute(query)).scalar_one())

    async def list_available(self, lesson_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[LessonAttachment]:
        query = select(lesson_attachments).where(
            lesson_attachments.c.lesson_id == lesson_id, lesson_attachments.c.status == AttachmentStatus.AVAILABLE.value
        )
        if after is not None:
            query = query.where(lesson_attachments.c.id > after)
        rows = await self._conn.execute(query.order_by(lesson_attachments.c.id).limit(limit))
        return [_attachment(row) for row in rows]

    async def add(self, attachment: LessonAttachment) -> None:
        values = {column.name: getattr(attachment, column.name) for column in lesson_attachments.c}
        await self._conn.execute(insert(lesson_attachments).values(values | {"status": attachment.status.value}))
        self._seen.append(attachment)

    async def delete(self, attachment: LessonAttachment) -> None:
        await self._conn.execute(delete(lesson_attachments).where(lesson_attachments.c.id == attachment.id))
        if attachment not in self._seen:
            self._seen.append(attachment)
