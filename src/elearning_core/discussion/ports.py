"""What the discussion module needs from outside: its store (in the unit of work), its read side, and narrow
reads of enrollment (who is a member, in which cohort) and identity (authors' names)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from elearning_core.auth.model import ResourceRef
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
from elearning_core.shared.events import DomainEvent, RecordsEvents
from elearning_core.shared.ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class Membership:
    """A user's standing in a course, as the discussion rules need it."""

    staff: bool
    enrolled: bool
    cohort_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Author:
    display_name: str
    deleted: bool


class CourseMembers(Protocol):
    """The enrollment module's narrow read (and the course staff's grants), for access and mentions."""

    async def standing(self, course_id: uuid.UUID, user_id: uuid.UUID | None) -> tuple[ResourceRef, Membership] | None:
        """The course as the policy sees it (None: no such course) and the user's enrollment (active or
        completed) and cohort in it, in one read: every discussion request asks it first. ``staff`` is False
        here: the policy decides a caller's staff standing from their grants."""
        ...

    async def audience(self, course_id: uuid.UUID, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Membership]:
        """Of ``user_ids``, those enrolled in the course or on its staff (a grant on the course, or a platform
        admin); others are absent. For mentions, which reach only people who can see the thread."""
        ...

    async def lesson_title(self, course_id: uuid.UUID, lesson_id: uuid.UUID) -> str | None:
        """The title of the course's lesson, None when the course has no such lesson."""
        ...

    async def is_cohort(self, course_id: uuid.UUID, cohort_id: uuid.UUID) -> bool:
        """Whether ``cohort_id`` is one of the course's cohorts (a thread or an announcement scoped to any other
        would be seen by staff only)."""
        ...


class Authors(Protocol):
    async def authors(self, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Author]:
        """Display names (and whether the account was deleted) of the users that exist."""
        ...


@dataclass(frozen=True, slots=True)
class ThreadFilter:
    lesson_id: uuid.UUID | None = None
    kind: ThreadKind | None = None
    followed: bool = False
    mine: bool = False


ThreadKey = tuple[int, int | datetime, uuid.UUID]
"""The keyset position of a thread list: (pinned or unanswered, last activity or votes, thread id), all
descending (see ``sort_key``)."""


@dataclass(frozen=True, slots=True)
class ThreadRow:
    thread: Thread
    excerpt: str
    unread: bool
    lesson_title: str | None = None
    author: Author | None = None
    """The thread's author (read with the row, so a page of threads needs no second read for names)."""


@dataclass(frozen=True, slots=True)
class QueueItem:
    post: Post
    course_id: uuid.UUID
    thread_title: str
    reasons: list[str]


class DiscussionStore(Protocol):
    """The write side, in a unit of work; each change's event goes through ``record``."""

    async def add_thread(self, thread: Thread, opening: Post) -> None: ...

    async def thread(self, thread_id: uuid.UUID, *, lock: bool = False) -> Thread | None:
        """The thread; with ``lock``, its row locked until the unit of work ends (PostgreSQL)."""
        ...

    async def save_thread(self, thread: Thread) -> None: ...

    async def post(self, post_id: uuid.UUID) -> Post | None: ...

    async def add_post(self, post: Post) -> None:
        """A reply: stored, and the thread's reply count and last activity moved."""
        ...

    async def save_post(self, post: Post) -> None: ...

    async def add_edit(self, edit: Edit) -> None: ...

    async def edits(self, post_id: uuid.UUID) -> list[Edit]:
        """The post's previous versions, oldest first."""
        ...

    async def vote(self, post_id: uuid.UUID, user_id: uuid.UUID, *, up: bool) -> bool:
        """Add (``up``) or take back the user's vote; False when nothing changed. One vote per person however
        many arrive at once (a unique key, not a read-then-write)."""
        ...

    async def flag(self, post_id: uuid.UUID, user_id: uuid.UUID, reason: str, at: datetime) -> int | None:
        """Record the user's flag; the post's count of open flags after it, or None when they flagged it
        already."""
        ...

    async def resolve_flags(self, post_id: uuid.UUID) -> None:
        """Close the post's open flags (a moderator decided), taking it out of the queue."""
        ...

    async def add_moderation(self, entry: ModerationEntry) -> None: ...

    async def moderation_log(self, post_id: uuid.UUID) -> list[ModerationEntry]: ...

    async def subscribe(self, thread_id: uuid.UUID, user_id: uuid.UUID, state: str | None) -> None:
        """``follow``, ``mute`` or None (neither) for the user on the thread."""
        ...

    async def subscribe_if_new(self, thread_id: uuid.UUID, user_id: uuid.UUID, state: str) -> None:
        """Set ``state`` unless the user already chose (a replier who muted the thread stays muted)."""
        ...

    async def watch(self, course_id: uuid.UUID, user_id: uuid.UUID, on: bool) -> None: ...

    async def mark_read(self, thread_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> None: ...

    async def ban(self, ban: Ban) -> None:
        """Set (or replace) the user's ban from the course's discussion."""
        ...

    async def active_ban(self, course_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> Ban | None: ...

    async def block(self, user_id: uuid.UUID, blocked_id: uuid.UUID, on: bool) -> None: ...

    async def blocked_by(self, user_id: uuid.UUID) -> frozenset[uuid.UUID]: ...

    async def blockers(self, author_id: uuid.UUID, among: Collection[uuid.UUID]) -> set[uuid.UUID]:
        """Those of ``among`` who blocked ``author_id`` (their mentions by that author are dropped)."""
        ...

    async def blackouts(self, course_id: uuid.UUID) -> list[Blackout]: ...

    async def set_blackouts(self, course_id: uuid.UUID, periods: Sequence[Blackout]) -> None: ...

    def record(self, event: DomainEvent) -> None: ...

    def seen(self) -> list[RecordsEvents]: ...


class DiscussionUnitOfWork(UnitOfWork, Protocol):
    discussion: DiscussionStore


class DiscussionQueries(Protocol):
    """The read side, outside any write transaction."""

    async def blocked_by(self, user_id: uuid.UUID) -> frozenset[uuid.UUID]: ...

    async def threads(
        self,
        course_id: uuid.UUID,
        viewer: Viewer,
        sort: ThreadSort,
        where: ThreadFilter,
        after: ThreadKey | None,
        limit: int,
    ) -> list[ThreadRow]:
        """Threads the viewer may see (cohort, hidden opening posts and the authors the viewer blocked left out
        for learners, the blocks read here rather than from ``viewer.blocked``), announcements excluded unless
        ``where.kind`` asks for them, in ``sort`` order after ``after``."""
        ...

    async def thread(self, thread_id: uuid.UUID, user_id: uuid.UUID | None) -> ThreadRow | None:
        """The thread with its lesson's title and whether ``user_id`` has read its latest activity."""
        ...

    async def thread_posts(self, thread_id: uuid.UUID) -> list[Post]:
        """Every post of the thread, opening post first then in creation order, in one statement."""
        ...

    async def unread_counts(self, user_id: uuid.UUID, viewer: Viewer, course_id: uuid.UUID) -> int:
        """Threads of the course the viewer may see with activity after their last read (never read: unread)."""
        ...

    async def moderation_queue(
        self, course_id: uuid.UUID, after: tuple[int, uuid.UUID] | None, limit: int
    ) -> list[QueueItem]:
        """Posts of the course with open flags, most flagged first."""
        ...


class DiscussionAudience(Protocol):
    """The narrow read the notification module fans out with (events never carry follower lists)."""

    async def followers(self, thread_id: uuid.UUID) -> list[uuid.UUID]:
        """Who follows the thread, plus who watches its course, minus who muted it and who blocked its
        author, limited to the thread's cohort (and staff) when it has one."""
        ...

    async def watchers(self, course_id: uuid.UUID) -> list[uuid.UUID]:
        """Who watches the whole course."""
        ...


def sort_key(thread: Thread, sort: ThreadSort) -> ThreadKey:
    if sort is ThreadSort.VOTES:
        return (int(thread.pinned), thread.votes, thread.id)
    if sort is ThreadSort.UNANSWERED:
        return (int(thread.unanswered), thread.last_activity_at, thread.id)
    return (int(thread.pinned), thread.last_activity_at, thread.id)
