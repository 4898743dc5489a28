"""The auth module's narrow read port onto other modules' resources (``ResourceDirectory``).

Granting a course role or explaining permissions on a course needs the
course's organization and owner; this reads just those two columns instead
of loading the course aggregate through another module's service.
"""

from __future__ import annotations

import uuid

from sqlalchemy import exists, select

from elearning_adapters.sql.course import courses
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.identity import organizations
from elearning_core.auth.model import ResourceRef, ScopeKind
from elearning_core.auth.ports import ResourceDirectory


class SqlResourceDirectory(ResourceDirectory):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def course(self, course_id: uuid.UUID) -> ResourceRef | None:
        query = select(courses.c.owner_id, courses.c.organization_id).where(courses.c.id == course_id)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return ResourceRef(ScopeKind.COURSE, course_id, organization_id=row.organization_id, owner_id=row.owner_id)

    async def organization_exists(self, organization_id: uuid.UUID) -> bool:
        async with self._db.read() as conn:
            return bool((await conn.execute(select(exists().where(organizations.c.id == organization_id)))).scalar())
