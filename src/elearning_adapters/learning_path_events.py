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

Atomicity: every use case a handler runs uses a ``JoinedUnitOfWork`` on the
dispatcher's connection, the transaction that holds the event's inbox row. Its
commit only releases a savepoint; the effect (enrollments, outcomes, facts,
completion, their outbox rows) commits with the inbox row, or not at all. A
refused course rolls back to its savepoint, so one refusal never undoes the
other courses' enrollments. (On SQLite a second unit of work beside the
handler's transaction would wait for ever for the one write lock, so joining
is also the only option there.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncTransaction

import elearning_core.learning_path.events
import elearning_core.progress.events  # noqa: F401  (registers the progress event types)
from elearning_adapters.events import Subscription
from elearning_adapters.sql.engine import Database
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


class JoinedUnitOfWork(SqlUnitOfWork):
    """A unit of work inside a transaction another holds (an event handler's, with its inbox row).

    It works in a savepoint of that transaction: ``commit()`` writes the
    aggregates and their outbox rows and releases the savepoint, leaving the
    outer transaction to commit them; leaving without committing rolls back to
    the savepoint. The after-commit hook is not called (nothing is committed
    yet); the in-process transport finds the outbox rows at its next round.
    """

    def __init__(self, db: Database, conn: AsyncConnection) -> None:
        super().__init__(db)
        self._outer = conn
        self._savepoint: AsyncTransaction | None = None

    async def __aenter__(self) -> Self:
        self._conn = self._outer
        self._savepoint = await self._outer.begin_nested()
        self._bind(self._outer)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        savepoint, self._savepoint, self._conn = self._savepoint, None, None
        if savepoint is not None and savepoint.is_active:
            await savepoint.rollback()

    async def _end_transaction(self, *, commit: bool) -> None:
        savepoint = self._savepoint
        if savepoint is not None and savepoint.is_active:
            await (savepoint.commit() if commit else savepoint.rollback())


def _joined(db: Database, conn: AsyncConnection) -> Any:
    return lambda: JoinedUnitOfWork(db, conn)


def path_enroller_subscription(
    db: Database, enrollment: Callable[[], EnrollmentService], paths: Callable[[], LearningPathService]
) -> Subscription:
    """``enrollment`` and ``paths`` are called at the first event (the container builds the services after
    the subscriptions: the transport needs these, the services' unit of work needs the transport)."""

    async def enrolled(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, PathEnrolled)
        courses = enrollment().joined(_joined(db, conn))
        outcomes = paths().joined(_joined(db, conn))
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


def path_progress_subscription(db: Database, paths: Callable[[], LearningPathService]) -> Subscription:
    async def course_completed(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, CourseCompleted)
        done = (
            await paths().joined(_joined(db, conn)).course_completed(event.user_id, event.course_id, event.occurred_at)
        )
        for path_id in done:
            log.info("learner %s completed learning path %s", event.user_id, path_id)

    async def reset(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, ProgressReset)
        await paths().joined(_joined(db, conn)).progress_reset(event.user_id, event.course_id)

    async def enrolled(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, PathEnrolled)
        await paths().joined(_joined(db, conn)).check_completion(event.aggregate_id, event.occurred_at)

    return Subscription(
        name=PATH_PROGRESS,
        description="keeps course completions per learner and completes the learning paths they satisfy",
        handlers={CourseCompleted.type: course_completed, ProgressReset.type: reset, PathEnrolled.type: enrolled},
    )
