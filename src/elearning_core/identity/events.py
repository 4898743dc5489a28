"""Identity events: what other modules may react to about users and organizations.

No event carries a password, a token or (after deletion) any personal data:
``UserDeleted`` is the signal for every module to drop what it holds about the
person while keeping the learning records keyed by the user id.
"""

from __future__ import annotations

import uuid

from elearning_core.shared.events import DomainEvent


class UserRegistered(DomainEvent):
    type = "identity.user_registered.v1"
    email: str
    display_name: str
    source: str  # "password", "admin" or "oidc:<provider>"


class EmailVerified(DomainEvent):
    type = "identity.email_verified.v1"


class EmailChangeRequested(DomainEvent):
    """A user asked to move their account to another address; nothing changes until the new one is confirmed.

    Carries no address: the request may never be confirmed, and the address may not be the user's."""

    type = "identity.email_change_requested.v1"


class EmailChanged(DomainEvent):
    """The account's sign-in address is now ``email`` (verified)."""

    type = "identity.email_changed.v1"
    email: str
    by: str  # "user" (confirmed through the link mailed to the new address) or "admin"


class PasswordChanged(DomainEvent):
    type = "identity.password_changed.v1"
    reason: str  # "change", "reset" or "rehash"


class ProfileUpdated(DomainEvent):
    type = "identity.profile_updated.v1"
    fields: list[str]


class UserSuspended(DomainEvent):
    type = "identity.user_suspended.v1"
    reason: str


class UserReactivated(DomainEvent):
    type = "identity.user_reactivated.v1"


class UserDeleted(DomainEvent):
    type = "identity.user_deleted.v1"


class ExternalIdentityLinked(DomainEvent):
    type = "identity.external_identity_linked.v1"
    provider: str
    issuer: str


class OrganizationCreated(DomainEvent):
    type = "identity.organization_created.v1"
    slug: str
    name: str
    time_zone: str = "UTC"


class OrganizationUpdated(DomainEvent):
    """Renamed or moved to another time zone: ``fields`` names what changed; both values as they now are."""

    type = "identity.organization_updated.v1"
    fields: list[str]
    name: str
    time_zone: str


class MemberAdded(DomainEvent):
    type = "identity.member_added.v1"
    user_id: uuid.UUID


class MemberRemoved(DomainEvent):
    type = "identity.member_removed.v1"
    user_id: uuid.UUID


class RoleGranted(DomainEvent):
    """aggregate_id: the user who holds the grant."""

    type = "identity.role_granted.v1"
    role: str
    scope_kind: str
    scope_id: uuid.UUID | None
    granted_by: str


class RoleRevoked(DomainEvent):
    type = "identity.role_revoked.v1"
    role: str
    scope_kind: str
    scope_id: uuid.UUID | None
    revoked_by: str
