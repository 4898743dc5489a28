"""Discussion use cases: threads, replies, votes, answers, staff switches, moderation, reads, announcements.

Access follows the platform's gating: the course's staff (``course.view_unpublished``, teaching assistants
included) read, post and moderate; enrolled learners (active or completed) read and post; a learner
sees a cohort-scoped thread only in that cohort. A thread or post the caller may not see is a 404, as if it
did not exist; the course's thread list refuses outsiders with a 403 (the course itself is public).

Following: a thread's author follows it, and so does whoever replies to it (Discourse's default: you
hear about the conversation you joined); muting a thread undoes either, and a muted thread stays muted
when its muter replies again.

Re-exported from its parts: ``_base`` (wiring, who the caller is in a course, the views), ``_posts``
(threads, replies, votes, answers, staff switches, following), ``_reads`` (lists, thread pages, unread
counts, announcements) and ``_moderation`` (flags, the queue, hide/restore/delete, bans, blocks, blackouts).
"""

from __future__ import annotations

from elearning_core.discussion.service._base import FOLLOW, MUTE, STAFF_PERMISSION
from elearning_core.discussion.service._moderation import _Moderation
from elearning_core.discussion.service._posts import _Posts
from elearning_core.discussion.service._reads import _Reads


class DiscussionService(_Posts, _Reads, _Moderation):
    """The discussion module's use cases (see the parts for each group)."""


__all__ = ["FOLLOW", "MUTE", "STAFF_PERMISSION", "DiscussionService"]
