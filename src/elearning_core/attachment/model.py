"""A lesson's uploaded file: what it is (sniffed), where its bytes are, and whether it may be downloaded."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from elearning_core.attachment.events import AttachmentAdded, AttachmentRejected, AttachmentRemoved
from elearning_core.shared.errors import Conflict, DomainError, ValidationFailed
from elearning_core.shared.events import DomainEvent, RecordsEvents


class AttachmentStatus(StrEnum):
    AVAILABLE = "available"
    """Scanned clean: downloadable by whoever may read the lesson."""
    REJECTED = "rejected"
    """The scanner found malware: the bytes are gone, the row records who sent what."""


class AttachmentTooLarge(DomainError):
    """Larger than the configured limit (HTTP 413)."""

    code = "attachment_too_large"


class UnsupportedAttachmentType(DomainError):
    """The content (sniffed, whatever the client said) is not an allowed type (HTTP 415)."""

    code = "unsupported_attachment_type"


class AttachmentInfected(ValidationFailed):
    """The virus scanner found ``signature``: refused, deleted, recorded (HTTP 422)."""

    code = "attachment_infected"

    def __init__(self, signature: str) -> None:
        super().__init__(f"the file was refused: the virus scanner found {signature}")
        self.signature = signature


class AttachmentLimitReached(Conflict):
    rule = "attachment-limit"


def storage_key(course_id: uuid.UUID, lesson_id: uuid.UUID, attachment_id: uuid.UUID) -> str:
    return f"attachments/{course_id}/{lesson_id}/{attachment_id}"


@dataclass(eq=False)
class LessonAttachment(RecordsEvents):
    id: uuid.UUID
    course_id: uuid.UUID
    lesson_id: uuid.UUID
    name: str
    """The name offered on download (``sniffing.download_name``: its extension fits the content)."""
    content_type: str
    """Sniffed from the bytes."""
    size: int
    sha256: str
    status: AttachmentStatus
    uploaded_by: uuid.UUID | None
    created_at: datetime
    signature: str | None = None
    """What the scanner found in a rejected upload."""
    _events: list[DomainEvent] = field(default_factory=list, repr=False)

    @property
    def key(self) -> str:
        return storage_key(self.course_id, self.lesson_id, self.id)

    @classmethod
    def accepted(cls, **fields: object) -> LessonAttachment:
        attachment = cls(status=AttachmentStatus.AVAILABLE, **fields)  # type: ignore[arg-type]
        attachment._events.append(
            AttachmentAdded(
                occurred_at=attachment.created_at,
                aggregate_id=attachment.id,
                course_id=attachment.course_id,
                lesson_id=attachment.lesson_id,
                name=attachment.name,
                content_type=attachment.content_type,
                size=attachment.size,
                sha256=attachment.sha256,
            )
        )
        return attachment

    @classmethod
    def rejected(cls, signature: str, **fields: object) -> LessonAttachment:
        attachment = cls(status=AttachmentStatus.REJECTED, signature=signature, **fields)  # type: ignore[arg-type]
        attachment._events.append(
            AttachmentRejected(
                occurred_at=attachment.created_at,
                aggregate_id=attachment.id,
                course_id=attachment.course_id,
                lesson_id=attachment.lesson_id,
                name=attachment.name,
                size=attachment.size,
                sha256=attachment.sha256,
                signature=signature,
                uploaded_by=attachment.uploaded_by,
            )
        )
        return attachment

    def remove(self, at: datetime) -> None:
        self._events.append(
            AttachmentRemoved(occurred_at=at, aggregate_id=self.id, course_id=self.course_id, lesson_id=self.lesson_id)
        )
