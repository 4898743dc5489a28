"""How one trusted external OpenID Connect provider is configured.

A module of its own, with no HTTP or JWT import, so that the settings package can
hold a list of these without loading the client (``security/oidc.py``) and
without an import cycle: both import this module, neither imports the other.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

# Asymmetric signatures only. ``none`` and the HMAC family are never accepted:
# with HMAC, anyone who knows the verification secret (a public client's
# "secret", or a public key mistaken for one) can forge tokens.
SIGNATURE_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
DEFAULT_ALGORITHMS = ("RS256", "ES256", "EdDSA")
DEFAULT_SCOPES = ("openid", "email", "profile")

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")  # RFC 6749 scope-token
_LOOPBACK_NAMES = frozenset({"localhost"})


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_provider_url(value: str, *, what: str, allow_query: bool = False) -> str:
    """An absolute https URL, or http on a loopback host (local development and tests only).

    Plain http anywhere else would let anyone on the path swap the provider's
    keys or endpoints, so it is refused rather than merely discouraged.
    """
    parts = urlsplit(value)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(f"{what} must be an absolute https URL")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ValueError(f"{what} must use https (plain http is only allowed on a loopback host)")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{what} must not carry credentials")
    if parts.fragment or (parts.query and not allow_query):
        raise ValueError(f"{what} must have no {'fragment' if allow_query else 'query or fragment'}")
    return value


def check_public_base_url(value: str) -> str:
    """The API's externally visible base URL: http(s), a host, an optional path prefix, nothing else."""
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("public_base_url must be an absolute http or https URL, such as https://learn.example.org")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ValueError("public_base_url must have no credentials, query or fragment")
    return value.rstrip("/")


class OidcClaims(BaseModel):
    """Which claim of a token carries each field of an ``ExternalIdentity``.

    The defaults are the standard OpenID Connect names; a provider that keys
    its users differently (``oid`` for Microsoft Entra, say) maps ``subject``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: Annotated[str, Field(min_length=1, max_length=100)] = "sub"
    email: Annotated[str, Field(min_length=1, max_length=100)] = "email"
    email_verified: Annotated[str, Field(min_length=1, max_length=100)] = "email_verified"
    name: Annotated[str, Field(min_length=1, max_length=100)] = "name"


class OidcProviderConfig(BaseModel):
    """One trusted provider; in the environment as one item of ``ELEARNING_OIDC_PROVIDERS`` (a JSON list)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Slug naming the provider in URLs: /api/v1/auth/oidc/{name}/...")
    issuer: str = Field(description="The issuer identifier, compared exactly with the discovery document and `iss`")
    client_id: Annotated[str, Field(min_length=1, max_length=255)]
    client_secret: SecretStr | None = Field(default=None, description="Unset for a public client (PKCE only)")
    audience: str | None = Field(
        default=None, description="The `aud` expected in access tokens presented to the API; default: client_id"
    )
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    claims: OidcClaims = Field(default_factory=OidcClaims)
    allowed_algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    provision: bool = Field(default=True, description="Create an account on the first sign-in of an unknown user")
    discovery_url: str | None = Field(default=None, description="Default: <issuer>/.well-known/openid-configuration")

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError("must be 1 to 63 lowercase letters, digits or inner hyphens")
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        # OpenID Connect Discovery: the issuer is an https URL with no query or fragment.
        return check_provider_url(value, what="issuer")

    @field_validator("discovery_url")
    @classmethod
    def _discovery_url(cls, value: str | None) -> str | None:
        return None if value is None else check_provider_url(value, what="discovery_url", allow_query=True)

    @field_validator("audience")
    @classmethod
    def _audience(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty (leave it unset to expect the client_id)")
        return value

    @field_validator("scopes", mode="before")
    @classmethod
    def _scopes_from_string(cls, value: Any) -> Any:
        return value.split() if isinstance(value, str) else value

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "openid" not in value:
            raise ValueError("must include openid (without it the provider issues no ID token)")
        for scope in value:
            if not _SCOPE_TOKEN.match(scope):
                raise ValueError(f"{scope!r} is not a valid scope (no spaces, quotes or backslashes)")
        return tuple(dict.fromkeys(value))

    @field_validator("allowed_algorithms")
    @classmethod
    def _algorithms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must name at least one algorithm")
        refused = [alg for alg in value if alg not in SIGNATURE_ALGORITHMS]
        if refused:
            raise ValueError(
                f"{', '.join(map(repr, refused))} not allowed: use asymmetric signatures only "
                f"({', '.join(sorted(SIGNATURE_ALGORITHMS))}); never none or HS*"
            )
        return tuple(dict.fromkeys(value))

    @model_validator(mode="after")
    def _secret_not_empty(self) -> OidcProviderConfig:
        if self.client_secret is not None and not self.client_secret.get_secret_value():
            raise ValueError("client_secret must not be empty (leave it unset for a public client)")
        return self

    @property
    def expected_audience(self) -> str:
        return self.audience or self.client_id

    @property
    def resolved_discovery_url(self) -> str:
        return self.discovery_url or f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
