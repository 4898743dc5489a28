"""The learning path ports' contract (paths, path enrollments with their course outcomes, the completion
facts, the queries and the course read), run on the fakes, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from elearning_adapters.sql.learning_path import SqlLearningPathQueries, SqlPathCourses
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.course.values import CourseStatus
from elearning_core.learning_path.model import (
    CourseOutcome,
    CourseOutcomeStatus,
    LearningPath,
    PartKind,
    PathEnrollment,
    PathPart,
    PathStatus,
)
from elearning_core.learning_path.ports import LearningPathUnitOfWork, PathCourses
from elearning_core.learning_path.queries import LearningPathQueries
from elearning_core.shared.errors import Conflict
from tests.contract.conftest import outbox_reader, sql_database
from tests.fakes import T0, a_course
from tests.learning_path_fakes import (
    FakeLearningPathUnitOfWork,
    InMemoryLearningPathQueries,
    InMemoryPathCourses,
    PathStore,
)

T1 = T0 + timedelta(minutes=1)


@dataclass(frozen=True)
class Backend:
    name: str
    uow: Callable[[], LearningPathUnitOfWork]
    queries: LearningPathQueries
    courses: PathCourses
    outbox_types: Callable[[], Awaitable[list[str]]]
    add_course: Callable[[str, bool], Awaitable[uuid.UUID]]
    """Store a course (title, published) where the course read finds it; its id."""


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "fake":
        store = PathStore()

        async def fake_outbox() -> list[str]:
            return [e.type for e in store.outbox]

        async def fake_course(title: str, published: bool) -> uuid.UUID:
            return store.add_course(title=title, published=published)

        yield Backend(
            "fake",
            lambda: FakeLearningPathUnitOfWork(store),
            InMemoryLearningPathQueries(store),
            InMemoryPathCourses(store),
            fake_outbox,
            fake_course,
        )
        return
    db = await sql_database(request, tmp_path)

    async def sql_course(title: str, published: bool) -> uuid.UUID:
        course = a_course(title=title, status=CourseStatus.PUBLISHED if published else CourseStatus.DRAFT)
        async with SqlUnitOfWork(db) as uow:
            uow.courses.add(course)
            await uow.commit()
        return course.id

    try:
        yield Backend(
            request.param,
            lambda: SqlUnitOfWork(db),
            SqlLearningPathQueries(db),
            SqlPathCourses(db),
            outbox_reader(db),
            sql_course,
        )
    finally:
        await db.dispose()


def _path(slug: str = "a-path") -> LearningPath:
    path = LearningPath.create(slug=slug, title="A path", description="Why", at=T0)
    courses = [uuid.uuid4() for _ in range(3)]
    path.restructure(
        [
            PathPart.make(PartKind.REQUIRED, courses[:1]),
            PathPart.make(PartKind.ELECTIVE, courses[1:], 1, "Pick one"),
        ],
        [uuid.uuid4()],
        T0,
    )
    return path


async def test_a_path_round_trips_with_its_parts_and_prerequisites(backend: Backend) -> None:
    path = _path()
    async with backend.uow() as uow:
        uow.learning_paths.add(path)
        await uow.commit()
    async with backend.uow() as uow:
        loaded = await uow.learning_paths.get(path.id)
        by_slug = await uow.learning_paths.by_slug("a-path")
    assert loaded is not None
    assert by_slug is not None
    assert by_slug.id == path.id
    assert (loaded.slug, loaded.title, loaded.description, loaded.status) == (
        "a-path",
        "A path",
        "Why",
        PathStatus.DRAFT,
    )
    assert loaded.parts == path.parts
    assert loaded.prerequisites == path.prerequisites
    assert loaded.created_at == T0
    async with backend.uow() as uow:
        many = await uow.learning_paths.get_many([path.id, uuid.uuid4()])
    assert list(many) == [path.id]
    assert many[path.id].parts == path.parts


async def test_publishing_is_saved_with_its_event(backend: Backend) -> None:
    path = _path()
    async with backend.uow() as uow:
        uow.learning_paths.add(path)
        await uow.commit()
    async with backend.uow() as uow:
        loaded = await uow.learning_paths.get(path.id)
        assert loaded is not None
        loaded.publish(T1, set())
        await uow.commit()
    async with backend.uow() as uow:
        again = await uow.learning_paths.get(path.id)
    assert again is not None
    assert again.status is PathStatus.PUBLISHED
    assert again.published_at == T1
    assert await backend.outbox_types() == ["learning_path.published.v1"]


async def test_slugs_are_unique_and_a_removed_draft_is_gone(backend: Backend) -> None:
    first = _path("taken-slug")
    async with backend.uow() as uow:
        uow.learning_paths.add(first)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.learning_paths.slug_taken("taken-slug")
        assert not await uow.learning_paths.slug_taken("taken-slug", other_than=first.id)
        assert not await uow.learning_paths.slug_taken("free-slug")
        uow.learning_paths.add(_path("taken-slug"))
        with pytest.raises(Conflict, match="slug"):
            await uow.commit()
    async with backend.uow() as uow:
        await uow.learning_paths.remove(first.id)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.learning_paths.get(first.id) is None


async def test_a_rollback_keeps_nothing(backend: Backend) -> None:
    path = _path()
    async with backend.uow() as uow:
        uow.learning_paths.add(path)
        await uow.course_completions.record(uuid.uuid4(), uuid.uuid4(), T0)
    async with backend.uow() as uow:
        assert await uow.learning_paths.get(path.id) is None
    assert await backend.outbox_types() == []


async def _published(backend: Backend) -> LearningPath:
    path = _path()
    path.publish(T0, set())
    async with backend.uow() as uow:
        uow.learning_paths.add(path)
        await uow.commit()
    return path


async def test_path_enrollments_once_per_learner_with_completion(backend: Backend) -> None:
    path = await _published(backend)
    learner = uuid.uuid4()
    enrollment = PathEnrollment.enroll(path, learner, open_courses=path.course_ids, at=T0)
    async with backend.uow() as uow:
        uow.path_enrollments.add(enrollment)
        await uow.commit()
    async with backend.uow() as uow:
        found = await uow.path_enrollments.find(path.id, learner)
        assert found is not None
        assert found.id == enrollment.id
        assert [e.id for e in await uow.path_enrollments.of_learner(learner)] == [enrollment.id]
        assert found.complete(T1)
        await uow.commit()
    async with backend.uow() as uow:
        loaded = await uow.path_enrollments.get(enrollment.id)
        assert loaded is not None
        assert loaded.completed_at == T1
        assert not loaded.complete(T1)
        uow.path_enrollments.add(PathEnrollment.enroll(path, learner, open_courses=[], at=T1))
        with pytest.raises(Conflict, match="already enrolled"):
            await uow.commit()
    assert await backend.outbox_types() == [
        "learning_path.published.v1",
        "learning_path.enrolled.v1",
        "learning_path.completed.v1",
    ]


async def test_course_outcomes_are_replaced_per_course(backend: Backend) -> None:
    path = await _published(backend)
    enrollment = PathEnrollment.enroll(path, uuid.uuid4(), open_courses=path.course_ids, at=T0)
    first, second = path.course_ids[:2]
    async with backend.uow() as uow:
        uow.path_enrollments.add(enrollment)
        await uow.path_enrollments.save_outcome(
            CourseOutcome(enrollment.id, first, CourseOutcomeStatus.REFUSED, "course_full", "full", T0)
        )
        await uow.path_enrollments.save_outcome(
            CourseOutcome(enrollment.id, second, CourseOutcomeStatus.ENROLLED, None, None, T0)
        )
        await uow.commit()
    async with backend.uow() as uow:
        await uow.path_enrollments.save_outcome(
            CourseOutcome(enrollment.id, first, CourseOutcomeStatus.ENROLLED, None, None, T1)
        )
        await uow.commit()
    async with backend.uow() as uow:
        outcomes = {o.course_id: o for o in await uow.path_enrollments.outcomes([enrollment.id])}
        assert await uow.path_enrollments.outcomes([uuid.uuid4()]) == []
    assert set(outcomes) == {first, second}
    assert outcomes[first] == CourseOutcome(enrollment.id, first, CourseOutcomeStatus.ENROLLED, None, None, T1)


async def test_completion_facts_are_recorded_once_and_forgotten(backend: Backend) -> None:
    learner, other = uuid.uuid4(), uuid.uuid4()
    a, b = uuid.uuid4(), uuid.uuid4()
    async with backend.uow() as uow:
        assert await uow.course_completions.record(learner, a, T0)
        assert not await uow.course_completions.record(learner, a, T1)
        assert await uow.course_completions.record(learner, b, T0)
        assert await uow.course_completions.record(other, a, T0)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.course_completions.completed(learner, [a, b, uuid.uuid4()]) == {a, b}
        assert await uow.course_completions.completed(learner, []) == set()
        await uow.course_completions.forget(learner, a)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.course_completions.completed(learner, [a, b]) == {b}
        assert await uow.course_completions.completed(other, [a, b]) == {a}


async def test_the_queries_page_in_id_order(backend: Backend) -> None:
    paths = [_path(f"path-{i}") for i in range(3)]
    paths[0].publish(T0, set())
    paths[2].publish(T0, set())
    learner = uuid.uuid4()
    async with backend.uow() as uow:
        for path in paths:
            uow.learning_paths.add(path)
        enrollments = [PathEnrollment.enroll(p, learner, open_courses=[], at=T0) for p in (paths[0], paths[2])]
        for e in enrollments:
            uow.path_enrollments.add(e)
        await uow.commit()
    published = await backend.queries.list_paths([PathStatus.PUBLISHED], None, 10)
    assert [p.id for p in published] == [paths[0].id, paths[2].id]
    assert published[0].parts == paths[0].parts
    every = await backend.queries.list_paths(list(PathStatus), paths[0].id, 1)
    assert [p.id for p in every] == [paths[1].id]
    mine = await backend.queries.enrollments_of(learner, None, 10)
    assert [e.id for e in mine] == [e.id for e in enrollments]
    assert [e.id for e in await backend.queries.enrollments_of(learner, enrollments[0].id, 10)] == [enrollments[1].id]
    assert await backend.queries.enrollments_of(uuid.uuid4(), None, 10) == []


async def test_the_course_read_names_existing_courses(backend: Backend) -> None:
    published = await backend.add_course("Published", True)
    draft = await backend.add_course("Draft", False)
    briefs = await backend.courses.courses([published, draft, uuid.uuid4()])
    assert set(briefs) == {published, draft}
    assert briefs[published].published
    assert briefs[published].title == "Published"
    assert not briefs[draft].published
    assert await backend.courses.courses([]) == {}
