"""The notification tables: the inbox, email deliveries (the delivery log), fan-outs, preferences and the
suppression list; and the dialect's ``INSERT`` (for ``ON CONFLICT``)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.types import Uuid

from elearning_adapters.sql.engine import UtcDateTime, metadata

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
