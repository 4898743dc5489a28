"""Cross-module ports: the unit of work, the acting principal and the access policy."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import TracebackType
from typing import Protocol, Self

from elearning_core.shared.errors import PermissionDenied


class UnitOfWork(Protocol):
    """One business transaction.

    ``commit()`` persists every aggregate the repositories loaded or added,
    together with the domain events they recorded (to the outbox), atomically.
    Leaving the ``async with`` block without ``commit()`` rolls back.
    """

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: a user, a service account, or nobody (anonymous).

    A user principal carries the role grants it held when the request was
    authenticated (``grants``), so the policy decides without I/O. Service
    accounts (the admin token, the CLI, an embedding script) hold the legacy
    ``admin`` role, which the role policy treats as a platform admin.
    ``session_id`` names the login session (refresh-token family) a user's
    access token belongs to, so logout can end it. ``email_verified`` is the
    user's state at authentication (read with the grants, in the same query);
    it means nothing for a service account, which has no email.
    """

    subject: str
    roles: frozenset[str] = field(default_factory=frozenset)
    user_id: uuid.UUID | None = None
    grants: tuple[object, ...] = ()
    """``elearning_core.auth.model.Grant`` values (typed loosely: shared cannot import the auth module)."""
    session_id: uuid.UUID | None = None
    email_verified: bool = False

    @property
    def is_anonymous(self) -> bool:
        return self.subject == "anonymous"

    def has_role(self, role: str) -> bool:
        return role in self.roles


ANONYMOUS = Principal(subject="anonymous")
SYSTEM = Principal(subject="system", roles=frozenset({"admin"}))


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str


class Policy(Protocol):
    """Decides whether a principal may perform a named action on a resource."""

    def authorize(self, principal: Principal, permission: str, resource: object | None = None) -> Decision: ...


def require(policy: Policy, principal: Principal, permission: str, resource: object | None = None) -> None:
    """Raise PermissionDenied unless the policy allows the action."""
    decision = policy.authorize(principal, permission, resource)
    if not decision.allowed:
        raise PermissionDenied(permission, decision.reason)


class AdminOnlyPolicy:
    """The interim policy: every write needs the admin role; reads are decided by the use case.

    The auth module replaces it with role- and scope-based rules behind the
    same ``Policy`` port.
    """

    def authorize(self, principal: Principal, permission: str, resource: object | None = None) -> Decision:
        if principal.has_role("admin"):
            return Decision(True, "admin role")
        if principal.is_anonymous:
            return Decision(False, "authentication required")
        return Decision(False, f"role admin required for {permission}")


# -- idempotency keys --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The answer given to the first request of an idempotency key, replayed to its repeats."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class IdempotencyScope:
    """Whose key on which route: the same key of another caller or route is another key."""

    caller: str
    route: str
    key: str


class ClaimOutcome(StrEnum):
    NEW = "new"
    """The key is free (or expired, or left behind by a request that died): run the request."""
    REPLAY = "replay"
    """A request with this key and fingerprint completed: answer with its stored response."""
    IN_USE = "in_use"
    """A request with this key is still running."""
    MISMATCH = "mismatch"
    """The key was used for a different request (another body or path)."""


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: ClaimOutcome
    response: StoredResponse | None = None


class IdempotencyStore(Protocol):
    """Idempotency keys shared by every server process (the database), as runtimes that take
    ``Idempotency-Key`` use them: claim before running, then complete (store the answer) or release."""

    async def claim(
        self, scope: IdempotencyScope, fingerprint: str, *, now: datetime, ttl: timedelta, lock: timedelta
    ) -> Claim:
        """Take the key for a request with ``fingerprint`` (held ``lock`` long while it runs, kept ``ttl`` long)."""
        ...

    async def complete(self, scope: IdempotencyScope, fingerprint: str, response: StoredResponse) -> None:
        """Store the answer of the request that claimed the key."""
        ...

    async def release(self, scope: IdempotencyScope, fingerprint: str) -> None:
        """Give up a claim whose request failed, so a repeat runs it again."""
        ...

    async def prune(self, now: datetime) -> int:
        """Delete the expired keys; returns how many."""
        ...
