"""The scheduled job ``assessment.expire-attempts``, as `elearning serve` and the scheduler worker run it:
attempts whose time ran out get submitted and graded without the learner coming back. (That a failing run
does not end the loop, and that stopping finishes the run in hand: tests/unit/scheduling/test_runner.py.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dependency_injector import providers

from elearning_adapters.container import bootstrap
from elearning_adapters.settings import Settings
from elearning_core.assessment.commands import FixedSlotInput, QuestionInput, QuizSettings, SaveAnswer
from elearning_core.assessment.model import AttemptStatus, SingleChoice
from elearning_core.course.commands import CourseSpec, LessonSpec, SectionSpec
from elearning_core.course.model import CourseStatus
from elearning_core.identity.commands import CreateUser
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.ports import SYSTEM, Principal

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


async def _until(predicate: object, seconds: float = 10.0) -> None:
    """Poll ``predicate`` (an async callable) every 20 ms for at most ``seconds``."""
    for _ in range(int(seconds / 0.02)):
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not reached within {seconds} s")


@pytest.mark.asyncio
async def test_the_scheduled_job_submits_and_grades_an_abandoned_timed_attempt(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'sweep.db'}",
        data_dir=tmp_path,
        attempt_sweep_seconds=60,
        scheduler_tick_seconds=0.02,
    )
    platform = await bootstrap(settings)
    platform.container.adapters.clock.override(providers.Object(clock))
    try:
        service = platform.assessment
        (course,) = await platform.courses.import_courses(
            SYSTEM,
            [
                CourseSpec(
                    slug="timed-course",
                    title="Timed",
                    status=CourseStatus.PUBLISHED,
                    sections=[SectionSpec(title="One", lessons=[LessonSpec(title="Lesson")])],
                )
            ],
        )
        learner = await platform.identity.create_user(SYSTEM, CreateUser(email="l@example.org", display_name="L"))
        await platform.enrollments.enroll(SYSTEM, course.id, learner.id)
        body = SingleChoice(options=[{"id": "a", "text": "A"}, {"id": "b", "text": "B"}], correct="a")  # type: ignore[list-item]
        question = await service.create_question(SYSTEM, course.id, QuestionInput(prompt="Pick A", body=body))
        quiz = await service.create_quiz(
            SYSTEM,
            course.id,
            QuizSettings(
                title="Timed quiz",
                slots=[FixedSlotInput(question_id=question.id)],
                time_limit_seconds=600,
                grace_seconds=30,
            ),
        )
        await service.publish_quiz(SYSTEM, quiz.id)
        who = Principal(subject=str(learner.id), user_id=learner.id)
        view, _ = await service.start_attempt(who, quiz.id)
        await service.save_answer(who, view.attempt.id, question.id, SaveAnswer(response={"choice": "a"}))

        runner = platform.container.scheduling.runner()
        runner.start()
        try:
            await _until(lambda: _periods_done(platform, 1))
            staff_view = await _peek(platform, view.attempt.id)
            assert staff_view is AttemptStatus.IN_PROGRESS  # within its time: left alone
            clock.advance(timedelta(seconds=631))  # past the limit and the grace: a later period
            await _until(lambda: _status_is(platform, view.attempt.id, AttemptStatus.GRADED))
            await _until(lambda: _periods_done(platform, 2))
        finally:
            await runner.stop()
        results = [o.result for o in runner.outcomes if o.job == "assessment.expire-attempts"]
        assert results == ["closed 0 expired attempt(s)", "closed 1 expired attempt(s)"]
        (summary,) = (await service.list_attempts(who, quiz.id)).items
        assert summary.percent == 100.0
        assert summary.submitted_at is not None
    finally:
        await platform.aclose()


async def _periods_done(platform: object, n: int) -> bool:
    runner = platform.container.scheduling.runner()  # type: ignore[attr-defined]
    return sum(o.ok for o in runner.outcomes if o.job == "assessment.expire-attempts") >= n


async def _peek(platform: object, attempt_id: object) -> AttemptStatus:
    async with platform.container.adapters.unit_of_work() as uow:  # type: ignore[attr-defined]
        attempt = await uow.attempts.get(attempt_id)
        return attempt.status  # type: ignore[no-any-return]


async def _status_is(platform: object, attempt_id: object, status: AttemptStatus) -> bool:
    return await _peek(platform, attempt_id) is status
