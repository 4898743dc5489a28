"""The entitlement tables: how each course is sold (``course_offers``) and who holds which grant
(``entitlement_grants``).

A course without a row in ``course_offers`` is free: every course the platform had before commerce
stays as it was without a data migration. Grants are never deleted: a refund or a cancellation is
a status, so the refusal can name it and the audit trail stays.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Uuid,
    exists,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.engine import Database, UtcDateTime, metadata
from elearning_adapters.sql.enrollment import enrollments
from elearning_adapters.sql.identity import users
from elearning_core.entitlement.model import CourseOffer, Grant, GrantStatus, Source
from elearning_core.entitlement.ports import AccessReads, CourseKey, EntitlementStore, Grants, Offers
from elearning_core.shared.errors import NotFound
from elearning_core.shared.events import DomainEvent, EventLog, RecordsEvents

course_offers = Table(
    "course_offers",
    metadata,
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True),
    Column("paid", Boolean, nullable=False),
    Column("audit_track", Boolean, nullable=False),
    Column("paid_since", UtcDateTime, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)

entitlement_grants = Table(
    "entitlement_grants",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # NULL: every course (a plan or seat that includes all courses).
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=True),
    Column("source", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=True),
    Column("reference", String(200), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
# The check's read (one user, one course) and "my entitlements" (one user): one index serves both.
Index("ix_entitlement_grants_user_course", entitlement_grants.c.user_id, entitlement_grants.c.course_id)

ENTITLEMENT_TABLES = ("entitlement_grants", "course_offers")


def _offer_query(course_id: uuid.UUID) -> Any:
    return select(course_offers).where(course_offers.c.course_id == course_id)


def _grants_query(user_id: uuid.UUID, course_id: uuid.UUID) -> Any:
    grants = entitlement_grants
    return (
        select(grants)
        .where(grants.c.user_id == user_id, or_(grants.c.course_id == course_id, grants.c.course_id.is_(None)))
        .order_by(grants.c.starts_at, grants.c.id)
    )


def _user_grants_query(user_id: uuid.UUID) -> Any:
    grants = entitlement_grants
    return select(grants).where(grants.c.user_id == user_id).order_by(grants.c.starts_at, grants.c.id)


def _offer(row: Any) -> CourseOffer:
    return CourseOffer(row["course_id"], bool(row["paid"]), bool(row["audit_track"]), row["paid_since"])


def _grant(row: Any) -> Grant:
    return Grant(
        row["user_id"],
        row["course_id"],
        Source(row["source"]),
        GrantStatus(row["status"]),
        row["starts_at"],
        row["ends_at"],
        row["reference"],
        row["id"],
    )


class SqlEntitlementReads(Offers, Grants, AccessReads):
    """What the check reads, each in a short read of its own (the cache's miss path)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def offer(self, course_id: uuid.UUID) -> CourseOffer | None:
        async with self._db.read() as conn:
            row = (await conn.execute(_offer_query(course_id))).mappings().first()
        return None if row is None else _offer(row)

    async def grants(self, user_id: uuid.UUID, course_id: uuid.UUID) -> Sequence[Grant]:
        async with self._db.read() as conn:
            rows = (await conn.execute(_grants_query(user_id, course_id))).mappings().all()
        return [_grant(r) for r in rows]

    async def grants_of_user(self, user_id: uuid.UUID) -> Sequence[Grant]:
        """Every grant of the user, all courses (what the cache keeps per user)."""
        async with self._db.read() as conn:
            rows = (await conn.execute(_user_grants_query(user_id))).mappings().all()
        return [_grant(r) for r in rows]

    async def offer_and_grants(
        self, user_id: uuid.UUID | None, course_id: uuid.UUID
    ) -> tuple[CourseOffer | None, Sequence[Grant]]:
        """Uncached (no cache configured): the offer, and the grants only for a paid course, in one connection."""
        async with self._db.read() as conn:
            row = (await conn.execute(_offer_query(course_id))).mappings().first()
            offer = None if row is None else _offer(row)
            if offer is None or not offer.paid or user_id is None:
                return offer, ()
            rows = (await conn.execute(_grants_query(user_id, course_id))).mappings().all()
        return offer, [_grant(r) for r in rows]


class SqlEntitlementStore(EntitlementStore):
    """The write side, on the unit of work's connection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._recorded = EventLog()

    def record(self, event: DomainEvent) -> None:
        self._recorded.append(event)

    def seen(self) -> list[RecordsEvents]:
        return [self._recorded]

    async def offer(self, course_id: uuid.UUID) -> CourseOffer | None:
        row = (await self._conn.execute(_offer_query(course_id))).mappings().first()
        return None if row is None else _offer(row)

    async def save_offer(self, offer: CourseOffer, at: datetime) -> None:
        values = {
            "paid": offer.paid,
            "audit_track": offer.audit_track,
            "paid_since": offer.paid_since,
            "updated_at": at,
        }
        insert = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        statement = insert(course_offers).values(course_id=offer.course_id, **values)
        await self._conn.execute(statement.on_conflict_do_update(index_elements=["course_id"], set_=values))

    async def grants(self, user_id: uuid.UUID, course_id: uuid.UUID) -> Sequence[Grant]:
        rows = (await self._conn.execute(_grants_query(user_id, course_id))).mappings().all()
        return [_grant(r) for r in rows]

    async def add_grant(self, grant: Grant, at: datetime) -> None:
        known = await self._conn.execute(select(exists().where(users.c.id == grant.user_id)))
        if not known.scalar():
            raise NotFound("user", grant.user_id)
        await self._conn.execute(entitlement_grants.insert().values(**_grant_row(grant), updated_at=at))

    async def grant(self, grant_id: uuid.UUID) -> Grant | None:
        query = select(entitlement_grants).where(entitlement_grants.c.id == grant_id)
        if self._conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await self._conn.execute(query)).mappings().first()
        return None if row is None else _grant(row)

    async def save_grant(self, grant: Grant, at: datetime) -> None:
        await self._conn.execute(
            update(entitlement_grants)
            .where(entitlement_grants.c.id == grant.id)
            .values(status=grant.status.value, ends_at=grant.ends_at, updated_at=at)
        )

    async def grants_of_user(self, user_id: uuid.UUID) -> Sequence[Grant]:
        return [_grant(r) for r in (await self._conn.execute(_user_grants_query(user_id))).mappings().all()]

    async def courses_of_user(self, user_id: uuid.UUID, after: CourseKey | None, limit: int) -> list[uuid.UUID]:
        granted = select(entitlement_grants.c.course_id.label("course_id")).where(
            entitlement_grants.c.user_id == user_id, entitlement_grants.c.course_id.is_not(None)
        )
        enrolled = select(enrollments.c.course_id.label("course_id")).where(enrollments.c.user_id == user_id)
        if after is not None:
            granted = granted.where(entitlement_grants.c.course_id > after)
            enrolled = enrolled.where(enrollments.c.course_id > after)
        both = union(granted, enrolled).subquery()
        query = select(both.c.course_id).order_by(both.c.course_id).limit(limit)
        return list((await self._conn.execute(query)).scalars())


def _grant_row(grant: Grant) -> dict[str, Any]:
    return {
        "id": grant.id,
        "user_id": grant.user_id,
        "course_id": grant.course_id,
        "source": grant.source.value,
        "status": grant.status.value,
        "starts_at": grant.starts_at,
        "ends_at": grant.ends_at,
        "reference": grant.reference,
    }
