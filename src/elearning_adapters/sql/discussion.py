"""The discussion tables, the store the unit of work serves, the read side, and the narrow reads of the
enrollment, course and identity tables the module needs.

The thread list is the hot read: one statement per page, keyset-paginated on an index per sort order
(``course_id``, then the sort's columns, then ``id``), all descending, so a page is an index range scan
whatever the course's size. The opening post shares its thread's id: the list joins it by primary key for
the excerpt and its moderation state; a reader's last read is joined by its primary key for ``unread``.
Counters (votes, replies, flags) are moved by ``UPDATE ... SET n = n + 1`` in the statement that records
the fact, never read-modify-write, so concurrent voters cannot lose or double a vote.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    and_,
    delete,
    false,
    func,
    insert,
    not_,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from elearning_adapters.sql.course import course_lessons, courses
from elearning_adapters.sql.engine import Database, UtcDateTime, metadata
from elearning_adapters.sql.enrollment import enrollments
from elearning_adapters.sql.identity import PLATFORM_SCOPE_ID, user_grants, users
from elearning_core.auth.model import ResourceRef, ScopeKind
from elearning_core.discussion.model import (
    Ban,
    Blackout,
    Edit,
    ModerationAction,
    ModerationEntry,
    Post,
    PostState,
    Thread,
    ThreadKind,
    ThreadSort,
    Viewer,
)
from elearning_core.discussion.ports import (
    Author,
    Authors,
    CourseMembers,
    DiscussionAudience,
    DiscussionQueries,
    DiscussionStore,
    Membership,
    QueueItem,
    ThreadFilter,
    ThreadKey,
    ThreadRow,
)
from elearning_core.discussion.queries import EXCERPT_MAX, excerpt
from elearning_core.shared.events import DomainEvent, EventLog, RecordsEvents

discussion_threads = Table(
    "discussion_threads",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("title", String(200), nullable=False),
    Column("author_id", Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("anonymous", Boolean, nullable=False),
    # References to other modules' records: no foreign keys across modules.
    Column("lesson_id", Uuid, nullable=True),
    Column("cohort_id", Uuid, nullable=True),
    Column("accepted_post_id", Uuid, nullable=True),
    Column("pinned", Boolean, nullable=False),
    Column("closed", Boolean, nullable=False),
    Column("locked", Boolean, nullable=False),
    # A question without an accepted answer (the "unanswered first" sort), kept with accepted_post_id.
    Column("unanswered", Boolean, nullable=False),
    Column("votes", Integer, nullable=False),
    Column("reply_count", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_activity_at", UtcDateTime, nullable=False),
)
Index(
    "ix_discussion_threads_activity",
    discussion_threads.c.course_id,
    discussion_threads.c.pinned,
    discussion_threads.c.last_activity_at,
    discussion_threads.c.id,
)
Index(
    "ix_discussion_threads_votes",
    discussion_threads.c.course_id,
    discussion_threads.c.pinned,
    discussion_threads.c.votes,
    discussion_threads.c.id,
)
Index(
    "ix_discussion_threads_unanswered",
    discussion_threads.c.course_id,
    discussion_threads.c.unanswered,
    discussion_threads.c.last_activity_at,
    discussion_threads.c.id,
)

discussion_posts = Table(
    "discussion_posts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("thread_id", Uuid, ForeignKey("discussion_threads.id", ondelete="CASCADE"), nullable=False),
    Column("parent_id", Uuid, nullable=True),
    Column("depth", SmallInteger, nullable=False),
    Column("author_id", Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("anonymous", Boolean, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("edited_at", UtcDateTime, nullable=True),
    Column("votes", Integer, nullable=False),
    Column("endorsed", Boolean, nullable=False),
    Column("state", String(16), nullable=False),
    Column("flag_count", Integer, nullable=False),
)
Index("ix_discussion_posts_thread", discussion_posts.c.thread_id, discussion_posts.c.created_at)
Index("ix_discussion_posts_flagged", discussion_posts.c.flag_count, discussion_posts.c.id)

discussion_edits = Table(
    "discussion_edits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("post_id", Uuid, ForeignKey("discussion_posts.id", ondelete="CASCADE"), nullable=False),
    Column("editor_id", Uuid, nullable=True),
    Column("at", UtcDateTime, nullable=False),
    Column("previous_body", Text, nullable=False),
)
Index("ix_discussion_edits_post", discussion_edits.c.post_id)

discussion_votes = Table(
    "discussion_votes",
    metadata,
    Column("post_id", Uuid, ForeignKey("discussion_posts.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Uuid, nullable=False),
    PrimaryKeyConstraint("post_id", "user_id"),
)

discussion_flags = Table(
    "discussion_flags",
    metadata,
    Column("post_id", Uuid, ForeignKey("discussion_posts.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("open", Boolean, nullable=False),
    PrimaryKeyConstraint("post_id", "user_id"),
)

discussion_moderation = Table(
    "discussion_moderation",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("course_id", Uuid, nullable=False),
    Column("post_id", Uuid, ForeignKey("discussion_posts.id", ondelete="CASCADE"), nullable=False),
    Column("action", String(16), nullable=False),
    Column("actor_id", Uuid, nullable=True),
    Column("reason", String(500), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)
Index("ix_discussion_moderation_post", discussion_moderation.c.post_id)

discussion_subscriptions = Table(
    "discussion_subscriptions",
    metadata,
    Column("thread_id", Uuid, ForeignKey("discussion_threads.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("state", String(8), nullable=False),  # follow | mute
    PrimaryKeyConstraint("thread_id", "user_id"),
)

discussion_watches = Table(
    "discussion_watches",
    metadata,
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Uuid, nullable=False),
    PrimaryKeyConstraint("course_id", "user_id"),
)

discussion_reads = Table(
    "discussion_reads",
    metadata,
    Column("thread_id", Uuid, ForeignKey("discussion_threads.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("read_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("thread_id", "user_id"),
)

discussion_bans = Table(
    "discussion_bans",
    metadata,
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("until", UtcDateTime, nullable=False),
    Column("reason", String(500), nullable=False),
    PrimaryKeyConstraint("course_id", "user_id"),
)

discussion_blocks = Table(
    "discussion_blocks",
    metadata,
    Column("user_id", Uuid, nullable=False),
    Column("blocked_id", Uuid, nullable=False),
    PrimaryKeyConstraint("user_id", "blocked_id"),
)
Index("ix_discussion_blocks_blocked", discussion_blocks.c.blocked_id)

discussion_blackouts = Table(
    "discussion_blackouts",
    metadata,
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("course_id", "starts_at"),
)

T, P = discussion_threads, discussion_posts
STAFF_ROLES = ("instructor", "teaching_assistant")


def _thread(row: Any) -> Thread:
    return Thread(
        row["id"],
        row["course_id"],
        ThreadKind(row["kind"]),
        row["title"],
        row["author_id"],
        bool(row["anonymous"]),
        row["created_at"],
        row["last_activity_at"],
        row["lesson_id"],
        row["cohort_id"],
        row["accepted_post_id"],
        bool(row["pinned"]),
        bool(row["closed"]),
        bool(row["locked"]),
        int(row["votes"]),
        int(row["reply_count"]),
    )


def _post(row: Any) -> Post:
    return Post(
        row["id"],
        row["thread_id"],
        row["parent_id"],
        int(row["depth"]),
        row["author_id"],
        bool(row["anonymous"]),
        row["body"],
        row["created_at"],
        row["edited_at"],
        int(row["votes"]),
        bool(row["endorsed"]),
        PostState(row["state"]),
        int(row["flag_count"]),
    )


def _thread_values(thread: Thread) -> dict[str, Any]:
    """What the caller decides; the counters (votes, replies, activity) are moved by the store alone."""
    return {
        "title": thread.title,
        "accepted_post_id": thread.accepted_post_id,
        "pinned": thread.pinned,
        "closed": thread.closed,
        "locked": thread.locked,
        "unanswered": thread.unanswered,
    }


def _insert(conn: AsyncConnection, table: Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


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
            statement = _insert(self._conn, v).values(post_id=post_id, user_id=user_id).on_conflict_do_nothing()
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
            _insert(self._conn, f)
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
        statement = _insert(self._conn, s).values(thread_id=thread_id, user_id=user_id, state=state)
        await self._conn.execute(
            statement.on_conflict_do_update(index_elements=[s.c.thread_id, s.c.user_id], set_={"state": state})
        )

    async def subscribe_if_new(self, thread_id: uuid.UUID, user_id: uuid.UUID, state: str) -> None:
        s = discussion_subscriptions
        statement = _insert(self._conn, s).values(thread_id=thread_id, user_id=user_id, state=state)
        await self._conn.execute(statement.on_conflict_do_nothing())

    async def watch(self, course_id: uuid.UUID, user_id: uuid.UUID, on: bool) -> None:
        w = discussion_watches
        if on:
            statement = _insert(self._conn, w).values(course_id=course_id, user_id=user_id)
            await self._conn.execute(statement.on_conflict_do_nothing())
        else:
            await self._conn.execute(delete(w).where(w.c.course_id == course_id, w.c.user_id == user_id))

    async def mark_read(self, thread_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> None:
        r = discussion_reads
        statement = _insert(self._conn, r).values(thread_id=thread_id, user_id=user_id, read_at=at)
        await self._conn.execute(
            statement.on_conflict_do_update(index_elements=[r.c.thread_id, r.c.user_id], set_={"read_at": at})
        )

    async def ban(self, ban: Ban) -> None:
        b = discussion_bans
        values = {"until": ban.until, "reason": ban.reason}
        statement = _insert(self._conn, b).values(course_id=ban.course_id, user_id=ban.user_id, **values)
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
            statement = _insert(self._conn, k).values(user_id=user_id, blocked_id=blocked_id)
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


_OPENING = P.alias("opening")
_READ = discussion_reads.alias("read_mark")
_LESSON = course_lessons.alias("lesson")
_AUTHOR = users.alias("author")


def _row_query(user_id: uuid.UUID | None) -> Any:
    """Threads with their opening post's excerpt and state, the lesson's title and the reader's unread flag."""
    unread = (
        or_(_READ.c.read_at.is_(None), _READ.c.read_at < T.c.last_activity_at)
        if user_id is not None
        else T.c.pinned.is_(None)  # always false: nobody to have read it
    )
    query = (
        select(
            T,
            func.substr(_OPENING.c.body, 1, EXCERPT_MAX * 2).label("opening_body"),
            _OPENING.c.state.label("opening_state"),
            _OPENING.c.author_id.label("opening_author"),
            unread.label("unread"),
            _LESSON.c.title.label("lesson_title"),
            _AUTHOR.c.display_name.label("author_name"),
            _AUTHOR.c.status.label("author_status"),
        )
        .select_from(T)
        .join(_OPENING, _OPENING.c.id == T.c.id)
        .outerjoin(_LESSON, _LESSON.c.id == T.c.lesson_id)
        .outerjoin(_AUTHOR, _AUTHOR.c.id == T.c.author_id)
    )
    if user_id is not None:
        query = query.outerjoin(_READ, and_(_READ.c.thread_id == T.c.id, _READ.c.user_id == user_id))
    return query


def _thread_row(row: Any) -> ThreadRow:
    name = row["author_name"]
    author = None if name is None else Author(name, row["author_status"] == "deleted")
    return ThreadRow(_thread(row), excerpt(row["opening_body"] or ""), bool(row["unread"]), row["lesson_title"], author)


def _visible_to(query: Any, viewer: Viewer) -> Any:
    """A learner's share of the threads: their cohort's or everyone's, opening post visible (or their own
    hidden one), authors they blocked left out (read in the same statement: ``discussion_blocks``' key)."""
    if viewer.staff:
        return query
    query = query.where(
        or_(T.c.cohort_id.is_(None), T.c.cohort_id == viewer.cohort_id),
        or_(
            _OPENING.c.state == PostState.VISIBLE.value,
            and_(_OPENING.c.state == PostState.HIDDEN.value, _OPENING.c.author_id == viewer.user_id),
        ),
    )
    k = discussion_blocks
    blocked = select(k.c.blocked_id).where(k.c.user_id == viewer.user_id, k.c.blocked_id == T.c.author_id)
    return query.where(not_(blocked.exists()))


def _sort(sort: ThreadSort) -> tuple[Any, Any, Any]:
    if sort is ThreadSort.VOTES:
        return T.c.pinned, T.c.votes, T.c.id
    if sort is ThreadSort.UNANSWERED:
        return T.c.unanswered, T.c.last_activity_at, T.c.id
    return T.c.pinned, T.c.last_activity_at, T.c.id


class SqlDiscussionQueries(DiscussionQueries, DiscussionAudience):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def blocked_by(self, user_id: uuid.UUID) -> frozenset[uuid.UUID]:
        async with self._db.read() as conn:
            return await _blocked_by(conn, user_id)

    async def threads(
        self,
        course_id: uuid.UUID,
        viewer: Viewer,
        sort: ThreadSort,
        where: ThreadFilter,
        after: ThreadKey | None,
        limit: int,
    ) -> list[ThreadRow]:
        first, second, third = _sort(sort)
        query = _visible_to(_row_query(viewer.user_id).where(T.c.course_id == course_id), viewer)
        if where.kind is None:
            query = query.where(T.c.kind != ThreadKind.ANNOUNCEMENT.value)
        else:
            query = query.where(T.c.kind == where.kind.value)
        if where.lesson_id is not None:
            query = query.where(T.c.lesson_id == where.lesson_id)
        if where.mine:
            query = query.where(T.c.author_id == viewer.user_id)
        if where.followed:
            s = discussion_subscriptions
            query = query.where(
                select(s.c.thread_id)
                .where(s.c.thread_id == T.c.id, s.c.user_id == viewer.user_id, s.c.state == "follow")
                .exists()
            )
        if after is not None:
            # Not ``(first, second, third) < (...)``: PostgreSQL estimates a row comparison by its leading column,
            # a boolean here, and for ``pinned < false`` expects no rows, so it sorted the whole course instead of
            # walking the index (280 ms at 10,000 threads). Equality on the flag keeps the index range scan.
            rest = tuple_(second, third) < tuple_(after[1], after[2])
            if after[0]:
                query = query.where(or_(and_(first == true(), rest), first == false()))
            else:
                query = query.where(first == false(), rest)
        query = query.order_by(first.desc(), second.desc(), third.desc()).limit(limit)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_thread_row(r) for r in rows]

    async def thread(self, thread_id: uuid.UUID, user_id: uuid.UUID | None) -> ThreadRow | None:
        async with self._db.read() as conn:
            row = (await conn.execute(_row_query(user_id).where(T.c.id == thread_id))).mappings().first()
        return None if row is None else _thread_row(row)

    async def thread_posts(self, thread_id: uuid.UUID) -> list[Post]:
        query = select(P).where(P.c.thread_id == thread_id).order_by(P.c.depth != 0, P.c.created_at, P.c.id)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_post(r) for r in rows]

    async def unread_counts(self, user_id: uuid.UUID, viewer: Viewer, course_id: uuid.UUID) -> int:
        query = _visible_to(_row_query(user_id).where(T.c.course_id == course_id), viewer).where(
            T.c.kind != ThreadKind.ANNOUNCEMENT.value,
            or_(_READ.c.read_at.is_(None), _READ.c.read_at < T.c.last_activity_at),
        )
        async with self._db.read() as conn:
            return int((await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one())

    async def moderation_queue(
        self, course_id: uuid.UUID, after: tuple[int, uuid.UUID] | None, limit: int
    ) -> list[QueueItem]:
        query = (
            select(P, T.c.title.label("thread_title"))
            .select_from(P.join(T, T.c.id == P.c.thread_id))
            .where(T.c.course_id == course_id, P.c.flag_count > 0)
        )
        if after is not None:
            query = query.where(tuple_(P.c.flag_count, P.c.id) < tuple_(after[0], after[1]))
        query = query.order_by(P.c.flag_count.desc(), P.c.id.desc()).limit(limit)
        f = discussion_flags
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).mappings().all()
            ids = [r["id"] for r in rows]
            reasons: dict[uuid.UUID, list[str]] = {}
            if ids:
                flagged = select(f.c.post_id, f.c.reason).where(f.c.post_id.in_(ids), f.c.open).order_by(f.c.reason)
                for post_id, reason in (await conn.execute(flagged)).all():
                    reasons.setdefault(post_id, []).append(reason)
        return [QueueItem(_post(r), course_id, r["thread_title"], reasons.get(r["id"], [])) for r in rows]

    async def followers(self, thread_id: uuid.UUID) -> list[uuid.UUID]:
        s, w, k = discussion_subscriptions, discussion_watches, discussion_blocks
        async with self._db.read() as conn:
            row = (
                await conn.execute(select(T.c.course_id, T.c.author_id, T.c.cohort_id).where(T.c.id == thread_id))
            ).first()
            if row is None:
                return []
            course_id, author_id, cohort_id = row
            followed = select(s.c.user_id.label("user_id")).where(s.c.thread_id == thread_id, s.c.state == "follow")
            watching = select(w.c.user_id.label("user_id")).where(w.c.course_id == course_id)
            candidates = followed.union(watching).subquery()
            query = select(candidates.c.user_id).where(
                not_(
                    select(s.c.user_id)
                    .where(s.c.thread_id == thread_id, s.c.user_id == candidates.c.user_id, s.c.state == "mute")
                    .exists()
                ),
                not_(
                    select(k.c.user_id).where(k.c.user_id == candidates.c.user_id, k.c.blocked_id == author_id).exists()
                ),
            )
            if cohort_id is not None:
                # learners of another cohort are out; staff (no enrollment, or enrolled too) stay
                e = enrollments
                query = query.where(
                    not_(
                        select(e.c.user_id)
                        .where(
                            e.c.course_id == course_id,
                            e.c.user_id == candidates.c.user_id,
                            or_(e.c.cohort_id.is_(None), e.c.cohort_id != cohort_id),
                            not_(_staff_grant(candidates.c.user_id, course_id)),
                        )
                        .exists()
                    )
                )
            return sorted((await conn.execute(query)).scalars())

    async def watchers(self, course_id: uuid.UUID) -> list[uuid.UUID]:
        w = discussion_watches
        async with self._db.read() as conn:
            return sorted((await conn.execute(select(w.c.user_id).where(w.c.course_id == course_id))).scalars())


def _staff_grant(user_id: Any, course_id: uuid.UUID) -> Any:
    """Whether the user holds a staff grant on the course, or is a platform admin (the role policy's course
    staff, organizations' admins aside: their scope would need the course's organization)."""
    g = user_grants
    return (
        select(g.c.user_id)
        .where(
            g.c.user_id == user_id,
            or_(
                and_(g.c.scope_kind == "course", g.c.scope_id == course_id, g.c.role.in_(STAFF_ROLES)),
                and_(g.c.scope_kind == "platform", g.c.scope_id == PLATFORM_SCOPE_ID, g.c.role == "platform_admin"),
            ),
        )
        .exists()
    )


class SqlCourseMembers(CourseMembers):
    """Reads of the enrollment, identity (grants) and course tables: what the discussion needs of them."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def standing(self, course_id: uuid.UUID, user_id: uuid.UUID | None) -> tuple[ResourceRef, Membership] | None:
        e = enrollments
        joined = and_(e.c.course_id == courses.c.id, e.c.user_id == user_id, e.c.status.in_(("active", "completed")))
        query = (
            select(courses.c.owner_id, courses.c.organization_id, e.c.id.label("enrollment_id"), e.c.cohort_id)
            .select_from(courses.outerjoin(e, joined))
            .where(courses.c.id == course_id)
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        ref = ResourceRef(ScopeKind.COURSE, course_id, organization_id=row.organization_id, owner_id=row.owner_id)
        return ref, Membership(staff=False, enrolled=row.enrollment_id is not None, cohort_id=row.cohort_id)

    async def audience(self, course_id: uuid.UUID, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Membership]:
        ids = list(user_ids)
        if not ids:
            return {}
        e, u = enrollments, users
        query = (
            select(
                u.c.id,
                _staff_grant(u.c.id, course_id).label("staff"),
                e.c.cohort_id,
                e.c.id.is_not(None).label("enrolled"),
            )
            .select_from(
                u.outerjoin(
                    e,
                    and_(e.c.user_id == u.c.id, e.c.course_id == course_id, e.c.status.in_(("active", "completed"))),
                )
            )
            .where(u.c.id.in_(ids), u.c.status != "deleted")
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return {
            r["id"]: Membership(staff=bool(r["staff"]), enrolled=bool(r["enrolled"]), cohort_id=r["cohort_id"])
            for r in rows
            if r["staff"] or r["enrolled"]
        }

    async def lesson_title(self, course_id: uuid.UUID, lesson_id: uuid.UUID) -> str | None:
        lesson = course_lessons
        query = select(lesson.c.title).where(lesson.c.id == lesson_id, lesson.c.course_id == course_id)
        async with self._db.read() as conn:
            return (await conn.execute(query)).scalar_one_or_none()


class SqlAuthors(Authors):
    def __init__(self, database: Database) -> None:
        self._db = database

    async def authors(self, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Author]:
        ids = list(user_ids)
        if not ids:
            return {}
        u = users
        async with self._db.read() as conn:
            rows = (await conn.execute(select(u.c.id, u.c.display_name, u.c.status).where(u.c.id.in_(ids)))).all()
        return {r[0]: Author(r[1], r[2] == "deleted") for r in rows}


DISCUSSION_TABLES = (
    "discussion_blackouts",
    "discussion_blocks",
    "discussion_bans",
    "discussion_reads",
    "discussion_watches",
    "discussion_subscriptions",
    "discussion_moderation",
    "discussion_flags",
    "discussion_votes",
    "discussion_edits",
    "discussion_posts",
    "discussion_threads",
)
