"""Enrollment tables, their repositories, the enrollment queries and the module's narrow reads of others.

Seats and concurrency: ``SqlEnrollmentSettingsRepository.lock`` takes the
course's settings row ``FOR UPDATE`` on PostgreSQL (inserting the default row
first when the course has none, ``ON CONFLICT DO NOTHING``, so there always is
a row to lock). Every use case that changes an enrollment takes it first, so
per course they run one after another and each counts the seats committed
before it (READ COMMITTED takes a fresh snapshot per statement). SQLite
serialises write transactions already (``BEGIN IMMEDIATE`` plus the
in-process write lock), where ``FOR UPDATE`` is neither needed nor rendered.

One enrollment row per (course, learner), for ever (``uq_enrollments_course_id_user_id``):
unenrolling sets the status, enrolling again reactivates the row. A plain
unique key holds on both backends without partial indexes; a duplicate
insert that slipped past the lock would fail the commit with a Conflict.

No foreign keys to ``courses`` or ``users``: those belong to other modules
(as ``courses.owner_id`` does not reference ``users``). ``enrollments.cohort_id``
references ``cohorts`` (this module's own), ``ON DELETE SET NULL``.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    and_,
    column,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import JSON, Uuid

from elearning_adapters.sql.engine import Database, UtcDateTime, dialect_insert, metadata
from elearning_adapters.sql.identity import users
from elearning_core.enrollment.model import (
    Cohort,
    Enrollment,
    EnrollmentPolicy,
    EnrollmentSource,
    EnrollmentStatus,
)
from elearning_core.enrollment.ports import (
    CohortRepository,
    CourseLookup,
    EnrollmentRepository,
    EnrollmentSettingsRepository,
    LearnerLookup,
    SeatHoldRepository,
)
from elearning_core.enrollment.queries import (
    EnrollmentFilter,
    EnrollmentQueries,
    EnrollmentView,
    LearnerEnrollmentKey,
    LearnerEnrollmentView,
)
from elearning_core.shared.errors import Conflict

ENROLLMENT_TABLES = ("enrollments", "cohorts", "course_enrollment_settings")
"""This module's tables, children first (an order that deletes cleanly)."""

ALREADY_ENROLLED = "the learner is already enrolled in this course"
COHORT_NAME_TAKEN = "the course already has a cohort with this name"

course_enrollment_settings = Table(
    "course_enrollment_settings",
    metadata,
    Column("course_id", Uuid, primary_key=True),
    Column("self_enrollment", Boolean, nullable=False),
    Column("capacity", Integer, nullable=True),
    Column("opens_at", UtcDateTime, nullable=True),
    Column("closes_at", UtcDateTime, nullable=True),
    Column("prerequisites", JSON, nullable=False),  # course ids, as strings
)

cohorts = Table(
    "cohorts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("course_id", Uuid, nullable=False),
    Column("name", String(100), nullable=False),
    Column("capacity", Integer, nullable=True),
    Column("starts_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("course_id", "name"),
)

enrollments = Table(
    "enrollments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("course_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("cohort_id", Uuid, ForeignKey("cohorts.id", ondelete="SET NULL"), nullable=True),
    Column("status", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("enrolled_at", UtcDateTime, nullable=False),
    Column("completed_at", UtcDateTime, nullable=True),
    Column("unenrolled_at", UtcDateTime, nullable=True),
    UniqueConstraint("course_id", "user_id"),
)
# "Is this learner enrolled?" (playback checks, my enrollments) and the prerequisite check: index-only.
Index("ix_enrollments_user_id_course_id_status", enrollments.c.user_id, enrollments.c.course_id, enrollments.c.status)
# The staff listing of a course's enrollments, paged in id order (keyset).
Index("ix_enrollments_course_id_id", enrollments.c.course_id, enrollments.c.id)
# Seats taken in a course or a cohort (counted under the course's lock on every enrollment).
Index(
    "ix_enrollments_course_id_status_cohort_id", enrollments.c.course_id, enrollments.c.status, enrollments.c.cohort_id
)

# The course module's table, as far as this module reads it (no import of the course adapter).
_courses = table(
    "courses", column("id", Uuid), column("slug", String), column("title", String), column("status", String)
)


# -- mapping ---------------------------------------------------------------------------


def _policy_row(policy: EnrollmentPolicy) -> dict[str, Any]:
    return {
        "self_enrollment": policy.self_enrollment,
        "capacity": policy.capacity,
        "opens_at": policy.opens_at,
        "closes_at": policy.closes_at,
        "prerequisites": [str(c) for c in policy.prerequisites],
    }


def _policy_from(row: Any) -> EnrollmentPolicy:
    return EnrollmentPolicy(
        course_id=row.course_id,
        self_enrollment=row.self_enrollment,
        capacity=row.capacity,
        opens_at=row.opens_at,
        closes_at=row.closes_at,
        prerequisites=tuple(uuid.UUID(c) for c in row.prerequisites),
    )


def _cohort_row(cohort: Cohort) -> dict[str, Any]:
    return {"name": cohort.name, "capacity": cohort.capacity, "starts_at": cohort.starts_at}


def _cohort_from(row: Any) -> Cohort:
    return Cohort(row.id, row.course_id, row.name, row.capacity, row.starts_at, row.created_at)


def _enrollment_row(e: Enrollment) -> dict[str, Any]:
    return {
        "cohort_id": e.cohort_id,
        "status": e.status.value,
        "source": e.source.value,
        "enrolled_at": e.enrolled_at,
        "completed_at": e.completed_at,
        "unenrolled_at": e.unenrolled_at,
    }


def _enrollment_from(row: Any) -> Enrollment:
    return Enrollment(
        id=row.id,
        course_id=row.course_id,
        user_id=row.user_id,
        cohort_id=row.cohort_id,
        status=EnrollmentStatus(row.status),
        source=EnrollmentSource(row.source),
        enrolled_at=row.enrolled_at,
        completed_at=row.completed_at,
        unenrolled_at=row.unenrolled_at,
    )


def _view_from(row: Any) -> EnrollmentView:
    return EnrollmentView.of(_enrollment_from(row))


# Seats held by checkouts waiting for their payment (one per order): counted with the active enrollments
# under the course's settings lock; a hold past ``expires_at`` no longer counts, even before the
# ``checkout.expire-holds`` job deletes it.
seat_holds = Table(
    "seat_holds",
    metadata,
    Column("reference", String(64), primary_key=True),
    Column("course_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)
Index("ix_seat_holds_course_id_expires_at", seat_holds.c.course_id, seat_holds.c.expires_at)


# -- repositories (in the unit of work's transaction) --------------------------------------


class SqlEnrollmentSettingsRepository(EnrollmentSettingsRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, course_id: uuid.UUID) -> EnrollmentPolicy:
        query = select(course_enrollment_settings).where(course_enrollment_settings.c.course_id == course_id)
        row = (await self._conn.execute(query)).first()
        return _policy_from(row) if row is not None else EnrollmentPolicy.default(course_id)

    async def lock(self, course_id: uuid.UUID) -> EnrollmentPolicy:
        query = (
            select(course_enrollment_settings)
            .where(course_enrollment_settings.c.course_id == course_id)
            .with_for_update()
        )
        row = (await self._conn.execute(query)).first()
        if row is None:
            defaults = EnrollmentPolicy.default(course_id)
            await self._conn.execute(
                dialect_insert(self._conn, course_enrollment_settings)
                .values(course_id=course_id, **_policy_row(defaults))
                .on_conflict_do_nothing()
            )
            row = (await self._conn.execute(query)).one()
        return _policy_from(row)

    async def save(self, policy: EnrollmentPolicy) -> None:
        values = _policy_row(policy)
        stmt = dialect_insert(self._conn, course_enrollment_settings).values(course_id=policy.course_id, **values)
        await self._conn.execute(stmt.on_conflict_do_update(index_elements=["course_id"], set_=values))


class SqlCohortRepository(CohortRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, cohort_id: uuid.UUID) -> Cohort | None:
        row = (await self._conn.execute(select(cohorts).where(cohorts.c.id == cohort_id))).first()
        return _cohort_from(row) if row is not None else None

    async def lock(self, cohort_id: uuid.UUID) -> Cohort | None:
        query = select(cohorts).where(cohorts.c.id == cohort_id).with_for_update()
        row = (await self._conn.execute(query)).first()
        return _cohort_from(row) if row is not None else None

    async def name_taken(self, course_id: uuid.UUID, name: str, *, other_than: uuid.UUID | None = None) -> bool:
        where = and_(cohorts.c.course_id == course_id, cohorts.c.name == name)
        if other_than is not None:
            where = and_(where, cohorts.c.id != other_than)
        return bool((await self._conn.execute(select(exists().where(where)))).scalar())

    async def add(self, cohort: Cohort) -> None:
        row = {"id": cohort.id, "course_id": cohort.course_id, "created_at": cohort.created_at, **_cohort_row(cohort)}
        await self._write(insert(cohorts).values(**row))

    async def save(self, cohort: Cohort) -> None:
        await self._write(update(cohorts).where(cohorts.c.id == cohort.id).values(**_cohort_row(cohort)))

    async def _write(self, statement: Any) -> None:
        try:
            await self._conn.execute(statement)
        except IntegrityError:
            raise Conflict(COHORT_NAME_TAKEN) from None

    async def remove(self, cohort_id: uuid.UUID) -> None:
        # Explicitly as well as by ON DELETE SET NULL: SQLite enforces the latter only with foreign_keys on.
        await self._conn.execute(update(enrollments).where(enrollments.c.cohort_id == cohort_id).values(cohort_id=None))
        await self._conn.execute(delete(cohorts).where(cohorts.c.id == cohort_id))

    async def list(self, course_id: uuid.UUID) -> builtins.list[Cohort]:
        query = select(cohorts).where(cohorts.c.course_id == course_id).order_by(cohorts.c.created_at, cohorts.c.id)
        return [_cohort_from(r) for r in await self._conn.execute(query)]


class SqlEnrollmentRepository(EnrollmentRepository):
    """Loaded and added enrollments are written by ``flush`` (at commit, or before a count reads the table)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._seen: dict[uuid.UUID, Enrollment] = {}
        self._stored: dict[uuid.UUID, dict[str, Any] | None] = {}  # None: not in the database yet

    async def get(self, enrollment_id: uuid.UUID) -> Enrollment | None:
        if enrollment_id in self._seen:
            return self._seen[enrollment_id]
        return await self._load(enrollments.c.id == enrollment_id)

    async def find(self, course_id: uuid.UUID, user_id: uuid.UUID) -> Enrollment | None:
        for enrollment in self._seen.values():
            if enrollment.course_id == course_id and enrollment.user_id == user_id:
                return enrollment
        return await self._load(and_(enrollments.c.course_id == course_id, enrollments.c.user_id == user_id))

    def add(self, enrollment: Enrollment) -> None:
        self._seen[enrollment.id] = enrollment
        self._stored[enrollment.id] = None

    def seen(self) -> Iterable[Enrollment]:
        return self._seen.values()

    async def count_active(self, course_id: uuid.UUID, cohort_id: uuid.UUID | None = None) -> int:
        await self.flush()
        where = and_(enrollments.c.course_id == course_id, enrollments.c.status == EnrollmentStatus.ACTIVE.value)
        if cohort_id is not None:
            where = and_(where, enrollments.c.cohort_id == cohort_id)
        return int((await self._conn.execute(select(func.count()).where(where))).scalar_one())

    async def _load(self, where: Any) -> Enrollment | None:
        row = (await self._conn.execute(select(enrollments).where(where))).first()
        if row is None:
            return None
        if row.id in self._seen:
            return self._seen[row.id]
        enrollment = _enrollment_from(row)
        self._seen[enrollment.id] = enrollment
        self._stored[enrollment.id] = _enrollment_row(enrollment)
        return enrollment

    async def flush(self) -> None:
        """Insert the new enrollments and update the changed ones (the course's lock rules out lost updates)."""
        for enrollment_id, enrollment in self._seen.items():
            row, stored = _enrollment_row(enrollment), self._stored[enrollment_id]
            if stored is None:
                await self._conn.execute(
                    insert(enrollments).values(
                        id=enrollment.id, course_id=enrollment.course_id, user_id=enrollment.user_id, **row
                    )
                )
            elif row != stored:
                await self._conn.execute(update(enrollments).where(enrollments.c.id == enrollment_id).values(**row))
            else:
                continue
            self._stored[enrollment_id] = row


# -- reads (outside any unit of work) --------------------------------------------------------


class SqlSeatHoldRepository(SeatHoldRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, course_id: uuid.UUID, reference: str, user_id: uuid.UUID, until: datetime) -> None:
        values = {"reference": reference, "course_id": course_id, "user_id": user_id, "expires_at": until}
        await self._conn.execute(dialect_insert(self._conn, seat_holds).values(**values).on_conflict_do_nothing())

    async def release(self, reference: str) -> bool:
        result = await self._conn.execute(delete(seat_holds).where(seat_holds.c.reference == reference))
        return bool(result.rowcount)

    async def count_live(self, course_id: uuid.UUID, at: datetime, *, other_than: str | None = None) -> int:
        where = and_(seat_holds.c.course_id == course_id, seat_holds.c.expires_at > at)
        if other_than is not None:
            where = and_(where, seat_holds.c.reference != other_than)
        return int((await self._conn.execute(select(func.count()).where(where))).scalar_one())


class SqlEnrollmentQueries(EnrollmentQueries):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_enrollments(
        self, course_id: uuid.UUID, where: EnrollmentFilter, after: uuid.UUID | None, limit: int
    ) -> list[EnrollmentView]:
        query = select(enrollments).where(enrollments.c.course_id == course_id)
        if where.status is not None:
            query = query.where(enrollments.c.status == where.status.value)
        if where.cohort_id is not None:
            query = query.where(enrollments.c.cohort_id == where.cohort_id)
        if after is not None:
            query = query.where(enrollments.c.id > after)
        async with self._db.read() as conn:
            rows = (await conn.execute(query.order_by(enrollments.c.id).limit(limit))).all()
        return [_view_from(r) for r in rows]

    async def enrollments_of(
        self, user_id: uuid.UUID, after: LearnerEnrollmentKey | None, limit: int
    ) -> list[LearnerEnrollmentView]:
        # A learner has tens of enrollments: the (user_id, ...) index finds them, the sort is small.
        query = (
            select(enrollments, _courses.c.title.label("course_title"), _courses.c.slug.label("course_slug"))
            .join(_courses, _courses.c.id == enrollments.c.course_id)
            .where(enrollments.c.user_id == user_id)
            .order_by(enrollments.c.enrolled_at.desc(), enrollments.c.id.desc())
            .limit(limit)
        )
        if after is not None:
            at, last_id = after
            query = query.where(
                or_(
                    enrollments.c.enrolled_at < at,
                    and_(enrollments.c.enrolled_at == at, enrollments.c.id < last_id),
                )
            )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [LearnerEnrollmentView(_view_from(r), r.course_title, r.course_slug) for r in rows]

    async def is_enrolled(self, user_id: uuid.UUID, course_id: uuid.UUID) -> bool:
        query = select(
            exists().where(
                enrollments.c.course_id == course_id,
                enrollments.c.user_id == user_id,
                enrollments.c.status.in_([EnrollmentStatus.ACTIVE.value, EnrollmentStatus.COMPLETED.value]),
            )
        )
        async with self._db.read() as conn:
            return bool((await conn.execute(query)).scalar())

    async def active_counts(self, course_id: uuid.UUID) -> tuple[int, dict[uuid.UUID, int]]:
        query = (
            select(enrollments.c.cohort_id, func.count())
            .where(enrollments.c.course_id == course_id, enrollments.c.status == EnrollmentStatus.ACTIVE.value)
            .group_by(enrollments.c.cohort_id)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        per_cohort = {r[0]: int(r[1]) for r in rows if r[0] is not None}
        return sum(int(r[1]) for r in rows), per_cohort


class SqlCourseLookup(CourseLookup):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def published(self, course_id: uuid.UUID) -> bool:
        query = select(exists().where(_courses.c.id == course_id, _courses.c.status == "published"))
        async with self._db.read() as conn:
            return bool((await conn.execute(query)).scalar())

    async def id_by_slug(self, slug: str) -> uuid.UUID | None:
        async with self._db.read() as conn:
            found = (await conn.execute(select(_courses.c.id).where(_courses.c.slug == slug))).scalar()
        return found if isinstance(found, uuid.UUID) else None


class SqlLearnerLookup(LearnerLookup):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def active(self, user_id: uuid.UUID) -> bool:
        query = select(exists().where(users.c.id == user_id, users.c.status == "active"))
        async with self._db.read() as conn:
            return bool((await conn.execute(query)).scalar())
