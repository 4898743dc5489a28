"""A read port asked from inside a unit of work runs on that unit's connection.

On in-memory SQLite (the embedded default) there is one connection behind a lock, so a second
connection for the read would wait for the lock the unit itself holds, for ever: publishing a
quiz (which checks the course through another module's read port) hung that way. On every backend
the read sees what the unit has written so far."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from elearning_adapters.container import bootstrap
from elearning_adapters.settings import Settings
from elearning_adapters.sql.engine import Database
from elearning_core.assessment.commands import FixedSlotInput, QuestionInput, QuizSettings, SaveAnswer
from elearning_core.assessment.model import AttemptStatus, SingleChoice
from elearning_core.course.commands import CourseSpec, LessonSpec, SectionSpec
from elearning_core.course.model import CourseStatus
from elearning_core.identity.commands import CreateUser
from elearning_core.shared.ports import SYSTEM, Principal


def _databases(tmp_path: Path) -> list[Database]:
    return [Database("sqlite+aiosqlite://"), Database(f"sqlite+aiosqlite:///{tmp_path / 'file.db'}")]


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", [0, 1], ids=["in-memory", "file"])
async def test_a_read_inside_a_write_transaction_uses_its_connection(tmp_path: Path, kind: int) -> None:
    db = _databases(tmp_path)[kind]
    try:
        async with db.write() as conn:
            await conn.execute(text("CREATE TABLE t (n INTEGER)"))
            await conn.commit()
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            async with asyncio.timeout(5):
                async with db.read() as read:
                    assert read is conn
                    seen = (await read.execute(text("SELECT count(*) FROM t"))).scalar()
            assert seen == 1  # the unit's own uncommitted row
            await conn.commit()

        async def elsewhere() -> object:
            async with db.read() as other:
                return other

        async with db.write() as conn:
            # Another task does not borrow the transaction: it waits for its own connection.
            if db.is_memory:
                task = asyncio.create_task(elsewhere())
                await asyncio.sleep(0.05)
                assert not task.done()
            else:
                assert await asyncio.create_task(elsewhere()) is not conn
        if db.is_memory:
            assert await asyncio.wait_for(task, 5) is not conn
    finally:
        await db.dispose()


@pytest.mark.asyncio
async def test_the_embedded_platform_runs_a_quiz_end_to_end() -> None:
    async with await bootstrap(Settings.in_memory()) as platform:
        service = platform.assessment
        (course,) = await platform.courses.import_courses(
            SYSTEM,
            [
                CourseSpec(
                    slug="embedded-course",
                    title="Embedded",
                    status=CourseStatus.PUBLISHED,
                    sections=[SectionSpec(title="One", lessons=[LessonSpec(title="Lesson")])],
                )
            ],
        )
        learner = await platform.identity.create_user(SYSTEM, CreateUser(email="e@example.org", display_name="E"))
        await platform.enrollments.enroll(SYSTEM, course.id, learner.id)
        body = SingleChoice.model_validate(
            {"options": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}], "correct": "b"}
        )
        question = await service.create_question(SYSTEM, course.id, QuestionInput(prompt="Pick B", body=body))
        quiz = await service.create_quiz(
            SYSTEM, course.id, QuizSettings(title="Embedded quiz", slots=[FixedSlotInput(question_id=question.id)])
        )
        async with asyncio.timeout(10):
            await service.publish_quiz(SYSTEM, quiz.id)
            who = Principal(subject=str(learner.id), user_id=learner.id)
            view, created = await service.start_attempt(who, quiz.id)
            await service.save_answer(who, view.attempt.id, question.id, SaveAnswer(response={"choice": "b"}))
            graded, now = await service.submit_attempt(who, view.attempt.id)
        assert created
        assert now
        assert graded.attempt.status is AttemptStatus.GRADED
        assert graded.attempt.percent == 100.0
