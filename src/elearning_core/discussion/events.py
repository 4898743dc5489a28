"""Discussion events on the ``elearning.discussion`` topic (``aggregate_id`` = the thread's id, so one
thread's events keep their order).

They carry what the notification module needs to write its messages without reading the discussion back
(course, thread title, excerpt, lesson), but never the followers or watchers: a consumer asks
``DiscussionAudience.followers`` / ``watchers`` when it fans out, so the list is current and excludes
muted threads and blocked authors. ``author_id`` is always the real author, with ``anonymous`` saying
whether learners may be shown it: a learner-facing message of an anonymous post must not name them.
``mentioned`` lists only users who can see the thread.
"""

from __future__ import annotations

import uuid

from elearning_core.shared.events import DomainEvent


class ThreadCreated(DomainEvent):
    type = "discussion.thread_created.v1"
    course_id: uuid.UUID
    thread_id: uuid.UUID
    lesson_id: uuid.UUID | None
    cohort_id: uuid.UUID | None
    kind: str
    title: str
    excerpt: str
    author_id: uuid.UUID
    anonymous: bool


class ReplyPosted(DomainEvent):
    type = "discussion.reply_posted.v1"
    course_id: uuid.UUID
    thread_id: uuid.UUID
    thread_title: str
    cohort_id: uuid.UUID | None
    post_id: uuid.UUID
    parent_id: uuid.UUID
    """The post replied to: the thread's opening post (same id as the thread) or a response."""
    parent_author_id: uuid.UUID | None
    depth: int
    excerpt: str
    author_id: uuid.UUID
    anonymous: bool


class Mentioned(DomainEvent):
    type = "discussion.mentioned.v1"
    course_id: uuid.UUID
    thread_id: uuid.UUID
    thread_title: str
    post_id: uuid.UUID
    excerpt: str
    author_id: uuid.UUID
    anonymous: bool
    mentioned_user_ids: list[uuid.UUID]
    """Already filtered: only users who can see the thread (and who have not blocked the author)."""


class AnswerAccepted(DomainEvent):
    type = "discussion.answer_accepted.v1"
    course_id: uuid.UUID
    thread_id: uuid.UUID
    thread_title: str
    post_id: uuid.UUID
    answer_author_id: uuid.UUID | None
    accepted_by: uuid.UUID | None


class AnnouncementPosted(DomainEvent):
    type = "discussion.announcement_posted.v1"
    course_id: uuid.UUID
    announcement_id: uuid.UUID
    title: str
    body_html: str
    """Rendered and sanitised: the notification module puts it in mails and the in-app inbox as it is."""
    author_id: uuid.UUID | None
    cohort_id: uuid.UUID | None
    """Null: every enrolled learner; otherwise that cohort's learners only."""


class PostHidden(DomainEvent):
    type = "discussion.post_hidden.v1"
    course_id: uuid.UUID
    thread_id: uuid.UUID
    post_id: uuid.UUID
    author_id: uuid.UUID | None
    action: str
    """``hide``, ``delete`` or ``auto_hide`` (after enough flags from distinct people)."""
    reason: str


class PostEdited(DomainEvent):
    type = "discussion.post_edited.v1"
    course_id: uuid.UUID
    thread_id: uuid.UUID
    post_id: uuid.UUID
    editor_id: uuid.UUID
    title_changed: bool
    """The opening post's edit also changed the thread's title."""


class PostRestored(DomainEvent):
    type = "discussion.post_restored.v1"
    course_id: uuid.UUID
    thread_id: uuid.UUID
    post_id: uuid.UUID
