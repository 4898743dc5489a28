"""What a notification is, who may get it by which channel and how often, and digest periods.

A ``Notice`` is one thing to tell one recipient because of one event. It becomes at most one
in-app notification and one email delivery per (recipient, event, channel): the stores refuse a
second, so an event delivered twice tells nobody twice. Preferences pick the cadence per type and
channel; a type without a preference takes its default (``DEFAULTS``).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


class NotificationType(enum.StrEnum):
    ENROLLMENT_CONFIRMED = "enrollment_confirmed"
    CERTIFICATE_ISSUED = "certificate_issued"
    COURSE_UPDATED = "course_updated"
    GRADE_RELEASED = "grade_released"
    PAYMENT_RECEIPT = "payment_receipt"
    PAYMENT_FAILED = "payment_failed"
    DUE_SOON = "due_soon"
    DISCUSSION_REPLY = "discussion_reply"
    DISCUSSION_MENTION = "discussion_mention"
    ANSWER_ACCEPTED = "answer_accepted"
    ANNOUNCEMENT = "announcement"
    SUBSCRIPTION_PAST_DUE = "subscription_past_due"
    SUBSCRIPTION_SUSPENDED = "subscription_suspended"


class Channel(enum.StrEnum):
    EMAIL = "email"
    IN_APP = "in_app"


class Cadence(enum.StrEnum):
    IMMEDIATE = "immediate"
    DAILY = "daily"
    WEEKLY = "weekly"
    OFF = "off"


_T = NotificationType
_IMMEDIATE_BOTH = {Channel.EMAIL: Cadence.IMMEDIATE, Channel.IN_APP: Cadence.IMMEDIATE}
DEFAULTS: dict[NotificationType, dict[Channel, Cadence]] = {
    _T.ENROLLMENT_CONFIRMED: _IMMEDIATE_BOTH,
    _T.CERTIFICATE_ISSUED: _IMMEDIATE_BOTH,
    _T.COURSE_UPDATED: {Channel.EMAIL: Cadence.WEEKLY, Channel.IN_APP: Cadence.IMMEDIATE},
    _T.GRADE_RELEASED: _IMMEDIATE_BOTH,
    _T.PAYMENT_RECEIPT: _IMMEDIATE_BOTH,
    _T.PAYMENT_FAILED: _IMMEDIATE_BOTH,
    _T.DUE_SOON: _IMMEDIATE_BOTH,
    _T.DISCUSSION_REPLY: {Channel.EMAIL: Cadence.DAILY, Channel.IN_APP: Cadence.IMMEDIATE},
    _T.DISCUSSION_MENTION: _IMMEDIATE_BOTH,
    _T.ANSWER_ACCEPTED: _IMMEDIATE_BOTH,
    _T.ANNOUNCEMENT: _IMMEDIATE_BOTH,
    _T.SUBSCRIPTION_PAST_DUE: _IMMEDIATE_BOTH,
    _T.SUBSCRIPTION_SUSPENDED: _IMMEDIATE_BOTH,
}
"""Every type's cadence per channel when the user chose none (any of them may be turned off)."""

IN_APP_CADENCES = frozenset({Cadence.IMMEDIATE, Cadence.OFF})
"""In-app notifications are written at once or not at all: the inbox is its own digest."""


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    """Due for the sender (at ``next_attempt_at``)."""
    DIGEST = "digest"
    """Waiting for the recipient's next daily or weekly digest."""
    SENT = "sent"
    FAILED = "failed"
    """Given up: the attempts ran out, or the server refused the address permanently."""
    SUPPRESSED = "suppressed"
    """Not sent: the preference is off, or the address is on the suppression list."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing to tell ``recipient`` because of event ``event_id``; ``data`` fills the templates."""

    type: NotificationType
    recipient: uuid.UUID
    event_id: uuid.UUID
    data: dict[str, Any] = field(default_factory=dict)
    link: str | None = None


@dataclass(frozen=True, slots=True)
class Audience:
    """Everyone enrolled (active or completed) in ``course_id``: a fan-out expanded later, in batches."""

    type: NotificationType
    course_id: uuid.UUID
    event_id: uuid.UUID
    data: dict[str, Any] = field(default_factory=dict)
    link: str | None = None
    exclude: uuid.UUID | None = None

    def notice_for(self, recipient: uuid.UUID) -> Notice:
        return Notice(self.type, recipient, self.event_id, self.data, self.link)


@dataclass(frozen=True, slots=True)
class Notification:
    """An in-app notification in a user's inbox."""

    id: uuid.UUID
    user_id: uuid.UUID
    type: NotificationType
    event_id: uuid.UUID
    title: str
    body: str
    link: str | None
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One email delivery: what the delivery log shows of it."""

    id: uuid.UUID
    user_id: uuid.UUID
    event_id: uuid.UUID
    type: NotificationType
    channel: Channel
    status: DeliveryStatus
    reason: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording notices wrote: the new in-app notifications (for the live stream) and the count of new
    email deliveries (notices recorded before add neither)."""

    in_app: list[Notification]
    emails: int


Render = Callable[[NotificationType, dict[str, Any], str], tuple[str, str]]
"""(type, data, locale) -> (title, body) of an in-app notification, in the recipient's language."""


@dataclass(frozen=True, slots=True)
class Preference:
    type: NotificationType
    channel: Channel
    cadence: Cadence


def cadence_of(
    chosen: dict[tuple[NotificationType, Channel], Cadence], kind: NotificationType, channel: Channel
) -> Cadence:
    """The user's choice for ``kind`` on ``channel``, else the type's default."""
    return chosen.get((kind, channel), DEFAULTS[kind][channel])


def email_status(cadence: Cadence) -> tuple[DeliveryStatus, str | None]:
    """A new email delivery's status under the recipient's cadence, and why when it is not sent."""
    if cadence is Cadence.OFF:
        return DeliveryStatus.SUPPRESSED, "turned off in the recipient's preferences"
    if cadence in (Cadence.DAILY, Cadence.WEEKLY):
        return DeliveryStatus.DIGEST, None
    return DeliveryStatus.PENDING, None


def all_preferences(chosen: dict[tuple[NotificationType, Channel], Cadence]) -> list[Preference]:
    """Every type x channel with its effective cadence: what ``GET /me/notification-preferences`` shows."""
    return [Preference(t, c, cadence_of(chosen, t, c)) for t in NotificationType for c in Channel]


DIGEST_HOUR = time(8, 0)
"""Digests go out at 08:00 in the recipient's time zone (weekly ones on Mondays)."""


def digest_period(cadence: Cadence, time_zone: str, at: datetime) -> tuple[datetime, datetime]:
    """The digest period of ``cadence`` that contains ``at`` for a user in ``time_zone``, in UTC-aware
    instants in UTC: from one local 08:00 (a Monday's, for weekly) to the next. Computed on local dates, so a
    period across a DST change is 23 or 25 hours (or 167/169) and always starts at 08:00 local time.
    """
    if cadence not in (Cadence.DAILY, Cadence.WEEKLY):
        raise ValueError(f"{cadence} has no digest period")
    zone = ZoneInfo(time_zone)
    local = at.astimezone(zone)
    day = local.date()
    if local.time() < DIGEST_HOUR:
        day -= timedelta(days=1)
    days = 1
    if cadence is Cadence.WEEKLY:
        day -= timedelta(days=day.weekday())
        days = 7
    # In UTC: arithmetic and comparisons between two datetimes of one ZoneInfo use wall time, not elapsed time.
    start = datetime.combine(day, DIGEST_HOUR, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=days), DIGEST_HOUR, tzinfo=zone).astimezone(UTC)
    return start, end
