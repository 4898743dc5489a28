"""Discussion routes: request bodies, query parameters, response shapes and their converters, and the
problem a broken discussion rule answers."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from pydantic import Field

from elearning_core.discussion.model import (
    REASON_MAX,
    DiscussionRuleBroken,
    ModerationAction,
    ModerationEntry,
    ThreadKind,
    ThreadSort,
)
from elearning_core.discussion.queries import AuthorView, EditView, PostView, QueueView, ThreadPage, ThreadView
from elearning_core.discussion.service import FOLLOW, MUTE, DiscussionService
from elearning_core.shared.inputs import InputModel
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem, problem_responses

ERRORS = problem_responses(400, 401, 403, 404, 409, 422, 429)
Req = Request[Any, Any, Any]
Service = NamedDependency[DiscussionService]
Caller = NamedDependency[Principal]


# -- bodies --------------------------------------------------------------------------------


class Subscription(enum.StrEnum):
    FOLLOW = FOLLOW
    MUTE = MUTE
    NONE = "none"


class SubscriptionIn(InputModel):
    state: Subscription = Field(description="follow, mute, or none (neither)")


class WatchIn(InputModel):
    on: bool = Field(description="Watch every thread of the course (or stop)")


class AcceptIn(InputModel):
    post_id: uuid.UUID | None = Field(description="A response of the question; null takes the acceptance back")


class EndorseIn(InputModel):
    on: bool = True


class ModerateIn(InputModel):
    action: ModerationAction = Field(description="hide, restore or delete (auto_hide is the platform's own)")
    reason: str = Field(min_length=1, max_length=REASON_MAX)


# -- answers -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthorOut:
    user_id: str | None
    """Null when the caller may not know who wrote it (anonymous to peers) or the account was deleted."""
    name: str
    anonymous: bool
    deleted: bool


@dataclass(frozen=True, slots=True)
class ThreadOut:
    id: str
    course_id: str
    kind: str
    title: str
    author: AuthorOut
    lesson_id: str | None
    lesson_title: str | None
    cohort_id: str | None
    created_at: dt.datetime
    last_activity_at: dt.datetime
    votes: int
    reply_count: int
    accepted_post_id: str | None
    pinned: bool
    closed: bool
    locked: bool
    excerpt: str
    unread: bool


@dataclass(frozen=True, slots=True)
class PostOut:
    id: str
    thread_id: str
    parent_id: str | None
    depth: int
    """0 the thread's opening post, 1 a response, 2 a comment on a response."""
    author: AuthorOut
    body: str
    """The Markdown source."""
    body_html: str
    """Rendered and sanitised."""
    created_at: dt.datetime
    edited_at: dt.datetime | None
    votes: int
    endorsed: bool
    accepted: bool
    state: str


@dataclass(frozen=True, slots=True)
class ThreadPageOut:
    thread: ThreadOut
    posts: list[PostOut]


@dataclass(frozen=True, slots=True)
class EditOut:
    editor: AuthorOut
    at: dt.datetime
    previous_body: str


@dataclass(frozen=True, slots=True)
class VoteOut:
    post_id: str
    votes: int


@dataclass(frozen=True, slots=True)
class UnreadOut:
    course_id: str
    unread: int


@dataclass(frozen=True, slots=True)
class QueueItemOut:
    post: PostOut
    course_id: str
    thread_title: str
    flags: int
    reasons: list[str]


@dataclass(frozen=True, slots=True)
class ModerationOut:
    id: str
    post_id: str
    action: str
    actor_id: str | None
    reason: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class BanOut:
    course_id: str
    user_id: str
    until: dt.datetime
    reason: str


@dataclass(frozen=True, slots=True)
class BlackoutOut:
    starts_at: dt.datetime
    ends_at: dt.datetime


@dataclass(frozen=True, slots=True)
class BlackoutsOut:
    periods: list[BlackoutOut]


def _s(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def _author(a: AuthorView) -> AuthorOut:
    return AuthorOut(_s(a.user_id), a.name, a.anonymous, a.deleted)


def thread_out(t: ThreadView) -> ThreadOut:
    return ThreadOut(
        str(t.id),
        str(t.course_id),
        t.kind.value,
        t.title,
        _author(t.author),
        _s(t.lesson_id),
        t.lesson_title,
        _s(t.cohort_id),
        t.created_at,
        t.last_activity_at,
        t.votes,
        t.reply_count,
        _s(t.accepted_post_id),
        t.pinned,
        t.closed,
        t.locked,
        t.excerpt,
        t.unread,
    )


def post_out(p: PostView) -> PostOut:
    return PostOut(
        str(p.id),
        str(p.thread_id),
        _s(p.parent_id),
        p.depth,
        _author(p.author),
        p.body,
        p.body_html,
        p.created_at,
        p.edited_at,
        p.votes,
        p.endorsed,
        p.accepted,
        p.state.value,
    )


def _page(page: ThreadPage) -> ThreadPageOut:
    return ThreadPageOut(thread_out(page.thread), [post_out(p) for p in page.posts])


def _edit(e: EditView) -> EditOut:
    return EditOut(_author(e.editor), e.at, e.previous_body)


def _moderation(m: ModerationEntry) -> ModerationOut:
    return ModerationOut(str(m.id), str(m.post_id), m.action.value, _s(m.actor_id), m.reason, m.at)


def _queued(q: QueueView) -> QueueItemOut:
    return QueueItemOut(post_out(q.post), str(q.course_id), q.thread_title, q.flags, q.reasons)


def discussion_refused(request: Req, exc: DiscussionRuleBroken) -> Response[dict[str, Any]]:
    return problem(409, exc.detail, code=exc.reason.value, request=request, reason=exc.reason.value)


CourseId = FromPath[uuid.UUID]
ThreadId = FromPath[uuid.UUID]
PostId = FromPath[uuid.UUID]
SortParam = Annotated[
    ThreadSort, QueryParameter(description="activity (latest first), votes, or unanswered questions first")
]
KindParam = Annotated[ThreadKind | None, QueryParameter(description="question or discussion")]
LessonParam = Annotated[uuid.UUID | None, QueryParameter(description="Only the threads about this lesson")]
FlagParam = Annotated[bool, QueryParameter(description="Only the threads the caller follows")]
MineParam = Annotated[bool, QueryParameter(description="Only the threads the caller started")]
