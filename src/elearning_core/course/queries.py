"""Catalog read models and the query port.

Reads skip the aggregate: adapters answer straight from SQL into these flat
dataclasses, which runtimes serialise without another mapping step.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from elearning_core.auth.model import Scope
from elearning_core.course.model import (
    Access,
    Attachment,
    Course,
    CourseStatus,
    LessonContent,
    LessonKind,
    Level,
    SectionRelease,
)
from elearning_core.course.requirements import Requirement, UnmetRequirement, requirements_from_json


@dataclass(frozen=True, slots=True)
class CourseSummary:
    id: uuid.UUID
    slug: str
    title: str
    summary: str
    language: str
    level: Level
    tags: list[str]
    owner_id: uuid.UUID | None
    status: CourseStatus
    created_at: datetime
    published_at: datetime | None
    section_count: int
    lesson_count: int


@dataclass(frozen=True, slots=True)
class AttachmentView:
    id: uuid.UUID
    name: str
    size_bytes: int
    content_type: str
    url: str | None = None
    storage_key: str | None = None


@dataclass(frozen=True, slots=True)
class LessonView:
    id: uuid.UUID
    title: str
    position: int
    kind: LessonKind = LessonKind.TEXT
    body_html: str = ""
    """The lesson text as sanitised HTML: rendered at publish time for a version, on read for the draft."""
    body_markdown: str | None = None
    """The source text: in the draft (staff) view only."""
    video_id: uuid.UUID | None = None
    assessment_id: uuid.UUID | None = None
    attachments: list[AttachmentView] = field(default_factory=list)
    duration_seconds: int | None = None
    preview: bool = False
    """A free preview: its content is open to everyone."""
    access: Access = Access.OPEN
    """Whether the caller may open the content; when not, the body, video, assessment and attachments are empty."""
    available_at: datetime | None = None
    """When a ``not_yet_released`` lesson opens for the caller."""
    requirements: list[Requirement] = field(default_factory=list)
    """What the lesson itself requires before a learner may open it (its section's apply too)."""
    unmet_requirements: list[UnmetRequirement] = field(default_factory=list)
    """Why a ``locked`` lesson is locked for the caller: the requirements (its own and its section's) not met."""
    refusal: str | None = None
    """Why an ``entitlement_required`` lesson is closed to the caller (``payment-required``, ``refunded``...)."""


@dataclass(frozen=True, slots=True)
class SectionView:
    id: uuid.UUID
    title: str
    position: int
    lessons: list[LessonView] = field(default_factory=list)
    release_at: datetime | None = None
    """The section opens to learners at this time (absolute release)."""
    release_after_days: int | None = None
    """The section opens this many days after each learner enrolled (self-paced release)."""
    available_at: datetime | None = None
    """When the section opens for the caller (learners only; None when open or undated for them)."""
    requirements: list[Requirement] = field(default_factory=list)
    """What a learner must meet before any lesson of the section opens (conditional release)."""

    @property
    def release(self) -> SectionRelease:
        return SectionRelease(self.release_at, self.release_after_days)


@dataclass(frozen=True, slots=True)
class CourseOutline:
    id: uuid.UUID
    slug: str
    title: str
    summary: str
    description: str
    language: str
    level: Level
    tags: list[str]
    owner_id: uuid.UUID | None
    status: CourseStatus
    version: int
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    sections: list[SectionView]
    organization_id: uuid.UUID | None = None
    published_version: int | None = None
    """The number of the latest published version (None: never published)."""
    has_unpublished_changes: bool = False
    """The draft was edited since the latest version was published (staff only; false for learners)."""
    version_number: int | None = None
    """The published version this view shows; None for the draft."""

    def authorization_scopes(self) -> tuple[Scope, ...]:
        """Where the course lives, for the role policy (as ``Course.authorization_scopes``)."""
        if self.organization_id is None:
            return (Scope.course(self.id),)
        return (Scope.course(self.id), Scope.organization(self.organization_id))


@dataclass(frozen=True, slots=True)
class VersionSummary:
    number: int
    published_at: datetime
    published_by: uuid.UUID | None


def attachment_view(attachment: Attachment) -> AttachmentView:
    return AttachmentView(
        id=attachment.id,
        name=attachment.name,
        size_bytes=attachment.size_bytes,
        content_type=attachment.content_type,
        url=attachment.url,
        storage_key=attachment.storage_key,
    )


def lesson_view(
    lesson_id: uuid.UUID,
    title: str,
    position: int,
    content: LessonContent,
    requirements: tuple[Requirement, ...] = (),
) -> LessonView:
    """The draft view of a lesson: its source text, no HTML yet (``with_html`` renders it)."""
    return LessonView(
        id=lesson_id,
        title=title,
        position=position,
        kind=content.kind,
        body_markdown=content.body_markdown,
        video_id=content.video_id,
        assessment_id=content.assessment_id,
        attachments=[attachment_view(a) for a in content.attachments],
        duration_seconds=content.duration_seconds,
        preview=content.preview,
        requirements=list(requirements),
    )


def with_html(outline: CourseOutline, render: Callable[[str], str]) -> CourseOutline:
    """The draft outline with each lesson's text rendered (staff read the draft as learners would see it)."""
    return replace(
        outline,
        sections=[
            replace(
                section,
                lessons=[
                    replace(lesson, body_html=render(lesson.body_markdown)) if lesson.body_markdown else lesson
                    for lesson in section.lessons
                ],
            )
            for section in outline.sections
        ],
    )


@dataclass(frozen=True, slots=True)
class LiveCourse:
    """What a published view takes from the course as it is now, not from the version's snapshot."""

    id: uuid.UUID
    slug: str
    owner_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    status: CourseStatus
    version: int
    created_at: datetime
    published_version: int | None
    has_unpublished_changes: bool


def published_outline_of(
    live: LiveCourse, number: int, published_at: datetime, snapshot: dict[str, Any]
) -> CourseOutline:
    """The outline of published version ``number`` from its snapshot (``Course.snapshot``'s format)."""
    return CourseOutline(
        id=live.id,
        slug=live.slug,
        title=snapshot["title"],
        summary=snapshot["summary"],
        description=snapshot["description"],
        language=snapshot["language"],
        level=Level(snapshot["level"]),
        tags=list(snapshot["tags"]),
        owner_id=live.owner_id,
        status=live.status,
        version=live.version,
        created_at=live.created_at,
        updated_at=datetime.fromisoformat(snapshot["updated_at"]),
        published_at=published_at,
        organization_id=live.organization_id,
        published_version=live.published_version,
        has_unpublished_changes=live.has_unpublished_changes,
        version_number=number,
        sections=[
            SectionView(
                id=uuid.UUID(s["id"]),
                title=s["title"],
                position=i,
                release_at=_datetime_or_none(s.get("release_at")),
                release_after_days=s.get("release_after_days"),
                requirements=list(requirements_from_json(s.get("requirements"))),
                lessons=[
                    LessonView(
                        id=uuid.UUID(x["id"]),
                        title=x["title"],
                        position=j,
                        kind=LessonKind(x["kind"]),
                        body_html=x["body_html"],
                        video_id=_uuid_or_none(x["video_id"]),
                        assessment_id=_uuid_or_none(x["assessment_id"]),
                        attachments=[attachment_view(Attachment.from_json(a)) for a in x["attachments"]],
                        duration_seconds=x["duration_seconds"],
                        preview=x.get("preview", False),
                        requirements=list(requirements_from_json(x.get("requirements"))),
                    )
                    for j, x in enumerate(s["lessons"])
                ],
            )
            for i, s in enumerate(snapshot["sections"])
        ],
    )


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value is not None else None


def _datetime_or_none(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def outline_of(course: Course) -> CourseOutline:
    """The outline read model of an aggregate held in memory (after a write, no second read)."""
    return CourseOutline(
        id=course.id,
        slug=course.slug,
        title=course.title,
        summary=course.summary,
        description=course.description,
        language=course.language,
        level=course.level,
        tags=list(course.tags),
        owner_id=course.owner_id,
        status=course.status,
        version=course.version,
        created_at=course.created_at,
        updated_at=course.updated_at,
        published_at=course.published_at,
        organization_id=course.organization_id,
        published_version=course.published_version,
        has_unpublished_changes=course.has_unpublished_changes,
        sections=[
            SectionView(
                id=s.id,
                title=s.title,
                position=i,
                release_at=s.release.release_at,
                release_after_days=s.release.release_after_days,
                requirements=list(s.requirements),
                lessons=[
                    lesson_view(lesson.id, lesson.title, j, lesson.content, lesson.requirements)
                    for j, lesson in enumerate(s.lessons)
                ],
            )
            for i, s in enumerate(course.sections)
        ],
    )


@dataclass(frozen=True, slots=True)
class CatalogFilter:
    language: str | None = None
    level: Level | None = None
    tag: str | None = None
    text: str | None = None
    status: CourseStatus | None = CourseStatus.PUBLISHED

    def scope(self) -> str:
        """A stable string naming this listing, to bind cursors to it."""
        return _scope(self.status, self.language, self.level, self.tag, self.text)


@functools.lru_cache(maxsize=1024)
def _scope(*parts: str | None) -> str:
    # Hot: every catalog read builds it two or three times; the same few filters recur.
    return json.dumps(list(parts))


# Keyset position of the last row on a page: (published_at or created_at, id).
CatalogKey = tuple[datetime, uuid.UUID]


@dataclass(frozen=True, slots=True)
class TeachingScope:
    """Where a user teaches: the courses they own, those they hold a course role on, and the
    organizations whose every course they assist (a teaching assistant granted on the organization)."""

    user_id: uuid.UUID
    course_ids: frozenset[uuid.UUID] = frozenset()
    organization_ids: frozenset[uuid.UUID] = frozenset()


@dataclass(frozen=True, slots=True)
class TeachingCourse:
    """A course of ``GET /me/teaching``: its listing, and the caller's role on it."""

    course: CourseSummary
    role: str
    """``owner``, ``instructor`` or ``teaching_assistant``."""


class CatalogQueries(Protocol):
    async def list_courses(self, where: CatalogFilter, after: CatalogKey | None, limit: int) -> list[CourseSummary]:
        """Courses matching ``where``, newest first, strictly after ``after``; at most ``limit``.

        Published listings order by ``published_at``; others by ``created_at``.
        Ties break on id, descending.
        """
        ...

    async def list_version(self) -> int | None:
        """A token that changes whenever a list page may change (a course published, edited, withdrawn),
        or None when this reader has no such signal (it reads the database every time). Lets the HTTP layer
        keep encoded anonymous pages exactly as long as they are current."""
        return None

    async def outline(self, course_id: uuid.UUID) -> CourseOutline | None:
        """The draft outline (lesson source text, no HTML), whatever the course's status."""
        ...

    async def outline_by_slug(self, slug: str) -> CourseOutline | None: ...

    async def published_outline(self, course_id: uuid.UUID, number: int | None = None) -> CourseOutline | None:
        """Published version ``number`` (the latest when None) with the course's live status; one cheap read.

        None when the course does not exist or has no such version.
        """
        ...

    async def published_outline_by_slug(self, slug: str, number: int | None = None) -> CourseOutline | None: ...

    async def versions(
        self, course_id: uuid.UUID, before: int | None = None, limit: int | None = None
    ) -> list[VersionSummary]:
        """The course's published versions, newest first (empty for an unknown course): those
        numbered below ``before`` when given, at most ``limit`` when given."""
        ...

    async def teaching(self, where: TeachingScope, after: CatalogKey | None, limit: int) -> list[CourseSummary]:
        """Every course in ``where``, whatever its status, newest created first (ties: id descending),
        strictly after ``after``; at most ``limit``."""
        ...
