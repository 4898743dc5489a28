"""The progress ports' contract (facts, audit, rules, derived rows, the reads and the narrow reads other
modules use), run on the fakes, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from elearning_adapters.sql.progress import SqlCourseCompletions, SqlLearnerFactsReader, SqlProgressQueries
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.course.requirements import LearnerFactsReader
from elearning_core.enrollment.ports import PrerequisiteChecker
from elearning_core.progress.model import (
    CompletionRules,
    CompletionSource,
    CourseProgress,
    LastActivity,
    Override,
    QuizOutcome,
    Watch,
)
from elearning_core.progress.ports import ProgressUnitOfWork
from elearning_core.progress.queries import ProgressFilter, ProgressQueries
from tests.contract.conftest import sql_database
from tests.fakes import T0
from tests.fakes_progress import FakeLearnerFacts, InMemoryProgressQueries, ProgressStore, uow_factory

COURSE, OTHER_COURSE = uuid.UUID(int=1), uuid.UUID(int=2)
ANN, BOB = uuid.UUID(int=10), uuid.UUID(int=11)
LESSON, VIDEO, QUIZ = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


@dataclass(frozen=True)
class Backend:
    name: str
    uow: Callable[[], ProgressUnitOfWork]
    queries: ProgressQueries
    facts_reader: LearnerFactsReader
    completions: PrerequisiteChecker


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "fake":
        store = ProgressStore()
        yield Backend("fake", uow_factory(store), InMemoryProgressQueries(store), *[FakeLearnerFacts(store)] * 2)
        return
    db = await sql_database(request, tmp_path)
    try:
        yield Backend(
            request.param,
            lambda: SqlUnitOfWork(db),
            SqlProgressQueries(db),
            SqlLearnerFactsReader(db),
            SqlCourseCompletions(db),
        )
    finally:
        await db.dispose()


async def test_facts_are_unions_and_writing_one_twice_changes_nothing(backend: Backend) -> None:
    for _ in range(2):
        async with backend.uow() as uow:
            await uow.progress.mark_viewed(COURSE, ANN, LESSON, T0)
            await uow.progress.mark_done(COURSE, ANN, LESSON, T0)
            await uow.progress.add_watched(COURSE, ANN, VIDEO, (0, 30), 100, T0)
            await uow.progress.record_quiz(COURSE, ANN, QUIZ, QuizOutcome(55.0, passed=False, submitted=True), T0)
            await uow.commit()
    async with backend.uow() as uow:
        facts = await uow.progress.facts(COURSE, ANN)
        assert await uow.progress.facts(OTHER_COURSE, ANN) == type(facts)()
    assert facts.viewed == {LESSON}
    assert facts.done == {LESSON}
    assert facts.watched == {VIDEO: 30.0}
    assert facts.quizzes == {QUIZ: QuizOutcome(55.0, passed=False, submitted=True)}


async def test_watched_intervals_merge_and_are_clamped_to_the_duration(backend: Backend) -> None:
    async with backend.uow() as uow:
        assert await uow.progress.add_watched(COURSE, ANN, VIDEO, (50, 70), 100, T0) == 20
        assert await uow.progress.add_watched(COURSE, ANN, VIDEO, (0, 10), 100, T0) == 30
        assert await uow.progress.add_watched(COURSE, ANN, VIDEO, (60, 140), 100, T0) == 60
        await uow.commit()
    async with backend.uow() as uow:
        assert (await uow.progress.facts(COURSE, ANN)).watched == {VIDEO: 60.0}


async def test_a_group_of_heartbeats_merges_like_one_at_a_time(backend: Backend) -> None:
    """``add_watched_many`` and ``touch_many`` (the group commit's writes): several intervals of one union in
    one group, a union that exists and one that does not, and per learner the latest activity wins."""
    other_video = uuid.uuid4()
    async with backend.uow() as uow:
        await uow.progress.add_watched(COURSE, ANN, VIDEO, (0, 10), 100, T0)
        await uow.progress.touch(COURSE, BOB, LastActivity(LESSON, T0 + timedelta(seconds=9)))
        await uow.commit()
    later = T0 + timedelta(seconds=10)
    watches = [
        Watch(COURSE, ANN, VIDEO, (50, 60), 100, later),
        Watch(COURSE, BOB, other_video, (0, 30), 40, later),
        Watch(COURSE, ANN, VIDEO, (10, 20), 100, later),
        Watch(COURSE, BOB, other_video, (20, 90), 40, later),  # clamped to the duration
    ]
    async with backend.uow() as uow:
        covered = await uow.progress.add_watched_many(watches)
        await uow.progress.touch_many(
            [
                (COURSE, ANN, LastActivity(LESSON, later, VIDEO, 60.0)),
                (COURSE, ANN, LastActivity(LESSON, later, VIDEO, 20.0)),  # same moment, later in the group: wins
                (COURSE, BOB, LastActivity(LESSON, T0, other_video, 5.0)),  # older than the stored one: loses
            ]
        )
        await uow.commit()
    assert covered == {(COURSE, ANN, VIDEO): 30.0, (COURSE, BOB, other_video): 40.0}
    async with backend.uow() as uow:
        assert (await uow.progress.facts(COURSE, ANN)).watched == {VIDEO: 30.0}
        assert (await uow.progress.facts(COURSE, BOB)).watched == {other_video: 40.0}
    assert (await backend.queries.course_state(COURSE, ANN)).last == LastActivity(LESSON, later, VIDEO, 20.0)
    assert (await backend.queries.course_state(COURSE, BOB)).last == LastActivity(LESSON, T0 + timedelta(seconds=9))
    async with backend.uow() as uow:
        assert await uow.progress.add_watched_many([]) == {}
        await uow.progress.touch_many([])


async def test_quiz_outcomes_keep_the_best_percent_and_a_pass_for_good(backend: Backend) -> None:
    async with backend.uow() as uow:
        await uow.progress.record_quiz(COURSE, ANN, QUIZ, QuizOutcome(None, submitted=True), T0)
        await uow.progress.record_quiz(COURSE, ANN, QUIZ, QuizOutcome(80.0, passed=True, submitted=True), T0)
        await uow.progress.record_quiz(COURSE, ANN, QUIZ, QuizOutcome(40.0, passed=False, submitted=True), T0)
        await uow.commit()
    facts = await backend.facts_reader.learner_facts(ANN, COURSE)
    assert facts.best_quiz_percent == {QUIZ: 80.0}
    assert facts.passed_quiz_ids == {QUIZ}


async def test_rules_default_until_saved(backend: Backend) -> None:
    rules = CompletionRules(
        COURSE,
        text_requires_done=True,
        video_percent=75,
        min_grade_percent=60.0,
        optional_lesson_ids=frozenset({LESSON}),
    )
    async with backend.uow() as uow:
        assert await uow.progress.rules(COURSE) == CompletionRules(COURSE)
        await uow.progress.save_rules(rules)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.progress.rules(COURSE) == rules
    assert (await backend.queries.course_state(COURSE, ANN)).rules == rules


async def test_derived_progress_round_trips_with_its_completions_and_last_activity(backend: Backend) -> None:
    state = CourseProgress(COURSE, ANN, frozenset({LESSON}), 2, 1, 50.0, None, None, 3)
    async with backend.uow() as uow:
        assert await uow.progress.progress(COURSE, ANN) is None
        await uow.progress.save_progress(state)
        await uow.progress.touch(COURSE, ANN, LastActivity(LESSON, T0 + timedelta(seconds=5), VIDEO, 42.0))
        await uow.progress.touch(COURSE, ANN, LastActivity(uuid.uuid4(), T0))  # older: loses
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.progress.progress(COURSE, ANN) == state
    read = await backend.queries.course_state(COURSE, ANN)
    assert read.progress == state
    assert read.last == LastActivity(LESSON, T0 + timedelta(seconds=5), VIDEO, 42.0)
    assert (await backend.facts_reader.learner_facts(ANN, COURSE)).completed_lesson_ids == {LESSON}
    assert await backend.queries.lesson_counts(COURSE) == {LESSON: 1}


async def test_a_reset_forgets_facts_and_state_but_keeps_the_audit_trail(backend: Backend) -> None:
    async with backend.uow() as uow:
        await uow.progress.mark_viewed(COURSE, ANN, LESSON, T0)
        await uow.progress.save_progress(
            CourseProgress(COURSE, ANN, frozenset({LESSON}), 1, 1, 100.0, T0, CompletionSource.RULES)
        )
        await uow.progress.add_audit(COURSE, ANN, Override("override", BOB, "offline", T0))
        await uow.progress.clear_facts(COURSE, ANN)
        await uow.progress.add_audit(COURSE, ANN, Override("reset", BOB, "retake", T0 + timedelta(seconds=1)))
        await uow.commit()
    async with backend.uow() as uow:
        assert (await uow.progress.facts(COURSE, ANN)).empty
        assert await uow.progress.progress(COURSE, ANN) is None
        assert [(a.kind, a.by, a.reason) for a in await uow.progress.audit(COURSE, ANN)] == [
            ("override", BOB, "offline"),
            ("reset", BOB, "retake"),
        ]


async def test_the_lists_page_in_id_order_and_filter_by_completion(backend: Backend) -> None:
    async with backend.uow() as uow:
        await uow.progress.save_progress(
            CourseProgress(COURSE, ANN, percent=100.0, completed_at=T0, completion_source=CompletionSource.RULES)
        )
        await uow.progress.save_progress(CourseProgress(COURSE, BOB, percent=10.0))
        await uow.progress.save_progress(CourseProgress(OTHER_COURSE, ANN))
        await uow.commit()
    assert [r.user_id for r in await backend.queries.learners(COURSE, ProgressFilter(), None, 10)] == [ANN, BOB]
    assert [r.user_id for r in await backend.queries.learners(COURSE, ProgressFilter(), ANN, 10)] == [BOB]
    assert [r.user_id for r in await backend.queries.learners(COURSE, ProgressFilter(completed=True), None, 10)] == [
        ANN
    ]
    assert [r.user_id for r in await backend.queries.learners(COURSE, ProgressFilter(completed=False), None, 10)] == [
        BOB
    ]
    assert [r.course_id for r in await backend.queries.my_courses(ANN, None, 1)] == [COURSE]
    assert [r.course_id for r in await backend.queries.my_courses(ANN, COURSE, 5)] == [OTHER_COURSE]
    async with backend.uow() as uow:
        assert await uow.progress.learners(COURSE, None, 10) == [ANN, BOB]
        assert await uow.progress.courses(None, 10) == [COURSE, OTHER_COURSE]
    assert await backend.completions.completed(ANN, [COURSE, OTHER_COURSE]) == {COURSE}
    assert await backend.completions.completed(BOB, []) == set()


async def test_set_wise_reads_and_writes_answer_as_the_one_learner_ones(backend: Backend) -> None:
    """What a projection batch and a rebuild chunk use: many learners per statement, the same answers."""
    everyone = [(COURSE, ANN), (COURSE, BOB), (OTHER_COURSE, ANN)]
    async with backend.uow() as uow:
        await uow.progress.mark_viewed(COURSE, ANN, LESSON, T0)
        await uow.progress.add_watched(COURSE, BOB, VIDEO, (0, 40), 100, T0)
        await uow.progress.record_quiz(OTHER_COURSE, ANN, QUIZ, QuizOutcome(80.0, passed=True, submitted=True), T0)
        await uow.progress.add_audit(COURSE, BOB, Override("override", None, "exam", T0))
        await uow.progress.add_audit(COURSE, BOB, Override("reset", None, "retake", T0 + timedelta(seconds=1)))
        await uow.progress.save_progress_many(
            [
                CourseProgress(COURSE, ANN, frozenset({LESSON}), 2, 1, 50.0, version_number=1),
                CourseProgress(
                    OTHER_COURSE, ANN, frozenset({QUIZ}), 1, 1, 100.0, T0, CompletionSource.RULES, version_number=3
                ),
            ]
        )
        await uow.commit()
    async with backend.uow() as uow:
        repo = uow.progress
        facts = await repo.facts_of(everyone)
        assert facts == {pair: await repo.facts(*pair) for pair in everyone}
        assert facts[(COURSE, ANN)].viewed == {LESSON}
        assert facts[(COURSE, BOB)].watched == {VIDEO: 40.0}
        stored = await repo.progress_of(everyone)
        assert set(stored) == {(COURSE, ANN), (OTHER_COURSE, ANN)}
        assert stored == {pair: await repo.progress(*pair) for pair in stored}
        assert stored[(OTHER_COURSE, ANN)].completed_lesson_ids == {QUIZ}
        assert stored[(OTHER_COURSE, ANN)].completion_source is CompletionSource.RULES
        audits = await repo.audits_of(everyone)
        assert audits == {(COURSE, BOB): await repo.audit(COURSE, BOB)}
        assert [entry.kind for entry in audits[(COURSE, BOB)]] == ["override", "reset"]
        assert await repo.facts_of([]) == {}
        assert await repo.progress_of([]) == {}
    async with backend.uow() as uow:  # a second write adds completions and replaces the rows
        await uow.progress.save_progress_many(
            [CourseProgress(COURSE, ANN, frozenset({LESSON, VIDEO}), 2, 2, 100.0, T0, CompletionSource.RULES, 1)]
        )
        await uow.progress.save_progress_many([])
        await uow.commit()
    async with backend.uow() as uow:
        again = await uow.progress.progress(COURSE, ANN)
    assert again is not None
    assert again.completed_lesson_ids == {LESSON, VIDEO}
    assert (again.percent, again.completed) == (100.0, True)
