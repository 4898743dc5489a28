"""Inputs of the video use cases."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from elearning_core.shared.inputs import InputModel


class _Command(InputModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CreateVideo(_Command):
    title: str = Field(max_length=200)


class SavePosition(_Command):
    position_seconds: float = Field(
        ge=0, le=7 * 24 * 3600, description="Seconds from the start; past the video's end it is kept as the end"
    )
