"""Attempts under real concurrency, through the assessment service on the SQL adapters: each call
its own unit of work, transaction and connection (PostgreSQL: truly overlapping; SQLite: queued).

Starting, submitting and autosaving race as double clicks, retries and a second device make them
race: one attempt, one submission, one set of events, and answers that never change once submitted.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from elearning_adapters.container import Platform, bootstrap
from elearning_adapters.settings import Settings
from elearning_adapters.sql.assessment import attempt_items, attempts
from elearning_adapters.sql.outbox import outbox
from elearning_core.assessment.commands import FixedSlotInput, QuestionInput, QuizSettings, SaveAnswer
from elearning_core.assessment.model import AttemptClosed, AttemptStatus, Option, SingleChoice, TrueFalse
from elearning_core.auth.service import user_principal
from elearning_core.identity.commands import CreateUser
from elearning_core.shared.ports import SYSTEM, Principal
from tests.conftest import truncate_all
from tests.e2e.http_helpers import course_spec

CALLERS = 20


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'elearning.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    # Every caller holds a write connection and, meanwhile, reads through a second one. Twenty transactions
    # queue on one attempt's row: the API's time limits (2 s of lock wait, 5 s a statement) are not what these
    # tests are about (the last waiter passed them once in CI), one submission and one grade are.
    return Settings(
        database_url=url,
        data_dir=tmp_path,
        db_pool_size=CALLERS + 5,
        db_lock_timeout_ms=30_000,
        db_statement_timeout_ms=60_000,
    )


@pytest.fixture
async def platform(settings: Settings) -> AsyncIterator[Platform]:
    async with await bootstrap(settings, run_migrations=settings.is_sqlite, start_keys=False) as platform:
        if not settings.is_sqlite:
            await truncate_all(platform.database)
        yield platform


@dataclass(frozen=True)
class Setting:
    quiz_id: uuid.UUID
    learner: Principal
    choice: uuid.UUID
    """A single-choice question whose right answer is ``b``."""
    truth: uuid.UUID
    """A true/false question whose right answer is true."""


async def a_quiz_with_a_learner(platform: Platform) -> Setting:
    (course,) = await platform.courses.import_courses(SYSTEM, [course_spec(f"quiz-{uuid.uuid4().hex[:8]}")])
    email = f"learner-{uuid.uuid4().hex[:8]}@example.org"
    user = await platform.identity.create_user(SYSTEM, CreateUser(email=email, display_name="Ada Learner"))
    learner = user_principal(user.id, (), None, email_verified=user.email_verified)
    await platform.enrollments.self_enroll(learner, course.id)
    service = platform.assessment
    options = [Option(id="a", text="Wrong"), Option(id="b", text="Right")]
    choice = await service.create_question(
        SYSTEM, course.id, QuestionInput(prompt="Which one?", body=SingleChoice(options=options, correct="b"))
    )
    truth = await service.create_question(
        SYSTEM, course.id, QuestionInput(prompt="True?", points=3.0, body=TrueFalse(correct=True))
    )
    settings = QuizSettings(
        title="Concurrency",
        slots=[FixedSlotInput(question_id=choice.id), FixedSlotInput(question_id=truth.id)],
    )
    quiz = await service.create_quiz(SYSTEM, course.id, settings)
    await service.publish_quiz(SYSTEM, quiz.id)
    return Setting(quiz.id, learner, choice.id, truth.id)


async def count(platform: Platform, query: object) -> int:
    async with platform.database.read() as conn:
        return int((await conn.execute(query)).scalar_one())  # type: ignore[call-overload]


async def events(platform: Platform, attempt_id: uuid.UUID) -> list[str]:
    query = select(outbox.c.event_type).where(outbox.c.message_key == str(attempt_id)).order_by(outbox.c.id)
    async with platform.database.read() as conn:
        return list((await conn.execute(query)).scalars())


async def test_twenty_simultaneous_starts_give_one_attempt(platform: Platform) -> None:
    setting = await a_quiz_with_a_learner(platform)
    results = await asyncio.gather(
        *(platform.assessment.start_attempt(setting.learner, setting.quiz_id) for _ in range(CALLERS))
    )
    ids = {view.attempt.id for view, _ in results}
    assert len(ids) == 1
    assert sum(created for _, created in results) == 1
    (attempt_id,) = ids
    assert await count(platform, select(func.count()).where(attempts.c.quiz_id == setting.quiz_id)) == 1
    assert await count(platform, select(func.count()).where(attempt_items.c.attempt_id == attempt_id)) == 2
    assert await events(platform, attempt_id) == ["assessment.attempt_started.v1"]


async def test_twenty_simultaneous_submits_give_one_submission_and_one_grade(platform: Platform) -> None:
    setting = await a_quiz_with_a_learner(platform)
    view, _ = await platform.assessment.start_attempt(setting.learner, setting.quiz_id)
    attempt_id = view.attempt.id
    await platform.assessment.save_answer(
        setting.learner, attempt_id, setting.choice, SaveAnswer(response={"choice": "b"})
    )
    results = await asyncio.gather(
        *(platform.assessment.submit_attempt(setting.learner, attempt_id) for _ in range(CALLERS))
    )
    assert sum(submitted_now for _, submitted_now in results) == 1
    assert {view.attempt.status for view, _ in results} == {AttemptStatus.GRADED}
    assert {view.attempt.percent for view, _ in results} == {25.0}  # 1 of 4 points: the true/false left blank
    assert await events(platform, attempt_id) == [
        "assessment.attempt_started.v1",
        "assessment.attempt_submitted.v1",
        "assessment.attempt_graded.v1",
    ]
    query = select(attempts.c.status, attempts.c.percent, attempts.c.submitted_at).where(attempts.c.id == attempt_id)
    async with platform.database.read() as conn:
        stored = (await conn.execute(query)).one()
    assert (stored.status, stored.percent) == ("graded", 25.0)
    assert {view.attempt.submitted_at for view, _ in results} == {stored.submitted_at}


async def test_autosaves_racing_a_submit_never_change_the_submitted_answers(platform: Platform) -> None:
    setting = await a_quiz_with_a_learner(platform)
    service = platform.assessment
    for round_ in range(5):  # a few rounds, so the submit lands at different points among the saves
        view, created = await service.start_attempt(setting.learner, setting.quiz_id)
        assert created
        attempt_id = view.attempt.id

        async def autosave(n: int, attempt_id: uuid.UUID = attempt_id) -> bool:
            question, response = (
                (setting.choice, {"choice": "ab"[n % 2]}) if n % 3 else (setting.truth, {"value": n % 2 == 0})
            )
            try:
                await service.save_answer(setting.learner, attempt_id, question, SaveAnswer(response=response))
            except AttemptClosed:  # the submit came first
                return False
            return True

        submit_at = 3 + 2 * round_
        outcomes = await asyncio.gather(
            *(autosave(n) for n in range(submit_at)),
            service.submit_attempt(setting.learner, attempt_id),
            *(autosave(n) for n in range(submit_at, 12)),
        )
        submitted_view, submitted_now = outcomes[submit_at]
        assert submitted_now
        at_submit = {item.question_id: (item.response, item.saved_at) for item in submitted_view.items}
        query = select(attempt_items.c.question_id, attempt_items.c.response, attempt_items.c.saved_at).where(
            attempt_items.c.attempt_id == attempt_id
        )
        async with platform.database.read() as conn:
            stored = {r.question_id: (r.response, r.saved_at) for r in await conn.execute(query)}
        assert stored == at_submit
        later = await service.view_attempt(setting.learner, attempt_id)
        assert {item.question_id: (item.response, item.saved_at) for item in later.items} == at_submit
        assert later.attempt.percent == submitted_view.attempt.percent
        submitted_at = submitted_view.attempt.submitted_at
        assert submitted_at is not None
        assert all(saved_at is None or saved_at <= submitted_at for _, saved_at in at_submit.values())
        assert await events(platform, attempt_id) == [
            "assessment.attempt_started.v1",
            "assessment.attempt_submitted.v1",
            "assessment.attempt_graded.v1",
        ]
