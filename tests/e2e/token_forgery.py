"""Forged access tokens for the HTTP attack tests, made with the running platform's REAL signing key.

Most forgeries are signed with the key the server itself signs with (taken from
the platform's shared key ring), so a refusal is known to come from the check
under test (the audience, the header, the clock ...) and not from a bad
signature. ``Forger.valid()`` makes the control: the same recipe with nothing
wrong, which the server must accept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from elearning_adapters.container import Platform
from elearning_adapters.security import PlatformTokens
from elearning_adapters.security.tokens import JwtTokenService, KeyRing, SigningKey
from elearning_core.shared.clock import FixedClock


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def segment(obj: dict[str, Any]) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def header_of(token: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(b64_decode(token.split(".")[0]))
    return header


def payload_of(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(b64_decode(token.split(".")[1]))
    return payload


def with_payload(token: str, **changes: Any) -> str:
    """The token with its payload changed and its original signature kept (a tampered token)."""
    header, _, signature = token.split(".")
    return f"{header}.{segment(payload_of(token) | changes)}.{signature}"


@dataclass
class Forger:
    """Builds tokens for ``subject`` (and optionally ``session_id``) the way the platform signs them."""

    ring: KeyRing
    issuer: str
    audience: str
    access_ttl: timedelta

    @classmethod
    def of(cls, platform: Platform) -> Forger:
        tokens = platform.container.identity.tokens()
        assert isinstance(tokens, PlatformTokens)
        assert tokens.started
        settings = platform.settings
        return cls(
            ring=tokens.keys.ring,
            issuer=settings.resolved_token_issuer,
            audience=settings.token_audience,
            access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        )

    @property
    def key(self) -> SigningKey:
        return self.ring.active

    def claims(self, subject: str, session_id: str | None = None, **changes: Any) -> dict[str, Any]:
        """Valid access claims issued now; a change to ``None`` removes the claim."""
        now = int(datetime.now(UTC).timestamp())
        base: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "exp": now + int(self.access_ttl.total_seconds()),
            "jti": str(uuid.uuid4()),
            "token_type": "access",
        }
        if session_id is not None:
            base["sid"] = session_id
        base.update(changes)
        return {k: v for k, v in base.items() if v is not None}

    def sign(self, payload: dict[str, Any], *, key: SigningKey | None = None, **header: Any) -> str:
        """Signed with the server's active key (or ``key``); ``header`` adds members or (with None) removes them."""
        key = key or self.key
        headers = {k: v for k, v in {"kid": self.key.kid, "typ": "at+jwt", **header}.items() if v is not None}
        return jwt.encode(payload, key.private_key, algorithm=key.algorithm, headers=headers)

    def valid(self, subject: str, session_id: str | None = None, **changes: Any) -> str:
        return self.sign(self.claims(subject, session_id, **changes))

    def issued_at(self, when: datetime, subject: str, session_id: str | None = None, **service: Any) -> str:
        """A token the platform's own token service code issues, on a clock set to ``when``.

        ``service`` overrides the service's issuer or audience.
        """
        options: dict[str, Any] = {"issuer": self.issuer, "audience": self.audience} | service
        signer = JwtTokenService(self.ring, access_ttl=self.access_ttl, clock=FixedClock(when), **options)
        return signer.issue_access(subject, session_id=session_id)

    def unsigned(self, subject: str, session_id: str | None = None, alg: str = "none") -> str:
        header = {"alg": alg, "typ": "at+jwt", "kid": self.key.kid}
        return f"{segment(header)}.{segment(self.claims(subject, session_id))}."

    def hs256(self, secret: bytes, subject: str, session_id: str | None = None) -> str:
        """HMAC-signed with ``secret`` (the algorithm confusion attack keys it with our public key)."""
        header = {"alg": "HS256", "typ": "at+jwt", "kid": self.key.kid}
        signing_input = f"{segment(header)}.{segment(self.claims(subject, session_id))}"
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64(signature)}"

    def foreign(self, subject: str, session_id: str | None = None) -> str:
        """Signed by an attacker's own key of our algorithm, under our kid."""
        attacker = SigningKey.generate(self.key.algorithm, now=datetime.now(UTC))
        return self.sign(self.claims(subject, session_id), key=attacker)

    def spliced_jwk(self, subject: str, session_id: str | None = None) -> str:
        """The attacker's key embedded in the header, the token signed with it."""
        attacker = SigningKey.generate(self.key.algorithm, now=datetime.now(UTC))
        return self.sign(self.claims(subject, session_id), key=attacker, jwk=attacker.public_jwk())
