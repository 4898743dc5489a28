"""Lesson attachments: limits, the types allowed (by sniffed content), and the virus scanner."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from elearning_adapters.antivirus.clamd import parse_address
from elearning_core.attachment.sniffing import DEFAULT_ALLOWED, EXTENSIONS

MIB = 1024 * 1024


class AttachmentSettings(BaseSettings):
    """One group of ``Settings`` (``ELEARNING_*``); docs/modules/attachments.md."""

    attachment_max_bytes: int = Field(
        default=50 * MIB, ge=1, le=5 * 1024 * MIB, description="Largest lesson attachment accepted; larger gets 413"
    )
    attachment_max_per_lesson: int = Field(
        default=20, ge=1, le=1000, description="Attachments a lesson may hold; one more is a 409"
    )
    attachment_allowed_types: list[str] = Field(
        default=sorted(DEFAULT_ALLOWED),
        description="Media types accepted, as sniffed from the content (a JSON list in the environment); "
        f"known: {', '.join(sorted(EXTENSIONS))}",
    )
    clamd_address: str | None = Field(
        default=None,
        description="clamd to scan attachments with: tcp://HOST:PORT or unix:///PATH; unset: no scanning",
    )
    clamd_timeout_seconds: float = Field(default=60.0, gt=0, le=3600, description="Bound on each step of a scan")

    @field_validator("attachment_allowed_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(EXTENSIONS))
        if unknown:
            raise ValueError(f"not a type attachments are sniffed as: {', '.join(unknown)}")
        if not value:
            raise ValueError("at least one type must be allowed")
        return value

    @field_validator("clamd_address")
    @classmethod
    def _clamd_address(cls, value: str | None) -> str | None:
        if value is not None:
            parse_address(value)
        return value
