"""Discussion use cases: threads, replies, votes, answers, staff switches, moderation, reads, announcements.

Access follows the platform's gating: the course's staff (``course.view_unpublished``, teaching assistants
included) read, post and moderate; enrolled learners (active or completed) read and post; a learner
sees a cohort-scoped thread only in that cohort. A thread or post the caller may not see is a 404, as if it
did not exist; the course's thread list refuses outsiders with a 403 (the course itself is public).

Following: a thread's author follows it, and so does whoever replies to it (Discourse's default: you
hear about the conversation you joined); muting a thread undoes either, and a muted thread stays muted
when its muter replies again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from elearning_core.auth.model import Permission
from elearning_core.auth.ports import RateLimiter
from elearning_core.course.ports import MarkdownRenderer
from elearning_core.discussion import events as ev
from elearning_core.discussion.commands import Blackouts, EditPost, NewAnnouncement, NewBan, NewReply, NewThread
from elearning_core.discussion.model import (
    MAX_DEPTH,
    Ban,
    Blackout,
    Edit,
    ModerationAction,
    ModerationEntry,
    Post,
    PostState,
    Thread,
    ThreadFlag,
    ThreadKind,
    ThreadSort,
    Viewer,
    check_body,
    check_can_post,
    check_reason,
    check_title,
    mentioned_ids,
)
from elearning_core.discussion.ports import (
    Author,
    Authors,
    CourseMembers,
    DiscussionQueries,
    DiscussionStore,
    DiscussionUnitOfWork,
    ThreadFilter,
    ThreadKey,
    sort_key,
)
from elearning_core.discussion.queries import (
    AuthorView,
    EditView,
    PostView,
    QueueView,
    ThreadPage,
    ThreadView,
    edit_view,
    excerpt,
    ordered,
    thread_view,
)
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import FieldError, NotFound, PermissionDenied, TooManyAttempts, ValidationFailed
from elearning_core.shared.ids import new_uuid
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, CursorCodec, Page, check_page_size, iso_time, scope_of
from elearning_core.shared.ports import Policy, Principal

STAFF_PERMISSION = Permission.COURSE_VIEW_UNPUBLISHED
"""The course's staff here, as for content gating: instructors, teaching assistants and admins. Teaching
assistants hold it too, so they work the moderation queue."""
FOLLOW, MUTE = "follow", "mute"


class DiscussionService:
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

    # -- threads and replies -------------------------------------------------------------------

    async def create_thread(self, actor: Principal, course_id: uuid.UUID, cmd: NewThread) -> ThreadView:
        author_id = self._user(actor)
        viewer = await self.viewer(actor, course_id)
        if cmd.kind is ThreadKind.ANNOUNCEMENT:
            raise ValidationFailed(
                "announcements are posted through the course's announcements",
                [FieldError("kind", "must be question or discussion")],
            )
        title, body = check_title(cmd.title), check_body(cmd.body)
        cohort_id = cmd.cohort_id
        if not viewer.staff and cohort_id is not None and cohort_id != viewer.cohort_id:
            raise ValidationFailed(
                "a learner may scope a thread to their own cohort only",
                [FieldError("cohort_id", "is not your cohort")],
            )
        lesson_title = None
        if cmd.lesson_id is not None:
            lesson_title = await self._members.lesson_title(course_id, cmd.lesson_id)
            if lesson_title is None:
                raise ValidationFailed(
                    f"lesson {cmd.lesson_id} is not a lesson of this course",
                    [FieldError("lesson_id", "is not a lesson of this course")],
                )
        now = self._clock.now()
        thread = Thread(
            new_uuid(), course_id, cmd.kind, title, author_id, cmd.anonymous, now, now, cmd.lesson_id, cohort_id
        )
        opening = Post(thread.id, thread.id, None, 0, author_id, cmd.anonymous, body, now)
        async with self._uow() as uow:
            store = uow.discussion
            await self._may_post(store, viewer, course_id)
            await store.add_thread(thread, opening)
            await store.subscribe(thread.id, author_id, FOLLOW)
            await store.mark_read(thread.id, author_id, now)
            store.record(
                ev.ThreadCreated(
                    occurred_at=now,
                    aggregate_id=thread.id,
                    course_id=course_id,
                    thread_id=thread.id,
                    lesson_id=thread.lesson_id,
                    cohort_id=cohort_id,
                    kind=thread.kind.value,
                    title=title,
                    excerpt=excerpt(body),
                    author_id=author_id,
                    anonymous=thread.anonymous,
                )
            )
            await self._mentions(store, thread, opening, author_id)
            await uow.commit()
        authors = await self._authors.authors([author_id])
        return thread_view(viewer, thread, authors, excerpt_text=excerpt(body), unread=False, lesson_title=lesson_title)

    async def reply(self, actor: Principal, thread_id: uuid.UUID, cmd: NewReply) -> PostView:
        author_id = self._user(actor)
        body = check_body(cmd.body)
        async with self._uow() as uow:
            store = uow.discussion
            thread, viewer = await self._visible_thread(actor, thread_id, store)
            parent_id = cmd.parent_id or thread.id
            parent = await store.post(parent_id)
            if parent is None or parent.thread_id != thread.id or not viewer.sees_post(parent):
                raise ValidationFailed(
                    f"post {parent_id} is not a post of this thread",
                    [FieldError("parent_id", "is not a post of this thread")],
                )
            thread.check_reply(parent.depth + 1)
            await self._may_post(store, viewer, thread.course_id)
            now = self._clock.now()
            post = Post(new_uuid(), thread.id, parent.id, parent.depth + 1, author_id, cmd.anonymous, body, now)
            await store.add_post(post)
            await store.subscribe_if_new(thread.id, author_id, FOLLOW)
            await store.mark_read(thread.id, author_id, now)
            store.record(
                ev.ReplyPosted(
                    occurred_at=now,
                    aggregate_id=thread.id,
                    course_id=thread.course_id,
                    thread_id=thread.id,
                    thread_title=thread.title,
                    cohort_id=thread.cohort_id,
                    post_id=post.id,
                    parent_id=parent.id,
                    parent_author_id=parent.author_id,
                    depth=post.depth,
                    excerpt=excerpt(body),
                    author_id=author_id,
                    anonymous=post.anonymous,
                )
            )
            await self._mentions(store, thread, post, author_id)
            await uow.commit()
        return self._post_view(viewer, thread, post, await self._authors.authors([author_id]))

    async def edit(self, actor: Principal, post_id: uuid.UUID, cmd: EditPost) -> PostView:
        """The author (or staff) replaces a post's body (and an opening post's title); the previous body is kept."""
        editor_id = self._user(actor)
        body = check_body(cmd.body)
        async with self._uow() as uow:
            store = uow.discussion
            post, thread, viewer = await self._visible_post(actor, post_id, store)
            if not viewer.staff:
                post.check_author(editor_id)
                thread.check_edit()
            if post.state is PostState.DELETED:
                raise NotFound("post", post_id)
            now = self._clock.now()
            await store.add_edit(Edit(post.id, editor_id, now, post.body))
            post.body, post.edited_at = body, now
            await store.save_post(post)
            if cmd.title is not None:
                if post.depth != 0:
                    raise ValidationFailed("only a thread has a title", [FieldError("title", "only a thread has one")])
                thread.title = check_title(cmd.title)
                await store.save_thread(thread)
            await uow.commit()
        return self._post_view(viewer, thread, post, await self._authors.authors([a for a in [post.author_id] if a]))

    async def history(
        self, actor: Principal, post_id: uuid.UUID, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[EditView]:
        """The post's previous versions, oldest first (read whole: a post is edited a handful of times)."""
        limit = check_page_size(limit)
        async with self._uow() as uow:
            post, _thread, viewer = await self._visible_post(actor, post_id, uow.discussion)
            edits = await uow.discussion.edits(post_id)
        page = self._cursors.slice(
            scope_of("post-history", post_id), list(enumerate(edits)), cursor, limit, lambda e: [e[0]]
        )
        authors = await self._authors.authors({e.editor_id for _, e in page.items if e.editor_id is not None})
        return Page([edit_view(viewer, e, post, authors) for _, e in page.items], page.next_cursor)

    async def vote(self, actor: Principal, post_id: uuid.UUID, *, up: bool = True) -> int:
        """Vote for a post (or take the vote back); idempotent. The post's vote count after it."""
        user_id = self._user(actor)
        async with self._uow() as uow:
            post, _thread, _viewer = await self._visible_post(actor, post_id, uow.discussion)
            changed = await uow.discussion.vote(post.id, user_id, up=up)
            await uow.commit()
            if not changed:
                return post.votes
        async with self._uow() as uow:
            after = await uow.discussion.post(post_id)
        return 0 if after is None else after.votes

    async def accept(self, actor: Principal, thread_id: uuid.UUID, post_id: uuid.UUID | None) -> ThreadView:
        """Staff or the question's author accept a response as the answer (None: un-accept)."""
        user_id = self._user(actor)
        async with self._uow() as uow:
            store = uow.discussion
            thread, viewer = await self._visible_thread(actor, thread_id, store)
            thread = await store.thread(thread_id, lock=True) or thread
            if not viewer.staff and thread.author_id != user_id:
                raise PermissionDenied("discussion.accept", "only the question's author or staff accept an answer")
            thread.check_accept()
            answer = None
            if post_id is not None:
                answer = await store.post(post_id)
                if answer is None or answer.thread_id != thread.id or answer.depth != 1:
                    raise ValidationFailed(
                        "the answer must be a response of this thread",
                        [FieldError("post_id", "is not a response of this thread")],
                    )
            thread.accepted_post_id = post_id
            await store.save_thread(thread)
            if answer is not None:
                store.record(
                    ev.AnswerAccepted(
                        occurred_at=self._clock.now(),
                        aggregate_id=thread.id,
                        course_id=thread.course_id,
                        thread_id=thread.id,
                        thread_title=thread.title,
                        post_id=answer.id,
                        answer_author_id=answer.author_id,
                        accepted_by=user_id,
                    )
                )
            await uow.commit()
        return await self._thread_view(viewer, thread)

    async def set_flag(self, actor: Principal, thread_id: uuid.UUID, flag: ThreadFlag, on: bool) -> ThreadView:
        """Staff pin, close (no new replies) or lock (no edits) a thread, or undo it."""
        async with self._uow() as uow:
            store = uow.discussion
            thread, viewer = await self._visible_thread(actor, thread_id, store)
            self._staff(viewer, f"discussion.{flag.value}")
            setattr(thread, flag.value, on)
            await store.save_thread(thread)
            await uow.commit()
        return await self._thread_view(viewer, thread)

    async def endorse(self, actor: Principal, post_id: uuid.UUID, on: bool = True) -> PostView:
        async with self._uow() as uow:
            post, thread, viewer = await self._visible_post(actor, post_id, uow.discussion)
            self._staff(viewer, "discussion.endorse")
            post.endorsed = on
            await uow.discussion.save_post(post)
            await uow.commit()
        return self._post_view(viewer, thread, post, await self._authors.authors([a for a in [post.author_id] if a]))

    async def subscribe(self, actor: Principal, thread_id: uuid.UUID, state: str | None) -> None:
        """Follow, mute, or neither (``None``)."""
        user_id = self._user(actor)
        async with self._uow() as uow:
            await self._visible_thread(actor, thread_id, uow.discussion)
            await uow.discussion.subscribe(thread_id, user_id, state)
            await uow.commit()

    async def watch(self, actor: Principal, course_id: uuid.UUID, on: bool) -> None:
        user_id = self._user(actor)
        await self.viewer(actor, course_id)
        async with self._uow() as uow:
            await uow.discussion.watch(course_id, user_id, on)
            await uow.commit()

    async def mark_read(self, actor: Principal, thread_id: uuid.UUID) -> None:
        user_id = self._user(actor)
        async with self._uow() as uow:
            await self._visible_thread(actor, thread_id, uow.discussion)
            await uow.discussion.mark_read(thread_id, user_id, self._clock.now())
            await uow.commit()

    # -- reads ---------------------------------------------------------------------------------

    async def list_threads(
        self,
        actor: Principal,
        course_id: uuid.UUID,
        *,
        sort: ThreadSort = ThreadSort.ACTIVITY,
        where: ThreadFilter | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[ThreadView]:
        viewer = await self.viewer(actor, course_id, blocks=False)
        where = where or ThreadFilter()
        if (where.followed or where.mine) and actor.user_id is None:
            raise ValidationFailed("followed and mine need a user's sign-in", [FieldError("followed", "sign in")])
        limit = check_page_size(limit)
        listing = scope_of(
            "threads", course_id, actor.user_id, sort, where.lesson_id, where.kind, where.followed, where.mine
        )
        after = self._cursors.after(listing, cursor, _thread_key(sort))
        rows = await self._queries.threads(course_id, viewer, sort, where, after, limit + 1)
        page = self._cursors.page(listing, rows, limit, lambda r: _key_json(sort_key(r.thread, sort)))
        authors = {r.thread.author_id: r.author for r in page.items if r.thread.author_id and r.author}
        return Page(
            [
                thread_view(
                    viewer, r.thread, authors, excerpt_text=r.excerpt, unread=r.unread, lesson_title=r.lesson_title
                )
                for r in page.items
            ],
            page.next_cursor,
        )

    async def thread_page(self, actor: Principal, thread_id: uuid.UUID) -> ThreadPage:
        """The thread and every reply the caller may see, in three statements whatever the thread's size."""
        row = await self._queries.thread(thread_id, actor.user_id)
        if row is None:
            raise NotFound("thread", thread_id)
        thread = row.thread
        viewer = await self.viewer(actor, thread.course_id, hide=True)
        if not viewer.sees_thread(thread):
            raise NotFound("thread", thread_id)
        posts = await self._queries.thread_posts(thread_id)
        if not viewer.staff and not any(p.depth == 0 and viewer.sees_post(p) for p in posts):
            raise NotFound("thread", thread_id)
        by_id = {p.id: p for p in posts}
        shown = [p for p in ordered(posts) if viewer.sees_post(p) and _parent_shown(p, by_id, viewer)]
        authors = await self._authors.authors({p.author_id for p in shown if p.author_id is not None})
        opening = next((p for p in posts if p.depth == 0), None)
        view = thread_view(
            viewer,
            thread,
            authors,
            excerpt_text=excerpt(opening.body) if opening else "",
            unread=row.unread,
            lesson_title=row.lesson_title,
        )
        return ThreadPage(view, [self._post_view(viewer, thread, p, authors) for p in shown])

    async def unread_count(self, actor: Principal, course_id: uuid.UUID) -> int:
        user_id = self._user(actor)
        viewer = await self.viewer(actor, course_id, blocks=False)
        return await self._queries.unread_counts(user_id, viewer, course_id)

    # -- moderation ----------------------------------------------------------------------------

    async def flag(self, actor: Principal, post_id: uuid.UUID, reason: str) -> None:
        """Flag a post for the moderators, once per person; enough distinct flags hide it until reviewed."""
        user_id = self._user(actor)
        reason = check_reason(reason)
        async with self._uow() as uow:
            store = uow.discussion
            post, thread, _viewer = await self._visible_post(actor, post_id, store)
            now = self._clock.now()
            count = await store.flag(post.id, user_id, reason, now)
            if count is not None and count >= self._auto_hide_flags and post.state is PostState.VISIBLE:
                await self._moderate(store, thread, post, ModerationAction.AUTO_HIDE, None, f"{count} flags")
            await uow.commit()

    async def moderate(self, actor: Principal, post_id: uuid.UUID, action: ModerationAction, reason: str) -> PostView:
        """Staff hide, restore or delete a post; the reason goes to the audit trail and the flags are closed."""
        if action is ModerationAction.AUTO_HIDE:
            raise ValidationFailed("auto_hide is the platform's own action", [FieldError("action", "not allowed")])
        reason = check_reason(reason)
        async with self._uow() as uow:
            store = uow.discussion
            post, thread, viewer = await self._visible_post(actor, post_id, store)
            self._staff(viewer, "discussion.moderate")
            await self._moderate(store, thread, post, action, actor.user_id, reason)
            await store.resolve_flags(post.id)
            await uow.commit()
        return self._post_view(viewer, thread, post, await self._authors.authors([a for a in [post.author_id] if a]))

    async def _moderate(
        self,
        store: DiscussionStore,
        thread: Thread,
        post: Post,
        action: ModerationAction,
        actor_id: uuid.UUID | None,
        reason: str,
    ) -> None:
        now = self._clock.now()
        post.state = (
            PostState.VISIBLE
            if action is ModerationAction.RESTORE
            else (PostState.DELETED if action is ModerationAction.DELETE else PostState.HIDDEN)
        )
        await store.save_post(post)
        await store.add_moderation(
            ModerationEntry(new_uuid(), thread.course_id, post.id, action, actor_id, reason, now)
        )
        if action is not ModerationAction.RESTORE:
            store.record(
                ev.PostHidden(
                    occurred_at=now,
                    aggregate_id=thread.id,
                    course_id=thread.course_id,
                    thread_id=thread.id,
                    post_id=post.id,
                    author_id=post.author_id,
                    action=action.value,
                    reason=reason,
                )
            )

    async def moderation_queue(
        self, actor: Principal, course_id: uuid.UUID, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[QueueView]:
        viewer = await self.viewer(actor, course_id)
        self._staff(viewer, "discussion.moderate")
        limit = check_page_size(limit)
        listing = scope_of("moderation-queue", course_id)
        after = self._cursors.after(listing, cursor, lambda k: (int(k[0]), uuid.UUID(str(k[1]))))
        rows = await self._queries.moderation_queue(course_id, after, limit + 1)
        page = self._cursors.page(listing, rows, limit, lambda q: [q.post.flag_count, str(q.post.id)])
        authors = await self._authors.authors({q.post.author_id for q in page.items if q.post.author_id})
        return Page(
            [
                QueueView(
                    self._render(viewer, q.post, False, authors),
                    q.course_id,
                    q.thread_title,
                    q.post.flag_count,
                    q.reasons,
                )
                for q in page.items
            ],
            page.next_cursor,
        )

    async def moderation_log(
        self, actor: Principal, post_id: uuid.UUID, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[ModerationEntry]:
        """The post's audit trail, oldest first (read whole: a post is moderated a handful of times)."""
        limit = check_page_size(limit)
        async with self._uow() as uow:
            _post, _thread, viewer = await self._visible_post(actor, post_id, uow.discussion)
            self._staff(viewer, "discussion.moderate")
            entries = await uow.discussion.moderation_log(post_id)
        return self._cursors.slice(
            scope_of("moderation-log", post_id), entries, cursor, limit, lambda m: [iso_time(m.at), str(m.id)]
        )

    async def ban(self, actor: Principal, course_id: uuid.UUID, cmd: NewBan) -> Ban:
        viewer = await self.viewer(actor, course_id)
        self._staff(viewer, "discussion.ban")
        if cmd.until <= self._clock.now():
            raise ValidationFailed("a ban ends in the future", [FieldError("until", "must be in the future")])
        ban = Ban(course_id, cmd.user_id, cmd.until, check_reason(cmd.reason))
        async with self._uow() as uow:
            await uow.discussion.ban(ban)
            await uow.commit()
        return ban

    async def block(self, actor: Principal, blocked_id: uuid.UUID, on: bool = True) -> None:
        """A user stops (or starts again) seeing another's posts and mentions, everywhere."""
        user_id = self._user(actor)
        if blocked_id == user_id:
            raise ValidationFailed("you cannot block yourself", [FieldError("user_id", "is you")])
        if on and not await self._authors.authors([blocked_id]):
            raise NotFound("user", blocked_id)
        async with self._uow() as uow:
            await uow.discussion.block(user_id, blocked_id, on)
            await uow.commit()

    async def set_blackouts(self, actor: Principal, course_id: uuid.UUID, cmd: Blackouts) -> list[Blackout]:
        viewer = await self.viewer(actor, course_id)
        self._staff(viewer, "discussion.blackouts")
        periods = []
        for index, period in enumerate(cmd.periods):
            if period.ends_at <= period.starts_at:
                raise ValidationFailed(
                    "a blackout ends after it starts",
                    [FieldError(f"periods.{index}.ends_at", "must be after starts_at")],
                )
            periods.append(Blackout(period.starts_at, period.ends_at))
        async with self._uow() as uow:
            await uow.discussion.set_blackouts(course_id, periods)
            await uow.commit()
        return periods

    # -- announcements -------------------------------------------------------------------------

    async def announce(self, actor: Principal, course_id: uuid.UUID, cmd: NewAnnouncement) -> ThreadView:
        author_id = self._user(actor)
        viewer = await self.viewer(actor, course_id)
        self._staff(viewer, "discussion.announce")
        title, body = check_title(cmd.title), check_body(cmd.body)
        now = self._clock.now()
        thread = Thread(
            new_uuid(), course_id, ThreadKind.ANNOUNCEMENT, title, author_id, False, now, now, None, cmd.cohort_id
        )
        opening = Post(thread.id, thread.id, None, 0, author_id, False, body, now)
        async with self._uow() as uow:
            await uow.discussion.add_thread(thread, opening)
            uow.discussion.record(
                ev.AnnouncementPosted(
                    occurred_at=now,
                    aggregate_id=thread.id,
                    course_id=course_id,
                    announcement_id=thread.id,
                    title=title,
                    body_html=self._renderer.render(body),
                    author_id=author_id,
                    cohort_id=cmd.cohort_id,
                )
            )
            await uow.commit()
        authors = await self._authors.authors([author_id])
        return thread_view(viewer, thread, authors, excerpt_text=excerpt(body), unread=False)

    async def announcements(
        self, actor: Principal, course_id: uuid.UUID, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[ThreadView]:
        return await self.list_threads(
            actor, course_id, where=ThreadFilter(kind=ThreadKind.ANNOUNCEMENT), cursor=cursor, limit=limit
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
