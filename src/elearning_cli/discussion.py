"""``elearning discussion moderation-queue COURSE``: the flagged posts of a course's discussion, most flagged
first, for a moderator working from a shell (the same queue as ``GET .../discussion/moderation-queue``)."""

from __future__ import annotations

import typer

from elearning_cli._common import handle_errors, load_settings, open_platform, run
from elearning_cli._output import Field, FormatOption, render
from elearning_cli.enrollments import CourseArgument, resolve_course
from elearning_core.discussion.queries import QueueView
from elearning_core.shared.pagination import MAX_PAGE_SIZE
from elearning_core.shared.ports import SYSTEM

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS

MAX_PAGES = 100
"""At most this many pages (of 100) are read: a queue longer than 10,000 posts is listed in part."""

QUEUE_FIELDS: list[Field[QueueView]] = [
    Field("post_id", lambda q: q.post.id, "Post", whole=True),
    Field("thread_title", lambda q: q.thread_title, "Thread"),
    Field("flags", lambda q: q.flags, "Flags"),
    Field("reasons", lambda q: "; ".join(q.reasons), "Reasons"),
    Field("state", lambda q: q.post.state, "State"),
    Field("author_id", lambda q: q.post.author.user_id, "Author"),
    Field("excerpt", lambda q: q.post.body[:80], "Excerpt"),
]


async def _queue(course: str) -> list[QueueView]:
    async with open_platform(load_settings()) as platform:
        course_id = await resolve_course(platform, course)
        items: list[QueueView] = []
        cursor = None
        for _ in range(MAX_PAGES):
            page = await platform.discussion.moderation_queue(SYSTEM, course_id, cursor=cursor, limit=MAX_PAGE_SIZE)
            items.extend(page.items)
            if (cursor := page.next_cursor) is None:
                break
        return items


@app.command("moderation-queue")
@handle_errors
def moderation_queue(
    course: CourseArgument,
    output: FormatOption = "table",
) -> None:
    """The course's flagged posts to review, most flagged first."""
    items = run(_queue(course))
    render(items, QUEUE_FIELDS, output, title=f"{len(items)} flagged post(s)", empty="nothing to review")
