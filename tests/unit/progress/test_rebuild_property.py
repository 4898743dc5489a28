"""The projection's two promises, over a random history: replaying any event's handling changes nothing,
and a rebuild from the facts alone gives the live derived state back."""

from __future__ import annotations

import asyncio
import copy
import uuid
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from elearning_core.progress.commands import Heartbeat, StaffDecision
from elearning_core.progress.model import CourseProgress, QuizOutcome
from elearning_core.progress.projector import Touched
from elearning_core.shared.events import DomainEvent
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


# -- the set-wise path: a batch of events projected at once equals the same events one at a time -----------


def _principal(user_id: uuid.UUID) -> Principal:
    return Principal(subject=f"user:{user_id}", roles=frozenset({"learner"}), user_id=user_id)


async def _command(world: World, kind: str, index: int, user_id: uuid.UUID, amount: float) -> None:
    """The step's command (what happens before its event reaches the projection); quizzes have none here."""
    lesson = LESSONS[index]
    world.clock.advance(timedelta(seconds=1))
    if kind == "view":
        await world.service.view(_principal(user_id), COURSE.id, lesson.id)
    elif kind == "done":
        await world.service.mark_done(_principal(user_id), COURSE.id, lesson.id)
    elif kind == "watch":
        beat = Heartbeat(start=amount, end=min(60.0, amount + 20), position=amount, player_session_id="p")
        await world.service.heartbeat(_principal(user_id), COURSE.id, lesson.id, beat)
    elif kind == "override":
        await world.service.override_completion(SYSTEM, COURSE.id, user_id, StaffDecision(reason="r"))
    elif kind == "reset":
        await world.service.reset(SYSTEM, COURSE.id, user_id, StaffDecision(reason="r"))


def _quiz(world: World, repo: InMemoryProgressRepository, user_id: uuid.UUID, amount: float) -> Any:
    """The graded attempt's handler: the outcome is recorded in the handler, then the learner recomputed."""
    assessment_id = LESSONS[3].assessment_id
    assert assessment_id is not None
    outcome = QuizOutcome(amount, passed=amount >= 50, submitted=True)
    return repo.record_quiz(COURSE.id, user_id, assessment_id, outcome, world.clock.now())


def _completions(events: list[DomainEvent]) -> dict[uuid.UUID, list[tuple[str, object]]]:
    """Each learner's completion events in order (across learners a batch may order them otherwise)."""
    per: dict[uuid.UUID, list[tuple[str, object]]] = {}
    for event in events:
        per.setdefault(getattr(event, "user_id"), []).append((event.type, getattr(event, "lesson_id", None)))  # noqa: B009
    return per


async def _run_batched(history: list[tuple[str, int, int, float]], cuts: list[int]) -> None:
    one, many = World(COURSE), World(COURSE)
    one_repo, many_repo = InMemoryProgressRepository(one.store), InMemoryProgressRepository(many.store)
    for user_id in LEARNERS:
        one.enroll(user_id)
        many.enroll(user_id)
    # Enrollments, then the history, in batches: every step's command runs in both worlds, then the batch's
    # events are projected one at a time in one world and set-wise (``project``) in the other.
    batches: list[list[tuple[str, int, int, float]]] = [[("enrolled", 0, w, 0.0) for w in range(len(LEARNERS))]]
    start = 0
    for cut in [*sorted({c % (len(history) + 1) for c in cuts}), len(history)]:
        batches.append(history[start:cut])
        start = cut
    for batch in batches:
        for kind, index, who, amount in batch:
            for world in (one, many):
                await _command(world, kind, index, LEARNERS[who], amount)
        one_events: list[DomainEvent] = []
        for kind, index, who, amount in batch:  # one at a time: each event's own handler
            user_id = LEARNERS[who]
            if kind == "watch":
                one_events += await one.projector.after_watch(one_repo, COURSE.id, user_id, LESSONS[index].id)
            else:
                if kind == "quiz":
                    await _quiz(one, one_repo, user_id, amount)
                one_events += await one.projector.recompute(one_repo, COURSE.id, user_id)
        many_events: list[DomainEvent] = []
        run: list[Touched] = []
        for kind, index, who, amount in batch:  # set-wise: what the subscription's batch handler does
            user_id = LEARNERS[who]
            if kind == "quiz":  # not an activity event: the run before it is projected, then its own handler
                many_events += await many.projector.project(many_repo, run)
                run = []
                await _quiz(many, many_repo, user_id, amount)
                many_events += await many.projector.recompute(many_repo, COURSE.id, user_id)
            else:
                run.append(Touched(COURSE.id, user_id, LESSONS[index].id if kind == "watch" else None))
        many_events += await many.projector.project(many_repo, run)
        assert _completions(many_events) == _completions(one_events)
        for user_id in LEARNERS:
            assert comparable(await many_repo.progress(COURSE.id, user_id)) == comparable(
                await one_repo.progress(COURSE.id, user_id)
            )
        # A redelivered batch (without the inbox) changes nothing and records nothing.
        assert await many.projector.project(many_repo, [Touched(COURSE.id, u) for u in LEARNERS]) == []


@settings(max_examples=120, deadline=None)
@given(st.lists(step, max_size=25), st.lists(st.integers(0, 25), max_size=4))
def test_a_batch_projected_set_wise_equals_its_events_one_at_a_time(
    history: list[tuple[str, int, int, float]], cuts: list[int]
) -> None:
    asyncio.run(_run_batched(history, cuts))
