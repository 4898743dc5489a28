"""Learning path tables, their repositories, the path queries and the module's narrow read of courses.

A path's parts and prerequisites are JSON columns of its row: they are read
and written with the path, whole, and never queried into (the projection
finds a learner's paths through ``path_enrollments``, a handful per learner).

``path_course_completions`` is the projection's raw facts (one row per
learner and completed course, deleted by a progress reset), from which path
progress is derived; ``path_course_outcomes`` records what became of enrolling
a path's learner into each of its courses (enrolled, or refused and why).

No foreign keys to ``courses`` or ``users``: those belong to other modules.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    column,
    delete,
    exists,
    insert,
    select,
    table,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import JSON, Uuid

from elearning_adapters.sql.engine import Database, UtcDateTime, dialect_insert, metadata
from elearning_core.learning_path.model import (
    CourseOutcome,
    CourseOutcomeStatus,
    LearningPath,
    PartKind,
    PathEnrollment,
    PathPart,
    PathStatus,
)
from elearning_core.learning_path.ports import (
    CourseBrief,
    CourseCompletionRepository,
    LearningPathRepository,
    PathCourses,
    PathEnrollmentRepository,
)
from elearning_core.learning_path.queries import LearningPathQueries

LEARNING_PATH_TABLES = ("path_course_outcomes", "path_enrollments", "learning_paths", "path_course_completions")
"""This module's tables, children first (an order that deletes cleanly)."""

learning_paths = Table(
    "learning_paths",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("slug", String(80), nullable=False, unique=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("parts", JSON, nullable=False),
    Column("prerequisites", JSON, nullable=False),  # course ids, as strings
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime, nullable=True),
)
# The catalog of paths, paged in id order per status (keyset).
Index("ix_learning_paths_status_id", learning_paths.c.status, learning_paths.c.id)

path_enrollments = Table(
    "path_enrollments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("path_id", Uuid, ForeignKey("learning_paths.id"), nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("enrolled_at", UtcDateTime, nullable=False),
    Column("completed_at", UtcDateTime, nullable=True),
    UniqueConstraint("path_id", "user_id"),
)
# A learner's paths (their list, and the projection's lookup on each course completion).
Index("ix_path_enrollments_user_id_id", path_enrollments.c.user_id, path_enrollments.c.id)

path_course_outcomes = Table(
    "path_course_outcomes",
    metadata,
    Column("path_enrollment_id", Uuid, ForeignKey("path_enrollments.id", ondelete="CASCADE"), primary_key=True),
    Column("course_id", Uuid, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("reason", String(64), nullable=True),
    Column("detail", String(1000), nullable=True),
    Column("recorded_at", UtcDateTime, nullable=False),
)

path_course_completions = Table(
    "path_course_completions",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("course_id", Uuid, primary_key=True),
    Column("completed_at", UtcDateTime, nullable=False),
)

# The course module's table, as far as this module reads it (no import of the course adapter).
_courses = table(
    "courses", column("id", Uuid), column("slug", String), column("title", String), column("status", String)
)


# -- mapping ---------------------------------------------------------------------------


def _parts_json(parts: Iterable[PathPart]) -> list[dict[str, Any]]:
    return [
        {
            "kind": p.kind.value,
            "course_ids": [str(c) for c in p.course_ids],
            "required_count": p.required_count,
            "title": p.title,
        }
        for p in parts
    ]


def _parts_from(data: list[dict[str, Any]]) -> list[PathPart]:
    return [
        PathPart(
            PartKind(p["kind"]), tuple(uuid.UUID(c) for c in p["course_ids"]), int(p["required_count"]), p["title"]
        )
        for p in data
    ]


def _path_row(path: LearningPath) -> dict[str, Any]:
    return {
        "slug": path.slug,
        "title": path.title,
        "description": path.description,
        "status": path.status.value,
        "parts": _parts_json(path.parts),
        "prerequisites": [str(c) for c in path.prerequisites],
        "updated_at": path.updated_at,
        "published_at": path.published_at,
    }


def _path_from(row: Any) -> LearningPath:
    return LearningPath(
        id=row.id,
        slug=row.slug,
        title=row.title,
        description=row.description,
        status=PathStatus(row.status),
        parts=_parts_from(row.parts),
        prerequisites=tuple(uuid.UUID(c) for c in row.prerequisites),
        created_at=row.created_at,
        updated_at=row.updated_at,
        published_at=row.published_at,
    )


def _enrollment_from(row: Any) -> PathEnrollment:
    return PathEnrollment(row.id, row.path_id, row.user_id, row.enrolled_at, row.completed_at)


# -- repositories (in the unit of work's transaction) --------------------------------------


class _Tracked:
    """Loaded and added aggregates, written by ``flush`` when they changed (or are new)."""

    def __init__(self, conn: AsyncConnection, target: Table) -> None:
        self._conn, self._table = conn, target
        self._seen: dict[uuid.UUID, Any] = {}
        self._stored: dict[uuid.UUID, dict[str, Any] | None] = {}  # None: not in the database yet

    def _row(self, aggregate: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _keys(self, aggregate: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _track(self, aggregate: Any, *, new: bool) -> Any:
        if aggregate.id in self._seen:
            return self._seen[aggregate.id]
        self._seen[aggregate.id] = aggregate
        self._stored[aggregate.id] = None if new else self._row(aggregate)
        return aggregate

    def seen(self) -> Iterable[Any]:
        return self._seen.values()

    async def flush(self) -> None:
        for key, aggregate in self._seen.items():
            row, stored = self._row(aggregate), self._stored[key]
            if stored is None:
                await self._conn.execute(insert(self._table).values(id=key, **self._keys(aggregate), **row))
            elif row != stored:
                await self._conn.execute(update(self._table).where(self._table.c.id == key).values(**row))
            else:
                continue
            self._stored[key] = row


class SqlLearningPathRepository(_Tracked, LearningPathRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        super().__init__(conn, learning_paths)

    def _row(self, aggregate: Any) -> dict[str, Any]:
        return _path_row(aggregate)

    def _keys(self, aggregate: Any) -> dict[str, Any]:
        return {"created_at": aggregate.created_at}

    async def get(self, path_id: uuid.UUID) -> LearningPath | None:
        if path_id in self._seen:
            return self._seen[path_id]  # type: ignore[no-any-return]
        return await self._load(learning_paths.c.id == path_id)

    async def by_slug(self, slug: str) -> LearningPath | None:
        return await self._load(learning_paths.c.slug == slug)

    async def get_many(self, path_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, LearningPath]:
        missing = [p for p in path_ids if p not in self._seen]
        if missing:
            for row in await self._conn.execute(select(learning_paths).where(learning_paths.c.id.in_(missing))):
                self._track(_path_from(row), new=False)
        return {p: self._seen[p] for p in path_ids if p in self._seen}

    async def _load(self, where: Any) -> LearningPath | None:
        row = (await self._conn.execute(select(learning_paths).where(where))).first()
        return self._track(_path_from(row), new=False) if row is not None else None

    def add(self, path: LearningPath) -> None:
        self._track(path, new=True)

    async def slug_taken(self, slug: str, *, other_than: uuid.UUID | None = None) -> bool:
        where = learning_paths.c.slug == slug
        if other_than is not None:
            where = and_(where, learning_paths.c.id != other_than)
        return bool((await self._conn.execute(select(exists().where(where)))).scalar())

    async def remove(self, path_id: uuid.UUID) -> None:
        self._seen.pop(path_id, None)
        self._stored.pop(path_id, None)
        await self._conn.execute(delete(learning_paths).where(learning_paths.c.id == path_id))


class SqlPathEnrollmentRepository(_Tracked, PathEnrollmentRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        super().__init__(conn, path_enrollments)

    def _row(self, aggregate: Any) -> dict[str, Any]:
        return {"completed_at": aggregate.completed_at}

    def _keys(self, aggregate: Any) -> dict[str, Any]:
        return {"path_id": aggregate.path_id, "user_id": aggregate.user_id, "enrolled_at": aggregate.enrolled_at}

    async def get(self, enrollment_id: uuid.UUID) -> PathEnrollment | None:
        if enrollment_id in self._seen:
            return self._seen[enrollment_id]  # type: ignore[no-any-return]
        rows = await self._load(path_enrollments.c.id == enrollment_id)
        return rows[0] if rows else None

    async def find(self, path_id: uuid.UUID, user_id: uuid.UUID) -> PathEnrollment | None:
        for enrollment in self._seen.values():
            if enrollment.path_id == path_id and enrollment.user_id == user_id:
                return enrollment  # type: ignore[no-any-return]
        rows = await self._load(and_(path_enrollments.c.path_id == path_id, path_enrollments.c.user_id == user_id))
        return rows[0] if rows else None

    async def of_learner(self, user_id: uuid.UUID) -> builtins.list[PathEnrollment]:
        await self.flush()
        return await self._load(path_enrollments.c.user_id == user_id, lock=True)

    async def _load(self, where: Any, *, lock: bool = False) -> builtins.list[PathEnrollment]:
        query = select(path_enrollments).where(where).order_by(path_enrollments.c.id)
        if lock:
            query = query.with_for_update()
        return [self._track(_enrollment_from(r), new=False) for r in await self._conn.execute(query)]

    def add(self, enrollment: PathEnrollment) -> None:
        self._track(enrollment, new=True)

    async def save_outcome(self, outcome: CourseOutcome) -> None:
        await self.flush()
        values = {
            "status": outcome.status.value,
            "reason": outcome.reason,
            "detail": (outcome.detail or "")[:1000] or None,
            "recorded_at": outcome.at,
        }
        stmt = dialect_insert(self._conn, path_course_outcomes).values(
            path_enrollment_id=outcome.path_enrollment_id, course_id=outcome.course_id, **values
        )
        await self._conn.execute(
            stmt.on_conflict_do_update(index_elements=["path_enrollment_id", "course_id"], set_=values)
        )

    async def outcomes(self, enrollment_ids: Collection[uuid.UUID]) -> builtins.list[CourseOutcome]:
        if not enrollment_ids:
            return []
        query = select(path_course_outcomes).where(path_course_outcomes.c.path_enrollment_id.in_(list(enrollment_ids)))
        return [
            CourseOutcome(
                r.path_enrollment_id, r.course_id, CourseOutcomeStatus(r.status), r.reason, r.detail, r.recorded_at
            )
            for r in await self._conn.execute(query)
        ]


class SqlCourseCompletionRepository(CourseCompletionRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def record(self, user_id: uuid.UUID, course_id: uuid.UUID, at: datetime) -> bool:
        stmt = (
            dialect_insert(self._conn, path_course_completions)
            .values(user_id=user_id, course_id=course_id, completed_at=at)
            .on_conflict_do_nothing()
            .returning(path_course_completions.c.course_id)
        )
        return (await self._conn.execute(stmt)).first() is not None

    async def forget(self, user_id: uuid.UUID, course_id: uuid.UUID) -> None:
        await self._conn.execute(
            delete(path_course_completions).where(
                path_course_completions.c.user_id == user_id, path_course_completions.c.course_id == course_id
            )
        )

    async def completed(self, user_id: uuid.UUID, course_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        if not course_ids:
            return set()
        query = select(path_course_completions.c.course_id).where(
            path_course_completions.c.user_id == user_id,
            path_course_completions.c.course_id.in_(list(set(course_ids))),
        )
        return set((await self._conn.execute(query)).scalars())


# -- reads (outside any unit of work) --------------------------------------------------------


class SqlLearningPathQueries(LearningPathQueries):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_paths(
        self, statuses: Collection[PathStatus], after: uuid.UUID | None, limit: int
    ) -> list[LearningPath]:
        query = select(learning_paths).where(learning_paths.c.status.in_([s.value for s in statuses]))
        if after is not None:
            query = query.where(learning_paths.c.id > after)
        async with self._db.read() as conn:
            rows = (await conn.execute(query.order_by(learning_paths.c.id).limit(limit))).all()
        return [_path_from(r) for r in rows]

    async def enrollments_of(self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[PathEnrollment]:
        query = select(path_enrollments).where(path_enrollments.c.user_id == user_id)
        if after is not None:
            query = query.where(path_enrollments.c.id > after)
        async with self._db.read() as conn:
            rows = (await conn.execute(query.order_by(path_enrollments.c.id).limit(limit))).all()
        return [_enrollment_from(r) for r in rows]


class SqlPathCourses(PathCourses):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def courses(self, course_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, CourseBrief]:
        if not course_ids:
            return {}
        query = select(_courses.c.id, _courses.c.slug, _courses.c.title, _courses.c.status).where(
            _courses.c.id.in_(list(set(course_ids)))
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return {r.id: CourseBrief(r.id, r.slug, r.title, r.status == "published") for r in rows}
