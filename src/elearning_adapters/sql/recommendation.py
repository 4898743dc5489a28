"""The recommendation module's SQL: its read model (neighbours, popular courses, the model's version), and
the reads training and serving make of the course, enrollment and progress tables (light ``table()``
views of them: no import of those modules' adapters).

Training reads every enrollment in a published course once, in batch work (the long statement timeout);
replacing the model is one transaction, so a reader sees the old model or the new one, never half.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    String,
    Table,
    cast,
    column,
    delete,
    func,
    insert,
    select,
    table,
)
from sqlalchemy.types import JSON, Uuid

from elearning_adapters.sql.deadlines import work
from elearning_adapters.sql.engine import Database, UtcDateTime, metadata
from elearning_core.enrollment.model import EnrollmentPolicy
from elearning_core.recommendation.model import Document, Interaction, Model, Neighbours
from elearning_core.recommendation.ports import (
    CourseRule,
    CourseRules,
    LearnerHistory,
    ModelStore,
    PublishedCourses,
    Taken,
    TrainingSource,
)

RECOMMENDATION_TABLES = ("recommendation_neighbours", "recommendation_popular", "recommendation_models")
ALSO_TAKEN, SIMILAR = "also_taken", "similar"
_INSERT_BATCH = 1_000
"""Rows per insert when storing a model: each batch is bound on the event loop (see ``interactions``)."""
_LOAD_BATCH = 5_000
_READ_BATCH = 1_000
_IN_BATCH = 500
"""Ids per ``IN (...)`` (SQLite's bound-parameter limit is far above it)."""

recommendation_neighbours = Table(
    "recommendation_neighbours",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("course_id", Uuid, primary_key=True),
    Column("rank", Integer, primary_key=True),
    Column("other_id", Uuid, nullable=False),
    Column("score", Float, nullable=False),
)
recommendation_popular = Table(
    "recommendation_popular",
    metadata,
    Column("rank", Integer, primary_key=True),
    Column("course_id", Uuid, nullable=False),
    Column("score", Float, nullable=False),
)
recommendation_models = Table(
    "recommendation_models",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("trained_at", UtcDateTime, nullable=False),
    Column("interactions", Integer, nullable=False),
)

# Other modules' tables, as far as this module reads them.
_courses = table(
    "courses",
    column("id", Uuid),
    column("title", String),
    column("summary", String),
    column("description", String),
    column("tags", JSON),
    column("status", String),
)
_enrollments = table(
    "enrollments",
    column("course_id", Uuid),
    column("user_id", Uuid),
    column("status", String),
    column("enrolled_at", UtcDateTime),
    column("completed_at", UtcDateTime),
)
_settings = table(
    "course_enrollment_settings",
    column("course_id", Uuid),
    column("self_enrollment", Boolean),
    column("capacity", Integer),
    column("opens_at", UtcDateTime),
    column("closes_at", UtcDateTime),
    column("prerequisites", JSON),
)
_holds = table("seat_holds", column("course_id", Uuid), column("expires_at", UtcDateTime))
_offers = table("course_offers", column("course_id", Uuid), column("paid", Boolean))
PUBLISHED = "published"

_PG_HISTORY = """
SELECT e.course_id, e.enrolled_at, e.completed_at IS NOT NULL, c.title
FROM enrollments e JOIN courses c ON c.id = e.course_id
WHERE e.user_id = %(user_id)s
ORDER BY e.enrolled_at
"""
# Seats are counted only where there is a capacity (the policy ignores them elsewhere), each count by index.
_PG_RULES = """
SELECT c.id, c.title, s.self_enrollment, s.capacity, s.opens_at, s.closes_at, s.prerequisites, o.paid,
       CASE WHEN s.capacity IS NULL THEN 0 ELSE
           (SELECT count(*) FROM enrollments e WHERE e.course_id = c.id AND e.status = 'active')
           + (SELECT count(*) FROM seat_holds h WHERE h.course_id = c.id AND h.expires_at > %(at)s)
       END
FROM courses c
LEFT JOIN course_enrollment_settings s ON s.course_id = c.id
LEFT JOIN course_offers o ON o.course_id = c.id
WHERE c.id = ANY(%(ids)s) AND c.status = 'published'
"""


def _chunks(ids: Sequence[uuid.UUID]) -> list[Sequence[uuid.UUID]]:
    return [ids[i : i + _IN_BATCH] for i in range(0, len(ids), _IN_BATCH)]


def _interned() -> Callable[[str], uuid.UUID]:
    """Ids read as text made ``UUID``s once each: a model or a history names a few thousand courses many
    times over, and building a ``UUID`` per row was most of the time of reading them."""
    ids: dict[str, uuid.UUID] = {}

    def the(text: str) -> uuid.UUID:
        found = ids.get(text)
        if found is None:
            found = ids[text] = uuid.UUID(text)
        return found

    return the


class SqlTrainingSource(TrainingSource):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def interactions(self) -> Sequence[Interaction[uuid.UUID]]:
        """Streamed in batches of ``_READ_BATCH`` rows: training runs inside the API process on the embedded
        default (the scheduler), and each batch is read and turned into objects on the event loop, so its
        size bounds how long a request waits behind it (10,000 rows held the loop ~0.7 s). The learners'
        ids stay text (training only groups by them; a ``str`` hashes in C, a ``UUID`` in Python), the
        courses' are made ``UUID``s once each."""
        e = _enrollments.c
        query = (
            select(cast(e.user_id, String), cast(e.course_id, String), e.enrolled_at, e.completed_at.is_not(None))
            .select_from(_enrollments.join(_courses, _courses.c.id == e.course_id))
            .where(_courses.c.status == PUBLISHED)
        )
        the = _interned()
        with work("batch"):
            async with self._db.read() as conn:
                result = await conn.stream(query.execution_options(yield_per=_READ_BATCH))
                return [Interaction(u, the(c), at, bool(done)) async for u, c, at, done in result]

    async def documents(self) -> Sequence[Document[uuid.UUID]]:
        c = _courses.c
        query = select(c.id, c.title, c.summary, c.description, c.tags).where(c.status == PUBLISHED)
        with work("batch"):
            async with self._db.read() as conn:
                rows = (await conn.execute(query)).all()
        return [Document(r.id, r.title, f"{r.summary} {r.description}", tuple(r.tags or ())) for r in rows]


class SqlModelStore(ModelStore):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def replace(self, model: Model[uuid.UUID]) -> int:
        rows = [
            {"kind": kind, "course_id": course_id, "rank": rank, "other_id": other, "score": score}
            for kind, neighbours in ((ALSO_TAKEN, model.also_taken), (SIMILAR, model.similar))
            for course_id, listed in neighbours.items()
            for rank, (other, score) in enumerate(listed)
        ]
        popular = [{"rank": r, "course_id": c, "score": s} for r, (c, s) in enumerate(model.popular)]
        with work("batch"):
            async with self._db.write() as conn:
                await conn.begin()
                await self._db.apply_budget(conn)
                current = (await conn.execute(select(recommendation_models.c.version))).scalar_one_or_none()
                await conn.execute(delete(recommendation_neighbours))
                await conn.execute(delete(recommendation_popular))
                await conn.execute(delete(recommendation_models))
                for start in range(0, len(rows), _INSERT_BATCH):
                    await conn.execute(insert(recommendation_neighbours), rows[start : start + _INSERT_BATCH])
                if popular:
                    await conn.execute(insert(recommendation_popular), popular)
                version = (current or 0) + 1
                await conn.execute(
                    insert(recommendation_models).values(
                        id=1,
                        version=version,
                        trained_at=model.trained_at or datetime.now().astimezone(),
                        interactions=model.interactions,
                    )
                )
                await conn.commit()
        return version

    async def load(self) -> Model[uuid.UUID]:
        """Streamed in batches (a reader's request runs between two of them, never behind the whole load), the
        ids read as text and made ``UUID``s once each (``_interned``)."""
        n, p = recommendation_neighbours.c, recommendation_popular.c
        the = _interned()
        kinds: dict[str, Neighbours[uuid.UUID]] = {ALSO_TAKEN: {}, SIMILAR: {}}
        async with self._db.read() as conn:
            head = (await conn.execute(select(recommendation_models))).one_or_none()
            if head is None:
                return Model()
            query = select(n.kind, cast(n.course_id, String), cast(n.other_id, String), n.score).order_by(
                n.kind, n.course_id, n.rank
            )
            result = await conn.stream(query.execution_options(yield_per=_LOAD_BATCH))
            last: tuple[str, str] | None = None
            listed: list[tuple[uuid.UUID, float]] = []
            async for part in result.partitions():
                for kind, course_id, other, score in part:
                    if (kind, course_id) != last:
                        last, listed = (kind, course_id), []
                        kinds[kind][the(course_id)] = listed
                    listed.append((the(other), score))
            popular = (await conn.execute(select(cast(p.course_id, String), p.score).order_by(p.rank))).all()
        return Model(
            kinds[ALSO_TAKEN], kinds[SIMILAR], [(the(c), s) for c, s in popular], head.trained_at, head.interactions
        )

    async def version(self) -> int:
        async with self._db.read() as conn:
            found = (await conn.execute(select(recommendation_models.c.version))).scalar_one_or_none()
        return int(found or 0)


class SqlLearnerHistory(LearnerHistory):
    """One statement; on PostgreSQL a prepared one on the psycopg read pool (``hot_read``), as every read a
    ``/me/recommendations`` computation makes: the SQLAlchemy bridge and the transaction around it cost
    several times the statement."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def courses_of(self, user_id: uuid.UUID) -> Sequence[Taken]:
        if not self._db.is_sqlite:
            async with self._db.hot_read() as pg:
                rows = await (await pg.execute(_PG_HISTORY, {"user_id": user_id})).fetchall()
            return [Taken(i, at, done, title) for i, at, done, title in rows]
        e, c = _enrollments.c, _courses.c
        query = (
            select(e.course_id, e.enrolled_at, e.completed_at, c.title)
            .select_from(_enrollments.join(_courses, c.id == e.course_id))
            .where(e.user_id == user_id)
            .order_by(e.enrolled_at)
        )
        async with self._db.read() as conn:
            return [Taken(i, at, done is not None, title) for i, at, done, title in (await conn.execute(query)).all()]


class SqlPublishedCourses(PublishedCourses):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def published(self, course_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        ids = list(dict.fromkeys(course_ids))
        if not ids:
            return {}
        c = _courses.c
        found: dict[uuid.UUID, str] = {}
        async with self._db.read() as conn:
            for chunk in _chunks(ids):
                query = select(c.id, c.title).where(c.id.in_(chunk), c.status == PUBLISHED)
                found.update((i, t) for i, t in (await conn.execute(query)).all())
        return found


class SqlCourseRules(CourseRules):
    """The published courses' enrollment settings, offers and seats taken: on PostgreSQL one prepared
    statement for any number of ids (``= ANY``, seats counted in it for the courses with a capacity), on
    SQLite two queries per batch of ids."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def rules(self, course_ids: Collection[uuid.UUID], at: datetime) -> dict[uuid.UUID, CourseRule]:
        ids = list(dict.fromkeys(course_ids))
        if not ids:
            return {}
        if not self._db.is_sqlite:
            async with self._db.hot_read() as pg:
                rows = await (await pg.execute(_PG_RULES, {"ids": ids, "at": at})).fetchall()
            return {
                r[0]: CourseRule(_policy(r[0], *r[2:7]), int(r[8]), bool(r[7]), r[1])
                for r in rows  # id, title, self_enrollment, capacity, opens, closes, prerequisites, paid, taken
            }
        out: dict[uuid.UUID, CourseRule] = {}
        s, c, o = _settings.c, _courses.c, _offers.c
        async with self._db.read() as conn:
            for chunk in _chunks(ids):
                query = (
                    select(
                        c.id, c.title, s.self_enrollment, s.capacity, s.opens_at, s.closes_at, s.prerequisites, o.paid
                    )
                    .select_from(
                        _courses.outerjoin(_settings, s.course_id == c.id).outerjoin(_offers, o.course_id == c.id)
                    )
                    .where(c.id.in_(chunk), c.status == PUBLISHED)
                )
                found = (await conn.execute(query)).all()
                limited = [r.id for r in found if r.capacity is not None]
                taken = await _seats_taken(conn, limited, at) if limited else {}
                for r in found:
                    policy = _policy(r.id, r.self_enrollment, r.capacity, r.opens_at, r.closes_at, r.prerequisites)
                    out[r.id] = CourseRule(policy, taken.get(r.id, 0), bool(r.paid), r.title)
        return out


def _policy(
    course_id: uuid.UUID,
    self_enrollment: bool | None,
    capacity: int | None,
    opens_at: datetime | None,
    closes_at: datetime | None,
    prerequisites: list[str] | None,
) -> EnrollmentPolicy:
    if self_enrollment is None:  # no settings stored
        return EnrollmentPolicy.default(course_id)
    return EnrollmentPolicy(
        course_id,
        bool(self_enrollment),
        capacity,
        opens_at,
        closes_at,
        tuple(uuid.UUID(p) for p in prerequisites or ()),
    )


async def _seats_taken(conn: Any, course_ids: list[uuid.UUID], at: datetime) -> dict[uuid.UUID, int]:
    e, h = _enrollments.c, _holds.c
    active = select(e.course_id, func.count()).where(e.course_id.in_(course_ids), e.status == "active")
    held = select(h.course_id, func.count()).where(h.course_id.in_(course_ids), h.expires_at > at)
    taken: dict[uuid.UUID, int] = {}
    for query in (active.group_by(e.course_id), held.group_by(h.course_id)):
        for course_id, count in (await conn.execute(query)).all():
            taken[course_id] = taken.get(course_id, 0) + int(count)
    return taken


__all__ = [
    "RECOMMENDATION_TABLES",
    "SqlCourseRules",
    "SqlLearnerHistory",
    "SqlModelStore",
    "SqlPublishedCourses",
    "SqlTrainingSource",
]
