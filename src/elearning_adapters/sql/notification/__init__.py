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

Re-exported from its parts: ``_tables`` (the tables), ``_notices`` (what the consumers write in their
transaction), ``_store`` (the inbox, preferences, fan-outs, the sender's side, the log, suppressions) and
``_reminders`` (the due-date reminders' job).
"""

from __future__ import annotations

from elearning_adapters.sql.notification._notices import (
    Recipient,
    add_fanout,
    add_suppression,
    chosen_cadences,
    lift_suppression,
    message_id,
    record_notices,
)
from elearning_adapters.sql.notification._reminders import MayTakeQuizzes, remind_due, reminder_event
from elearning_adapters.sql.notification._store import SqlNotificationStore
from elearning_adapters.sql.notification._tables import (
    NOTIFICATION_TABLES,
    REASON_MAX,
    notification_deliveries,
    notification_fanouts,
    notification_preferences,
    notification_suppressions,
    notifications,
)
from elearning_core.notification.model import Recorded, Render

__all__ = [
    "NOTIFICATION_TABLES",
    "REASON_MAX",
    "MayTakeQuizzes",
    "Recipient",
    "Recorded",
    "Render",
    "SqlNotificationStore",
    "add_fanout",
    "add_suppression",
    "chosen_cadences",
    "lift_suppression",
    "message_id",
    "notification_deliveries",
    "notification_fanouts",
    "notification_preferences",
    "notification_suppressions",
    "notifications",
    "record_notices",
    "remind_due",
    "reminder_event",
]
