"""In-memory adapters of the learning path ports (the contract suite holds them to the SQL ones)."""

from __future__ import annotations

import builtins
import copy
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Self

from elearning_core.auth.model import RolePolicy
from elearning_core.learning_path.model import CourseOutcome, LearningPath, PathEnrollment, PathStatus
from elearning_core.learning_path.ports import (
    CourseBrief,
    CourseCompletionRepository,
    LearningPathRepository,
    LearningPathUnitOfWork,
    PathCourses,
    PathEnrollmentRepository,
)
from elearning_core.learning_path.queries import LearningPathQueries
from elearning_core.learning_path.service import LearningPathService
from elearning_core.shared.clock import Clock, FixedClock
from elearning_core.shared.errors import Conflict
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.pagination import CursorCodec
from tests.fakes import T0


@dataclass
class PathStore:
    paths: dict[uuid.UUID, LearningPath] = field(default_factory=dict)
    enrollments: dict[uuid.UUID, PathEnrollment] = field(default_factory=dict)
    outcomes: dict[tuple[uuid.UUID, uuid.UUID], CourseOutcome] = field(default_factory=dict)
    completions: dict[tuple[uuid.UUID, uuid.UUID], datetime] = field(default_factory=dict)
    courses: dict[uuid.UUID, CourseBrief] = field(default_factory=dict)
    outbox: list[DomainEvent] = field(default_factory=list)
    commits: int = 0

    def add_course(self, *, published: bool = True, title: str = "A course") -> uuid.UUID:
        course_id = uuid.uuid4()
        self.courses[course_id] = CourseBrief(course_id, f"course-{course_id.hex[:8]}", title, published)
        return course_id


def _clean(aggregate: object) -> object:
    """A stored copy without pending events (they went to the outbox)."""
    stored = copy.deepcopy(aggregate)
    stored._events = []  # type: ignore[attr-defined]
    return stored


class _Paths(LearningPathRepository):
    def __init__(self, uow: FakeLearningPathUnitOfWork) -> None:
        self._uow = uow

    async def get(self, path_id: uuid.UUID) -> LearningPath | None:
        if path_id in self._uow.seen_paths:
            return self._uow.seen_paths[path_id]
        stored = self._uow.store.paths.get(path_id)
        if stored is None or path_id in self._uow.removed:
            return None
        path = copy.deepcopy(stored)
        self._uow.seen_paths[path_id] = path
        return path

    async def get_many(self, path_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, LearningPath]:
        return {p: path for p in path_ids if (path := await self.get(p)) is not None}

    async def by_slug(self, slug: str) -> LearningPath | None:
        for path in [*self._uow.seen_paths.values(), *self._uow.store.paths.values()]:
            if path.slug == slug and path.id not in self._uow.removed:
                return await self.get(path.id)
        return None

    def add(self, path: LearningPath) -> None:
        self._uow.seen_paths[path.id] = path

    async def slug_taken(self, slug: str, *, other_than: uuid.UUID | None = None) -> bool:
        return any(
            p.slug == slug and p.id != other_than and p.id not in self._uow.removed
            for p in [*self._uow.store.paths.values(), *self._uow.seen_paths.values()]
        )

    async def remove(self, path_id: uuid.UUID) -> None:
        self._uow.seen_paths.pop(path_id, None)
        self._uow.removed.add(path_id)


class _Enrollments(PathEnrollmentRepository):
    def __init__(self, uow: FakeLearningPathUnitOfWork) -> None:
        self._uow = uow

    def _all(self) -> list[PathEnrollment]:
        ids = {*self._uow.store.enrollments, *self._uow.seen_enrollments}
        return [e for i in sorted(ids) if (e := self._load(i)) is not None]

    def _load(self, enrollment_id: uuid.UUID) -> PathEnrollment | None:
        if enrollment_id in self._uow.seen_enrollments:
            return self._uow.seen_enrollments[enrollment_id]
        stored = self._uow.store.enrollments.get(enrollment_id)
        if stored is None:
            return None
        enrollment = copy.deepcopy(stored)
        self._uow.seen_enrollments[enrollment_id] = enrollment
        return enrollment

    async def get(self, enrollment_id: uuid.UUID) -> PathEnrollment | None:
        return self._load(enrollment_id)

    async def find(self, path_id: uuid.UUID, user_id: uuid.UUID) -> PathEnrollment | None:
        for e in self._all():
            if e.path_id == path_id and e.user_id == user_id:
                return e
        return None

    def add(self, enrollment: PathEnrollment) -> None:
        self._uow.seen_enrollments[enrollment.id] = enrollment

    async def of_learner(self, user_id: uuid.UUID) -> builtins.list[PathEnrollment]:
        return [e for e in self._all() if e.user_id == user_id]

    async def save_outcome(self, outcome: CourseOutcome) -> None:
        self._uow.outcomes[(outcome.path_enrollment_id, outcome.course_id)] = outcome

    async def outcomes(self, enrollment_ids: Collection[uuid.UUID]) -> builtins.list[CourseOutcome]:
        merged = {**self._uow.store.outcomes, **self._uow.outcomes}
        return [o for (e, _), o in merged.items() if e in set(enrollment_ids)]


class _Completions(CourseCompletionRepository):
    def __init__(self, uow: FakeLearningPathUnitOfWork) -> None:
        self._uow = uow

    def _merged(self) -> dict[tuple[uuid.UUID, uuid.UUID], datetime | None]:
        return {**self._uow.store.completions, **self._uow.completions}

    async def record(self, user_id: uuid.UUID, course_id: uuid.UUID, at: datetime) -> bool:
        if self._merged().get((user_id, course_id)) is not None:
            return False
        self._uow.completions[(user_id, course_id)] = at
        return True

    async def forget(self, user_id: uuid.UUID, course_id: uuid.UUID) -> None:
        self._uow.completions[(user_id, course_id)] = None

    async def completed(self, user_id: uuid.UUID, course_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        merged = self._merged()
        return {c for c in course_ids if merged.get((user_id, c)) is not None}


class FakeLearningPathUnitOfWork(LearningPathUnitOfWork):
    """Changes are kept aside and applied to the store at commit, with the aggregates' events."""

    def __init__(self, store: PathStore) -> None:
        self.store = store
        self.committed = False

    async def __aenter__(self) -> Self:
        self.seen_paths: dict[uuid.UUID, LearningPath] = {}
        self.seen_enrollments: dict[uuid.UUID, PathEnrollment] = {}
        self.removed: set[uuid.UUID] = set()
        self.outcomes: dict[tuple[uuid.UUID, uuid.UUID], CourseOutcome] = {}
        self.completions: dict[tuple[uuid.UUID, uuid.UUID], datetime | None] = {}
        self.learning_paths = _Paths(self)
        self.path_enrollments = _Enrollments(self)
        self.course_completions = _Completions(self)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def commit(self) -> None:
        store = self.store
        for path in self.seen_paths.values():
            if any(p.slug == path.slug and p.id != path.id for p in store.paths.values()):
                raise Conflict("slug is already taken by another learning path")
        for e in self.seen_enrollments.values():
            if any(
                o.path_id == e.path_id and o.user_id == e.user_id and o.id != e.id for o in store.enrollments.values()
            ):
                raise Conflict("the learner is already enrolled in this learning path")
        for path_id in self.removed:
            store.paths.pop(path_id, None)
        for aggregate in [*self.seen_paths.values(), *self.seen_enrollments.values()]:
            store.outbox.extend(aggregate.pull_events())
        store.paths.update({k: _clean(v) for k, v in self.seen_paths.items()})  # type: ignore[misc]
        store.enrollments.update({k: _clean(v) for k, v in self.seen_enrollments.items()})  # type: ignore[misc]
        store.outcomes.update(self.outcomes)
        for key, at in self.completions.items():
            if at is None:
                store.completions.pop(key, None)
            else:
                store.completions[key] = at
        store.commits += 1
        self.committed = True

    async def rollback(self) -> None:
        await self.__aenter__()


class InMemoryLearningPathQueries(LearningPathQueries):
    def __init__(self, store: PathStore) -> None:
        self._store = store

    async def list_paths(
        self, statuses: Collection[PathStatus], after: uuid.UUID | None, limit: int
    ) -> list[LearningPath]:
        rows = sorted((p for p in self._store.paths.values() if p.status in statuses), key=lambda p: p.id)
        return [copy.deepcopy(p) for p in rows if after is None or p.id > after][:limit]

    async def enrollments_of(self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[PathEnrollment]:
        rows = sorted((e for e in self._store.enrollments.values() if e.user_id == user_id), key=lambda e: e.id)
        return [copy.deepcopy(e) for e in rows if after is None or e.id > after][:limit]


class InMemoryPathCourses(PathCourses):
    def __init__(self, store: PathStore) -> None:
        self._store = store

    async def courses(self, course_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, CourseBrief]:
        return {c: self._store.courses[c] for c in course_ids if c in self._store.courses}


def a_path_service(store: PathStore | None = None, clock: Clock | None = None) -> tuple[LearningPathService, PathStore]:
    store = store or PathStore()
    service = LearningPathService(
        lambda: FakeLearningPathUnitOfWork(store),
        InMemoryLearningPathQueries(store),
        InMemoryPathCourses(store),
        clock or FixedClock(T0),
        RolePolicy(require_verified_email=False),
        CursorCodec(b"0123456789abcdef0123456789abcdef"),
    )
    return service, store
