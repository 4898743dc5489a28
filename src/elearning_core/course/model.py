"""The Course aggregate: a course with ordered sections, each with ordered lessons.

All invariants live here: value rules (titles, slugs, languages, tags, lesson
content), the lifecycle (draft -> published -> draft, anything -> archived),
"no publishing without a lesson" and "an archived course is read-only". Each
state change records a domain event that the unit of work writes to the outbox.

The aggregate is always the editable draft. Publishing freezes the draft into
an immutable, numbered ``CourseVersion`` (a JSON snapshot with the lessons'
rendered HTML) that learners read; editing a published course changes the
draft only, until the next publish makes version N+1.
"""

from __future__ import annotations

import html
import re
import unicodedata
import urllib.parse
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from slugify import slugify as _slugify

from elearning_core.auth.model import Scope
from elearning_core.course import events as ev
from elearning_core.shared.errors import Conflict, FieldError, NotFound, ValidationFailed
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ids import CourseId, LessonId, SectionId, UserId, new_uuid
from elearning_core.shared.inputs import text_problem

TITLE_MAX = 200
SUMMARY_MAX = 500
DESCRIPTION_MAX = 20_000
SLUG_MIN, SLUG_MAX = 3, 80
TAG_MAX, TAGS_MAX = 40, 20
SECTIONS_MAX, LESSONS_MAX = 200, 1_000
BODY_MAX_BYTES = 100 * 1024
ATTACHMENTS_MAX = 20
ATTACHMENT_NAME_MAX = 255
URL_MAX = 2_048
STORAGE_KEY_MAX = 512
CONTENT_TYPE_MAX = 127
ATTACHMENT_SIZE_MAX = 5 * 1024**3
DURATION_MAX = 24 * 3600
SNAPSHOT_FORMAT = 1

_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$")
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9 +#.\-]*$")
_STORAGE_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(?:/[A-Za-z0-9][A-Za-z0-9._\-]*)*$")
_CONTENT_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+\-]*/[a-z0-9][a-z0-9!#$&^_.+\-]*$")
# Characters that are unsafe in a file name on some system or in a Content-Disposition header.
_UNSAFE_NAME_CHARS = frozenset('/\\<>:"|?*')


class CourseStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class LessonKind(StrEnum):
    TEXT = "text"
    VIDEO = "video"
    ASSESSMENT = "assessment"


class Level(StrEnum):
    BEGINNER = "beginner"
    INTERMEDIATE = "intermediate"
    ADVANCED = "advanced"
    ALL_LEVELS = "all_levels"


def _invalid(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field_name} {message}", [FieldError(field_name, message)])


def check_title(value: str, field_name: str = "title") -> str:
    value = value.strip()
    if not value:
        raise _invalid(field_name, "must not be blank")
    if len(value) > TITLE_MAX:
        raise _invalid(field_name, f"must be at most {TITLE_MAX} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise _invalid(field_name, "must not contain control characters")
    return value


def check_text(value: str, field_name: str, max_length: int) -> str:
    if len(value) > max_length:
        raise _invalid(field_name, f"must be at most {max_length} characters")
    problem = text_problem(value)  # the shared rule again, for callers that skip the commands
    if problem is not None:
        raise _invalid(field_name, problem)
    return value


def check_slug(value: str) -> str:
    """A slug is 3-80 characters of lowercase ASCII letters and digits in hyphen-separated words."""
    if not SLUG_MIN <= len(value) <= SLUG_MAX:
        raise _invalid("slug", f"must be {SLUG_MIN} to {SLUG_MAX} characters long")
    if not _SLUG_RE.fullmatch(value):
        raise _invalid("slug", "must be lowercase letters and digits separated by single hyphens")
    return value


def slugify(text: str) -> str:
    """A valid slug derived from ``text``: transliterated to ASCII, lowercased, hyphenated, padded if short.

    Transliteration is python-slugify's (the Russian title "Kurs po Java", in Cyrillic letters,
    gives ``kurs-po-java``; ``Crème brûlée`` gives ``creme-brulee``): a pure, maintained text
    library without I/O, so the core may use it (import-linter forbids infrastructure libraries).
    """
    slug = _slugify(text, max_length=SLUG_MAX, word_boundary=True)
    if len(slug) < SLUG_MIN:
        slug = f"{slug}-course" if slug else "course"
    return slug


def slug_with_suffix(base: str, number: int) -> str:
    """The ``number``-th candidate for ``base``: ``base`` itself for 1, else ``base-N`` cut to fit ``SLUG_MAX``."""
    if number <= 1:
        return base
    suffix = f"-{number}"
    return base[: SLUG_MAX - len(suffix)].rstrip("-") + suffix


def first_free_slug(base: str, taken: Collection[str]) -> str:
    """``base``, or the lowest ``base-N`` (N >= 2) that is not ``taken``."""
    number = 1
    while (candidate := slug_with_suffix(base, number)) in taken:
        number += 1
    return candidate


def check_language(value: str) -> str:
    """A BCP 47 style language tag (``en``, ``pt-br``), stored lowercase."""
    value = value.strip().lower()
    if not _LANGUAGE_RE.fullmatch(value) or len(value) > 35:
        raise _invalid("language", "must be a language tag such as 'en' or 'pt-br'")
    return value


def check_tags(values: Sequence[str]) -> list[str]:
    """Tags are trimmed, lowercased, de-duplicated (first occurrence wins) and capped."""
    tags: list[str] = []
    for raw in values:
        tag = " ".join(raw.split()).lower()
        if not tag or len(tag) > TAG_MAX or not _TAG_RE.fullmatch(tag):
            raise _invalid("tags", f"tag {raw!r} must be 1 to {TAG_MAX} letters, digits, spaces or + # . -")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        raise _invalid("tags", f"at most {TAGS_MAX} tags")
    return tags


def _check_permutation(kind: str, current: Sequence[uuid.UUID], proposed: Sequence[uuid.UUID]) -> None:
    if len(proposed) != len(set(proposed)):
        raise _invalid(f"{kind}_ids", "must name each item exactly once (duplicates given)")
    if set(proposed) != set(current):
        missing = len(set(current) - set(proposed))
        unknown = len(set(proposed) - set(current))
        raise _invalid(
            f"{kind}_ids",
            f"must name every {kind} of the course exactly once ({missing} missing, {unknown} unknown)",
        )


def check_attachment_name(value: str, field_name: str) -> str:
    """A file name a browser may offer to save: no path, no control or reserved characters."""
    value = value.strip()
    if not value or len(value) > ATTACHMENT_NAME_MAX:
        raise _invalid(field_name, f"must be 1 to {ATTACHMENT_NAME_MAX} characters")
    if value.startswith(".") or any(
        ch in _UNSAFE_NAME_CHARS or unicodedata.category(ch) in ("Cc", "Cf") for ch in value
    ):
        raise _invalid(field_name, 'must be a plain file name (no path, no leading dot, none of / \\ < > : " | ? *)')
    return value


def check_url(value: str, field_name: str) -> str:
    """An absolute http(s) URL with a host; nothing else (no javascript:, data:, file: ...)."""
    if len(value) > URL_MAX or any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in value):
        raise _invalid(field_name, f"must be an http(s) URL of at most {URL_MAX} characters without spaces")
    try:
        parts = urllib.parse.urlsplit(value)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
        raise _invalid(field_name, "must be an absolute http:// or https:// URL")
    return value


def check_storage_key(value: str, field_name: str) -> str:
    """A key in the platform's file storage: relative path segments of safe characters, no ``..``."""
    segments = value.split("/")
    if (
        len(value) > STORAGE_KEY_MAX
        or not _STORAGE_KEY_RE.fullmatch(value)
        or any(segment in (".", "..") or segment.startswith("..") for segment in segments)
    ):
        raise _invalid(
            field_name, f"must be a storage key of at most {STORAGE_KEY_MAX} letters, digits, '.', '_', '-' and '/'"
        )
    return value


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
        )


@dataclass(slots=True)
class Lesson:
    id: LessonId
    title: str
    content: LessonContent = field(default_factory=LessonContent)


@dataclass(slots=True)
class Section:
    id: SectionId
    title: str
    lessons: list[Lesson] = field(default_factory=list)

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


# The events of the edits that change what a version would snapshot.
_DRAFT_EDITS: frozenset[type[DomainEvent]] = frozenset(
    {
        ev.CourseDetailsChanged,
        ev.SectionAdded,
        ev.SectionRenamed,
        ev.SectionsReordered,
        ev.SectionRemoved,
        ev.LessonAdded,
        ev.LessonRenamed,
        ev.LessonsReordered,
        ev.LessonRemoved,
        ev.LessonContentChanged,
    }
)


@dataclass(slots=True, eq=False)
class Course:
    id: CourseId
    slug: str
    title: str
    summary: str
    description: str
    language: str
    level: Level
    tags: list[str]
    owner_id: UserId | None
    status: CourseStatus
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None
    sections: list[Section] = field(default_factory=list)
    version: int = 0
    organization_id: uuid.UUID | None = None
    published_version: int | None = None
    """The number of the latest published version (None: never published)."""
    has_unpublished_changes: bool = False
    """The draft was edited since the latest version was published."""
    published_details: PublishedDetails | None = None
    """The catalog-facing details of the latest version (set while it is published)."""
    _events: list[DomainEvent] = field(default_factory=list, repr=False)
    _unsaved_versions: list[CourseVersion] = field(default_factory=list, repr=False)

    # -- creation ----------------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        title: str,
        slug: str | None,
        at: datetime,
        summary: str = "",
        description: str = "",
        language: str = "en",
        level: Level = Level.BEGINNER,
        tags: Sequence[str] = (),
        owner_id: UserId | None = None,
        course_id: CourseId | None = None,
        organization_id: uuid.UUID | None = None,
    ) -> Course:
        title = check_title(title)
        course = cls(
            id=course_id or CourseId(new_uuid()),
            slug=check_slug(slug) if slug is not None else slugify(title),
            title=title,
            summary=check_text(summary, "summary", SUMMARY_MAX),
            description=check_text(description, "description", DESCRIPTION_MAX),
            language=check_language(language),
            level=Level(level),
            tags=check_tags(tags),
            owner_id=owner_id,
            status=CourseStatus.DRAFT,
            created_at=at,
            updated_at=at,
            organization_id=organization_id,
        )
        course._record(ev.CourseCreated, at, slug=course.slug, title=course.title, owner_id=owner_id)
        return course

    # -- events ------------------------------------------------------------------

    def _record(self, event_type: type[DomainEvent], at: datetime, **data: Any) -> None:
        self._events.append(event_type(occurred_at=at, aggregate_id=self.id, **data))
        self.updated_at = at
        if event_type in _DRAFT_EDITS and self.published_version is not None:
            self.has_unpublished_changes = True

    @property
    def pending_events(self) -> list[DomainEvent]:
        return list(self._events)

    def pull_events(self) -> list[DomainEvent]:
        events, self._events = self._events, []
        return events

    @property
    def unsaved_versions(self) -> list[CourseVersion]:
        """Versions published since the course was loaded; the repository writes them at commit."""
        return list(self._unsaved_versions)

    def pull_versions(self) -> list[CourseVersion]:
        versions, self._unsaved_versions = self._unsaved_versions, []
        return versions

    # -- queries on the aggregate ------------------------------------------------

    def authorization_scopes(self) -> tuple[Scope, ...]:
        """Where the course lives for the role policy: its own scope, then its organization's."""
        if self.organization_id is None:
            return (Scope.course(self.id),)
        return (Scope.course(self.id), Scope.organization(self.organization_id))

    @property
    def lesson_count(self) -> int:
        return sum(len(s.lessons) for s in self.sections)

    def section(self, section_id: uuid.UUID) -> Section:
        for section in self.sections:
            if section.id == section_id:
                return section
        raise NotFound("section", section_id)

    def _ensure_editable(self) -> None:
        if self.status is CourseStatus.ARCHIVED:
            raise Conflict("course is archived and can no longer be edited")

    @staticmethod
    def _insert_at(items: list[Any], item: Any, position: int | None) -> int:
        if position is None or position >= len(items):
            items.append(item)
            return len(items) - 1
        if position < 0:
            raise _invalid("position", "must be zero or positive")
        items.insert(position, item)
        return position

    # -- details -----------------------------------------------------------------

    def change_details(self, at: datetime, **changes: Any) -> None:
        """Apply the given detail fields; records one event naming what really changed."""
        self._ensure_editable()
        checkers = {
            "title": check_title,
            "slug": check_slug,
            "summary": lambda v: check_text(v, "summary", SUMMARY_MAX),
            "description": lambda v: check_text(v, "description", DESCRIPTION_MAX),
            "language": check_language,
            "level": Level,
            "tags": check_tags,
        }
        unknown = set(changes) - set(checkers)
        if unknown:
            raise _invalid(sorted(unknown)[0], "is not an editable course field")
        checked = {name: checkers[name](value) for name, value in changes.items()}
        if self.status is CourseStatus.PUBLISHED and "slug" in checked and checked["slug"] != self.slug:
            raise Conflict("the slug of a published course cannot change; unpublish it first")
        applied = {name: value for name, value in checked.items() if getattr(self, name) != value}
        if not applied:
            return
        for name, value in applied.items():
            setattr(self, name, value)
        self._record(
            ev.CourseDetailsChanged, at, changes={k: str(v) if isinstance(v, Level) else v for k, v in applied.items()}
        )

    # -- sections ----------------------------------------------------------------

    def add_section(
        self, title: str, at: datetime, position: int | None = None, section_id: SectionId | None = None
    ) -> Section:
        self._ensure_editable()
        if len(self.sections) >= SECTIONS_MAX:
            raise Conflict(f"a course has at most {SECTIONS_MAX} sections")
        section = Section(id=section_id or SectionId(new_uuid()), title=check_title(title))
        index = self._insert_at(self.sections, section, position)
        self._record(ev.SectionAdded, at, section_id=section.id, title=section.title, position=index)
        return section

    def rename_section(self, section_id: uuid.UUID, title: str, at: datetime) -> None:
        self._ensure_editable()
        section = self.section(section_id)
        title = check_title(title)
        if section.title != title:
            section.title = title
            self._record(ev.SectionRenamed, at, section_id=section.id, title=title)

    def reorder_sections(self, section_ids: Sequence[uuid.UUID], at: datetime) -> None:
        self._ensure_editable()
        _check_permutation("section", [s.id for s in self.sections], section_ids)
        by_id: dict[uuid.UUID, Section] = {s.id: s for s in self.sections}
        new_order = [by_id[i] for i in section_ids]
        if new_order != self.sections:
            self.sections = new_order
            self._record(ev.SectionsReordered, at, section_ids=list(section_ids))

    def remove_section(self, section_id: uuid.UUID, at: datetime) -> None:
        self._ensure_editable()
        section = self.section(section_id)
        if self.status is CourseStatus.PUBLISHED and self.lesson_count == len(section.lessons):
            raise Conflict("removing this section would leave the published course without lessons")
        self.sections.remove(section)
        self._record(ev.SectionRemoved, at, section_id=section.id, lesson_ids=[lesson.id for lesson in section.lessons])

    # -- lessons -----------------------------------------------------------------

    def add_lesson(
        self,
        section_id: uuid.UUID,
        title: str,
        at: datetime,
        position: int | None = None,
        lesson_id: LessonId | None = None,
    ) -> Lesson:
        self._ensure_editable()
        if self.lesson_count >= LESSONS_MAX:
            raise Conflict(f"a course has at most {LESSONS_MAX} lessons")
        section = self.section(section_id)
        lesson = Lesson(id=lesson_id or LessonId(new_uuid()), title=check_title(title))
        index = self._insert_at(section.lessons, lesson, position)
        self._record(ev.LessonAdded, at, section_id=section.id, lesson_id=lesson.id, title=lesson.title, position=index)
        return lesson

    def rename_lesson(self, section_id: uuid.UUID, lesson_id: uuid.UUID, title: str, at: datetime) -> None:
        self._ensure_editable()
        lesson = self.section(section_id).lesson(lesson_id)
        title = check_title(title)
        if lesson.title != title:
            lesson.title = title
            self._record(ev.LessonRenamed, at, lesson_id=lesson.id, title=title)

    def reorder_lessons(self, section_id: uuid.UUID, lesson_ids: Sequence[uuid.UUID], at: datetime) -> None:
        self._ensure_editable()
        section = self.section(section_id)
        _check_permutation("lesson", [lesson.id for lesson in section.lessons], lesson_ids)
        by_id: dict[uuid.UUID, Lesson] = {lesson.id: lesson for lesson in section.lessons}
        new_order = [by_id[i] for i in lesson_ids]
        if new_order != section.lessons:
            section.lessons = new_order
            self._record(ev.LessonsReordered, at, section_id=section.id, lesson_ids=list(lesson_ids))

    def lesson(self, lesson_id: uuid.UUID) -> Lesson:
        for section in self.sections:
            for lesson in section.lessons:
                if lesson.id == lesson_id:
                    return lesson
        raise NotFound("lesson", lesson_id)

    def set_lesson_content(
        self, section_id: uuid.UUID, lesson_id: uuid.UUID, content: LessonContent, at: datetime
    ) -> None:
        """Replace a lesson's content (already checked by ``LessonContent.checked``)."""
        self._ensure_editable()
        lesson = self.section(section_id).lesson(lesson_id)
        if lesson.content == content:
            return
        lesson.content = content
        self._record(
            ev.LessonContentChanged,
            at,
            section_id=section_id,
            lesson_id=lesson.id,
            kind=content.kind.value,
            video_id=content.video_id,
            assessment_id=content.assessment_id,
            attachment_ids=[a.id for a in content.attachments],
            duration_seconds=content.duration_seconds,
        )

    def remove_lesson(self, section_id: uuid.UUID, lesson_id: uuid.UUID, at: datetime) -> None:
        self._ensure_editable()
        section = self.section(section_id)
        lesson = section.lesson(lesson_id)
        if self.status is CourseStatus.PUBLISHED and self.lesson_count == 1:
            raise Conflict("removing the last lesson of a published course is not allowed; unpublish it first")
        section.lessons.remove(lesson)
        self._record(ev.LessonRemoved, at, section_id=section.id, lesson_id=lesson.id)

    # -- lifecycle ---------------------------------------------------------------

    def publish(
        self, at: datetime, *, by: uuid.UUID | None = None, render: MarkdownToHtml = escaped_text_html
    ) -> CourseVersion:
        """Freeze the draft into version N+1, which learners see from now on.

        A published course may be published again once its draft has changed;
        ``render`` turns each lesson's Markdown into the sanitised HTML the
        version keeps.
        """
        if self.status is CourseStatus.ARCHIVED:
            raise Conflict("an archived course cannot be published")
        if self.status is CourseStatus.PUBLISHED and not self.has_unpublished_changes:
            raise Conflict("course is already published and its draft has no unpublished changes")
        if self.lesson_count == 0:
            raise Conflict("a course needs at least one lesson before it can be published")
        number = (self.published_version or 0) + 1
        self.status = CourseStatus.PUBLISHED
        self.published_at = at
        self.published_version = number
        self.has_unpublished_changes = False
        self._record(ev.CoursePublished, at, slug=self.slug, published_at=at, version_number=number)
        self.published_details = PublishedDetails(
            title=self.title,
            summary=self.summary,
            description=self.description,
            language=self.language,
            level=self.level,
            tags=tuple(self.tags),
            section_count=len(self.sections),
            lesson_count=self.lesson_count,
        )
        version = CourseVersion(
            course_id=self.id, number=number, published_at=at, published_by=by, snapshot=self.snapshot(render)
        )
        self._unsaved_versions.append(version)
        return version

    def snapshot(self, render: MarkdownToHtml = escaped_text_html) -> dict[str, Any]:
        """The draft as JSON-ready data, lesson HTML included: what a published version stores."""
        return {
            "format": SNAPSHOT_FORMAT,
            "title": self.title,
            "summary": self.summary,
            "description": self.description,
            "language": self.language,
            "level": self.level.value,
            "tags": list(self.tags),
            "updated_at": self.updated_at.isoformat(),
            "sections": [
                {
                    "id": str(section.id),
                    "title": section.title,
                    "lessons": [
                        {
                            "id": str(lesson.id),
                            "title": lesson.title,
                            "kind": lesson.content.kind.value,
                            "body_markdown": lesson.content.body_markdown,
                            "body_html": render(lesson.content.body_markdown) if lesson.content.body_markdown else "",
                            "video_id": _str_or_none(lesson.content.video_id),
                            "assessment_id": _str_or_none(lesson.content.assessment_id),
                            "attachments": [a.to_json() for a in lesson.content.attachments],
                            "duration_seconds": lesson.content.duration_seconds,
                        }
                        for lesson in section.lessons
                    ],
                }
                for section in self.sections
            ],
        }

    def unpublish(self, at: datetime) -> None:
        if self.status is not CourseStatus.PUBLISHED:
            raise Conflict(f"only a published course can be unpublished (it is {self.status})")
        self.status = CourseStatus.DRAFT
        self._record(ev.CourseUnpublished, at)

    def archive(self, at: datetime) -> None:
        if self.status is CourseStatus.ARCHIVED:
            raise Conflict("course is already archived")
        self.status = CourseStatus.ARCHIVED
        self._record(ev.CourseArchived, at)

    def mark_deleted(self, at: datetime) -> None:
        """Check that the course may be deleted and record the deletion."""
        if self.status is not CourseStatus.DRAFT:
            raise Conflict(f"only a draft course can be deleted (it is {self.status}); archive it instead")
        self._record(ev.CourseDeleted, at, slug=self.slug)


def _str_or_none(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None
