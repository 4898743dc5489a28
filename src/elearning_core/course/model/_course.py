"""The Course aggregate: the editable draft, its lifecycle (draft -> published -> draft,
anything -> archived) and its numbered, immutable published versions.

Each state change records a domain event that the unit of work writes to the outbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elearning_core.auth.model import Scope
from elearning_core.course import events as ev
from elearning_core.course.model._content import (
    CourseVersion,
    Lesson,
    LessonContent,
    MarkdownToHtml,
    PublishedDetails,
    Section,
    SectionRelease,
    escaped_text_html,
)
from elearning_core.course.requirements import (
    OutlineItem,
    Requirement,
    check_requirement_list,
    requirement_problems,
    requirements_to_json,
)
from elearning_core.course.values import (
    DESCRIPTION_MAX,
    LESSONS_MAX,
    SECTIONS_MAX,
    SNAPSHOT_FORMAT,
    SUMMARY_MAX,
    CourseStatus,
    Level,
    _check_permutation,
    _invalid,
    check_language,
    check_slug,
    check_tags,
    check_text,
    check_title,
    slugify,
)
from elearning_core.shared.errors import Conflict, FieldError, NotFound, ValidationFailed
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ids import CourseId, LessonId, SectionId, UserId, new_uuid

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
        ev.SectionReleaseChanged,
        ev.RequirementsChanged,
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

    def set_section_release(self, section_id: uuid.UUID, release: SectionRelease, at: datetime) -> None:
        """Set when the section opens to learners (already checked by ``SectionRelease.checked``)."""
        self._ensure_editable()
        section = self.section(section_id)
        if section.release == release:
            return
        section.release = release
        self._record(
            ev.SectionReleaseChanged,
            at,
            section_id=section.id,
            release_at=release.release_at,
            release_after_days=release.release_after_days,
        )

    # -- conditional release -------------------------------------------------------

    def set_section_requirements(
        self, section_id: uuid.UUID, requirements: Sequence[Requirement], at: datetime
    ) -> None:
        """What a learner must meet before any lesson of the section opens (values already ``Requirement.checked``)."""
        self._ensure_editable()
        section = self.section(section_id)
        self._set_requirements(section, None, tuple(requirements), at)

    def set_lesson_requirements(
        self, section_id: uuid.UUID, lesson_id: uuid.UUID, requirements: Sequence[Requirement], at: datetime
    ) -> None:
        """What a learner must meet before the lesson opens (values already ``Requirement.checked``)."""
        self._ensure_editable()
        section = self.section(section_id)
        self._set_requirements(section, section.lesson(lesson_id), tuple(requirements), at)

    def _set_requirements(
        self, section: Section, lesson: Lesson | None, requirements: tuple[Requirement, ...], at: datetime
    ) -> None:
        check_requirement_list(requirements)
        holder: Section | Lesson = lesson if lesson is not None else section
        if holder.requirements == requirements:
            return
        before = holder.requirements
        known = set(requirement_problems(self.requirement_outline()))  # an earlier edit's: publish reports them
        holder.requirements = requirements
        cycle_known = any(p.field == "requirements" for p in known)  # (named by where the search met it)
        problems = [
            p
            for p in requirement_problems(self.requirement_outline())
            if p not in known and not (cycle_known and p.field == "requirements")
        ]
        if problems:
            holder.requirements = before
            raise ValidationFailed(
                f"requirements: {problems[0].field} {problems[0].message}",
                [FieldError(_local_field(p.field), p.message) for p in problems],
            )
        self._record_requirements(section, lesson, at)

    def _record_requirements(self, section: Section, lesson: Lesson | None, at: datetime) -> None:
        holder: Section | Lesson = lesson if lesson is not None else section
        self._record(
            ev.RequirementsChanged,
            at,
            section_id=section.id,
            lesson_id=lesson.id if lesson is not None else None,
            requirements=requirements_to_json(holder.requirements) or [],
        )

    def requirement_outline(self) -> list[OutlineItem]:
        """The draft as the requirement checks read it."""
        return [
            OutlineItem(
                section_id=s.id,
                title=s.title,
                requirements=s.requirements,
                lessons=tuple(
                    (lesson.id, lesson.title, lesson.content.assessment_id, lesson.requirements) for lesson in s.lessons
                ),
            )
            for s in self.sections
        ]

    def _prune_requirements(self, removed_lesson_ids: set[uuid.UUID], at: datetime) -> None:
        """Drop the requirements naming removed lessons (recording each change), rather than refuse the removal."""
        for section in self.sections:
            holders: list[tuple[Section | Lesson, Lesson | None]] = [(section, None)]
            holders += [(x, x) for x in section.lessons]
            for holder, lesson in holders:
                kept = tuple(r for r in holder.requirements if r.lesson_id not in removed_lesson_ids)
                if kept != holder.requirements:
                    holder.requirements = kept
                    self._record_requirements(section, lesson, at)

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
        self._prune_requirements({lesson.id for lesson in section.lessons}, at)

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
            preview=content.preview,
        )

    def remove_lesson(self, section_id: uuid.UUID, lesson_id: uuid.UUID, at: datetime) -> None:
        self._ensure_editable()
        section = self.section(section_id)
        lesson = section.lesson(lesson_id)
        if self.status is CourseStatus.PUBLISHED and self.lesson_count == 1:
            raise Conflict("removing the last lesson of a published course is not allowed; unpublish it first")
        section.lessons.remove(lesson)
        self._record(ev.LessonRemoved, at, section_id=section.id, lesson_id=lesson.id)
        self._prune_requirements({lesson.id}, at)

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
        problems = requirement_problems(self.requirement_outline(), strict=False)
        if problems:
            # Edits after the requirements were set (a reorder, a quiz taken off a lesson) made them wrong.
            raise Conflict(
                f"the conditional release requirements no longer hold: {problems[0].field} {problems[0].message}"
            )
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
                    "release_at": section.release.release_at.isoformat() if section.release.release_at else None,
                    "release_after_days": section.release.release_after_days,
                    "requirements": requirements_to_json(section.requirements),
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
                            "preview": lesson.content.preview,
                            "requirements": requirements_to_json(lesson.requirements),
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


def _local_field(path: str) -> str:
    """A whole-outline field path (``sections.0.lessons.2.requirements.1.lesson_id``) as the request's:
    the part from ``requirements`` on, which is what the author sent."""
    index = path.rfind("requirements")
    return path[index:] if index >= 0 else path


def _str_or_none(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None
