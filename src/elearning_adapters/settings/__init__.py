"""Configuration from ``ELEARNING_*`` environment variables, with a serverless default."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from elearning_adapters.security.oidc_config import OidcProviderConfig, check_public_base_url
from elearning_adapters.settings._accounts import AccountSettings
from elearning_adapters.settings._attachments import AttachmentSettings
from elearning_adapters.settings._backbone import BackboneSettings
from elearning_adapters.settings._commerce import CommerceSettings
from elearning_adapters.settings._database import DatabaseSettings
from elearning_adapters.settings._forwarding import ForwardingSettings
from elearning_adapters.settings._modules import ModuleSettings
from elearning_adapters.settings._server import ServerSettings
from elearning_adapters.settings._storage import StorageSettings

MEMORY_URL = "sqlite+aiosqlite:///:memory:"


_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def reachable_host(host: str) -> str:
    """``host`` as a URL names it: a wildcard listening address becomes its loopback, IPv6 is bracketed."""
    shown = _WILDCARDS.get(host, host)
    return f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown


class Settings(
    DatabaseSettings,
    ServerSettings,
    CommerceSettings,
    BackboneSettings,
    AccountSettings,
    ModuleSettings,
    StorageSettings,
    AttachmentSettings,
    ForwardingSettings,
):
    """Every setting (the groups live in this package's modules), with the checks and derived values that
    span groups."""

    model_config = SettingsConfigDict(env_prefix="ELEARNING_", extra="ignore", frozen=True)

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
