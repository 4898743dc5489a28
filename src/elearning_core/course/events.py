"""Course domain events: the ``elearning.course`` topic's contract."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from elearning_core.shared.events import DomainEvent


class CourseCreated(DomainEvent):
    type: ClassVar[str] = "course.created.v1"
    slug: str
    title: str
    owner_id: uuid.UUID | None


class CourseDetailsChanged(DomainEvent):
    type: ClassVar[str] = "course.details_changed.v1"
    changes: dict[str, Any]


class SectionAdded(DomainEvent):
    type: ClassVar[str] = "course.section_added.v1"
    section_id: uuid.UUID
    title: str
    position: int


class SectionRenamed(DomainEvent):
    type: ClassVar[str] = "course.section_renamed.v1"
    section_id: uuid.UUID
    title: str


class SectionReleaseChanged(DomainEvent):
    """When a section opens to learners changed: a date, days after enrolling, or neither (both None)."""

    type: ClassVar[str] = "course.section_release_changed.v1"
    section_id: uuid.UUID
    release_at: datetime | None
    release_after_days: int | None


class RequirementsChanged(DomainEvent):
    """What a section (``lesson_id`` None) or a lesson requires before a learner may open it changed.

    ``requirements`` is the whole new list, each as ``Requirement.to_json`` (``kind`` with
    ``lesson_id``, or ``assessment_id`` and ``min_percent``); empty when none remain.
    """

    type: ClassVar[str] = "course.requirements_changed.v1"
    section_id: uuid.UUID
    lesson_id: uuid.UUID | None
    requirements: list[dict[str, Any]]


class SectionsReordered(DomainEvent):
    type: ClassVar[str] = "course.sections_reordered.v1"
    section_ids: list[uuid.UUID]


class SectionRemoved(DomainEvent):
    type: ClassVar[str] = "course.section_removed.v1"
    section_id: uuid.UUID
    lesson_ids: list[uuid.UUID]


class LessonAdded(DomainEvent):
    type: ClassVar[str] = "course.lesson_added.v1"
    section_id: uuid.UUID
    lesson_id: uuid.UUID
    title: str
    position: int


class LessonRenamed(DomainEvent):
    type: ClassVar[str] = "course.lesson_renamed.v1"
    lesson_id: uuid.UUID
    title: str


class LessonsReordered(DomainEvent):
    type: ClassVar[str] = "course.lessons_reordered.v1"
    section_id: uuid.UUID
    lesson_ids: list[uuid.UUID]


class LessonRemoved(DomainEvent):
    type: ClassVar[str] = "course.lesson_removed.v1"
    section_id: uuid.UUID
    lesson_id: uuid.UUID


class LessonContentChanged(DomainEvent):
    """A lesson's content was replaced. Carries references, not the (up to 100 KB) text."""

    type: ClassVar[str] = "course.lesson_content_changed.v1"
    section_id: uuid.UUID
    lesson_id: uuid.UUID
    kind: str
    video_id: uuid.UUID | None
    assessment_id: uuid.UUID | None
    attachment_ids: list[uuid.UUID]
    duration_seconds: int | None
    preview: bool = False
    """A free preview lesson (added later with a default, so older messages still decode)."""


class CoursePublishedV1(DomainEvent):
    """Before published versions: still registered so that old outbox rows and messages decode."""

    type: ClassVar[str] = "course.published.v1"
    slug: str
    published_at: datetime


class CoursePublished(DomainEvent):
    """Version ``version_number`` of the course was published; learners see it from now on."""

    type: ClassVar[str] = "course.published.v2"
    slug: str
    published_at: datetime
    version_number: int


class CourseUnpublished(DomainEvent):
    type: ClassVar[str] = "course.unpublished.v1"


class CourseArchived(DomainEvent):
    type: ClassVar[str] = "course.archived.v1"


class CourseDeleted(DomainEvent):
    type: ClassVar[str] = "course.deleted.v1"
    slug: str
