"""The learning record store's client credentials: a key and a secret scoped to one organization.

An external tool (a SCORM/cmi5 player, an authoring tool's content, another LRS) sends and reads xAPI
statements with HTTP Basic ``key:secret``. The secret is shown once, at creation; the store keeps its
SHA-256 digest, as the platform keeps its one-time tokens: the secret is 32 random bytes, so a slow
password hash would protect nothing more and would cost every request of a statement stream.

Scopes are xAPI's own names (1.0.3, OAuth scope): ``statements/write``, ``statements/read`` and ``all``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from elearning_core.analytics.model import Account, Agent
from elearning_core.auth.model import Permission, ResourceRef, ScopeKind
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import FieldError, NotFound, Unauthenticated, ValidationFailed
from elearning_core.shared.ports import Policy, Principal, require

KEY_PREFIX = "lrs-"
MAX_LABEL = 200
INVALID_CREDENTIAL = "the LRS credential is unknown, revoked, or its secret is wrong"


class LrsScope(enum.StrEnum):
    STATEMENTS_WRITE = "statements/write"
    STATEMENTS_READ = "statements/read"
    ALL = "all"


def parse_scopes(values: Iterable[str]) -> frozenset[LrsScope]:
    """The scopes named (at least one), or ``ValidationFailed`` naming the unknown one."""
    scopes: set[LrsScope] = set()
    for value in values:
        try:
            scopes.add(LrsScope(value.strip()))
        except ValueError:
            known = ", ".join(s.value for s in LrsScope)
            raise ValidationFailed(
                f"unknown LRS scope {value!r}: one of {known}", [FieldError("scope", "unknown scope")]
            ) from None
    if not scopes:
        raise ValidationFailed("an LRS credential needs a scope", [FieldError("scope", "at least one scope")])
    return frozenset(scopes)


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class LrsCredential:
    key: str
    organization_id: uuid.UUID
    scopes: frozenset[LrsScope]
    secret_digest: str
    created_at: datetime
    label: str = ""
    revoked_at: datetime | None = None

    @property
    def can_read(self) -> bool:
        return bool(self.scopes & {LrsScope.STATEMENTS_READ, LrsScope.ALL})

    @property
    def can_write(self) -> bool:
        return bool(self.scopes & {LrsScope.STATEMENTS_WRITE, LrsScope.ALL})

    def authority(self, home_page: str) -> Agent:
        """The statements' ``authority``: this credential, as an agent of the platform's accounts."""
        return Agent(name=self.label or None, account=Account(home_page=f"{home_page}/xapi/credentials", name=self.key))


class LrsCredentialStore(Protocol):
    async def add(self, credential: LrsCredential) -> None: ...

    async def get(self, key: str) -> LrsCredential | None: ...

    async def list(self, organization_id: uuid.UUID | None) -> list[LrsCredential]:
        """Every credential (of one organization when given), newest first, revoked ones included."""
        ...

    async def revoke(self, key: str, at: datetime) -> bool:
        """Revoke a credential that is not revoked yet; whether one was."""
        ...


class OrganizationExists(Protocol):
    async def __call__(self, organization_id: uuid.UUID) -> bool: ...


@dataclass(frozen=True, slots=True)
class CreatedCredential:
    credential: LrsCredential
    secret: str
    """Shown once: only its digest is stored."""


class LrsCredentialService:
    def __init__(
        self, store: LrsCredentialStore, organizations: OrganizationExists, clock: Clock, policy: Policy
    ) -> None:
        self._store, self._organizations, self._clock, self._policy = store, organizations, clock, policy

    def _require_manage(self, actor: Principal, organization_id: uuid.UUID) -> None:
        # An organization's admin holds user.manage on it; a platform admin (and the CLI) everywhere.
        resource = ResourceRef(ScopeKind.ORGANIZATION, organization_id)
        require(self._policy, actor, Permission.USER_MANAGE.value, resource)

    async def create(
        self, actor: Principal, organization_id: uuid.UUID, scopes: frozenset[LrsScope], label: str = ""
    ) -> CreatedCredential:
        self._require_manage(actor, organization_id)
        if len(label) > MAX_LABEL:
            raise ValidationFailed(
                f"the label is longer than {MAX_LABEL} characters", [FieldError("label", "too long")]
            )
        if not scopes:
            raise ValidationFailed("an LRS credential needs a scope", [FieldError("scope", "at least one scope")])
        if not await self._organizations(organization_id):
            raise NotFound("organization", organization_id)
        secret = secrets.token_urlsafe(32)
        credential = LrsCredential(
            key=KEY_PREFIX + secrets.token_hex(10),
            organization_id=organization_id,
            scopes=scopes,
            secret_digest=secret_digest(secret),
            created_at=self._clock.now(),
            label=label.strip(),
        )
        await self._store.add(credential)
        return CreatedCredential(credential, secret)

    async def list(self, actor: Principal, organization_id: uuid.UUID | None = None) -> list[LrsCredential]:
        if organization_id is None:
            require(self._policy, actor, Permission.USER_MANAGE.value, None)
        else:
            self._require_manage(actor, organization_id)
        return await self._store.list(organization_id)

    async def revoke(self, actor: Principal, key: str) -> LrsCredential:
        credential = await self._store.get(key)
        if credential is None:
            raise NotFound("LRS credential", key)
        self._require_manage(actor, credential.organization_id)
        at = self._clock.now()
        if not await self._store.revoke(key, at):
            return credential
        return replace(credential, revoked_at=at)

    async def authenticate(self, key: str, secret: str) -> LrsCredential:
        """The credential ``key:secret`` names, unless unknown, revoked or wrong (one message for all three)."""
        credential = await self._store.get(key) if key.startswith(KEY_PREFIX) and len(key) <= 40 else None
        presented = secret_digest(secret)
        expected = credential.secret_digest if credential is not None else secret_digest("")
        if not hmac.compare_digest(presented, expected) or credential is None or credential.revoked_at is not None:
            raise Unauthenticated(INVALID_CREDENTIAL)
        return credential
