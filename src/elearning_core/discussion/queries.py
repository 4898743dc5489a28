"""What readers are shown: threads and posts with the author as the viewer may see them, bodies rendered."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from elearning_core.discussion.model import Edit, Post, PostState, Thread, ThreadKind, Viewer
from elearning_core.discussion.ports import Author
from elearning_core.identity.model import DELETED_NAME

DELETED_USER = DELETED_NAME
ANONYMOUS = "anonymous"
EXCERPT_MAX = 280


def excerpt(body: str) -> str:
    """The start of a post's Markdown source on one line (lists and events carry it, never rendered)."""
    flat = " ".join(body.split())
    return flat if len(flat) <= EXCERPT_MAX else flat[: EXCERPT_MAX - 1] + "…"


@dataclass(frozen=True, slots=True)
class AuthorView:
    user_id: uuid.UUID | None
    """Null when the viewer may not know who wrote it (anonymous to peers) or the account was deleted."""
    name: str
    anonymous: bool
    deleted: bool

    @classmethod
    def of(
        cls, viewer: Viewer, author_id: uuid.UUID | None, anonymous: bool, authors: dict[uuid.UUID, Author]
    ) -> AuthorView:
        shown = viewer.shown_author(author_id, anonymous)
        if shown is None:
            return cls(None, ANONYMOUS if anonymous else DELETED_USER, anonymous, author_id is None)
        known = authors.get(shown)
        if known is None or known.deleted:
            return cls(None, DELETED_USER, anonymous, True)
        return cls(shown, known.display_name, anonymous, False)


@dataclass(frozen=True, slots=True)
class PostView:
    id: uuid.UUID
    thread_id: uuid.UUID
    parent_id: uuid.UUID | None
    depth: int
    author: AuthorView
    body: str
    body_html: str
    created_at: datetime
    edited_at: datetime | None
    votes: int
    endorsed: bool
    accepted: bool
    state: PostState


@dataclass(frozen=True, slots=True)
class ThreadView:
    id: uuid.UUID
    course_id: uuid.UUID
    kind: ThreadKind
    title: str
    author: AuthorView
    lesson_id: uuid.UUID | None
    lesson_title: str | None
    cohort_id: uuid.UUID | None
    created_at: datetime
    last_activity_at: datetime
    votes: int
    reply_count: int
    accepted_post_id: uuid.UUID | None
    pinned: bool
    closed: bool
    locked: bool
    excerpt: str
    unread: bool


@dataclass(frozen=True, slots=True)
class ThreadPage:
    thread: ThreadView
    posts: list[PostView]
    """The opening post first, then each response followed by its comments, oldest first."""


@dataclass(frozen=True, slots=True)
class QueueView:
    """A flagged post in the moderation queue (staff only: the author is always shown)."""

    post: PostView
    course_id: uuid.UUID
    thread_title: str
    flags: int
    reasons: list[str]


@dataclass(frozen=True, slots=True)
class EditView:
    editor: AuthorView
    at: datetime
    previous_body: str


def thread_view(
    viewer: Viewer,
    thread: Thread,
    authors: dict[uuid.UUID, Author],
    *,
    excerpt_text: str,
    unread: bool,
    lesson_title: str | None = None,
) -> ThreadView:
    return ThreadView(
        thread.id,
        thread.course_id,
        thread.kind,
        thread.title,
        AuthorView.of(viewer, thread.author_id, thread.anonymous, authors),
        thread.lesson_id,
        lesson_title,
        thread.cohort_id,
        thread.created_at,
        thread.last_activity_at,
        thread.votes,
        thread.reply_count,
        thread.accepted_post_id,
        thread.pinned,
        thread.closed,
        thread.locked,
        excerpt_text,
        unread,
    )


def ordered(posts: list[Post]) -> list[Post]:
    """Opening post, then each response followed by its comments, each level oldest first."""
    children: dict[uuid.UUID | None, list[Post]] = {}
    for post in sorted(posts, key=lambda p: (p.created_at, p.id)):
        children.setdefault(post.parent_id, []).append(post)
    out: list[Post] = []

    def walk(parent: uuid.UUID | None) -> None:
        for post in children.get(parent, []):
            out.append(post)
            walk(post.id)

    walk(None)
    return out


def edit_view(viewer: Viewer, edit: Edit, post: Post, authors: dict[uuid.UUID, Author]) -> EditView:
    # The author's own edits of an anonymous post stay anonymous to peers; a moderator's show to staff only.
    anonymous = post.anonymous if edit.editor_id == post.author_id else not viewer.staff
    return EditView(AuthorView.of(viewer, edit.editor_id, anonymous, authors), edit.at, edit.previous_body)
