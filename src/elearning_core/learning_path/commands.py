"""Inputs of the learning path use cases (unknown fields are refused, not ignored)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ConfigDict, Field

from elearning_core.course.values import SLUG_MAX, SLUG_MIN, TITLE_MAX
from elearning_core.learning_path.model import (
    COURSES_PER_PART_MAX,
    DESCRIPTION_MAX,
    PART_TITLE_MAX,
    PARTS_MAX,
    PREREQUISITES_MAX,
    PartKind,
)
from elearning_core.shared.inputs import InputModel


class _Command(InputModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=DESCRIPTION_MAX)


class CreatePath(_Command):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    slug: str = Field(min_length=SLUG_MIN, max_length=SLUG_MAX, description="Lowercase words joined by hyphens")
    description: str = Field(default="", max_length=DESCRIPTION_MAX)


class UpdatePath(_Command):
    """Fields to change; omitted ones stay."""

    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX)
    slug: str | None = Field(default=None, min_length=SLUG_MIN, max_length=SLUG_MAX)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)

    def changes(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude_unset=True).items() if v is not None}


class PartInput(_Command):
    kind: PartKind = Field(description="required: every course; elective: any `required_count` of them")
    course_ids: list[uuid.UUID] = Field(min_length=1, max_length=COURSES_PER_PART_MAX)
    required_count: int | None = Field(
        default=None, ge=1, le=COURSES_PER_PART_MAX, description="N of an elective part's N-of-M rule"
    )
    title: str = Field(default="", max_length=PART_TITLE_MAX)


class SetStructure(_Command):
    """The draft's parts (in order) and prerequisites, replaced as a whole."""

    parts: list[PartInput] = Field(max_length=PARTS_MAX)
    prerequisites: list[uuid.UUID] = Field(
        default_factory=list, max_length=PREREQUISITES_MAX, description="Courses to complete before enrolling"
    )
