"""Where the data lives and how the database is used."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings


class DatabaseSettings(BaseSettings):
    """Where the data lives and how the database is used: one group of ``Settings`` (``ELEARNING_*``)."""

    data_dir: Path = Field(default=Path(".elearning"), description="Where the embedded default keeps its files")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: a SQLite file in the data directory. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db",
    )
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_echo: bool = False
    db_statement_timeout_ms: int = Field(
        default=5_000,
        ge=0,
        le=3_600_000,
        description="PostgreSQL statement_timeout of the API's requests (reads and writes); a request past it is "
        "rolled back and answered 503 `statement-timeout`; 0 = none",
    )
    db_lock_timeout_ms: int = Field(
        default=2_000,
        ge=0,
        le=3_600_000,
        description="PostgreSQL lock_timeout of the API's requests: how long one may wait for a row or table "
        "lock before it is rolled back and answered 503 `lock-timeout`; 0 = none",
    )
    db_batch_statement_timeout_ms: int = Field(
        default=600_000,
        ge=0,
        le=86_400_000,
        description="PostgreSQL statement_timeout (and lock_timeout) of batch work: CLI commands, workers and "
        "consumers; 0 = none",
    )
    db_pool_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="How long a request waits for a free database connection before it is answered 503 `pool-timeout`",
    )
    db_work_class: Literal["request", "batch"] = Field(
        default="request",
        description="Which timeouts this process's connections start with: request (the API) or batch "
        "(the CLI and the workers choose it themselves)",
    )
