"""Notification tables and stores: the inbox, email deliveries (the delivery log), fan-outs,
preferences and the suppression list.

One in-app notification per (user, event) and one email delivery per (user, event, channel) are
unique constraints, and every write is ``INSERT ... ON CONFLICT DO NOTHING``: an event handled twice
(a redelivery, a replayed dead letter, two fan-out runs over the same batch) adds nothing.

Email is sent at least once: the sender claims due deliveries (pushing ``next_attempt_at`` a lease
ahead, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so replicas take different rows), hands each to the
mail server, then records it sent. A sender that dies in between leaves the claim to run out, and the
delivery goes again with the same ``message_id`` (fixed when the row was written), so a receiving
system can tell the copies are one message.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Uuid

from elearning_adapters.sql.assessment._tables import quizzes
from elearning_adapters.sql.engine import Database, UtcDateTime, metadata
from elearning_adapters.sql.enrollment import enrollments
from elearning_adapters.sql.identity import users
from elearning_core.notification.model import (
    Audience,
    Cadence,
    Channel,
    DeliveryStatus,
    Notice,
    Notification,
    NotificationType,
    cadence_of,
    digest_period,
)
from elearning_core.notification.ports import NotificationInbox, PreferenceStore

REASON_MAX = 300
NOTIFICATION_TABLES = (
    "notifications",
    "notification_deliveries",
    "notification_fanouts",
    "notification_preferences",
    "notification_suppressions",
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, nullable=False),
    Column("type", String(40), nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("title", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("link", String(500), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("read_at", UtcDateTime, nullable=True),
    UniqueConstraint("user_id", "event_id", "type", name="uq_notifications_user_event"),
)
# The inbox, newest first (keyset), and the unread count: both served by this index.
Index("ix_notifications_user_created", notifications.c.user_id, notifications.c.created_at, notifications.c.id)
Index(
    "ix_notifications_unread",
    notifications.c.user_id,
    postgresql_where=notifications.c.read_at.is_(None),
    sqlite_where=notifications.c.read_at.is_(None),
)

notification_deliveries = Table(
    "notification_deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("type", String(40), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("data", JSON, nullable=False),
    Column("link", String(500), nullable=True),
    Column("message_id", String(200), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Column("reason", String(REASON_MAX), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime, nullable=True),
    UniqueConstraint("user_id", "event_id", "type", "channel", name="uq_notification_deliveries_once"),
)
# What the sender claims (due pending rows) and the digest job reads (due digest rows).
Index("ix_notification_deliveries_due", notification_deliveries.c.status, notification_deliveries.c.next_attempt_at)
Index("ix_notification_deliveries_log", notification_deliveries.c.created_at, notification_deliveries.c.id)

notification_fanouts = Table(
    "notification_fanouts",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("type", String(40), primary_key=True),
    Column("course_id", Uuid, nullable=False),
    Column("data", JSON, nullable=False),
    Column("link", String(500), nullable=True),
    Column("exclude_user", Uuid, nullable=True),
    Column("after_user", Uuid, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("done_at", UtcDateTime, nullable=True),
)

notification_preferences = Table(
    "notification_preferences",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("type", String(40), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("cadence", String(16), nullable=False),
)

notification_suppressions = Table(
    "notification_suppressions",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("reason", String(REASON_MAX), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)


def _insert(conn: AsyncConnection, table: Table) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


Render = Callable[[NotificationType, dict[str, Any], str], tuple[str, str]]
"""(type, data, locale) -> (title, body) of an in-app notification, in the recipient's language."""


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


@dataclass(frozen=True, slots=True)
class Recorded:
    """What ``record_notices`` wrote: the new in-app notifications (for the live stream) and the count
    of new email deliveries."""

    in_app: list[Notification]
    emails: int


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
        due: datetime | None = at
        status, reason = DeliveryStatus.PENDING, None
        if cadence is Cadence.OFF:
            status, due, reason = DeliveryStatus.SUPPRESSED, None, "turned off in the recipient's preferences"
        elif cadence in (Cadence.DAILY, Cadence.WEEKLY):
            status, due = DeliveryStatus.DIGEST, digest_period(cadence, person.time_zone, at)[1]
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
            _insert(conn, notifications).on_conflict_do_nothing().returning(notifications.c.id), in_app_rows
        )
        new = {row.id for row in result}
        written = [_notification_of(r) for r in in_app_rows if r["id"] in new]
    emails = 0
    if mail_rows:
        result = await conn.execute(
            _insert(conn, notification_deliveries).on_conflict_do_nothing().returning(notification_deliveries.c.id),
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
        _insert(conn, notification_fanouts)
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


class SqlNotificationStore(NotificationInbox, PreferenceStore):
    """The inbox and preferences (the service's ports) and the jobs' work: fan-outs, the sender's claims,
    the delivery log and the suppression list."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- the inbox
    async def of_user(
        self, user_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int, *, unread_only: bool = False
    ) -> list[Notification]:
        n = notifications.c
        query = select(notifications).where(n.user_id == user_id)
        if unread_only:
            query = query.where(n.read_at.is_(None))
        if after is not None:
            query = query.where(tuple_(n.created_at, n.id) < tuple_(*after))
        query = query.order_by(n.created_at.desc(), n.id.desc()).limit(limit)
        async with self._db.read() as conn:
            return [_notification_of(r) for r in await conn.execute(query)]

    async def unread_count(self, user_id: uuid.UUID) -> int:
        n = notifications.c
        async with self._db.read() as conn:
            count = await conn.scalar(select(func.count()).where(n.user_id == user_id, n.read_at.is_(None)))
        return int(count or 0)

    async def mark_read(self, user_id: uuid.UUID, notification_id: uuid.UUID, at: datetime) -> bool:
        n = notifications.c
        async with self._db.write() as conn:
            found = await conn.scalar(select(n.id).where(n.id == notification_id, n.user_id == user_id))
            if found is not None:
                await conn.execute(
                    update(notifications).where(n.id == notification_id, n.read_at.is_(None)).values(read_at=at)
                )
            await conn.commit()
        return found is not None

    async def mark_all_read(self, user_id: uuid.UUID, at: datetime) -> int:
        n = notifications.c
        async with self._db.write() as conn:
            result = await conn.execute(
                update(notifications).where(n.user_id == user_id, n.read_at.is_(None)).values(read_at=at)
            )
            await conn.commit()
        return int(result.rowcount or 0)

    # -- preferences
    async def chosen(self, user_id: uuid.UUID) -> dict[tuple[NotificationType, Channel], Cadence]:
        async with self._db.read() as conn:
            return (await chosen_cadences(conn, [user_id])).get(user_id, {})

    async def choose(self, user_id: uuid.UUID, choices: dict[tuple[NotificationType, Channel], Cadence]) -> None:
        if not choices:
            return
        rows = [
            {"user_id": user_id, "type": t.value, "channel": c.value, "cadence": cadence.value}
            for (t, c), cadence in choices.items()
        ]
        p = notification_preferences.c
        async with self._db.write() as conn:
            statement = _insert(conn, notification_preferences).values(rows)
            await conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[p.user_id, p.type, p.channel], set_={"cadence": statement.excluded.cadence}
                )
            )
            await conn.commit()

    # -- fan-outs
    async def expand_fanouts(
        self, *, at: datetime, batch: int, max_batches: int, render: Render, mail_domain: str
    ) -> tuple[int, list[Notification]]:
        """Write up to ``max_batches`` batches of the open fan-outs' notices, one transaction per batch
        (the batch's notices and the fan-out's progress together). Returns (notices, new in-app)."""
        f, e = notification_fanouts.c, enrollments.c
        total, written = 0, []
        for _ in range(max_batches):
            async with self._db.write() as conn:
                pick = select(notification_fanouts).where(f.done_at.is_(None)).order_by(f.created_at).limit(1)
                if conn.dialect.name == "postgresql":  # two runs (one by hand) take different fan-outs
                    pick = pick.with_for_update(skip_locked=True)
                fan = (await conn.execute(pick)).one_or_none()
                if fan is None:
                    await conn.rollback()
                    break
                query = select(e.user_id).where(e.course_id == fan.course_id, e.status.in_(("active", "completed")))
                if fan.after_user is not None:
                    query = query.where(e.user_id > fan.after_user)
                if fan.exclude_user is not None:
                    query = query.where(e.user_id != fan.exclude_user)
                learners = list((await conn.execute(query.order_by(e.user_id).limit(batch))).scalars())
                audience = Audience(NotificationType(fan.type), fan.course_id, fan.event_id, fan.data, fan.link)
                recorded = await record_notices(
                    conn, [audience.notice_for(u) for u in learners], at=at, render=render, mail_domain=mail_domain
                )
                done = {"done_at": at} if len(learners) < batch else {}
                await conn.execute(
                    update(notification_fanouts)
                    .where(f.event_id == fan.event_id, f.type == fan.type)
                    .values(after_user=learners[-1] if learners else fan.after_user, **done)
                )
                await conn.commit()
            total += len(learners)
            written.extend(recorded.in_app)
        return total, written

    # -- email: the sender's side
    async def claim_mail(self, *, at: datetime, lease: timedelta, limit: int) -> list[dict[str, Any]]:
        """Claim up to ``limit`` due deliveries (pushed ``lease`` ahead, an attempt counted) with their
        recipient's address, locale and time zone; suppressed addresses are settled here, not returned."""
        d, u = notification_deliveries.c, users.c
        async with self._db.write() as conn:
            query = (
                select(d.id)
                .where(d.status == DeliveryStatus.PENDING.value, d.next_attempt_at <= at)
                .order_by(d.next_attempt_at)
                .limit(limit)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list((await conn.execute(query)).scalars())
            if not ids:
                await conn.rollback()
                return []
            await conn.execute(
                update(notification_deliveries)
                .where(d.id.in_(ids))
                .values(next_attempt_at=at + lease, attempts=d.attempts + 1)
            )
            rows = (
                await conn.execute(
                    select(notification_deliveries, u.email, u.locale, u.time_zone)
                    .join(users, users.c.id == d.user_id)
                    .where(d.id.in_(ids))
                )
            ).all()
            suppressed = set(
                (
                    await conn.execute(
                        select(notification_suppressions.c.email).where(
                            notification_suppressions.c.email.in_([r.email.casefold() for r in rows if r.email])
                        )
                    )
                ).scalars()
            )
            gone = [r.id for r in rows if r.email is None or r.email.casefold() in suppressed]
            gone.extend(set(ids) - {r.id for r in rows})
            if gone:
                await conn.execute(
                    update(notification_deliveries)
                    .where(d.id.in_(gone))
                    .values(
                        status=DeliveryStatus.SUPPRESSED.value,
                        next_attempt_at=None,
                        reason="address suppressed or account gone",
                    )
                )
            await conn.commit()
        return [dict(r._mapping) for r in rows if r.id not in gone]

    async def mark_sent(self, delivery_ids: Sequence[uuid.UUID], at: datetime) -> None:
        d = notification_deliveries.c
        async with self._db.write() as conn:
            await conn.execute(
                update(notification_deliveries)
                .where(d.id.in_(list(delivery_ids)))
                .values(status=DeliveryStatus.SENT.value, sent_at=at, next_attempt_at=None, reason=None)
            )
            await conn.commit()

    async def mark_failed(
        self, delivery_id: uuid.UUID, reason: str, *, retry_at: datetime | None, suppress: str | None, at: datetime
    ) -> None:
        """Record a failed try: again at ``retry_at``, or given up (None); ``suppress`` puts that address
        on the suppression list (a permanent refusal)."""
        d = notification_deliveries.c
        async with self._db.write() as conn:
            values: dict[str, Any] = {"reason": reason[:REASON_MAX]}
            if retry_at is None:
                values.update(status=DeliveryStatus.FAILED.value, next_attempt_at=None)
            else:
                values.update(status=DeliveryStatus.PENDING.value, next_attempt_at=retry_at)
            await conn.execute(update(notification_deliveries).where(d.id == delivery_id).values(**values))
            if suppress is not None:
                await conn.execute(
                    _insert(conn, notification_suppressions)
                    .values(email=suppress.casefold(), reason=reason[:REASON_MAX], created_at=at)
                    .on_conflict_do_nothing()
                )
            await conn.commit()

    async def retry_failed(self, at: datetime) -> int:
        """Every failed delivery due again now (``elearning notifications retry-failed``)."""
        d = notification_deliveries.c
        async with self._db.write() as conn:
            result = await conn.execute(
                update(notification_deliveries)
                .where(d.status == DeliveryStatus.FAILED.value)
                .values(status=DeliveryStatus.PENDING.value, next_attempt_at=at, attempts=0)
            )
            await conn.commit()
        return int(result.rowcount or 0)

    async def due_digests(self, at: datetime, limit: int) -> list[dict[str, Any]]:
        """The digest deliveries whose period is over, with their recipient, grouped by user by the caller."""
        d, u = notification_deliveries.c, users.c
        async with self._db.read() as conn:
            users_due = list(
                (
                    await conn.execute(
                        select(d.user_id)
                        .where(d.status == DeliveryStatus.DIGEST.value, d.next_attempt_at <= at)
                        .group_by(d.user_id)
                        .order_by(d.user_id)
                        .limit(limit)
                    )
                ).scalars()
            )
            if not users_due:
                return []
            rows = await conn.execute(
                select(notification_deliveries, u.email, u.locale, u.time_zone)
                .join(users, users.c.id == d.user_id)
                .where(d.status == DeliveryStatus.DIGEST.value, d.next_attempt_at <= at, d.user_id.in_(users_due))
                .order_by(d.user_id, d.created_at)
            )
            return [dict(r._mapping) for r in rows]

    async def turn_off(self, user_id: uuid.UUID, kind: NotificationType) -> None:
        """The one-click unsubscribe: this type's email off."""
        await self.choose(user_id, {(kind, Channel.EMAIL): Cadence.OFF})

    async def unsuppress(self, email: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                notification_suppressions.delete().where(notification_suppressions.c.email == email.casefold())
            )
            await conn.commit()
        return bool(result.rowcount)

    async def log(
        self, *, after: tuple[datetime, uuid.UUID] | None, limit: int, status: str | None = None
    ) -> list[dict[str, Any]]:
        """The delivery log, newest first."""
        d = notification_deliveries.c
        query = select(
            d.id, d.user_id, d.type, d.channel, d.status, d.attempts, d.reason, d.message_id, d.created_at, d.sent_at
        )
        if status is not None:
            query = query.where(d.status == status)
        if after is not None:
            query = query.where(tuple_(d.created_at, d.id) < tuple_(*after))
        async with self._db.read() as conn:
            rows = await conn.execute(query.order_by(d.created_at.desc(), d.id.desc()).limit(limit))
            return [dict(r._mapping) for r in rows]


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
