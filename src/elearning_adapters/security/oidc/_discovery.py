"""The provider's discovery document, checked against the configuration (OpenID Connect Discovery 1.0)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from elearning_adapters.security.oidc_config import check_provider_url


class Misconfigured(Exception):
    """The discovery document contradicts the configuration (wrong issuer, no usable endpoint)."""


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """What we use of a discovery document, checked."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    token_endpoint_auth_methods: tuple[str, ...]

    @classmethod
    def parse(cls, document: Mapping[str, Any], *, expected_issuer: str) -> ProviderMetadata:
        """Check ``document`` against the configured issuer; raise ``ValueError`` naming what is wrong."""
        issuer = document.get("issuer")
        if issuer != expected_issuer:
            # Exact comparison, no normalisation (Discovery 4.3): a trailing slash is another issuer.
            raise ValueError(f"the document names issuer {str(issuer)[:200]!r}, not {expected_issuer!r}")

        def endpoint(name: str, *, required: bool = True) -> str | None:
            value = document.get(name)
            if value is None and not required:
                return None
            if not isinstance(value, str):
                raise ValueError(f"{name} is missing or not a string")
            return check_provider_url(value, what=name, allow_query=True)

        if "code" not in _strings(document.get("response_types_supported"), default=("code",)):
            raise ValueError("the provider does not support the authorization code flow")
        methods = _strings(document.get("code_challenge_methods_supported"), default=("S256",))
        if "S256" not in methods:
            raise ValueError("the provider does not support PKCE with S256")
        return cls(
            issuer=issuer,
            authorization_endpoint=str(endpoint("authorization_endpoint")),
            token_endpoint=str(endpoint("token_endpoint")),
            jwks_uri=str(endpoint("jwks_uri")),
            userinfo_endpoint=endpoint("userinfo_endpoint", required=False),
            # Discovery: when absent, the default is client_secret_basic.
            token_endpoint_auth_methods=_strings(
                document.get("token_endpoint_auth_methods_supported"), default=("client_secret_basic",)
            ),
        )


def _strings(value: Any, *, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    if not isinstance(value, list):
        raise ValueError("a *_supported member is not a list")
    return tuple(v for v in value if isinstance(v, str))
