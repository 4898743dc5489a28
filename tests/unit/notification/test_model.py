"""Digest periods across time zones and DST changes, preferences' defaults, and the discussion
handlers against events built here (the discussion module publishes them in its own branch)."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elearning_adapters.notification.handlers import DiscussionHandlers, Followers, handlers_for, mappers
from elearning_adapters.notification.sender import UnsubscribeLinks
from elearning_adapters.notification.stream import StreamTickets
from elearning_adapters.notification.templates import NotificationTemplates, language_of
from elearning_core.notification.model import (
    DIGEST_HOUR,
    Audience,
    Cadence,
    Channel,
    Notice,
    NotificationType,
    all_preferences,
    cadence_of,
    digest_period,
)
from elearning_core.shared.envelope import EventEnvelope

ZONES = sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
# Zones whose DST changes cross the instants drawn below (and a few without DST).
SOME_ZONES = ["Europe/Paris", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "America/Sao_Paulo", "UTC"]

instants = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))


@settings(max_examples=400, deadline=None)
@given(at=instants, zone=st.sampled_from(ZONES), cadence=st.sampled_from([Cadence.DAILY, Cadence.WEEKLY]))
def test_a_digest_period_runs_from_local_0800_to_local_0800_and_holds_its_instant(
    at: datetime, zone: str, cadence: Cadence
) -> None:
    start, end = digest_period(cadence, zone, at)
    tz = zoneinfo.ZoneInfo(zone)
    assert start <= at < end
    assert start.astimezone(tz).time() == DIGEST_HOUR == end.astimezone(tz).time()
    days = 1 if cadence is Cadence.DAILY else 7
    assert (end.astimezone(tz).date() - start.astimezone(tz).date()).days == days
    # A DST change inside makes it an hour (or, in Lord Howe, half an hour) longer or shorter, never more.
    assert abs((end - start) - timedelta(days=days)) <= timedelta(hours=1)
    if cadence is Cadence.WEEKLY:
        assert start.astimezone(tz).weekday() == 0


@settings(max_examples=200, deadline=None)
@given(at=instants, zone=st.sampled_from(SOME_ZONES))
def test_consecutive_daily_periods_tile_time_one_mail_per_period(at: datetime, zone: str) -> None:
    start, end = digest_period(Cadence.DAILY, zone, at)
    assert digest_period(Cadence.DAILY, zone, end) == (end, digest_period(Cadence.DAILY, zone, end)[1])
    assert digest_period(Cadence.DAILY, zone, end - timedelta(microseconds=1)) == (start, end)


def test_the_spring_forward_day_in_paris_is_23_hours() -> None:
    # Clocks go from 02:00 to 03:00 on Sunday 29 March 2026: Saturday 08:00 to Sunday 08:00 is 23 hours.
    start, end = digest_period(Cadence.DAILY, "Europe/Paris", datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert (start, end - start) == (datetime(2026, 3, 28, 7, 0, tzinfo=UTC), timedelta(hours=23))
    start, end = digest_period(Cadence.DAILY, "Europe/Paris", datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    assert end - start == timedelta(hours=25)


def test_preferences_default_per_type_and_channel_until_chosen() -> None:
    chosen = {(NotificationType.ANNOUNCEMENT, Channel.EMAIL): Cadence.OFF}
    assert cadence_of(chosen, NotificationType.ANNOUNCEMENT, Channel.EMAIL) is Cadence.OFF
    assert cadence_of(chosen, NotificationType.COURSE_UPDATED, Channel.EMAIL) is Cadence.WEEKLY
    assert len(all_preferences(chosen)) == len(NotificationType) * len(Channel)


class _Followers(Followers):
    def __init__(self, *users: uuid.UUID) -> None:
        self.users = list(users)

    async def followers(self, thread_id: uuid.UUID) -> list[uuid.UUID]:
        return self.users


def _envelope(kind: str) -> EventEnvelope:
    return EventEnvelope(
        event_id=uuid.uuid4(),
        type=kind,
        occurred_at=datetime.now(UTC),
        aggregate_id=uuid.uuid4(),
        producer="test",
        schema_version=1,
        payload={},
    )


AUTHOR, FOLLOWER, MENTIONED, OTHER = (uuid.uuid4() for _ in range(4))


async def test_a_reply_notifies_followers_and_mentions_once_each_never_the_author() -> None:
    handlers = DiscussionHandlers(_Followers(AUTHOR, FOLLOWER, MENTIONED))
    event = {
        "thread_id": str(uuid.uuid4()),
        "course_id": str(uuid.uuid4()),
        "author_id": str(AUTHOR),
        "thread_title": "Orbits",
        "author_name": "Ada",
        "mentioned_user_ids": [str(MENTIONED), str(AUTHOR)],
    }
    notices = await handlers.reply_posted(event, _envelope("discussion.reply_posted.v1"), None)  # type: ignore[arg-type]
    assert isinstance(notices, list)
    assert sorted((n.recipient, n.type) for n in notices) == sorted(
        [(MENTIONED, NotificationType.DISCUSSION_MENTION), (FOLLOWER, NotificationType.DISCUSSION_REPLY)]
    )


async def test_a_dunning_step_is_one_notice_whichever_of_its_events_comes() -> None:
    """``payment_failed`` and ``past_due`` of one step (one instant) name one event id; the next step another."""
    table = mappers(_Followers())
    sub, user, at = uuid.uuid4(), uuid.uuid4(), datetime(2026, 4, 1, tzinfo=UTC)

    async def notice_of(kind: str, occurred_at: datetime) -> Notice:
        event = {"aggregate_id": sub, "occurred_at": occurred_at, "user_id": user, "amount": 1999, "plan_code": "pro"}
        (notice,) = await table[kind](event, _envelope(kind), None)  # type: ignore[arg-type, misc]
        return notice

    failed = await notice_of("subscription.payment_failed.v1", at)
    past_due = await notice_of("subscription.past_due.v1", at)
    retry = await notice_of("subscription.payment_failed.v1", at + timedelta(days=3))
    assert (failed.type, failed.recipient, failed.data["plan"]) == (NotificationType.SUBSCRIPTION_PAST_DUE, user, "pro")
    assert failed.event_id == past_due.event_id != retry.event_id


async def test_an_answer_accepted_by_its_own_author_notifies_nobody() -> None:
    handlers = DiscussionHandlers(_Followers())
    env = _envelope("discussion.answer_accepted.v1")
    own = {"answer_author_id": str(AUTHOR), "accepted_by": str(AUTHOR), "thread_id": "t"}
    other = {"answer_author_id": str(AUTHOR), "accepted_by": str(OTHER), "thread_id": "t", "thread_title": "Q"}
    assert await handlers.answer_accepted(own, env, None) is None  # type: ignore[arg-type]
    (notice,) = await handlers.answer_accepted(other, env, None)  # type: ignore[arg-type, misc]
    assert (notice.recipient, notice.type) == (AUTHOR, NotificationType.ANSWER_ACCEPTED)


async def test_an_announcement_is_a_fan_out_to_its_course_not_a_list_of_notices() -> None:
    course = uuid.uuid4()
    effect = await DiscussionHandlers(_Followers()).announcement_posted(
        {"course_id": str(course), "title": "Exam moved", "body": "To Friday", "author_id": str(AUTHOR)},
        _envelope("discussion.announcement_posted.v1"),
        None,  # type: ignore[arg-type]
    )
    assert isinstance(effect, Audience)
    assert (effect.course_id, effect.type, effect.exclude) == (course, NotificationType.ANNOUNCEMENT, AUTHOR)


def test_only_registered_event_types_are_subscribed() -> None:
    table = mappers(_Followers())
    handlers = handlers_for(
        table,
        now=lambda: datetime.now(UTC),
        render=lambda k, d, loc: ("", ""),
        mail_domain="example.org",
        after_commit=lambda conn, recorded: None,
        registered=frozenset({"enrollment.enrolled.v1"}),
    )
    assert set(handlers) == {"enrollment.enrolled.v1"}
    assert {"discussion.reply_posted.v1", "subscription.payment_failed.v1"} <= set(table)


@pytest.mark.parametrize(
    ("locale", "language"), [("en", "en"), ("fr", "fr"), ("fr-CA", "fr"), ("pt-BR", "en"), ("zz", "en")]
)
def test_the_language_follows_the_locale(locale: str, language: str) -> None:
    assert language_of(locale) == language


def test_mail_is_escaped_in_html_and_amounts_are_localised() -> None:
    templates = NotificationTemplates()
    mail = templates.mail(
        NotificationType.ANNOUNCEMENT,
        {"title": "<script>x</script>", "body": "a & b"},
        None,
        locale="en",
        time_zone="UTC",
        unsubscribe="https://x/u?token=a",
    )
    assert "<script>" not in mail.html
    assert "&lt;script&gt;" in mail.html
    assert "<script>x</script>" in mail.text
    title, body = templates.in_app(NotificationType.PAYMENT_RECEIPT, {"amount_minor": 1999, "currency": "EUR"}, "fr")
    assert title == "Paiement reçu"
    assert "19,99\xa0€" in body


def test_unsubscribe_links_and_stream_tickets_refuse_tampering_and_age() -> None:
    links = UnsubscribeLinks(b"secret", "https://learn.example.org")
    user = uuid.uuid4()
    token = links.token(user, NotificationType.ANNOUNCEMENT)
    assert links.verify(token) == (user, (NotificationType.ANNOUNCEMENT,))
    assert links.verify(token.replace("announcement", "grade_released")) is None
    digest = links.token(user, NotificationType.DISCUSSION_REPLY, NotificationType.ANNOUNCEMENT)
    assert digest == links.token(user, NotificationType.ANNOUNCEMENT, NotificationType.DISCUSSION_REPLY)
    assert links.verify(digest) == (user, (NotificationType.ANNOUNCEMENT, NotificationType.DISCUSSION_REPLY))
    assert links.verify(digest.replace("announcement-", "")) is None  # a type cut off the signed list
    assert links.verify(token.replace(".", ".announcement-", 1)) is None  # or added to it
    assert UnsubscribeLinks(b"other", "https://x").verify(token) is None

    tickets = StreamTickets(b"secret", ttl=60)
    ticket = tickets.issue(user, now=1_000)
    assert tickets.verify(ticket, now=1_059) == user
    assert tickets.verify(ticket, now=1_061) is None
    assert tickets.verify(ticket[:-2] + "AA", now=1_000) is None


async def test_a_line_break_in_an_added_header_or_the_message_id_is_refused_like_one_in_the_subject() -> None:
    from elearning_adapters.email.mailers import RecordingMailer
    from elearning_core.identity.ports import MailError, MailMessage

    mailer = RecordingMailer()
    base = {"to": "a@example.org", "subject": "s", "text": "t"}
    with pytest.raises(MailError, match="header injection"):
        await mailer.send(MailMessage(**base, headers=(("List-Unsubscribe", "<https://x>\r\nBcc: b@example.org"),)))
    with pytest.raises(MailError, match="header injection"):
        await mailer.send(MailMessage(**base, message_id="<a@b>\nBcc: b@example.org"))
    await mailer.send(MailMessage(**base, html="<p>t</p>", message_id="<a@b>", headers=(("X-Kind", "k"),)))
    assert [m.message_id for m in mailer.sent] == ["<a@b>"]
