"""The notification use cases a user calls: the inbox, its unread count, read marks and preferences.

Notifications themselves are written by the module's event consumers (adapters) and sent by its
jobs; this service is the user's side of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from elearning_core.notification.commands import SetPreferences
from elearning_core.notification.model import (
    IN_APP_CADENCES,
    Cadence,
    Channel,
    Notification,
    NotificationType,
    Preference,
    all_preferences,
)
from elearning_core.notification.ports import NotificationInbox, PreferenceStore
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import FieldError, NotFound, Unauthenticated, ValidationFailed
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, CursorCodec, Page, check_page_size, iso_time, scope_of
from elearning_core.shared.ports import Principal


def _key(key: list[Any]) -> tuple[datetime, uuid.UUID]:
    return datetime.fromisoformat(key[0]), uuid.UUID(key[1])


def _key_of(item: Notification) -> list[Any]:
    return [iso_time(item.created_at), str(item.id)]


def _user(actor: Principal) -> uuid.UUID:
    if actor.user_id is None:
        raise Unauthenticated("notifications belong to a user's sign-in")
    return actor.user_id


class NotificationService:
    def __init__(
        self,
        inbox: NotificationInbox,
        preferences: PreferenceStore,
        clock: Clock,
        cursors: CursorCodec,
    ) -> None:
        self._inbox, self._preferences, self._clock, self._cursors = inbox, preferences, clock, cursors

    async def mine(
        self, actor: Principal, *, unread_only: bool = False, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[Notification]:
        user_id = _user(actor)
        limit = check_page_size(limit)
        listing = scope_of("my-notifications", user_id, unread_only)
        after = self._cursors.after(listing, cursor, _key)
        rows = await self._inbox.of_user(user_id, after, limit + 1, unread_only=unread_only)
        return self._cursors.page(listing, rows, limit, _key_of)

    async def unread_count(self, actor: Principal) -> int:
        return await self._inbox.unread_count(_user(actor))

    async def mark_read(self, actor: Principal, notification_id: uuid.UUID) -> None:
        if not await self._inbox.mark_read(_user(actor), notification_id, self._clock.now()):
            raise NotFound("notification", notification_id)

    async def mark_all_read(self, actor: Principal) -> int:
        return await self._inbox.mark_all_read(_user(actor), self._clock.now())

    async def preferences(self, actor: Principal) -> list[Preference]:
        return all_preferences(await self._preferences.chosen(_user(actor)))

    async def set_preferences(self, actor: Principal, cmd: SetPreferences) -> list[Preference]:
        user_id = _user(actor)
        wrong = [
            FieldError(f"preferences.{i}.cadence", "in-app notifications are immediate or off")
            for i, c in enumerate(cmd.preferences)
            if c.channel is Channel.IN_APP and c.cadence not in IN_APP_CADENCES
        ]
        if wrong:
            raise ValidationFailed("in-app notifications have no digests", wrong)
        await self._preferences.choose(user_id, {(c.type, c.channel): c.cadence for c in cmd.preferences})
        return all_preferences(await self._preferences.chosen(user_id))

    async def unsubscribe(self, user_id: uuid.UUID, kinds: Iterable[NotificationType]) -> None:
        """The one-click unsubscribe (RFC 8058): the email of each of ``kinds`` (the mail's type, or every
        type of a digest) off. The caller checked the signed link."""
        await self._preferences.choose(user_id, {(kind, Channel.EMAIL): Cadence.OFF for kind in kinds})
