"""Inputs to the course use cases: frozen pydantic models that refuse unknown fields.

Shape limits (lengths, counts) are declared here so they appear in the API
schema; the aggregate checks the same rules again, so library callers that
skip these models cannot break them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from elearning_core.course.model import (
    ATTACHMENT_NAME_MAX,
    ATTACHMENT_SIZE_MAX,
    ATTACHMENTS_MAX,
    BODY_MAX_BYTES,
    CONTENT_TYPE_MAX,
    DESCRIPTION_MAX,
    DURATION_MAX,
    RELEASE_AFTER_DAYS_MAX,
    SLUG_MAX,
    STORAGE_KEY_MAX,
    SUMMARY_MAX,
    TAG_MAX,
    TAGS_MAX,
    TITLE_MAX,
    URL_MAX,
    CourseStatus,
    LessonKind,
    Level,
)
from elearning_core.course.requirements import REQUIREMENTS_MAX, Requirement
from elearning_core.shared.inputs import InputModel, NonNegativeInt32

Title = Field(min_length=1, max_length=TITLE_MAX)


class Command(InputModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)


class CreateCourse(Command):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    slug: str | None = Field(default=None, max_length=SLUG_MAX, description="Defaults to one derived from the title")
    summary: str = Field(default="", max_length=SUMMARY_MAX)
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    language: str = Field(default="en", max_length=35, description="BCP 47 language tag, e.g. 'en' or 'pt-br'")
    level: Level = Level.BEGINNER
    tags: list[str] = Field(default_factory=list, max_length=TAGS_MAX)
    owner_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = Field(
        default=None, description="The organization the course belongs to; none for a platform-wide course"
    )


class UpdateCourse(Command):
    """A partial update: only the fields that are set are changed."""

    course_id: uuid.UUID
    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX)
    slug: str | None = Field(default=None, max_length=SLUG_MAX)
    summary: str | None = Field(default=None, max_length=SUMMARY_MAX)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    language: str | None = Field(default=None, max_length=35)
    level: Level | None = None
    tags: list[str] | None = Field(default=None, max_length=TAGS_MAX)
    expected_version: NonNegativeInt32 | None = Field(
        default=None, description="Fail with 409 if the course changed since"
    )

    def changes(self) -> dict[str, object]:
        fields = {"title", "slug", "summary", "description", "language", "level", "tags"}
        return {name: getattr(self, name) for name in self.model_fields_set & fields if getattr(self, name) is not None}


class CourseRef(Command):
    course_id: uuid.UUID


class AddSection(Command):
    course_id: uuid.UUID
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    position: NonNegativeInt32 | None = Field(default=None, description="Zero-based; appended when omitted")


class RenameSection(Command):
    course_id: uuid.UUID
    section_id: uuid.UUID
    title: str = Field(min_length=1, max_length=TITLE_MAX)


class ReorderSections(Command):
    course_id: uuid.UUID
    section_ids: list[uuid.UUID] = Field(max_length=1_000)


class SectionReleaseSpec(Command):
    """When a section opens to learners: at most one of the two; neither means with the course."""

    release_at: datetime | None = Field(
        default=None, description="Opens at this time (ISO 8601 with a time zone), for every learner"
    )
    release_after_days: int | None = Field(
        default=None,
        ge=0,
        le=RELEASE_AFTER_DAYS_MAX,
        description="Opens this many days after each learner enrolled (self-paced courses)",
    )


class SetSectionRelease(SectionReleaseSpec):
    course_id: uuid.UUID
    section_id: uuid.UUID


class RemoveSection(Command):
    course_id: uuid.UUID
    section_id: uuid.UUID


class AddLesson(Command):
    course_id: uuid.UUID
    section_id: uuid.UUID
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    position: NonNegativeInt32 | None = None


class RenameLesson(Command):
    course_id: uuid.UUID
    section_id: uuid.UUID
    lesson_id: uuid.UUID
    title: str = Field(min_length=1, max_length=TITLE_MAX)


class ReorderLessons(Command):
    course_id: uuid.UUID
    section_id: uuid.UUID
    lesson_ids: list[uuid.UUID] = Field(max_length=1_000)


class RemoveLesson(Command):
    course_id: uuid.UUID
    section_id: uuid.UUID
    lesson_id: uuid.UUID


class AttachmentSpec(Command):
    """A downloadable file: exactly one of ``url`` (http or https) and ``storage_key``."""

    id: uuid.UUID | None = Field(default=None, description="Kept when given; a new one otherwise")
    name: str = Field(min_length=1, max_length=ATTACHMENT_NAME_MAX, description="The file name offered on download")
    url: str | None = Field(default=None, max_length=URL_MAX, description="An absolute http(s) URL")
    storage_key: str | None = Field(default=None, max_length=STORAGE_KEY_MAX, description="A key in file storage")
    size_bytes: int = Field(ge=0, le=ATTACHMENT_SIZE_MAX)
    content_type: str = Field(min_length=3, max_length=CONTENT_TYPE_MAX, description="e.g. 'application/pdf'")


class LessonContentSpec(Command):
    """A lesson's whole content; setting it replaces the previous content."""

    kind: LessonKind = LessonKind.TEXT
    body_markdown: str = Field(
        default="",
        max_length=BODY_MAX_BYTES,
        description=f"CommonMark text, at most {BODY_MAX_BYTES // 1024} KB; rendered to sanitised HTML",
    )
    video_id: uuid.UUID | None = Field(default=None, description="The video asset (required for a video lesson)")
    assessment_id: uuid.UUID | None = None
    attachments: list[AttachmentSpec] = Field(default_factory=list, max_length=ATTACHMENTS_MAX)
    duration_seconds: int | None = Field(default=None, ge=0, le=DURATION_MAX)
    preview: bool = Field(default=False, description="A free preview: open to everyone, enrolled or not")


class SetLessonContent(LessonContentSpec):
    course_id: uuid.UUID
    section_id: uuid.UUID
    lesson_id: uuid.UUID


class PreviousRequirementSpec(Command):
    """On a lesson: the lesson before it (in outline order) completed. On a section: every lesson of the
    section before it completed."""

    kind: Literal["previous"]


class LessonRequirementSpec(Command):
    """A named lesson of the course completed."""

    kind: Literal["lesson"]
    lesson_id: uuid.UUID


class QuizRequirementSpec(Command):
    """An assessment shown by a lesson of the course passed, with at least ``min_percent`` when given."""

    kind: Literal["quiz"]
    assessment_id: uuid.UUID
    min_percent: float | None = Field(default=None, ge=0, le=100, description="The best graded percent needed")


RequirementSpec = Annotated[
    PreviousRequirementSpec | LessonRequirementSpec | QuizRequirementSpec, Field(discriminator="kind")
]


def requirement_of(spec: RequirementSpec, index: int) -> Requirement:
    """The checked value of one requirement of a request (a ValidationFailed names it by its index)."""
    return Requirement.checked(
        spec.kind,
        lesson_id=getattr(spec, "lesson_id", None),
        assessment_id=getattr(spec, "assessment_id", None),
        min_percent=getattr(spec, "min_percent", None),
        field_prefix=f"requirements.{index}",
    )


def requirement_spec(requirement: Requirement) -> RequirementSpec:
    """The request form of a requirement (the export's)."""
    if requirement.kind.value == "lesson":
        assert requirement.lesson_id is not None
        return LessonRequirementSpec(kind="lesson", lesson_id=requirement.lesson_id)
    if requirement.kind.value == "quiz":
        assert requirement.assessment_id is not None
        return QuizRequirementSpec(
            kind="quiz", assessment_id=requirement.assessment_id, min_percent=requirement.min_percent
        )
    return PreviousRequirementSpec(kind="previous")


class RequirementsSpec(Command):
    """Everything a section or lesson requires before a learner may open it; setting it replaces the list.

    A lesson's requirements and its section's all apply. An empty list removes them.
    """

    requirements: list[RequirementSpec] = Field(default_factory=list, max_length=REQUIREMENTS_MAX)


class SetSectionRequirements(RequirementsSpec):
    course_id: uuid.UUID
    section_id: uuid.UUID


class SetLessonRequirements(RequirementsSpec):
    course_id: uuid.UUID
    section_id: uuid.UUID
    lesson_id: uuid.UUID


class LessonSpec(Command):
    id: uuid.UUID | None = None
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    content: LessonContentSpec | None = None
    requirements: list[RequirementSpec] = Field(default_factory=list, max_length=REQUIREMENTS_MAX)


class SectionSpec(Command):
    id: uuid.UUID | None = None
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    lessons: list[LessonSpec] = Field(default_factory=list, max_length=1_000)
    release_at: datetime | None = None
    release_after_days: int | None = Field(default=None, ge=0, le=RELEASE_AFTER_DAYS_MAX)
    requirements: list[RequirementSpec] = Field(default_factory=list, max_length=REQUIREMENTS_MAX)


class CourseSpec(Command):
    """A whole course as exported and imported (``elearning courses import/export``)."""

    id: uuid.UUID | None = None
    slug: str = Field(max_length=SLUG_MAX)
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    summary: str = Field(default="", max_length=SUMMARY_MAX)
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    language: str = Field(default="en", max_length=35)
    level: Level = Level.BEGINNER
    tags: list[str] = Field(default_factory=list, max_length=TAGS_MAX)
    owner_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    status: CourseStatus = CourseStatus.DRAFT
    sections: list[SectionSpec] = Field(default_factory=list, max_length=200)


__all__ = [
    "TAG_MAX",
    "AddLesson",
    "AddSection",
    "AttachmentSpec",
    "CourseRef",
    "CourseSpec",
    "CreateCourse",
    "LessonContentSpec",
    "LessonRequirementSpec",
    "LessonSpec",
    "PreviousRequirementSpec",
    "QuizRequirementSpec",
    "RemoveLesson",
    "RemoveSection",
    "RenameLesson",
    "RenameSection",
    "ReorderLessons",
    "ReorderSections",
    "RequirementSpec",
    "RequirementsSpec",
    "SectionReleaseSpec",
    "SectionSpec",
    "SetLessonContent",
    "SetLessonRequirements",
    "SetSectionRelease",
    "SetSectionRequirements",
    "UpdateCourse",
]
