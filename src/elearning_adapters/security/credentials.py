"""The credential keys and the VC-JWT format of Open Badges 3.0 (JSON Web Token proof format), with PyJWT.

Open Badges 3.0 requires RS256 at minimum for interoperability, so credential keys are
RSA (2048-bit), unlike the access-token keys (EdDSA/ES256): a separate key set, sealed at
rest the same way (``KeySealer``) under its own HKDF purpose, stored in its own table, and
never pruned (a credential stays verifiable for as long as it is valid, which may be for ever).

The JOSE header carries exactly ``alg`` (RS256), ``kid`` and ``typ`` ("JWT"), as the
specification allows no others; ``kid`` is a URL that dereferences to the public JWK
(``/api/v1/credentials/keys/{kid}``), and the same key is in the public JWKS under that kid.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from elearning_core.certificate.ports import InvalidCredential

RS256 = "RS256"
RSA_BITS = 2048
KID_PREFIX = "cred-"
"""Credential key ids start with this: never mistaken for an access-token key id."""
ALLOWED_HEADERS = frozenset({"alg", "kid", "typ"})
MAX_CREDENTIAL_BYTES = 64 * 1024


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class CredentialKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    created_at: datetime
    retired_at: datetime | None = None

    def __repr__(self) -> str:  # never print key material
        return f"CredentialKey(kid={self.kid!r}, retired_at={self.retired_at!r})"

    @classmethod
    def generate(cls, now: datetime) -> CredentialKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        return cls(KID_PREFIX + rsa_thumbprint(private.public_key()), private, now)

    def public_jwk(self, kid_url: str) -> dict[str, Any]:
        return public_jwk(self.private_key.public_key(), kid_url)

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @classmethod
    def from_pem(cls, kid: str, pem: bytes, created_at: datetime, retired_at: datetime | None) -> CredentialKey:
        loaded = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"the credential key {kid} is not an RSA key")
        return cls(kid, loaded, created_at, retired_at)


def public_jwk(public: rsa.RSAPublicKey, kid_url: str) -> dict[str, Any]:
    """The published JWK: public members only (never ``d``), its kid the URL that names it."""
    bare = RSAAlgorithm.to_jwk(public, as_dict=True)
    return {"kty": "RSA", "n": bare["n"], "e": bare["e"], "kid": kid_url, "alg": RS256, "use": "sig"}


def rsa_thumbprint(public: rsa.RSAPublicKey) -> str:
    """RFC 7638 SHA-256 thumbprint (members e, kty, n)."""
    bare = RSAAlgorithm.to_jwk(public, as_dict=True)
    canonical = json.dumps({"e": bare["e"], "kty": "RSA", "n": bare["n"]}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


class CredentialKeyUrls:
    """Maps kids to the URLs that name them in JOSE headers and the JWKS, and back."""

    def __init__(self, public_base_url: str) -> None:
        self.prefix = f"{public_base_url.rstrip('/')}/api/v1/credentials/keys/"

    def url(self, kid: str) -> str:
        return self.prefix + kid

    def kid_of(self, url: str) -> str | None:
        if not url.startswith(self.prefix):
            return None
        kid = url[len(self.prefix) :]
        return kid if kid.startswith(KID_PREFIX) and "/" not in kid else None


def sign_vc_jwt(claims: Mapping[str, Any], key: CredentialKey, urls: CredentialKeyUrls) -> str:
    return jwt.encode(dict(claims), key.private_key, algorithm=RS256, headers={"kid": urls.url(key.kid), "typ": "JWT"})


def verify_vc_jwt(token: str, keys: Mapping[str, rsa.RSAPublicKey], urls: CredentialKeyUrls) -> dict[str, Any]:
    """Signature, header and the registered claims' agreement with the credential (Open Badges 3.0
    section 8.2.4); validity in time is the caller's (the state names expiry apart)."""
    if len(token) > MAX_CREDENTIAL_BYTES:
        raise InvalidCredential("the credential is too large")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidCredential(f"not a compact JWS: {exc}") from None
    extra = set(header) - ALLOWED_HEADERS
    if extra:
        raise InvalidCredential(f"JOSE header members not allowed: {', '.join(sorted(extra))}")
    if header.get("alg") != RS256:
        raise InvalidCredential(f"algorithm {header.get('alg')!r} is not RS256")
    if header.get("typ", "JWT") != "JWT":
        raise InvalidCredential("typ must be JWT")
    kid = urls.kid_of(str(header.get("kid", "")))
    public = keys.get(kid) if kid else None
    if public is None:
        raise InvalidCredential("signed by a key this platform does not publish")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            public,
            algorithms=[RS256],
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_aud": False,
                "require": ["iss", "jti", "nbf", "sub"],
            },
        )
    except jwt.PyJWTError as exc:
        raise InvalidCredential(f"the signature does not verify: {exc}") from None
    _check_claims(claims)
    return claims


def _check_claims(claims: dict[str, Any]) -> None:
    issuer = claims.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    subject = claims.get("credentialSubject")
    checks = [
        (claims["iss"] == issuer_id, "iss differs from issuer.id"),
        (claims["jti"] == claims.get("id"), "jti differs from id"),
        (isinstance(subject, dict) and claims["sub"] == subject.get("id"), "sub differs from credentialSubject.id"),
        (_same_time(claims["nbf"], claims.get("validFrom")), "nbf differs from validFrom"),
        ("exp" not in claims or _same_time(claims["exp"], claims.get("validUntil")), "exp differs from validUntil"),
    ]
    for ok, why in checks:
        if not ok:
            raise InvalidCredential(why)


def _same_time(numeric: object, text: object) -> bool:
    if not isinstance(numeric, int | float) or not isinstance(text, str):
        return False
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) == int(numeric)
    except ValueError:
        return False


# -- checking a credential against what the platform publishes (``elearning certificates verify``) --


async def check_published(
    token: str, public_base_url: str, *, now: datetime, http_timeout: float = 10.0
) -> dict[str, Any]:
    """Verify a VC-JWT with only what the platform publishes: its credential JWKS and the status
    list the credential names, fetched over HTTP from ``public_base_url``. Checks the signature,
    the header and claims, the validity period at ``now`` and the revocation bit; returns the
    payload, or raises ``InvalidCredential`` saying why in one line."""
    import httpx  # here: only this command needs it

    from elearning_core.certificate.model import StatusListError, bit_at, decode_status_list

    urls = CredentialKeyUrls(public_base_url)
    async with httpx.AsyncClient(timeout=http_timeout, follow_redirects=False) as client:
        jwks = await _fetch(client, f"{public_base_url.rstrip('/')}/api/v1/credentials/jwks.json")
        keys = _public_keys(jwks.json(), urls)
        claims = verify_vc_jwt(token.strip(), keys, urls)
        instant = now.timestamp()
        if instant < float(claims["nbf"]):
            raise InvalidCredential("not valid yet")
        if "exp" in claims and instant >= float(claims["exp"]):
            raise InvalidCredential(f"expired at {claims.get('validUntil')}")
        status = claims.get("credentialStatus")
        if not isinstance(status, dict) or status.get("type") != "BitstringStatusListEntry":
            raise InvalidCredential("the credential has no BitstringStatusListEntry status")
        list_url = str(status.get("statusListCredential", ""))
        if not list_url.startswith(f"{public_base_url.rstrip('/')}/api/v1/credentials/status/"):
            raise InvalidCredential(f"the status list {list_url!r} is not this platform's")
        status_list = verify_vc_jwt((await _fetch(client, list_url)).text, keys, urls)
    subject = status_list.get("credentialSubject")
    if "BitstringStatusListCredential" not in status_list.get("type", []) or not isinstance(subject, dict):
        raise InvalidCredential("the status list is not a BitstringStatusListCredential")
    try:
        revoked = bit_at(decode_status_list(str(subject.get("encodedList", ""))), int(status["statusListIndex"]))
    except (StatusListError, ValueError, KeyError) as exc:
        raise InvalidCredential(f"the status list cannot be read: {exc}") from None
    if revoked:
        raise InvalidCredential("revoked")
    return claims


async def _fetch(client: Any, url: str) -> Any:
    import httpx

    try:
        response = await client.get(url)
    except httpx.HTTPError as exc:
        raise InvalidCredential(f"cannot fetch {url}: {exc}") from None
    if response.status_code != 200:
        raise InvalidCredential(f"{url} answered HTTP {response.status_code}")
    return response


def _public_keys(jwks: Any, urls: CredentialKeyUrls) -> dict[str, rsa.RSAPublicKey]:
    keys: dict[str, rsa.RSAPublicKey] = {}
    for jwk in jwks.get("keys", []) if isinstance(jwks, dict) else []:
        kid = urls.kid_of(str(jwk.get("kid", "")))
        if kid is None or jwk.get("kty") != "RSA" or "d" in jwk:
            continue
        loaded = RSAAlgorithm.from_jwk(jwk)
        if isinstance(loaded, rsa.RSAPublicKey):
            keys[kid] = loaded
    if not keys:
        raise InvalidCredential("the platform publishes no credential key")
    return keys
