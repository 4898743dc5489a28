"""Inputs of the enrollment use cases (unknown fields are refused, not ignored)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field

from elearning_core.enrollment.model import CAPACITY_MAX, COHORT_NAME_MAX, PREREQUISITES_MAX
from elearning_core.shared.inputs import InputModel


class _Command(InputModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=4096)


class EnrollmentSettings(_Command):
    """A course's enrollment rules, replaced as a whole (omitted fields take their defaults)."""

    self_enrollment: bool = Field(default=True, description="Whether learners may enroll on their own")
    capacity: int | None = Field(default=None, ge=0, le=CAPACITY_MAX, description="Seats; null for no limit")
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    prerequisites: list[uuid.UUID] = Field(
        default_factory=list, max_length=PREREQUISITES_MAX, description="Courses to complete first"
    )


class CreateCohort(_Command):
    name: str = Field(min_length=1, max_length=COHORT_NAME_MAX)
    capacity: int | None = Field(default=None, ge=0, le=CAPACITY_MAX)
    starts_at: datetime | None = None


class UpdateCohort(_Command):
    """Fields to change; omitted ones stay. ``capacity``/``starts_at`` may be set to null (no limit, no date)."""

    name: str | None = Field(default=None, min_length=1, max_length=COHORT_NAME_MAX)
    capacity: int | None = Field(default=None, ge=0, le=CAPACITY_MAX)
    starts_at: datetime | None = None

    def changes(self) -> dict[str, Any]:
        changes = self.model_dump(exclude_unset=True)
        if changes.get("name", "") is None:
            del changes["name"]
        return changes
