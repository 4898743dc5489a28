"""The enrollment ids of (course, learner) pairs, read from the enrollment module's table."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import and_, bindparam, column, func, select, table, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Uuid

from elearning_core.analytics.ports import RegistrationKey

# The enrollment module's table, as far as this module reads it (no import of the enrollment adapter).
_enrollments = table("enrollments", column("id", Uuid), column("course_id", Uuid), column("user_id", Uuid))
_CHUNK = 500


async def registrations_of(conn: AsyncConnection, pairs: Sequence[RegistrationKey]) -> dict[RegistrationKey, uuid.UUID]:
    wanted = sorted(set(pairs))
    found: dict[RegistrationKey, uuid.UUID] = {}
    e = _enrollments
    if conn.dialect.name == "postgresql":
        # One join with the pairs as two arrays: an IN list of hundreds of row values took ~30 ms a batch to plan.
        courses = bindparam("courses", [c for c, _ in wanted], type_=ARRAY(Uuid))
        users = bindparam("users", [u for _, u in wanted], type_=ARRAY(Uuid))
        w = func.unnest(courses, users).table_valued("course_id", "user_id").render_derived(name="wanted")
        on = and_(e.c.course_id == w.c.course_id, e.c.user_id == w.c.user_id)
        rows = await conn.execute(select(e.c.course_id, e.c.user_id, e.c.id).select_from(e.join(w, on)))
        return {(course_id, user_id): ident for course_id, user_id, ident in rows}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = await conn.execute(
            select(e.c.course_id, e.c.user_id, e.c.id).where(tuple_(e.c.course_id, e.c.user_id).in_(chunk))
        )
        found.update({(course_id, user_id): ident for course_id, user_id, ident in rows})
    return found
