"""The projection's two promises, over a random history: replaying any event's handling changes nothing,
and a rebuild from the facts alone gives the live derived state back."""

from __future__ import annotations

import asyncio
import copy
import uuid
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from elearning_core.progress.commands import Heartbeat, StaffDecision
from elearning_core.progress.model import CourseProgress, QuizOutcome
from elearning_core.shared.ports import SYSTEM, Principal
from tests.fakes_progress import InMemoryProgressRepository
from tests.progress_builders import outline, quiz, text, video
from tests.unit.progress.test_progress_service import World

LESSONS = [text(), text(), video(seconds=60), quiz()]
COURSE = outline(LESSONS[:2], LESSONS[2:])
LEARNERS = [uuid.UUID(int=i + 1) for i in range(2)]

step = st.one_of(
    st.tuples(st.just("view"), st.integers(0, 3), st.integers(0, 1), st.just(0.0)),
    st.tuples(st.just("done"), st.integers(0, 3), st.integers(0, 1), st.just(0.0)),
    st.tuples(st.just("watch"), st.just(2), st.integers(0, 1), st.floats(0, 60)),
    st.tuples(st.just("quiz"), st.just(3), st.integers(0, 1), st.floats(0, 100)),
    st.tuples(st.just("override"), st.just(0), st.integers(0, 1), st.just(0.0)),
    st.tuples(st.just("reset"), st.just(0), st.integers(0, 1), st.just(0.0)),
)


def comparable(p: CourseProgress | None) -> tuple[object, ...] | None:
    """What rebuild must reproduce (completion times are when the projection ran, so only whether)."""
    if p is None:
        return None
    return (
        p.completed_lesson_ids,
        p.required_lessons,
        p.required_completed,
        p.percent,
        p.completed,
        p.completion_source,
    )


async def _run(history: list[tuple[str, int, int, float]]) -> None:
    world = World(COURSE)
    repo = InMemoryProgressRepository(world.store)
    for user_id in LEARNERS:
        world.enroll(user_id)
        await world.projector.recompute(repo, COURSE.id, user_id)  # what the enrolled.v1 handler does
    for kind, index, who, amount in history:
        user_id = LEARNERS[who]
        learner = Principal(subject=f"user:{user_id}", roles=frozenset({"learner"}), user_id=user_id)
        lesson = LESSONS[index]
        world.clock.advance(timedelta(seconds=1))
        if kind == "view":
            await world.service.view(learner, COURSE.id, lesson.id)
        elif kind == "done":
            await world.service.mark_done(learner, COURSE.id, lesson.id)
        elif kind == "watch":
            beat = Heartbeat(start=amount, end=min(60.0, amount + 20), position=amount, player_session_id="p")
            await world.service.heartbeat(learner, COURSE.id, lesson.id, beat)
        elif kind == "quiz":
            assert lesson.assessment_id is not None
            outcome = QuizOutcome(amount, passed=amount >= 50, submitted=True)
            await repo.record_quiz(COURSE.id, user_id, lesson.assessment_id, outcome, world.clock.now())
        elif kind == "override":
            await world.service.override_completion(SYSTEM, COURSE.id, user_id, StaffDecision(reason="r"))
        else:
            await world.service.reset(SYSTEM, COURSE.id, user_id, StaffDecision(reason="r"))
        # The subscription handles the event: the projection's step for this learner (a heartbeat's shortcut).
        if kind == "watch":
            await world.projector.after_watch(repo, COURSE.id, user_id, lesson.id)
        else:
            await world.projector.recompute(repo, COURSE.id, user_id)
        live = comparable(await repo.progress(COURSE.id, user_id))
        # ... and handles it again (a redelivery without the inbox): nothing changes, nothing is recorded.
        assert await world.projector.recompute(repo, COURSE.id, user_id) == []
        assert comparable(await repo.progress(COURSE.id, user_id)) == live

    live_state = {u: comparable(await repo.progress(COURSE.id, u)) for u in LEARNERS}
    rebuilt = copy.deepcopy(world.store)
    rebuilt.progress.clear()  # a rebuild from scratch: the facts and the audit trail only
    rebuilt_repo = InMemoryProgressRepository(rebuilt)
    world.clock.advance(timedelta(hours=1))
    _, events = await world.projector.recompute_course(rebuilt_repo, COURSE.id)
    assert {u: comparable(await rebuilt_repo.progress(COURSE.id, u)) for u in LEARNERS} == live_state
    assert all(e.type != "progress.course_completed.v1" or e.source == "rules" for e in events)  # type: ignore[attr-defined]


@settings(max_examples=120, deadline=None)
@given(st.lists(step, max_size=25))
def test_replay_changes_nothing_and_rebuild_equals_live(history: list[tuple[str, int, int, float]]) -> None:
    asyncio.run(_run(history))
