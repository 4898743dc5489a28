"""The learning path module's consumers, and the unit of work they run their use cases in.

``learning-path-enroller`` handles ``learning_path.enrolled.v1``: it enrolls the
learner into each course the event names through the enrollment module's own
use case (``EnrollmentService.enroll_for_path``: the course's self-enrollment
rules, capacity, window and prerequisites, not a copy of them), and records
each outcome on the path enrollment; a refusal is recorded with its reason and
published as ``learning_path.course_enrollment_refused.v1``. Already enrolled
is an enrollment like any other (idempotent).

``learning-path-progress`` is the path progress projection: it keeps the
completion facts (``progress.course_completed.v1`` adds one,
``progress.reset.v1`` removes it) and completes the learner's paths whose
rules they satisfy; ``learning_path.enrolled.v1`` checks a new enrollment at once
(its courses may all be completed already).

Atomicity: every use case a handler runs uses a unit of work joined to the
dispatcher's connection (``SqlUnitOfWork.joining``), the transaction that holds
the event's inbox row. Its commit only releases a savepoint; the effect (enrollments, outcomes, facts,
completion, their outbox rows) commits with the inbox row, or not at all. A
refused course rolls back to its savepoint, so one refusal never undoes the
other courses' enrollments. (On SQLite a second unit of work beside the
handler's transaction would wait for ever for the one write lock, so joining
is also the only option there.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncConnection

import elearning_core.learning_path.events
import elearning_core.progress.events  # noqa: F401  (registers the progress event types)
from elearning_adapters.events import Subscription
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.enrollment.model import EnrollmentRefused
from elearning_core.enrollment.service import EnrollmentService
from elearning_core.learning_path.events import PathEnrolled
from elearning_core.learning_path.model import CourseOutcomeStatus
from elearning_core.learning_path.service import LearningPathService
from elearning_core.progress.events import CourseCompleted, ProgressReset
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.errors import Conflict, NotFound
from elearning_core.shared.events import DomainEvent

log = logging.getLogger(__name__)

PATH_ENROLLER = "learning-path-enroller"
PATH_PROGRESS = "learning-path-progress"
COURSE_UNAVAILABLE = "course_unavailable"


JoinUnitOfWork = Callable[[AsyncConnection], SqlUnitOfWork]
"""``SqlUnitOfWork.joining`` with the platform's after-commit hook (``SharedWiring.joined_unit_of_work``)."""


def path_enroller_subscription(
    join: JoinUnitOfWork, enrollment: Callable[[], EnrollmentService], paths: Callable[[], LearningPathService]
) -> Subscription:
    """``enrollment`` and ``paths`` are called at the first event (the container builds the services after
    the subscriptions: the transport needs these, the services' unit of work needs the transport)."""

    async def enrolled(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, PathEnrolled)
        courses = enrollment().joined(lambda: join(conn))
        outcomes = paths().joined(lambda: join(conn))
        for course_id in event.course_ids:
            try:
                await courses.enroll_for_path(event.user_id, course_id)
            except EnrollmentRefused as exc:
                await outcomes.record_course_outcome(
                    event.aggregate_id,
                    course_id,
                    CourseOutcomeStatus.REFUSED,
                    reason=exc.reason.value,
                    detail=exc.detail,
                )
                continue
            except (Conflict, NotFound) as exc:
                await outcomes.record_course_outcome(
                    event.aggregate_id,
                    course_id,
                    CourseOutcomeStatus.REFUSED,
                    reason=COURSE_UNAVAILABLE,
                    detail=exc.detail,
                )
                continue
            await outcomes.record_course_outcome(event.aggregate_id, course_id, CourseOutcomeStatus.ENROLLED)

    return Subscription(
        name=PATH_ENROLLER,
        description="enrolls a path's learner into its courses under each course's rules, reporting refusals",
        handlers={PathEnrolled.type: enrolled},
    )


def path_progress_subscription(join: JoinUnitOfWork, paths: Callable[[], LearningPathService]) -> Subscription:
    async def course_completed(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, CourseCompleted)
        done = (
            await paths().joined(lambda: join(conn)).course_completed(event.user_id, event.course_id, event.occurred_at)
        )
        for path_id in done:
            log.info("learner %s completed learning path %s", event.user_id, path_id)

    async def reset(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, ProgressReset)
        await paths().joined(lambda: join(conn)).progress_reset(event.user_id, event.course_id)

    async def enrolled(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, PathEnrolled)
        await paths().joined(lambda: join(conn)).check_completion(event.aggregate_id, event.occurred_at)

    return Subscription(
        name=PATH_PROGRESS,
        description="keeps course completions per learner and completes the learning paths they satisfy",
        handlers={CourseCompleted.type: course_completed, ProgressReset.type: reset, PathEnrolled.type: enrolled},
    )
