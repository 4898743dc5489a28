"""What every group of discussion use cases shares: the wiring, who the caller is in a course (``viewer``),
and the views of threads and posts."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from elearning_core.auth.model import COURSE_STAFF
from elearning_core.auth.ports import RateLimiter
from elearning_core.course.ports import MarkdownRenderer
from elearning_core.discussion import events as ev
from elearning_core.discussion.model import (
    MAX_DEPTH,
    Post,
    PostState,
    Thread,
    ThreadSort,
    Viewer,
    check_can_post,
    mentioned_ids,
)
from elearning_core.discussion.ports import (
    Author,
    Authors,
    CourseMembers,
    DiscussionQueries,
    DiscussionStore,
    DiscussionUnitOfWork,
    ThreadKey,
)
from elearning_core.discussion.queries import (
    AuthorView,
    PostView,
    ThreadView,
    excerpt,
    thread_view,
)
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import FieldError, NotFound, PermissionDenied, TooManyAttempts, ValidationFailed
from elearning_core.shared.pagination import CursorCodec, iso_time
from elearning_core.shared.ports import Policy, Principal

STAFF_PERMISSION = COURSE_STAFF
"""The course's staff here, as for content gating: instructors, teaching assistants and admins. Teaching
assistants hold it too, so they work the moderation queue."""
FOLLOW, MUTE = "follow", "mute"


class _Base:
    """The service's collaborators, the access rule and the views its parts share."""

    def __init__(
        self,
        uow: Callable[[], DiscussionUnitOfWork],
        queries: DiscussionQueries,
        members: CourseMembers,
        authors: Authors,
        renderer: MarkdownRenderer,
        limiter: RateLimiter,
        policy: Policy,
        clock: Clock,
        cursors: CursorCodec,
        *,
        posts_per_window: int = 10,
        window_seconds: float = 60.0,
        auto_hide_flags: int = 3,
    ) -> None:
        self._uow, self._queries, self._members, self._authors = uow, queries, members, authors
        self._renderer, self._limiter = renderer, limiter
        self._policy, self._clock, self._cursors = policy, clock, cursors
        self._posts_per_window, self._window_seconds = posts_per_window, window_seconds
        self._auto_hide_flags = auto_hide_flags

    # -- access ------------------------------------------------------------------------------

    async def viewer(
        self, actor: Principal, course_id: uuid.UUID, *, hide: bool = False, blocks: bool = True
    ) -> Viewer:
        """Who the actor is in the course's discussion. ``hide``: an outsider gets the 404 of what they cannot
        know exists (a thread by id) rather than the 403 of the course's public list. ``blocks``: read whom
        the actor blocked (the thread list filters them in its own query instead)."""
        standing = await self._members.standing(course_id, actor.user_id)
        if standing is None:
            raise NotFound("course", course_id)
        ref, membership = standing
        staff = self._policy.authorize(actor, STAFF_PERMISSION, ref).allowed
        if staff:
            return Viewer(actor.user_id, staff=True, member=True)
        if actor.user_id is None:
            if hide:
                raise NotFound("thread", course_id)
            raise PermissionDenied("discussion.read", "sign in to read the course's discussion")
        if not membership.enrolled:
            if hide:
                raise NotFound("thread", course_id)
            raise PermissionDenied("discussion.read", "enroll in the course to read and post in its discussion")
        blocked = await self._queries.blocked_by(actor.user_id) if blocks else frozenset[uuid.UUID]()
        return Viewer(actor.user_id, staff=False, member=True, cohort_id=membership.cohort_id, blocked=blocked)

    async def _visible_thread(
        self, actor: Principal, thread_id: uuid.UUID, store: DiscussionStore
    ) -> tuple[Thread, Viewer]:
        thread = await store.thread(thread_id)
        if thread is None:
            raise NotFound("thread", thread_id)
        viewer = await self.viewer(actor, thread.course_id, hide=True)
        if not viewer.sees_thread(thread):
            raise NotFound("thread", thread_id)
        if not viewer.staff:
            opening = await store.post(thread.id)
            if opening is None or not viewer.sees_post(opening):
                raise NotFound("thread", thread_id)
        return thread, viewer

    async def _visible_post(
        self, actor: Principal, post_id: uuid.UUID, store: DiscussionStore
    ) -> tuple[Post, Thread, Viewer]:
        post = await store.post(post_id)
        if post is None:
            raise NotFound("post", post_id)
        try:
            thread, viewer = await self._visible_thread(actor, post.thread_id, store)
        except NotFound:
            raise NotFound("post", post_id) from None
        if not viewer.sees_post(post):
            raise NotFound("post", post_id)
        return post, thread, viewer

    @staticmethod
    def _user(actor: Principal) -> uuid.UUID:
        if actor.user_id is None:
            raise PermissionDenied("discussion.post", "posting needs a user's sign-in")
        return actor.user_id

    @staticmethod
    def _staff(viewer: Viewer, action: str) -> None:
        if not viewer.staff:
            raise PermissionDenied(action, "only the course's staff may do this")

    async def _check_cohort(self, course_id: uuid.UUID, cohort_id: uuid.UUID | None) -> None:
        """A thread or announcement scoped to a cohort must name one of the course's: any other would reach
        nobody but staff, silently."""
        if cohort_id is not None and not await self._members.is_cohort(course_id, cohort_id):
            raise ValidationFailed(
                f"cohort {cohort_id} is not a cohort of this course",
                [FieldError("cohort_id", "is not a cohort of this course")],
            )

    async def _may_post(self, store: DiscussionStore, viewer: Viewer, course_id: uuid.UUID) -> None:
        now = self._clock.now()
        user_id = viewer.user_id
        ban = None if viewer.staff or user_id is None else await store.active_ban(course_id, user_id, now)
        check_can_post(viewer, now, ban, [] if viewer.staff else await store.blackouts(course_id))
        if user_id is not None and not viewer.staff:
            decision = await self._limiter.hit(
                f"discussion-post:{user_id}", self._posts_per_window, self._window_seconds
            )
            if not decision.allowed:
                raise TooManyAttempts(
                    f"at most {self._posts_per_window} posts per {self._window_seconds:g} seconds; wait a moment",
                    decision.retry_after_seconds,
                )

    async def _mentions(self, store: DiscussionStore, thread: Thread, post: Post, author_id: uuid.UUID) -> None:
        """Record ``mentioned`` for the users of ``post`` who can see the thread and did not block the author."""
        wanted = [u for u in mentioned_ids(post.body) if u != author_id]
        if not wanted:
            return
        audience = await self._members.audience(thread.course_id, wanted)
        visible = [
            u
            for u in wanted
            if (m := audience.get(u)) is not None
            and (m.staff or thread.cohort_id is None or m.cohort_id == thread.cohort_id)
        ]
        blockers = await store.blockers(author_id, visible) if visible else set()
        kept = [u for u in visible if u not in blockers]
        if kept:
            store.record(
                ev.Mentioned(
                    occurred_at=post.created_at,
                    aggregate_id=thread.id,
                    course_id=thread.course_id,
                    thread_id=thread.id,
                    thread_title=thread.title,
                    post_id=post.id,
                    excerpt=excerpt(post.body),
                    author_id=author_id,
                    anonymous=post.anonymous,
                    mentioned_user_ids=kept,
                )
            )

    # -- views ---------------------------------------------------------------------------------

    async def _thread_view(self, viewer: Viewer, thread: Thread) -> ThreadView:
        row = await self._queries.thread(thread.id, viewer.user_id)
        authors = await self._authors.authors([a for a in [thread.author_id] if a])
        return thread_view(
            viewer,
            thread,
            authors,
            excerpt_text=row.excerpt if row else "",
            unread=row.unread if row else False,
            lesson_title=row.lesson_title if row else None,
        )

    def _post_view(self, viewer: Viewer, thread: Thread, post: Post, authors: dict[uuid.UUID, Author]) -> PostView:
        return self._render(viewer, post, thread.accepted_post_id == post.id, authors)

    def _render(self, viewer: Viewer, post: Post, accepted: bool, authors: dict[uuid.UUID, Author]) -> PostView:
        removed = post.state is PostState.DELETED
        return PostView(
            post.id,
            post.thread_id,
            post.parent_id,
            post.depth,
            AuthorView.of(viewer, post.author_id, post.anonymous, authors),
            "" if removed and not viewer.staff else post.body,
            "" if removed and not viewer.staff else self._renderer.render(post.body),
            post.created_at,
            post.edited_at,
            post.votes,
            post.endorsed,
            accepted,
            post.state,
        )


def _parent_shown(post: Post, posts: dict[uuid.UUID, Post], viewer: Viewer) -> bool:
    """A comment shows only under a response the viewer sees (a hidden response hides its comments)."""
    if post.depth < MAX_DEPTH or post.parent_id is None:
        return True
    parent = posts.get(post.parent_id)
    return parent is not None and viewer.sees_post(parent)


def _key_json(key: ThreadKey) -> list[object]:
    first, second, thread_id = key
    return [first, iso_time(second) if isinstance(second, datetime) else second, str(thread_id)]


def _thread_key(sort: ThreadSort) -> Callable[[list[Any]], ThreadKey]:
    def parse(key: list[Any]) -> ThreadKey:
        first, second, thread_id = key
        value: int | datetime = int(second) if sort is ThreadSort.VOTES else datetime.fromisoformat(str(second))
        return (int(first), value, uuid.UUID(str(thread_id)))

    return parse


def on_thread(thread: Thread, at: datetime) -> dict[str, Any]:
    """What every event about a thread's posts starts with (its key is the thread's id)."""
    return {"occurred_at": at, "aggregate_id": thread.id, "course_id": thread.course_id, "thread_id": thread.id}
