"""The enrollment ids of (course, learner) pairs, read from the enrollment module's table."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import column, select, table, tuple_
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
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = await conn.execute(
            select(e.c.course_id, e.c.user_id, e.c.id).where(tuple_(e.c.course_id, e.c.user_id).in_(chunk))
        )
        found.update({(course_id, user_id): ident for course_id, user_id, ident in rows})
    return found
