"""Discussion routes: course threads and announcements, a thread with its replies, posts (a thread's opening
post shares the thread's id, so ``/posts/{id}`` serves both it and the replies), votes, follows, moderation,
bans, blocks, blackouts and read marks.

What a caller may not see is a 404 (a thread of another cohort, a hidden post); the course's thread list
answers outsiders 403 (the course itself is public). An anonymous-to-peers post's author is null for every
learner but its author, in every response here (docs/modules/discussion.md).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from pydantic import Field

from elearning_core.discussion.commands import (
    Blackouts,
    EditPost,
    NewAnnouncement,
    NewBan,
    NewReply,
    NewThread,
    Reason,
    SetThreadFlag,
)
from elearning_core.discussion.model import (
    REASON_MAX,
    DiscussionRuleBroken,
    ModerationAction,
    ModerationEntry,
    ThreadKind,
    ThreadSort,
)
from elearning_core.discussion.ports import ThreadFilter
from elearning_core.discussion.queries import AuthorView, EditView, PostView, QueueView, ThreadPage, ThreadView
from elearning_core.discussion.service import FOLLOW, MUTE, DiscussionService
from elearning_core.shared.inputs import InputModel
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem, problem_responses
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged

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


class CourseDiscussionController(Controller):
    path = "/api/v1/courses/{course_id:uuid}"
    tags = ["discussion"]
    exception_handlers = {DiscussionRuleBroken: discussion_refused}

    @get(
        "/threads",
        summary="The course's threads",
        description="Pinned first, then by `sort`; cohort-scoped threads only for their cohort and staff; "
        "announcements are listed apart. Enrolled learners and staff only (403 otherwise).",
        responses=ERRORS,
        response_headers=LINK,
    )
    async def list_threads(
        self,
        request: Req,
        discussion_service: Service,
        principal: Caller,
        course_id: CourseId,
        sort: SortParam = ThreadSort.ACTIVITY,
        kind: KindParam = None,
        lesson_id: LessonParam = None,
        followed: FlagParam = False,
        mine: MineParam = False,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[ThreadOut]]:
        if kind is ThreadKind.ANNOUNCEMENT:
            kind = None  # announcements have their own resource
        where = ThreadFilter(lesson_id=lesson_id, kind=kind, followed=followed, mine=mine)
        page = await discussion_service.list_threads(
            principal, course_id, sort=sort, where=where, cursor=cursor, limit=limit
        )
        return paged(request, page, thread_out)

    @post(
        "/threads",
        summary="Start a thread (a question or a discussion)",
        description="The Markdown body is stored as written and served rendered and sanitised; mention a user "
        "as `@<their user id>`. The author follows the thread. 409 names the rule that refused it "
        "(`discussion-blackout`, `discussion-banned`); 429 past the posting limit.",
        responses=ERRORS,
        status_code=HTTP_201_CREATED,
    )
    async def create_thread(
        self, discussion_service: Service, principal: Caller, course_id: CourseId, data: JSONBody[NewThread]
    ) -> ThreadOut:
        return thread_out(await discussion_service.create_thread(principal, course_id, data))

    @get(
        "/announcements",
        summary="The course's announcements, latest first",
        description="Posted by the course's staff; enrolled learners and staff read them.",
        responses=ERRORS,
        response_headers=LINK,
    )
    async def list_announcements(
        self,
        request: Req,
        discussion_service: Service,
        principal: Caller,
        course_id: CourseId,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[ThreadOut]]:
        page = await discussion_service.announcements(principal, course_id, cursor=cursor, limit=limit)
        return paged(request, page, thread_out)

    @post(
        "/announcements",
        summary="Post an announcement (course staff)",
        description="Publishes `discussion.announcement_posted.v1`; the notification module delivers it to the "
        "enrolled learners (of `cohort_id` only, when given).",
        responses=ERRORS,
        status_code=HTTP_201_CREATED,
    )
    async def announce(
        self, discussion_service: Service, principal: Caller, course_id: CourseId, data: JSONBody[NewAnnouncement]
    ) -> ThreadOut:
        return thread_out(await discussion_service.announce(principal, course_id, data))

    @get(
        "/discussion/unread",
        summary="How many of the course's threads the caller has not read",
        description="Threads with activity since the caller last read them (never read counts as unread); announcements are not counted.",
        responses=ERRORS,
    )
    async def unread(self, discussion_service: Service, principal: Caller, course_id: CourseId) -> UnreadOut:
        return UnreadOut(str(course_id), await discussion_service.unread_count(principal, course_id))

    @put(
        "/discussion/watch",
        summary="Watch every thread of the course (or stop)",
        description="A watcher hears of every new thread and reply of the course, except in threads they muted.",
        responses=ERRORS,
        status_code=HTTP_204_NO_CONTENT,
    )
    async def watch(
        self, discussion_service: Service, principal: Caller, course_id: CourseId, data: JSONBody[WatchIn]
    ) -> None:
        await discussion_service.watch(principal, course_id, data.on)

    @get(
        "/discussion/moderation-queue",
        summary="Flagged posts to review (course staff and teaching assistants)",
        description="Most flagged first; a post leaves the queue when a moderator hides, restores or deletes it.",
        responses=ERRORS,
        response_headers=LINK,
    )
    async def moderation_queue(
        self,
        request: Req,
        discussion_service: Service,
        principal: Caller,
        course_id: CourseId,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[QueueItemOut]]:
        page = await discussion_service.moderation_queue(principal, course_id, cursor=cursor, limit=limit)
        return paged(request, page, _queued)

    @post(
        "/discussion/bans",
        summary="Ban a user from the course's discussion until a time (course staff)",
        description="The user keeps reading; until `until` they cannot post (409 `discussion-banned`). Banning again replaces the ban.",
        responses=ERRORS,
        status_code=HTTP_201_CREATED,
    )
    async def ban(
        self, discussion_service: Service, principal: Caller, course_id: CourseId, data: JSONBody[NewBan]
    ) -> BanOut:
        ban = await discussion_service.ban(principal, course_id, data)
        return BanOut(str(ban.course_id), str(ban.user_id), ban.until, ban.reason)

    @put(
        "/discussion/blackouts",
        summary="Replace the course's blackout periods (course staff)",
        description="During a blackout learners cannot post; staff can.",
        responses=ERRORS,
    )
    async def blackouts(
        self, discussion_service: Service, principal: Caller, course_id: CourseId, data: JSONBody[Blackouts]
    ) -> BlackoutsOut:
        periods = await discussion_service.set_blackouts(principal, course_id, data)
        return BlackoutsOut([BlackoutOut(p.starts_at, p.ends_at) for p in periods])


class ThreadController(Controller):
    path = "/api/v1/threads/{thread_id:uuid}"
    tags = ["discussion"]
    exception_handlers = {DiscussionRuleBroken: discussion_refused}

    @get(
        "/",
        summary="A thread with every reply the caller may see, in one read",
        description="The opening post first, then each response followed by its comments. Hidden posts are left out for learners (staff see them, marked); an anonymous author is null for other learners.",
        responses=ERRORS,
    )
    async def get_thread(self, discussion_service: Service, principal: Caller, thread_id: ThreadId) -> ThreadPageOut:
        return _page(await discussion_service.thread_page(principal, thread_id))

    @post(
        "/replies",
        summary="Reply to the thread, or comment on a response (`parent_id`)",
        description="Replies go two levels deep. The replier follows the thread unless they muted it. 409: "
        "`thread-closed`, `reply-too-deep`, `discussion-blackout`, `discussion-banned`; 429 past the limit.",
        responses=ERRORS,
        status_code=HTTP_201_CREATED,
    )
    async def reply(
        self, discussion_service: Service, principal: Caller, thread_id: ThreadId, data: JSONBody[NewReply]
    ) -> PostOut:
        return post_out(await discussion_service.reply(principal, thread_id, data))

    @put(
        "/subscription",
        summary="Follow or mute the thread (or neither)",
        description="Muting takes the caller out of the thread's notifications, even when they watch the course or reply again.",
        responses=ERRORS,
        status_code=HTTP_204_NO_CONTENT,
    )
    async def subscribe(
        self, discussion_service: Service, principal: Caller, thread_id: ThreadId, data: JSONBody[SubscriptionIn]
    ) -> None:
        state = None if data.state is Subscription.NONE else data.state.value
        await discussion_service.subscribe(principal, thread_id, state)

    @put(
        "/accepted-answer",
        summary="Accept a response as the question's answer (its author or staff)",
        description="409 `not-a-question` on a discussion.",
        responses=ERRORS,
    )
    async def accept(
        self, discussion_service: Service, principal: Caller, thread_id: ThreadId, data: JSONBody[AcceptIn]
    ) -> ThreadOut:
        return thread_out(await discussion_service.accept(principal, thread_id, data.post_id))

    @put(
        "/staff-flags",
        summary="Pin, close (no new replies) or lock (no edits) the thread, or undo it (course staff)",
        description="`pinned` threads are listed first; `closed` ones take no new replies (409 `thread-closed`); `locked` ones no edits from learners (409 `thread-locked`).",
        responses=ERRORS,
    )
    async def set_flag(
        self, discussion_service: Service, principal: Caller, thread_id: ThreadId, data: JSONBody[SetThreadFlag]
    ) -> ThreadOut:
        return thread_out(await discussion_service.set_flag(principal, thread_id, data.flag, data.on))

    @put(
        "/read",
        summary="Mark the thread read",
        description="Its activity up to now stops counting as unread for the caller.",
        responses=ERRORS,
        status_code=HTTP_204_NO_CONTENT,
    )
    async def mark_read(self, discussion_service: Service, principal: Caller, thread_id: ThreadId) -> None:
        await discussion_service.mark_read(principal, thread_id)


class PostController(Controller):
    path = "/api/v1/posts/{post_id:uuid}"
    tags = ["discussion"]
    exception_handlers = {DiscussionRuleBroken: discussion_refused}

    @patch(
        "/",
        summary="Edit a post (its author, or staff); the previous body is kept",
        description="`title` only on a thread's opening post. 409 `thread-locked` for a learner.",
        responses=ERRORS,
    )
    async def edit(
        self, discussion_service: Service, principal: Caller, post_id: PostId, data: JSONBody[EditPost]
    ) -> PostOut:
        return post_out(await discussion_service.edit(principal, post_id, data))

    @get(
        "/history",
        summary="A post's previous versions, oldest first",
        description="Who edited (as the caller may see them), when, and the body before the edit; paged.",
        responses=ERRORS,
        response_headers=LINK,
    )
    async def history(
        self,
        request: Req,
        discussion_service: Service,
        principal: Caller,
        post_id: PostId,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[EditOut]]:
        return paged(request, await discussion_service.history(principal, post_id, cursor=cursor, limit=limit), _edit)

    @put(
        "/vote",
        summary="Vote for the post (idempotent: one vote per person)",
        description="Voting again changes nothing; the answer is the post's vote count.",
        responses=ERRORS,
    )
    async def vote(self, discussion_service: Service, principal: Caller, post_id: PostId) -> VoteOut:
        return VoteOut(str(post_id), await discussion_service.vote(principal, post_id))

    @delete(
        "/vote",
        summary="Take the caller's vote back",
        description="Idempotent: taking back a vote the caller did not give changes nothing.",
        responses=ERRORS,
        status_code=HTTP_204_NO_CONTENT,
    )
    async def unvote(self, discussion_service: Service, principal: Caller, post_id: PostId) -> None:
        await discussion_service.vote(principal, post_id, up=False)

    @put(
        "/endorsement",
        summary="Endorse the post or take it back (course staff)",
        description="An endorsed post is marked as vouched for by the course's staff.",
        responses=ERRORS,
    )
    async def endorse(
        self, discussion_service: Service, principal: Caller, post_id: PostId, data: JSONBody[EndorseIn]
    ) -> PostOut:
        return post_out(await discussion_service.endorse(principal, post_id, data.on))

    @post(
        "/flags",
        summary="Flag the post for the moderators (once per person)",
        description="Enough flags from distinct people hide it until a moderator decides.",
        responses=ERRORS,
        status_code=HTTP_204_NO_CONTENT,
    )
    async def flag(
        self, discussion_service: Service, principal: Caller, post_id: PostId, data: JSONBody[Reason]
    ) -> None:
        await discussion_service.flag(principal, post_id, data.reason)

    @post(
        "/moderation",
        summary="Hide, restore or delete the post with a reason (course staff and teaching assistants)",
        description="The reason goes to the post's audit trail; the post's open flags are closed. Hidden and deleted posts disappear for learners.",
        responses=ERRORS,
    )
    async def moderate(
        self, discussion_service: Service, principal: Caller, post_id: PostId, data: JSONBody[ModerateIn]
    ) -> PostOut:
        return post_out(await discussion_service.moderate(principal, post_id, data.action, data.reason))

    @get(
        "/moderation",
        summary="The post's moderation audit trail (course staff)",
        description="Every hide, restore, delete and automatic hide of the post, oldest first, with who and why; "
        "paged.",
        responses=ERRORS,
        response_headers=LINK,
    )
    async def moderation_log(
        self,
        request: Req,
        discussion_service: Service,
        principal: Caller,
        post_id: PostId,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[ModerationOut]]:
        page = await discussion_service.moderation_log(principal, post_id, cursor=cursor, limit=limit)
        return paged(request, page, _moderation)


@put(
    "/api/v1/me/blocks/{user_id:uuid}",
    tags=["discussion"],
    summary="Stop seeing a user's posts and mentions",
    responses=ERRORS,
    status_code=HTTP_204_NO_CONTENT,
)
async def block(discussion_service: Service, principal: Caller, user_id: FromPath[uuid.UUID]) -> None:
    await discussion_service.block(principal, user_id, True)


@delete(
    "/api/v1/me/blocks/{user_id:uuid}",
    tags=["discussion"],
    summary="See a blocked user's posts again",
    responses=ERRORS,
    status_code=HTTP_204_NO_CONTENT,
)
async def unblock(discussion_service: Service, principal: Caller, user_id: FromPath[uuid.UUID]) -> None:
    await discussion_service.block(principal, user_id, False)


DISCUSSION_HANDLERS: list[type[Controller] | HTTPRouteHandler] = [
    CourseDiscussionController,
    ThreadController,
    PostController,
    block,
    unblock,
]
