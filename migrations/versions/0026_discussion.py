"""Discussion: threads and their posts (the opening post shares the thread's id), edits, votes, flags,
the moderation audit trail, follows/mutes, course watches, read marks, bans, blocks and blackouts.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "discussion_threads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("lesson_id", sa.Uuid(), nullable=True),
        sa.Column("cohort_id", sa.Uuid(), nullable=True),
        sa.Column("accepted_post_id", sa.Uuid(), nullable=True),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("unanswered", sa.Boolean(), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("reply_count", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("last_activity_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_discussion_threads_activity", "discussion_threads", ["course_id", "pinned", "last_activity_at", "id"]
    )
    op.create_index("ix_discussion_threads_votes", "discussion_threads", ["course_id", "pinned", "votes", "id"])
    op.create_index(
        "ix_discussion_threads_unanswered",
        "discussion_threads",
        ["course_id", "unanswered", "last_activity_at", "id"],
    )
    op.create_table(
        "discussion_posts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("thread_id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("depth", sa.SmallInteger(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("edited_at", _TIME, nullable=True),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("endorsed", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("flag_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["thread_id"], ["discussion_threads.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_discussion_posts_thread", "discussion_posts", ["thread_id", "created_at"])
    op.create_index("ix_discussion_posts_flagged", "discussion_posts", ["flag_count", "id"])
    op.create_table(
        "discussion_edits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("editor_id", sa.Uuid(), nullable=True),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("previous_body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["discussion_posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_discussion_edits_post", "discussion_edits", ["post_id"])
    op.create_table(
        "discussion_votes",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["discussion_posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("post_id", "user_id"),
    )
    op.create_table(
        "discussion_flags",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["discussion_posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("post_id", "user_id"),
    )
    op.create_table(
        "discussion_moderation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["discussion_posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_discussion_moderation_post", "discussion_moderation", ["post_id"])
    op.create_table(
        "discussion_subscriptions",
        sa.Column("thread_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(["thread_id"], ["discussion_threads.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("thread_id", "user_id"),
    )
    op.create_table(
        "discussion_watches",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("course_id", "user_id"),
    )
    op.create_table(
        "discussion_reads",
        sa.Column("thread_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("read_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["thread_id"], ["discussion_threads.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("thread_id", "user_id"),
    )
    op.create_table(
        "discussion_bans",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("until", _TIME, nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("course_id", "user_id"),
    )
    op.create_table(
        "discussion_blocks",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("blocked_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "blocked_id"),
    )
    op.create_index("ix_discussion_blocks_blocked", "discussion_blocks", ["blocked_id"])
    op.create_table(
        "discussion_blackouts",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", _TIME, nullable=False),
        sa.Column("ends_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("course_id", "starts_at"),
    )


def downgrade() -> None:
    op.drop_table("discussion_blackouts")
    op.drop_index("ix_discussion_blocks_blocked", table_name="discussion_blocks")
    op.drop_table("discussion_blocks")
    op.drop_table("discussion_bans")
    op.drop_table("discussion_reads")
    op.drop_table("discussion_watches")
    op.drop_table("discussion_subscriptions")
    op.drop_index("ix_discussion_moderation_post", table_name="discussion_moderation")
    op.drop_table("discussion_moderation")
    op.drop_table("discussion_flags")
    op.drop_table("discussion_votes")
    op.drop_index("ix_discussion_edits_post", table_name="discussion_edits")
    op.drop_table("discussion_edits")
    op.drop_index("ix_discussion_posts_flagged", table_name="discussion_posts")
    op.drop_index("ix_discussion_posts_thread", table_name="discussion_posts")
    op.drop_table("discussion_posts")
    op.drop_index("ix_discussion_threads_unanswered", table_name="discussion_threads")
    op.drop_index("ix_discussion_threads_votes", table_name="discussion_threads")
    op.drop_index("ix_discussion_threads_activity", table_name="discussion_threads")
    op.drop_table("discussion_threads")
