"""The identity and auth tables, and the row <-> entity mapping the repositories share.

Foreign keys to users and organizations are DEFERRABLE INITIALLY DEFERRED (see
the package docstring): a user added in a unit of work is written at commit,
after the tokens, links, sessions or memberships that name it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, Integer, PrimaryKeyConstraint, String, Table, Text, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Uuid

from elearning_adapters.sql.engine import UtcDateTime, metadata
from elearning_core.auth.model import Grant, Role, Scope, ScopeKind
from elearning_core.identity.model import User, UserStatus
from elearning_core.shared.ids import UserId

PLATFORM_SCOPE_ID = uuid.UUID(int=0)
"""Stored as the scope id of platform grants: NULLs never collide in a unique key, the nil UUID does."""

_DEFERRED: dict[str, Any] = {"deferrable": True, "initially": "DEFERRED"}


def _user_fk() -> ForeignKey:
    return ForeignKey("users.id", ondelete="CASCADE", **_DEFERRED)


users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("email", String(254), nullable=False),
    # The lowercased email: uniqueness and lookups are case-insensitive on every backend.
    Column("email_key", String(254), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("locale", String(35), nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("password_hash", Text, nullable=True),
    Column("email_verified_at", UtcDateTime, nullable=True),
    Column("bio", Text, nullable=False),
    Column("suspended_reason", String(500), nullable=False),
    Column("deleted_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
)

user_grants = Table(
    "user_grants",
    metadata,
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(32), nullable=False),
    Column("scope_kind", String(16), nullable=False),
    Column("scope_id", Uuid, nullable=False),  # PLATFORM_SCOPE_ID for the platform
    # The key leads with user_id: it is also the index the per-request principal read uses.
    PrimaryKeyConstraint("user_id", "role", "scope_kind", "scope_id"),
)

organizations = Table(
    "organizations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("slug", String(63), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("time_zone", String(64), nullable=False, server_default="UTC"),
)

organization_members = Table(
    "organization_members",
    metadata,
    Column(
        "organization_id",
        Uuid,
        ForeignKey("organizations.id", ondelete="CASCADE", **_DEFERRED),
        nullable=False,
    ),
    Column("user_id", Uuid, _user_fk(), nullable=False),
    Column("joined_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("organization_id", "user_id"),
)
Index("ix_organization_members_user_id", organization_members.c.user_id)

one_time_tokens = Table(
    "one_time_tokens",
    metadata,
    Column("digest", String(128), primary_key=True),
    Column("purpose", String(32), nullable=False),
    Column("user_id", Uuid, _user_fk(), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
    # The address an email_change token confirms (migration 0012); NULL for the other purposes.
    Column("new_email", String(254), nullable=True),
)
Index("ix_one_time_tokens_user_id_purpose", one_time_tokens.c.user_id, one_time_tokens.c.purpose)

external_identities = Table(
    "external_identities",
    metadata,
    Column("issuer", String(500), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("user_id", Uuid, _user_fk(), nullable=False),
    Column("linked_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("issuer", "subject"),
)
Index("ix_external_identities_user_id", external_identities.c.user_id)

login_sessions = Table(
    "login_sessions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, _user_fk(), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("revoked_reason", String(200), nullable=False),
)
Index("ix_login_sessions_user_id", login_sessions.c.user_id)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("digest", String(128), primary_key=True),
    Column("session_id", Uuid, ForeignKey("login_sessions.id", ondelete="CASCADE"), nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
)
Index("ix_refresh_tokens_session_id", refresh_tokens.c.session_id)

pending_logins = Table(
    "pending_logins",
    metadata,
    Column("state_digest", String(128), primary_key=True),
    Column("provider", String(64), nullable=False),
    Column("code_verifier", String(128), nullable=False),
    Column("nonce", String(128), nullable=False),
    Column("return_to", Text, nullable=True),
    Column("expires_at", UtcDateTime, nullable=False),
)

IDENTITY_TABLES = (
    "refresh_tokens",
    "login_sessions",
    "pending_logins",
    "external_identities",
    "one_time_tokens",
    "organization_members",
    "organizations",
    "user_grants",
    "users",
)
"""Every table of this module, children first (an order that deletes cleanly)."""

_IN_CHUNK = 500


# -- mapping -------------------------------------------------------------------------


def grant_key(grant: Grant) -> dict[str, Any]:
    return {
        "role": grant.role.value,
        "scope_kind": grant.scope.kind.value,
        "scope_id": grant.scope.id if grant.scope.id is not None else PLATFORM_SCOPE_ID,
    }


def grant_from(role: str, scope_kind: str, scope_id: uuid.UUID) -> Grant:
    return Grant(Role(role), Scope(ScopeKind(scope_kind), None if scope_id == PLATFORM_SCOPE_ID else scope_id))


def user_row(user: User) -> dict[str, Any]:
    return {
        "email": user.email,
        "email_key": user.email_key,
        "display_name": user.display_name,
        "locale": user.locale,
        "time_zone": user.time_zone,
        "status": user.status.value,
        "password_hash": user.password_hash,
        "email_verified_at": user.email_verified_at,
        "bio": user.bio,
        "suspended_reason": user.suspended_reason,
        "deleted_at": user.deleted_at,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def user_from(row: Any, grants: Iterable[Grant]) -> User:
    return User(
        id=UserId(row.id),
        email=row.email,
        display_name=row.display_name,
        locale=row.locale,
        time_zone=row.time_zone,
        status=UserStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        password_hash=row.password_hash,
        email_verified_at=row.email_verified_at,
        bio=row.bio,
        suspended_reason=row.suspended_reason,
        deleted_at=row.deleted_at,
        grants=set(grants),
        version=row.version,
    )


async def grants_of(conn: AsyncConnection, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[Grant]]:
    found: dict[uuid.UUID, set[Grant]] = {user_id: set() for user_id in user_ids}
    for start in range(0, len(user_ids), _IN_CHUNK):
        rows = await conn.execute(
            select(user_grants.c.user_id, user_grants.c.role, user_grants.c.scope_kind, user_grants.c.scope_id).where(
                user_grants.c.user_id.in_(user_ids[start : start + _IN_CHUNK])
            )
        )
        for r in rows:
            found[r.user_id].add(grant_from(r.role, r.scope_kind, r.scope_id))
    return found


def like_escape(text: str) -> str:
    return text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
