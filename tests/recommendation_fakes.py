"""In-memory stand-ins for the recommendation module's ports (core unit tests); the SQL ones are
checked against the same expectations in tests/contract/test_recommendation_store.py."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from elearning_core.enrollment.model import EnrollmentPolicy
from elearning_core.entitlement.model import Refusal, Source, Track, Verdict
from elearning_core.entitlement.ports import ASK, Ask
from elearning_core.recommendation.model import Document, Interaction, Model
from elearning_core.recommendation.ports import CourseRule, Taken


@dataclass
class World:
    """Courses (published or not, with their rules), enrollments, completions and paid courses."""

    titles: dict[uuid.UUID, str] = field(default_factory=dict)
    published: set[uuid.UUID] = field(default_factory=set)
    policies: dict[uuid.UUID, EnrollmentPolicy] = field(default_factory=dict)
    taken: dict[uuid.UUID, int] = field(default_factory=dict)
    enrollments: list[Interaction[uuid.UUID]] = field(default_factory=list)
    completed: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)
    paid_without_access: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)
    texts: dict[uuid.UUID, Document[uuid.UUID]] = field(default_factory=dict)

    def course(self, title: str, *, published: bool = True, tags: tuple[str, ...] = ()) -> uuid.UUID:
        course_id = uuid.uuid4()
        self.titles[course_id] = title
        if published:
            self.published.add(course_id)
        self.texts[course_id] = Document(course_id, title, "", tags)
        return course_id


class FakeSource:
    def __init__(self, world: World) -> None:
        self.world = world

    async def interactions(self) -> Sequence[Interaction[uuid.UUID]]:
        return [i for i in self.world.enrollments if i.course_id in self.world.published]

    async def documents(self) -> Sequence[Document[uuid.UUID]]:
        return [d for c, d in self.world.texts.items() if c in self.world.published]


class InMemoryModelStore:
    def __init__(self) -> None:
        self.model: Model[uuid.UUID] = Model()
        self.versions = 0

    async def replace(self, model: Model[uuid.UUID]) -> int:
        self.model, self.versions = model, self.versions + 1
        return self.versions

    async def load(self) -> Model[uuid.UUID]:
        return self.model

    async def version(self) -> int:
        return self.versions


class FakeHistory:
    def __init__(self, world: World) -> None:
        self.world = world

    async def courses_of(self, user_id: uuid.UUID) -> Sequence[Taken]:
        mine = sorted((i for i in self.world.enrollments if i.user_id == user_id), key=lambda i: i.at)
        return [Taken(i.course_id, i.at, i.completed, self.world.titles[i.course_id]) for i in mine]


class FakePublished:
    def __init__(self, world: World) -> None:
        self.world = world

    async def published(self, course_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        return {c: self.world.titles[c] for c in course_ids if c in self.world.published}


class FakeRules:
    def __init__(self, world: World) -> None:
        self.world = world

    async def rules(self, course_ids: Collection[uuid.UUID], at: datetime) -> dict[uuid.UUID, CourseRule]:
        del at
        paid = {c for _, c in self.world.paid_without_access}
        return {
            c: CourseRule(
                self.world.policies.get(c, EnrollmentPolicy.default(c)),
                self.world.taken.get(c, 0),
                c in paid,
                self.world.titles[c],
            )
            for c in course_ids
            if c in self.world.published
        }


class FakeCompletions:
    def __init__(self, world: World) -> None:
        self.world = world

    async def completed(self, user_id: uuid.UUID, course_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        return {c for c in course_ids if (user_id, c) in self.world.completed}


class FakeAccess:
    def __init__(self, world: World) -> None:
        self.world = world

    async def verdict(
        self, user_id: uuid.UUID | None, course_id: uuid.UUID, *, enrolled_at: datetime | Ask | None = ASK
    ) -> Verdict:
        del enrolled_at
        if (user_id, course_id) in self.world.paid_without_access:
            return Verdict(None, None, refusal=Refusal.PAYMENT_REQUIRED)
        return Verdict(Source.FREE, Track.FULL)

    async def enrolled_verdict(self, user_id: uuid.UUID, course_id: uuid.UUID) -> tuple[datetime | None, Verdict]:
        return None, await self.verdict(user_id, course_id)
