"""Discussion routes: a course's threads and announcements, the caller's unread count and watch, and staff's
moderation queue, bans and blackout periods."""

from __future__ import annotations

from litestar import Controller, Response, get, post, put
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from elearning_core.discussion.commands import (
    Blackouts,
    NewAnnouncement,
    NewBan,
    NewThread,
)
from elearning_core.discussion.model import (
    DiscussionRuleBroken,
    ThreadKind,
    ThreadSort,
)
from elearning_core.discussion.ports import ThreadFilter
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged
from elearning_http.routes.discussion._schemas import (
    ERRORS,
    BanOut,
    BlackoutOut,
    BlackoutsOut,
    Caller,
    CourseId,
    FlagParam,
    KindParam,
    LessonParam,
    MineParam,
    QueueItemOut,
    Req,
    Service,
    SortParam,
    ThreadOut,
    UnreadOut,
    WatchIn,
    _queued,
    discussion_refused,
    thread_out,
)


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
