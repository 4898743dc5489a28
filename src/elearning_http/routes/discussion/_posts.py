"""Discussion routes: a post (a thread's opening post or a reply): replies, edits and their history, votes,
endorsement, flags and moderation; and the caller's blocks."""

from __future__ import annotations

import uuid

from litestar import Controller, Response, delete, get, patch, post, put
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from elearning_core.discussion.commands import (
    EditPost,
    Reason,
)
from elearning_core.discussion.model import (
    DiscussionRuleBroken,
)
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged
from elearning_http.routes.discussion._schemas import (
    ERRORS,
    Caller,
    EditOut,
    EndorseIn,
    ModerateIn,
    ModerationOut,
    PostId,
    PostOut,
    Req,
    Service,
    VoteOut,
    _edit,
    _moderation,
    discussion_refused,
    post_out,
)


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
