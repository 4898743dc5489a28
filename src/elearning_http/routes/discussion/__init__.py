"""Discussion routes: course threads and announcements, a thread with its replies, posts (a thread's opening
post shares the thread's id, so ``/posts/{id}`` serves both it and the replies), votes, follows, moderation,
bans, blocks, blackouts and read marks.

What a caller may not see is a 404 (a thread of another cohort, a hidden post); the course's thread list
answers outsiders 403 (the course itself is public). An anonymous-to-peers post's author is null for every
learner but its author, in every response here (docs/modules/discussion.md).

Re-exported from its parts: ``_schemas`` (bodies, responses and their converters, the refusal handler),
``_course`` (a course's threads, announcements, bans, blackouts and moderation queue), ``_threads`` (a
thread and its flags) and ``_posts`` (posts, votes, moderation of a post, and the caller's blocks).
"""

from litestar import Controller
from litestar.handlers import HTTPRouteHandler

from elearning_http.routes.discussion._course import CourseDiscussionController
from elearning_http.routes.discussion._posts import PostController, block, unblock
from elearning_http.routes.discussion._threads import ThreadController

DISCUSSION_HANDLERS: list[type[Controller] | HTTPRouteHandler] = [
    CourseDiscussionController,
    ThreadController,
    PostController,
    block,
    unblock,
]

__all__ = ["DISCUSSION_HANDLERS", "CourseDiscussionController", "PostController", "ThreadController"]
