"""The analytics module's statement forwarding and retention settings, and the platform's analytics time zone."""

from __future__ import annotations

from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

from elearning_core.identity.model import check_time_zone
from elearning_core.shared.errors import ValidationFailed


class ForwardingSettings(BaseSettings):
    """Where stored xAPI statements are forwarded, and how long raw statements are kept: one group of ``Settings``."""

    analytics_forward_to: Literal["none", "lrs", "kafka"] = Field(
        default="none",
        description="Forward stored statements to an external LRS (`lrs`), to a Kafka topic (`kafka`) or nowhere",
    )
    analytics_forward_endpoint: str | None = Field(
        default=None,
        description="The external LRS's xAPI base URL (statements are POSTed to <endpoint>/statements)",
    )
    analytics_forward_username: str | None = Field(default=None, description="HTTP Basic user name at the LRS")
    analytics_forward_password: SecretStr | None = Field(default=None, description="HTTP Basic password at the LRS")
    analytics_forward_kafka_bootstrap_servers: str | None = Field(
        default=None, description="Kafka brokers of the statement topic; default: ELEARNING_KAFKA_BOOTSTRAP_SERVERS"
    )
    analytics_forward_topic: str = Field(
        default="elearning.xapi-statements", min_length=1, max_length=249, description="Kafka topic of the statements"
    )
    analytics_forward_batch_size: int = Field(default=100, ge=1, le=1000, description="Statements per POST or batch")
    analytics_forward_seconds: float = Field(
        default=10,
        ge=0,
        le=86_400,
        description="Period of the job `analytics.forward-statements` (0: only by hand or by "
        "`elearning worker forward-statements`)",
    )
    analytics_forward_timeout_seconds: float = Field(
        default=10, gt=0, le=300, description="Bound on one delivery (an HTTP request, a Kafka batch's acknowledgement)"
    )
    analytics_forward_retry_seconds: float = Field(
        default=60,
        gt=0,
        le=3600,
        description="How long a failing batch is retried (exponential backoff with jitter) before the run gives up",
    )
    analytics_retention_days: int | None = Field(
        default=None,
        ge=1,
        le=36_500,
        description="Raw statements stored longer ago than this are pruned (never ones not yet forwarded); "
        "unset: kept forever. Aggregates are not affected",
    )

    analytics_time_zone: str = Field(
        default="UTC",
        min_length=1,
        max_length=64,
        description="The IANA time zone of the platform's analytics days, weeks and months (and of courses "
        "without an organization)",
    )

    @field_validator("analytics_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            return check_time_zone(value)  # the rule an organization's time zone follows
        except ValidationFailed:
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as UTC or Europe/Paris") from None

    @model_validator(mode="after")
    def _destination_complete(self) -> Self:
        if self.analytics_forward_to == "lrs":
            url = urlsplit(self.analytics_forward_endpoint or "")
            if url.scheme not in ("http", "https") or not url.netloc:
                raise ValueError(
                    "ELEARNING_ANALYTICS_FORWARD_TO=lrs needs ELEARNING_ANALYTICS_FORWARD_ENDPOINT, the LRS's "
                    "http(s) xAPI base URL, e.g. https://lrs.example.org/xAPI"
                )
            if (self.analytics_forward_username is None) != (self.analytics_forward_password is None):
                raise ValueError(
                    "set both ELEARNING_ANALYTICS_FORWARD_USERNAME and ELEARNING_ANALYTICS_FORWARD_PASSWORD, or neither"
                )
        if self.analytics_forward_to == "kafka" and not self.forward_bootstrap_servers:
            raise ValueError(
                "ELEARNING_ANALYTICS_FORWARD_TO=kafka needs ELEARNING_ANALYTICS_FORWARD_KAFKA_BOOTSTRAP_SERVERS "
                "(or ELEARNING_KAFKA_BOOTSTRAP_SERVERS), e.g. kafka:9092"
            )
        return self

    @property
    def forward_bootstrap_servers(self) -> str | None:
        """The statement topic's brokers: their own setting, else the event backbone's (the other settings group)."""
        own = (self.analytics_forward_kafka_bootstrap_servers or "").strip()
        return own or (getattr(self, "kafka_bootstrap_servers", None) or "").strip() or None
