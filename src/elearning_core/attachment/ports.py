"""What attachments need from outside: their rows, a virus scanner, and the course's outlines."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Protocol

from elearning_core.attachment.model import LessonAttachment
from elearning_core.course.gating import PublishedOutlines
from elearning_core.course.queries import CourseOutline
from elearning_core.shared.ports import UnitOfWork


class AttachmentStore(Protocol):
    async def get(self, attachment_id: uuid.UUID) -> LessonAttachment | None: ...

    async def count_available(self, lesson_id: uuid.UUID) -> int: ...

    async def list_available(self, lesson_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[LessonAttachment]:
        """The lesson's downloadable files in id order (ids are time-ordered: oldest first), after ``after``."""
        ...

    async def add(self, attachment: LessonAttachment) -> None: ...

    async def delete(self, attachment: LessonAttachment) -> None:
        """Drop the row; the attachment's recorded events (``remove``) still reach the outbox."""
        ...


class AttachmentUnitOfWork(UnitOfWork, Protocol):
    attachments: AttachmentStore


class LessonOutlines(PublishedOutlines, Protocol):
    """The course's catalog reads: the draft (staff add files to any lesson of it) and the published version."""

    async def outline(self, course_id: uuid.UUID) -> CourseOutline | None: ...


@dataclass(frozen=True, slots=True)
class ScanResult:
    signature: str | None = None
    """What the scanner found; None: clean."""

    @property
    def clean(self) -> bool:
        return self.signature is None


CLEAN = ScanResult()


class ScannerUnavailable(Exception):
    """The scanner could not be reached or gave no verdict: the file is refused (nothing unscanned is served)."""


class VirusScanner(Protocol):
    async def scan(self, chunks: AsyncIterable[bytes]) -> ScanResult:
        """The verdict on the stream's bytes; ``ScannerUnavailable`` when there is none."""
        ...


class NoScanner(VirusScanner):
    """The embedded default: nothing is scanned (configure clamd with ``ELEARNING_CLAMD_ADDRESS``)."""

    async def scan(self, chunks: AsyncIterable[bytes]) -> ScanResult:
        return CLEAN
