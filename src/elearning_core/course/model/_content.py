"""The outline's values: attachments, lesson content, section release, lessons, sections and published versions."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from elearning_core.course.requirements import Requirement
from elearning_core.course.values import (
    _CONTENT_TYPE_RE,
    ATTACHMENT_SIZE_MAX,
    ATTACHMENTS_MAX,
    BODY_MAX_BYTES,
    CONTENT_TYPE_MAX,
    DURATION_MAX,
    RELEASE_AFTER_DAYS_MAX,
    LessonKind,
    Level,
    _invalid,
    check_attachment_name,
    check_storage_key,
    check_url,
)
from elearning_core.shared.errors import NotFound
from elearning_core.shared.ids import CourseId, LessonId, SectionId, new_uuid


@dataclass(frozen=True, slots=True)
class Attachment:
    """A downloadable file of a lesson: an external http(s) URL, or a key in the platform's storage."""

    id: uuid.UUID
    name: str
    size_bytes: int
    content_type: str
    url: str | None = None
    storage_key: str | None = None

    @classmethod
    def checked(
        cls,
        *,
        name: str,
        size_bytes: int,
        content_type: str,
        url: str | None = None,
        storage_key: str | None = None,
        attachment_id: uuid.UUID | None = None,
        field_prefix: str = "attachment",
    ) -> Attachment:
        if (url is None) == (storage_key is None):
            raise _invalid(field_prefix, "needs exactly one of url and storage_key")
        if not 0 <= size_bytes <= ATTACHMENT_SIZE_MAX:
            raise _invalid(f"{field_prefix}.size_bytes", f"must be 0 to {ATTACHMENT_SIZE_MAX} bytes")
        content_type = content_type.strip().lower()
        if len(content_type) > CONTENT_TYPE_MAX or not _CONTENT_TYPE_RE.fullmatch(content_type):
            raise _invalid(f"{field_prefix}.content_type", "must be a media type such as 'application/pdf'")
        return cls(
            id=attachment_id or new_uuid(),
            name=check_attachment_name(name, f"{field_prefix}.name"),
            size_bytes=size_bytes,
            content_type=content_type,
            url=check_url(url, f"{field_prefix}.url") if url is not None else None,
            storage_key=check_storage_key(storage_key, f"{field_prefix}.storage_key")
            if storage_key is not None
            else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "size_bytes": self.size_bytes,
            "content_type": self.content_type,
            "url": self.url,
            "storage_key": self.storage_key,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attachment:
        return cls(
            id=uuid.UUID(data["id"]),
            name=data["name"],
            size_bytes=data["size_bytes"],
            content_type=data["content_type"],
            url=data.get("url"),
            storage_key=data.get("storage_key"),
        )


@dataclass(frozen=True, slots=True)
class LessonContent:
    """What a lesson teaches: Markdown text, a video asset, an assessment, attachments.

    Stored as the author wrote it (Markdown); HTML is rendered and sanitised
    from it when a version is published, and on read for the draft.
    """

    kind: LessonKind = LessonKind.TEXT
    body_markdown: str = ""
    video_id: uuid.UUID | None = None
    assessment_id: uuid.UUID | None = None
    attachments: tuple[Attachment, ...] = ()
    duration_seconds: int | None = None
    preview: bool = False
    """A free preview: open to everyone, enrolled or not (see ``elearning_core.course.gating``)."""

    @classmethod
    def checked(
        cls,
        *,
        kind: LessonKind | str = LessonKind.TEXT,
        body_markdown: str = "",
        video_id: uuid.UUID | None = None,
        assessment_id: uuid.UUID | None = None,
        attachments: Sequence[Attachment] = (),
        duration_seconds: int | None = None,
        preview: bool = False,
    ) -> LessonContent:
        try:
            kind = LessonKind(kind)
        except ValueError:
            raise _invalid("kind", f"must be one of {', '.join(k.value for k in LessonKind)}") from None
        if len(body_markdown.encode("utf-8", "surrogatepass")) > BODY_MAX_BYTES:
            raise _invalid("body_markdown", f"must be at most {BODY_MAX_BYTES // 1024} KB of UTF-8 text")
        if "\x00" in body_markdown:
            raise _invalid("body_markdown", "must not contain NUL characters")
        if kind is LessonKind.VIDEO and video_id is None:
            raise _invalid("video_id", "is required for a video lesson")
        if len(attachments) > ATTACHMENTS_MAX:
            raise _invalid("attachments", f"at most {ATTACHMENTS_MAX} attachments")
        ids = [a.id for a in attachments]
        if len(ids) != len(set(ids)):
            raise _invalid("attachments", "must not repeat an attachment id")
        if duration_seconds is not None and not 0 <= duration_seconds <= DURATION_MAX:
            raise _invalid("duration_seconds", f"must be 0 to {DURATION_MAX} seconds")
        return cls(
            kind=kind,
            body_markdown=body_markdown,
            video_id=video_id,
            assessment_id=assessment_id,
            attachments=tuple(attachments),
            duration_seconds=duration_seconds,
            preview=bool(preview),
        )


@dataclass(frozen=True, slots=True)
class SectionRelease:
    """When a section's content opens to learners: at a date, or some days after each learner enrolled.

    At most one of the two; neither means "with the course". Staff are never held back.
    """

    release_at: datetime | None = None
    release_after_days: int | None = None

    @classmethod
    def checked(cls, release_at: datetime | None = None, release_after_days: int | None = None) -> SectionRelease:
        if release_at is not None and release_after_days is not None:
            raise _invalid("release_after_days", "give release_at or release_after_days, not both")
        if release_at is not None and release_at.tzinfo is None:
            raise _invalid("release_at", "must carry a time zone (e.g. 2026-09-01T00:00:00Z)")
        if release_after_days is not None and not 0 <= release_after_days <= RELEASE_AFTER_DAYS_MAX:
            raise _invalid("release_after_days", f"must be 0 to {RELEASE_AFTER_DAYS_MAX} days")
        return cls(release_at, release_after_days)

    def available_at(self, enrolled_at: datetime | None) -> datetime | None:
        """When the section opens for a learner enrolled at ``enrolled_at`` (None: no release date)."""
        if self.release_at is not None:
            return self.release_at
        if self.release_after_days is not None and enrolled_at is not None:
            return enrolled_at + timedelta(days=self.release_after_days)
        return None


@dataclass(slots=True)
class Lesson:
    id: LessonId
    title: str
    content: LessonContent = field(default_factory=LessonContent)
    requirements: tuple[Requirement, ...] = ()
    """What a learner must meet before opening the lesson (conditional release)."""


@dataclass(slots=True)
class Section:
    id: SectionId
    title: str
    lessons: list[Lesson] = field(default_factory=list)
    release: SectionRelease = field(default_factory=SectionRelease)
    requirements: tuple[Requirement, ...] = ()
    """What a learner must meet before opening any lesson of the section (conditional release)."""

    def lesson(self, lesson_id: uuid.UUID) -> Lesson:
        for lesson in self.lessons:
            if lesson.id == lesson_id:
                return lesson
        raise NotFound("lesson", lesson_id)


@dataclass(frozen=True, slots=True)
class PublishedDetails:
    """The catalog-facing details of the latest published version (what the catalog lists)."""

    title: str
    summary: str
    description: str
    language: str
    level: Level
    tags: tuple[str, ...]
    section_count: int
    lesson_count: int


@dataclass(frozen=True, slots=True)
class CourseVersion:
    """One published version of a course: immutable once written.

    ``snapshot`` is JSON-ready data (see ``Course.snapshot``): the course's
    details and its whole outline with lesson content and sanitised HTML, so
    that reading a version is one row and no rendering.
    """

    course_id: CourseId
    number: int
    published_at: datetime
    published_by: uuid.UUID | None
    snapshot: dict[str, Any]


MarkdownToHtml = Callable[[str], str]


def escaped_text_html(markdown: str) -> str:
    """The fallback renderer: the text escaped, one paragraph per blank-line block (no Markdown).

    Safe by construction; the platform wires a real Markdown renderer (the
    ``MarkdownRenderer`` port) into the service, this serves library callers
    and tests that publish without one.
    """
    blocks = [b.strip() for b in re.split(r"\n\s*\n", markdown) if b.strip()]
    return "".join(f"<p>{html.escape(b)}</p>\n" for b in blocks)
