"""The ``certificates`` subscription on SQLite and PostgreSQL: a redelivered completion (the same
event again, through the inbox) and a second completion event racing the first (the unique index)
both end with one active credential."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from elearning_adapters import Platform
from elearning_adapters.events.dispatch import EventDispatcher, Outcome
from elearning_adapters.sql.certificate import credentials
from elearning_core.certificate.commands import AwardSettings
from elearning_core.certificate.model import SubjectKind
from elearning_core.identity.commands import CreateUser
from elearning_core.shared.envelope import to_envelope
from elearning_core.shared.ports import SYSTEM
from tests.certificate_fakes import course_completed
from tests.e2e.http_helpers import course_spec


async def _never(_seconds: float) -> bool:
    return True  # stop retrying at once: a failed attempt is reported, not retried


async def a_course_with_an_award(platform: Platform) -> uuid.UUID:
    (course,) = await platform.courses.import_courses(SYSTEM, [course_spec(f"certified-{uuid.uuid4().hex[:8]}")])
    await platform.certificates.set_award(SYSTEM, SubjectKind.COURSE, course.id, AwardSettings(enabled=True))
    return course.id


def completion(course_id: uuid.UUID, user_id: uuid.UUID) -> bytes:
    return to_envelope(course_completed(course_id, user_id), "test").to_json()


async def active_count(platform: Platform, user_id: uuid.UUID) -> int:
    query = select(func.count()).where(credentials.c.user_id == user_id, credentials.c.revoked_at.is_(None))
    async with platform.database.read() as conn:
        return int((await conn.execute(query)).scalar_one())


def dispatcher(platform: Platform) -> EventDispatcher:
    (subscription,) = [s for s in platform.container.subscriptions() if s.name == "certificates"]
    return EventDispatcher(subscription.name, subscription.handlers, platform.database, max_attempts=1)


async def test_a_redelivered_completion_issues_one_credential(platform: Platform) -> None:
    course_id = await a_course_with_an_award(platform)
    user = await platform.identity.create_user(SYSTEM, CreateUser(email="ada@example.org", display_name="Ada"))
    raw = completion(course_id, user.id)
    handler = dispatcher(platform)

    first = await handler.dispatch(raw, where="test", sleep=_never)
    again = await handler.dispatch(raw, where="test", sleep=_never)

    assert (first.outcome, again.outcome) == (Outcome.HANDLED, Outcome.DUPLICATE)
    assert await active_count(platform, user.id) == 1


async def test_two_completion_events_at_once_issue_one_credential(platform: Platform) -> None:
    course_id = await a_course_with_an_award(platform)
    user = await platform.identity.create_user(SYSTEM, CreateUser(email="bo@example.org", display_name="Bo"))
    handler = dispatcher(platform)

    results = await asyncio.gather(
        *(handler.dispatch(completion(course_id, user.id), where="test", sleep=_never) for _ in range(3))
    )

    # On PostgreSQL they overlap: the losers' inserts wait for the winner's commit, then the unique
    # index refuses them and they take the winner's credential; on SQLite they run one after another.
    assert [r.outcome for r in results] == [Outcome.HANDLED] * 3
    assert await active_count(platform, user.id) == 1
