"""The store the service and the jobs use: the inbox, preferences, fan-out expansion, the sender's
claims and records, the delivery log and the suppression list."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, tuple_, update

from elearning_adapters.sql.engine import Database, dialect_insert
from elearning_adapters.sql.enrollment import enrollments
from elearning_adapters.sql.identity import users
from elearning_adapters.sql.notification._notices import (
    _notification_of,
    add_suppression,
    chosen_cadences,
    lift_suppression,
    record_notices,
)
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
    Delivery,
    DeliveryStatus,
    Notice,
    Notification,
    NotificationType,
    Recorded,
    Render,
)
from elearning_core.notification.ports import DeliveryRecords, NotificationInbox, PreferenceStore


class SqlNotificationStore(NotificationInbox, PreferenceStore, DeliveryRecords):
    """The inbox and preferences (the service's ports) and the jobs' work: fan-outs, the sender's claims,
    the delivery log and the suppression list."""

    def __init__(self, db: Database, mail_domain: str = "localhost") -> None:
        self._db, self._mail_domain = db, mail_domain

    # -- delivery records
    async def record(self, notices: Sequence[Notice], *, at: datetime, render: Render) -> Recorded:
        async with self._db.write() as conn:
            recorded = await record_notices(conn, notices, at=at, render=render, mail_domain=self._mail_domain)
            await conn.commit()
        return recorded

    async def deliveries_of(self, user_id: uuid.UUID) -> list[Delivery]:
        d = notification_deliveries.c
        query = select(notification_deliveries).where(d.user_id == user_id).order_by(d.created_at, d.id)
        async with self._db.read() as conn:
            return [
                Delivery(
                    id=r.id,
                    user_id=r.user_id,
                    event_id=r.event_id,
                    type=NotificationType(r.type),
                    channel=Channel(r.channel),
                    status=DeliveryStatus(r.status),
                    reason=r.reason,
                    created_at=r.created_at,
                )
                for r in await conn.execute(query)
            ]

    async def suppress(self, email: str, reason: str, at: datetime) -> None:
        async with self._db.write() as conn:
            await add_suppression(conn, email, reason, at)
            await conn.commit()

    async def is_suppressed(self, email: str) -> bool:
        s = notification_suppressions.c
        async with self._db.read() as conn:
            return await conn.scalar(select(s.email).where(s.email == email.casefold())) is not None

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
            statement = dialect_insert(conn, notification_preferences).values(rows)
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
                await add_suppression(conn, suppress, reason, at)
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

    async def unsuppress(self, email: str) -> bool:
        async with self._db.write() as conn:
            lifted = await lift_suppression(conn, email)
            await conn.commit()
        return lifted

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
