"""Notification routes: the caller's inbox (paged, unread count, read marks), the live stream over
Server-Sent Events with its ticket, preferences, and the one-click unsubscribe (RFC 8058, no sign-in).

The stream is ``GET /api/v1/me/notifications/stream``: an ``EventSource`` sends the session cookie, or
(when it cannot) a ``?ticket=`` from ``POST /api/v1/me/notifications/stream-ticket``. Each notification
is a ``notification`` event whose data is its JSON; a comment line every
``ELEARNING_NOTIFICATION_STREAM_HEARTBEAT_SECONDS`` keeps proxies from closing a quiet stream, and the
stream ends after ``ELEARNING_NOTIFICATION_STREAM_MAX_SECONDS`` (the browser reconnects).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from elearning_adapters.notification.sender import UnsubscribeLinks
from elearning_adapters.notification.stream import LocalStream, StreamTickets
from elearning_adapters.settings import Settings
from elearning_core.notification.commands import SetPreferences
from elearning_core.notification.model import Notification, Preference
from elearning_core.notification.service import NotificationService
from elearning_core.shared.errors import FieldError, ValidationFailed
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem_responses
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged

ERRORS = problem_responses(400, 401, 404, 422)
TAGS = ["notifications"]
Req = Request[Any, Any, Any]
Service = NamedDependency[NotificationService]
Caller = NamedDependency[Principal]
Ticket = Annotated[str | None, QueryParameter(max_length=200, description="A stream ticket (for EventSource)")]
Unread = Annotated[bool, QueryParameter(description="Only the unread notifications")]
UnsubscribeToken = Annotated[
    str,
    QueryParameter(max_length=600, description="The signed token of the mailed link (a digest's names all its types)"),
]


@dataclass(frozen=True, slots=True)
class NotificationOut:
    id: str
    type: str
    title: str
    body: str
    link: str | None
    created_at: dt.datetime
    read_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class UnreadCount:
    unread: int


@dataclass(frozen=True, slots=True)
class MarkedRead:
    marked: int


@dataclass(frozen=True, slots=True)
class StreamTicketOut:
    ticket: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class PreferenceOut:
    type: str
    channel: str
    cadence: str


@dataclass(frozen=True, slots=True)
class PreferencesOut:
    """A settings document (every type x channel: bounded), shaped like the PUT body."""

    preferences: list[PreferenceOut]


def _out(n: Notification) -> NotificationOut:
    return NotificationOut(str(n.id), n.type.value, n.title, n.body, n.link, n.created_at, n.read_at)


def _preferences(items: list[Preference]) -> PreferencesOut:
    return PreferencesOut([PreferenceOut(p.type.value, p.channel.value, p.cadence.value) for p in items])


@get(
    "/api/v1/me/notifications",
    tags=TAGS,
    summary="The caller's in-app notifications",
    description="Newest first; `unread=true` lists only the unread ones; paged.",
    responses=ERRORS,
    response_headers=LINK,
)
async def my_notifications(
    request: Req,
    notification_service: Service,
    principal: Caller,
    unread: Unread = False,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response[Paged[NotificationOut]]:
    page = await notification_service.mine(principal, unread_only=unread, cursor=cursor, limit=limit)
    return paged(request, page, _out)


@get("/api/v1/me/notifications/unread-count", tags=TAGS, summary="How many are unread", responses=ERRORS)
async def unread_count(notification_service: Service, principal: Caller) -> UnreadCount:
    return UnreadCount(await notification_service.unread_count(principal))


@post(
    "/api/v1/me/notifications/{notification_id:uuid}/read",
    tags=TAGS,
    summary="Mark one notification read",
    description="Marking a read notification again changes nothing.",
    status_code=HTTP_204_NO_CONTENT,
    responses=ERRORS,
)
async def mark_read(notification_service: Service, principal: Caller, notification_id: FromPath[uuid.UUID]) -> None:
    await notification_service.mark_read(principal, notification_id)


@post(
    "/api/v1/me/notifications/read-all",
    tags=TAGS,
    summary="Mark every notification read",
    status_code=HTTP_200_OK,
    responses=ERRORS,
)
async def mark_all_read(notification_service: Service, principal: Caller) -> MarkedRead:
    return MarkedRead(await notification_service.mark_all_read(principal))


@post(
    "/api/v1/me/notifications/stream-ticket",
    tags=TAGS,
    summary="A short-lived ticket for the live stream",
    description="For `EventSource`, which cannot send an Authorization header: "
    "`GET /api/v1/me/notifications/stream?ticket=...` within `expires_in` seconds.",
    status_code=HTTP_200_OK,
    responses=ERRORS,
)
async def stream_ticket(principal: Caller, stream_tickets: NamedDependency[StreamTickets]) -> StreamTicketOut:
    if principal.user_id is None:
        raise NotAuthorizedException("a stream belongs to a user's sign-in")
    return StreamTicketOut(stream_tickets.issue(principal.user_id), int(stream_tickets.ttl))


@get(
    "/api/v1/me/notifications/stream",
    tags=TAGS,
    summary="The caller's new in-app notifications, live (Server-Sent Events)",
    description="Authenticated by the session cookie, a bearer token, or `?ticket=`. Events named "
    "`notification` carry a notification's JSON; comment lines are heartbeats; the stream ends after "
    "its maximum life and the client reconnects.",
    responses=problem_responses(401),
    opt={"public": True},
    media_type="text/event-stream",
)
async def notification_stream(
    principal: Caller,
    stream_tickets: NamedDependency[StreamTickets],
    notification_stream_hub: NamedDependency[LocalStream],
    settings: NamedDependency[Settings],
    ticket: Ticket = None,
) -> ServerSentEvent:
    user_id = stream_tickets.verify(ticket) if ticket else principal.user_id
    if user_id is None:
        raise NotAuthorizedException("sign in, or pass a fresh stream ticket")
    heartbeat = settings.notification_stream_heartbeat_seconds
    deadline = time.monotonic() + settings.notification_stream_max_seconds

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        async with notification_stream_hub.listen(user_id) as queue:
            yield ServerSentEventMessage(comment="stream open", retry=3000)
            while (left := deadline - time.monotonic()) > 0:
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=min(heartbeat, left))
                except TimeoutError:
                    yield ServerSentEventMessage(comment="heartbeat")
                    continue
                yield ServerSentEventMessage(data=json.dumps(item), event="notification", id=item["id"])

    return ServerSentEvent(events())


@get(
    "/api/v1/me/notification-preferences",
    tags=TAGS,
    summary="The caller's notification preferences",
    description="Every type x channel with its cadence (the type's default where none was chosen).",
    responses=ERRORS,
)
async def get_preferences(notification_service: Service, principal: Caller) -> PreferencesOut:
    return _preferences(await notification_service.preferences(principal))


@put(
    "/api/v1/me/notification-preferences",
    tags=TAGS,
    summary="Choose notification cadences",
    description="Each entry sets one type x channel: `immediate`, `daily`, `weekly` (email digests) or `off`; "
    "in-app takes `immediate` or `off`. Others keep theirs.",
    responses=ERRORS,
)
async def put_preferences(
    notification_service: Service, principal: Caller, data: JSONBody[SetPreferences]
) -> PreferencesOut:
    return _preferences(await notification_service.set_preferences(principal, data))


@post(
    "/api/v1/notifications/unsubscribe",
    tags=TAGS,
    summary="One-click unsubscribe (RFC 8058)",
    description="The `List-Unsubscribe` link of a notification mail: turns that type's email off (a digest's "
    "link: every type the digest gathered), without signing in. Mail clients POST `List-Unsubscribe=One-Click`; "
    "the body is not read.",
    status_code=HTTP_204_NO_CONTENT,
    responses=problem_responses(400, 422),
    opt={"public_write": True},
    security=[],
)
async def unsubscribe(
    notification_service: Service, unsubscribe_links: NamedDependency[UnsubscribeLinks], token: UnsubscribeToken
) -> None:
    found = unsubscribe_links.verify(token)
    if found is None:
        raise ValidationFailed(
            "the unsubscribe link is not valid", [FieldError("token", "not a signed unsubscribe token")]
        )
    await notification_service.unsubscribe(*found)


NOTIFICATION_HANDLERS = [
    my_notifications,
    unread_count,
    mark_read,
    mark_all_read,
    stream_ticket,
    notification_stream,
    get_preferences,
    put_preferences,
    unsubscribe,
]
