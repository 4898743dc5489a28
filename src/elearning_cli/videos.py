"""``elearning videos``: list videos, show one's processing status, send one through the media pipeline again.

``reprocess`` records ``video.upload_completed.v1`` again, which the
``video-processing`` consumer picks up: ``elearning serve`` with the embedded
default, ``elearning worker consume video-processing`` with Kafka. ``--here``
runs the pipeline in this command's process instead (when neither runs), and
``--wait`` waits for the outcome.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from elearning_cli._common import (
    CliError,
    collect,
    handle_errors,
    info,
    load_settings,
    open_platform,
    parse_uuid,
    run,
    stdout_console,
)
from elearning_cli._output import Field, FormatOption, render, rows_as_json
from elearning_core.shared.ports import SYSTEM

if TYPE_CHECKING:
    from elearning_core.video.model import Video

app = typer.Typer(no_args_is_help=True)  # its help: elearning_cli.main.GROUPS

VideoArgument = Annotated[str, typer.Argument(help="The video's id.", metavar="VIDEO")]
_STYLE = {"draft": "dim", "uploading": "cyan", "processing": "yellow", "ready": "green", "failed": "bold red"}


async def _list(course: uuid.UUID | None, limit: int) -> list[Video]:
    async with open_platform(load_settings()) as platform:
        videos, _ = await collect(
            lambda cursor, size: platform.videos.list_videos(SYSTEM, course, cursor=cursor, limit=size), limit
        )
        return videos


def _status_cell(video: Video) -> str:
    return video.status.value + (f" {video.progress}%" if video.status.value == "processing" else "")


VIDEO_FIELDS: list[Field[Video]] = [
    Field("id", lambda v: v.id, "Id", whole=True),
    Field("course_id", lambda v: v.course_id, "Course", whole=True),
    Field("title", lambda v: v.title, "Title"),
    Field("status", lambda v: v.status, "Status", cell=_status_cell, style=lambda v: _STYLE[v.status.value]),
    Field("progress", lambda v: v.progress),
    Field("failure_reason", lambda v: v.failure_reason or None),
    Field("duration_seconds", lambda v: v.duration_seconds),
    Field("width", lambda v: v.width),
    Field("height", lambda v: v.height),
    Field(
        "renditions",
        lambda v: [r.name for r in v.renditions],
        "Renditions",
        cell=lambda v: ",".join(r.name for r in v.renditions) or "-",
    ),
    Field("source_size", lambda v: v.source.size if v.source else None),
    Field("source_sha256", lambda v: v.source.sha256 if v.source else None),
    Field("created_at", lambda v: v.created_at),
    Field("updated_at", lambda v: v.updated_at, "Updated"),
]


@app.command("list")
@handle_errors
def list_videos(
    course: Annotated[str | None, typer.Option("--course", help="Only this course's videos (its id).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Show at most this many (oldest first).")] = 100,
    output: FormatOption = "table",
) -> None:
    """List videos, oldest first, with their status."""
    course_id = parse_uuid(course, "the course id") if course else None
    videos = run(_list(course_id, limit))
    render(videos, VIDEO_FIELDS, output, title=f"Videos: {len(videos)}", empty="No videos.")


async def _get(video_id: uuid.UUID) -> Video:
    async with open_platform(load_settings()) as platform:
        return await platform.videos.get_video(SYSTEM, video_id)


def _print_status(video: Video, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows_as_json([video], VIDEO_FIELDS)[0], indent=2, ensure_ascii=False))
        return
    lines = [f"{video.title} ({video.id})", f"status: {video.status.value}"]
    if video.status.value == "processing":
        lines.append(f"progress: {video.progress}%")
    if video.failure_reason:
        lines.append(f"reason: {video.failure_reason}")
    if video.renditions:
        lines.append(f"renditions: {', '.join(r.name for r in video.renditions)}")
    if video.duration_seconds is not None:
        lines.append(f"duration: {video.duration_seconds:.2f} s, {video.width}x{video.height}")
    for line in lines:
        stdout_console().print(Text(line))


@app.command("status")
@handle_errors
def status(
    video: VideoArgument,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a video's status, processing progress and failure reason."""
    _print_status(run(_get(parse_uuid(video, "the video id"))), as_json)


async def _reprocess(video_id: uuid.UUID, here: bool, wait: float) -> Video:
    async with open_platform(load_settings()) as platform:
        result = await platform.videos.reprocess(SYSTEM, video_id)
        if here:
            await platform.videos.process(video_id)
            return await platform.videos.get_video(SYSTEM, video_id)
        deadline = time.monotonic() + wait
        while wait > 0 and result.status.value == "processing" and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            result = await platform.videos.get_video(SYSTEM, video_id)
        if wait > 0 and result.status.value == "processing":
            raise CliError(f"video {video_id} is still processing after {wait:g} s (is a consumer running?)")
        return result


@app.command("reprocess")
@handle_errors
def reprocess(
    video: VideoArgument,
    here: Annotated[
        bool, typer.Option("--here", help="Run the pipeline in this process (ffmpeg) instead of a consumer.")
    ] = False,
    wait: Annotated[
        float, typer.Option(min=0, help="Wait up to this many seconds for the consumer to finish (0: do not wait).")
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the video as JSON.")] = False,
) -> None:
    """Send a video through the media pipeline again (its output is replaced)."""
    result = run(_reprocess(parse_uuid(video, "the video id"), here, wait))
    if not here and not wait:
        info("Queued: the video-processing consumer (elearning serve, or elearning worker consume) transcodes it.")
    _print_status(result, as_json)
