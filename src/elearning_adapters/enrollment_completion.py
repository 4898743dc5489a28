"""The ``enrollment-completion`` subscription: the enrollment follows the progress module's decisions.

``progress.course_completed.v1`` (by the rules or a staff override) completes the learner's
enrollment (``enrollment.completed.v1``); ``progress.reset.v1`` reopens a completed one
(``enrollment.reopened.v1``). Written through the handler's connection, with the enrollment's
events appended to the outbox in that same transaction; a second delivery finds nothing to change.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.events.dispatch import Handler
from elearning_adapters.events.subscriptions import Subscription
from elearning_adapters.sql.enrollment import SqlEnrollmentRepository
from elearning_adapters.sql.outbox import append_to_outbox
from elearning_core.enrollment.model import Enrollment
from elearning_core.progress.events import CourseCompleted, ProgressReset
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent

ENROLLMENT_COMPLETION = "enrollment-completion"


async def _follow(event: DomainEvent, conn: AsyncConnection, complete: bool) -> None:
    course_id: uuid.UUID = getattr(event, "course_id")  # noqa: B009  (both handled types name them)
    user_id: uuid.UUID = getattr(event, "user_id")  # noqa: B009
    repo = SqlEnrollmentRepository(conn)
    enrollment: Enrollment | None = await repo.find(course_id, user_id)
    if enrollment is None or not enrollment.grants_access:
        return  # no enrollment to follow (unenrolled since): the progress record stands on its own
    changed = enrollment.complete(event.occurred_at) if complete else enrollment.reopen(event.occurred_at)
    if changed:
        await repo.flush()
        await append_to_outbox(conn, enrollment.pull_events())


def enrollment_completion_subscription() -> Subscription:
    async def completed(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        await _follow(event, conn, complete=True)

    async def reset(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        await _follow(event, conn, complete=False)

    handlers: dict[str, Handler] = {CourseCompleted.type: completed, ProgressReset.type: reset}
    return Subscription(
        name=ENROLLMENT_COMPLETION,
        description="completes (and on a progress reset reopens) enrollments as the progress module decides",
        handlers=handlers,
    )
