"""Videos under ``/api/v1``: authoring (course staff), status, captions, playback and the learner's position.

Playback is a signed, expiring URL: ``GET /api/v1/videos/{id}/playback`` gives those who may watch
(enrolled learners, course staff) ``/api/v1/media/<token>/videos/<id>/hls/master.m3u8``. The token sits in
the path, so the variant playlists and segments the master names relatively carry it too; the media route
serves nothing else (never the source) and refuses an expired or altered token with 403.

With an object store (S3) the media route serves only the playlists, read from the store and rewritten so
every segment is an absolute presigned URL of the store (or of the CDN in front of it): the segment bytes go
from the store to the player, never through this process (``elearning_media_served_bytes`` counts what does).
The playback answer's thumbnail and caption URLs are the store's too.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import File, Redirect
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_201_CREATED,
    HTTP_202_ACCEPTED,
    HTTP_204_NO_CONTENT,
    HTTP_307_TEMPORARY_REDIRECT,
)

from elearning_adapters.metrics import MEDIA_BYTES, media_kind
from elearning_adapters.settings import Settings
from elearning_adapters.storage import LocalFileStorage
from elearning_core.shared.errors import PermissionDenied
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_core.shared.ports import Principal
from elearning_core.video.commands import CreateVideo, SavePosition
from elearning_core.video.model import CAPTION_MAX_BYTES, Caption, PlaybackPosition, Video
from elearning_core.video.service import VideoService
from elearning_http.errors import problem, problem_responses
from elearning_http.openapi import alternative
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged

ERRORS = problem_responses(400, 401, 403, 404, 409, 422)
MEDIA_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt; charset=utf-8",
}
VTT = "text/vtt"


@dataclass(frozen=True, slots=True)
class RenditionView:
    name: str
    width: int
    height: int
    bandwidth: int


@dataclass(frozen=True, slots=True)
class VideoView:
    id: str
    course_id: str
    title: str
    status: str
    progress: int
    failure_reason: str | None
    duration_seconds: float | None
    width: int | None
    height: int | None
    source_size: int | None
    source_sha256: str | None
    renditions: list[RenditionView]
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class CaptionView:
    language: str
    label: str
    size: int
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class PlaybackCaption:
    language: str
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class PlaybackView:
    video_id: str
    url: str
    """The HLS master playlist."""
    thumbnail_url: str
    expires_at: dt.datetime
    duration_seconds: float | None
    captions: list[PlaybackCaption]


@dataclass(frozen=True, slots=True)
class PositionView:
    video_id: str
    position_seconds: float
    updated_at: dt.datetime


def video_view(video: Video) -> VideoView:
    return VideoView(
        id=str(video.id),
        course_id=str(video.course_id),
        title=video.title,
        status=video.status.value,
        progress=video.progress,
        failure_reason=video.failure_reason or None,
        duration_seconds=video.duration_seconds,
        width=video.width,
        height=video.height,
        source_size=video.source.size if video.source else None,
        source_sha256=video.source.sha256 if video.source else None,
        renditions=[RenditionView(r.name, r.width, r.height, r.bandwidth) for r in video.renditions],
        created_at=video.created_at,
        updated_at=video.updated_at,
    )


def caption_view(caption: Caption) -> CaptionView:
    return CaptionView(caption.language, caption.label, caption.size, caption.updated_at)


def position_view(position: PlaybackPosition) -> PositionView:
    return PositionView(str(position.video_id), position.position_seconds, position.updated_at)


VideoId = FromPath[uuid.UUID]
GATED = {"public": True}
"""Reads content gating decides (docs/gating.md): a preview lesson's video is for everyone, signed in or not."""


class VideoController(Controller):
    path = "/api/v1"
    tags = ["videos"]

    @post(
        "/courses/{course_id:uuid}/videos",
        status_code=HTTP_201_CREATED,
        summary="Create a video (draft) in a course",
        responses=ERRORS,
        description="Course staff (course.edit). Upload its file next, through the tus endpoint /api/v1/uploads.",
    )
    async def create_video(
        self,
        video_service: NamedDependency[VideoService],
        principal: NamedDependency[Principal],
        course_id: FromPath[uuid.UUID],
        data: JSONBody[CreateVideo],
    ) -> VideoView:
        return video_view(await video_service.create_video(principal, course_id, data))

    @get(
        "/courses/{course_id:uuid}/videos",
        summary="A course's videos (course staff)",
        description="In id order (oldest first); paged.",
        responses=ERRORS,
        response_headers=LINK,
    )
    async def list_videos(
        self,
        request: Request[Any, Any, Any],
        video_service: NamedDependency[VideoService],
        principal: NamedDependency[Principal],
        course_id: FromPath[uuid.UUID],
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[VideoView]]:
        page = await video_service.list_videos(principal, course_id, cursor=cursor, limit=limit)
        return paged(request, page, video_view)

    @get(
        "/videos/{video_id:uuid}",
        opt=GATED,
        summary="A video: status, progress, failure reason, renditions",
        responses=ERRORS,
        description="Course staff and enrolled learners.",
    )
    async def get_video(
        self, video_service: NamedDependency[VideoService], principal: NamedDependency[Principal], video_id: VideoId
    ) -> VideoView:
        return video_view(await video_service.get_video(principal, video_id))

    @delete(
        "/videos/{video_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a video and its files",
        responses=ERRORS,
    )
    async def delete_video(
        self, video_service: NamedDependency[VideoService], principal: NamedDependency[Principal], video_id: VideoId
    ) -> None:
        await video_service.delete_video(principal, video_id)

    @post(
        "/videos/{video_id:uuid}/reprocess",
        status_code=HTTP_202_ACCEPTED,
        summary="Run the media pipeline again on the stored source",
        responses=ERRORS,
    )
    async def reprocess(
        self, video_service: NamedDependency[VideoService], principal: NamedDependency[Principal], video_id: VideoId
    ) -> VideoView:
        return video_view(await video_service.reprocess(principal, video_id))

    # -- captions --------------------------------------------------------------------------

    @put(
        "/videos/{video_id:uuid}/captions/{language:str}",
        status_code=HTTP_201_CREATED,
        summary="Add or replace the captions of one language (WebVTT)",
        responses={
            **ERRORS,
            **problem_responses(413, 415),
            **alternative(HTTP_200_OK, CaptionView, "Replaced the language's captions"),
        },
        opt={"request_body": {"required": True, "content": {VTT: {"schema": {"type": "string"}}}}},
        request_max_body_size=CAPTION_MAX_BYTES,
        description="Body: a WebVTT file (`Content-Type: text/vtt`), at most 1 MiB of UTF-8. 201 when new, 200 "
        "when replaced; 422 names the first bad line. `language` is a BCP 47 tag.",
    )
    async def put_caption(
        self,
        request: Request[Any, Any, Any],
        video_service: NamedDependency[VideoService],
        principal: NamedDependency[Principal],
        video_id: VideoId,
        language: FromPath[str],
        label: Annotated[str | None, QueryParameter(max_length=100)] = None,
    ) -> Response[CaptionView]:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != VTT:
            return problem(415, "captions are sent as text/vtt", code="unsupported-media-type", request=request)  # type: ignore[return-value]
        caption, created = await video_service.put_caption(principal, video_id, language, await request.body(), label)
        return Response(caption_view(caption), status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get(
        "/videos/{video_id:uuid}/captions",
        opt=GATED,
        summary="The captions of a video",
        description="One per language, by language tag; paged.",
        responses=ERRORS,
        response_headers=LINK,
    )
    async def list_captions(
        self,
        request: Request[Any, Any, Any],
        video_service: NamedDependency[VideoService],
        principal: NamedDependency[Principal],
        video_id: VideoId,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[CaptionView]]:
        page = await video_service.list_captions(principal, video_id, cursor=cursor, limit=limit)
        return paged(request, page, caption_view)

    @delete(
        "/videos/{video_id:uuid}/captions/{language:str}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove the captions of one language",
        responses=ERRORS,
    )
    async def delete_caption(
        self,
        video_service: NamedDependency[VideoService],
        principal: NamedDependency[Principal],
        video_id: VideoId,
        language: FromPath[str],
    ) -> None:
        await video_service.delete_caption(principal, video_id, language)

    # -- playback --------------------------------------------------------------------------

    @get(
        "/videos/{video_id:uuid}/playback",
        opt=GATED,
        summary="A signed, expiring URL to play the video (HLS)",
        responses=ERRORS,
        description="Enrolled learners and course staff. 409 while the video is not ready.",
    )
    async def playback(
        self,
        request: Request[Any, Any, Any],
        video_service: NamedDependency[VideoService],
        principal: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        video_id: VideoId,
    ) -> PlaybackView:
        grant = await video_service.playback(principal, video_id)
        # The configured public URL (behind a proxy), else the one this request reached.
        origin = (settings.public_base_url or str(request.base_url)).rstrip("/")
        base = f"{origin}/api/v1/media/{grant.signed.token}/videos/{video_id}"
        return PlaybackView(
            video_id=str(video_id),
            url=f"{base}/hls/master.m3u8",
            thumbnail_url=grant.thumbnail_url or f"{base}/hls/thumbnail.jpg",
            expires_at=grant.signed.expires_at,
            duration_seconds=grant.video.duration_seconds,
            captions=[
                PlaybackCaption(
                    c.language, c.label, grant.caption_urls.get(c.language) or f"{base}/captions/{c.language}.vtt"
                )
                for c in grant.captions
            ],
        )

    @put(
        "/videos/{video_id:uuid}/position",
        summary="Save where the caller is in the video",
        responses=ERRORS,
        description="A position past the end of a ready video is kept as its end (clamped to `duration_seconds`, "
        "not refused: a player's clock may run a frame past the probed duration); the answer says what was kept.",
    )
    async def save_position(
        self,
        video_service: NamedDependency[VideoService],
        principal: NamedDependency[Principal],
        video_id: VideoId,
        data: JSONBody[SavePosition],
    ) -> PositionView:
        return position_view(await video_service.save_position(principal, video_id, data))

    @get("/videos/{video_id:uuid}/position", summary="Where the caller left the video (0 if never)", responses=ERRORS)
    async def get_position(
        self, video_service: NamedDependency[VideoService], principal: NamedDependency[Principal], video_id: VideoId
    ) -> PositionView:
        return position_view(await video_service.get_position(principal, video_id))


@get(
    "/api/v1/media/{token:str}/videos/{video_id:uuid}/{file_path:path}",
    tags=["videos"],
    summary="A file of a video's HLS ladder or captions, by signed URL",
    responses={
        **problem_responses(403, 404),
        **alternative(HTTP_307_TEMPORARY_REDIRECT, None, "With an object store: the file's presigned store URL"),
    },
    opt={"public": True, "success_content": sorted({t.split(";")[0] for t in MEDIA_TYPES.values()})},
    description="Reached through the URL `GET /videos/{id}/playback` gives; 403 once expired or if altered. With "
    "an object store (S3) playlists come from the store with every segment named by a presigned store URL, and "
    "other files redirect (307) to theirs.",
)
async def media(
    request: Request[Any, Any, Any],
    video_service: NamedDependency[VideoService],
    media_storage: NamedDependency[LocalFileStorage],
    token: FromPath[str],
    video_id: VideoId,
    file_path: FromPath[str],
) -> Response[Any]:
    try:
        answer = await video_service.media_file(token, video_id, str(file_path).lstrip("/"))
    except PermissionDenied as exc:
        # The token is the credential here: a bad one is a refusal (403), whoever sends it.
        return problem(403, exc.detail, code="permission-denied", request=request)
    cache = {"Cache-Control": "private, max-age=60"}
    if answer.redirect is not None:
        return Redirect(answer.redirect, status_code=HTTP_307_TEMPORARY_REDIRECT, headers=cache)
    if answer.playlist is not None:
        body = answer.playlist.encode()
        MEDIA_BYTES.labels("playlist").inc(len(body))
        return Response(body, media_type=MEDIA_TYPES[".m3u8"], headers=cache)
    path = media_storage.local_path(answer.key)
    if not path.is_file():
        return problem(404, "no such media file", code="not-found", request=request)
    MEDIA_BYTES.labels(media_kind(path.name)).inc(path.stat().st_size)
    return File(
        path,
        media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
        content_disposition_type="inline",
        headers=cache,
    )
