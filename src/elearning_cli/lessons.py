"""``elearning lessons attachments COURSE LESSON``: a lesson's uploaded files, as the admin sees them."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from elearning_cli._common import collect, handle_errors, load_settings, open_platform, parse_uuid, run
from elearning_cli._output import Field, FormatOption, render
from elearning_cli.enrollments import CourseArgument, resolve_course
from elearning_core.shared.ports import SYSTEM

if TYPE_CHECKING:
    from elearning_core.attachment.model import LessonAttachment

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS

LessonArgument = Annotated[str, typer.Argument(help="The lesson's id.", metavar="LESSON")]

ATTACHMENT_FIELDS: list[Field[LessonAttachment]] = [
    Field("id", lambda a: a.id, "Id", whole=True),
    Field("name", lambda a: a.name, "Name", whole=True),
    Field("content_type", lambda a: a.content_type, "Type"),
    Field("size", lambda a: a.size, "Bytes"),
    Field("sha256", lambda a: a.sha256),
    Field("uploaded_by", lambda a: a.uploaded_by),
    Field("created_at", lambda a: a.created_at, "Added"),
]


async def _attachments(course: str, lesson_id: uuid.UUID) -> list[LessonAttachment]:
    async with open_platform(load_settings()) as platform:
        course_id = await resolve_course(platform, course)
        items, _ = await collect(
            lambda cursor, size: platform.attachments.list_attachments(
                SYSTEM, course_id, lesson_id, cursor=cursor, limit=size
            )
        )
        return items


@app.command("attachments")
@handle_errors
def attachments(course: CourseArgument, lesson: LessonArgument, output: FormatOption = "table") -> None:
    """List a lesson's files (oldest first): name, sniffed type, size, SHA-256."""
    items = run(_attachments(course, parse_uuid(lesson, "the lesson id")))
    render(items, ATTACHMENT_FIELDS, output, title=f"Attachments: {len(items)}", empty="No attachments.")
