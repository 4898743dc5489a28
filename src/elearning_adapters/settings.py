"""Configuration from ``ELEARNING_*`` environment variables, with a serverless default."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MEMORY_URL = "sqlite+aiosqlite:///:memory:"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ELEARNING_", extra="ignore", frozen=True)

    data_dir: Path = Field(default=Path(".elearning"), description="Where the embedded default keeps its files")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: a SQLite file in the data directory. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db",
    )
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_echo: bool = False
    admin_token: SecretStr | None = Field(default=None, description="Bearer token of the admin service account")
    secret_key: SecretStr | None = Field(
        default=None, description="Signs cursors; default: generated once and kept in the data directory"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    log_level: str = "INFO"
    log_json: bool = True
    access_log: bool = True
    cors_origins: list[str] = Field(default_factory=list)
    redis_url: str | None = Field(
        default=None, description="Redis URL, e.g. redis://127.0.0.1:6379/0; unset = no Redis"
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None, description="Kafka bootstrap servers, e.g. host:9092; unset = no Kafka"
    )
    cache: Literal["auto", "redis", "memory", "none"] = Field(
        default="auto",
        description="Catalog read cache. auto: Redis when ELEARNING_REDIS_URL is set, else an in-process "
        "cache when the events run in-process (no Kafka) and one server process serves, else none",
    )
    cache_ttl_seconds: float = Field(default=60.0, gt=0, le=86_400)
    redis_key_prefix: str = Field(
        default="elearning:", max_length=100, description="Prefix of every Redis key (deployments sharing a Redis)"
    )
    outbox_retention_hours: float = Field(
        default=168.0, ge=0, description="Published outbox rows older than this are pruned by the relay; 0 = never"
    )
    inbox_retention_hours: float = Field(
        default=720.0,
        ge=0,
        description="Inbox rows (handled event ids) older than this are pruned; keep it above the Kafka topics' "
        "retention, since a consumer group reset to a topic's start redelivers that far back; 0 = never",
    )
    consumer_max_attempts: int = Field(default=5, ge=1, le=100, description="Handler tries before a dead letter")
    events_poll_seconds: float = Field(
        default=0.2, gt=0, le=60, description="How often the in-process event transport looks for new events"
    )

    @model_validator(mode="after")
    def _process_cache_needs_in_process_events(self) -> Settings:
        if self.cache == "memory" and not self.events_in_process:
            raise ValueError(
                "ELEARNING_CACHE=memory cannot be invalidated by Kafka consumers in other processes; "
                "use ELEARNING_CACHE=redis (with ELEARNING_REDIS_URL) or none"
            )
        if self.cache == "redis" and not self.redis_url:
            raise ValueError("ELEARNING_CACHE=redis needs ELEARNING_REDIS_URL")
        return self

    @classmethod
    def in_memory(cls, **overrides: object) -> Settings:
        """Settings for an in-memory SQLite platform (tests, scripts)."""
        return cls(database_url=MEMORY_URL, **overrides)  # type: ignore[arg-type]

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'elearning.db').resolve()}"

    @property
    def events_in_process(self) -> bool:
        """No Kafka configured: the API process relays the outbox to the handlers itself."""
        return not (self.kafka_bootstrap_servers or "").strip()

    @property
    def resolved_cache(self) -> Literal["redis", "memory", "none"]:
        """Which catalog cache to use. A process-local cache is only sound where this process
        also receives every invalidation: the in-process transport with one server process."""
        if self.cache != "auto":
            return self.cache
        if self.redis_url:
            return "redis"
        if self.events_in_process and self.workers == 1:
            return "memory"
        return "none"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def is_memory(self) -> bool:
        url = self.resolved_database_url
        return url.startswith("sqlite") and (":memory:" in url or url.rstrip("/").endswith("sqlite+aiosqlite:"))

    def resolved_secret(self) -> bytes:
        """The signing secret: configured, else kept in the data dir, else (in memory) per process."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        if self.is_memory or not self.is_sqlite:
            if not self.is_sqlite:
                # Several server processes must agree on the key: derive it from the
                # database URL only as a last resort, and say so in the README.
                import hashlib

                return hashlib.sha256(b"elearning-cursor:" + self.resolved_database_url.encode()).digest()
            return secrets.token_bytes(32)
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip().encode()
