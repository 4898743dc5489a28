"""Inputs of the discussion use cases (unknown fields are refused, not ignored)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import ConfigDict, Field

from elearning_core.discussion.model import BODY_MAX, REASON_MAX, TITLE_MAX, ThreadFlag, ThreadKind
from elearning_core.shared.inputs import InputModel

BLACKOUTS_MAX = 50


class _Command(InputModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=BODY_MAX)


class NewThread(_Command):
    kind: ThreadKind = Field(default=ThreadKind.DISCUSSION, description="question or discussion")
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    body: str = Field(min_length=1, max_length=BODY_MAX, description="Markdown; mention a user as @<user id>")
    lesson_id: uuid.UUID | None = Field(default=None, description="The lesson the thread is about, if any")
    cohort_id: uuid.UUID | None = Field(default=None, description="Only that cohort (and staff) see the thread")
    anonymous: bool = Field(default=False, description="Hide the author from other learners (staff still see)")


class NewReply(_Command):
    body: str = Field(min_length=1, max_length=BODY_MAX)
    parent_id: uuid.UUID | None = Field(
        default=None, description="A response to comment on; omitted: a response to the thread"
    )
    anonymous: bool = False


class EditPost(_Command):
    body: str = Field(min_length=1, max_length=BODY_MAX)
    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX, description="Opening posts only")


class NewAnnouncement(_Command):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    body: str = Field(min_length=1, max_length=BODY_MAX)
    cohort_id: uuid.UUID | None = None


class SetThreadFlag(_Command):
    flag: ThreadFlag
    on: bool = True


class Reason(_Command):
    reason: str = Field(min_length=1, max_length=REASON_MAX)


class NewBan(_Command):
    user_id: uuid.UUID
    until: datetime
    reason: str = Field(min_length=1, max_length=REASON_MAX)


class BlackoutPeriod(_Command):
    starts_at: datetime
    ends_at: datetime


class Blackouts(_Command):
    periods: list[BlackoutPeriod] = Field(default_factory=list, max_length=BLACKOUTS_MAX)
