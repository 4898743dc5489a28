"""``HttpOidcProvider``: the authorization-code flow and token verification (see the package docstring)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
import jwt

from elearning_adapters.security.oidc._discovery import Misconfigured, ProviderMetadata
from elearning_adapters.security.oidc._http import Unavailable, get_json_object, request
from elearning_adapters.security.oidc._jwks import (
    DEFAULT_JWKS_TTL_SECONDS,
    DEFAULT_MAX_KEYS,
    DEFAULT_MIN_REFRESH_SECONDS,
    JwksCache,
    JwksUnavailable,
)
from elearning_adapters.security.oidc._pkce import CHALLENGE, VERIFIER
from elearning_adapters.security.oidc_config import OidcProviderConfig
from elearning_core.auth.ports import ExternalSignInError, InvalidToken, OidcProvider
from elearning_core.identity.model import ExternalIdentity
from elearning_core.shared.clock import Clock, SystemClock

log = logging.getLogger("elearning_adapters.security.oidc")

DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_LEEWAY_SECONDS = 60  # clocks of two organisations' servers: a minute of skew is common
DEFAULT_MAX_ACCESS_TOKEN_BYTES = 8 * 1024
DEFAULT_MAX_ID_TOKEN_BYTES = 16 * 1024  # ID tokens carry profile claims; still bounded
DEFAULT_DISCOVERY_TTL_SECONDS = 24 * 3600.0
DEFAULT_DISCOVERY_RETRY_SECONDS = 30.0

KEY_CARRYING_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c"})
# x5t names a certificate (Microsoft Entra sends it beside kid); it carries no key, so it is tolerated and ignored.
ALLOWED_HEADERS = frozenset({"alg", "typ", "kid", "x5t", "x5t#S256"})
ID_TOKEN_TYPES = frozenset({"jwt"})
ACCESS_TOKEN_TYPES = frozenset({"jwt", "at+jwt", "application/at+jwt"})
ID_TOKEN_ONLY_CLAIMS = ("at_hash", "c_hash", "s_hash")

UNAVAILABLE = "the sign-in provider is unavailable; please try again later"
REFUSED = "the sign-in provider refused the sign-in; please try again"
UNVERIFIED = "the sign-in could not be verified; please try again"
MISCONFIGURED = "the sign-in provider is not set up correctly; please contact support"


class Refused(Exception):
    """A token or an answer did not verify (detail for the log); ``expired`` is the one cause a client may learn."""

    def __init__(self, detail: str, *, expired: bool = False) -> None:
        super().__init__(detail)
        self.expired = expired


_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


def _unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header alone, to pick the key; PyJWT parses the whole token again, strictly, to verify it."""
    segment, dot, _ = token.partition(".")
    if not dot or not _SEGMENT.fullmatch(segment):
        raise Refused("malformed header")
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error, RecursionError) as exc:
        raise Refused("malformed header") from exc
    if not isinstance(header, dict):
        raise Refused("malformed header")
    return header


def _int_claim(payload: Mapping[str, Any], claim: str) -> int:
    value = payload[claim]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused(f"{claim} is not a number")
    return int(value)


def _short_string(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if value and len(value) <= limit else None


def _profile(config: OidcProviderConfig, payload: Mapping[str, Any]) -> tuple[str | None, bool, str | None]:
    """Email, whether the provider verified it, and name, from the claims the configuration maps."""
    claims = config.claims
    email = _short_string(payload.get(claims.email), 254)
    verified = payload.get(claims.email_verified)
    # Some providers (Amazon Cognito) send the string "true"; anything else is "not verified".
    email_verified = email is not None and (verified is True or (isinstance(verified, str) and verified == "true"))
    return email, email_verified, _short_string(payload.get(claims.name), 200)


def _identity(config: OidcProviderConfig, payload: Mapping[str, Any]) -> ExternalIdentity:
    subject = payload.get(config.claims.subject)
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise Refused(f"the {config.claims.subject} claim is missing, empty or longer than 255 characters")
    email, email_verified, name = _profile(config, payload)
    return ExternalIdentity(
        provider=config.name,
        issuer=config.issuer,
        subject=subject,
        email=email,
        email_verified=email_verified,
        name=name,
    )


class HttpOidcProvider(OidcProvider):
    """One trusted OpenID Connect provider, reached over HTTP; see the package docstring."""

    def __init__(
        self,
        config: OidcProviderConfig,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        leeway_seconds: int = DEFAULT_LEEWAY_SECONDS,
        max_access_token_bytes: int = DEFAULT_MAX_ACCESS_TOKEN_BYTES,
        max_id_token_bytes: int = DEFAULT_MAX_ID_TOKEN_BYTES,
        jwks_ttl: float = DEFAULT_JWKS_TTL_SECONDS,
        jwks_min_refresh_interval: float = DEFAULT_MIN_REFRESH_SECONDS,
        jwks_max_keys: int = DEFAULT_MAX_KEYS,
        discovery_ttl: float = DEFAULT_DISCOVERY_TTL_SECONDS,
        discovery_retry_interval: float = DEFAULT_DISCOVERY_RETRY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.config = config
        self.name = config.name
        self.issuer = config.issuer
        self.provision = config.provision
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=5),
            headers={"User-Agent": "elearning-platform (OpenID Connect client)"},
        )
        self._clock = clock or SystemClock()
        self._timeout = timeout
        self._leeway = leeway_seconds
        self._max_access_token_bytes = max_access_token_bytes
        self._max_id_token_bytes = max_id_token_bytes
        self._discovery_ttl = discovery_ttl
        self._monotonic = monotonic
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._metadata_lock = asyncio.Lock()
        self._discovery_retry_interval = discovery_retry_interval
        self._discovery_failure: Unavailable | Misconfigured | None = None
        self._discovery_failed_at = 0.0
        self._jwt = jwt.PyJWT()
        self.jwks = JwksCache(
            self._fetch_jwks,
            ttl=jwks_ttl,
            min_refresh_interval=jwks_min_refresh_interval,
            max_keys=jwks_max_keys,
            monotonic=monotonic,
        )

    def __repr__(self) -> str:  # never print the client secret
        return f"HttpOidcProvider(name={self.name!r}, issuer={self.issuer!r})"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # -- discovery ---------------------------------------------------------

    async def metadata(self) -> ProviderMetadata:
        """The checked discovery document, loaded on first use and kept for ``discovery_ttl``.

        A failed load is not retried for ``discovery_retry_interval`` seconds (callers
        meanwhile get the same failure at once, or the document already trusted when
        only the reload failed), so an outage of the provider does not make every
        request wait for a timeout. Raises ``Unavailable`` or ``Misconfigured``; the
        public methods turn them into the port's errors.
        """
        held = self._metadata
        if held is not None and self._monotonic() - self._metadata_at < self._discovery_ttl:
            return held
        async with self._metadata_lock:
            if self._metadata is not None and self._metadata is not held:
                return self._metadata  # loaded by another caller while we waited
            failure = self._discovery_failure
            if failure is not None and self._monotonic() - self._discovery_failed_at < self._discovery_retry_interval:
                if held is not None and isinstance(failure, Unavailable):
                    return held
                raise type(failure)(str(failure))
            url = self.config.resolved_discovery_url
            try:
                try:
                    document = await get_json_object(self._client, url, time_limit=self._timeout)
                    metadata = ProviderMetadata.parse(document, expected_issuer=self.config.issuer)
                except ValueError as exc:
                    raise Misconfigured(f"{url}: {exc}") from exc
            except (Unavailable, Misconfigured) as exc:
                self._discovery_failure, self._discovery_failed_at = exc, self._monotonic()
                if held is not None and isinstance(exc, Unavailable):
                    return held  # an outage of the discovery endpoint: keep the document we trust
                raise
            self._discovery_failure = None
            self._metadata, self._metadata_at = metadata, self._monotonic()
            return metadata

    async def _fetch_jwks(self) -> Mapping[str, Any]:
        metadata = await self.metadata()
        return await get_json_object(self._client, metadata.jwks_uri, time_limit=self._timeout)

    async def _checked_metadata(self) -> ProviderMetadata:
        try:
            return await self.metadata()
        except Misconfigured as exc:
            log.error("OIDC provider %s: %s", self.name, exc)
            raise ExternalSignInError(MISCONFIGURED) from exc
        except Unavailable as exc:
            log.warning("OIDC provider %s: discovery failed: %s", self.name, exc)
            raise ExternalSignInError(UNAVAILABLE) from exc

    # -- the authorization-code flow -----------------------------------------

    async def authorization_url(self, *, state: str, nonce: str, code_challenge: str, redirect_uri: str) -> str:
        if not state or not nonce:
            raise ValueError("state and nonce must not be empty")
        if not CHALLENGE.match(code_challenge):
            raise ValueError("code_challenge must be an S256 challenge (43 base64url characters)")
        metadata = await self._checked_metadata()
        parts = urlsplit(metadata.authorization_endpoint)
        ours = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.config.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        # Keep the endpoint's own query (some providers put a tenant or policy there); ours wins on a clash.
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ours]
        query.extend(ours.items())
        return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))

    async def exchange(self, *, code: str, code_verifier: str, nonce: str, redirect_uri: str) -> ExternalIdentity:
        if not code or not nonce:
            raise ExternalSignInError(UNVERIFIED)
        if not VERIFIER.match(code_verifier):
            raise ValueError("code_verifier is not an RFC 7636 verifier")
        metadata = await self._checked_metadata()
        tokens = await self._redeem(metadata, code=code, code_verifier=code_verifier, redirect_uri=redirect_uri)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            log.warning("OIDC provider %s: the token response has no id_token", self.name)
            raise ExternalSignInError(UNVERIFIED)
        try:
            payload = await self._verify_id_token(id_token, nonce=nonce)
            identity = _identity(self.config, payload)
        except Refused as exc:
            log.warning("OIDC provider %s: ID token refused: %s", self.name, exc)
            raise ExternalSignInError(UNVERIFIED) from exc
        except (Unavailable, JwksUnavailable) as exc:
            log.warning("OIDC provider %s: keys unavailable: %s", self.name, exc)
            raise ExternalSignInError(UNAVAILABLE) from exc
        access_token = tokens.get("access_token")
        if identity.email is None and metadata.userinfo_endpoint and isinstance(access_token, str):
            identity = await self._with_userinfo(
                identity, metadata.userinfo_endpoint, access_token, id_token_subject=payload["sub"]
            )
        return identity

    def _client_authentication(self, metadata: ProviderMetadata) -> tuple[dict[str, str], dict[str, str]]:
        """Form fields and headers that authenticate us at the token endpoint, as the provider supports."""
        client_id = self.config.client_id
        secret = self.config.client_secret
        if secret is None:  # a public client: PKCE is its only proof
            return {"client_id": client_id}, {}
        methods = metadata.token_endpoint_auth_methods
        if "client_secret_basic" in methods:
            # RFC 6749 2.3.1: each part form-urlencoded before the base64.
            pair = f"{quote(client_id, safe='')}:{quote(secret.get_secret_value(), safe='')}"
            return {}, {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}
        if "client_secret_post" in methods:
            return {"client_id": client_id, "client_secret": secret.get_secret_value()}, {}
        log.error("OIDC provider %s supports neither client_secret_basic nor client_secret_post", self.name)
        raise ExternalSignInError(MISCONFIGURED)

    async def _redeem(
        self, metadata: ProviderMetadata, *, code: str, code_verifier: str, redirect_uri: str
    ) -> dict[str, Any]:
        fields, headers = self._client_authentication(metadata)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
            **fields,
        }
        try:
            response = await request(
                self._client, "POST", metadata.token_endpoint, time_limit=self._timeout, data=form, headers=headers
            )
        except Unavailable as exc:
            log.warning("OIDC provider %s: token endpoint failed: %s", self.name, exc)
            raise ExternalSignInError(UNAVAILABLE) from exc
        body = response.body if isinstance(response.body, dict) else {}
        if response.status != 200:
            error = body.get("error")
            safe_error = error[:64] if isinstance(error, str) and error.isascii() else "?"
            log.warning("OIDC provider %s refused the code: HTTP %s %r", self.name, response.status, safe_error)
            if response.status >= 500:
                raise ExternalSignInError(UNAVAILABLE)
            raise ExternalSignInError(REFUSED)
        token_type = body.get("token_type")
        if token_type is not None and (not isinstance(token_type, str) or token_type.lower() != "bearer"):
            log.warning("OIDC provider %s: unexpected token_type", self.name)
            raise ExternalSignInError(UNVERIFIED)
        return body

    async def _with_userinfo(
        self, identity: ExternalIdentity, url: str, access_token: str, *, id_token_subject: str
    ) -> ExternalIdentity:
        """Fill in the profile from the UserInfo endpoint when the ID token carries no email (Core 5.3).

        Best effort: the ID token already proved who signed in, so a failure here
        only leaves the email unknown. The answer counts only if its ``sub`` is the
        ID token's (Core 5.3.2), so a substituted answer cannot change the person.
        """
        try:
            response = await request(
                self._client, "GET", url, time_limit=self._timeout, headers={"Authorization": f"Bearer {access_token}"}
            )
        except Unavailable as exc:
            log.warning("OIDC provider %s: userinfo failed: %s", self.name, exc)
            return identity
        info = response.body
        if response.status != 200 or not isinstance(info, dict):
            log.warning("OIDC provider %s: userinfo answered HTTP %s", self.name, response.status)
            return identity
        if info.get("sub") != id_token_subject:
            log.warning("OIDC provider %s: userinfo names another subject; ignored", self.name)
            return identity
        email, email_verified, name = _profile(self.config, info)
        return replace(identity, email=email, email_verified=email_verified, name=identity.name or name)

    # -- token verification --------------------------------------------------

    async def _verify(
        self,
        token: str,
        *,
        max_bytes: int,
        types: frozenset[str],
        audience: str,
        required: Iterable[str],
    ) -> dict[str, Any]:
        """Signature, header, ``iss``, ``aud`` and times; raises ``Refused``, ``Unavailable`` or ``JwksUnavailable``."""
        if not isinstance(token, str) or len(token) > max_bytes or not token.isascii():
            raise Refused("not an ASCII string or longer than the limit")
        header = _unverified_header(token)
        if not KEY_CARRYING_HEADERS.isdisjoint(header):
            raise Refused("the header carries or points at a key")
        if not ALLOWED_HEADERS.issuperset(header):
            raise Refused(f"unexpected header members {sorted(set(header) - ALLOWED_HEADERS)}")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.config.allowed_algorithms:
            raise Refused(f"algorithm {str(alg)[:20]!r} is not allowed")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in types):
            raise Refused(f"typ {str(typ)[:40]!r} is not expected here")
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or not 0 < len(kid) <= 256):
            raise Refused("malformed kid")

        key = await self.jwks.key(kid, alg)
        if key is None:
            raise Refused("no key of the provider matches kid and alg")
        generation = self.jwks.generation
        try:
            payload = self._decode(token, key, alg, audience, required)
        except jwt.InvalidSignatureError:
            # Without a kid we cannot tell a rotated key from a forgery: look once (rate limited) for a new key.
            if kid is not None or not await self.jwks.refresh(since=generation):
                raise Refused("bad signature") from None
            key = await self.jwks.key(kid, alg)
            if key is None:
                raise Refused("no key of the provider matches alg") from None
            try:
                payload = self._decode(token, key, alg, audience, required)
            except jwt.PyJWTError as exc:
                raise Refused(type(exc).__name__) from exc
        except jwt.PyJWTError as exc:
            raise Refused(type(exc).__name__) from exc
        self._check_times(payload)
        return payload

    def _decode(self, token: str, key: jwt.PyJWK, alg: str, audience: str, required: Iterable[str]) -> dict[str, Any]:
        return self._jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=audience,
            issuer=self.config.issuer,
            options={
                "require": ["iss", "aud", "exp", *required],
                "strict_aud": False,  # aud may be a list that names us among others; checked further by the caller
                "enforce_minimum_key_length": True,
                # Time is checked in _check_times against the injected clock, not PyJWT's wall clock.
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )

    def _check_times(self, payload: Mapping[str, Any]) -> None:
        now = self._clock.now().timestamp()
        expires_at = _int_claim(payload, "exp")
        for claim in ("iat", "nbf"):
            if claim in payload and _int_claim(payload, claim) > now + self._leeway:
                raise Refused(f"{claim} is in the future")
        if expires_at <= now - self._leeway:
            raise Refused("expired", expired=True)

    async def _verify_id_token(self, token: str, *, nonce: str) -> dict[str, Any]:
        client_id = self.config.client_id
        payload = await self._verify(
            token, max_bytes=self._max_id_token_bytes, types=ID_TOKEN_TYPES, audience=client_id, required=["sub", "iat"]
        )
        audiences = payload["aud"] if isinstance(payload["aud"], list) else [payload["aud"]]
        azp = payload.get("azp")
        if azp is not None and azp != client_id:
            raise Refused("azp names another client")
        if len(audiences) > 1 and azp is None:
            raise Refused("several audiences and no azp")
        token_nonce = payload.get("nonce")
        if not isinstance(token_nonce, str) or not hmac.compare_digest(token_nonce.encode(), nonce.encode()):
            raise Refused("nonce mismatch")
        return payload

    async def verify_access_token(self, token: str) -> ExternalIdentity:
        try:
            payload = await self._verify(
                token,
                max_bytes=self._max_access_token_bytes,
                types=ACCESS_TOKEN_TYPES,
                audience=self.config.expected_audience,
                required=[],
            )
            present = [claim for claim in ID_TOKEN_ONLY_CLAIMS if claim in payload]
            if present:
                raise Refused(f"an ID token ({present[0]}), not an access token")
            return _identity(self.config, payload)
        except Refused as exc:
            raise InvalidToken("expired" if exc.expired else "invalid token", detail=str(exc)) from exc
        except (Unavailable, Misconfigured, JwksUnavailable) as exc:
            log.warning("OIDC provider %s: cannot verify bearer tokens: %s", self.name, exc)
            raise InvalidToken(detail=f"provider unavailable: {exc}") from exc
