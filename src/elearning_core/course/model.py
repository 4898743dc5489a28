"""The Course aggregate: a course with ordered sections, each with ordered lessons.

All invariants live here: value rules (titles, slugs, languages, tags), the
lifecycle (draft -> published -> draft, anything -> archived), "no publishing
without a lesson" and "an archived course is read-only". Each state change
records a domain event that the unit of work writes to the outbox.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from elearning_core.auth.model import Scope
from elearning_core.course import events as ev
from elearning_core.shared.errors import Conflict, FieldError, NotFound, ValidationFailed
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ids import CourseId, LessonId, SectionId, UserId, new_uuid

TITLE_MAX = 200
SUMMARY_MAX = 500
DESCRIPTION_MAX = 20_000
SLUG_MIN, SLUG_MAX = 3, 80
TAG_MAX, TAGS_MAX = 40, 20
SECTIONS_MAX, LESSONS_MAX = 200, 1_000

_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$")
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9 +#.\-]*$")


class CourseStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


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
    return value


def check_slug(value: str) -> str:
    """A slug is 3-80 characters of lowercase ASCII letters and digits in hyphen-separated words."""
    if not SLUG_MIN <= len(value) <= SLUG_MAX:
        raise _invalid("slug", f"must be {SLUG_MIN} to {SLUG_MAX} characters long")
    if not _SLUG_RE.fullmatch(value):
        raise _invalid("slug", "must be lowercase letters and digits separated by single hyphens")
    return value


def slugify(text: str) -> str:
    """Derive a valid slug from a title (ASCII-folded, hyphenated); pads short results."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:SLUG_MAX].strip("-")
    if len(slug) < SLUG_MIN:
        slug = (slug + "-course").strip("-") if slug else "course"
        if len(slug) < SLUG_MIN:
            slug = f"{slug}-course"
    return slug


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


@dataclass(slots=True)
class Lesson:
    id: LessonId
    title: str


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
    _events: list[DomainEvent] = field(default_factory=list, repr=False)

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

    @property
    def pending_events(self) -> list[DomainEvent]:
        return list(self._events)

    def pull_events(self) -> list[DomainEvent]:
        events, self._events = self._events, []
        return events

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

    def remove_lesson(self, section_id: uuid.UUID, lesson_id: uuid.UUID, at: datetime) -> None:
        self._ensure_editable()
        section = self.section(section_id)
        lesson = section.lesson(lesson_id)
        if self.status is CourseStatus.PUBLISHED and self.lesson_count == 1:
            raise Conflict("removing the last lesson of a published course is not allowed; unpublish it first")
        section.lessons.remove(lesson)
        self._record(ev.LessonRemoved, at, section_id=section.id, lesson_id=lesson.id)

    # -- lifecycle ---------------------------------------------------------------

    def publish(self, at: datetime) -> None:
        if self.status is CourseStatus.ARCHIVED:
            raise Conflict("an archived course cannot be published")
        if self.status is CourseStatus.PUBLISHED:
            raise Conflict("course is already published")
        if self.lesson_count == 0:
            raise Conflict("a course needs at least one lesson before it can be published")
        self.status = CourseStatus.PUBLISHED
        self.published_at = at
        self._record(ev.CoursePublished, at, slug=self.slug, published_at=at)

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
