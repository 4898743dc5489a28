"""The learning path consumers on SQLite and PostgreSQL: the enroller's effect commits with its inbox row
or not at all, a refusal undoes only its own course, and a redelivery changes nothing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.container import Platform
from elearning_adapters.events import InProcessEventTransport, Subscription
from elearning_adapters.events.dispatch import EventDispatcher, Outcome
from elearning_adapters.kafka.producer import envelope_for
from elearning_adapters.learning_path_events import PATH_ENROLLER, path_enroller_subscription
from elearning_adapters.sql.learning_path import path_course_outcomes, path_enrollments
from elearning_adapters.sql.outbox import outbox
from elearning_adapters.sql.outbox_store import OutboxRecord
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.enrollment.commands import EnrollmentSettings
from elearning_core.identity.commands import CreateUser
from elearning_core.learning_path.commands import CreatePath, PartInput, SetStructure
from elearning_core.learning_path.events import PathEnrolled
from elearning_core.learning_path.model import PartKind
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ports import SYSTEM, Principal
from tests.e2e.http_helpers import course_spec


async def _count(platform: Platform, query: object) -> int:
    async with platform.database.read() as conn:
        return int((await conn.execute(query)).scalar_one())  # type: ignore[call-overload]


async def _world(platform: Platform) -> tuple[Principal, uuid.UUID, list[uuid.UUID]]:
    """A learner enrolled in a published path: course 0 required, any 1 of courses 1 and 2 (2 is full)."""
    courses = [
        (await platform.courses.import_courses(SYSTEM, [course_spec(f"c{i}-{uuid.uuid4().hex[:6]}")]))[0].id
        for i in range(3)
    ]
    await platform.enrollments.update_settings(SYSTEM, courses[2], EnrollmentSettings(capacity=0))
    paths = platform.learning_paths
    path = await paths.create(SYSTEM, CreatePath(title="P", slug=f"p-{uuid.uuid4().hex[:8]}"))
    parts = [
        PartInput(kind=PartKind.REQUIRED, course_ids=courses[:1]),
        PartInput(kind=PartKind.ELECTIVE, course_ids=courses[1:], required_count=1),
    ]
    await paths.set_structure(SYSTEM, path.id, SetStructure(parts=parts))
    await paths.publish(SYSTEM, path.id)
    user = await platform.identity.create_user(
        SYSTEM, CreateUser(email=f"l-{uuid.uuid4().hex[:6]}@example.org", display_name="L")
    )
    learner = Principal(subject=f"user:{user.id}", user_id=user.id, email_verified=True)
    await paths.enroll(learner, path.id)
    return learner, path.id, courses


def _enroller(platform: Platform) -> Subscription:
    return path_enroller_subscription(
        SqlUnitOfWork.joining, lambda: platform.enrollments, lambda: platform.learning_paths
    )


async def _redeliver(platform: Platform, subscription: Subscription) -> Outcome:
    """Dispatch the outbox's ``learning_path.enrolled.v1`` once more, as a redelivery would."""
    async with platform.database.read() as conn:
        row = (await conn.execute(select(outbox).where(outbox.c.event_type == PathEnrolled.type))).one()
    record = OutboxRecord(
        row.id,
        row.event_id,
        row.topic,
        row.message_key,
        row.event_type,
        row.payload,
        row.occurred_at,
        row.created_at,
        0,
    )
    dispatcher = EventDispatcher(subscription.name, subscription.handlers, platform.database, max_attempts=1)

    async def stopped(_seconds: float) -> bool:
        return True

    result = await dispatcher.dispatch(envelope_for(record, "test").to_json(), where="redelivery", sleep=stopped)
    return result.outcome


def _transport(platform: Platform, subscription: Subscription, attempts: int = 3) -> InProcessEventTransport:
    return InProcessEventTransport(
        platform.database, [subscription], max_attempts=attempts, initial_backoff=0.0, max_backoff=0.0
    )


async def test_a_handler_that_fails_after_its_effect_leaves_nothing_behind(platform: Platform) -> None:
    learner, _, courses = await _world(platform)
    real = _enroller(platform).handlers[PathEnrolled.type]

    async def crashes_after(event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
        await real(event, envelope, conn)
        raise RuntimeError("the process died before the commit")

    failing = Subscription(PATH_ENROLLER, "test", {PathEnrolled.type: crashes_after})
    await _transport(platform, failing, attempts=1).drain()
    for course_id in courses:
        assert not await platform.enrollments.is_enrolled(learner.user_id, course_id)  # type: ignore[arg-type]
    assert await _count(platform, select(func.count()).select_from(path_course_outcomes)) == 0
    enrolled_events = select(func.count()).select_from(outbox).where(outbox.c.event_type == "enrollment.enrolled.v1")
    assert await _count(platform, enrolled_events) == 0

    # Its inbox row went with the effect: delivered again (a replayed dead letter), the event is handled anew.
    again = await _redeliver(platform, _enroller(platform))
    assert again is Outcome.HANDLED
    assert [await platform.enrollments.is_enrolled(learner.user_id, c) for c in courses] == [True, True, False]  # type: ignore[arg-type]


async def test_enrolling_refuses_the_full_course_only_and_a_redelivery_changes_nothing(platform: Platform) -> None:
    learner, path_id, courses = await _world(platform)
    subscription = _enroller(platform)
    await _transport(platform, subscription).drain()
    user_id = learner.user_id
    assert user_id is not None
    assert [await platform.enrollments.is_enrolled(user_id, c) for c in courses] == [True, True, False]
    progress = await platform.learning_paths.progress(learner, path_id)
    states = {c.course_id: c for part in progress.parts for c in part.courses}
    assert [states[c].enrollment for c in courses] == ["enrolled", "enrolled", "refused"]
    assert states[courses[2]].refusal_reason == "course_full"

    assert await _redeliver(platform, subscription) is Outcome.DUPLICATE
    refused = (
        select(func.count())
        .select_from(outbox)
        .where(outbox.c.event_type == "learning_path.course_enrollment_refused.v1")
    )
    assert await _count(platform, refused) == 1
    assert await _count(platform, select(func.count()).select_from(path_course_outcomes)) == 3


async def test_completions_of_one_learner_handled_at_once_complete_the_path_once(platform: Platform) -> None:
    """Two consumers handling one learner's two completions at once: the path they complete together is
    completed, once (the learner's path enrollments are locked while the projection decides)."""
    paths = platform.learning_paths
    courses = [
        (await platform.courses.import_courses(SYSTEM, [course_spec(f"both-{i}-{uuid.uuid4().hex[:6]}")]))[0].id
        for i in range(2)
    ]
    path = await paths.create(SYSTEM, CreatePath(title="Both", slug=f"both-{uuid.uuid4().hex[:8]}"))
    await paths.set_structure(
        SYSTEM, path.id, SetStructure(parts=[PartInput(kind=PartKind.REQUIRED, course_ids=courses)])
    )
    await paths.publish(SYSTEM, path.id)
    learners = []
    for n in range(8):
        user = await platform.identity.create_user(SYSTEM, CreateUser(email=f"both-{n}@example.org", display_name="B"))
        await paths.enroll(Principal(subject=f"user:{user.id}", user_id=user.id, email_verified=True), path.id)
        learners.append(user.id)

    async def complete(user_id: uuid.UUID, course_id: uuid.UUID) -> None:
        async with platform.database.write() as conn, conn.begin():
            joined = paths.joined(lambda: SqlUnitOfWork.joining(conn))
            await joined.course_completed(user_id, course_id, datetime.now(UTC))

    await asyncio.wait_for(asyncio.gather(*(complete(u, c) for u in learners for c in courses)), timeout=60)
    completions = select(func.count()).select_from(outbox).where(outbox.c.event_type == "learning_path.completed.v1")
    assert await _count(platform, completions) == len(learners)
    done = select(func.count()).select_from(path_enrollments).where(path_enrollments.c.completed_at.is_not(None))
    assert await _count(platform, done) == len(learners)
