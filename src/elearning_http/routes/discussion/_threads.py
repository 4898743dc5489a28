"""Discussion routes: one thread with its replies, replying to it, following or muting it, accepting an
answer, staff's pin, close and lock, and read marks."""

from __future__ import annotations

from litestar import Controller, get, post, put
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from elearning_core.discussion.commands import (
    NewReply,
    SetThreadFlag,
)
from elearning_core.discussion.model import (
    DiscussionRuleBroken,
)
from elearning_http.routes.discussion._schemas import (
    ERRORS,
    AcceptIn,
    Caller,
    PostOut,
    Service,
    Subscription,
    SubscriptionIn,
    ThreadId,
    ThreadOut,
    ThreadPageOut,
    _page,
    discussion_refused,
    post_out,
    thread_out,
)


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
