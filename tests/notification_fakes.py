"""An in-memory double of the notification store's ports (the inbox, preferences, delivery records and the
suppression list), held to the same contract as the SQL store (tests/contract/test_notification_store.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from elearning_core.notification.model import (
    Cadence,
    Channel,
    Delivery,
    Notice,
    Notification,
    NotificationType,
    Recorded,
    Render,
    cadence_of,
    email_status,
)
from elearning_core.notification.ports import DeliveryRecords, NotificationInbox, PreferenceStore


@dataclass(frozen=True)
class Person:
    email: str | None
    locale: str = "en"


@dataclass
class InMemoryNotificationStore(NotificationInbox, PreferenceStore, DeliveryRecords):
    people: dict[uuid.UUID, Person] = field(default_factory=dict)
    """The accounts notices may reach (the identity module's users, as the SQL store reads them)."""
    inbox: dict[tuple[uuid.UUID, uuid.UUID, NotificationType], Notification] = field(default_factory=dict)
    deliveries: dict[tuple[uuid.UUID, uuid.UUID, NotificationType, Channel], Delivery] = field(default_factory=dict)
    preferences: dict[uuid.UUID, dict[tuple[NotificationType, Channel], Cadence]] = field(default_factory=dict)
    suppressions: dict[str, str] = field(default_factory=dict)

    # -- delivery records
    async def record(self, notices: Sequence[Notice], *, at: datetime, render: Render) -> Recorded:
        written: list[Notification] = []
        emails = 0
        for notice in notices:
            person = self.people.get(notice.recipient)
            if person is None or person.email is None:
                continue
            prefs = self.preferences.get(notice.recipient, {})
            key = (notice.recipient, notice.event_id, notice.type)
            if cadence_of(prefs, notice.type, Channel.IN_APP) is not Cadence.OFF and key not in self.inbox:
                title, body = render(notice.type, notice.data, person.locale)
                n = Notification(
                    uuid.uuid4(),
                    notice.recipient,
                    notice.type,
                    notice.event_id,
                    title[:300],
                    body,
                    notice.link,
                    at,
                    None,
                )
                self.inbox[key] = n
                written.append(n)
            if (*key, Channel.EMAIL) not in self.deliveries:
                status, reason = email_status(cadence_of(prefs, notice.type, Channel.EMAIL))
                self.deliveries[(*key, Channel.EMAIL)] = Delivery(
                    uuid.uuid4(), notice.recipient, notice.event_id, notice.type, Channel.EMAIL, status, reason, at
                )
                emails += 1
        return Recorded(written, emails)

    async def deliveries_of(self, user_id: uuid.UUID) -> list[Delivery]:
        mine = [d for d in self.deliveries.values() if d.user_id == user_id]
        return sorted(mine, key=lambda d: (d.created_at, d.id))

    async def suppress(self, email: str, reason: str, at: datetime) -> None:
        self.suppressions.setdefault(email.casefold(), reason)

    async def unsuppress(self, email: str) -> bool:
        return self.suppressions.pop(email.casefold(), None) is not None

    async def is_suppressed(self, email: str) -> bool:
        return email.casefold() in self.suppressions

    # -- the inbox
    async def of_user(
        self, user_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int, *, unread_only: bool = False
    ) -> list[Notification]:
        rows = [
            n
            for n in self.inbox.values()
            if n.user_id == user_id
            and not (unread_only and n.read_at is not None)
            and (after is None or (n.created_at, n.id) < after)
        ]
        return sorted(rows, key=lambda n: (n.created_at, n.id), reverse=True)[:limit]

    async def unread_count(self, user_id: uuid.UUID) -> int:
        return sum(1 for n in self.inbox.values() if n.user_id == user_id and n.read_at is None)

    async def mark_read(self, user_id: uuid.UUID, notification_id: uuid.UUID, at: datetime) -> bool:
        for key, n in self.inbox.items():
            if n.id == notification_id and n.user_id == user_id:
                if n.read_at is None:
                    self.inbox[key] = replace(n, read_at=at)
                return True
        return False

    async def mark_all_read(self, user_id: uuid.UUID, at: datetime) -> int:
        unread = [k for k, n in self.inbox.items() if n.user_id == user_id and n.read_at is None]
        for key in unread:
            self.inbox[key] = replace(self.inbox[key], read_at=at)
        return len(unread)

    # -- preferences
    async def chosen(self, user_id: uuid.UUID) -> dict[tuple[NotificationType, Channel], Cadence]:
        return dict(self.preferences.get(user_id, {}))

    async def choose(self, user_id: uuid.UUID, choices: dict[tuple[NotificationType, Channel], Cadence]) -> None:
        self.preferences.setdefault(user_id, {}).update(choices)
