"""Threads and replies: posting, editing, votes, accepted answers, staff switches, following and read marks."""

from __future__ import annotations

import uuid

from elearning_core.discussion import events as ev
from elearning_core.discussion.commands import EditPost, NewReply, NewThread
from elearning_core.discussion.model import (
    Edit,
    Post,
    PostState,
    Thread,
    ThreadFlag,
    ThreadKind,
    check_body,
    check_title,
)
from elearning_core.discussion.queries import (
    EditView,
    PostView,
    ThreadView,
    edit_view,
    excerpt,
    thread_view,
)
from elearning_core.discussion.service._base import (
    FOLLOW,
    _Base,
    on_thread,
)
from elearning_core.shared.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from elearning_core.shared.ids import new_uuid
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, Page, check_page_size, scope_of
from elearning_core.shared.ports import Principal


class _Posts(_Base):
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
        if viewer.staff:  # a learner's own cohort is the course's: checked just above
            await self._check_cohort(course_id, cohort_id)
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
            edited = ev.PostEdited(
                **on_thread(thread, now), post_id=post.id, editor_id=editor_id, title_changed=cmd.title is not None
            )
            store.record(edited)
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
