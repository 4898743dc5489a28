"""The notification module's wiring: the store, the templates, the live stream (Redis pub/sub when
Redis is configured, in-process otherwise), the sender, the service, the ``notifications``
subscription and the jobs that fan out, send, remind and digest.

Discussion events: ``followers`` is the discussion module's audience port (the assembly passes it);
``NoFollowers`` only where a platform is assembled without the discussion module.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from dependency_injector import providers
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.email import mailer_from_settings
from elearning_adapters.email.mailers import _mailbox
from elearning_adapters.events import Subscription
from elearning_adapters.notification.handlers import Followers, NoFollowers, handlers_for, mappers
from elearning_adapters.notification.sender import NotificationSender, SenderConfig, UnsubscribeLinks
from elearning_adapters.notification.stream import LocalStream, RedisStream, StreamTickets, stream_item
from elearning_adapters.notification.templates import NotificationTemplates
from elearning_adapters.redis.breaker import redis_client
from elearning_adapters.settings import Settings
from elearning_adapters.sql import commit_hooks
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.notification import MayTakeQuizzes, Recorded, SqlNotificationStore, remind_due
from elearning_core.entitlement.access import graded_refusal
from elearning_core.entitlement.ports import AccessCheck
from elearning_core.identity.ports import Mailer, MailError
from elearning_core.notification.model import Notification
from elearning_core.notification.service import NotificationService
from elearning_core.scheduling.model import Job, Period, Schedule
from elearning_core.shared.clock import Clock

NOTIFICATIONS = "notifications"
SEND = "notifications.send"
FAN_OUT = "notifications.fan-out"
REMIND = "notifications.due-reminders"
DIGESTS = "notifications.send-digests"
FAN_OUT_BATCH = 1_000
FAN_OUT_MAX_BATCHES = 100


def _stream(settings: Settings) -> LocalStream:
    if settings.redis_url:
        redis = redis_client(settings.redis_url, max_connections=8, connect_timeout=2, socket_timeout=5)
        return RedisStream(redis, settings.redis_key_prefix)
    return LocalStream()


def _mail_domain(settings: Settings) -> str:
    try:
        return _mailbox(settings.mail_from, "sender").rpartition("@")[2] or "localhost"
    except MailError:
        return "localhost"


def _links(settings: Settings) -> UnsubscribeLinks:
    return UnsubscribeLinks(settings.resolved_secret(), settings.resolved_public_base_url)


def _config(settings: Settings) -> SenderConfig:
    return SenderConfig(mail_domain=_mail_domain(settings), max_attempts=settings.notification_max_attempts)


def publish_to(stream: LocalStream) -> Callable[[list[Notification]], Awaitable[None]]:
    """Push new in-app notifications to their recipients' open streams."""

    async def publish(written: list[Notification]) -> None:
        for n in written:
            await stream.publish(n.user_id, stream_item(n))

    return publish


def notification_subscription(
    templates: NotificationTemplates, stream: LocalStream, clock: Clock, followers: Followers, settings: Settings
) -> Subscription:
    publish = publish_to(stream)

    pending: set[asyncio.Task[None]] = set()

    def after_commit(conn: AsyncConnection, recorded: Recorded) -> None:
        """Pushed once the dispatcher commits; where nobody collects after-commit hooks, at once."""
        if not recorded.in_app:
            return

        async def hook() -> None:
            await publish(recorded.in_app)

        if not commit_hooks.defer(conn, hook):
            task = asyncio.get_running_loop().create_task(hook())
            pending.add(task)
            task.add_done_callback(pending.discard)

    handlers = handlers_for(
        mappers(followers),
        now=clock.now,
        render=lambda kind, data, locale: templates.in_app(kind, data, locale),
        mail_domain=_mail_domain(settings),
        after_commit=after_commit,
    )
    return Subscription(
        name=NOTIFICATIONS,
        description="turns enrollments, certificates, grades, payments, course updates and discussion events "
        "into in-app notifications and email deliveries; lifts the mail suppression of a reconfirmed address",
        handlers=handlers,
    )


def may_take_quizzes(access: AccessCheck) -> MayTakeQuizzes:
    """Whether the entitlement check lets a learner do graded work in a course now (a reminder's gate)."""

    async def may(user_id: uuid.UUID, course_id: uuid.UUID, enrolled_at: datetime) -> bool:
        return graded_refusal(await access.verdict(user_id, course_id, enrolled_at=enrolled_at)) is None

    return may


def notification_jobs(
    store: SqlNotificationStore,
    sender: Callable[[], NotificationSender],
    templates: NotificationTemplates,
    stream: LocalStream,
    database: Database,
    clock: Clock,
    settings: Settings,
    access: AccessCheck,
) -> list[Job]:
    every = Schedule(timedelta(seconds=settings.notification_send_seconds))
    publish = publish_to(stream)
    domain = _mail_domain(settings)

    async def send(period: Period) -> str:
        del period  # by state: the deliveries due now
        sent, failed = await sender().send_due()
        return f"sent {sent} mail(s), {failed} failed tr(ies)"

    async def fan_out(period: Period) -> str:
        del period
        count, written = await store.expand_fanouts(
            at=clock.now(),
            batch=FAN_OUT_BATCH,
            max_batches=FAN_OUT_MAX_BATCHES,
            render=lambda kind, data, locale: templates.in_app(kind, data, locale),
            mail_domain=domain,
        )
        await publish(written)
        return f"wrote {count} notice(s)"

    async def remind(period: Period) -> str:
        del period
        reminded, written = await remind_due(
            database,
            at=clock.now(),
            horizon=timedelta(hours=settings.notification_reminder_hours),
            may_take_quizzes=may_take_quizzes(access),
            render=lambda kind, data, locale: templates.in_app(kind, data, locale),
            mail_domain=domain,
        )
        await publish(written)
        return f"reminded {reminded} learner(s) of a quiz closing soon"

    async def digests(period: Period) -> str:
        del period
        return f"sent {await sender().send_digests()} digest(s)"

    return [
        Job(SEND, every, send, description="sends the notification mails due now, retrying failed ones with backoff"),
        Job(FAN_OUT, every, fan_out, description="writes course-wide notifications to each learner, in batches"),
        Job(REMIND, Schedule(timedelta(minutes=15)), remind, description="reminds learners of quizzes closing soon"),
        Job(DIGESTS, Schedule(timedelta(minutes=15)), digests, description="sends the daily and weekly digests due"),
    ]


def _mailer_of(settings: Settings) -> Callable[[], Mailer]:
    mailer = mailer_from_settings(settings)
    return lambda: mailer


def _closers(stream: LocalStream) -> list[Callable[[], Any]]:
    return [stream.aclose]


class NotificationWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)
    followers: providers.Provider[Any] = providers.Singleton(NoFollowers)
    """The discussion module's audience port (the assembly overrides this default)."""
    access: providers.Dependency[AccessCheck] = providers.Dependency()
    """The entitlement check: due-date reminders only to learners who may still take the quiz."""

    store = providers.Singleton(SqlNotificationStore, shared.database, providers.Callable(_mail_domain, settings))
    templates = providers.Singleton(NotificationTemplates)
    stream = providers.Singleton(_stream, settings)
    links = providers.Singleton(_links, settings)
    tickets = providers.Singleton(lambda s: StreamTickets(s.resolved_secret()), settings)
    mailer = providers.Singleton(_mailer_of, settings)
    sender = providers.Singleton(
        NotificationSender, store, mailer, templates, links, shared.clock, providers.Singleton(_config, settings)
    )
    service = providers.Singleton(NotificationService, store, store, shared.clock, shared.cursors)

    subscriptions = providers.List(
        providers.Singleton(notification_subscription, templates, stream, shared.clock, followers, settings)
    )
    closers = providers.Singleton(_closers, stream)
    jobs = providers.Singleton(
        notification_jobs, store, sender.provider, templates, stream, shared.database, shared.clock, settings, access
    )
