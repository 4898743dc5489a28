"""Due-date reminders: each learner of a quiz closing soon, on their own close (the quiz's, or the later one
their extension gives), once per learner and quiz.

Whom: learners enrolled (active or completed) who have not submitted an attempt, have no reminder of the quiz
yet, and whom the entitlement check still lets do graded work (a lapsed subscription, a refund, an audit
track: no reminder of a quiz they cannot open). The reminder's event id is derived from the quiz alone, so a
learner's notice and delivery rows are unique on (learner, quiz): a second run, or a second replica, writes
nothing, and a learner already reminded is not read again (``NOT EXISTS`` on the delivery's unique key).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, literal, or_, select, union
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.assessment._tables import attempts, quiz_extensions, quizzes
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.enrollment import enrollments
from elearning_adapters.sql.notification._notices import (
    record_notices,
)
from elearning_adapters.sql.notification._tables import notification_deliveries
from elearning_core.notification.model import Channel, Notice, Notification, NotificationType, Render

_REMINDERS = uuid.UUID("6f1f6a2e-3c55-4c1e-9d0b-5c2f1c6f0a11")

MayTakeQuizzes = Callable[[uuid.UUID, uuid.UUID, datetime], Awaitable[bool]]
"""(learner, course, enrolled at) -> whether the entitlement check lets them do graded work now."""


def reminder_event(quiz_id: uuid.UUID) -> uuid.UUID:
    """The reminder's event id: one per quiz, so one reminder per learner and quiz."""
    return uuid.uuid5(_REMINDERS, str(quiz_id))


async def _quizzes_closing(conn: AsyncConnection, at: datetime, end: datetime) -> list[Any]:
    """Published quizzes whose own close, or some learner's extended close, falls in (at, end]."""
    q, x = quizzes.c, quiz_extensions.c
    ids = union(
        select(q.id).where(q.closes_at > at, q.closes_at <= end),
        select(x.quiz_id).where(x.closes_at > at, x.closes_at <= end),
    ).subquery()
    query = select(q.id, q.course_id, q.title, q.closes_at).where(
        q.id.in_(select(ids.c.id)), q.status == "published", q.closes_at.is_not(None)
    )
    return list((await conn.execute(query.order_by(q.id))).all())


def _learners(quiz: Any, at: datetime, end: datetime, after: uuid.UUID | None, limit: int) -> Any:
    """The quiz's learners due a reminder now, by user id after ``after``: their close (the later of the
    quiz's and their extension's) in (at, end], nothing submitted, not reminded yet."""
    e, x, a, d = enrollments.c, quiz_extensions.c, attempts.c, notification_deliveries.c
    own_close_in_window = at < quiz.closes_at <= end
    extended = and_(x.closes_at.is_not(None), x.closes_at > quiz.closes_at)
    query = (
        select(e.user_id, e.enrolled_at, x.closes_at.label("extended_close"))
        .outerjoin(quiz_extensions, and_(x.quiz_id == quiz.id, x.user_id == e.user_id))
        .where(
            e.course_id == quiz.course_id,
            e.status.in_(("active", "completed")),
            or_(and_(extended, x.closes_at > at, x.closes_at <= end), and_(~extended, literal(own_close_in_window))),
            ~exists().where(a.quiz_id == quiz.id, a.user_id == e.user_id, a.submitted_at.is_not(None)),
            ~exists().where(
                d.user_id == e.user_id,
                d.event_id == reminder_event(quiz.id),
                d.type == NotificationType.DUE_SOON.value,
                d.channel == Channel.EMAIL.value,
            ),
        )
    )
    if after is not None:
        query = query.where(e.user_id > after)
    return query.order_by(e.user_id).limit(limit)


async def remind_due(
    db: Database,
    *,
    at: datetime,
    horizon: timedelta,
    may_take_quizzes: MayTakeQuizzes,
    render: Render,
    mail_domain: str,
    batch: int = 1_000,
    max_batches: int = 100,
) -> tuple[int, list[Notification]]:
    """Remind each learner whose close of a quiz falls within ``horizon`` of ``at``, ``batch`` learners per
    transaction, at most ``max_batches`` transactions a run (the next run goes on). Returns (learners
    reminded, the new in-app notifications for the live stream)."""
    end = at + horizon
    async with db.read() as conn:
        closing = await _quizzes_closing(conn, at, end)
    reminded, written = 0, []
    batches = 0
    for quiz in closing:
        after: uuid.UUID | None = None
        while batches < max_batches:
            batches += 1
            async with db.write() as conn:
                rows = (await conn.execute(_learners(quiz, at, end, after, batch))).all()
                notices = []
                for row in rows:
                    if not await may_take_quizzes(row.user_id, quiz.course_id, row.enrolled_at):
                        continue
                    close = row.extended_close if row.extended_close is not None else quiz.closes_at
                    data = {"quiz": quiz.title, "when_iso": close.isoformat()}
                    link = f"/courses/{quiz.course_id}"
                    notices.append(Notice(NotificationType.DUE_SOON, row.user_id, reminder_event(quiz.id), data, link))
                recorded = await record_notices(conn, notices, at=at, render=render, mail_domain=mail_domain)
                await conn.commit()
            reminded += len(notices)
            written.extend(recorded.in_app)
            if len(rows) < batch:
                break
            after = rows[-1].user_id
    return reminded, written
