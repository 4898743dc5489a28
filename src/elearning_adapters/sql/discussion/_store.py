"""The discussion store the unit of work serves: every write, counters moved in the statement that records the fact."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import (
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.discussion._tables import (
    P,
    T,
    _post,
    _thread,
    _thread_values,
    discussion_bans,
    discussion_blackouts,
    discussion_blocks,
    discussion_edits,
    discussion_flags,
    discussion_moderation,
    discussion_reads,
    discussion_subscriptions,
    discussion_votes,
    discussion_watches,
)
from elearning_adapters.sql.engine import dialect_insert
from elearning_core.discussion.model import (
    Ban,
    Blackout,
    Edit,
    ModerationAction,
    ModerationEntry,
    Post,
    Thread,
)
from elearning_core.discussion.ports import (
    DiscussionStore,
)
from elearning_core.shared.events import DomainEvent, EventLog, RecordsEvents


class SqlDiscussionStore(DiscussionStore):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._log = EventLog()

    def record(self, event: DomainEvent) -> None:
        self._log.append(event)

    def seen(self) -> list[RecordsEvents]:
        return [self._log]

    async def add_thread(self, thread: Thread, opening: Post) -> None:
        await self._conn.execute(
            insert(T).values(
                id=thread.id,
                course_id=thread.course_id,
                kind=thread.kind.value,
                author_id=thread.author_id,
                anonymous=thread.anonymous,
                lesson_id=thread.lesson_id,
                cohort_id=thread.cohort_id,
                votes=0,
                reply_count=0,
                created_at=thread.created_at,
                last_activity_at=thread.last_activity_at,
                **_thread_values(thread),
            )
        )
        await self._insert_post(opening)

    async def _insert_post(self, post: Post) -> None:
        await self._conn.execute(
            insert(P).values(
                id=post.id,
                thread_id=post.thread_id,
                parent_id=post.parent_id,
                depth=post.depth,
                author_id=post.author_id,
                anonymous=post.anonymous,
                body=post.body,
                created_at=post.created_at,
                edited_at=post.edited_at,
                votes=0,
                endorsed=post.endorsed,
                state=post.state.value,
                flag_count=0,
            )
        )

    async def thread(self, thread_id: uuid.UUID, *, lock: bool = False) -> Thread | None:
        query = select(T).where(T.c.id == thread_id)
        if lock and self._conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await self._conn.execute(query)).mappings().first()
        return None if row is None else _thread(row)

    async def save_thread(self, thread: Thread) -> None:
        await self._conn.execute(update(T).where(T.c.id == thread.id).values(**_thread_values(thread)))

    async def post(self, post_id: uuid.UUID) -> Post | None:
        row = (await self._conn.execute(select(P).where(P.c.id == post_id))).mappings().first()
        return None if row is None else _post(row)

    async def add_post(self, post: Post) -> None:
        await self._insert_post(post)
        await self._conn.execute(
            update(T)
            .where(T.c.id == post.thread_id)
            .values(
                reply_count=T.c.reply_count + 1,
                last_activity_at=func.max(T.c.last_activity_at, post.created_at)
                if self._conn.dialect.name == "sqlite"
                else func.greatest(T.c.last_activity_at, post.created_at),
            )
        )

    async def save_post(self, post: Post) -> None:
        await self._conn.execute(
            update(P)
            .where(P.c.id == post.id)
            .values(body=post.body, edited_at=post.edited_at, endorsed=post.endorsed, state=post.state.value)
        )

    async def add_edit(self, edit: Edit) -> None:
        await self._conn.execute(
            insert(discussion_edits).values(
                post_id=edit.post_id, editor_id=edit.editor_id, at=edit.at, previous_body=edit.previous_body
            )
        )

    async def edits(self, post_id: uuid.UUID) -> list[Edit]:
        e = discussion_edits
        rows = (
            (await self._conn.execute(select(e).where(e.c.post_id == post_id).order_by(e.c.at, e.c.id)))
            .mappings()
            .all()
        )
        return [Edit(r["post_id"], r["editor_id"], r["at"], r["previous_body"]) for r in rows]

    async def vote(self, post_id: uuid.UUID, user_id: uuid.UUID, *, up: bool) -> bool:
        v = discussion_votes
        if up:
            statement = dialect_insert(self._conn, v).values(post_id=post_id, user_id=user_id).on_conflict_do_nothing()
        else:
            statement = delete(v).where(v.c.post_id == post_id, v.c.user_id == user_id)
        # RETURNING says whether a row was written on every driver (an upsert's rowcount does not)
        changed = (await self._conn.execute(statement.returning(v.c.post_id))).first() is not None
        if not changed:
            return False
        delta = 1 if up else -1
        depth = (
            await self._conn.execute(
                update(P).where(P.c.id == post_id).values(votes=P.c.votes + delta).returning(P.c.depth, P.c.thread_id)
            )
        ).first()
        if depth is not None and depth[0] == 0:
            await self._conn.execute(update(T).where(T.c.id == depth[1]).values(votes=T.c.votes + delta))
        return True

    async def flag(self, post_id: uuid.UUID, user_id: uuid.UUID, reason: str, at: datetime) -> int | None:
        f = discussion_flags
        statement = (
            dialect_insert(self._conn, f)
            .values(post_id=post_id, user_id=user_id, reason=reason, at=at, open=True)
            .on_conflict_do_nothing()
            .returning(f.c.post_id)
        )
        if (await self._conn.execute(statement)).first() is None:
            return None
        row = (
            await self._conn.execute(
                update(P).where(P.c.id == post_id).values(flag_count=P.c.flag_count + 1).returning(P.c.flag_count)
            )
        ).first()
        return None if row is None else int(row[0])

    async def resolve_flags(self, post_id: uuid.UUID) -> None:
        f = discussion_flags
        await self._conn.execute(update(f).where(f.c.post_id == post_id, f.c.open).values(open=False))
        await self._conn.execute(update(P).where(P.c.id == post_id).values(flag_count=0))

    async def add_moderation(self, entry: ModerationEntry) -> None:
        await self._conn.execute(
            insert(discussion_moderation).values(
                id=entry.id,
                course_id=entry.course_id,
                post_id=entry.post_id,
                action=entry.action.value,
                actor_id=entry.actor_id,
                reason=entry.reason,
                at=entry.at,
            )
        )

    async def moderation_log(self, post_id: uuid.UUID) -> list[ModerationEntry]:
        m = discussion_moderation
        query = select(m).where(m.c.post_id == post_id).order_by(m.c.at, m.c.id)
        rows = (await self._conn.execute(query)).mappings().all()
        return [
            ModerationEntry(
                r["id"],
                r["course_id"],
                r["post_id"],
                ModerationAction(r["action"]),
                r["actor_id"],
                r["reason"],
                r["at"],
            )
            for r in rows
        ]

    async def subscribe(self, thread_id: uuid.UUID, user_id: uuid.UUID, state: str | None) -> None:
        s = discussion_subscriptions
        if state is None:
            await self._conn.execute(delete(s).where(s.c.thread_id == thread_id, s.c.user_id == user_id))
            return
        statement = dialect_insert(self._conn, s).values(thread_id=thread_id, user_id=user_id, state=state)
        await self._conn.execute(
            statement.on_conflict_do_update(index_elements=[s.c.thread_id, s.c.user_id], set_={"state": state})
        )

    async def subscribe_if_new(self, thread_id: uuid.UUID, user_id: uuid.UUID, state: str) -> None:
        s = discussion_subscriptions
        statement = dialect_insert(self._conn, s).values(thread_id=thread_id, user_id=user_id, state=state)
        await self._conn.execute(statement.on_conflict_do_nothing())

    async def watch(self, course_id: uuid.UUID, user_id: uuid.UUID, on: bool) -> None:
        w = discussion_watches
        if on:
            statement = dialect_insert(self._conn, w).values(course_id=course_id, user_id=user_id)
            await self._conn.execute(statement.on_conflict_do_nothing())
        else:
            await self._conn.execute(delete(w).where(w.c.course_id == course_id, w.c.user_id == user_id))

    async def mark_read(self, thread_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> None:
        r = discussion_reads
        statement = dialect_insert(self._conn, r).values(thread_id=thread_id, user_id=user_id, read_at=at)
        await self._conn.execute(
            statement.on_conflict_do_update(index_elements=[r.c.thread_id, r.c.user_id], set_={"read_at": at})
        )

    async def ban(self, ban: Ban) -> None:
        b = discussion_bans
        values = {"until": ban.until, "reason": ban.reason}
        statement = dialect_insert(self._conn, b).values(course_id=ban.course_id, user_id=ban.user_id, **values)
        await self._conn.execute(
            statement.on_conflict_do_update(index_elements=[b.c.course_id, b.c.user_id], set_=values)
        )

    async def active_ban(self, course_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> Ban | None:
        b = discussion_bans
        query = select(b).where(b.c.course_id == course_id, b.c.user_id == user_id, b.c.until > now)
        row = (await self._conn.execute(query)).mappings().first()
        return None if row is None else Ban(row["course_id"], row["user_id"], row["until"], row["reason"])

    async def block(self, user_id: uuid.UUID, blocked_id: uuid.UUID, on: bool) -> None:
        k = discussion_blocks
        if on:
            statement = dialect_insert(self._conn, k).values(user_id=user_id, blocked_id=blocked_id)
            await self._conn.execute(statement.on_conflict_do_nothing())
        else:
            await self._conn.execute(delete(k).where(k.c.user_id == user_id, k.c.blocked_id == blocked_id))

    async def blocked_by(self, user_id: uuid.UUID) -> frozenset[uuid.UUID]:
        return await _blocked_by(self._conn, user_id)

    async def blockers(self, author_id: uuid.UUID, among: Collection[uuid.UUID]) -> set[uuid.UUID]:
        k = discussion_blocks
        query = select(k.c.user_id).where(k.c.blocked_id == author_id, k.c.user_id.in_(list(among)))
        return set((await self._conn.execute(query)).scalars())

    async def blackouts(self, course_id: uuid.UUID) -> list[Blackout]:
        b = discussion_blackouts
        query = select(b).where(b.c.course_id == course_id).order_by(b.c.starts_at)
        return [Blackout(r["starts_at"], r["ends_at"]) for r in (await self._conn.execute(query)).mappings()]

    async def set_blackouts(self, course_id: uuid.UUID, periods: Sequence[Blackout]) -> None:
        b = discussion_blackouts
        await self._conn.execute(delete(b).where(b.c.course_id == course_id))
        if periods:
            rows = [{"course_id": course_id, "starts_at": p.starts_at, "ends_at": p.ends_at} for p in periods]
            await self._conn.execute(insert(b), rows)


async def _blocked_by(conn: AsyncConnection, user_id: uuid.UUID) -> frozenset[uuid.UUID]:
    k = discussion_blocks
    return frozenset((await conn.execute(select(k.c.blocked_id).where(k.c.user_id == user_id))).scalars())
