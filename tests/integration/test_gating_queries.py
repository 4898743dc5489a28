"""What content gating costs an enrolled learner's outline read, in SQL statements (a count, not a timing).

The issue's figure: at most ONE extra indexed query for gating, plus the entitlement check's read of the
course's offer (issue 15), and none on a cache hit. The queries are
counted around the course service's read (so the sign-in's own reads are not in the count): with
SQLAlchemy's ``before_cursor_execute`` event on the platform's engine and, on PostgreSQL, also on the
plain psycopg read pool that the catalog reads and the enrollment lookup use there (their hot path
skips SQLAlchemy; a counting wrapper around the pool's connections sees each statement).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from elearning_adapters.container import Platform, bootstrap
from elearning_adapters.settings import Settings
from elearning_core.course.commands import CourseSpec, LessonContentSpec, LessonSpec, SectionSpec
from elearning_core.identity.commands import CreateUser
from elearning_core.shared.ports import ANONYMOUS, SYSTEM, Principal
from tests.conftest import migrated_sqlite, truncate_all


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return "sqlite"


@pytest.fixture(params=["none", "memory"])
async def platform(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> AsyncIterator[Platform]:
    sqlite = backend == "sqlite"
    url = migrated_sqlite(tmp_path / "gating.db") if sqlite else backend
    settings = Settings(database_url=url, data_dir=tmp_path, cache=request.param)
    built = await bootstrap(settings, run_migrations=False, start_keys=sqlite)
    if not sqlite:
        await truncate_all(built.database)
    try:
        yield built
    finally:
        await built.aclose()


class _CountingConnection:
    """A psycopg connection that notes each statement it executes."""

    def __init__(self, conn: Any, statements: list[str]) -> None:
        self._conn, self._statements = conn, statements

    async def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        self._statements.append(str(query))
        return await self._conn.execute(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


async def count_the_read_pool(platform: Platform, statements: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    if platform.database.is_sqlite:
        return
    pool = await platform.database.read_pool()
    connection = pool.connection

    @asynccontextmanager
    async def counting(*args: Any, **kwargs: Any) -> AsyncIterator[_CountingConnection]:
        async with connection(*args, **kwargs) as conn:
            yield _CountingConnection(conn, statements)

    monkeypatch.setattr(pool, "connection", counting)


@contextmanager
def counted(platform: Platform, statements: list[str]) -> Iterator[list[str]]:
    start = len(statements)

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # Queries only: the SQLite engine sends its deferred BEGIN as a statement of its own (no I/O;
        # psycopg opens transactions implicitly, so PostgreSQL shows none).
        if statement.strip().upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            statements.append(statement)

    engine = platform.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    seen: list[str] = []
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)
        seen.extend(statements[start:])


async def seeded(platform: Platform) -> tuple[uuid.UUID, Principal]:
    """A published course of 3 sections x 4 lessons (one section self-paced), and a learner enrolled in it."""
    sections = [
        SectionSpec(
            title=f"Section {s}",
            release_after_days=7 if s == 2 else None,
            lessons=[
                LessonSpec(title=f"Lesson {s}.{n}", content=LessonContentSpec(body_markdown=f"Text {s}.{n}"))
                for n in range(4)
            ],
        )
        for s in range(3)
    ]
    [course] = await platform.courses.import_courses(
        SYSTEM, [CourseSpec(slug="counted", title="Counted", status="published", sections=sections)]
    )
    user = await platform.identity.create_user(SYSTEM, CreateUser(email="ada@example.org", display_name="Ada"))
    await platform.enrollments.enroll(SYSTEM, course.id, user.id)
    learner = Principal(subject=f"user:{user.id}", roles=frozenset({"learner"}), user_id=user.id)
    return course.id, learner


async def test_an_enrolled_learner_costs_one_indexed_query_and_none_on_a_cache_hit(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    course_id, learner = await seeded(platform)
    cached = platform.settings.resolved_cache != "none"
    log: list[str] = []
    await count_the_read_pool(platform, log, monkeypatch)

    # The ungated read (anonymous: no enrollment to look up) against the enrolled learner's.
    with counted(platform, log) as anonymous:
        outline = await platform.courses.get_outline(ANONYMOUS, course_id)
    assert {x.access.value for s in outline.sections for x in s.lessons} == {"enrollment_required"}
    with counted(platform, log) as enrolled:
        outline = await platform.courses.get_outline(learner, course_id)
    assert [x.access.value for s in outline.sections for x in s.lessons] == ["open"] * 8 + ["not_yet_released"] * 4

    if cached:
        # The anonymous read filled the outline cache: the learner's read is a hit plus the misses of
        # their enrollment and of the course's offer (the entitlement check: a free course); the read after
        # it sends no query at all.
        extra = enrolled
    else:
        assert len(anonymous) == 1  # the published version: one statement (the counting sees it)
        assert len(enrolled) == len(anonymous) + 2
        extra = list(enrolled)
        for statement in anonymous:
            extra.remove(statement)
    assert len(extra) == 2, extra
    assert "FROM enrollments" in extra[0]
    # The entitlement check of a free course reads its offer only (no grants: they cannot matter).
    assert "FROM course_offers" in extra[1]

    with counted(platform, log) as again:
        await platform.courses.get_outline(learner, course_id)
    assert len(again) == (0 if cached else len(enrolled))

    # Indexed: the lookup is answered from the (course_id, user_id) key, not a table scan.
    async with platform.database.read() as conn:
        params = {"c": course_id, "u": learner.user_id}
        lookup = (
            "SELECT enrolled_at FROM enrollments WHERE course_id = :c AND user_id = :u "
            "AND status IN ('active', 'completed')"
        )
        if platform.database.is_sqlite:
            params = {k: v.hex for k, v in params.items()}  # type: ignore[union-attr]
            plan = " ".join(str(r[-1]) for r in await conn.execute(text(f"EXPLAIN QUERY PLAN {lookup}"), params))
            assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan
        else:
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(str(r[0]) for r in await conn.execute(text(f"EXPLAIN {lookup}"), params))
            assert "Index" in plan, plan


async def test_unenrolling_drops_the_cached_enrollment(platform: Platform) -> None:
    course_id, learner = await seeded(platform)
    assert learner.user_id is not None
    first = await platform.courses.get_outline(learner, course_id)
    assert first.sections[0].lessons[0].access.value == "open"
    await platform.enrollments.unenroll(SYSTEM, course_id, learner.user_id)
    after = await platform.courses.get_outline(learner, course_id)
    assert after.sections[0].lessons[0].access.value == "enrollment_required"
