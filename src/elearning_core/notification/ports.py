"""What the notification module needs from outside: the inbox and the preferences it keeps."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

from elearning_core.notification.model import Cadence, Channel, Notification, NotificationType


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
