"""What authentication needs from outside the core: a service that issues and checks access tokens.

The core never sees a JWT library: it asks ``TokenService`` for a token string and
gets ``AccessClaims`` back, or ``InvalidToken``. The adapter decides the format,
the algorithm and the keys (``elearning_adapters.security.tokens.JwtTokenService``).

Login and password reset are throttled through ``RateLimiter``, per account and
per IP, with a limit that must hold across worker processes: the adapters are
``elearning_adapters.ratelimit.InMemoryRateLimiter`` (embedded default, one
process) and ``RedisRateLimiter`` (shared, atomic in Redis).
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


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The answer to one attempt.

    ``remaining`` is how many more attempts the window allows after this one
    (0 when refused). ``retry_after_seconds`` is 0 when allowed; when refused it
    is positive: the time until the next attempt would be allowed (the value of
    an HTTP ``Retry-After``).
    """

    allowed: bool
    remaining: int
    retry_after_seconds: float


class RateLimiter(Protocol):
    """Counts attempts per key within a sliding window and refuses those beyond the limit.

    Sliding window log: an attempt is allowed when fewer than ``limit`` attempts
    were *allowed* for the key in the last ``window_seconds``. Refused attempts
    are not counted, so hammering a refused key does not push its release further
    away (an attacker cannot keep a victim's account locked beyond one window),
    and a sliding window has no boundary at which twice the limit gets through.
    """

    async def hit(self, key: str, limit: int, window_seconds: float) -> RateDecision:
        """Count this attempt on ``key`` if the window allows it, and say whether it does.

        Raises ``ValueError`` when ``limit`` < 1 or ``window_seconds`` is not a positive finite number.
        """
        ...

    async def reset(self, key: str) -> None:
        """Forget the attempts on ``key`` (after a successful login, say); unknown keys are a no-op."""
        ...
