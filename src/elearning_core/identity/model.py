"""Users, organizations and the rules on their fields.

A ``User`` is the aggregate for everything about one person the platform
keeps: sign-in email (unique case-insensitively through ``email_key``),
profile, status, password hash and role grants. Deleting an account
anonymises it in place: the row and its id stay, so enrollments, attempts
and grades keyed by the id keep their integrity, while every personal field
is overwritten and can never be signed in with again.
"""

from __future__ import annotations

import enum
import functools
import re
import uuid
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elearning_core.auth.model import GRANTABLE_ON, Grant, Role, Scope, ScopeKind
from elearning_core.identity import events as ev
from elearning_core.shared.errors import Conflict, FieldError, ValidationFailed
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ids import UserId, new_uuid
from elearning_core.shared.inputs import text_problem

EMAIL_MAX = 254
DISPLAY_NAME_MAX = 100
BIO_MAX = 2000
PASSWORD_MIN = 10
PASSWORD_MAX = 256
ORG_NAME_MAX = 200
ORG_SLUG_MAX = 63
DELETED_NAME = "Deleted user"

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_ORG_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{name} {message}", [FieldError(name, message)])


def _storable(value: str, name: str) -> str:
    """The shared text rule (``elearning_core.shared.inputs``), again in the aggregate for callers that skip the commands."""
    problem = text_problem(value)
    if problem is not None:
        raise _invalid(name, problem)
    return value


def check_email(value: str) -> str:
    email = value.strip()
    if len(email) > EMAIL_MAX or not _EMAIL.match(email) or any(ord(c) < 32 for c in email):
        raise _invalid("email", "must be an email address such as ada@example.org")
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def email_key(email: str) -> str:
    """The form uniqueness is decided on: ``Ada@Example.org`` and ``ada@example.org`` are one account."""
    return email.strip().lower()


def check_display_name(value: str) -> str:
    name = " ".join(value.split())
    if not name or len(name) > DISPLAY_NAME_MAX:
        raise _invalid("display_name", f"must be 1 to {DISPLAY_NAME_MAX} characters")
    return _storable(name, "display_name")  # also from an identity provider's claims, which no command checks


def check_locale(value: str) -> str:
    if not _LOCALE.match(value) or len(value) > 35:
        raise _invalid("locale", "must be a BCP 47 language tag such as en or pt-BR")
    return value


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def check_time_zone(value: str) -> str:
    if value not in _time_zones():
        raise _invalid("time_zone", "must be an IANA time zone such as Europe/Paris or UTC")
    return value


def check_bio(value: str) -> str:
    if len(value) > BIO_MAX:
        raise _invalid("bio", f"must be at most {BIO_MAX} characters")
    return _storable(value, "bio")


def check_password(password: str, *, email: str | None = None) -> str:
    """The password rules (NIST 800-63B): a length range, and not the email itself. No composition rules."""
    if len(password) < PASSWORD_MIN or len(password) > PASSWORD_MAX:
        raise _invalid("password", f"must be {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    if email is not None and email_key(password) == email_key(email):
        raise _invalid("password", "must not be the email address")
    return password


def check_org_slug(value: str) -> str:
    if not _ORG_SLUG.match(value):
        raise _invalid("slug", "must be 1 to 63 lowercase letters, digits or inner hyphens")
    return value


def check_org_name(value: str) -> str:
    name = " ".join(value.split())
    if not name or len(name) > ORG_NAME_MAX:
        raise _invalid("name", f"must be 1 to {ORG_NAME_MAX} characters")
    return _storable(name, "name")


def make_grant(role: str, scope_kind: str = "platform", scope_id: uuid.UUID | None = None) -> Grant:
    """A grant from untrusted names, with field errors instead of ``ValueError``."""
    try:
        wanted = Role(role)
    except ValueError:
        raise _invalid("role", f"must be one of {', '.join(r.value for r in Role)}") from None
    try:
        kind = ScopeKind(scope_kind)
    except ValueError:
        raise _invalid("scope", f"must be one of {', '.join(k.value for k in ScopeKind)}") from None
    if kind not in GRANTABLE_ON[wanted]:
        allowed = ", ".join(sorted(k.value for k in GRANTABLE_ON[wanted]))
        raise _invalid("scope", f"the {wanted.value} role can be granted on: {allowed}")
    if (kind is ScopeKind.PLATFORM) != (scope_id is None):
        raise _invalid("scope_id", "is required for organization and course scopes, and not allowed for platform")
    return Grant(wanted, Scope(kind, scope_id))


class UserStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


class _Aggregate:
    id: uuid.UUID
    _events: list[DomainEvent]

    def _record(self, event_type: type[DomainEvent], at: datetime, **data: Any) -> None:
        self._events.append(event_type(occurred_at=at, aggregate_id=self.id, **data))

    @property
    def pending_events(self) -> list[DomainEvent]:
        return list(self._events)

    def pull_events(self) -> list[DomainEvent]:
        events, self._events = self._events, []
        return events


@dataclass(slots=True, eq=False)
class User(_Aggregate):
    id: UserId
    email: str
    display_name: str
    locale: str
    time_zone: str
    status: UserStatus
    created_at: datetime
    updated_at: datetime
    password_hash: str | None = None
    email_verified_at: datetime | None = None
    bio: str = ""
    suspended_reason: str = ""
    deleted_at: datetime | None = None
    grants: set[Grant] = field(default_factory=set)
    version: int = 0
    _events: list[DomainEvent] = field(default_factory=list, repr=False)

    @classmethod
    def register(
        cls,
        *,
        email: str,
        display_name: str,
        at: datetime,
        password_hash: str | None,
        locale: str = "en",
        time_zone: str = "UTC",
        source: str = "password",
        email_verified: bool = False,
        user_id: UserId | None = None,
    ) -> User:
        user = cls(
            id=user_id or UserId(new_uuid()),
            email=check_email(email),
            display_name=check_display_name(display_name),
            locale=check_locale(locale),
            time_zone=check_time_zone(time_zone),
            status=UserStatus.ACTIVE,
            created_at=at,
            updated_at=at,
            password_hash=password_hash,
            email_verified_at=at if email_verified else None,
        )
        user._record(ev.UserRegistered, at, email=user.email, display_name=user.display_name, source=source)
        if email_verified:
            user._record(ev.EmailVerified, at)
        return user

    @property
    def email_key(self) -> str:
        return email_key(self.email)

    @property
    def is_active(self) -> bool:
        return self.status is UserStatus.ACTIVE

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    def _touch(self, at: datetime) -> None:
        self.updated_at = at

    def _ensure_not_deleted(self) -> None:
        if self.status is UserStatus.DELETED:
            raise Conflict("the account has been deleted")

    def verify_email(self, at: datetime) -> None:
        """Verified from now on (once: a proof of the mailbox by another way, a reset or a provider)."""
        self._ensure_not_deleted()
        if self.email_verified_at is None:
            self.email_verified_at = at
            self._touch(at)
            self._record(ev.EmailVerified, at)

    def confirm_email(self, at: datetime) -> None:
        """The owner followed a confirmation link: verified since the first time, and each confirmation is an
        event (a confirmation asked for again proves the mailbox anew: the notification module lifts a
        suppression of the address on it)."""
        if self.email_verified_at is None:
            self.verify_email(at)
            return
        self._ensure_not_deleted()
        self._record(ev.EmailVerified, at)

    def email_change_requested(self, at: datetime) -> None:
        self._ensure_not_deleted()
        self._record(ev.EmailChangeRequested, at)

    def change_email(self, email: str, at: datetime, *, by: str) -> None:
        """Take ``email`` as the sign-in address, verified: whoever confirms it proved they read its mailbox
        (a user through the mailed link) or vouches for it (an administrator, ``by="admin"``)."""
        self._ensure_not_deleted()
        address = check_email(email)
        self.email = address
        self.email_verified_at = at
        self._touch(at)
        self._record(ev.EmailChanged, at, email=address, by=by)

    def set_password_hash(self, password_hash: str, at: datetime, *, reason: str) -> None:
        self._ensure_not_deleted()
        self.password_hash = password_hash
        self._touch(at)
        self._record(ev.PasswordChanged, at, reason=reason)

    def update_profile(self, at: datetime, **changes: Any) -> list[str]:
        self._ensure_not_deleted()
        checkers = {
            "display_name": check_display_name,
            "locale": check_locale,
            "time_zone": check_time_zone,
            "bio": check_bio,
        }
        unknown = set(changes) - set(checkers)
        if unknown:
            raise _invalid(sorted(unknown)[0], "is not an editable profile field")
        checked = {name: checkers[name](value) for name, value in changes.items()}
        applied = sorted(name for name, value in checked.items() if getattr(self, name) != value)
        for name in applied:
            setattr(self, name, checked[name])
        if applied:
            self._touch(at)
            self._record(ev.ProfileUpdated, at, fields=applied)
        return applied

    def suspend(self, at: datetime, reason: str) -> None:
        self._ensure_not_deleted()
        if self.status is UserStatus.SUSPENDED:
            return
        self.status = UserStatus.SUSPENDED
        self.suspended_reason = reason.strip()[:500]
        self._touch(at)
        self._record(ev.UserSuspended, at, reason=self.suspended_reason)

    def reactivate(self, at: datetime) -> None:
        self._ensure_not_deleted()
        if self.status is UserStatus.ACTIVE:
            return
        self.status = UserStatus.ACTIVE
        self.suspended_reason = ""
        self._touch(at)
        self._record(ev.UserReactivated, at)

    def anonymise(self, at: datetime) -> None:
        """Delete the account: overwrite every personal field, drop the grants, keep the id."""
        if self.status is UserStatus.DELETED:
            return
        self.email = f"deleted-{self.id.hex}@deleted.invalid"
        self.display_name = DELETED_NAME
        self.bio = ""
        self.locale = "en"
        self.time_zone = "UTC"
        self.password_hash = None
        self.email_verified_at = None
        self.suspended_reason = ""
        self.grants = set()
        self.status = UserStatus.DELETED
        self.deleted_at = at
        self._touch(at)
        self._record(ev.UserDeleted, at)

    def grant(self, grant: Grant, at: datetime, *, by: str) -> bool:
        """Add ``grant``; False (and no event) when the user already holds it."""
        self._ensure_not_deleted()
        if grant in self.grants:
            return False
        self.grants.add(grant)
        self._touch(at)
        self._record(
            ev.RoleGranted,
            at,
            role=grant.role.value,
            scope_kind=grant.scope.kind.value,
            scope_id=grant.scope.id,
            granted_by=by,
        )
        return True

    def revoke(self, grant: Grant, at: datetime, *, by: str) -> bool:
        if grant not in self.grants:
            return False
        self.grants.discard(grant)
        self._touch(at)
        self._record(
            ev.RoleRevoked,
            at,
            role=grant.role.value,
            scope_kind=grant.scope.kind.value,
            scope_id=grant.scope.id,
            revoked_by=by,
        )
        return True

    def linked(self, provider: str, issuer: str, at: datetime) -> None:
        self._record(ev.ExternalIdentityLinked, at, provider=provider, issuer=issuer)


@dataclass(slots=True, eq=False)
class Organization(_Aggregate):
    id: uuid.UUID
    slug: str
    name: str
    created_at: datetime
    time_zone: str = "UTC"
    """Where the organization's days, weeks and months begin and end (its reports' periods)."""
    _events: list[DomainEvent] = field(default_factory=list, repr=False)
    _changed: bool = field(default=False, repr=False)

    @classmethod
    def create(cls, *, slug: str, name: str, at: datetime, time_zone: str = "UTC") -> Organization:
        org = cls(
            id=new_uuid(),
            slug=check_org_slug(slug),
            name=check_org_name(name),
            created_at=at,
            time_zone=check_time_zone(time_zone),
        )
        org._record(ev.OrganizationCreated, at, slug=org.slug, name=org.name, time_zone=org.time_zone)
        return org

    @property
    def changed(self) -> bool:
        """Whether ``update`` changed a field since the organization was loaded (the repository writes it then)."""
        return self._changed

    def update(self, at: datetime, *, name: str | None = None, time_zone: str | None = None) -> list[str]:
        """Rename it or move it to another time zone; the names of the fields that changed (none: no event)."""
        checked: dict[str, str] = {}
        if name is not None:
            checked["name"] = check_org_name(name)
        if time_zone is not None:
            checked["time_zone"] = check_time_zone(time_zone)
        applied = sorted(key for key, value in checked.items() if getattr(self, key) != value)
        for key in applied:
            setattr(self, key, checked[key])
        if applied:
            self._changed = True
            self._record(ev.OrganizationUpdated, at, fields=applied, name=self.name, time_zone=self.time_zone)
        return applied

    def mark_saved(self) -> None:
        self._changed = False

    def member_added(self, user_id: uuid.UUID, at: datetime) -> None:
        self._record(ev.MemberAdded, at, user_id=user_id)

    def member_removed(self, user_id: uuid.UUID, at: datetime) -> None:
        self._record(ev.MemberRemoved, at, user_id=user_id)


class TokenPurpose(enum.StrEnum):
    VERIFY_EMAIL = "verify_email"
    PASSWORD_RESET = "password_reset"
    EMAIL_CHANGE = "email_change"


@dataclass(frozen=True, slots=True)
class OneTimeToken:
    """A stored single-use token: only its SHA-256 digest is kept, never the token itself."""

    digest: str
    purpose: TokenPurpose
    user_id: UserId
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    new_email: str | None = None
    """The address an ``EMAIL_CHANGE`` token confirms (None for the other purposes)."""


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    """Who an external OIDC provider says signed in."""

    provider: str
    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


def grant_views(grants: Iterable[Grant]) -> list[dict[str, str | None]]:
    """Grants as plain data, sorted (for responses and tables)."""
    rows = [
        {"role": g.role.value, "scope": g.scope.kind.value, "scope_id": str(g.scope.id) if g.scope.id else None}
        for g in grants
    ]
    return sorted(rows, key=lambda r: (r["scope"] or "", r["scope_id"] or "", r["role"] or ""))
