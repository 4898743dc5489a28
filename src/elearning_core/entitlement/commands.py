"""Inputs of the entitlement use cases: a course's offer, a grant, a grant's change of status."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from elearning_core.entitlement.model import GRANT_SOURCES, GrantStatus, Source
from elearning_core.shared.inputs import InputModel

MAX_REFERENCE = 200


class SetOffer(InputModel):
    """How a course is sold: paid or free, and whether a paid course offers a free audit track."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    paid: bool = Field(description="The course's content needs a purchase, a subscription or a seat")
    audit_track: bool = Field(
        default=False, description="A paid course's content is free to audit (no graded work, no certificate)"
    )


class GiveGrant(InputModel):
    """Access for one user to one course, from a purchase, a subscription or an organization seat."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: uuid.UUID
    course_id: uuid.UUID | None = Field(
        description="None: every course (a plan or an organization seat that includes the whole catalog)"
    )
    source: Source = Source.PURCHASED
    starts_at: AwareDatetime | None = Field(default=None, description="Default: now")
    ends_at: AwareDatetime | None = Field(default=None, description="None: no end (a purchase)")
    reference: Annotated[str, Field(max_length=MAX_REFERENCE)] = ""

    @model_validator(mode="after")
    def _check(self) -> GiveGrant:
        if self.source not in GRANT_SOURCES:
            allowed = ", ".join(sorted(GRANT_SOURCES))
            raise ValueError(f"source must be one of {allowed}; {self.source} follows from the course, not a grant")
        if self.ends_at is not None and self.starts_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class ChangeGrant(InputModel):
    """A grant's new status (refunded, canceled, past_due, revoked, or active again), and its end if it moves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    grant_id: uuid.UUID
    status: GrantStatus
    ends_at: AwareDatetime | None = Field(default=None, description="A new end; None keeps the grant's end")


def effective_start(cmd: GiveGrant, now: datetime) -> datetime:
    return cmd.starts_at if cmd.starts_at is not None else now
