"""Narrow reads of the enrollment, identity and course tables: who the caller is in a course, and authors."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import (
    and_,
    select,
)

from elearning_adapters.sql.course import course_lessons, courses
from elearning_adapters.sql.discussion._tables import (
    _staff_grant,
)
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.enrollment import cohorts, enrollments
from elearning_adapters.sql.identity import users
from elearning_core.auth.model import ResourceRef, ScopeKind
from elearning_core.discussion.ports import (
    Author,
    Authors,
    CourseMembers,
    Membership,
)


class SqlCourseMembers(CourseMembers):
    """Reads of the enrollment, identity (grants) and course tables: what the discussion needs of them."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def standing(self, course_id: uuid.UUID, user_id: uuid.UUID | None) -> tuple[ResourceRef, Membership] | None:
        e = enrollments
        joined = and_(e.c.course_id == courses.c.id, e.c.user_id == user_id, e.c.status.in_(("active", "completed")))
        query = (
            select(courses.c.owner_id, courses.c.organization_id, e.c.id.label("enrollment_id"), e.c.cohort_id)
            .select_from(courses.outerjoin(e, joined))
            .where(courses.c.id == course_id)
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        ref = ResourceRef(ScopeKind.COURSE, course_id, organization_id=row.organization_id, owner_id=row.owner_id)
        return ref, Membership(staff=False, enrolled=row.enrollment_id is not None, cohort_id=row.cohort_id)

    async def audience(self, course_id: uuid.UUID, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Membership]:
        ids = list(user_ids)
        if not ids:
            return {}
        e, u = enrollments, users
        query = (
            select(
                u.c.id,
                _staff_grant(u.c.id, course_id).label("staff"),
                e.c.cohort_id,
                e.c.id.is_not(None).label("enrolled"),
            )
            .select_from(
                u.outerjoin(
                    e,
                    and_(e.c.user_id == u.c.id, e.c.course_id == course_id, e.c.status.in_(("active", "completed"))),
                )
            )
            .where(u.c.id.in_(ids), u.c.status != "deleted")
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return {
            r["id"]: Membership(staff=bool(r["staff"]), enrolled=bool(r["enrolled"]), cohort_id=r["cohort_id"])
            for r in rows
            if r["staff"] or r["enrolled"]
        }

    async def lesson_title(self, course_id: uuid.UUID, lesson_id: uuid.UUID) -> str | None:
        lesson = course_lessons
        query = select(lesson.c.title).where(lesson.c.id == lesson_id, lesson.c.course_id == course_id)
        async with self._db.read() as conn:
            return (await conn.execute(query)).scalar_one_or_none()

    async def is_cohort(self, course_id: uuid.UUID, cohort_id: uuid.UUID) -> bool:
        query = select(cohorts.c.id).where(cohorts.c.id == cohort_id, cohorts.c.course_id == course_id)
        async with self._db.read() as conn:
            return (await conn.execute(query)).scalar_one_or_none() is not None


class SqlAuthors(Authors):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def authors(self, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Author]:
        ids = list(user_ids)
        if not ids:
            return {}
        u = users
        async with self._db.read() as conn:
            rows = (await conn.execute(select(u.c.id, u.c.display_name, u.c.status).where(u.c.id.in_(ids)))).all()
        return {r[0]: Author(r[1], r[2] == "deleted") for r in rows}
