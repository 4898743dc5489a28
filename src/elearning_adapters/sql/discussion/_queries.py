"""The read side: the keyset-paged thread list (one statement per page), the thread page, the moderation queue
and the notification audience."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    and_,
    false,
    func,
    not_,
    or_,
    select,
    true,
    tuple_,
)

from elearning_adapters.sql.course import course_lessons
from elearning_adapters.sql.discussion._store import _blocked_by
from elearning_adapters.sql.discussion._tables import (
    P,
    T,
    _post,
    _staff_grant,
    _thread,
    discussion_blocks,
    discussion_flags,
    discussion_reads,
    discussion_subscriptions,
    discussion_watches,
)
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.enrollment import enrollments
from elearning_adapters.sql.identity import users
from elearning_core.discussion.model import (
    Post,
    PostState,
    ThreadKind,
    ThreadSort,
    Viewer,
)
from elearning_core.discussion.ports import (
    Author,
    DiscussionAudience,
    DiscussionQueries,
    QueueItem,
    ThreadFilter,
    ThreadKey,
    ThreadRow,
)
from elearning_core.discussion.queries import EXCERPT_MAX, excerpt

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
                            not_(_staff_grant(e.c.user_id, course_id)),  # e: the enclosing select (correlation)
                        )
                        .exists()
                    )
                )
            return sorted((await conn.execute(query)).scalars())

    async def watchers(self, course_id: uuid.UUID) -> list[uuid.UUID]:
        w = discussion_watches
        async with self._db.read() as conn:
            return sorted((await conn.execute(select(w.c.user_id).where(w.c.course_id == course_id))).scalars())
