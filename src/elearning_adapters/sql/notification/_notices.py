"""Notices written in the caller's transaction: each recipient's in-app notification and email delivery
as their preferences say (``record_notices``), and course-wide fan-outs queued for the job (``add_fanout``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.engine import dialect_insert
from elearning_adapters.sql.identity import users
from elearning_adapters.sql.notification._tables import (
    REASON_MAX,
    notification_deliveries,
    notification_fanouts,
    notification_preferences,
    notification_suppressions,
    notifications,
)
from elearning_core.notification.model import (
    Audience,
    Cadence,
    Channel,
    DeliveryStatus,
    Notice,
    Notification,
    NotificationType,
    Recorded,
    Render,
    cadence_of,
    digest_period,
    email_status,
)


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: uuid.UUID
    email: str
    locale: str
    time_zone: str


async def _recipients(conn: AsyncConnection, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Recipient]:
    rows = await conn.execute(
        select(users.c.id, users.c.email, users.c.locale, users.c.time_zone).where(
            users.c.id.in_(list(set(user_ids))), users.c.email.is_not(None)
        )
    )
    return {r.id: Recipient(r.id, r.email, r.locale, r.time_zone) for r in rows}


async def chosen_cadences(
    conn: AsyncConnection, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[tuple[NotificationType, Channel], Cadence]]:
    p = notification_preferences.c
    chosen: dict[uuid.UUID, dict[tuple[NotificationType, Channel], Cadence]] = {}
    for row in await conn.execute(
        select(p.user_id, p.type, p.channel, p.cadence).where(p.user_id.in_(list(set(user_ids))))
    ):
        chosen.setdefault(row.user_id, {})[(NotificationType(row.type), Channel(row.channel))] = Cadence(row.cadence)
    return chosen


def message_id(delivery_id: uuid.UUID, domain: str) -> str:
    return f"<notification.{delivery_id}@{domain}>"


async def record_notices(
    conn: AsyncConnection, notices: Sequence[Notice], *, at: datetime, render: Render, mail_domain: str
) -> Recorded:
    """Write each notice's in-app notification and email delivery, as its recipient's preferences say,
    in the caller's transaction; notices already recorded add nothing. Recipients without an account
    (deleted, or never existed) get nothing."""
    if not notices:
        return Recorded([], 0)
    ids = [n.recipient for n in notices]
    people = await _recipients(conn, ids)
    chosen = await chosen_cadences(conn, ids)
    in_app_rows: list[dict[str, Any]] = []
    rendered: dict[tuple[NotificationType, int, str], tuple[str, str]] = {}
    mail_rows: list[dict[str, Any]] = []
    for notice in notices:
        person = people.get(notice.recipient)
        if person is None:
            continue
        prefs = chosen.get(notice.recipient, {})
        if cadence_of(prefs, notice.type, Channel.IN_APP) is not Cadence.OFF:
            key = (notice.type, id(notice.data), person.locale)
            if key not in rendered:  # a fan-out's notices share their data: one rendering per language
                rendered[key] = render(notice.type, notice.data, person.locale)
            title, body = rendered[key]
            in_app_rows.append(
                {
                    "id": uuid.uuid4(),
                    "user_id": notice.recipient,
                    "type": notice.type.value,
                    "event_id": notice.event_id,
                    "title": title[:300],
                    "body": body,
                    "link": notice.link,
                    "created_at": at,
                    "read_at": None,
                }
            )
        cadence = cadence_of(prefs, notice.type, Channel.EMAIL)
        delivery_id = uuid.uuid4()
        status, reason = email_status(cadence)
        due: datetime | None = at
        if status is DeliveryStatus.SUPPRESSED:
            due = None
        elif status is DeliveryStatus.DIGEST:
            due = digest_period(cadence, person.time_zone, at)[1]
        mail_rows.append(
            {
                "id": delivery_id,
                "user_id": notice.recipient,
                "event_id": notice.event_id,
                "type": notice.type.value,
                "channel": Channel.EMAIL.value,
                "status": status.value,
                "data": notice.data,
                "link": notice.link,
                "message_id": message_id(delivery_id, mail_domain),
                "attempts": 0,
                "next_attempt_at": due,
                "reason": reason,
                "created_at": at,
                "sent_at": None,
            }
        )
    written: list[Notification] = []
    if in_app_rows:
        # executemany: SQLAlchemy's "insertmanyvalues" batches the rows with one cached statement.
        result = await conn.execute(
            dialect_insert(conn, notifications).on_conflict_do_nothing().returning(notifications.c.id), in_app_rows
        )
        new = {row.id for row in result}
        written = [_notification_of(r) for r in in_app_rows if r["id"] in new]
    emails = 0
    if mail_rows:
        result = await conn.execute(
            dialect_insert(conn, notification_deliveries)
            .on_conflict_do_nothing()
            .returning(notification_deliveries.c.id),
            mail_rows,
        )
        emails = len(result.all())
    return Recorded(written, emails)


def _notification_of(row: Any) -> Notification:
    values = row if isinstance(row, dict) else row._mapping
    return Notification(
        id=values["id"],
        user_id=values["user_id"],
        type=NotificationType(values["type"]),
        event_id=values["event_id"],
        title=values["title"],
        body=values["body"],
        link=values["link"],
        created_at=values["created_at"],
        read_at=values["read_at"],
    )


async def add_fanout(conn: AsyncConnection, audience: Audience, at: datetime) -> None:
    """Queue a course-wide notification; ``expand_fanouts`` writes it to each learner later, in batches,
    so neither the request that caused it nor this consumer waits for 10,000 rows."""
    await conn.execute(
        dialect_insert(conn, notification_fanouts)
        .values(
            event_id=audience.event_id,
            type=audience.type.value,
            course_id=audience.course_id,
            data=audience.data,
            link=audience.link,
            exclude_user=audience.exclude,
            after_user=None,
            created_at=at,
            done_at=None,
        )
        .on_conflict_do_nothing()
    )


async def add_suppression(conn: AsyncConnection, email: str, reason: str, at: datetime) -> None:
    """Put ``email`` on the suppression list (a permanent refusal), in the caller's transaction."""
    await conn.execute(
        dialect_insert(conn, notification_suppressions)
        .values(email=email.casefold(), reason=reason[:REASON_MAX], created_at=at)
        .on_conflict_do_nothing()
    )


async def lift_suppression(conn: AsyncConnection, email: str) -> bool:
    """Take ``email`` off the suppression list, in the caller's transaction: its owner confirmed it again."""
    s = notification_suppressions.c
    result = await conn.execute(notification_suppressions.delete().where(s.email == email.casefold()))
    return bool(result.rowcount)
