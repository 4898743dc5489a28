"""Configuration from ``ELEARNING_*`` environment variables, with a serverless default."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from elearning_adapters.security.oidc_config import OidcProviderConfig, check_public_base_url

MEMORY_URL = "sqlite+aiosqlite:///:memory:"


_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def reachable_host(host: str) -> str:
    """``host`` as a URL names it: a wildcard listening address becomes its loopback, IPv6 is bracketed."""
    shown = _WILDCARDS.get(host, host)
    return f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown


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
    certificate_issuer_name: str = Field(
        default="E-learning platform",
        min_length=1,
        max_length=200,
        description="The issuer name certificates (Open Badges 3.0 credentials) carry and their pages show",
    )
    payments_provider: Literal["fake", "stripe"] = Field(
        default="fake",
        description="The payment gateway: fake (the embedded default, outcomes by test card number) or stripe",
    )
    stripe_api_key: SecretStr | None = Field(default=None, description="Stripe secret key (payments_provider=stripe)")
    stripe_api_base: str | None = Field(
        default=None,
        max_length=300,
        description="Another Stripe API base URL, e.g. a local test server (localstripe); unset = Stripe's",
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None,
        description="The Stripe webhook endpoint's signing secret(s), comma-separated while one is rolled; "
        "unset = POST /api/v1/webhooks/payments/stripe answers 404",
    )
    fake_webhook_secret: SecretStr | None = Field(
        default=None,
        description="The fake provider's webhook signing secret(s), comma-separated; "
        "unset = POST /api/v1/webhooks/payments/fake answers 404",
    )
    payments_webhook_tolerance_seconds: int = Field(
        default=300,
        ge=1,
        le=86_400,
        description="How far a webhook's signed timestamp may be from now, either side, before it is refused",
    )
    billing_seller_country: str = Field(
        default="DE",
        pattern=r"^[A-Z]{2}$",
        description="The seller's country (ISO 3166-1 alpha-2): decides EU VAT and reverse charge on invoices",
    )
    billing_seller_name: str = Field(
        default="E-learning platform", min_length=1, max_length=200, description="The seller named on invoices"
    )
    billing_seller_address: str = Field(default="", max_length=1000, description="The seller's address on invoices")
    dunning_retry_days: str = Field(
        default="1,3,5",
        pattern=r"^(\d{1,2}(,\d{1,2}){0,9})?$",
        description="When to retry a failed renewal, in days after its period started, comma-separated ascending "
        "(empty: no retry); after the last failure the subscription becomes ELEARNING_DUNNING_FINAL",
    )
    dunning_final: Literal["unpaid", "canceled"] = Field(
        default="unpaid",
        description="What a subscription becomes when every retry failed: unpaid (suspended, access past due) "
        "or canceled",
    )
    trial_notice_days: int = Field(
        default=3, ge=0, le=30, description="How many days before a trial ends subscription.trial_ending.v1 is sent"
    )
    subscription_renew_seconds: float = Field(
        default=300,
        ge=0,
        le=86_400,
        description="Period of the scheduled jobs `subscriptions.renew` and `subscriptions.dunning` (0: never by "
        "themselves; `elearning jobs run` still does); access granted until a period's end lapses for at most this "
        "long before its renewal is charged",
    )
    checkout_hold_minutes: int = Field(
        default=15,
        ge=1,
        le=1440,
        description="How long a checkout holds a seat of a course with a capacity while its payment is pending",
    )
    checkout_expire_seconds: int = Field(
        default=60,
        ge=0,
        le=3600,
        description="How often checkout.expire-holds runs (expired holds, owed automatic refunds); 0: by hand only",
    )
    oidc_providers: list[OidcProviderConfig] = Field(
        default_factory=list,
        description="Trusted external OpenID Connect providers, a JSON list of objects: name, issuer, client_id, "
        "client_secret (unset for a public client), audience, scopes, claims, allowed_algorithms, provision, "
        "discovery_url",
    )
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
    kafka_instance_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Static group membership: the prefix of each consumer's group.instance.id, so a restarted "
        "worker gets its partitions back without a rebalance; default: the host name",
    )
    kafka_worker_index: int = Field(
        default=0,
        ge=0,
        le=10_000,
        description="Which worker process this is on its host (0, 1, ...): part of group.instance.id, so two "
        "consumer processes of one group on one host do not fence each other",
    )
    consumer_max_attempts: int = Field(default=5, ge=1, le=100, description="Handler tries before a dead letter")
    consumer_batch_size: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Most events a consumer handles in one transaction (and, under Kafka, one offset commit); "
        "a subscription may ask for fewer; 1 = one event per transaction",
    )
    consumer_batch_max_wait_ms: float = Field(
        default=50.0,
        ge=0,
        le=5_000,
        description="How long a consumer waits for more events to fill a batch once it has some: a Kafka "
        "consumer once it has a message, the in-process transport after a round that delivered events",
    )
    events_yield_factor: float = Field(
        default=0.0,
        ge=0,
        le=20,
        description="The in-process event transport, after a round that delivered events, rests this many times "
        "the round's duration (at most 1 s) before the next: under load its consumers take at most 1/(1+factor) "
        "of the API process and work in bigger batches instead of delaying requests, at the cost of their own "
        "latency under load; 0 (the default) = only the batch wait",
    )
    events_poll_seconds: float = Field(
        default=0.2, gt=0, le=60, description="How often the in-process event transport looks for new events"
    )
    events_relay: Literal["serve", "worker"] = Field(
        default="serve",
        description="Without Kafka, which process relays the outbox to the handlers: serve (the embedded "
        "default: `elearning serve` itself) or worker (`elearning worker events`, so the API process only "
        "writes the outbox and the handlers' work runs beside it; the process cache is then off)",
    )
    mail_backend: Literal["console", "smtp"] = Field(
        default="console",
        description="console: print mails to standard error (the embedded default, nothing is delivered); "
        "smtp: deliver through the ELEARNING_SMTP_* server",
    )
    smtp_host: str = Field(default="127.0.0.1", description="SMTP server host (mail_backend=smtp)")
    smtp_port: int = Field(
        default=25, ge=1, le=65535, description="SMTP server port: usually 25, 587 with STARTTLS, 465 with SSL"
    )
    smtp_username: str | None = Field(default=None, description="SMTP AUTH username; unset = no authentication")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP AUTH password (with smtp_username)")
    smtp_starttls: bool = Field(
        default=False, description="Upgrade the connection with STARTTLS; sending fails if the server does not offer it"
    )
    smtp_ssl: bool = Field(default=False, description="TLS from the first byte (SMTPS, port 465); not with STARTTLS")
    smtp_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="Bound on the connection and on each exchange with the SMTP server"
    )
    mail_from: str = Field(
        default="E-learning <no-reply@localhost>",
        description="From header of every mail, one address with an optional display name; its address is also "
        "the envelope sender",
    )

    access_token_ttl_seconds: int = Field(
        default=600, ge=30, le=86_400, description="Lifetime of an access token (JWT); a refresh renews it"
    )
    refresh_token_ttl_days: float = Field(
        default=14, gt=0, le=365, description="A session unused (not refreshed) for this long ends"
    )
    session_lifetime_days: float = Field(
        default=90, gt=0, le=3650, description="Absolute end of a session, however often it is refreshed"
    )
    token_algorithm: Literal["EdDSA", "ES256"] = Field(
        default="EdDSA", description="Signature algorithm of new signing keys (the only one tokens may use)"
    )
    token_issuer: str | None = Field(
        default=None, max_length=500, description="iss of access tokens; default: the public base URL"
    )
    token_audience: str = Field(default="elearning-api", max_length=200, description="aud of access tokens")
    signing_key_reload_seconds: float = Field(
        default=30, gt=0, le=3600, description="How often each process re-reads the shared signing keys"
    )
    registration_open: bool = Field(default=True, description="Whether anyone may sign up (POST /auth/register)")
    require_verified_email: bool = Field(
        default=True,
        description="An account must confirm its email address before it may enroll on its own (and post); "
        "admin-created, OIDC-verified and service accounts count as verified",
    )
    login_limit_per_account: int = Field(default=10, ge=1, description="Sign-in attempts per email per window")
    login_limit_per_ip: int = Field(default=100, ge=1, description="Sign-in attempts per client IP per window")
    login_window_seconds: float = Field(default=900, gt=0, le=86_400)
    reset_limit_per_account: int = Field(default=3, ge=1, description="Reset mails per email per window")
    reset_limit_per_ip: int = Field(default=20, ge=1, description="Reset requests per client IP per window")
    reset_window_seconds: float = Field(default=3600, gt=0, le=86_400)
    session_cookie_secure: bool | None = Field(
        default=None,
        description="Secure flag of the session cookies; default: on when the public base URL is https",
    )
    media_dir: Path | None = Field(
        default=None, description="Where videos, uploads and captions are stored; default: the data directory's media/"
    )
    video_max_upload_bytes: int = Field(
        default=5 * 1024**3, ge=1, description="Largest video upload accepted (tus Upload-Length); larger gets 413"
    )
    playback_url_ttl_seconds: float = Field(
        default=3600, gt=0, le=7 * 86_400, description="Lifetime of a signed playback URL"
    )
    transcode_timeout_seconds: float = Field(
        default=3600, gt=0, description="Bound on probing and transcoding one video; beyond it the video fails"
    )
    notification_send_seconds: float = Field(
        default=5,
        gt=0,
        le=3600,
        description="Period of the jobs `notifications.send` (due mail) and `notifications.fan-out` (course-wide "
        "notifications written to each learner in batches)",
    )
    notification_max_attempts: int = Field(
        default=8, ge=1, le=50, description="Tries of a notification mail before it is recorded failed"
    )
    notification_reminder_hours: int = Field(
        default=24, ge=1, le=720, description="How long before a quiz closes its learners get the due-date reminder"
    )
    notification_stream_max_seconds: float = Field(
        default=900, gt=0, le=86_400, description="Longest life of one SSE notification stream (the browser reconnects)"
    )
    notification_stream_heartbeat_seconds: float = Field(
        default=15, gt=0, le=300, description="Interval of the SSE stream's heartbeat comments"
    )
    attempt_sweep_seconds: float = Field(
        default=60,
        ge=0,
        le=86_400,
        description="Period of the scheduled job `assessment.expire-attempts`, which submits quiz attempts whose "
        "time ran out (0: never by itself; `elearning jobs run assessment.expire-attempts` still does)",
    )
    scheduler: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Run the scheduled jobs (docs/scheduling.md). auto: inside `elearning serve` when events run "
        "in-process (no Kafka), and in `elearning worker scheduler`; on: in serve as well with Kafka; off: nowhere "
        "(the worker refuses to start; `elearning jobs run` still works)",
    )
    scheduler_tick_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often a scheduler looks for due jobs"
    )
    transcode_concurrency: int = Field(
        default=1, ge=1, le=64, description="Videos one consuming process transcodes at the same time"
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
    discussion_posts_per_window: int = Field(
        default=10,
        ge=1,
        le=10_000,
        description="Posts (threads and replies) one learner may write per ELEARNING_DISCUSSION_POST_WINDOW_SECONDS; "
        "staff are not limited",
    )
    discussion_post_window_seconds: int = Field(
        default=60, ge=1, le=86_400, description="The window of the discussion posting limit (sliding)"
    )
    discussion_auto_hide_flags: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="Flags from distinct people after which a post is hidden until a moderator reviews it",
    )
    recommendation_train_minutes: float = Field(
        default=60,
        gt=0,
        le=10_080,
        description="Period of the job `recommendations.train` (retrains the recommendation read model)",
    )
    recommendation_cache_seconds: float = Field(
        default=60,
        ge=0,
        le=86_400,
        description="How long a learner's recommendation list stays cached (dropped at once when their "
        "enrollments change); 0: not cached",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Reverse proxies (IPs or CIDRs, a JSON list) whose X-Forwarded-For / Forwarded headers are "
        "believed for the client address; empty: no forwarded header is believed",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: list[str]) -> list[str]:
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or CIDR: {entry!r}") from None
        return [entry.strip() for entry in value]

    @property
    def resolved_max_in_flight(self) -> int:
        """Twice the connections a process's pool may open (pool + as many overflow, see sql/engine.py)."""
        return self.max_in_flight or 2 * (2 * self.db_pool_size)

    @field_validator("dunning_retry_days")
    @classmethod
    def _retry_days_ascending(cls, value: str) -> str:
        days = [int(d) for d in value.split(",") if d]
        if days != sorted(set(days)) or any(d < 1 for d in days):
            raise ValueError("retry days must be ascending whole days from 1, e.g. 1,3,5")
        return value

    @property
    def dunning_retries(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.dunning_retry_days.split(",") if d)

    @field_validator("public_base_url")
    @classmethod
    def _public_base_url(cls, value: str | None) -> str | None:
        return None if value is None else check_public_base_url(value)

    @field_validator("oidc_providers")
    @classmethod
    def _oidc_provider_names_unique(cls, value: list[OidcProviderConfig]) -> list[OidcProviderConfig]:
        names = [p.name for p in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"OIDC provider names must be unique; repeated: {', '.join(duplicates)}")
        return value

    @model_validator(mode="after")
    def _process_cache_needs_in_process_events(self) -> Settings:
        if self.events_relay == "worker" and not self.events_in_process:
            raise ValueError(
                "ELEARNING_EVENTS_RELAY=worker relays the outbox without Kafka; with ELEARNING_KAFKA_BOOTSTRAP_SERVERS "
                "set, `elearning worker relay` and `elearning worker consume` carry the events"
            )
        if self.cache == "memory" and not self.events_relayed_in_serve:
            raise ValueError(
                "ELEARNING_CACHE=memory cannot be invalidated by event handlers in other processes (Kafka consumers "
                "or `elearning worker events`); use ELEARNING_CACHE=redis (with ELEARNING_REDIS_URL) or none"
            )
        if self.cache == "redis" and not self.redis_url:
            raise ValueError("ELEARNING_CACHE=redis needs ELEARNING_REDIS_URL")
        return self

    @model_validator(mode="after")
    def _stripe_needs_a_key(self) -> Settings:
        if self.payments_provider == "stripe" and self.stripe_api_key is None:
            raise ValueError("ELEARNING_PAYMENTS_PROVIDER=stripe needs ELEARNING_STRIPE_API_KEY")
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
    def events_relayed_in_serve(self) -> bool:
        """`elearning serve` runs the in-process transport: no Kafka, and no `elearning worker events` asked for."""
        return self.events_in_process and self.events_relay == "serve"

    @property
    def scheduler_in_serve(self) -> bool:
        """Whether `elearning serve` runs the scheduler: by default only on the embedded default (events
        relayed in the server), where no worker runs; otherwise the workers' `scheduler` or `events` command does."""
        if self.scheduler == "auto":
            return self.events_relayed_in_serve
        return self.scheduler == "on"

    @property
    def resolved_cache(self) -> Literal["redis", "memory", "none"]:
        """Which catalog cache to use. A process-local cache is only sound where this process
        also receives every invalidation: the in-process transport with one server process."""
        if self.cache != "auto":
            return self.cache
        if self.redis_url:
            return "redis"
        if self.events_relayed_in_serve and self.workers == 1:
            return "memory"
        return "none"

    @property
    def resolved_public_base_url(self) -> str:
        """The base URL browsers reach the API at, without a trailing slash.

        Without ``public_base_url``: the host and port served (``elearning serve --host/--port`` set them),
        a wildcard address (listen everywhere) named by its loopback, which a browser on this machine reaches.
        """
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        return f"http://{reachable_host(self.host)}:{self.port}"

    @property
    def resolved_token_issuer(self) -> str:
        return self.token_issuer or self.resolved_public_base_url

    @property
    def resolved_cookie_secure(self) -> bool:
        if self.session_cookie_secure is not None:
            return self.session_cookie_secure
        return self.resolved_public_base_url.startswith("https://")

    def callback_url(self, provider: str) -> str:
        """Where ``provider`` sends the browser back after sign-in (registered at the provider as is)."""
        return f"{self.resolved_public_base_url}/api/v1/auth/oidc/{quote(provider, safe='')}/callback"

    def oidc_provider(self, name: str) -> OidcProviderConfig | None:
        return next((p for p in self.oidc_providers if p.name == name), None)

    @property
    def resolved_media_dir(self) -> Path:
        return self.media_dir if self.media_dir is not None else self.data_dir / "media"

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
