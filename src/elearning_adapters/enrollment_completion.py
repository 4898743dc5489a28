"""The ``enrollment-completion`` subscription: the enrollment follows the progress module's decisions.

``progress.course_completed.v1`` (by the rules or a staff override) completes the learner's
enrollment (``enrollment.completed.v1``); ``progress.reset.v1`` reopens a completed one
(``enrollment.reopened.v1``). Written through a unit of work joined to the handler's transaction
(the enrollment and its outbox events commit with the inbox row); a second delivery finds nothing to change.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.events.dispatch import Handler
from elearning_adapters.events.subscriptions import Subscription
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.enrollment.model import Enrollment
from elearning_core.progress.events import CourseCompleted, ProgressReset
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent

ENROLLMENT_COMPLETION = "enrollment-completion"


JoinUnitOfWork = Callable[[AsyncConnection], SqlUnitOfWork]
"""``SharedWiring.joined_unit_of_work``: a unit of work in the handler's transaction, after-commit deferred."""


async def _follow(event: DomainEvent, uow: SqlUnitOfWork, complete: bool) -> None:
    course_id: uuid.UUID = getattr(event, "course_id")  # noqa: B009  (both handled types name them)
    user_id: uuid.UUID = getattr(event, "user_id")  # noqa: B009
    async with uow:
        enrollment: Enrollment | None = await uow.enrollments.find(course_id, user_id)
        if enrollment is None or not enrollment.grants_access:
            return  # no enrollment to follow (unenrolled since): the progress record stands on its own
        changed = enrollment.complete(event.occurred_at) if complete else enrollment.reopen(event.occurred_at)
        if changed:
            await uow.commit()


def enrollment_completion_subscription(join: JoinUnitOfWork) -> Subscription:
    async def completed(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        await _follow(event, join(conn), complete=True)

    async def reset(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        await _follow(event, join(conn), complete=False)

    handlers: dict[str, Handler] = {CourseCompleted.type: completed, ProgressReset.type: reset}
    return Subscription(
        name=ENROLLMENT_COMPLETION,
        description="completes (and on a progress reset reopens) enrollments as the progress module decides",
        handlers=handlers,
    )
