"""Inputs of the certificate use cases."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field

from elearning_core.shared.inputs import InputModel

MAX_TEMPLATE_CHARS = 20_000
MAX_VALID_DAYS = 36_500


class AwardSettings(InputModel):
    """Whether a course or path awards a certificate, from when, for how long, and with which template."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    available_from: datetime | None = Field(
        default=None, description="Issue only from this time; earlier completions are issued when it passes"
    )
    valid_days: Annotated[int, Field(ge=1, le=MAX_VALID_DAYS)] | None = Field(
        default=None, description="Days a credential stays valid (its validUntil); none: no expiry"
    )
    template: Annotated[str, Field(max_length=MAX_TEMPLATE_CHARS)] | None = Field(
        default=None,
        description="The printable page's body, with $learner_name, $title, $kind, $issued_on, $valid_until, "
        "$verify_url and $issuer_name placeholders (values are HTML-escaped); none: the default template",
    )


class Revoke(InputModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Annotated[str, Field(min_length=1, max_length=500)]
