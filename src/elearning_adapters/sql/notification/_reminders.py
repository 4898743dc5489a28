"""Due-date reminders: the quizzes closing soon, as the job finds them."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select

from elearning_adapters.sql.assessment._tables import quizzes
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.notification._notices import add_fanout
from elearning_core.notification.model import Audience, NotificationType

_REMINDERS = uuid.UUID("6f1f6a2e-3c55-4c1e-9d0b-5c2f1c6f0a11")


async def queue_due_reminders(db: Database, *, at: datetime, horizon: timedelta) -> int:
    """A due-date reminder fan-out for each published quiz closing within ``horizon`` of ``at``; its
    event id is derived from (quiz, close time), so every run of the job names the same fan-out and a
    moved close date gets a reminder of its own. Per-learner extensions are not looked at: a learner
    with an extension is reminded of the course-wide close."""
    q = quizzes.c
    async with db.write() as conn:
        rows = (
            await conn.execute(
                select(q.id, q.course_id, q.title, q.closes_at).where(
                    q.status == "published", q.closes_at > at, q.closes_at <= at + horizon
                )
            )
        ).all()
        for row in rows:
            event_id = uuid.uuid5(_REMINDERS, f"{row.id}:{row.closes_at.isoformat()}")
            data = {"quiz": row.title, "when_iso": row.closes_at.isoformat()}
            audience = Audience(NotificationType.DUE_SOON, row.course_id, event_id, data, f"/courses/{row.course_id}")
            await add_fanout(conn, audience, at)
        await conn.commit()
    return len(rows)
