"""What authentication needs from outside the core: a service that issues and checks access tokens.

The core never sees a JWT library: it asks ``TokenService`` for a token string and
gets ``AccessClaims`` back, or ``InvalidToken``. The adapter decides the format,
the algorithm and the keys (``elearning_adapters.security.tokens.JwtTokenService``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified access token says: who, for whom, from whom, and for how long."""

    subject: str
    token_id: str
    issued_at: datetime
    expires_at: datetime
    audience: str
    issuer: str
    token_type: str
    scope: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.issued_at.tzinfo is None or self.expires_at.tzinfo is None:
            raise ValueError("token times must be timezone-aware")


class InvalidToken(Exception):
    """A token was refused.

    ``reason`` is safe to show a client ("expired" or "invalid token"): it never
    says which check failed beyond expiry, so a forger learns nothing from it.
    The precise cause, for logs only, is the exception's ``__cause__`` or ``detail``.
    """

    def __init__(self, reason: str = "invalid token", *, detail: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class TokenService(Protocol):
    """Issues short-lived access tokens and verifies them; synchronous, as signing is CPU-only and fast."""

    def issue_access(self, subject: str, *, scope: Sequence[str] = ()) -> str:
        """Return a signed access token for ``subject``."""
        ...

    def verify_access(self, token: str) -> AccessClaims:
        """Return the claims of a valid access token; raise ``InvalidToken`` otherwise."""
        ...

    def jwks(self) -> dict[str, Any]:
        """The public keys that may verify a live token (``{"keys": [...]}``); never private material."""
        ...
