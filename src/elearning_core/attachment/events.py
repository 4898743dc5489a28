"""Attachment events (topic ``elearning.attachment``, key: the attachment's id)."""

from __future__ import annotations

import uuid

from elearning_core.shared.events import DomainEvent


class AttachmentAdded(DomainEvent):
    """A file passed the limits, the sniffing and the virus scan: learners who may read the lesson download it."""

    type = "attachment.added.v1"
    course_id: uuid.UUID
    lesson_id: uuid.UUID
    name: str
    content_type: str
    size: int
    sha256: str


class AttachmentRemoved(DomainEvent):
    type = "attachment.removed.v1"
    course_id: uuid.UUID
    lesson_id: uuid.UUID


class AttachmentRejected(DomainEvent):
    """The virus scanner found ``signature`` in an upload: its bytes were deleted, only this record stays."""

    type = "attachment.rejected.v1"
    course_id: uuid.UUID
    lesson_id: uuid.UUID
    name: str
    size: int
    sha256: str
    signature: str
    uploaded_by: uuid.UUID | None
