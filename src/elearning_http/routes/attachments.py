"""``/api/v1/courses/{course_id}/lessons/{lesson_id}/attachments``: files of a lesson.

Course staff upload a file as the raw request body (any ``Content-Type``: the type is sniffed from the
bytes), its name in ``?name=``; it is streamed to the object store, never held whole in memory. Whoever
may read the lesson lists and downloads them: a redirect to a short-lived presigned URL on S3 (the bytes
never pass through the API), streamed from the local store otherwise, always as ``Content-Disposition:
attachment``. Refusals: 413 (too large), 415 (not an allowed type), 409 (the lesson is full), 422 (a bad
name, or the virus scanner found something), 503 (the scanner or the store does not answer).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Stream
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT, HTTP_302_FOUND

from elearning_core.attachment.model import AttachmentTooLarge, LessonAttachment, UnsupportedAttachmentType
from elearning_core.attachment.ports import ScannerUnavailable
from elearning_core.attachment.service import AttachmentService
from elearning_core.course.values import ATTACHMENT_NAME_MAX
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_core.shared.ports import Principal
from elearning_core.shared.storage import content_disposition
from elearning_http.errors import problem, problem_responses
from elearning_http.openapi import alternative
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged

log = logging.getLogger("elearning.http.attachments")

ERRORS = problem_responses(401, 403, 404, 422)
GATED = {"public": True}
"""Reads content gating decides: a preview lesson's files are for everyone, signed in or not."""
SCANNER_RETRY_AFTER_SECONDS = 30


@dataclass(frozen=True, slots=True)
class AttachmentView:
    id: str
    lesson_id: str
    name: str
    content_type: str
    """Sniffed from the file's bytes."""
    size: int
    sha256: str
    created_at: dt.datetime


def attachment_view(attachment: LessonAttachment) -> AttachmentView:
    return AttachmentView(
        id=str(attachment.id),
        lesson_id=str(attachment.lesson_id),
        name=attachment.name,
        content_type=attachment.content_type,
        size=attachment.size,
        sha256=attachment.sha256,
        created_at=attachment.created_at,
    )


def _too_large(request: Request[Any, Any, Any], exc: AttachmentTooLarge) -> Response[Any]:
    return problem(413, exc.detail, code="attachment-too-large", request=request)


def _unsupported(request: Request[Any, Any, Any], exc: UnsupportedAttachmentType) -> Response[Any]:
    return problem(415, exc.detail, code="unsupported-attachment-type", request=request)


def _scanner_unavailable(request: Request[Any, Any, Any], exc: ScannerUnavailable) -> Response[Any]:
    log.warning("virus scanner unavailable", extra={"path": request.url.path, "error": str(exc)})
    return problem(
        503,
        "the virus scanner does not answer, so the file was not kept; retry later",
        code="scanner-unavailable",
        request=request,
        headers={"Retry-After": str(SCANNER_RETRY_AFTER_SECONDS)},
    )


Name = Annotated[
    str | None,
    QueryParameter(
        min_length=1,
        max_length=ATTACHMENT_NAME_MAX,
        description="The file name offered on download (a plain name: no path); its extension is completed "
        "to fit the sniffed type. Without it, the `filename` of a `Content-Disposition` request header",
    ),
]


class AttachmentController(Controller):
    path = "/api/v1/courses/{course_id:uuid}/lessons/{lesson_id:uuid}/attachments"
    tags = ["attachments"]
    exception_handlers = {
        AttachmentTooLarge: _too_large,
        UnsupportedAttachmentType: _unsupported,
        ScannerUnavailable: _scanner_unavailable,
    }

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        request_max_body_size=None,  # the service counts the stream against ELEARNING_ATTACHMENT_MAX_BYTES
        summary="Upload a file to a lesson (course staff)",
        responses={**ERRORS, **problem_responses(409, 413, 415, 503)},
        opt={
            "request_body": {
                "required": True,
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
        description="The body is the file itself (its `Content-Type` is ignored: the type is sniffed from the "
        "content). 413 above `ELEARNING_ATTACHMENT_MAX_BYTES` (50 MiB by default), 415 for a type not allowed "
        "(PDF, images, office documents, plain text by default), 409 `attachment-limit` when the lesson holds "
        "`ELEARNING_ATTACHMENT_MAX_PER_LESSON` files, 422 `attachment-infected` when the virus scanner finds "
        "something (the file is deleted and the refusal recorded), 503 when the scanner does not answer.",
    )
    async def upload(
        self,
        request: Request[Any, Any, Any],
        attachment_service: NamedDependency[AttachmentService],
        principal: NamedDependency[Principal],
        course_id: FromPath[uuid.UUID],
        lesson_id: FromPath[uuid.UUID],
        name: Name = None,
    ) -> Response[AttachmentView]:
        announced = request.headers.get("content-length")
        attachment = await attachment_service.upload(
            principal,
            course_id,
            lesson_id,
            name or _disposition_name(request.headers.get("content-disposition")) or "",
            _body(request),
            int(announced) if announced is not None and announced.isdigit() else None,
        )
        return Response(attachment_view(attachment), status_code=HTTP_201_CREATED)

    @get(
        "/",
        opt=GATED,
        summary="A lesson's files",
        description="Oldest first; paged. Staff, and whoever may read the lesson (content gating).",
        responses=ERRORS,
        response_headers=LINK,
    )
    async def list_attachments(
        self,
        request: Request[Any, Any, Any],
        attachment_service: NamedDependency[AttachmentService],
        principal: NamedDependency[Principal],
        course_id: FromPath[uuid.UUID],
        lesson_id: FromPath[uuid.UUID],
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[AttachmentView]]:
        page = await attachment_service.list_attachments(principal, course_id, lesson_id, cursor=cursor, limit=limit)
        return paged(request, page, attachment_view)

    @get(
        "/{attachment_id:uuid}",
        opt={**GATED, "success_content": ["application/octet-stream"]},
        summary="Download a file of a lesson",
        description="Staff, and whoever may read the lesson. On S3 a 302 to a presigned URL valid for five "
        "minutes (the store answers with the same `Content-Disposition` and `Content-Type`); on the local store "
        "the bytes, as `Content-Disposition: attachment` with the file's name and its sniffed `Content-Type`.",
        responses={**ERRORS, **alternative(HTTP_302_FOUND, None, "To a presigned URL of the object store")},
    )
    async def download(
        self,
        attachment_service: NamedDependency[AttachmentService],
        principal: NamedDependency[Principal],
        course_id: FromPath[uuid.UUID],
        lesson_id: FromPath[uuid.UUID],
        attachment_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        found = await attachment_service.download(principal, course_id, lesson_id, attachment_id)
        headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
        if found.url is not None:
            return Redirect(found.url, status_code=HTTP_302_FOUND, headers=headers)
        assert found.chunks is not None
        attachment = found.attachment
        return Stream(
            found.chunks,
            media_type=attachment.content_type,
            headers={
                **headers,
                "Content-Disposition": content_disposition(attachment.name),
                "Content-Length": str(attachment.size),
            },
        )

    @delete(
        "/{attachment_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove a file from a lesson (course staff)",
        responses=ERRORS,
    )
    async def remove(
        self,
        attachment_service: NamedDependency[AttachmentService],
        principal: NamedDependency[Principal],
        course_id: FromPath[uuid.UUID],
        lesson_id: FromPath[uuid.UUID],
        attachment_id: FromPath[uuid.UUID],
    ) -> None:
        await attachment_service.remove(principal, course_id, lesson_id, attachment_id)


def _disposition_name(header: str | None) -> str | None:
    """The ``filename`` of a ``Content-Disposition: attachment; filename="x.pdf"`` request header, if any."""
    if not header:
        return None
    for part in header.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "filename":
            return value.strip().strip('"') or None
    return None


async def _body(request: Request[Any, Any, Any]) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


ATTACHMENT_HANDLERS = [AttachmentController]
