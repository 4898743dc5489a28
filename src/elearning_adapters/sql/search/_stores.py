"""The search module's small stores: the admins' synonyms, the query log and its report, and the
narrow read of the enrollment and course tables that says which courses and cohorts a caller is in."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import case, delete, func, insert, or_, select

from elearning_adapters.sql.course import courses
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.enrollment import enrollments
from elearning_adapters.sql.search._tables import search_queries, search_synonyms
from elearning_core.search.model import QueryCount, QueryReport, Viewer
from elearning_core.search.ports import QueryLog, SearchAudience, Synonyms
from elearning_core.shared.ports import Principal


class SqlSynonyms(Synonyms):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def all(self) -> dict[str, tuple[str, ...]]:
        async with self._db.read() as conn:
            rows = (await conn.execute(select(search_synonyms).order_by(search_synonyms.c.term))).all()
        return {term: tuple(synonyms) for term, synonyms in rows}

    async def put(self, term: str, synonyms: tuple[str, ...]) -> None:
        async with self._db.write() as conn:
            await conn.execute(delete(search_synonyms).where(search_synonyms.c.term == term))
            await conn.execute(insert(search_synonyms).values(term=term, synonyms=list(synonyms)))
            await conn.commit()

    async def delete(self, term: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(delete(search_synonyms).where(search_synonyms.c.term == term))
            await conn.commit()
        return bool(result.rowcount)


class SqlQueryLog(QueryLog):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def record(self, text: str, results: int, at: datetime) -> None:
        async with self._db.write() as conn:
            await conn.execute(insert(search_queries).values(text=text, results=results, at=at))
            await conn.commit()

    async def report(self, since: datetime, limit: int) -> QueryReport:
        q = search_queries
        zero = func.sum(case((q.c.results == 0, 1), else_=0))
        base = select(q.c.text, func.count().label("n"), zero.label("z")).where(q.c.at >= since).group_by(q.c.text)
        async with self._db.read() as conn:
            frequent = (await conn.execute(base.order_by(func.count().desc(), q.c.text).limit(limit))).all()
            zeros = (await conn.execute(base.having(zero > 0).order_by(zero.desc(), q.c.text).limit(limit))).all()
        return QueryReport(
            [QueryCount(t, int(n), int(z)) for t, n, z in frequent],
            [QueryCount(t, int(n), int(z)) for t, n, z in zeros],
        )


class SqlSearchAudience(SearchAudience):
    """The courses a user is enrolled in (active or completed) with their cohorts, and the courses they own or
    that belong to the organizations the service names as theirs to staff."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def viewer(self, principal: Principal, staff_of: Collection[uuid.UUID] = ()) -> Viewer:
        user = principal.user_id
        if user is None:
            return Viewer()
        e = enrollments
        mine = select(e.c.course_id, e.c.cohort_id).where(e.c.user_id == user, e.c.status.in_(("active", "completed")))
        staffed = select(courses.c.id).where(
            or_(courses.c.owner_id == user, courses.c.organization_id.in_(list(staff_of)))
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(mine)).all()
            own = set((await conn.execute(staffed)).scalars())
        return Viewer(
            enrolled=frozenset(r.course_id for r in rows),
            cohorts=frozenset(r.cohort_id for r in rows if r.cohort_id is not None),
            staff=frozenset(own),
        )
