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
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from elearning_cli._common import (
    CliError,
    collect,
    format_time,
    handle_errors,
    info,
    load_settings,
    open_platform,
    parse_uuid,
    run,
    stdout_console,
)
from elearning_core.shared.ports import SYSTEM

if TYPE_CHECKING:
    from elearning_core.video.model import Video

app = typer.Typer(help="List videos, show their processing status, reprocess them.", no_args_is_help=True)

VideoArgument = Annotated[str, typer.Argument(help="The video's id.", metavar="VIDEO")]
_STYLE = {"draft": "dim", "uploading": "cyan", "processing": "yellow", "ready": "green", "failed": "bold red"}


def video_json(video: Video) -> dict[str, Any]:
    return {
        "id": str(video.id),
        "course_id": str(video.course_id),
        "title": video.title,
        "status": video.status.value,
        "progress": video.progress,
        "failure_reason": video.failure_reason or None,
        "duration_seconds": video.duration_seconds,
        "width": video.width,
        "height": video.height,
        "renditions": [r.name for r in video.renditions],
        "source_size": video.source.size if video.source else None,
        "source_sha256": video.source.sha256 if video.source else None,
        "created_at": video.created_at.isoformat(),
        "updated_at": video.updated_at.isoformat(),
    }


async def _list(course: uuid.UUID | None, limit: int) -> list[Video]:
    async with open_platform(load_settings()) as platform:
        videos, _ = await collect(
            lambda cursor, size: platform.videos.list_videos(SYSTEM, course, cursor=cursor, limit=size), limit
        )
        return videos


@app.command("list")
@handle_errors
def list_videos(
    course: Annotated[str | None, typer.Option("--course", help="Only this course's videos (its id).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Show at most this many (oldest first).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array instead of a table.")] = False,
) -> None:
    """List videos, oldest first, with their status."""
    course_id = parse_uuid(course, "the course id") if course else None
    videos = run(_list(course_id, limit))
    if as_json:
        typer.echo(json.dumps([video_json(v) for v in videos], indent=2, ensure_ascii=False))
        return
    if not videos:
        info("No videos.")
        return
    table = Table(title=f"Videos: {len(videos)}")
    for column in ("id", "course", "title", "status", "renditions", "updated"):
        table.add_column(column)
    for v in videos:
        status = v.status.value + (f" {v.progress}%" if v.status.value == "processing" else "")
        table.add_row(
            str(v.id),
            str(v.course_id),
            Text(v.title),
            Text(status, style=_STYLE[v.status.value]),
            ",".join(r.name for r in v.renditions) or "-",
            format_time(v.updated_at),
        )
    stdout_console().print(table)


async def _get(video_id: uuid.UUID) -> Video:
    async with open_platform(load_settings()) as platform:
        return await platform.videos.get_video(SYSTEM, video_id)


def _print_status(video: Video, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(video_json(video), indent=2, ensure_ascii=False))
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
