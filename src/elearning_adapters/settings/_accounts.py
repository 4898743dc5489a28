"""Mail, tokens, sessions, sign-in limits and OpenID Connect providers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from elearning_adapters.security.oidc_config import OidcProviderConfig


class AccountSettings(BaseSettings):
    """Mail, tokens, sessions, sign-in limits and OpenID Connect providers: one group of ``Settings`` (``ELEARNING_*``)."""

    oidc_providers: list[OidcProviderConfig] = Field(
        default_factory=list,
        description="Trusted external OpenID Connect providers, a JSON list of objects: name, issuer, client_id, "
        "client_secret (unset for a public client), audience, scopes, claims, allowed_algorithms, provision, "
        "discovery_url",
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
