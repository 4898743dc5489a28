"""The reads: thread lists, a thread page with its replies, unread counts, and course announcements."""

from __future__ import annotations

import uuid

from elearning_core.discussion import events as ev
from elearning_core.discussion.commands import NewAnnouncement
from elearning_core.discussion.model import (
    Post,
    Thread,
    ThreadKind,
    ThreadSort,
    check_body,
    check_title,
)
from elearning_core.discussion.ports import (
    ThreadFilter,
    sort_key,
)
from elearning_core.discussion.queries import (
    ThreadPage,
    ThreadView,
    excerpt,
    ordered,
    thread_view,
)
from elearning_core.discussion.service._base import (
    _Base,
    _key_json,
    _parent_shown,
    _thread_key,
)
from elearning_core.shared.errors import FieldError, NotFound, ValidationFailed
from elearning_core.shared.ids import new_uuid
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, Page, check_page_size, scope_of
from elearning_core.shared.ports import Principal


class _Reads(_Base):
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

    # -- announcements -------------------------------------------------------------------------

    async def announce(self, actor: Principal, course_id: uuid.UUID, cmd: NewAnnouncement) -> ThreadView:
        author_id = self._user(actor)
        viewer = await self.viewer(actor, course_id)
        self._staff(viewer, "discussion.announce")
        title, body = check_title(cmd.title), check_body(cmd.body)
        await self._check_cohort(course_id, cmd.cohort_id)
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
