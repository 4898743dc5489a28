"""Inputs to the notification use cases."""

from __future__ import annotations

from pydantic import Field

from elearning_core.notification.model import Cadence, Channel, NotificationType
from elearning_core.shared.inputs import InputModel


class PreferenceChoice(InputModel):
    type: NotificationType
    channel: Channel
    cadence: Cadence


class SetPreferences(InputModel):
    preferences: list[PreferenceChoice] = Field(min_length=1, max_length=100)
