"""The path projection under random histories (Hypothesis): replaying events changes nothing, and the
path is completed once exactly when some prefix of the history satisfied its rules."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elearning_core.learning_path.commands import CreatePath, PartInput, SetStructure
from elearning_core.learning_path.events import PathCompleted
from elearning_core.learning_path.model import PartKind, PathPart, evaluate
from elearning_core.learning_path.service import LearningPathService
from elearning_core.shared.ports import Principal
from tests.fakes import ADMIN, T0
from tests.learning_path_fakes import PathStore, a_path_service

LEARNER_ID = uuid.UUID(int=99)
LEARNER = Principal(subject="user:99", user_id=LEARNER_ID, email_verified=True)

Step = tuple[str, int]  # ("done" | "reset", course index)
histories = st.lists(st.tuples(st.sampled_from(["done", "reset"]), st.integers(0, 4)), max_size=12)


async def _path(service: LearningPathService, store: PathStore) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """Required: course 0; any 2 of courses 1-4."""
    courses = [store.add_course() for _ in range(5)]
    path = await service.create(ADMIN, CreatePath(title="P", slug="p-path"))
    parts = [
        PartInput(kind=PartKind.REQUIRED, course_ids=courses[:1]),
        PartInput(kind=PartKind.ELECTIVE, course_ids=courses[1:], required_count=2),
    ]
    await service.set_structure(ADMIN, path.id, SetStructure(parts=parts))
    await service.publish(ADMIN, path.id)
    await service.enroll(LEARNER, path.id)
    return path.id, courses


async def _play(history: list[Step], *, twice: bool) -> tuple[bool, int, set[int], list[uuid.UUID]]:
    service, store = a_path_service()
    path_id, courses = await _path(service, store)
    for kind, index in history:
        for _ in range(2 if twice else 1):
            if kind == "done":
                await service.course_completed(LEARNER_ID, courses[index], T0)
            else:
                await service.progress_reset(LEARNER_ID, courses[index])
    progress = await service.progress(LEARNER, path_id)
    done = {courses.index(c.course_id) for part in progress.parts for c in part.courses if c.completed}
    completions = sum(isinstance(e, PathCompleted) for e in store.outbox)
    return progress.completed_at is not None, completions, done, courses


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories)
async def test_replaying_every_event_changes_nothing(history: list[Step]) -> None:
    once = await _play(history, twice=False)
    twice = await _play(history, twice=True)
    assert once[:3] == twice[:3]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories)
async def test_the_path_completes_once_when_a_prefix_satisfied_its_rules(history: list[Step]) -> None:
    completed, completions, done, courses = await _play(history, twice=False)
    facts: set[int] = set()
    satisfied_once = False
    parts = [PathPart.make(PartKind.REQUIRED, courses[:1]), PathPart.make(PartKind.ELECTIVE, courses[1:], 2)]
    for kind, index in history:
        if kind == "done":
            facts.add(index)
        else:
            facts.discard(index)
        satisfied_once |= evaluate(parts, [courses[i] for i in facts]).complete
    assert completed is satisfied_once
    assert completions == (1 if satisfied_once else 0)
    assert done == facts
