"""The HTTP server: listening, limits, logs, overload and rate limits, proxies."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings


class ServerSettings(BaseSettings):
    """The HTTP server: listening, limits, logs, overload and rate limits, proxies: one group of ``Settings`` (``ELEARNING_*``)."""

    admin_token: SecretStr | None = Field(default=None, description="Bearer token of the admin service account")
    secret_key: SecretStr | None = Field(
        default=None, description="Signs cursors; default: generated once and kept in the data directory"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="`elearning serve`: a request's line and headers must arrive within this, from their first byte "
        "(408 and the connection closed otherwise)",
    )
    body_min_rate_bytes: int = Field(
        default=1024,
        ge=1,
        le=100_000_000,
        description="`elearning serve`: the slowest a request body may arrive (bytes per second, judged over "
        "ELEARNING_BODY_RATE_WINDOW_SECONDS); a slower or stalled upload is cut off",
    )
    body_rate_window_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="`elearning serve`: the window over which the body data rate is judged",
    )
    max_header_bytes: int = Field(
        default=16_384,
        ge=1024,
        le=1_048_576,
        description="`elearning serve`: the largest request line and headers accepted (431 above)",
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="`elearning serve`: open connections per server process; past it a new one is answered 503",
    )
    shutdown_grace_seconds: float = Field(
        default=20.0,
        ge=1,
        le=3600,
        description="`elearning serve`: on SIGTERM, how long requests in flight may take to finish before they "
        "are cancelled",
    )
    log_level: str = "INFO"
    log_json: bool = True
    access_log: bool = True
    cors_origins: list[str] = Field(default_factory=list)
    public_base_url: str | None = Field(
        default=None,
        description="The externally visible base URL of the API (scheme, host, port, optional path prefix), used "
        "to build the OpenID Connect callback URL; default: http://{host}:{port}",
    )
    idempotency_key_ttl_hours: float = Field(
        default=24,
        gt=0,
        le=24 * 30,
        description="How long an Idempotency-Key and its stored answer are kept (a repeat after that runs again)",
    )

    max_in_flight: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Requests one server process works on at once; past it a request is answered 503 at once "
        "(Retry-After). /health, /ready and /metrics are never refused, uploads have their own bound. "
        "Default: 2 x the database connections a process may open (db_pool_size plus as many overflow)",
    )
    max_streams: int = Field(
        default=64,
        ge=1,
        le=100_000,
        description="Long-lived requests (tus uploads under /api/v1/uploads) one process serves at once; "
        "past it 503 with Retry-After. Counted apart from ELEARNING_MAX_IN_FLIGHT",
    )
    overload_retry_after_seconds: int = Field(
        default=1, ge=1, le=3600, description="Retry-After of a 503 refused by admission control"
    )
    rate_limit_enabled: bool = Field(
        default=True, description="The general per-client rate limit (per credential and per client IP)"
    )
    rate_limit_per_token: int = Field(
        default=600,
        ge=1,
        le=10_000_000,
        description="Requests per window for one credential (bearer token or session cookie, keyed on its hash)",
    )
    rate_limit_per_ip: int = Field(
        default=3000,
        ge=1,
        le=10_000_000,
        description="Requests per window from one client IP (whatever the credential); high, since a school or "
        "an office behind one NAT address shares it",
    )
    rate_limit_window_seconds: int = Field(
        default=60, ge=1, le=86_400, description="The rate limit's fixed window, aligned to the clock"
    )
    rate_limit_sync_seconds: float = Field(
        default=0.2,
        ge=0.01,
        le=10,
        description="With Redis: how often each process adds its local counts to the shared ones and reads "
        "the totals back (replicas agree within about this long)",
    )
    rate_limit_max_keys: int = Field(
        default=100_000, ge=100, le=10_000_000, description="Clients a process tracks per window (memory bound)"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Reverse proxies (IPs or CIDRs, a JSON list) whose X-Forwarded-For / Forwarded headers are "
        "believed for the client address; empty: no forwarded header is believed",
    )
