"""In-memory test doubles for the course module's ports, and builders for test data.

The fakes follow the SQL adapters' semantics closely enough that one contract
suite (tests/contract) runs against both: changes are staged and applied at
commit, loads return private copies of the committed state, slugs are unique
at commit, and a stale version makes the commit fail with Conflict.
"""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

from elearning_core.course.model import Course, CourseStatus, Level
from elearning_core.course.ports import CourseRepository, CourseUnitOfWork
from elearning_core.course.queries import (
    CatalogFilter,
    CatalogKey,
    CatalogQueries,
    CourseOutline,
    CourseSummary,
    outline_of,
)
from elearning_core.course.service import CourseService
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.errors import Conflict
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ids import CourseId, UserId
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import SYSTEM, AdminOnlyPolicy, Policy, Principal

T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
ADMIN = SYSTEM
A_USER = Principal(subject="user:42", roles=frozenset({"learner"}), user_id=uuid.UUID(int=42))
CURSOR_SECRET = b"test-cursor-secret-0123456789"


def _snapshot(course: Course, version: int) -> Course:
    """A private copy of ``course`` as stored state: no pending events, the given version."""
    stored = copy.deepcopy(course)
    stored.pull_events()
    stored.version = version
    return stored


@dataclass
class CourseStore:
    """The committed state every unit of work built on this store shares (the fake's database)."""

    courses: dict[uuid.UUID, Course] = field(default_factory=dict)
    outbox: list[DomainEvent] = field(default_factory=list)


class InMemoryCourseRepository(CourseRepository):
    """Like SqlCourseRepository: an identity map over private copies, changes applied by ``flush``."""

    def __init__(self, store: CourseStore) -> None:
        self._store = store
        self._seen: dict[uuid.UUID, Course] = {}
        self._new: set[uuid.UUID] = set()
        self._removed: set[uuid.UUID] = set()

    async def get(self, course_id: uuid.UUID) -> Course | None:
        if course_id in self._seen:
            return None if course_id in self._removed else self._seen[course_id]
        stored = self._store.courses.get(course_id)
        if stored is None:
            return None
        course = copy.deepcopy(stored)
        self._seen[course_id] = course
        return course

    async def get_by_slug(self, slug: str) -> Course | None:
        for course in self._seen.values():
            if course.slug == slug and course.id not in self._removed:
                return course
        for stored in self._store.courses.values():
            if stored.slug == slug and stored.id not in self._seen:
                course = copy.deepcopy(stored)
                self._seen[course.id] = course
                return course
        return None

    async def slug_taken(self, slug: str, *, excluding: uuid.UUID | None = None) -> bool:
        if any(c.slug == slug and c.id != excluding for c in self._seen.values() if c.id in self._new):
            return True
        return any(c.slug == slug and c.id != excluding for c in self._store.courses.values())

    async def taken(self, slugs: Collection[str], ids: Collection[uuid.UUID]) -> tuple[set[str], set[uuid.UUID]]:
        stored = self._store.courses.values()
        return {c.slug for c in stored} & set(slugs), {c.id for c in stored} & set(ids)

    def add(self, course: Course) -> None:
        self._seen[course.id] = course
        self._new.add(course.id)

    def remove(self, course: Course) -> None:
        self._removed.add(course.id)

    def seen(self) -> Iterable[Course]:
        return self._seen.values()

    def flush(self) -> None:
        """Apply every staged change to the store at once, or none (raising Conflict)."""
        state = dict(self._store.courses)
        versions: dict[uuid.UUID, int] = {}
        for course_id, course in self._seen.items():
            stored = state.get(course_id)
            if course_id in self._removed:
                if course_id in self._new and stored is None:
                    continue
                if stored is None or stored.version != course.version:
                    raise Conflict("the course was changed by someone else at the same time; retry")
                del state[course_id]
            elif course_id in self._new:
                if stored is not None:
                    raise Conflict("the change conflicts with existing data")
                versions[course_id] = 1
                state[course_id] = _snapshot(course, 1)
            elif course.pending_events:
                if stored is None or stored.version != course.version:
                    raise Conflict("the course was changed by someone else at the same time; retry")
                versions[course_id] = course.version + 1
                state[course_id] = _snapshot(course, course.version + 1)
        if any(n > 1 for n in Counter(c.slug for c in state.values()).values()):
            raise Conflict("slug is already taken by another course")
        self._store.courses.clear()
        self._store.courses.update(state)
        for course_id, version in versions.items():
            self._seen[course_id].version = version
        for course_id in self._removed:
            self._seen.pop(course_id, None)
        self._new.clear()
        self._removed.clear()


class FakeUnitOfWork(CourseUnitOfWork):
    """A unit of work over a CourseStore.

    ``lambda: FakeUnitOfWork(store)`` gives a fresh unit of work per use case on
    one shared state; a single instance may also be handed to a service as
    ``lambda: uow`` to inspect ``outbox`` and ``committed`` afterwards.
    Leaving the block without ``commit()`` discards the staged changes.
    """

    courses: InMemoryCourseRepository

    def __init__(self, store: CourseStore | None = None) -> None:
        self.store = store if store is not None else CourseStore()
        self.courses = InMemoryCourseRepository(self.store)
        self.outbox: list[DomainEvent] = []
        self.committed = False
        self.rolled_back = False
        self._committed_in_block = False

    async def __aenter__(self) -> Self:
        self._committed_in_block = False
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._committed_in_block:
            await self.rollback()
        self.courses = InMemoryCourseRepository(self.store)

    async def commit(self) -> None:
        aggregates = list(self.courses.seen())
        self.courses.flush()
        events = [e for a in aggregates for e in a.pending_events]
        self.outbox.extend(events)
        self.store.outbox.extend(events)
        for aggregate in aggregates:
            aggregate.pull_events()
        self.committed = True
        self._committed_in_block = True

    async def rollback(self) -> None:
        self.rolled_back = True
        self.courses = InMemoryCourseRepository(self.store)


def _summary(course: Course) -> CourseSummary:
    return CourseSummary(
        id=course.id,
        slug=course.slug,
        title=course.title,
        summary=course.summary,
        language=course.language,
        level=course.level,
        tags=list(course.tags),
        owner_id=course.owner_id,
        status=course.status,
        created_at=course.created_at,
        published_at=course.published_at,
        section_count=len(course.sections),
        lesson_count=course.lesson_count,
    )


def _outline(course: Course) -> CourseOutline:
    return outline_of(course)


class InMemoryCatalogQueries(CatalogQueries):
    """CatalogQueries over a CourseStore's committed state, with SqlCatalogQueries' semantics."""

    def __init__(self, store: CourseStore) -> None:
        self._store = store

    async def list_courses(self, where: CatalogFilter, after: CatalogKey | None, limit: int) -> list[CourseSummary]:
        def sort_key(course: Course) -> tuple[datetime, uuid.UUID]:
            at = course.published_at if where.status is CourseStatus.PUBLISHED else course.created_at
            assert at is not None
            return at, course.id

        def matches(course: Course) -> bool:
            search_text = " ".join([course.title, course.summary, *course.tags]).lower()
            return (
                (where.status is None or course.status is where.status)
                and (not where.language or course.language == where.language)
                and (not where.level or course.level is where.level)
                and (not where.tag or where.tag.lower() in course.tags)
                and (not where.text or where.text.lower() in search_text)
                and (after is None or sort_key(course) < after)
            )

        found = sorted((c for c in self._store.courses.values() if matches(c)), key=sort_key, reverse=True)
        return [_summary(c) for c in found[:limit]]

    async def outline(self, course_id: uuid.UUID) -> CourseOutline | None:
        course = self._store.courses.get(course_id)
        return _outline(course) if course is not None else None

    async def outline_by_slug(self, slug: str) -> CourseOutline | None:
        for course in self._store.courses.values():
            if course.slug == slug:
                return _outline(course)
        return None


# -- builders ----------------------------------------------------------------------


def a_course(
    *,
    lessons: int = 1,
    sections: int = 1,
    title: str = "Python for Data Analysis",
    slug: str | None = None,
    summary: str = "",
    language: str = "en",
    level: Level = Level.BEGINNER,
    tags: Iterable[str] = (),
    owner_id: UserId | None = None,
    status: CourseStatus = CourseStatus.DRAFT,
    at: datetime = T0,
    published_at: datetime | None = None,
    course_id: CourseId | None = None,
) -> Course:
    """A valid course with ``sections`` sections of ``lessons`` lessons each, its events already pulled.

    ``slug`` defaults to a unique one, so several built courses never clash.
    """
    course = Course.create(
        title=title,
        slug=slug or f"course-{uuid.uuid4().hex[:12]}",
        at=at,
        summary=summary,
        language=language,
        level=level,
        tags=list(tags),
        owner_id=owner_id,
        course_id=course_id,
    )
    for s in range(sections):
        section = course.add_section(f"Section {s + 1}", at)
        for n in range(lessons):
            course.add_lesson(section.id, f"Lesson {s + 1}.{n + 1}", at)
    if status is not CourseStatus.DRAFT:
        course.publish(published_at or at)
        if status is CourseStatus.ARCHIVED:
            course.archive(published_at or at)
    course.pull_events()
    return course


def a_service(
    store: CourseStore | None = None,
    *,
    clock: FixedClock | None = None,
    policy: Policy | None = None,
    cursors: CursorCodec | None = None,
) -> CourseService:
    """A CourseService on the fakes: a fresh FakeUnitOfWork per use case over one store."""
    store = store if store is not None else CourseStore()
    return CourseService(
        lambda: FakeUnitOfWork(store),
        InMemoryCatalogQueries(store),
        clock or FixedClock(T0),
        policy or AdminOnlyPolicy(),
        cursors or CursorCodec(CURSOR_SECRET),
    )


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
