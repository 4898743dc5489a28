"""Domain events -> notices: the ``notifications`` subscription's handlers.

Each handler turns one event into notices for named recipients (written at once, in the handler's
transaction, with the event's inbox row) or into a course-wide fan-out (one row here; the
``notifications.fan-out`` job writes it to every learner in batches). Either way a redelivered event
writes nothing new: the inbox skips it, and the unique constraints would refuse its rows anyway.

Types are mapped by name. A type whose event class is not registered in this build is simply not
subscribed: ``handlers_for`` keeps only registered types, so a platform assembled without a module (its
events unknown) subscribes to the rest.

Besides notices, two identity events lift the suppression of an address its owner confirmed again
(``address_confirmed``), in the same transaction as the event's inbox row.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.events.dispatch import Handler
from elearning_adapters.sql.assessment._tables import quizzes
from elearning_adapters.sql.course._tables import courses
from elearning_adapters.sql.identity import users
from elearning_adapters.sql.notification import Recorded, Render, add_fanout, lift_suppression, record_notices
from elearning_core.notification.model import Audience, Notice, NotificationType
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent, registered_event_types

T = NotificationType
_TAGS = re.compile(r"<[^>]+>")


class Followers(Protocol):
    """Who follows a thread (its author included, muters and those who blocked the author excluded): the
    discussion module's ``DiscussionAudience`` serves it, reading on its own connection (the thread was
    committed before its event was published)."""

    async def followers(self, thread_id: uuid.UUID) -> list[uuid.UUID]: ...


class NoFollowers(Followers):
    """Without the discussion module (a platform assembled without it): nobody follows anything."""

    async def followers(self, thread_id: uuid.UUID) -> list[uuid.UUID]:
        return []


Effect = list[Notice] | Audience | None
Mapper = Callable[[dict[str, Any], EventEnvelope, AsyncConnection], Awaitable[Effect]]


async def _course_title(conn: AsyncConnection, course_id: Any) -> str:
    title = await conn.scalar(select(courses.c.title).where(courses.c.id == course_id))
    return str(title) if title is not None else "…"


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


async def enrolled(e: dict[str, Any], env: EventEnvelope, conn: AsyncConnection) -> Effect:
    data = {"course": await _course_title(conn, e["course_id"])}
    return [Notice(T.ENROLLMENT_CONFIRMED, e["user_id"], env.event_id, data, f"/courses/{e['course_id']}")]


async def certificate_issued(e: dict[str, Any], env: EventEnvelope, conn: AsyncConnection) -> Effect:
    title = await _course_title(conn, e["subject_id"]) if e.get("subject_kind") == "course" else "…"
    return [Notice(T.CERTIFICATE_ISSUED, e["user_id"], env.event_id, {"course": title}, "/me/certificates")]


async def course_published(e: dict[str, Any], env: EventEnvelope, conn: AsyncConnection) -> Effect:
    """A published new version (not the first publication: nobody is enrolled before it)."""
    if int(e.get("version_number", 1)) <= 1:
        return None
    course_id = e["aggregate_id"]
    data = {"course": await _course_title(conn, course_id), "version": int(e["version_number"])}
    return Audience(T.COURSE_UPDATED, course_id, env.event_id, data, f"/courses/{course_id}")


async def attempt_graded(e: dict[str, Any], env: EventEnvelope, conn: AsyncConnection) -> Effect:
    """A grade is visible to the learner from the moment it is given (no held-back grades in the
    assessment module): ``assessment.attempt_graded.v1`` is the grade's release."""
    title = await conn.scalar(select(quizzes.c.title).where(quizzes.c.id == e["quiz_id"]))
    data = {"quiz": str(title or "…"), "percent": f"{float(e['percent']):g}"}
    return [Notice(T.GRADE_RELEASED, e["user_id"], env.event_id, data, f"/courses/{e['course_id']}")]


def _payment(kind: NotificationType) -> Mapper:
    async def handle(e: dict[str, Any], env: EventEnvelope, conn: AsyncConnection) -> Effect:
        metadata = e.get("metadata") or {}
        user_id = _uuid(metadata.get("user_id") or e.get("user_id"))
        if user_id is None:
            return None
        data = {"amount_minor": int(e.get("amount", 0)), "currency": str(e.get("currency", "USD"))}
        return [Notice(kind, user_id, env.event_id, data, "/me/billing")]

    return handle


async def address_confirmed(e: dict[str, Any], env: EventEnvelope, conn: AsyncConnection) -> Effect:
    """The user confirmed their address (the verification link, or an email change confirmed through the link
    mailed to the new address): a hard bounce had put it on the suppression list, mail to it flows again. An
    administrator's change (``by="admin"``) vouches for the address but proves nobody reads it: kept."""
    if e.get("by", "user") != "user":
        return None
    address = e.get("email") or await conn.scalar(select(users.c.email).where(users.c.id == e["aggregate_id"]))
    if address:
        await lift_suppression(conn, str(address))
    return None


_DUNNING = uuid.UUID("0b7d6c1e-5a3f-4e8b-9c2d-7f1a2b3c4d5e")


def _dunning(kind: NotificationType) -> Mapper:
    """A dunning step's notice to the subscriber. ``Subscription.failed`` records ``payment_failed`` and, the
    first time, ``past_due`` at one instant: both name the step (subscription, instant), which is the notice's
    event id, so the step tells once (the second adds nothing), and so does each redelivery."""

    async def handle(e: dict[str, Any], env: EventEnvelope, conn: AsyncConnection) -> Effect:
        user_id = _uuid(e.get("user_id"))
        if user_id is None:
            return None
        at = e["occurred_at"]
        step = uuid.uuid5(_DUNNING, f"{e['aggregate_id']}:{at.isoformat() if isinstance(at, datetime) else at}")
        data = {
            "amount_minor": int(e.get("amount", 0)),
            "currency": str(e.get("currency", "USD")),
            "plan": str(e.get("plan_code", "…")),
        }
        return [Notice(kind, user_id, step, data, "/me/subscriptions")]

    return handle


@dataclass(frozen=True)
class DiscussionHandlers:
    """The discussion events' handlers, against the payloads issue 16 describes: a reply names its
    thread, course, author and the mentioned users; an accepted answer names the answer's author; an
    announcement names its course, title and text. Recipients never include the author."""

    followers: Followers

    async def reply_posted(self, e: dict[str, Any], env: EventEnvelope, conn: AsyncConnection) -> Effect:
        thread_id, author = _uuid(e.get("thread_id")), _uuid(e.get("author_id"))
        if thread_id is None:
            return None
        data = {"thread": str(e.get("thread_title", "…")), "author": str(e.get("author_name", "…"))}
        link = f"/courses/{e.get('course_id')}/discussion/{thread_id}"
        mentioned = {u for u in (_uuid(m) for m in e.get("mentioned_user_ids", [])) if u is not None} - {author}
        notices = [Notice(T.DISCUSSION_MENTION, u, env.event_id, data, link) for u in sorted(mentioned)]
        for user in await self.followers.followers(thread_id):
            if user != author and user not in mentioned:
                notices.append(Notice(T.DISCUSSION_REPLY, user, env.event_id, data, link))
        return notices

    async def mentioned(self, e: dict[str, Any], env: EventEnvelope, conn: AsyncConnection) -> Effect:
        """The discussion module lists only mentioned people who can see the thread."""
        thread_id, author = _uuid(e.get("thread_id")), _uuid(e.get("author_id"))
        if thread_id is None:
            return None
        data = {"thread": str(e.get("thread_title", "…")), "author": "…"}
        link = f"/courses/{e.get('course_id')}/discussion/{thread_id}"
        mentioned = {u for u in (_uuid(m) for m in e.get("mentioned_user_ids", [])) if u is not None} - {author}
        return [Notice(T.DISCUSSION_MENTION, u, env.event_id, data, link) for u in sorted(mentioned)]

    async def answer_accepted(self, e: dict[str, Any], env: EventEnvelope, conn: AsyncConnection) -> Effect:
        answerer, by = _uuid(e.get("answer_author_id")), _uuid(e.get("accepted_by"))
        if answerer is None or answerer == by:
            return None
        data = {"thread": str(e.get("thread_title", "…"))}
        link = f"/courses/{e.get('course_id')}/discussion/{e.get('thread_id')}"
        return [Notice(T.ANSWER_ACCEPTED, answerer, env.event_id, data, link)]

    async def announcement_posted(self, e: dict[str, Any], env: EventEnvelope, conn: AsyncConnection) -> Effect:
        course_id = _uuid(e.get("course_id"))
        if course_id is None:
            return None
        body = str(e.get("body") or _TAGS.sub("", str(e.get("body_html", ""))))
        data = {"title": str(e.get("title", ""))[:200], "body": html.unescape(body)[:2000]}
        return Audience(
            T.ANNOUNCEMENT, course_id, env.event_id, data, f"/courses/{course_id}", _uuid(e.get("author_id"))
        )

    def table(self) -> dict[str, Mapper]:
        return {
            "discussion.reply_posted.v1": self.reply_posted,
            "discussion.mentioned.v1": self.mentioned,
            "discussion.answer_accepted.v1": self.answer_accepted,
            "discussion.announcement_posted.v1": self.announcement_posted,
        }


def mappers(followers: Followers) -> dict[str, Mapper]:
    """Every event type notifications react to, registered or not."""
    return {
        "enrollment.enrolled.v1": enrolled,
        "certificate.issued.v1": certificate_issued,
        "course.published.v2": course_published,
        "assessment.attempt_graded.v1": attempt_graded,
        "payment.succeeded.v1": _payment(T.PAYMENT_RECEIPT),
        "payment.failed.v1": _payment(T.PAYMENT_FAILED),
        "subscription.payment_failed.v1": _dunning(T.SUBSCRIPTION_PAST_DUE),
        "subscription.past_due.v1": _dunning(T.SUBSCRIPTION_PAST_DUE),
        "subscription.suspended.v1": _dunning(T.SUBSCRIPTION_SUSPENDED),
        "subscription.renewed.v1": _payment(T.PAYMENT_RECEIPT),
        "identity.email_verified.v1": address_confirmed,
        "identity.email_changed.v1": address_confirmed,
        **DiscussionHandlers(followers).table(),
    }


Published = Callable[[Recorded], None]
"""Given what a handler wrote, after the transaction commits: the live stream's publish."""


def handlers_for(
    table: Mapping[str, Mapper],
    *,
    now: Callable[[], datetime],
    render: Render,
    mail_domain: str,
    after_commit: Callable[[AsyncConnection, Recorded], None],
    registered: frozenset[str] | None = None,
) -> dict[str, Handler]:
    """The subscription's handlers: each mapper's effect written in the dispatcher's transaction; only
    types registered in this build (the others come with their module)."""
    known = registered if registered is not None else frozenset(registered_event_types())

    def handler(mapper: Mapper) -> Handler:
        async def handle(event: DomainEvent, envelope: EventEnvelope, conn: AsyncConnection) -> None:
            effect = await mapper(event.model_dump(), envelope, conn)
            if isinstance(effect, Audience):
                await add_fanout(conn, effect, now())
            elif effect:
                recorded = await record_notices(conn, effect, at=now(), render=render, mail_domain=mail_domain)
                after_commit(conn, recorded)

        return handle

    return {name: handler(mapper) for name, mapper in table.items() if name in known}
