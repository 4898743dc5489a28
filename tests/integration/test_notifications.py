"""The notification module end to end on SQLite and PostgreSQL: events through the ``notifications``
subscription (redelivered ones write nothing new), course-wide fan-outs in batches, and the sender
against a real SMTP server process (aiosmtpd): multipart mail in the recipient's language with a
stable Message-ID and RFC 8058 headers, a server that is down, a permanent refusal, a sender that
dies between the SMTP handoff and its record, and digests."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from dependency_injector import providers
from sqlalchemy import func, select, update

from elearning_adapters import Platform
from elearning_adapters.container import bootstrap
from elearning_adapters.email.mailers import SmtpMailer
from elearning_adapters.events.dispatch import EventDispatcher, Outcome
from elearning_adapters.notification.sender import NotificationSender
from elearning_adapters.settings import Settings
from elearning_adapters.sql.identity import users
from elearning_adapters.sql.notification import (
    SqlNotificationStore,
    notification_deliveries,
    notification_suppressions,
    notifications,
    record_notices,
)
from elearning_core.course.events import CoursePublished
from elearning_core.enrollment.events import Enrolled
from elearning_core.identity.commands import CreateUser
from elearning_core.notification.commands import PreferenceChoice, SetPreferences
from elearning_core.notification.model import Cadence, Channel, Notice, NotificationType
from elearning_core.shared.envelope import to_envelope
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ports import SYSTEM, Principal
from tests.conftest import migrated_sqlite, truncate_all
from tests.e2e.http_helpers import course_spec
from tests.fakes import SettableClock

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer

pytest_plugins = ["tests.smtp_server"]

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CRASHING_SENDER = Path(__file__).with_name("crashing_notification_sender.py")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def notifying(request: pytest.FixtureRequest, tmp_path: Path, smtp_server: SmtpServer) -> AsyncIterator[Platform]:
    """The platform mailing through the test's SMTP server process, on a clock the test sets."""
    mail = {"mail_backend": "smtp", "smtp_host": smtp_server.host, "smtp_port": smtp_server.port}
    if request.param == "sqlite":
        settings = Settings(database_url=migrated_sqlite(tmp_path / "n.db"), data_dir=tmp_path, **mail)
        platform = await bootstrap(settings, run_migrations=False, start_keys=True)
    else:
        settings = Settings(database_url=request.getfixturevalue("postgres_url"), data_dir=tmp_path, **mail)
        platform = await bootstrap(settings, run_migrations=False)
        await truncate_all(platform.database)
    platform.container.adapters.clock.override(SettableClock(T0))
    try:
        yield platform
    finally:
        platform.container.adapters.clock.reset_override()
        await platform.aclose()


def clock(platform: Platform) -> SettableClock:
    c = platform.container.adapters.clock()
    assert isinstance(c, SettableClock)
    return c


def dispatcher(platform: Platform) -> EventDispatcher:
    (subscription,) = [s for s in platform.container.subscriptions() if s.name == "notifications"]
    return EventDispatcher(subscription.name, subscription.handlers, platform.database, max_attempts=1)


async def _never(_seconds: float) -> bool:
    return True


def raw(event: DomainEvent) -> bytes:
    return to_envelope(event, "test").to_json()


async def a_course(platform: Platform, title: str = "Astronomy") -> uuid.UUID:
    (course,) = await platform.courses.import_courses(SYSTEM, [course_spec(f"c-{uuid.uuid4().hex[:8]}", title=title)])
    return course.id


async def a_user(platform: Platform, email: str, locale: str = "en", time_zone: str = "UTC") -> uuid.UUID:
    user = await platform.identity.create_user(SYSTEM, CreateUser(email=email, display_name=email.split("@")[0]))
    async with platform.database.write() as conn:
        await conn.execute(update(users).where(users.c.id == user.id).values(locale=locale, time_zone=time_zone))
        await conn.commit()
    return user.id


def enrolled(course_id: uuid.UUID, user_id: uuid.UUID) -> Enrolled:
    return Enrolled(
        aggregate_id=uuid.uuid4(), occurred_at=T0, course_id=course_id, user_id=user_id, cohort_id=None, source="self"
    )


async def count(platform: Platform, table: Any, *where: Any) -> int:
    async with platform.database.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())


def sender(platform: Platform) -> NotificationSender:
    s = platform.container.notification.sender()
    assert isinstance(s, NotificationSender)
    return s


def store(platform: Platform) -> SqlNotificationStore:
    s = platform.container.notification.store()
    assert isinstance(s, SqlNotificationStore)
    return s


async def test_a_redelivered_event_notifies_once(notifying: Platform) -> None:
    course_id = await a_course(notifying)
    user_id = await a_user(notifying, "ada@example.org")
    message = raw(enrolled(course_id, user_id))

    first = await dispatcher(notifying).dispatch(message, where="test", sleep=_never)
    again = await dispatcher(notifying).dispatch(message, where="test", sleep=_never)

    assert (first.outcome, again.outcome) == (Outcome.HANDLED, Outcome.DUPLICATE)
    assert await count(notifying, notifications, notifications.c.user_id == user_id) == 1
    assert await count(notifying, notification_deliveries, notification_deliveries.c.user_id == user_id) == 1
    page = await notifying.notifications.mine(Principal(subject=str(user_id), user_id=user_id))
    assert [(n.type, n.title) for n in page.items] == [
        (NotificationType.ENROLLMENT_CONFIRMED, "You are enrolled in Astronomy")
    ]


async def test_the_same_notice_written_twice_adds_nothing(notifying: Platform) -> None:
    """Past the inbox too (a replayed dead letter, a second fan-out run): the unique constraints hold."""
    user_id = await a_user(notifying, "bo@example.org")
    notice = Notice(NotificationType.CERTIFICATE_ISSUED, user_id, uuid.uuid4(), {"course": "X"})
    for _ in range(2):
        async with notifying.database.write() as conn:
            await record_notices(conn, [notice], at=T0, render=lambda k, d, loc: ("t", "b"), mail_domain="example.org")
            await conn.commit()
    assert await count(notifying, notifications, notifications.c.user_id == user_id) == 1
    assert await count(notifying, notification_deliveries, notification_deliveries.c.user_id == user_id) == 1


async def test_a_course_update_fans_out_in_batches_and_once(notifying: Platform) -> None:
    course_id = await a_course(notifying)
    learners = [await a_user(notifying, f"l{i}@example.org") for i in range(5)]
    for learner in learners:
        await notifying.enrollments.enroll(SYSTEM, course_id, learner)
    event = CoursePublished(aggregate_id=course_id, occurred_at=T0, slug="s", published_at=T0, version_number=2)
    await dispatcher(notifying).dispatch(raw(event), where="test", sleep=_never)
    assert await count(notifying, notifications) == 0  # only the fan-out row: the consumer did not wait

    render = notifying.container.notification.templates().in_app
    written, new = await store(notifying).expand_fanouts(
        at=T0, batch=2, max_batches=10, render=lambda k, d, loc: render(k, d, loc), mail_domain="example.org"
    )
    again, _ = await store(notifying).expand_fanouts(
        at=T0, batch=2, max_batches=10, render=lambda k, d, loc: render(k, d, loc), mail_domain="example.org"
    )

    assert (written, len(new), again) == (5, 5, 0)
    assert await count(notifying, notifications, notifications.c.type == "course_updated") == 5


async def test_mail_reaches_a_real_smtp_server_in_the_recipients_language(
    notifying: Platform, smtp_server: SmtpServer
) -> None:
    course_id = await a_course(notifying, "Astronomie")
    user_id = await a_user(notifying, "chloe@example.org", locale="fr-CA")
    await dispatcher(notifying).dispatch(raw(enrolled(course_id, user_id)), where="test", sleep=_never)

    assert await sender(notifying).send_due() == (1, 0)

    (mail,) = smtp_server.wait_for(1, where=lambda m: "chloe@example.org" in m.rcpt_tos)
    message = mail.message
    async with notifying.database.read() as conn:
        stored_id = (await conn.execute(select(notification_deliveries.c.message_id))).scalar_one()
    assert message["Message-ID"] == stored_id
    assert message["Subject"] == "Vous êtes inscrit·e au cours Astronomie"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = message["List-Unsubscribe"].strip("<>")
    assert "/api/v1/notifications/unsubscribe?token=" in link
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "Bienvenue" in text.get_content()
    assert link in text.get_content()
    assert '<html lang="fr">' in html.get_content()

    # The link's token turns this type's mail off (the HTTP route is tested in tests/e2e).
    links = notifying.container.notification.links()
    found = links.verify(link.rpartition("token=")[2])
    assert found == (user_id, (NotificationType.ENROLLMENT_CONFIRMED,))
    await notifying.notifications.unsubscribe(*found)
    prefs = await notifying.notifications.preferences(Principal(subject=str(user_id), user_id=user_id))
    assert any(
        p.type is NotificationType.ENROLLMENT_CONFIRMED and p.channel is Channel.EMAIL and p.cadence is Cadence.OFF
        for p in prefs
    )


async def test_a_mail_server_that_is_down_delays_mail_without_losing_any(
    notifying: Platform, start_smtp_server: Any
) -> None:
    server = start_smtp_server()
    mailer = SmtpMailer(server.host, server.port, sender="noreply@example.org", timeout=2)
    notifying.container.notification.mailer.override(providers.Object(lambda: mailer))
    notifying.container.notification.sender.reset()
    try:
        course_id = await a_course(notifying)
        user_id = await a_user(notifying, "dora@example.org")
        await dispatcher(notifying).dispatch(raw(enrolled(course_id, user_id)), where="test", sleep=_never)
        server.stop()

        assert await sender(notifying).send_due() == (0, 1)
        async with notifying.database.read() as conn:
            row = (await conn.execute(select(notification_deliveries))).one()
        assert (row.status, row.attempts) == ("pending", 1)
        assert "connection refused" in row.reason
        assert await sender(notifying).send_due() == (0, 0)  # not due again before its backoff

        server.restart()
        clock(notifying).set(T0 + timedelta(minutes=2))
        assert await sender(notifying).send_due() == (1, 0)
        (mail,) = server.wait_for(1)
        assert mail.message["Message-ID"] == row.message_id
    finally:
        notifying.container.notification.mailer.reset_override()
        notifying.container.notification.sender.reset()


async def test_a_permanent_refusal_suppresses_the_address(notifying: Platform, smtp_server: SmtpServer) -> None:
    course_id = await a_course(notifying)
    user_id = await a_user(notifying, "bounce@example.org")
    await dispatcher(notifying).dispatch(raw(enrolled(course_id, user_id)), where="test", sleep=_never)

    assert await sender(notifying).send_due() == (0, 1)
    async with notifying.database.read() as conn:
        row = (await conn.execute(select(notification_deliveries))).one()
    assert row.status == "failed"
    assert "550" in row.reason
    assert (
        await count(notifying, notification_suppressions, notification_suppressions.c.email == "bounce@example.org")
        == 1
    )

    await dispatcher(notifying).dispatch(raw(enrolled(await a_course(notifying), user_id)), where="test", sleep=_never)
    assert await sender(notifying).send_due() == (0, 0)
    assert await count(notifying, notification_deliveries, notification_deliveries.c.status == "suppressed") == 1


class _Killed(BaseException):
    """Stands for the process dying: nothing after it runs (BaseException, so no handler records it)."""


async def test_a_sender_killed_after_the_handoff_sends_at_most_twice_with_one_message_id(
    notifying: Platform, smtp_server: SmtpServer
) -> None:
    course_id = await a_course(notifying)
    user_id = await a_user(notifying, "eve@example.org")
    await dispatcher(notifying).dispatch(raw(enrolled(course_id, user_id)), where="test", sleep=_never)
    the_store = store(notifying)
    real_mark_sent = the_store.mark_sent

    async def die(*_args: Any) -> None:
        raise _Killed

    the_store.mark_sent = die  # type: ignore[method-assign]
    with pytest.raises(_Killed):
        await sender(notifying).send_due()
    the_store.mark_sent = real_mark_sent  # type: ignore[method-assign]

    assert await sender(notifying).send_due() == (0, 0)  # the dead sender's claim still stands
    clock(notifying).set(T0 + timedelta(minutes=6))  # its lease (5 min) ran out
    assert await sender(notifying).send_due() == (1, 0)

    copies = smtp_server.wait_for(2, where=lambda m: "eve@example.org" in m.rcpt_tos)
    assert len(copies) == 2
    assert len({m.message["Message-ID"] for m in copies}) == 1
    assert await sender(notifying).send_due() == (0, 0)


async def test_a_sender_process_killed_by_sigkill_after_the_handoff_sends_twice_with_one_message_id(
    notifying: Platform, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """The same, with a real process death: SIGKILL right after the server's 250, before the record."""
    course_id = await a_course(notifying)
    user_id = await a_user(notifying, "kim@example.org")
    await dispatcher(notifying).dispatch(raw(enrolled(course_id, user_id)), where="test", sleep=_never)
    url = notifying.container.settings().database_url
    crashed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(CRASHING_SENDER), url, smtp_server.host, str(smtp_server.port)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "DATA_DIR": str(tmp_path)},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()[-2000:]
    async with notifying.database.read() as conn:
        row = (await conn.execute(select(notification_deliveries))).one()
    assert (row.status, row.attempts) == ("pending", 1)  # claimed, handed over, never recorded

    clock(notifying).set(datetime.now(UTC) + timedelta(minutes=6))  # the dead sender's lease ran out
    assert await sender(notifying).send_due() == (1, 0)
    copies = smtp_server.wait_for(2, where=lambda m: "kim@example.org" in m.rcpt_tos)
    assert len(copies) == 2
    assert {m.message["Message-ID"] for m in copies} == {row.message_id}
    assert await sender(notifying).send_due() == (0, 0)


async def test_a_daily_digest_gathers_the_period_in_one_mail(notifying: Platform, smtp_server: SmtpServer) -> None:
    user_id = await a_user(notifying, "fay@example.org", time_zone="America/New_York")
    actor = Principal(subject=str(user_id), user_id=user_id)
    await notifying.notifications.set_preferences(
        actor,
        SetPreferences(
            preferences=[
                PreferenceChoice(
                    type=NotificationType.ENROLLMENT_CONFIRMED, channel=Channel.EMAIL, cadence=Cadence.DAILY
                )
            ]
        ),
    )
    for title in ("One", "Two"):
        await dispatcher(notifying).dispatch(
            raw(enrolled(await a_course(notifying, title), user_id)), where="test", sleep=_never
        )
    assert await sender(notifying).send_due() == (0, 0)  # digests wait for their period
    assert await sender(notifying).send_digests() == 0

    clock(notifying).set(datetime(2026, 3, 3, 13, 0, tzinfo=UTC))  # 08:00 in New York (EST) the next day
    assert await sender(notifying).send_digests() == 1
    (mail,) = smtp_server.wait_for(1, where=lambda m: "fay@example.org" in m.rcpt_tos)
    body = mail.message.get_body(("plain",))
    assert body is not None
    assert "One" in body.get_content()
    assert "Two" in body.get_content()
    assert await sender(notifying).send_digests() == 0


class _HandoffCounter:
    """Accepts every mail; counts the sender's work under way: mails being handed over plus records being
    written (each holds a database connection)."""

    def __init__(self) -> None:
        self.sending = self.recording = self.most_under_way = 0

    def started(self) -> None:
        self.most_under_way = max(self.most_under_way, self.sending + self.recording)

    async def send(self, message: Any) -> None:
        del message
        self.sending += 1
        self.started()
        for _ in range(3):  # let the other sends interleave
            await asyncio.sleep(0)
        self.sending -= 1


async def test_the_sender_keeps_at_most_its_concurrency_under_way_and_records_them_in_groups(
    notifying: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fan-out's mails hold at most ``concurrency`` of the process's database connections and event loop:
    a mail is under way from its rendering to its record, and accepted ones are recorded a group at a time."""
    course_id = await a_course(notifying)
    for n in range(5):
        user_id = await a_user(notifying, f"reader{n}@example.org")
        await dispatcher(notifying).dispatch(raw(enrolled(course_id, user_id)), where="test", sleep=_never)
    mailer, groups = _HandoffCounter(), []
    the_store = store(notifying)
    mark_sent = the_store.mark_sent

    async def recorded(ids: Any, at: datetime) -> None:
        mailer.recording += 1
        mailer.started()
        await mark_sent(ids, at)
        mailer.recording -= 1
        groups.append(len(ids))

    monkeypatch.setattr(the_store, "mark_sent", recorded)
    wiring = notifying.container.notification
    two_at_a_time = NotificationSender(
        the_store, lambda: mailer, wiring.templates(), wiring.links(), clock(notifying),
        dataclasses.replace(sender(notifying).config, concurrency=2),
    )  # fmt: skip

    assert await two_at_a_time.send_due() == (5, 0)
    assert sorted(groups) == [1, 2, 2]
    assert mailer.most_under_way <= 2
    assert await count(notifying, notification_deliveries, notification_deliveries.c.status == "sent") == 5
