"""In-memory doubles of the discussion ports, held to the same contract as the SQL adapters
(tests/contract/test_discussion_store.py)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Self

from elearning_core.auth.model import ResourceRef, ScopeKind
from elearning_core.discussion.model import (
    Ban,
    Blackout,
    Edit,
    ModerationEntry,
    Post,
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
    sort_key,
)
from elearning_core.discussion.queries import excerpt
from elearning_core.shared.events import DomainEvent, EventLog, RecordsEvents


@dataclass
class DiscussionData:
    threads: dict[uuid.UUID, Thread] = field(default_factory=dict)
    posts: dict[uuid.UUID, Post] = field(default_factory=dict)
    edits: list[Edit] = field(default_factory=list)
    votes: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)
    flags: dict[tuple[uuid.UUID, uuid.UUID], tuple[str, bool]] = field(default_factory=dict)
    """(post, user) -> (reason, open)."""
    moderation: list[ModerationEntry] = field(default_factory=list)
    subscriptions: dict[tuple[uuid.UUID, uuid.UUID], str] = field(default_factory=dict)
    watches: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)
    reads: dict[tuple[uuid.UUID, uuid.UUID], datetime] = field(default_factory=dict)
    bans: dict[tuple[uuid.UUID, uuid.UUID], Ban] = field(default_factory=dict)
    blocks: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)
    blackouts: dict[uuid.UUID, list[Blackout]] = field(default_factory=dict)
    outbox: list[DomainEvent] = field(default_factory=list)
    # other modules' data, as the narrow reads see it
    courses: set[uuid.UUID] = field(default_factory=set)
    members: dict[tuple[uuid.UUID, uuid.UUID], Membership] = field(default_factory=dict)
    lessons: dict[tuple[uuid.UUID, uuid.UUID], str] = field(default_factory=dict)
    cohorts: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)
    """(course, cohort)."""
    users: dict[uuid.UUID, Author] = field(default_factory=dict)

    def copy(self) -> DiscussionData:
        return copy.deepcopy(replace(self, outbox=[]))


class InMemoryDiscussionStore(DiscussionStore):
    def __init__(self, data: DiscussionData) -> None:
        self._data = data
        self._log = EventLog()

    def record(self, event: DomainEvent) -> None:
        self._log.append(event)

    def seen(self) -> list[RecordsEvents]:
        return [self._log]

    async def add_thread(self, thread: Thread, opening: Post) -> None:
        self._data.threads[thread.id] = copy.copy(thread)
        self._data.posts[opening.id] = copy.copy(opening)

    async def thread(self, thread_id: uuid.UUID, *, lock: bool = False) -> Thread | None:
        found = self._data.threads.get(thread_id)
        return None if found is None else copy.copy(found)

    async def save_thread(self, thread: Thread) -> None:
        stored = self._data.threads[thread.id]
        # counters are the store's (votes, replies, activity); the rest is the caller's
        self._data.threads[thread.id] = replace(
            thread, votes=stored.votes, reply_count=stored.reply_count, last_activity_at=stored.last_activity_at
        )

    async def post(self, post_id: uuid.UUID) -> Post | None:
        found = self._data.posts.get(post_id)
        return None if found is None else copy.copy(found)

    async def add_post(self, post: Post) -> None:
        self._data.posts[post.id] = copy.copy(post)
        thread = self._data.threads[post.thread_id]
        thread.reply_count += 1
        thread.last_activity_at = max(thread.last_activity_at, post.created_at)

    async def save_post(self, post: Post) -> None:
        stored = self._data.posts[post.id]
        self._data.posts[post.id] = replace(post, votes=stored.votes, flag_count=stored.flag_count)

    async def add_edit(self, edit: Edit) -> None:
        self._data.edits.append(edit)

    async def edits(self, post_id: uuid.UUID) -> list[Edit]:
        return sorted((e for e in self._data.edits if e.post_id == post_id), key=lambda e: e.at)

    async def vote(self, post_id: uuid.UUID, user_id: uuid.UUID, *, up: bool) -> bool:
        key = (post_id, user_id)
        if up == (key in self._data.votes):
            return False
        delta = 1 if up else -1
        (self._data.votes.add if up else self._data.votes.discard)(key)
        post = self._data.posts[post_id]
        post.votes += delta
        if post.depth == 0:
            self._data.threads[post.thread_id].votes += delta
        return True

    async def flag(self, post_id: uuid.UUID, user_id: uuid.UUID, reason: str, at: datetime) -> int | None:
        if (post_id, user_id) in self._data.flags:
            return None
        self._data.flags[(post_id, user_id)] = (reason, True)
        count = sum(1 for (p, _), (_, is_open) in self._data.flags.items() if p == post_id and is_open)
        self._data.posts[post_id].flag_count = count
        return count

    async def resolve_flags(self, post_id: uuid.UUID) -> None:
        for key, (reason, _) in list(self._data.flags.items()):
            if key[0] == post_id:
                self._data.flags[key] = (reason, False)
        self._data.posts[post_id].flag_count = 0

    async def add_moderation(self, entry: ModerationEntry) -> None:
        self._data.moderation.append(entry)

    async def moderation_log(self, post_id: uuid.UUID) -> list[ModerationEntry]:
        return sorted((m for m in self._data.moderation if m.post_id == post_id), key=lambda m: m.at)

    async def subscribe(self, thread_id: uuid.UUID, user_id: uuid.UUID, state: str | None) -> None:
        if state is None:
            self._data.subscriptions.pop((thread_id, user_id), None)
        else:
            self._data.subscriptions[(thread_id, user_id)] = state

    async def subscribe_if_new(self, thread_id: uuid.UUID, user_id: uuid.UUID, state: str) -> None:
        self._data.subscriptions.setdefault((thread_id, user_id), state)

    async def watch(self, course_id: uuid.UUID, user_id: uuid.UUID, on: bool) -> None:
        (self._data.watches.add if on else self._data.watches.discard)((course_id, user_id))

    async def mark_read(self, thread_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> None:
        self._data.reads[(thread_id, user_id)] = at

    async def ban(self, ban: Ban) -> None:
        self._data.bans[(ban.course_id, ban.user_id)] = ban

    async def active_ban(self, course_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> Ban | None:
        ban = self._data.bans.get((course_id, user_id))
        return ban if ban is not None and ban.active(now) else None

    async def block(self, user_id: uuid.UUID, blocked_id: uuid.UUID, on: bool) -> None:
        (self._data.blocks.add if on else self._data.blocks.discard)((user_id, blocked_id))

    async def blocked_by(self, user_id: uuid.UUID) -> frozenset[uuid.UUID]:
        return frozenset(b for u, b in self._data.blocks if u == user_id)

    async def blockers(self, author_id: uuid.UUID, among: Collection[uuid.UUID]) -> set[uuid.UUID]:
        return {u for u, b in self._data.blocks if b == author_id and u in among}

    async def blackouts(self, course_id: uuid.UUID) -> list[Blackout]:
        return sorted(self._data.blackouts.get(course_id, []), key=lambda b: b.starts_at)

    async def set_blackouts(self, course_id: uuid.UUID, periods: Sequence[Blackout]) -> None:
        self._data.blackouts[course_id] = list(periods)


class InMemoryDiscussionUnitOfWork:
    """Works on a copy of the data, put back only on commit (leaving without it changes nothing)."""

    def __init__(self, data: DiscussionData) -> None:
        self._data = data
        self.committed = False

    async def __aenter__(self) -> Self:
        self._work = self._data.copy()
        self.discussion = InMemoryDiscussionStore(self._work)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def commit(self) -> None:
        events = [e for r in self.discussion.seen() for e in r.pull_events()]
        outbox = self._data.outbox
        self._data.__dict__.update(self._work.__dict__)
        self._data.outbox = outbox + events
        self._work = self._data.copy()
        self.discussion = InMemoryDiscussionStore(self._work)
        self.committed = True

    async def rollback(self) -> None:
        self._work = self._data.copy()


def _unread(data: DiscussionData, thread: Thread, user_id: uuid.UUID | None) -> bool:
    if user_id is None:
        return False
    read = data.reads.get((thread.id, user_id))
    return read is None or read < thread.last_activity_at


def _sees_opening(data: DiscussionData, viewer: Viewer, thread: Thread) -> bool:
    opening = data.posts.get(thread.id)
    return opening is not None and viewer.sees_post(opening)


class InMemoryDiscussionQueries(DiscussionQueries, DiscussionAudience):
    def __init__(self, data: DiscussionData) -> None:
        self._data = data

    async def blocked_by(self, user_id: uuid.UUID) -> frozenset[uuid.UUID]:
        return frozenset(b for u, b in self._data.blocks if u == user_id)

    def _row(self, thread: Thread, user_id: uuid.UUID | None) -> ThreadRow:
        opening = self._data.posts.get(thread.id)
        return ThreadRow(
            copy.copy(thread),
            excerpt(opening.body) if opening else "",
            _unread(self._data, thread, user_id),
            self._data.lessons.get((thread.course_id, thread.lesson_id)) if thread.lesson_id else None,
            self._data.users.get(thread.author_id) if thread.author_id else None,
        )

    def _with_blocks(self, viewer: Viewer) -> Viewer:
        """The viewer with their blocks read here, as the SQL list reads them in its own query."""
        blocked = frozenset(b for u, b in self._data.blocks if u == viewer.user_id)
        return replace(viewer, blocked=blocked)

    async def threads(
        self,
        course_id: uuid.UUID,
        viewer: Viewer,
        sort: ThreadSort,
        where: ThreadFilter,
        after: ThreadKey | None,
        limit: int,
    ) -> list[ThreadRow]:
        viewer = self._with_blocks(viewer)

        def wanted(t: Thread) -> bool:
            if t.course_id != course_id or not viewer.sees_thread(t) or not _sees_opening(self._data, viewer, t):
                return False
            if where.kind is None and t.kind is ThreadKind.ANNOUNCEMENT:
                return False
            if where.kind is not None and t.kind is not where.kind:
                return False
            if where.lesson_id is not None and t.lesson_id != where.lesson_id:
                return False
            if where.mine and t.author_id != viewer.user_id:
                return False
            if where.followed and self._data.subscriptions.get((t.id, viewer.user_id or uuid.UUID(int=0))) != "follow":
                return False
            return after is None or sort_key(t, sort) < after

        found = sorted(
            (t for t in self._data.threads.values() if wanted(t)), key=lambda t: sort_key(t, sort), reverse=True
        )
        return [self._row(t, viewer.user_id) for t in found[:limit]]

    async def thread(self, thread_id: uuid.UUID, user_id: uuid.UUID | None) -> ThreadRow | None:
        thread = self._data.threads.get(thread_id)
        return None if thread is None else self._row(thread, user_id)

    async def thread_posts(self, thread_id: uuid.UUID) -> list[Post]:
        posts = [copy.copy(p) for p in self._data.posts.values() if p.thread_id == thread_id]
        return sorted(posts, key=lambda p: (p.depth != 0, p.created_at, p.id))

    async def unread_counts(self, user_id: uuid.UUID, viewer: Viewer, course_id: uuid.UUID) -> int:
        viewer = self._with_blocks(viewer)
        return sum(
            1
            for t in self._data.threads.values()
            if t.course_id == course_id
            and t.kind is not ThreadKind.ANNOUNCEMENT
            and viewer.sees_thread(t)
            and _sees_opening(self._data, viewer, t)
            and _unread(self._data, t, user_id)
        )

    async def moderation_queue(
        self, course_id: uuid.UUID, after: tuple[int, uuid.UUID] | None, limit: int
    ) -> list[QueueItem]:
        items = []
        for post in self._data.posts.values():
            thread = self._data.threads[post.thread_id]
            reasons = sorted(r for (p, _), (r, is_open) in self._data.flags.items() if p == post.id and is_open)
            if thread.course_id != course_id or not reasons:
                continue
            if after is not None and (len(reasons), post.id) >= after:
                continue
            items.append(QueueItem(replace(post, flag_count=len(reasons)), course_id, thread.title, reasons))
        items.sort(key=lambda q: (q.post.flag_count, q.post.id), reverse=True)
        return items[:limit]

    async def followers(self, thread_id: uuid.UUID) -> list[uuid.UUID]:
        thread = self._data.threads.get(thread_id)
        if thread is None:
            return []
        subs = self._data.subscriptions
        who = {u for (t, u), s in subs.items() if t == thread_id and s == "follow"}
        who |= {u for c, u in self._data.watches if c == thread.course_id}
        who -= {u for (t, u), s in subs.items() if t == thread_id and s == "mute"}
        who -= {u for u, b in self._data.blocks if b == thread.author_id}
        if thread.cohort_id is not None:
            who = {
                u
                for u in who
                if (m := self._data.members.get((thread.course_id, u))) is None
                or m.staff
                or m.cohort_id == thread.cohort_id
            }
        return sorted(who)

    async def watchers(self, course_id: uuid.UUID) -> list[uuid.UUID]:
        return sorted(u for c, u in self._data.watches if c == course_id)


class FakeCourseMembers(CourseMembers):
    def __init__(self, data: DiscussionData) -> None:
        self._data = data

    async def standing(self, course_id: uuid.UUID, user_id: uuid.UUID | None) -> tuple[ResourceRef, Membership] | None:
        if course_id not in self._data.courses:
            return None
        found = self._data.members.get((course_id, user_id)) if user_id is not None else None
        if found is None or found.staff:
            found = Membership(staff=False, enrolled=False)
        return ResourceRef(ScopeKind.COURSE, course_id), found

    async def audience(self, course_id: uuid.UUID, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Membership]:
        return {u: m for u in user_ids if (m := self._data.members.get((course_id, u))) is not None}

    async def lesson_title(self, course_id: uuid.UUID, lesson_id: uuid.UUID) -> str | None:
        return self._data.lessons.get((course_id, lesson_id))

    async def is_cohort(self, course_id: uuid.UUID, cohort_id: uuid.UUID) -> bool:
        return (course_id, cohort_id) in self._data.cohorts


class FakeAuthors(Authors):
    def __init__(self, data: DiscussionData) -> None:
        self._data = data

    async def authors(self, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Author]:
        return {u: self._data.users[u] for u in user_ids if u in self._data.users}
