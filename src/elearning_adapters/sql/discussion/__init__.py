"""The discussion tables, the store the unit of work serves, the read side, and the narrow reads of the
enrollment, course and identity tables the module needs.

The thread list is the hot read: one statement per page, keyset-paginated on an index per sort order
(``course_id``, then the sort's columns, then ``id``), all descending, so a page is an index range scan
whatever the course's size. The opening post shares its thread's id: the list joins it by primary key for
the excerpt and its moderation state; a reader's last read is joined by its primary key for ``unread``.
Counters (votes, replies, flags) are moved by ``UPDATE ... SET n = n + 1`` in the statement that records
the fact, never read-modify-write, so concurrent voters cannot lose or double a vote.

Re-exported from its parts: ``_tables`` (the tables and row mapping), ``_store`` (the write side in a unit of
work), ``_queries`` (the thread list, the thread page, the notification audience) and ``_members`` (the
narrow reads of enrollment, identity and course).
"""

from __future__ import annotations

from elearning_adapters.sql.discussion._members import SqlAuthors, SqlCourseMembers
from elearning_adapters.sql.discussion._queries import SqlDiscussionQueries, _row_query, _visible_to
from elearning_adapters.sql.discussion._store import SqlDiscussionStore
from elearning_adapters.sql.discussion._tables import (
    DISCUSSION_TABLES,
    discussion_bans,
    discussion_blackouts,
    discussion_blocks,
    discussion_edits,
    discussion_flags,
    discussion_moderation,
    discussion_posts,
    discussion_reads,
    discussion_subscriptions,
    discussion_threads,
    discussion_votes,
    discussion_watches,
)

__all__ = [
    "DISCUSSION_TABLES",
    "SqlAuthors",
    "SqlCourseMembers",
    "SqlDiscussionQueries",
    "SqlDiscussionStore",
    "_row_query",
    "_visible_to",
    "discussion_bans",
    "discussion_blackouts",
    "discussion_blocks",
    "discussion_edits",
    "discussion_flags",
    "discussion_moderation",
    "discussion_posts",
    "discussion_reads",
    "discussion_subscriptions",
    "discussion_threads",
    "discussion_votes",
    "discussion_watches",
]
