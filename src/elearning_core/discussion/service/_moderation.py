"""Moderation: flags, the queue, hide/restore/delete with the audit trail, bans, blocks and blackouts."""

from __future__ import annotations

import uuid

from elearning_core.discussion import events as ev
from elearning_core.discussion.commands import Blackouts, NewBan
from elearning_core.discussion.model import (
    Ban,
    Blackout,
    ModerationAction,
    ModerationEntry,
    Post,
    PostState,
    Thread,
    check_reason,
)
from elearning_core.discussion.ports import (
    DiscussionStore,
)
from elearning_core.discussion.queries import (
    PostView,
    QueueView,
)
from elearning_core.discussion.service._base import (
    _Base,
    on_thread,
)
from elearning_core.shared.errors import FieldError, NotFound, ValidationFailed
from elearning_core.shared.ids import new_uuid
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, Page, check_page_size, iso_time, scope_of
from elearning_core.shared.ports import Principal


class _Moderation(_Base):
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
        if action is ModerationAction.RESTORE:
            store.record(ev.PostRestored(**on_thread(thread, now), post_id=post.id))
        else:
            store.record(
                ev.PostHidden(
                    **on_thread(thread, now),
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
