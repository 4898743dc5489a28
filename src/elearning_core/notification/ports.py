"""What the notification module keeps: the inbox, the preferences, and the delivery records (one per recipient,
event and channel) with the suppression list. One contract suite holds the SQL store and the in-memory double
to them (tests/contract/test_notification_store.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from elearning_core.notification.model import (
    Cadence,
    Channel,
    Delivery,
    Notice,
    Notification,
    NotificationType,
    Recorded,
    Render,
)


class NotificationInbox(Protocol):
    """Users' in-app notifications, newest first."""

    async def of_user(
        self, user_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int, *, unread_only: bool = False
    ) -> list[Notification]: ...

    async def unread_count(self, user_id: uuid.UUID) -> int: ...

    async def mark_read(self, user_id: uuid.UUID, notification_id: uuid.UUID, at: datetime) -> bool:
        """False when the user has no such notification; marking a read one again changes nothing."""
        ...

    async def mark_all_read(self, user_id: uuid.UUID, at: datetime) -> int: ...


class PreferenceStore(Protocol):
    async def chosen(self, user_id: uuid.UUID) -> dict[tuple[NotificationType, Channel], Cadence]: ...

    async def choose(self, user_id: uuid.UUID, choices: dict[tuple[NotificationType, Channel], Cadence]) -> None:
        """Upserts each choice; types and channels not named keep theirs."""
        ...


class DeliveryRecords(Protocol):
    """Notices turned into records, once: an in-app notification per (recipient, event, type) and an email
    delivery per (recipient, event, type, channel), as the recipient's preferences say; and the addresses
    that refused mail permanently."""

    async def record(self, notices: Sequence[Notice], *, at: datetime, render: Render) -> Recorded:
        """Write what is new among ``notices`` in one transaction; recipients without an account (or an
        address) get nothing; a notice recorded before adds nothing."""
        ...

    async def deliveries_of(self, user_id: uuid.UUID) -> list[Delivery]:
        """The user's email deliveries, oldest first."""
        ...

    async def suppress(self, email: str, reason: str, at: datetime) -> None:
        """Put ``email`` (case-insensitively) on the suppression list; already there: nothing changes."""
        ...

    async def unsuppress(self, email: str) -> bool:
        """Take ``email`` off the list; False when it was not on it."""
        ...

    async def is_suppressed(self, email: str) -> bool: ...
