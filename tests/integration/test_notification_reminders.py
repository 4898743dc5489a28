"""The ``notifications.due-reminders`` job on SQLite and PostgreSQL, driven through the scheduler on a clock the
test sets: each learner is reminded once per quiz, N hours before their own close (a per-learner extension
moves it), and never after submitting, after unenrolling or once their access is gone (a refund)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from elearning_adapters import Platform
from elearning_adapters.sql.notification import notification_deliveries, notifications, reminder_event
from elearning_core.assessment.commands import (
    ExtensionInput,
    FixedSlotInput,
    QuestionInput,
    QuizSettings,
    SaveAnswer,
)
from elearning_core.assessment.model import SingleChoice
from elearning_core.entitlement.commands import ChangeGrant, GiveGrant, SetOffer
from elearning_core.entitlement.model import GrantStatus
from elearning_core.shared.ports import SYSTEM, Principal
from tests.integration.test_notifications import T0, a_course, a_user, clock, notifying, sender

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer

pytest_plugins = ["tests.smtp_server"]
__all__ = ["notifying"]  # the fixture, shared with test_notifications

CLOSES = T0 + timedelta(hours=30)
EXTENDED = T0 + timedelta(hours=60)
REMIND = "notifications.due-reminders"


async def a_quiz(platform: Platform, course_id: uuid.UUID) -> uuid.UUID:
    service = platform.assessment
    body = SingleChoice(options=[{"id": "a", "text": "A"}, {"id": "b", "text": "B"}], correct="a")  # type: ignore[list-item]
    question = await service.create_question(SYSTEM, course_id, QuestionInput(prompt="Pick A", body=body))
    settings = QuizSettings(title="Week 1", slots=[FixedSlotInput(question_id=question.id)], closes_at=CLOSES)
    quiz = await service.create_quiz(SYSTEM, course_id, settings)
    await service.publish_quiz(SYSTEM, quiz.id)
    return quiz.id


async def reminders(platform: Platform, quiz_id: uuid.UUID) -> dict[uuid.UUID, dict[str, Any]]:
    """Each reminded learner's email delivery data (one row each: the unique key holds)."""
    d = notification_deliveries.c
    async with platform.database.read() as conn:
        rows = (await conn.execute(select(d.user_id, d.data).where(d.event_id == reminder_event(quiz_id)))).all()
    found = {row.user_id: dict(row.data) for row in rows}
    assert len(found) == len(rows)
    return found


async def run(platform: Platform) -> str:
    return (await platform.scheduler.run_now(REMIND)).result


async def test_each_learner_is_reminded_once_before_their_own_close(
    notifying: Platform, smtp_server: SmtpServer
) -> None:
    course_id = await a_course(notifying, "Statistics")
    await notifying.entitlements.set_offer(SYSTEM, course_id, SetOffer(paid=True))
    names = ("ada", "bo", "cy", "dee", "eve")
    people = {name: await a_user(notifying, f"{name}.rem@example.org") for name in names}
    grants = {}
    for name, user_id in people.items():
        grants[name] = await notifying.entitlements.give(SYSTEM, GiveGrant(user_id=user_id, course_id=course_id))
        await notifying.enrollments.enroll(SYSTEM, course_id, user_id)
    quiz_id = await a_quiz(notifying, course_id)
    await notifying.assessment.set_extension(SYSTEM, quiz_id, people["bo"], ExtensionInput(closes_at=EXTENDED))
    cy = Principal(subject=str(people["cy"]), user_id=people["cy"])
    view, _ = await notifying.assessment.start_attempt(cy, quiz_id)
    (item,) = view.items
    await notifying.assessment.save_answer(cy, view.attempt.id, item.question_id, SaveAnswer(response={"choice": "a"}))
    await notifying.assessment.submit_attempt(cy, view.attempt.id)
    await notifying.enrollments.unenroll(SYSTEM, course_id, people["dee"])
    await notifying.entitlements.change(SYSTEM, ChangeGrant(grant_id=grants["eve"].id, status=GrantStatus.REFUNDED))

    assert await run(notifying) == "reminded 0 learner(s) of a quiz closing soon"  # 30 h ahead: not yet
    clock(notifying).set(CLOSES - timedelta(hours=23))
    assert await run(notifying) == "reminded 1 learner(s) of a quiz closing soon"
    assert await run(notifying) == "reminded 0 learner(s) of a quiz closing soon"  # twice: still once
    assert set(await reminders(notifying, quiz_id)) == {people["ada"]}

    clock(notifying).set(EXTENDED - timedelta(hours=2))  # the quiz closed; Bo's extended close is near
    assert await run(notifying) == "reminded 1 learner(s) of a quiz closing soon"
    assert await run(notifying) == "reminded 0 learner(s) of a quiz closing soon"
    reminded = await reminders(notifying, quiz_id)
    assert set(reminded) == {people["ada"], people["bo"]}
    assert reminded[people["ada"]]["when_iso"] == CLOSES.isoformat()
    assert reminded[people["bo"]]["when_iso"] == EXTENDED.isoformat()

    async with notifying.database.read() as conn:
        in_app = (await conn.execute(select(notifications.c.user_id).where(notifications.c.type == "due_soon"))).all()
    assert sorted(r.user_id for r in in_app) == sorted([people["ada"], people["bo"]])
    assert await sender(notifying).send_due() == (2, 0)
    mails = smtp_server.wait_for(2, where=lambda m: ".rem@example.org" in m.rcpt_tos[0])
    assert sorted(m.rcpt_tos[0] for m in mails) == ["ada.rem@example.org", "bo.rem@example.org"]
    assert all(m.message["Subject"] == "Week 1 closes soon" for m in mails)
