"""The discussion tables, the row mapping, and the staff test the reads share."""

from __future__ import annotations

import uuid
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
    or_,
    select,
)

from elearning_adapters.sql.course import courses
from elearning_adapters.sql.engine import UtcDateTime, metadata
from elearning_adapters.sql.identity import PLATFORM_SCOPE_ID, user_grants
from elearning_core.auth.model import ScopeKind, staff_roles_on
from elearning_core.discussion.model import (
    Post,
    PostState,
    Thread,
    ThreadKind,
)

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


STAFF_ROLES_ON = {
    kind: tuple(role.value for role in staff_roles_on(kind))
    for kind in (ScopeKind.COURSE, ScopeKind.ORGANIZATION, ScopeKind.PLATFORM)
}
"""The roles that make a user a course's staff when granted on the course, its organization or the platform,
from the role policy's own tables (``staff_roles_on``), so the SQL reads cannot drift from it."""


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


def _staff_grant(user_id: Any, course_id: uuid.UUID) -> Any:
    """Whether the user is the course's discussion staff as the role policy decides it (``RolePolicy`` asked
    for ``COURSE_STAFF`` on the course): a staff role granted on the course, on its organization or on the
    platform, or the course's owner (the policy's implicit instructor grant).

    ``user_id`` must be a column of the SELECT that immediately encloses this EXISTS: SQLAlchemy correlates a
    subquery to that SELECT only, and a column from further out would join its table in here instead (any
    staff member among them would make everyone staff)."""
    g, c = user_grants, courses
    organization = select(c.c.organization_id).where(c.c.id == course_id).scalar_subquery()
    owner = select(c.c.owner_id).where(c.c.id == course_id).scalar_subquery()
    on = STAFF_ROLES_ON
    granted = (
        select(g.c.user_id)
        .where(
            g.c.user_id == user_id,
            or_(
                and_(g.c.scope_kind == "course", g.c.scope_id == course_id, g.c.role.in_(on[ScopeKind.COURSE])),
                and_(
                    g.c.scope_kind == "organization",
                    g.c.scope_id == organization,
                    g.c.role.in_(on[ScopeKind.ORGANIZATION]),
                ),
                and_(
                    g.c.scope_kind == "platform",
                    g.c.scope_id == PLATFORM_SCOPE_ID,
                    g.c.role.in_(on[ScopeKind.PLATFORM]),
                ),
            ),
        )
        .exists()
    )
    # Never NULL (a course without an owner): callers negate it.
    return or_(granted, and_(owner.is_not(None), owner == user_id))


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
