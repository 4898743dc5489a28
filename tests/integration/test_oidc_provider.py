"""The OpenID Connect client against a real provider process, and every token attack it must refuse.

Two providers serve these tests, both on 127.0.0.1:

- ``oidc-provider-mock`` in its own process (``tests/oidc_provider.py``): the
  whole authorization-code flow with PKCE and nonce, its discovery document,
  its JWKS, and a key rotation by restarting it on the same address. It issues
  RS256 ID tokens without ``kid`` and opaque access tokens;
- ``StaticProvider`` below, a tiny threaded HTTP server whose every answer the
  test decides: discovery, JWKS (with a fetch counter and an optional delay),
  token endpoint (recording how we authenticated) and userinfo. Tokens for it
  are signed here, so each attack token is signed with a REAL key of the
  provider where possible and the refusal is known to come from the check
  under test, not from a bad signature; each refusal also names its cause.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.warnings import InsecureKeyLengthWarning
from pydantic import ValidationError

from elearning_adapters.security.oidc import (
    MISCONFIGURED,
    REFUSED,
    UNAVAILABLE,
    UNVERIFIED,
    HttpOidcProvider,
    OidcProviderConfig,
    code_challenge,
    new_code_verifier,
    new_nonce,
    new_state,
)
from elearning_adapters.settings import Settings
from elearning_core.auth.ports import ExternalSignInError, InvalidToken, OidcProvider
from elearning_core.identity.model import ExternalIdentity
from elearning_core.shared.clock import FixedClock
from tests.oidc_provider import (
    OidcProviderProcess,
    callback_params,
    oidc_provider_fixture,  # noqa: F401  (the oidc_provider fixture)
    sign_in_at_provider,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NOW = int(T0.timestamp())
CLIENT_ID = "elearning-web"
API_AUDIENCE = "https://api.learn.example.org"
REDIRECT_URI = "http://127.0.0.1:8000/api/v1/auth/oidc/mock/callback"


# ---------------------------------------------------------------------------
# Keys and tokens signed here
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TestKey:
    __test__ = False  # not a test class

    kid: str
    alg: str
    private_key: Any
    jwk_extra: tuple[tuple[str, Any], ...] = ()  # members added to the published JWK

    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        if self.alg.startswith(("RS", "PS")):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif self.alg == "EdDSA":
            jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", **dict(self.jwk_extra)}

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, payload: dict[str, Any], *, alg: str | None = None, **header: Any) -> str:
        headers = {"kid": self.kid, **header}
        headers = {k: v for k, v in headers.items() if v is not None}
        return jwt.encode(payload, self.private_key, algorithm=alg or self.alg, headers=headers)


@functools.cache
def _rsa(bits: int, label: str) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def rsa_key(label: str = "rsa-1", bits: int = 2048, alg: str = "RS256") -> TestKey:
    return TestKey(label, alg, _rsa(bits, label))


def ec_key(label: str = "ec-1") -> TestKey:
    return TestKey(label, "ES256", ec.generate_private_key(ec.SECP256R1()))


def ed_key(label: str = "ed-1") -> TestKey:
    return TestKey(label, "EdDSA", Ed25519PrivateKey.generate())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segment(obj: dict[str, Any]) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def claims(issuer: str, **changes: Any) -> dict[str, Any]:
    """Valid access-token claims at T0 for ``issuer``; a change to ``None`` removes the claim."""
    base: dict[str, Any] = {
        "iss": issuer,
        "aud": API_AUDIENCE,
        "sub": "user-1",
        "iat": NOW,
        "exp": NOW + 600,
        "email": "ada@example.org",
        "email_verified": True,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


class Monotonic:
    """A monotonic clock the test moves by hand (JWKS ttl and refresh rate limit)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# ---------------------------------------------------------------------------
# StaticProvider: a provider whose every answer the test decides
# ---------------------------------------------------------------------------


@dataclass
class TokenRequest:
    form: dict[str, str]
    authorization: str | None


@dataclass
class StaticProvider:
    server: ThreadingHTTPServer
    issuer: str
    keys: list[TestKey] = field(default_factory=list)
    discovery_changes: dict[str, Any] = field(default_factory=dict)
    jwks_status: int = 200
    jwks_delay: float = 0.0
    token_response: tuple[int, dict[str, Any]] = (400, {"error": "invalid_grant"})
    token_requests: list[TokenRequest] = field(default_factory=list)
    userinfo_response: tuple[int, dict[str, Any]] = (404, {})
    hits: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def discovery(self) -> dict[str, Any]:
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        }
        document.update(self.discovery_changes)
        return {k: v for k, v in document.items() if v is not None}

    def id_token(self, key: TestKey, *, nonce: str | None, **changes: Any) -> str:
        return key.sign(claims(self.issuer, **{"aud": CLIENT_ID, "nonce": nonce, **changes}))

    def answer_tokens(self, id_token: str | None, **extra: Any) -> None:
        body: dict[str, Any] = {"access_token": "opaque-access", "token_type": "Bearer", "expires_in": 3600, **extra}
        if id_token is not None:
            body["id_token"] = id_token
        self.token_response = (200, body)


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        provider: StaticProvider = self.server.provider
        path = urlsplit(self.path).path
        with provider.lock:
            provider.hits[path] += 1
        if path == "/.well-known/openid-configuration":
            self._json(200, provider.discovery())
        elif path == "/jwks":
            if provider.jwks_delay:
                time.sleep(provider.jwks_delay)
            self._json(provider.jwks_status, {"keys": [k.public_jwk() for k in provider.keys]})
        elif path == "/userinfo":
            with provider.lock:
                provider.token_requests.append(TokenRequest({}, self.headers.get("Authorization")))
            self._json(*provider.userinfo_response)
        else:
            self._json(404, {})

    def do_POST(self) -> None:
        provider: StaticProvider = self.server.provider
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        with provider.lock:
            provider.hits[path] += 1
            provider.token_requests.append(TokenRequest(form, self.headers.get("Authorization")))
        self._json(*provider.token_response)


@pytest.fixture
def static() -> Iterator[StaticProvider]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    provider = StaticProvider(server, f"http://127.0.0.1:{server.server_address[1]}")
    server.provider = provider  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


MakeProvider = Callable[..., HttpOidcProvider]


@pytest.fixture
async def make_provider() -> AsyncIterator[MakeProvider]:
    """``make_provider(issuer, config changes..., **HttpOidcProvider options)``, closed at teardown."""
    made: list[HttpOidcProvider] = []
    config_fields = set(OidcProviderConfig.model_fields)

    def make(issuer: str, **options: Any) -> HttpOidcProvider:
        config = {"name": "mock", "issuer": issuer, "client_id": CLIENT_ID, "client_secret": "s3cret"}
        config.update({k: v for k, v in options.items() if k in config_fields})
        kwargs = {k: v for k, v in options.items() if k not in config_fields}
        provider = HttpOidcProvider(OidcProviderConfig(**config), **kwargs)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.aclose()


@dataclass
class Flow:
    verifier: str
    nonce: str
    state: str
    url: str


async def start_flow(provider: HttpOidcProvider) -> Flow:
    verifier, nonce, state = new_code_verifier(), new_nonce(), new_state()
    url = await provider.authorization_url(
        state=state, nonce=nonce, code_challenge=code_challenge(verifier), redirect_uri=REDIRECT_URI
    )
    return Flow(verifier, nonce, state, url)


async def sign_in(provider: HttpOidcProvider, subject: str, profile: dict[str, Any] | None = None) -> ExternalIdentity:
    """The whole flow at the mock: authorization URL, the user's sign-in, the callback's exchange."""
    flow = await start_flow(provider)
    code, state = callback_params(await sign_in_at_provider(flow.url, subject=subject, claims=profile))
    assert state == flow.state
    return await provider.exchange(code=code, code_verifier=flow.verifier, nonce=flow.nonce, redirect_uri=REDIRECT_URI)


def a_subject() -> str:
    return f"ada-{uuid.uuid4().hex[:8]}"


PROFILE = {"email": "ada@example.org", "email_verified": True, "name": "Ada Lovelace"}


# ---------------------------------------------------------------------------
# PKCE, state, nonce, configuration
# ---------------------------------------------------------------------------


def test_code_challenge_is_rfc_7636_s256() -> None:
    # RFC 7636 Appendix B.
    assert (
        code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_new_code_verifiers_are_valid_and_unique() -> None:
    verifiers = {new_code_verifier() for _ in range(50)}
    assert len(verifiers) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", v) for v in verifiers)
    assert len({new_state() for _ in range(50)} | {new_nonce() for _ in range(50)}) == 100
    assert min(len(new_state()), len(new_nonce())) >= 43


@pytest.mark.parametrize("verifier", ["short", "a" * 129, "a" * 42 + " ", "é" * 43])
def test_code_challenge_refuses_a_verifier_outside_rfc_7636(verifier: str) -> None:
    with pytest.raises(ValueError, match="43 to 128"):
        code_challenge(verifier)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"allowed_algorithms": ["HS256"]}, "never none or HS"),
        ({"allowed_algorithms": ["none"]}, "never none or HS"),
        ({"allowed_algorithms": ["RS256", "HS512"]}, "HS512"),
        ({"allowed_algorithms": []}, "at least one"),
        ({"issuer": "http://id.example.org"}, "must use https"),
        ({"issuer": "https://id.example.org?tenant=1"}, "no query"),
        ({"discovery_url": "http://id.example.org/.well-known/openid-configuration"}, "must use https"),
        ({"scopes": ["email", "profile"]}, "must include openid"),
        ({"name": "Acme ID"}, "lowercase"),
        ({"client_secret": ""}, "must not be empty"),
    ],
)
def test_provider_config_refuses_unsafe_settings(change: dict[str, Any], message: str) -> None:
    base = {"name": "acme", "issuer": "https://id.example.org", "client_id": "c"}
    with pytest.raises(ValidationError, match=message):
        OidcProviderConfig(**{**base, **change})


def test_provider_config_defaults() -> None:
    config = OidcProviderConfig(name="acme", issuer="https://id.example.org", client_id="web")
    assert config.expected_audience == "web"
    assert config.scopes == ("openid", "email", "profile")
    assert config.allowed_algorithms == ("RS256", "ES256", "EdDSA")
    assert config.provision is True
    assert config.client_secret is None
    assert config.resolved_discovery_url == "https://id.example.org/.well-known/openid-configuration"
    assert (config.claims.subject, config.claims.email) == ("sub", "email")
    assert "s3cret" not in repr(
        OidcProviderConfig(name="a", issuer="https://i.org", client_id="c", client_secret="s3cret")
    )


def test_settings_read_providers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    providers = [
        {"name": "acme", "issuer": "https://id.acme.example", "client_id": "web", "client_secret": "s3cret"},
        {"name": "campus", "issuer": "https://sso.campus.example/realms/x", "client_id": "lms", "audience": "api"},
    ]
    monkeypatch.setenv("ELEARNING_OIDC_PROVIDERS", json.dumps(providers))
    monkeypatch.setenv("ELEARNING_PORT", "8123")
    settings = Settings()
    assert [p.name for p in settings.oidc_providers] == ["acme", "campus"]
    assert settings.oidc_providers[0].client_secret is not None
    assert settings.oidc_providers[0].client_secret.get_secret_value() == "s3cret"
    assert settings.oidc_providers[1].expected_audience == "api"
    assert settings.callback_url("acme") == "http://127.0.0.1:8123/api/v1/auth/oidc/acme/callback"
    assert settings.oidc_provider("campus") is settings.oidc_providers[1]
    assert settings.oidc_provider("nobody") is None
    behind_proxy = Settings(public_base_url="https://learn.example.org/lms/")
    assert behind_proxy.callback_url("acme") == "https://learn.example.org/lms/api/v1/auth/oidc/acme/callback"
    assert Settings(oidc_providers=[]).oidc_providers == []


def test_settings_refuse_duplicate_provider_names_and_odd_base_urls() -> None:
    twice = [{"name": "acme", "issuer": "https://id.example.org", "client_id": "c"}] * 2
    with pytest.raises(ValidationError, match="unique"):
        Settings(oidc_providers=twice)
    with pytest.raises(ValidationError, match="absolute http"):
        Settings(public_base_url="learn.example.org")
    with pytest.raises(ValidationError, match="query or fragment"):
        Settings(public_base_url="https://learn.example.org/?x=1")


# ---------------------------------------------------------------------------
# Against the real provider process
# ---------------------------------------------------------------------------


async def test_discovery_is_loaded_once_and_names_the_configured_issuer(
    oidc_provider: OidcProviderProcess, make_provider: MakeProvider
) -> None:
    provider: OidcProvider = make_provider(oidc_provider.issuer)
    assert isinstance(provider, HttpOidcProvider)
    metadata = await provider.metadata()
    assert metadata.issuer == oidc_provider.issuer
    assert metadata.token_endpoint == f"{oidc_provider.issuer}/oauth2/token"
    assert metadata.jwks_uri == f"{oidc_provider.issuer}/jwks"
    assert metadata.token_endpoint_auth_methods == ("client_secret_basic",)  # the discovery default
    assert await provider.metadata() is metadata  # cached, not fetched again


async def test_authorization_url_carries_the_code_flow_with_pkce(
    oidc_provider: OidcProviderProcess, make_provider: MakeProvider
) -> None:
    provider = make_provider(oidc_provider.issuer)
    flow = await start_flow(provider)
    parts = urlsplit(flow.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{oidc_provider.issuer}/oauth2/authorize"
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile",
        "state": flow.state,
        "nonce": flow.nonce,
        "code_challenge": code_challenge(flow.verifier),
        "code_challenge_method": "S256",
    }


@pytest.mark.parametrize("secret", ["s3cret", None], ids=["confidential-client", "public-client"])
async def test_the_full_code_flow_names_the_user(
    oidc_provider: OidcProviderProcess, make_provider: MakeProvider, secret: str | None
) -> None:
    provider = make_provider(oidc_provider.issuer, client_secret=secret)
    subject = a_subject()
    identity = await sign_in(provider, subject, PROFILE)
    assert identity == ExternalIdentity(
        provider="mock",
        issuer=oidc_provider.issuer,
        subject=subject,
        email="ada@example.org",
        email_verified=True,
        name="Ada Lovelace",
    )


async def test_an_unverified_email_stays_unverified(
    oidc_provider: OidcProviderProcess, make_provider: MakeProvider
) -> None:
    provider = make_provider(oidc_provider.issuer)
    identity = await sign_in(provider, a_subject(), {"email": "bob@example.org", "email_verified": False})
    assert (identity.email, identity.email_verified, identity.name) == ("bob@example.org", False, None)


async def test_a_wrong_code_verifier_is_refused(
    oidc_provider: OidcProviderProcess, make_provider: MakeProvider
) -> None:
    provider = make_provider(oidc_provider.issuer)
    flow = await start_flow(provider)
    code, _ = callback_params(await sign_in_at_provider(flow.url, subject=a_subject(), claims=PROFILE))
    with pytest.raises(ExternalSignInError) as refused:
        await provider.exchange(
            code=code, code_verifier=new_code_verifier(), nonce=flow.nonce, redirect_uri=REDIRECT_URI
        )
    assert str(refused.value) == REFUSED
    # The code is spent: not even the right verifier redeems it now.
    with pytest.raises(ExternalSignInError, match="refused"):
        await provider.exchange(code=code, code_verifier=flow.verifier, nonce=flow.nonce, redirect_uri=REDIRECT_URI)


async def test_a_wrong_nonce_is_refused(oidc_provider: OidcProviderProcess, make_provider: MakeProvider) -> None:
    provider = make_provider(oidc_provider.issuer)
    flow = await start_flow(provider)
    code, _ = callback_params(await sign_in_at_provider(flow.url, subject=a_subject(), claims=PROFILE))
    with pytest.raises(ExternalSignInError) as refused:
        await provider.exchange(code=code, code_verifier=flow.verifier, nonce=new_nonce(), redirect_uri=REDIRECT_URI)
    assert str(refused.value) == UNVERIFIED
    assert "nonce" in str(refused.value.__cause__)


async def test_a_code_is_redeemed_once(oidc_provider: OidcProviderProcess, make_provider: MakeProvider) -> None:
    provider = make_provider(oidc_provider.issuer)
    flow = await start_flow(provider)
    code, _ = callback_params(await sign_in_at_provider(flow.url, subject=a_subject(), claims=PROFILE))
    first = await provider.exchange(code=code, code_verifier=flow.verifier, nonce=flow.nonce, redirect_uri=REDIRECT_URI)
    assert first.email == "ada@example.org"
    with pytest.raises(ExternalSignInError, match="refused"):
        await provider.exchange(code=code, code_verifier=flow.verifier, nonce=flow.nonce, redirect_uri=REDIRECT_URI)


async def test_the_mocks_tokens_are_not_access_tokens_for_the_api(
    oidc_provider: OidcProviderProcess, make_provider: MakeProvider
) -> None:
    """The mock's access tokens are opaque, and its ID token (which verifies) is no bearer credential."""
    provider = make_provider(oidc_provider.issuer)
    flow = await start_flow(provider)
    code, _ = callback_params(await sign_in_at_provider(flow.url, subject=a_subject(), claims=PROFILE))
    async with httpx.AsyncClient(timeout=5) as client:
        answer = await client.post(
            f"{oidc_provider.issuer}/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": flow.verifier,
            },
            auth=(CLIENT_ID, "s3cret"),
        )
    tokens = answer.json()
    assert answer.status_code == 200, tokens
    with pytest.raises(InvalidToken) as opaque:
        await provider.verify_access_token(tokens["access_token"])
    assert opaque.value.detail == "malformed header"
    with pytest.raises(InvalidToken) as id_token:
        await provider.verify_access_token(tokens["id_token"])
    # Refused after its signature, iss, aud and exp verified: only for being an ID token.
    assert id_token.value.reason == "invalid token"
    assert id_token.value.detail == "an ID token (at_hash), not an access token"


async def test_keys_rotated_at_the_provider_are_fetched_again_but_not_too_often(
    oidc_provider: OidcProviderProcess, make_provider: MakeProvider
) -> None:
    """A restart gives the mock a new key (its tokens carry no kid): a bad signature refetches, rate limited."""
    eager = make_provider(oidc_provider.issuer, jwks_min_refresh_interval=0)
    patient = make_provider(oidc_provider.issuer)  # default: at most one refetch per 30 s
    assert (await sign_in(eager, a_subject(), PROFILE)).email == "ada@example.org"
    assert (await sign_in(patient, a_subject(), PROFILE)).email == "ada@example.org"
    old_kids = eager.jwks.kids
    assert (eager.jwks.fetches, patient.jwks.fetches) == (1, 1)

    oidc_provider.restart()

    subject = a_subject()
    assert (await sign_in(eager, subject, PROFILE)).subject == subject
    assert eager.jwks.fetches == 2
    assert eager.jwks.kids != old_kids
    with pytest.raises(ExternalSignInError) as refused:
        await sign_in(patient, a_subject(), PROFILE)
    assert str(refused.value) == UNVERIFIED
    assert patient.jwks.fetches == 1  # the refetch was refused by the rate limit


async def test_a_discovery_document_naming_another_issuer_is_refused(
    oidc_provider: OidcProviderProcess, make_provider: MakeProvider, static: StaticProvider
) -> None:
    # The mock names itself without a trailing slash: the comparison is exact.
    slashed = make_provider(oidc_provider.issuer + "/")
    with pytest.raises(ExternalSignInError) as refused:
        await start_flow(slashed)
    assert str(refused.value) == MISCONFIGURED
    assert "names issuer" in str(refused.value.__cause__)

    # A document served from the configured place that names another issuer.
    static.discovery_changes["issuer"] = "https://evil.example.org"
    impostor = make_provider(static.issuer)
    with pytest.raises(ExternalSignInError, match="not set up correctly"):
        await start_flow(impostor)
    with pytest.raises(InvalidToken):
        await impostor.verify_access_token(ed_key().sign(claims(static.issuer)))
    assert static.hits["/jwks"] == 0  # never trusted far enough to fetch its keys


async def test_an_unreachable_provider_fails_quickly(make_provider: MakeProvider) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    provider = make_provider(f"http://127.0.0.1:{closed_port}")
    started = time.monotonic()
    with pytest.raises(ExternalSignInError) as refused:
        await start_flow(provider)
    assert str(refused.value) == UNAVAILABLE
    with pytest.raises(InvalidToken):
        await provider.verify_access_token(ed_key().sign(claims(f"http://127.0.0.1:{closed_port}")))
    assert time.monotonic() - started < 2.0


async def test_a_provider_that_never_answers_times_out_and_is_not_asked_again_at_once(
    make_provider: MakeProvider,
) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        provider = make_provider(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(ExternalSignInError, match="unavailable"):
            await start_flow(provider)
        first = time.monotonic() - started
        assert 0.4 <= first < 2.5
        started = time.monotonic()
        with pytest.raises(ExternalSignInError, match="unavailable"):
            await start_flow(provider)
        assert time.monotonic() - started < 0.2  # the failure is remembered for discovery_retry_interval


# ---------------------------------------------------------------------------
# Bearer tokens signed here, verified against the StaticProvider's JWKS
# ---------------------------------------------------------------------------


@pytest.fixture
def keys(static: StaticProvider) -> dict[str, TestKey]:
    published = {"RS256": rsa_key(), "ES256": ec_key(), "EdDSA": ed_key()}
    static.keys.extend(published.values())
    return published


def api(make_provider: MakeProvider, static: StaticProvider, **options: Any) -> HttpOidcProvider:
    return make_provider(static.issuer, audience=API_AUDIENCE, clock=FixedClock(T0), **options)


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
async def test_a_valid_access_token_names_its_subject(
    static: StaticProvider, keys: dict[str, TestKey], make_provider: MakeProvider, alg: str
) -> None:
    provider = api(make_provider, static)
    identity = await provider.verify_access_token(keys[alg].sign(claims(static.issuer), typ="at+jwt"))
    assert identity == ExternalIdentity(
        provider="mock",
        issuer=static.issuer,
        subject="user-1",
        email="ada@example.org",
        email_verified=True,
        name=None,
    )


async def test_claims_are_mapped_as_configured(
    static: StaticProvider, keys: dict[str, TestKey], make_provider: MakeProvider
) -> None:
    provider = api(
        make_provider,
        static,
        claims={"subject": "oid", "email": "upn", "email_verified": "upn_verified", "name": "display"},
    )
    token = keys["EdDSA"].sign(
        claims(static.issuer, oid="0f6e-oid", upn="ada@campus.example", upn_verified="true", display="Ada")
    )
    identity = await provider.verify_access_token(token)
    assert (identity.subject, identity.email, identity.email_verified, identity.name) == (
        "0f6e-oid",
        "ada@campus.example",
        True,
        "Ada",
    )


def _hs256_with_public_key(key: TestKey, payload: dict[str, Any]) -> str:
    """The classic algorithm confusion: the public key, as published, used as an HMAC secret."""
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}.{segment(payload)}"
    signature = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def _unsigned(key: TestKey, payload: dict[str, Any]) -> str:
    return f"{segment({'alg': 'none', 'kid': key.kid})}.{segment(payload)}."


ATTACKER = ed_key("attacker")

# name -> (token from the real keys and the issuer, what the refusal must name)
ATTACKS: dict[str, tuple[Callable[[dict[str, TestKey], str], str], str]] = {
    "alg-none": (lambda k, iss: _unsigned(k["RS256"], claims(iss)), "algorithm 'none' is not allowed"),
    "hs256-with-the-public-key": (
        lambda k, iss: _hs256_with_public_key(k["RS256"], claims(iss)),
        "algorithm 'HS256' is not allowed",
    ),
    "alg-outside-the-allowlist": (
        lambda k, iss: k["RS256"].sign(claims(iss), alg="RS512"),
        "algorithm 'RS512' is not allowed",
    ),
    "jku-header": (
        lambda k, iss: ATTACKER.sign(claims(iss), jku="http://127.0.0.1:9/evil-jwks"),
        "carries or points at a key",
    ),
    "embedded-jwk": (
        lambda k, iss: ATTACKER.sign(claims(iss), jwk=ATTACKER.public_jwk()),
        "carries or points at a key",
    ),
    "x5u-header": (lambda k, iss: k["EdDSA"].sign(claims(iss), x5u="http://127.0.0.1:9/cert"), "carries or points"),
    "x5c-header": (lambda k, iss: k["EdDSA"].sign(claims(iss), x5c=["MIIB"]), "carries or points at a key"),
    "crit-header": (lambda k, iss: k["EdDSA"].sign(claims(iss), crit=["exp"]), "unexpected header members"),
    "unexpected-typ": (lambda k, iss: k["EdDSA"].sign(claims(iss), typ="dpop+jwt"), "typ 'dpop+jwt'"),
    "wrong-audience": (lambda k, iss: k["EdDSA"].sign(claims(iss, aud="another-api")), "InvalidAudienceError"),
    "client-id-as-audience": (lambda k, iss: k["EdDSA"].sign(claims(iss, aud=CLIENT_ID)), "InvalidAudienceError"),
    "wrong-issuer": (lambda k, iss: k["EdDSA"].sign(claims("https://evil.example.org")), "InvalidIssuerError"),
    "issuer-with-trailing-slash": (lambda k, iss: k["EdDSA"].sign(claims(iss + "/")), "InvalidIssuerError"),
    "no-exp": (lambda k, iss: k["EdDSA"].sign(claims(iss, exp=None)), "MissingRequiredClaimError"),
    "issued-in-the-future": (lambda k, iss: k["EdDSA"].sign(claims(iss, iat=NOW + 3600)), "iat is in the future"),
    "not-yet-valid": (lambda k, iss: k["EdDSA"].sign(claims(iss, nbf=NOW + 3600)), "nbf is in the future"),
    "signed-by-another-key-under-a-real-kid": (
        lambda k, iss: TestKey(k["EdDSA"].kid, "EdDSA", ATTACKER.private_key).sign(claims(iss)),
        "bad signature",
    ),
    "unknown-kid": (lambda k, iss: ATTACKER.sign(claims(iss)), "no key of the provider matches"),
    "an-id-token": (lambda k, iss: k["EdDSA"].sign(claims(iss, at_hash="x", nonce="n")), "an ID token"),
    "no-subject": (lambda k, iss: k["EdDSA"].sign(claims(iss, sub=None)), "sub claim is missing"),
    "larger-than-8-kib": (lambda k, iss: k["EdDSA"].sign(claims(iss, pad="x" * 8192)), "longer than the limit"),
    "not-a-jwt": (lambda k, iss: "not-a-token", "malformed header"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_an_attack_token_is_refused(
    static: StaticProvider, keys: dict[str, TestKey], make_provider: MakeProvider, attack: str
) -> None:
    build, cause = ATTACKS[attack]
    provider = api(make_provider, static)
    with pytest.raises(InvalidToken) as refused:
        await provider.verify_access_token(build(keys, static.issuer))
    assert refused.value.reason == "invalid token"  # the client learns nothing more
    assert refused.value.detail is not None
    assert cause in refused.value.detail


async def test_an_expired_token_says_so(
    static: StaticProvider, keys: dict[str, TestKey], make_provider: MakeProvider
) -> None:
    provider = api(make_provider, static)
    with pytest.raises(InvalidToken) as refused:
        await provider.verify_access_token(keys["ES256"].sign(claims(static.issuer, iat=NOW - 3600, exp=NOW - 120)))
    assert refused.value.reason == "expired"
    # Within the leeway (60 s) a just-expired token still passes: the provider's clock may run ahead.
    fresh = await provider.verify_access_token(keys["ES256"].sign(claims(static.issuer, exp=NOW - 30)))
    assert fresh.subject == "user-1"


async def test_a_short_rsa_key_is_refused(static: StaticProvider, make_provider: MakeProvider) -> None:
    weak = rsa_key("rsa-weak", bits=1024)
    static.keys.append(weak)
    provider = api(make_provider, static)
    with pytest.warns(InsecureKeyLengthWarning):  # PyJWT signs with it, warning; we must refuse to verify
        token = weak.sign(claims(static.issuer))
    with pytest.raises(InvalidToken) as refused:
        await provider.verify_access_token(token)
    assert refused.value.detail == "InvalidKeyError"


async def test_a_key_published_for_another_algorithm_is_not_used(
    static: StaticProvider, make_provider: MakeProvider
) -> None:
    """A JWK that says alg=RS512 does not verify an RS256 token, even though the key would."""
    key = replace(rsa_key("rsa-512-only"), jwk_extra=(("alg", "RS512"),))
    static.keys.append(key)
    provider = api(make_provider, static)
    with pytest.raises(InvalidToken) as refused:
        await provider.verify_access_token(key.sign(claims(static.issuer)))
    assert refused.value.detail == "no key of the provider matches kid and alg"


# ---------------------------------------------------------------------------
# The JWKS cache
# ---------------------------------------------------------------------------


async def test_unknown_kids_refetch_the_keys_at_most_once_per_interval(
    static: StaticProvider, keys: dict[str, TestKey], make_provider: MakeProvider
) -> None:
    clock = Monotonic()
    provider = api(make_provider, static, jwks_min_refresh_interval=30, monotonic=clock)
    assert (await provider.verify_access_token(keys["EdDSA"].sign(claims(static.issuer)))).subject == "user-1"
    assert static.hits["/jwks"] == 1

    def flood() -> list[str]:  # tokens naming random kids
        return [TestKey(uuid.uuid4().hex, "EdDSA", ATTACKER.private_key).sign(claims(static.issuer)) for _ in range(25)]

    for forged in flood():
        with pytest.raises(InvalidToken):
            await provider.verify_access_token(forged)
    assert static.hits["/jwks"] == 1  # the keys were fetched less than 30 s ago: no refetch at all

    clock.advance(31)
    for forged in flood():
        with pytest.raises(InvalidToken):
            await provider.verify_access_token(forged)
    assert static.hits["/jwks"] == 2  # one refetch for the whole flood

    clock.advance(29)
    with pytest.raises(InvalidToken):
        await provider.verify_access_token(ATTACKER.sign(claims(static.issuer)))
    assert static.hits["/jwks"] == 2
    clock.advance(2)
    with pytest.raises(InvalidToken):
        await provider.verify_access_token(ATTACKER.sign(claims(static.issuer)))
    assert static.hits["/jwks"] == 3  # the interval has passed: one more
    assert (await provider.verify_access_token(keys["RS256"].sign(claims(static.issuer)))).subject == "user-1"
    assert static.hits["/jwks"] == 3  # known kids cost no fetch
    assert static.hits["/.well-known/openid-configuration"] == 1


async def test_keys_rotate_at_the_provider(static: StaticProvider, make_provider: MakeProvider) -> None:
    clock = Monotonic()
    old, new = ed_key("2025-01"), ed_key("2025-02")
    static.keys[:] = [old]
    provider = api(make_provider, static, jwks_ttl=600, jwks_min_refresh_interval=30, monotonic=clock)
    assert (await provider.verify_access_token(old.sign(claims(static.issuer)))).subject == "user-1"

    clock.advance(40)
    static.keys[:] = [old, new]  # the provider publishes its next key, then signs with it
    assert (await provider.verify_access_token(new.sign(claims(static.issuer)))).subject == "user-1"
    assert (await provider.verify_access_token(old.sign(claims(static.issuer)))).subject == "user-1"
    assert static.hits["/jwks"] == 2

    static.keys[:] = [new]  # the old key is withdrawn; we notice when our copy expires
    clock.advance(601)
    with pytest.raises(InvalidToken) as refused:
        await provider.verify_access_token(old.sign(claims(static.issuer)))
    assert refused.value.detail == "no key of the provider matches kid and alg"
    assert (await provider.verify_access_token(new.sign(claims(static.issuer)))).subject == "user-1"
    assert static.hits["/jwks"] == 3
    assert provider.jwks.kids == ("2025-02",)


async def test_concurrent_refreshes_share_one_fetch(
    static: StaticProvider, keys: dict[str, TestKey], make_provider: MakeProvider
) -> None:
    static.jwks_delay = 0.3
    provider = api(make_provider, static, jwks_min_refresh_interval=0)
    token = keys["EdDSA"].sign(claims(static.issuer))
    identities = await asyncio.gather(*(provider.verify_access_token(token) for _ in range(30)))
    assert {i.subject for i in identities} == {"user-1"}
    assert (static.hits["/.well-known/openid-configuration"], static.hits["/jwks"]) == (1, 1)

    rotated = ed_key("next")
    static.keys.append(rotated)
    token = rotated.sign(claims(static.issuer))
    identities = await asyncio.gather(*(provider.verify_access_token(token) for _ in range(30)))
    assert len(identities) == 30
    assert static.hits["/jwks"] == 2  # thirty callers met an unknown kid; one fetch served them all


async def test_the_cache_keeps_a_bounded_number_of_keys(static: StaticProvider, make_provider: MakeProvider) -> None:
    many = [ed_key(f"k{i:02d}") for i in range(60)]
    static.keys[:] = many
    provider = api(make_provider, static, jwks_max_keys=50)
    assert (await provider.verify_access_token(many[10].sign(claims(static.issuer)))).subject == "user-1"
    assert len(provider.jwks.kids) == 50
    with pytest.raises(InvalidToken):
        await provider.verify_access_token(many[55].sign(claims(static.issuer)))


async def test_keys_already_held_survive_an_outage_of_the_jwks_endpoint(
    static: StaticProvider, keys: dict[str, TestKey], make_provider: MakeProvider
) -> None:
    clock = Monotonic()
    provider = api(make_provider, static, jwks_ttl=60, monotonic=clock)
    token = keys["EdDSA"].sign(claims(static.issuer))
    assert (await provider.verify_access_token(token)).subject == "user-1"
    static.jwks_status = 503
    clock.advance(61)  # our copy has expired and the refetch fails: keep verifying with what we hold
    assert (await provider.verify_access_token(token)).subject == "user-1"
    assert static.hits["/jwks"] == 2


async def test_a_kidless_token_needs_a_single_candidate_key(
    static: StaticProvider, make_provider: MakeProvider
) -> None:
    first, second = ed_key("a"), ed_key("b")
    static.keys[:] = [first]
    provider = api(make_provider, static, jwks_min_refresh_interval=0)
    assert (await provider.verify_access_token(first.sign(claims(static.issuer), kid=None))).subject == "user-1"
    static.keys[:] = [first, second]
    await provider.jwks.refresh()
    with pytest.raises(InvalidToken) as refused:  # two Ed25519 keys: which one? not guessed
        await provider.verify_access_token(second.sign(claims(static.issuer), kid=None))
    assert refused.value.detail == "no key of the provider matches kid and alg"


# ---------------------------------------------------------------------------
# The exchange, against answers the StaticProvider is told to give
# ---------------------------------------------------------------------------


async def _exchange(provider: HttpOidcProvider, nonce: str) -> ExternalIdentity:
    return await provider.exchange(
        code="the-code", code_verifier=new_code_verifier(), nonce=nonce, redirect_uri=REDIRECT_URI
    )


def _basic(header: str | None) -> tuple[str, str]:
    assert header is not None
    assert header.startswith("Basic ")
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return unquote(user), unquote(password)


async def test_the_token_endpoint_is_called_as_the_provider_supports(
    static: StaticProvider, keys: dict[str, TestKey], make_provider: MakeProvider
) -> None:
    nonce = new_nonce()
    static.answer_tokens(static.id_token(keys["RS256"], nonce=nonce))
    secret = "s3:cr%t é"

    basic = make_provider(static.issuer, client_secret=secret, clock=FixedClock(T0))
    await _exchange(basic, nonce)
    request = static.token_requests[-1]
    assert _basic(request.authorization) == (CLIENT_ID, secret)
    assert "client_secret" not in request.form
    assert "client_id" not in request.form
    assert request.form["grant_type"] == "authorization_code"
    assert request.form["code"] == "the-code"
    assert request.form["redirect_uri"] == REDIRECT_URI
    assert re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", request.form["code_verifier"])

    static.discovery_changes["token_endpoint_auth_methods_supported"] = ["client_secret_post"]
    post = make_provider(static.issuer, client_secret=secret, clock=FixedClock(T0))
    await _exchange(post, nonce)
    request = static.token_requests[-1]
    assert request.authorization is None
    assert (request.form["client_id"], request.form["client_secret"]) == (CLIENT_ID, secret)

    public = make_provider(static.issuer, client_secret=None, clock=FixedClock(T0))
    await _exchange(public, nonce)
    request = static.token_requests[-1]
    assert request.authorization is None
    assert "client_secret" not in request.form
    assert request.form["client_id"] == CLIENT_ID

    static.discovery_changes["token_endpoint_auth_methods_supported"] = ["private_key_jwt"]
    unsupported = make_provider(static.issuer, client_secret=secret, clock=FixedClock(T0))
    with pytest.raises(ExternalSignInError, match="not set up correctly"):
        await _exchange(unsupported, nonce)


ID_TOKEN_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "another-clients-token": ({"aud": "someone-else"}, "InvalidAudienceError"),
    "several-audiences-without-azp": ({"aud": [CLIENT_ID, "other"]}, "several audiences and no azp"),
    "azp-naming-another-client": ({"aud": [CLIENT_ID, "other"], "azp": "other"}, "azp names another client"),
    "wrong-issuer": ({"iss": "https://evil.example.org"}, "InvalidIssuerError"),
    "expired": ({"iat": NOW - 7200, "exp": NOW - 3600}, "expired"),
    "no-iat": ({"iat": None}, "MissingRequiredClaimError"),
    "no-nonce": ({"nonce": None}, "nonce mismatch"),
    "empty-subject": ({"sub": ""}, "sub claim is missing"),
}


@pytest.mark.parametrize("case", list(ID_TOKEN_CASES))
async def test_an_id_token_that_does_not_verify_fails_the_sign_in(
    static: StaticProvider, keys: dict[str, TestKey], make_provider: MakeProvider, case: str
) -> None:
    changes, cause = ID_TOKEN_CASES[case]
    nonce = new_nonce()
    payload = claims(static.issuer, aud=CLIENT_ID, nonce=nonce)
    payload.update(changes)
    static.answer_tokens(keys["RS256"].sign({k: v for k, v in payload.items() if v is not None}))
    provider = make_provider(static.issuer, clock=FixedClock(T0))
    with pytest.raises(ExternalSignInError) as refused:
        await _exchange(provider, nonce)
    assert str(refused.value) == UNVERIFIED
    assert cause in str(refused.value.__cause__)


async def test_several_audiences_are_accepted_with_our_azp(
    static: StaticProvider, keys: dict[str, TestKey], make_provider: MakeProvider
) -> None:
    nonce = new_nonce()
    static.answer_tokens(static.id_token(keys["ES256"], nonce=nonce, aud=[CLIENT_ID, "other"], azp=CLIENT_ID))
    identity = await _exchange(make_provider(static.issuer, clock=FixedClock(T0)), nonce)
    assert identity.subject == "user-1"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, {"error": "invalid_grant"}, REFUSED),
        (401, {"error": "invalid_client"}, REFUSED),
        (503, {"error": "temporarily_unavailable"}, UNAVAILABLE),
        (200, {"access_token": "a", "token_type": "Bearer"}, UNVERIFIED),  # no id_token
        (200, {"id_token": "x.y.z", "token_type": "mac"}, UNVERIFIED),
    ],
)
async def test_a_token_endpoint_that_refuses_fails_the_sign_in_with_a_safe_message(
    static: StaticProvider, make_provider: MakeProvider, status: int, body: dict[str, Any], message: str
) -> None:
    static.token_response = (status, body)
    with pytest.raises(ExternalSignInError) as refused:
        await _exchange(make_provider(static.issuer), new_nonce())
    assert str(refused.value) == message


async def test_an_id_token_signed_with_hs256_fails_the_sign_in(
    static: StaticProvider, keys: dict[str, TestKey], make_provider: MakeProvider
) -> None:
    nonce = new_nonce()
    static.answer_tokens(_hs256_with_public_key(keys["RS256"], claims(static.issuer, aud=CLIENT_ID, nonce=nonce)))
    with pytest.raises(ExternalSignInError) as refused:
        await _exchange(make_provider(static.issuer, clock=FixedClock(T0)), nonce)
    assert "HS256" in str(refused.value.__cause__)


async def test_userinfo_fills_in_an_email_the_id_token_lacks(
    static: StaticProvider, keys: dict[str, TestKey], make_provider: MakeProvider
) -> None:
    nonce = new_nonce()
    static.answer_tokens(static.id_token(keys["EdDSA"], nonce=nonce, email=None, email_verified=None))
    static.userinfo_response = (200, {"sub": "user-1", "email": "ada@example.org", "email_verified": True})
    identity = await _exchange(make_provider(static.issuer, clock=FixedClock(T0)), nonce)
    assert (identity.email, identity.email_verified) == ("ada@example.org", True)
    assert static.token_requests[-1].authorization == "Bearer opaque-access"

    # An answer about someone else is ignored: the ID token decides who signed in.
    static.userinfo_response = (200, {"sub": "mallory", "email": "mallory@example.org", "email_verified": True})
    identity = await _exchange(make_provider(static.issuer, clock=FixedClock(T0)), nonce)
    assert (identity.subject, identity.email, identity.email_verified) == ("user-1", None, False)


async def test_the_authorization_endpoints_own_query_is_kept_but_ours_wins(
    static: StaticProvider, make_provider: MakeProvider
) -> None:
    static.discovery_changes["authorization_endpoint"] = f"{static.issuer}/authorize?tenant=t1&client_id=evil"
    flow = await start_flow(make_provider(static.issuer))
    query = parse_qs(urlsplit(flow.url).query)
    assert query["tenant"] == ["t1"]
    assert query["client_id"] == [CLIENT_ID]
    assert query["code_challenge_method"] == ["S256"]


async def test_a_provider_without_s256_pkce_is_refused(static: StaticProvider, make_provider: MakeProvider) -> None:
    static.discovery_changes["code_challenge_methods_supported"] = ["plain"]
    with pytest.raises(ExternalSignInError) as refused:
        await start_flow(make_provider(static.issuer))
    assert str(refused.value) == MISCONFIGURED
    assert "S256" in str(refused.value.__cause__)
