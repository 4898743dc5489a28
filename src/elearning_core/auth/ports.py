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

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from elearning_core.auth.model import Grant, ResourceRef
from elearning_core.identity.model import ExternalIdentity
from elearning_core.identity.ports import IdentityUnitOfWork


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
    session_id: str | None = None  # the login session (``sid``) the token was issued for, when it was

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

    def issue_access(self, subject: str, *, scope: Sequence[str] = (), session_id: str | None = None) -> str:
        """Return a signed access token for ``subject``, naming its login session when ``session_id`` is given."""
        ...

    def verify_access(self, token: str) -> AccessClaims:
        """Return the claims of a valid access token; raise ``InvalidToken`` otherwise."""
        ...

    def jwks(self) -> dict[str, Any]:
        """The public keys that may verify a live token (``{"keys": [...]}``); never private material."""
        ...


@runtime_checkable
class ReloadingTokenService(TokenService, Protocol):
    """A token service whose keys live elsewhere: an unknown ``kid`` may mean keys this process has not loaded yet."""

    async def verify_access_fresh(self, token: str) -> AccessClaims:
        """``verify_access`` after reloading the keys if they are stale or the token names an unknown one."""
        ...

    async def ready(self) -> None:
        """Load the keys if they are not loaded yet, or reload them if stale (before ``issue_access``)."""
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


@dataclass(frozen=True, slots=True)
class LoginSession:
    """One sign-in: a refresh-token family. Every refresh rotates the token within the family;
    logout, a password change, suspension or a reused token revokes the whole family."""

    id: uuid.UUID
    user_id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    kind: str = "bearer"  # "bearer" (API client) or "cookie" (browser session)
    revoked_at: datetime | None = None
    revoked_reason: str = ""

    def active_at(self, at: datetime) -> bool:
        return self.revoked_at is None and at < self.expires_at


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    digest: str
    session: LoginSession
    issued_at: datetime
    used_at: datetime | None


class SessionRepository(Protocol):
    async def create(self, session: LoginSession, first_digest: str) -> None: ...

    async def get(self, session_id: uuid.UUID) -> LoginSession | None: ...

    async def find_token(self, digest: str) -> RefreshTokenRecord | None: ...

    async def use_token(self, digest: str, at: datetime) -> bool:
        """Mark the refresh token used, atomically; False when it already was (a reuse)."""
        ...

    async def add_token(self, session_id: uuid.UUID, digest: str, at: datetime) -> None: ...

    async def revoke(self, session_id: uuid.UUID, at: datetime, reason: str) -> bool:
        """False when the session was already revoked (or does not exist)."""
        ...

    async def revoke_all_of(self, user_id: uuid.UUID, at: datetime, reason: str) -> int: ...


@dataclass(frozen=True, slots=True)
class PrincipalRecord:
    """What authenticating one request needs to know about the user, read in one query."""

    user_id: uuid.UUID
    status: str
    grants: tuple[Grant, ...]
    session_active: bool
    email_verified: bool = False


class PrincipalQueries(Protocol):
    async def principal_record(
        self, user_id: uuid.UUID, session_id: uuid.UUID | None, at: datetime
    ) -> PrincipalRecord | None: ...


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """An external sign-in in flight: what the callback needs to finish it (kept by state digest)."""

    state_digest: str
    provider: str
    code_verifier: str
    nonce: str
    return_to: str | None
    expires_at: datetime


class PendingLoginRepository(Protocol):
    async def put(self, pending: PendingLogin) -> None: ...

    async def take(self, state_digest: str, at: datetime) -> PendingLogin | None:
        """Remove and return the pending login; None when unknown or expired (single use)."""
        ...


class AuthUnitOfWork(IdentityUnitOfWork, Protocol):
    sessions: SessionRepository
    pending_logins: PendingLoginRepository


class ExternalSignInError(Exception):
    """The external provider refused, or answered with something that does not verify; safe to show."""


class OidcProvider(Protocol):
    """One trusted external OpenID Connect provider (authorization-code flow with PKCE)."""

    name: str
    issuer: str
    provision: bool
    """Whether a first sign-in with a verified email nobody has yet creates the account."""

    async def authorization_url(self, *, state: str, nonce: str, code_challenge: str, redirect_uri: str) -> str: ...

    async def exchange(self, *, code: str, code_verifier: str, nonce: str, redirect_uri: str) -> ExternalIdentity:
        """Redeem the code at the token endpoint and return who the verified ID token names."""
        ...

    async def verify_access_token(self, token: str) -> ExternalIdentity:
        """Verify a bearer token this provider issued (signature by its JWKS, iss, aud, exp); raise InvalidToken."""
        ...


class ResourceDirectory(Protocol):
    """A narrow read port onto other modules' resources, for authorization decided outside them."""

    async def course(self, course_id: uuid.UUID) -> ResourceRef | None:
        """The course's scopes and owner, or None when there is no such course."""
        ...

    async def organization_exists(self, organization_id: uuid.UUID) -> bool: ...
