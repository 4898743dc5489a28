"""Threads, posts and the rules on them: who may post, edit, vote, accept, moderate, and what a viewer sees.

A thread's opening post shares the thread's id, so votes, flags, edits and moderation name one kind of
thing (a post) whatever its depth: 0 the thread's opening post, 1 a response, 2 a comment on a response.
Posts are never removed from storage: deletion is a moderation state kept with its reason in the audit
trail, and a deleted account's posts stay, shown as a deleted user.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from elearning_core.shared.errors import Conflict, FieldError, PermissionDenied, ValidationFailed

TITLE_MAX = 200
BODY_MAX = 20_000
REASON_MAX = 500
MAX_DEPTH = 2
"""Replies two levels deep: a response (1) and a comment on a response (2)."""
MENTIONS_MAX = 20

_MENTION = re.compile(r"(?<![\w@])@([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\b")


class ThreadKind(enum.StrEnum):
    QUESTION = "question"
    DISCUSSION = "discussion"
    ANNOUNCEMENT = "announcement"
    """Posted by staff through the announcements resource; not listed among the threads."""


class ThreadSort(enum.StrEnum):
    ACTIVITY = "activity"
    VOTES = "votes"
    UNANSWERED = "unanswered"


class PostState(enum.StrEnum):
    VISIBLE = "visible"
    HIDDEN = "hidden"
    DELETED = "deleted"


class ModerationAction(enum.StrEnum):
    HIDE = "hide"
    RESTORE = "restore"
    DELETE = "delete"
    AUTO_HIDE = "auto_hide"


class ThreadFlag(enum.StrEnum):
    """What staff switch on a thread: pinned (listed first), closed (no new replies), locked (no edits)."""

    PINNED = "pinned"
    CLOSED = "closed"
    LOCKED = "locked"


class DiscussionRefusal(enum.StrEnum):
    """The rule a 409 names (``urn:elearning:problem:<value>``)."""

    THREAD_CLOSED = "thread-closed"
    THREAD_LOCKED = "thread-locked"
    BLACKOUT = "discussion-blackout"
    BANNED = "discussion-banned"
    TOO_DEEP = "reply-too-deep"
    NOT_A_QUESTION = "not-a-question"


class DiscussionRuleBroken(Conflict):
    def __init__(self, reason: DiscussionRefusal, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{name} {message}", [FieldError(name, message)])


def check_title(value: str) -> str:
    title = value.strip()
    if not title or len(title) > TITLE_MAX:
        raise _invalid("title", f"must be 1 to {TITLE_MAX} characters")
    return title


def check_body(value: str) -> str:
    if not value.strip() or len(value) > BODY_MAX:
        raise _invalid("body", f"must be 1 to {BODY_MAX} characters")
    return value


def check_reason(value: str) -> str:
    reason = value.strip()
    if not reason or len(reason) > REASON_MAX:
        raise _invalid("reason", f"must be 1 to {REASON_MAX} characters")
    return reason


def mentioned_ids(body: str) -> list[uuid.UUID]:
    """The users a body mentions, in order of first mention, at most ``MENTIONS_MAX``.

    Identity has no usernames (display names are neither unique nor stable), so a mention is ``@`` and
    the user's id, which the client's autocomplete inserts; the renderer leaves it as plain text.
    """
    found: list[uuid.UUID] = []
    for match in _MENTION.finditer(body):
        user_id = uuid.UUID(match.group(1))
        if user_id not in found:
            found.append(user_id)
        if len(found) == MENTIONS_MAX:
            break
    return found


@dataclass(slots=True)
class Thread:
    id: uuid.UUID
    course_id: uuid.UUID
    kind: ThreadKind
    title: str
    author_id: uuid.UUID | None
    anonymous: bool
    created_at: datetime
    last_activity_at: datetime
    lesson_id: uuid.UUID | None = None
    cohort_id: uuid.UUID | None = None
    accepted_post_id: uuid.UUID | None = None
    pinned: bool = False
    closed: bool = False
    locked: bool = False
    votes: int = 0
    reply_count: int = 0

    @property
    def unanswered(self) -> bool:
        """A question without an accepted answer (sorted first by ``unanswered``)."""
        return self.kind is ThreadKind.QUESTION and self.accepted_post_id is None

    def check_reply(self, depth: int) -> None:
        if self.closed:
            raise DiscussionRuleBroken(DiscussionRefusal.THREAD_CLOSED, "the thread is closed: no new replies")
        if depth > MAX_DEPTH:
            raise DiscussionRuleBroken(
                DiscussionRefusal.TOO_DEEP, "replies go two levels deep: comment on a response, not on a comment"
            )

    def check_edit(self) -> None:
        if self.locked:
            raise DiscussionRuleBroken(DiscussionRefusal.THREAD_LOCKED, "the thread is locked: no edits")

    def check_accept(self) -> None:
        if self.kind is not ThreadKind.QUESTION:
            raise DiscussionRuleBroken(DiscussionRefusal.NOT_A_QUESTION, "only a question has an accepted answer")


@dataclass(slots=True)
class Post:
    id: uuid.UUID
    thread_id: uuid.UUID
    parent_id: uuid.UUID | None
    depth: int
    author_id: uuid.UUID | None
    anonymous: bool
    body: str
    created_at: datetime
    edited_at: datetime | None = None
    votes: int = 0
    endorsed: bool = False
    state: PostState = PostState.VISIBLE
    flag_count: int = 0

    def check_author(self, user_id: uuid.UUID) -> None:
        if self.author_id != user_id:
            raise PermissionDenied("discussion.edit", "only the author or the course's staff may edit a post")


@dataclass(frozen=True, slots=True)
class Edit:
    post_id: uuid.UUID
    editor_id: uuid.UUID | None
    at: datetime
    previous_body: str


@dataclass(frozen=True, slots=True)
class ModerationEntry:
    id: uuid.UUID
    course_id: uuid.UUID
    post_id: uuid.UUID
    action: ModerationAction
    actor_id: uuid.UUID | None
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Ban:
    course_id: uuid.UUID
    user_id: uuid.UUID
    until: datetime
    reason: str

    def active(self, now: datetime) -> bool:
        return now < self.until


@dataclass(frozen=True, slots=True)
class Blackout:
    starts_at: datetime
    ends_at: datetime

    def covers(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who reads or writes, as the discussion rules need them: staff, or a member (enrolled) in a cohort."""

    user_id: uuid.UUID | None
    staff: bool
    member: bool
    cohort_id: uuid.UUID | None = None
    blocked: frozenset[uuid.UUID] = field(default_factory=frozenset)

    def sees_thread(self, thread: Thread) -> bool:
        if self.staff:
            return True
        if not self.member:
            return False
        return thread.cohort_id is None or thread.cohort_id == self.cohort_id

    def sees_post(self, post: Post) -> bool:
        """Learners see neither hidden or deleted posts (their own hidden ones aside) nor those of people they
        blocked; staff see everything, marked."""
        if self.staff:
            return True
        if post.author_id is not None and post.author_id in self.blocked:
            return False
        return post.state is PostState.VISIBLE or (
            post.state is PostState.HIDDEN and post.author_id is not None and post.author_id == self.user_id
        )

    def shown_author(self, author_id: uuid.UUID | None, anonymous: bool) -> uuid.UUID | None:
        """The author a viewer is shown: an anonymous-to-peers post shows its author to staff and to the
        author only."""
        if anonymous and not self.staff and (author_id is None or author_id != self.user_id):
            return None
        return author_id


def check_can_post(viewer: Viewer, now: datetime, ban: Ban | None, blackouts: list[Blackout]) -> None:
    """Staff post whenever; a learner not while banned from the course's discussion or during a blackout."""
    if viewer.staff:
        return
    if ban is not None and ban.active(now):
        raise DiscussionRuleBroken(
            DiscussionRefusal.BANNED, f"you may not post in this course's discussion until {ban.until.isoformat()}"
        )
    for period in blackouts:
        if period.covers(now):
            raise DiscussionRuleBroken(
                DiscussionRefusal.BLACKOUT,
                f"the course's discussion is closed to learners until {period.ends_at.isoformat()}",
            )
