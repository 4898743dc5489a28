"""Request bodies and parameters of the course routes (HTTP shapes of the commands; ids come from the path)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar.params import FromPath, QueryParameter
from pydantic import ConfigDict, Field

from elearning_core.course.model import (
    DESCRIPTION_MAX,
    SLUG_MAX,
    SUMMARY_MAX,
    TAG_MAX,
    TAGS_MAX,
    TITLE_MAX,
    Level,
)
from elearning_core.course.service import VersionRef, ViewAs
from elearning_core.shared.errors import FieldError, ValidationFailed
from elearning_core.shared.inputs import INT32_MAX, InputModel, NonNegativeInt32
from elearning_http.errors import problem_responses


class _Body(InputModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CoursePatch(_Body):
    """Fields to change; omitted fields stay as they are. ``null`` is not a value."""

    title: Annotated[str, Field(min_length=1, max_length=TITLE_MAX)] = None  # type: ignore[assignment]
    slug: Annotated[str, Field(max_length=SLUG_MAX)] = None  # type: ignore[assignment]
    summary: Annotated[str, Field(max_length=SUMMARY_MAX)] = None  # type: ignore[assignment]
    description: Annotated[str, Field(max_length=DESCRIPTION_MAX)] = None  # type: ignore[assignment]
    language: Annotated[str, Field(max_length=35)] = None  # type: ignore[assignment]
    level: Level = None  # type: ignore[assignment]
    tags: Annotated[list[Annotated[str, Field(max_length=TAG_MAX)]], Field(max_length=TAGS_MAX)] = None  # type: ignore[assignment]
    expected_version: NonNegativeInt32 = None  # type: ignore[assignment]


class NewItem(_Body):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    position: NonNegativeInt32 | None = Field(default=None, description="Zero-based; appended when omitted")


class Rename(_Body):
    title: str = Field(min_length=1, max_length=TITLE_MAX)


class SectionOrder(_Body):
    section_ids: list[uuid.UUID] = Field(
        max_length=1_000, description="Every section of the course, once, in the new order"
    )


class LessonOrder(_Body):
    lesson_ids: list[uuid.UUID] = Field(
        max_length=1_000, description="Every lesson of the section, once, in the new order"
    )


VersionQuery = Annotated[
    str | None,
    QueryParameter(
        max_length=12,
        description=(
            "Which version to read: 'published' (the latest published version) or a version number. "
            "By default staff get the draft and everyone else the latest published version."
        ),
    ),
]


ViewAsQuery = Annotated[
    Literal["learner"] | None,
    QueryParameter(
        description=(
            "Staff only: 'learner' reads the latest published version gated as an enrolled learner sees it "
            "(enrolled now, or since the caller's own enrollment). Ignored for everyone else, who are always gated."
        ),
    ),
]


def _view_as(raw: str | None) -> ViewAs:
    return "learner" if raw == "learner" else None


def _version_ref(raw: str | None) -> VersionRef:
    if raw is None:
        return None
    if raw == "published":
        return "published"
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= INT32_MAX:
        return int(raw)
    raise ValidationFailed(
        "version must be 'published' or a version number",
        [FieldError("version", f"must be 'published' or a number from 1 to {INT32_MAX}")],
    )


READ_ERRORS = problem_responses(400, 404, 422)
GATED_READ_ERRORS = problem_responses(400, 403, 404, 422)
OPEN = {"public": True}
"""Catalog reads: anyone may make them (a credential, when sent, must still be valid)."""
WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 422)

CourseId = FromPath[uuid.UUID]
SectionId = FromPath[uuid.UUID]
LessonId = FromPath[uuid.UUID]
