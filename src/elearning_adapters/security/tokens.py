"""The platform's access tokens: JWTs signed with an asymmetric key from a rotating key ring.

``JwtTokenService`` implements the core's ``TokenService`` with PyJWT. The choices
that make it safe are deliberate and each has a test in
``tests/integration/test_jwt_tokens.py``:

- one algorithm, the ring's (EdDSA over Ed25519 by default, ES256 possible),
  passed to PyJWT as the whole allowlist; ``none`` and HMAC can never verify,
  so a token "signed" with our public key as an HMAC secret is refused;
- the verification key is picked by the header's ``kid`` from our own ring, never
  from the token: headers that carry or point at a key (``jku``, ``x5u``, ``jwk``,
  ``x5c`` ...) are refused before any lookup, and so is every header member
  outside ``alg``/``typ``/``kid`` (``crit``, ``b64``, ...);
- ``iss``, ``aud``, ``sub``, ``iat``, ``exp``, ``jti`` and ``token_type`` are
  required; ``aud`` must be exactly ours, ``token_type`` must be ``access`` (a
  refresh token is not an access token), the header ``typ`` is ``at+jwt`` (RFC 9068);
  ``sid`` (the login session) is optional, and a non-empty string when present;
- time is checked against an injected clock with a small leeway, not PyJWT's
  wall clock, so tests can pin it and expiry is decided in one place;
- tokens longer than ``max_token_bytes`` are refused before anything is parsed.

Rotation: ``KeyRing.rotate()`` makes a new active key and retires the old one,
which keeps verifying until every token it signed has expired (retired at +
access TTL + leeway), then drops out of the ring and of ``jwks()``.

A ``KeyRing`` on its own lives in one process's memory. Shared by every process
through the database, it is ``elearning_adapters.security.keystore.SharedKeyRing``:
that one swaps the ring's keys with ``KeyRing.replace_keys()`` when it reloads, and
a kid this process does not know yet raises ``UnknownKeyId`` (still an
``InvalidToken``) so the async caller can reload once and retry.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from elearning_core.auth.ports import AccessClaims, InvalidToken, TokenService
from elearning_core.shared.clock import Clock, SystemClock

PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey

EDDSA = "EdDSA"
ES256 = "ES256"
SUPPORTED_ALGORITHMS = (EDDSA, ES256)

ACCESS = "access"
ACCESS_TYP = "at+jwt"
ALLOWED_HEADERS = frozenset({"alg", "typ", "kid"})
KEY_CARRYING_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256"})
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp", "jti", "token_type"]

DEFAULT_ACCESS_TTL = timedelta(minutes=15)
DEFAULT_LEEWAY = timedelta(seconds=10)
DEFAULT_MAX_TOKEN_BYTES = 8 * 1024


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _algorithm_of(key: PrivateKey | PublicKey) -> str:
    if isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        return EDDSA
    if isinstance(key.curve, ec.SECP256R1):
        return ES256
    raise ValueError(f"unsupported signing key: {type(key).__name__} on {key.curve.name}")


def _generate_private_key(algorithm: str) -> PrivateKey:
    if algorithm == EDDSA:
        return Ed25519PrivateKey.generate()
    if algorithm == ES256:
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unsupported algorithm {algorithm!r}; use one of {', '.join(SUPPORTED_ALGORITHMS)}")


def _bare_jwk(key: PrivateKey | PublicKey) -> dict[str, Any]:
    if isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        return OKPAlgorithm.to_jwk(key, as_dict=True)
    return ECAlgorithm.to_jwk(key, as_dict=True)


def thumbprint(public_jwk: dict[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK: a ``kid`` that names the key and nothing else."""
    members = ("crv", "kty", "x", "y") if public_jwk["kty"] == "EC" else ("crv", "kty", "x")
    canonical = json.dumps({m: public_jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key of the ring: signs while active, only verifies once retired."""

    kid: str
    private_key: PrivateKey
    created_at: datetime
    retired_at: datetime | None = None
    # Derived once: deriving the public key costs a scalar multiplication, too much for every verification.
    public_key: PublicKey = field(init=False, repr=False, compare=False)
    algorithm: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "algorithm", _algorithm_of(self.private_key))  # refuses unsupported keys early
        object.__setattr__(self, "public_key", self.private_key.public_key())
        if self.created_at.tzinfo is None or (self.retired_at is not None and self.retired_at.tzinfo is None):
            raise ValueError("key times must be timezone-aware")

    def __repr__(self) -> str:  # never print key material
        return f"SigningKey(kid={self.kid!r}, algorithm={self.algorithm!r}, retired_at={self.retired_at!r})"

    @classmethod
    def generate(cls, algorithm: str = EDDSA, *, now: datetime) -> SigningKey:
        private = _generate_private_key(algorithm)
        return cls(thumbprint(_bare_jwk(private.public_key())), private, now)

    def retired(self, at: datetime) -> SigningKey:
        return replace(self, retired_at=at)

    def verifies_until(self, retention: timedelta) -> datetime | None:
        """When this key stops verifying: never while active, else once its last token has expired."""
        return None if self.retired_at is None else self.retired_at + retention

    def public_jwk(self) -> dict[str, Any]:
        """The JWKS entry: public members only, with ``kid``, ``alg`` and ``use``."""
        return {**_bare_jwk(self.public_key), "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def private_jwk(self) -> dict[str, Any]:
        """The full JWK, private part included: for storage, never for publication."""
        return {**_bare_jwk(self.private_key), "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    @classmethod
    def from_private_jwk(
        cls, jwk: dict[str, Any], *, created_at: datetime, retired_at: datetime | None = None
    ) -> SigningKey:
        loaded = OKPAlgorithm.from_jwk(jwk) if jwk.get("kty") == "OKP" else ECAlgorithm.from_jwk(jwk)
        if not isinstance(loaded, Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError("the JWK holds no private key")
        return cls(str(jwk["kid"]), loaded, created_at, retired_at)

    def private_pem(self) -> bytes:
        """PKCS#8 PEM, unencrypted: whoever stores it must encrypt it at rest."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @classmethod
    def from_pem(cls, kid: str, pem: bytes, *, created_at: datetime, retired_at: datetime | None = None) -> SigningKey:
        loaded = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(loaded, Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"unsupported signing key: {type(loaded).__name__}")
        return cls(kid, loaded, created_at, retired_at)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """The ring's keys at one moment: replaced whole, never changed, so a reader never sees half a ring."""

    active: SigningKey
    keys: Mapping[str, SigningKey]

    @classmethod
    def of(cls, keys: Iterable[SigningKey]) -> _Snapshot:
        keys = tuple(keys)
        active = [k for k in keys if k.retired_at is None]
        if len(active) != 1:
            raise ValueError(f"a key ring needs exactly one active key, got {len(active)}")
        if len({k.algorithm for k in keys}) != 1:
            raise ValueError("every key of a ring uses the same algorithm")
        if len({k.kid for k in keys}) != len(keys):
            raise ValueError("key ids must be unique")
        return cls(active[0], {k.kid: k for k in keys})


class KeyRing:
    """One active key that signs, plus retired keys that verify until ``retention`` after retirement.

    ``retention`` must cover the longest life of a token (access TTL + leeway);
    ``JwtTokenService`` refuses a ring that keeps keys for less. Readers see an
    immutable snapshot, so ``rotate()`` or ``replace_keys()`` from another thread
    never shows them half a ring.
    """

    def __init__(self, keys: Iterable[SigningKey], *, retention: timedelta, clock: Clock | None = None) -> None:
        self.retention = retention
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._state = _Snapshot.of(keys)

    @classmethod
    def generate(cls, algorithm: str = EDDSA, *, retention: timedelta, clock: Clock | None = None) -> KeyRing:
        clock = clock or SystemClock()
        return cls([SigningKey.generate(algorithm, now=clock.now())], retention=retention, clock=clock)

    @property
    def algorithm(self) -> str:
        return self._state.active.algorithm

    @property
    def active(self) -> SigningKey:
        return self._state.active

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        """Every key still held, live or not yet pruned: what a store would persist."""
        return tuple(self._state.keys.values())

    def holds(self, kid: str) -> bool:
        """Whether the ring has this kid at all, live or past its window (an unknown kid may be a newer key)."""
        return kid in self._state.keys

    def _live(self, key: SigningKey, now: datetime) -> bool:
        until = key.verifies_until(self.retention)
        return until is None or now < until

    def verification_key(self, kid: str) -> SigningKey | None:
        key = self._state.keys.get(kid)
        return key if key is not None and self._live(key, self._clock.now()) else None

    def verification_keys(self) -> tuple[SigningKey, ...]:
        now = self._clock.now()
        return tuple(k for k in self._state.keys.values() if self._live(k, now))

    def rotate(self) -> SigningKey:
        """Sign with a new key from now on; the old one verifies its tokens until they expire."""
        with self._lock:
            now = self._clock.now()
            state = self._state
            fresh = SigningKey.generate(self.algorithm, now=now)
            keys = [k.retired(now) if k.kid == state.active.kid else k for k in state.keys.values()]
            self._state = _Snapshot.of([*(k for k in keys if self._live(k, now)), fresh])
            return fresh

    def prune(self) -> tuple[SigningKey, ...]:
        """Drop the keys no live token can need; return them (a store deletes them too)."""
        with self._lock:
            now = self._clock.now()
            state = self._state
            dropped = tuple(k for k in state.keys.values() if not self._live(k, now))
            if dropped:
                self._state = _Snapshot.of(k for k in state.keys.values() if self._live(k, now))
            return dropped

    def replace_keys(self, keys: Iterable[SigningKey]) -> None:
        """Hold exactly these keys from now on (a reload from a shared store); validated like the constructor."""
        state = _Snapshot.of(keys)
        with self._lock:
            self._state = state


_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


def _unverified_header(token: str) -> dict[str, Any]:
    """The header alone, to pick the key; PyJWT parses the whole token again, strictly, when it verifies.

    Not ``jwt.get_unverified_header``: that decodes all three segments, which
    would make every verification parse the token twice.
    """
    segment, dot, _ = token.partition(".")
    if not dot or not _SEGMENT.fullmatch(segment):
        raise InvalidToken(detail="malformed header")
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError) as exc:
        raise InvalidToken(detail="malformed header") from exc
    if not isinstance(header, dict):
        raise InvalidToken(detail="malformed header")
    return header


class UnknownKeyId(InvalidToken):
    """The token names a kid this ring does not hold: maybe a key another process made since the last reload.

    Still an ``InvalidToken`` (same public reason); an async caller that can reach
    the shared store may reload the ring once and verify again
    (``keystore.RefreshingTokenService.verify_access_fresh``).
    """

    def __init__(self, kid: str) -> None:
        super().__init__(detail="unknown kid")
        self.kid = kid


def _timestamp(payload: dict[str, Any], claim: str) -> int:
    value = payload[claim]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidToken(detail=f"{claim} is not an integer")
    return value


VERIFIED_TOKENS_KEPT = 10_000
"""Verified access tokens remembered per process (a few MB at most); see ``JwtTokenService.verify_access``."""


class JwtTokenService(TokenService):
    """Signed, short-lived access tokens (PyJWT) from a ``KeyRing``; see the module docstring."""

    def __init__(
        self,
        ring: KeyRing,
        *,
        issuer: str,
        audience: str,
        access_ttl: timedelta = DEFAULT_ACCESS_TTL,
        leeway: timedelta = DEFAULT_LEEWAY,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        clock: Clock | None = None,
    ) -> None:
        if ring.retention < access_ttl + leeway:
            raise ValueError(
                f"the key ring keeps retired keys for {ring.retention}, less than a token lives "
                f"({access_ttl} + {leeway} leeway): tokens would die with their key"
            )
        self._ring = ring
        self._issuer = issuer
        self._audience = audience
        self.access_ttl = access_ttl
        self.leeway = leeway
        self._ttl_seconds = int(access_ttl.total_seconds())
        self._leeway_seconds = int(leeway.total_seconds())
        self._max_token_bytes = max_token_bytes
        self._clock = clock or SystemClock()
        self._jwt = jwt.PyJWT()
        # Tokens whose signature and claims verified once: {token: (kid, payload)}. A client sends the same
        # token with every request for its whole life (a video player, every few seconds), so the signature
        # check and the decoding are done once per token, not per request; what can change between two
        # requests (the clock against exp/nbf, and whether the kid's key still verifies) is checked on
        # every hit (the very key object that verified it: a reloaded or replaced ring is a miss). Keyed by
        # the whole token, signature included: a tampered token is a miss.
        self._verified: dict[str, tuple[str, SigningKey, dict[str, Any]]] = {}

    @property
    def ring(self) -> KeyRing:
        return self._ring

    def issue_access(self, subject: str, *, scope: Sequence[str] = (), session_id: str | None = None) -> str:
        if not subject:
            raise ValueError("an access token needs a subject")
        if any(not s or " " in s for s in scope):
            raise ValueError("scope values are non-empty and contain no spaces")
        if session_id is not None and (not isinstance(session_id, str) or not session_id):
            raise ValueError("a session id is a non-empty string")
        return self._sign(subject, ACCESS, scope, session_id)

    def _sign(self, subject: str, token_type: str, scope: Sequence[str], session_id: str | None = None) -> str:
        key = self._ring.active
        issued_at = int(self._clock.now().timestamp())
        payload: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "iat": issued_at,
            "exp": issued_at + self._ttl_seconds,
            "jti": str(uuid.uuid4()),
            "token_type": token_type,
        }
        if scope:
            payload["scope"] = " ".join(scope)
        if session_id is not None:
            payload["sid"] = session_id
        return self._jwt.encode(
            payload, key.private_key, algorithm=key.algorithm, headers={"kid": key.kid, "typ": ACCESS_TYP}
        )

    def verify_access(self, token: str) -> AccessClaims:
        if not isinstance(token, str) or len(token) > self._max_token_bytes or not token.isascii():
            raise InvalidToken(detail="not an ASCII string or longer than the limit")
        known = self._verified.get(token)
        if known is not None and self._ring.verification_key(known[0]) is known[1]:
            return self._claims(known[2])
        header = _unverified_header(token)
        if not KEY_CARRYING_HEADERS.isdisjoint(header):
            raise InvalidToken(detail="the header carries or points at a key")
        if not ALLOWED_HEADERS.issuperset(header):
            raise InvalidToken(detail=f"unexpected header members {sorted(set(header) - ALLOWED_HEADERS)}")
        if header.get("alg") != self._ring.algorithm or header.get("typ") != ACCESS_TYP:
            raise InvalidToken(detail="wrong alg or typ")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken(detail="missing kid")
        key = self._ring.verification_key(kid)
        if key is None:
            if not self._ring.holds(kid):
                raise UnknownKeyId(kid)
            raise InvalidToken(detail="the kid's key no longer verifies")
        try:
            payload = self._jwt.decode(
                token,
                key.public_key,
                algorithms=[self._ring.algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": REQUIRED_CLAIMS,
                    "strict_aud": True,
                    # Time is checked below against the injected clock, not PyJWT's wall clock.
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(detail=type(exc).__name__) from exc
        claims = self._claims(payload)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            del self._verified[next(iter(self._verified))]  # the oldest: a bounded memory, whatever the clients
        self._verified[token] = (kid, key, payload)
        return claims

    def _claims(self, payload: dict[str, Any]) -> AccessClaims:
        if payload["token_type"] != ACCESS:
            raise InvalidToken(detail="not an access token")
        subject, token_id, scope = payload["sub"], payload["jti"], payload.get("scope", "")
        if not isinstance(subject, str) or not subject or not isinstance(token_id, str) or not token_id:
            raise InvalidToken(detail="empty sub or jti")
        if not isinstance(scope, str):
            raise InvalidToken(detail="scope is not a string")
        session_id = payload.get("sid")
        if session_id is not None and (not isinstance(session_id, str) or not session_id):
            raise InvalidToken(detail="sid is not a non-empty string")
        issued_at, expires_at = _timestamp(payload, "iat"), _timestamp(payload, "exp")
        not_before = _timestamp(payload, "nbf") if "nbf" in payload else issued_at
        now = self._clock.now().timestamp()
        if max(issued_at, not_before) > now + self._leeway_seconds:
            raise InvalidToken(detail="not yet valid")
        if expires_at <= now - self._leeway_seconds:
            raise InvalidToken("expired", detail="expired")
        return AccessClaims(
            subject=subject,
            token_id=token_id,
            issued_at=datetime.fromtimestamp(issued_at, UTC),
            expires_at=datetime.fromtimestamp(expires_at, UTC),
            audience=self._audience,
            issuer=self._issuer,
            token_type=ACCESS,
            scope=tuple(scope.split()),
            session_id=session_id,
        )

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self._ring.verification_keys()]}
