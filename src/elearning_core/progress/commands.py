"""Inputs to the progress use cases."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from elearning_core.shared.inputs import InputModel

MAX_VIDEO_SECONDS = 24 * 3600.0
"""No lesson video is longer than a day: a larger value is a broken player, refused."""


class Heartbeat(InputModel):
    """What a player reports since its previous heartbeat."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: float = Field(ge=0, le=MAX_VIDEO_SECONDS, description="Start of the interval watched, in seconds.")
    end: float = Field(ge=0, le=MAX_VIDEO_SECONDS, description="End of the interval watched (>= start).")
    position: float = Field(ge=0, le=MAX_VIDEO_SECONDS, description="The player's position now.")
    state: Literal["playing", "paused", "seeking", "ended"] = "playing"
    playback_rate: float = Field(default=1.0, gt=0, le=16)
    player_session_id: str = Field(min_length=1, max_length=100)

    @field_validator("end")
    @classmethod
    def _ordered(cls, end: float, info: ValidationInfo) -> float:
        start = info.data.get("start")
        if start is None:
            return end
        if end < start:
            raise ValueError("end must not be before start")
        if end - start > 3600:
            raise ValueError("an interval longer than an hour between two heartbeats is not a heartbeat")
        return end


class SetCompletionRules(InputModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text_requires_done: bool = False
    video_percent: int = Field(default=90, ge=1, le=100)
    assessment_requires_pass: bool = True
    min_grade_percent: float | None = Field(default=None, ge=0, le=100)
    optional_lesson_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=2000, description="Lessons that never block completion"
    )


class StaffDecision(InputModel):
    """A completion override or a reset: who is the actor, why is this."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)
