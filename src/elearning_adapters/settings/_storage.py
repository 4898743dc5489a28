"""Where the platform keeps its files: the local directory (embedded default) or an S3-compatible store."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

MIB = 1024 * 1024


def _check_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"not an http(s) base URL: {value!r}")
    return value.rstrip("/")


class StorageSettings(BaseSettings):
    """The object store: one group of ``Settings`` (``ELEARNING_*``); docs/modules/video.md#storage."""

    storage_backend: Literal["local", "s3"] = Field(
        default="local",
        description="Where files go: local (ELEARNING_MEDIA_DIR, the embedded default) or s3 (an S3-compatible "
        "store, ELEARNING_S3_*)",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="The store's address as the platform's processes reach it (http://seaweedfs:8333); unset: "
        "AWS S3 of ELEARNING_S3_REGION",
    )
    s3_public_endpoint_url: str | None = Field(
        default=None,
        description="The store's address as browsers reach it, which presigned URLs name; unset: the endpoint",
    )
    s3_bucket: str | None = Field(
        default=None,
        min_length=3,
        max_length=63,
        pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$",
        description="The bucket every object goes into (created beforehand)",
    )
    s3_region: str = Field(default="us-east-1", min_length=1, max_length=64, description="The bucket's region")
    s3_access_key_id: str | None = Field(
        default=None, description="Access key; unset: boto3's own chain (AWS_* variables, instance role, ...)"
    )
    s3_secret_access_key: SecretStr | None = Field(default=None, description="Secret of the access key")
    s3_path_style: bool | None = Field(
        default=None,
        description="Path-style addressing (endpoint/bucket/key) instead of virtual hosts (bucket.endpoint/key); "
        "unset: path style when an endpoint is set (SeaweedFS, MinIO), virtual hosts on AWS",
    )
    s3_cdn_base_url: str | None = Field(
        default=None,
        description="A CDN in front of the bucket: presigned URLs name it instead of the public endpoint (the CDN "
        "must pass the path and query on, with the public endpoint's Host)",
    )
    s3_presign_expiry_seconds: int = Field(
        default=3600, ge=1, le=7 * 86_400, description="Default lifetime of a presigned URL (S3 allows 7 days)"
    )
    s3_part_size_bytes: int = Field(
        default=8 * MIB,
        ge=5 * MIB,
        le=5 * 1024 * MIB,
        description="Part size of the multipart uploads large puts become (the most one put holds in memory)",
    )
    s3_max_connections: int = Field(
        default=10, ge=1, le=256, description="Connections (and threads calling boto3) per process"
    )

    @field_validator("s3_endpoint_url", "s3_public_endpoint_url", "s3_cdn_base_url")
    @classmethod
    def _base_urls(cls, value: str | None) -> str | None:
        return _check_url(value)

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> StorageSettings:
        if self.storage_backend == "s3" and not self.s3_bucket:
            raise ValueError("ELEARNING_STORAGE_BACKEND=s3 needs ELEARNING_S3_BUCKET")
        if (self.s3_access_key_id is None) != (self.s3_secret_access_key is None):
            raise ValueError("ELEARNING_S3_ACCESS_KEY_ID and ELEARNING_S3_SECRET_ACCESS_KEY go together")
        return self

    @property
    def resolved_s3_path_style(self) -> bool:
        return self.s3_path_style if self.s3_path_style is not None else self.s3_endpoint_url is not None
