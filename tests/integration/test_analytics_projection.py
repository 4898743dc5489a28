"""The analytics projection through real use cases and the in-process transport, on SQLite and
PostgreSQL: enrolling, viewing a lesson and submitting a quiz attempt put their xAPI statements in the
store (with the enrollment as registration), and handing the same events to the projection again
stores nothing twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ralph.models.xapi.base.statements import BaseXapiStatement
from sqlalchemy import func, select

from elearning_adapters.analytics.projection import project
from elearning_adapters.container import Platform
from elearning_adapters.sql.analytics import xapi_statements
from elearning_adapters.sql.outbox import outbox
from elearning_core.analytics import vocabulary as v
from elearning_core.analytics.ports import StatementQuery
from elearning_core.assessment.commands import FixedSlotInput, QuestionInput, QuizSettings, SaveAnswer
from elearning_core.assessment.model import SingleChoice
from elearning_core.course.commands import CourseSpec, LessonContentSpec, LessonSpec, SectionSpec
from elearning_core.identity.commands import CreateUser
from elearning_core.shared.clock import SystemClock
from elearning_core.shared.events import DomainEvent, event_class
from elearning_core.shared.ports import SYSTEM, Principal
from tests.integration.test_progress_projection import progress_platform

BASE = "https://learn.example.org"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def platform(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Platform]:
    async with progress_platform(request, tmp_path, public_base_url=BASE) as built:
        yield built


async def drain(platform: Platform) -> None:
    transport = platform.events
    assert transport is not None
    async with asyncio.timeout(30):
        await transport.drain()


async def count(platform: Platform) -> int:
    async with platform.database.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(xapi_statements))).scalar_one())


async def outbox_events(platform: Platform) -> list[DomainEvent]:
    async with platform.database.read() as conn:
        rows = (await conn.execute(select(outbox.c.event_type, outbox.c.payload).order_by(outbox.c.id))).all()
    events = []
    for type_name, payload in rows:
        cls = event_class(type_name)
        assert cls is not None
        events.append(cls.model_validate(payload))
    return events


async def test_use_cases_leave_their_statements_in_the_store(platform: Platform) -> None:
    section = SectionSpec(title="One", lessons=[LessonSpec(title="L", content=LessonContentSpec(body_markdown="Hi"))])
    [course] = await platform.courses.import_courses(
        SYSTEM, [CourseSpec(slug="tracked", title="Tracked", status="published", sections=[section])]
    )
    lesson_id = (await platform.courses.get_outline(SYSTEM, course.id)).sections[0].lessons[0].id
    user = await platform.identity.create_user(SYSTEM, CreateUser(email="ada@example.org", display_name="Ada"))
    enrollment, _ = await platform.enrollments.enroll(SYSTEM, course.id, user.id)
    learner = Principal(subject=f"user:{user.id}", roles=frozenset({"learner"}), user_id=user.id)
    await platform.progress.view(learner, course.id, lesson_id)

    quizzes = platform.assessment
    body = SingleChoice.model_validate(
        {"options": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}], "correct": "b"}
    )
    question = await quizzes.create_question(SYSTEM, course.id, QuestionInput(prompt="Pick B", body=body))
    quiz = await quizzes.create_quiz(
        SYSTEM, course.id, QuizSettings(title="Quiz", slots=[FixedSlotInput(question_id=question.id)])
    )
    await quizzes.publish_quiz(SYSTEM, quiz.id)
    view, _ = await quizzes.start_attempt(learner, quiz.id)
    await quizzes.save_answer(learner, view.attempt.id, question.id, SaveAnswer(response={"choice": "b"}))
    await quizzes.submit_attempt(learner, view.attempt.id)
    await drain(platform)

    agent = f"account:{BASE}|{user.id}"
    page = await platform.analytics.statements(StatementQuery(agent=agent, ascending=True), limit=100)
    verbs = [s.statement.verb.id for s in page.items]
    for verb in (
        v.REGISTERED,
        v.EXPERIENCED,
        v.ATTEMPTED,
        v.SUBMITTED,
        v.ANSWERED,
        v.SCORED,
        v.COMPLETED,
    ):  # no pass mark: scored
        assert verb.id in verbs, verb
    assert verbs.count(v.REGISTERED.id) == 2  # the account, and the enrollment in the course
    for stored in page.items:
        BaseXapiStatement.model_validate(stored.statement.as_json())
        assert stored.statement.stored is not None

    in_course = await platform.analytics.statements(StatementQuery(registration=enrollment.id), limit=100)
    assert {s.statement.verb.id for s in in_course.items} >= {v.REGISTERED.id, v.EXPERIENCED.id, v.ANSWERED.id}
    [answered] = [s.statement for s in page.items if s.statement.verb.id == v.ANSWERED.id]
    assert answered.result is not None
    assert answered.result.response == "b"
    assert answered.result.success is True
    viewed = await platform.analytics.statements(
        StatementQuery(activity=f"{BASE}/xapi/activities/lesson/{lesson_id}", verb=v.EXPERIENCED.id)
    )
    assert [s.statement.actor.key() for s in viewed.items] == [agent]

    # Redelivery: the same events through the projection again store nothing twice.
    before = await count(platform)
    events = await outbox_events(platform)
    async with platform.database.write() as conn, conn.begin():
        made = await project(platform.container.analytics.mapper(), SystemClock(), events, conn)
    assert made == before
    assert await count(platform) == before
