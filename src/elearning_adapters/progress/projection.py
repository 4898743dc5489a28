"""The ``progress`` subscription: the projection of learner activity into completion and percentages.

One handler per event type, each writing through the handler's connection (the transaction that
also holds the inbox row), and appending the completion events it newly records to the outbox in
that same transaction. Every handler is idempotent by itself, not only through the inbox: facts are
unions and maxima, and a recompute over unchanged facts writes the same state and records nothing.
The same handlers run in-process, under ``elearning worker consume progress``, and (as
``ProgressProjector.recompute``) in ``elearning progress rebuild``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

import elearning_core.assessment.events as assessment_events
import elearning_core.enrollment.events as enrollment_events
from elearning_adapters.events.dispatch import Handler
from elearning_adapters.events.subscriptions import Subscription
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.outbox import append_to_outbox
from elearning_adapters.sql.progress import SqlProgressRepository, course_progress
from elearning_adapters.sql.rebuild import SqlKeysetSource
from elearning_core.assessment.queries import AssessmentQueries, build_gradebook
from elearning_core.course.events import CoursePublished
from elearning_core.progress import events as progress_events
from elearning_core.progress.model import CompletionSource, QuizOutcome
from elearning_core.progress.projector import ProgressProjector, Touched
from elearning_core.shared.clock import Clock
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.rebuild import Progress
from elearning_core.shared.rebuild import rebuild as shared_rebuild

PROGRESS = "progress"


def progress_subscription(projector: ProgressProjector) -> Subscription:
    async def recompute(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        course_id: uuid.UUID = getattr(event, "course_id")  # noqa: B009  (every handled type names both)
        user_id: uuid.UUID = getattr(event, "user_id")  # noqa: B009
        repo = SqlProgressRepository(conn)
        await append_to_outbox(conn, await projector.recompute(repo, course_id, user_id))

    async def course_completed(event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
        # Our own "rules" completions come back here too: they change nothing. An override makes the state say so.
        if isinstance(event, progress_events.CourseCompleted) and event.source == CompletionSource.OVERRIDE.value:
            await recompute(event, envelope, conn)

    def quiz(outcome: Callable[[DomainEvent], QuizOutcome]) -> Handler:
        async def handle(event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
            repo = SqlProgressRepository(conn)
            quiz_id: uuid.UUID = getattr(event, "quiz_id")  # noqa: B009
            course_id: uuid.UUID = getattr(event, "course_id")  # noqa: B009
            user_id: uuid.UUID = getattr(event, "user_id")  # noqa: B009
            await repo.record_quiz(course_id, user_id, quiz_id, outcome(event), event.occurred_at)
            await append_to_outbox(conn, await projector.recompute(repo, course_id, user_id))

        return handle

    async def whole_course(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        """A new version may add required lessons, new rules may complete lessons: every learner of the course is
        recomputed (in pages). The course is the aggregate of both events."""
        repo = SqlProgressRepository(conn)
        _, events = await projector.recompute_course(repo, event.aggregate_id)
        await append_to_outbox(conn, events)

    async def watched(event: DomainEvent, _envelope: EventEnvelope, conn: AsyncConnection) -> None:
        assert isinstance(event, progress_events.VideoWatched)
        repo = SqlProgressRepository(conn)
        await append_to_outbox(conn, await projector.after_watch(repo, event.course_id, event.user_id, event.lesson_id))

    def graded(event: DomainEvent) -> QuizOutcome:
        percent = getattr(event, "percent")  # noqa: B009
        return QuizOutcome(float(percent), passed=bool(getattr(event, "passed")), submitted=True)  # noqa: B009

    async def handle_batch(items: Sequence[tuple[DomainEvent, EventEnvelope]], conn: AsyncConnection) -> None:
        """The set-wise path: a run of activity events (views, done marks, heartbeats, enrollments, resets:
        the events that only recompute their learner) is ONE ``projector.project`` (each learner read once,
        written once, their completions recorded once); any other event first projects the run before it,
        then runs its own handler, so the effect is the per-type handlers' in batch order."""
        repo = SqlProgressRepository(conn)
        run: list[Touched] = []

        async def flush() -> None:
            if run:
                await append_to_outbox(conn, await projector.project(repo, run))
                run.clear()

        for event, envelope in items:
            touched = _touched(event)
            if touched is not None:
                run.append(touched)
            elif not _inert(event):
                await flush()
                await handlers[envelope.type](event, envelope, conn)
        await flush()

    handlers: dict[str, Handler] = {
        progress_events.LessonViewed.type: recompute,
        progress_events.LessonMarkedDone.type: recompute,
        progress_events.VideoWatched.type: watched,
        progress_events.CompletionRulesChanged.type: whole_course,
        progress_events.ProgressReset.type: recompute,
        progress_events.CourseCompleted.type: course_completed,
        enrollment_events.Enrolled.type: recompute,
        assessment_events.AttemptSubmitted.type: quiz(lambda _e: QuizOutcome(None, passed=False, submitted=True)),
        assessment_events.AttemptGraded.type: quiz(graded),
        assessment_events.AttemptRegraded.type: quiz(graded),
        CoursePublished.type: whole_course,
    }
    return Subscription(
        name=PROGRESS,
        description="derives lesson and course completion and percentages from learner activity",
        handlers=handlers,
        batch_handler=handle_batch,
    )


_RECOMPUTE_ONLY = (
    progress_events.LessonViewed,
    progress_events.LessonMarkedDone,
    progress_events.ProgressReset,
    enrollment_events.Enrolled,
)


def _touched(event: DomainEvent) -> Touched | None:
    """What an event whose handler only recomputes its learner asks of the projection (None: another kind)."""
    if isinstance(event, progress_events.VideoWatched):
        return Touched(event.course_id, event.user_id, event.lesson_id)
    if isinstance(event, _RECOMPUTE_ONLY) or (
        isinstance(event, progress_events.CourseCompleted) and event.source == CompletionSource.OVERRIDE.value
    ):
        return Touched(getattr(event, "course_id"), getattr(event, "user_id"))  # noqa: B009
    return None


def _inert(event: DomainEvent) -> bool:
    """Our own rule completions come back through the topic and change nothing."""
    return isinstance(event, progress_events.CourseCompleted) and event.source != CompletionSource.OVERRIDE.value


class AssessmentCourseGrades:
    """The narrow gradebook read progress needs (``CourseGrades``): the learner's course total."""

    def __init__(self, queries: AssessmentQueries, clock: Clock) -> None:
        self._queries, self._clock = queries, clock

    async def course_grade(self, course_id: uuid.UUID, user_id: uuid.UUID) -> float | None:
        gradebook = build_gradebook(
            course_id, await self._queries.learner_grades(course_id, user_id), self._clock.now()
        )
        return next((row.total for row in gradebook.rows if row.user_id == user_id), None)


async def rebuild(
    db: Database,
    projector: ProgressProjector,
    *,
    course_id: uuid.UUID | None = None,
    from_scratch: bool = False,
    progress: Progress | None = None,
    chunk_size: int = 1_000,
    deadline: float | None = None,
) -> tuple[int, int]:
    """Recompute the derived state from the facts: one course, or every course with learners.

    ``from_scratch`` first forgets the derived rows (completions included), so what is left is exactly what
    the facts give under today's outline and rules. Completions newly found are recorded as events, as the
    live projection would. The shared ``rebuild()`` walk over the learners (their ``progress_courses`` rows,
    every enrolled learner given one first, as the live projection gives it on enrollment) in
    (course, learner) key order, ``chunk_size`` learners per transaction, each chunk one set-wise
    ``projector.project``; ``progress(done, total)`` after each chunk. Returns (courses, learners).
    """
    p = course_progress
    async with db.write() as conn, conn.begin():
        await SqlProgressRepository(conn).ensure_enrolled_rows(course_id)
    query = select(p.c.course_id, p.c.user_id)
    if course_id is not None:
        query = query.where(p.c.course_id == course_id)
    source = SqlKeysetSource(db, query, key=[p.c.course_id, p.c.user_id], fact=_learner)
    courses: set[uuid.UUID] = set() if course_id is None else {course_id}

    async def reset() -> None:
        async with db.write() as conn, conn.begin():
            await SqlProgressRepository(conn).wipe_derived(course_id)

    async def apply(pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
        async with db.write() as conn, conn.begin():
            events = await projector.project(SqlProgressRepository(conn), [Touched(c, u) for c, u in pairs])
            await append_to_outbox(conn, events)
        courses.update(c for c, _ in pairs)

    report = await shared_rebuild(
        source,
        apply,
        reset=reset if from_scratch else None,
        chunk_size=chunk_size,
        progress=progress,
        deadline=deadline,
    )
    return len(courses), report.facts


def _learner(row: Row[Any]) -> tuple[uuid.UUID, uuid.UUID]:
    return row.course_id, row.user_id
