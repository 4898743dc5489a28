"""Users (with their grants) and organizations (with their memberships)."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.engine import Database, insert_ignoring_duplicates
from elearning_adapters.sql.identity._tables import (
    grant_key,
    grants_of,
    like_escape,
    organization_members,
    organizations,
    user_from,
    user_grants,
    user_row,
    users,
)
from elearning_core.auth.model import Grant
from elearning_core.identity.model import Organization, User, UserStatus, email_key
from elearning_core.identity.ports import OrganizationRepository, UserListFilter, UserQueries, UserRepository
from elearning_core.shared.errors import Conflict

# -- users ---------------------------------------------------------------------------


class SqlUserRepository(UserRepository):
    """Loads users with their grants; the unit of work calls ``flush`` at commit to write changes.

    A loaded user is written back only if it differs from what was loaded,
    with an optimistic check on ``version``; grants are synchronised by diff.
    """

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._seen: dict[uuid.UUID, User] = {}
        self._new: set[uuid.UUID] = set()
        # What each loaded user looked like in the database: the baseline of the write-back diff.
        self._stored: dict[uuid.UUID, tuple[dict[str, Any], frozenset[Grant]]] = {}

    async def get(self, user_id: uuid.UUID) -> User | None:
        if user_id in self._seen:
            return self._seen[user_id]
        return await self._load(users.c.id == user_id)

    async def get_by_email(self, email: str) -> User | None:
        key = email_key(email)
        for user in self._seen.values():
            if user.email_key == key and user.status is not UserStatus.DELETED:
                return user
        return await self._load(and_(users.c.email_key == key, users.c.status != UserStatus.DELETED.value))

    async def email_taken(self, email: str) -> bool:
        key = email_key(email)
        if any(self._seen[user_id].email_key == key for user_id in self._new):
            return True
        return bool((await self._conn.execute(select(exists().where(users.c.email_key == key)))).scalar())

    def add(self, user: User) -> None:
        self._seen[user.id] = user
        self._new.add(user.id)

    def seen(self) -> Iterable[User]:
        return self._seen.values()

    async def _load(self, where: Any) -> User | None:
        row = (await self._conn.execute(select(users).where(where))).first()
        if row is None or row.id in self._seen:
            # Already in this unit of work and no longer matching there (a changed status): the staged state wins.
            return None
        grants = (await grants_of(self._conn, [row.id]))[row.id]
        user = user_from(row, grants)
        self._seen[user.id] = user
        self._stored[user.id] = (user_row(user), frozenset(grants))
        return user

    async def flush(self) -> None:
        """Write every new or changed user; raises Conflict on a lost update."""
        for user_id, user in self._seen.items():
            row, grants = user_row(user), frozenset(user.grants)
            if user_id in self._new:
                await self._conn.execute(insert(users).values(id=user.id, version=1, **row))
                if grants:
                    await self._conn.execute(
                        insert(user_grants), [{"user_id": user_id, **grant_key(g)} for g in grants]
                    )
                user.version = 1
            else:
                stored_row, stored_grants = self._stored[user_id]
                if row == stored_row and grants == stored_grants:
                    continue
                result = await self._conn.execute(
                    update(users)
                    .where(users.c.id == user_id, users.c.version == user.version)
                    .values(version=user.version + 1, **row)
                )
                if result.rowcount != 1:
                    raise Conflict("the account was changed by someone else at the same time; retry")
                user.version += 1
                await self._sync_grants(user_id, stored_grants, grants)
            self._stored[user_id] = (row, grants)
        self._new.clear()

    async def _sync_grants(self, user_id: uuid.UUID, before: frozenset[Grant], after: frozenset[Grant]) -> None:
        removed, added = before - after, after - before
        if removed:
            keys = [grant_key(g) for g in removed]
            await self._conn.execute(
                delete(user_grants).where(
                    user_grants.c.user_id == user_id,
                    or_(
                        *(
                            and_(
                                user_grants.c.role == k["role"],
                                user_grants.c.scope_kind == k["scope_kind"],
                                user_grants.c.scope_id == k["scope_id"],
                            )
                            for k in keys
                        )
                    ),
                )
            )
        if added:
            await self._conn.execute(insert(user_grants), [{"user_id": user_id, **grant_key(g)} for g in added])


class SqlUserQueries(UserQueries):
    """The administrators' user listing: one page of users, then their grants in one more query."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_users(self, where: UserListFilter, after: uuid.UUID | None, limit: int) -> list[User]:
        query = select(users)
        if where.status is not None:
            query = query.where(users.c.status == where.status.value)
        if where.text:
            pattern = f"%{like_escape(where.text)}%"
            query = query.where(
                or_(
                    users.c.email_key.like(pattern, escape="\\"),
                    func.lower(users.c.display_name).like(pattern, escape="\\"),
                )
            )
        if where.organization_id is not None:
            query = query.where(
                exists().where(
                    organization_members.c.organization_id == where.organization_id,
                    organization_members.c.user_id == users.c.id,
                )
            )
        if after is not None:
            query = query.where(users.c.id > after)
        query = query.order_by(users.c.id).limit(limit)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
            grants = await grants_of(conn, [r.id for r in rows])
        return [user_from(r, grants[r.id]) for r in rows]


# -- organizations -------------------------------------------------------------------


ORGANIZATION_SLUG_TAKEN = "slug is already taken by another organization"


def _organization_from(row: Any) -> Organization:
    return Organization(id=row.id, slug=row.slug, name=row.name, created_at=row.created_at, time_zone=row.time_zone)


class SqlOrganizationRepository(OrganizationRepository):
    """Organizations are staged like aggregates; memberships are written at once.

    New organizations are written before any query that reads the table, so a
    unit of work sees the organizations it created in lists and memberships.
    """

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._seen: dict[uuid.UUID, Organization] = {}
        self._new: dict[uuid.UUID, Organization] = {}

    async def get(self, organization_id: uuid.UUID) -> Organization | None:
        if organization_id in self._seen:
            return self._seen[organization_id]
        return await self._load_one(organizations.c.id == organization_id)

    async def get_by_slug(self, slug: str) -> Organization | None:
        for organization in self._seen.values():
            if organization.slug == slug:
                return organization
        return await self._load_one(organizations.c.slug == slug)

    async def slug_taken(self, slug: str) -> bool:
        if any(o.slug == slug for o in self._new.values()):
            return True
        return bool((await self._conn.execute(select(exists().where(organizations.c.slug == slug)))).scalar())

    def add(self, organization: Organization) -> None:
        self._seen[organization.id] = organization
        self._new[organization.id] = organization

    def seen(self) -> Iterable[Organization]:
        return self._seen.values()

    async def list(self, after: uuid.UUID | None, limit: int) -> list[Organization]:
        await self.flush()
        query = select(organizations).order_by(organizations.c.id).limit(limit)
        if after is not None:
            query = query.where(organizations.c.id > after)
        return [self._mapped(r) for r in await self._conn.execute(query)]

    async def add_member(self, organization_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> bool:
        stmt = (
            insert_ignoring_duplicates(self._conn, organization_members)
            .values(organization_id=organization_id, user_id=user_id, joined_at=at)
            .returning(organization_members.c.user_id)
        )
        return (await self._conn.execute(stmt)).first() is not None

    async def remove_member(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        result = await self._conn.execute(
            delete(organization_members).where(
                organization_members.c.organization_id == organization_id, organization_members.c.user_id == user_id
            )
        )
        return result.rowcount == 1

    async def member_count(self, organization_id: uuid.UUID) -> int:
        query = select(func.count()).where(organization_members.c.organization_id == organization_id)
        return int((await self._conn.execute(query)).scalar_one())

    async def organizations_of(self, user_id: uuid.UUID) -> builtins.list[Organization]:
        await self.flush()
        query = (
            select(organizations)
            .join(organization_members, organization_members.c.organization_id == organizations.c.id)
            .where(organization_members.c.user_id == user_id)
            .order_by(organizations.c.name, organizations.c.id)
        )
        return [self._mapped(r) for r in await self._conn.execute(query)]

    async def _load_one(self, where: Any) -> Organization | None:
        row = (await self._conn.execute(select(organizations).where(where))).first()
        return self._mapped(row) if row is not None else None

    def _mapped(self, row: Any) -> Organization:
        """One object per organization within the unit of work (the one already seen, if any)."""
        if row.id not in self._seen:
            self._seen[row.id] = _organization_from(row)
        return self._seen[row.id]

    async def flush(self) -> None:
        """Write the organizations added since the last flush, and the changes of the loaded ones;
        raises Conflict on a taken slug."""
        for changed in [o for o in self._seen.values() if o.changed and o.id not in self._new]:
            await self._conn.execute(
                update(organizations)
                .where(organizations.c.id == changed.id)
                .values(name=changed.name, time_zone=changed.time_zone)
            )
            changed.mark_saved()
        if not self._new:
            return
        rows = [
            {"id": o.id, "slug": o.slug, "name": o.name, "created_at": o.created_at, "time_zone": o.time_zone}
            for o in self._new.values()
        ]
        try:
            await self._conn.execute(insert(organizations), rows)
        except IntegrityError as exc:
            if "slug" in str(exc.orig).lower():
                raise Conflict(ORGANIZATION_SLUG_TAKEN) from None
            raise
        self._new.clear()
