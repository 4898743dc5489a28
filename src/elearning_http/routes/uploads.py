"""``/api/v1/uploads``: resumable video uploads over the tus 1.0 protocol (core, creation, termination, checksum).

1. ``POST /api/v1/uploads`` with ``Upload-Length`` and ``Upload-Metadata: video_id <base64>``
   (optionally ``checksum <base64 of the file's hex SHA-256>``) creates an upload: 201 and its ``Location``.
2. ``PATCH <location>`` with ``Upload-Offset`` (the server's current offset, else 409) and
   ``Content-Type: application/offset+octet-stream`` appends the body, streamed to storage in pieces
   (never held whole in memory). ``Upload-Checksum: sha1|sha256 <base64>`` is verified over the chunk:
   a mismatch answers 460 and the chunk is discarded. An interrupted chunk without a checksum is kept, so
   a client resumes from ``HEAD <location>`` (``Upload-Offset``).
3. When the offset reaches the length, the file becomes the video's source (its SHA-256 checked against
   the announced one, if any) and the video goes to ``processing``.
4. ``DELETE <location>`` abandons the upload.

Every response carries ``Tus-Resumable: 1.0.0``; a request with another version gets 412. Two PATCHes to
one upload never interleave: the second gets 423 while the first holds the upload's lock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from litestar import Controller, Request, Response, delete, head, patch, post, route
from litestar.di import NamedDependency
from litestar.enums import HttpMethod, MediaType
from litestar.exceptions import InternalServerException
from litestar.params import FromPath
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from elearning_adapters.storage import LocalFileStorage
from elearning_core.shared.errors import FieldError, ValidationFailed
from elearning_core.shared.ports import Principal
from elearning_core.video.model import VideoUpload
from elearning_core.video.service import UploadChecksumMismatch, VideoService
from elearning_core.video.uploads import ChunkRejected, OffsetMismatch, StoredUploads, UploadBusy
from elearning_http.errors import PROBLEM_JSON, exception_handlers, problem, problem_responses
from elearning_http.observability import request_id_var

log = logging.getLogger("elearning.http.uploads")

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,checksum"
CHECKSUM_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}
OFFSET_OCTET_STREAM = "application/offset+octet-stream"
CHECKSUM_MISMATCH = 460
UPLOADS = "/api/v1/uploads"
TUS_ERRORS = problem_responses(401, 403, 404, 412)
TUS_RESUMABLE = {
    "name": "Tus-Resumable",
    "in": "header",
    "required": True,
    "description": "The tus protocol version: 1.0.0 (412 otherwise)",
    "schema": {"type": "string", "enum": [TUS_VERSION]},
}
UPLOAD_LENGTH = {
    "name": "Upload-Length",
    "in": "header",
    "required": True,
    "description": "The whole file's size in bytes (413 above the maximum)",
    "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
}
UPLOAD_METADATA = {
    "name": "Upload-Metadata",
    "in": "header",
    "required": True,
    "description": "Comma-separated `key base64(value)` pairs: `video_id` (required) and `checksum` (the file's hex SHA-256)",
    "schema": {"type": "string"},
}
UPLOAD_OFFSET = {
    "name": "Upload-Offset",
    "in": "header",
    "required": True,
    "description": "Where this chunk starts: the server's current offset (409 otherwise)",
    "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
}
UPLOAD_CHECKSUM = {
    "name": "Upload-Checksum",
    "in": "header",
    "required": False,
    "description": "`sha1` or `sha256`, a space, and the base64 digest of this chunk (460 on mismatch)",
    "schema": {"type": "string"},
}
"""Every tus request: a credential, the upload (or its video), and the protocol version (412 without it)."""


class TusError(Exception):
    """A refusal the tus protocol defines (412, 413, 415, 409, 423, 460): answered as problem details."""

    def __init__(self, status: int, detail: str, code: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.code, self.headers = status, detail, code, headers or {}


def _tus_error(request: Request[Any, Any, Any], exc: TusError) -> Response[Any]:
    if exc.status == CHECKSUM_MISMATCH:
        return _checksum_mismatch(request, exc.detail, exc.headers)
    return problem(
        exc.status, exc.detail, code=exc.code, request=request, headers={"Tus-Resumable": TUS_VERSION, **exc.headers}
    )


def _with_tus(handler: Callable[..., Response[Any]]) -> Callable[..., Response[Any]]:
    def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        response = handler(request, exc)
        response.headers["Tus-Resumable"] = TUS_VERSION
        return response

    return handle


def _checksum_mismatch(request: Request[Any, Any, Any], detail: str, headers: dict[str, str]) -> Response[Any]:
    """460 is tus's own status (no phrase in ``http.HTTPStatus``), so its problem document is built here."""
    body: dict[str, Any] = {
        "type": "urn:elearning:problem:checksum-mismatch",
        "title": "Checksum Mismatch",
        "status": CHECKSUM_MISMATCH,
        "detail": detail,
        "instance": request.url.path,
    }
    if request_id := request_id_var.get():
        body["request_id"] = request_id
    return Response(
        body, status_code=CHECKSUM_MISMATCH, media_type=PROBLEM_JSON, headers={"Tus-Resumable": TUS_VERSION, **headers}
    )


def _require_version(request: Request[Any, Any, Any]) -> None:
    if request.headers.get("tus-resumable") == TUS_VERSION:
        return
    raise TusError(
        412,
        f"this server speaks tus {TUS_VERSION}: send 'Tus-Resumable: {TUS_VERSION}'",
        "tus-version-unsupported",
        {"Tus-Version": TUS_VERSION},
    )


def _non_negative(request: Request[Any, Any, Any], header: str) -> int:
    raw = request.headers.get(header)
    if raw is None or not raw.isdigit() or len(raw) > 19:
        raise ValidationFailed(f"{header} must be a non-negative integer", [FieldError(header, "required integer")])
    return int(raw)


def parse_metadata(raw: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs (a key alone means an empty value)."""
    values: dict[str, str] = {}
    for pair in (raw or "").split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, encoded = pair.partition(" ")
        try:
            values[key] = base64.b64decode(encoded.strip(), validate=True).decode() if encoded else ""
        except (binascii.Error, UnicodeDecodeError):
            raise ValidationFailed(
                "Upload-Metadata is malformed", [FieldError("Upload-Metadata", f"{key}: not base64 of UTF-8 text")]
            ) from None
    return values


def _location(upload_id: uuid.UUID) -> str:
    return f"{UPLOADS}/{upload_id}"


class UploadController(Controller):
    path = UPLOADS
    tags = ["uploads"]
    exception_handlers = {
        **{cls: _with_tus(handler) for cls, handler in exception_handlers.items()},
        TusError: _tus_error,
    }

    # Named to sort before ``create``: Litestar gives a path whose first handler lacks OPTIONS an automatic
    # OPTIONS handler, which would answer instead of this one (tests/e2e/test_http_videos.py checks).
    @route(
        "/",
        http_method=[HttpMethod.OPTIONS],
        status_code=HTTP_204_NO_CONTENT,
        opt={"public": True},
        description="Answers in headers (`Tus-Version`, `Tus-Extension`, `Tus-Checksum-Algorithm`, `Tus-Max-Size`).",
        summary="tus discovery: versions, extensions, checksum algorithms, maximum size",
    )
    async def capabilities(self, video_service: NamedDependency[VideoService]) -> Response[None]:
        return Response(
            None,
            status_code=HTTP_204_NO_CONTENT,
            headers={
                "Allow": "OPTIONS, POST",
                "Tus-Resumable": TUS_VERSION,
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": TUS_EXTENSIONS,
                "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
                "Tus-Max-Size": str(video_service.config.max_upload_bytes),
            },
        )

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        media_type=MediaType.TEXT,
        summary="Create an upload for a video (tus creation)",
        responses={**TUS_ERRORS, **problem_responses(409, 413, 422)},
        opt={"header_parameters": [TUS_RESUMABLE, UPLOAD_LENGTH, UPLOAD_METADATA]},
        description="Headers: `Tus-Resumable: 1.0.0`, `Upload-Length`, `Upload-Metadata` with `video_id` "
        "(and optionally `checksum`, the file's hex SHA-256), each value base64. 413 above the maximum size.",
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        video_service: NamedDependency[VideoService],
        principal: NamedDependency[Principal],
    ) -> Response[bytes]:
        _require_version(request)
        if "upload-defer-length" in request.headers:
            raise ValidationFailed(
                "deferred lengths are not supported", [FieldError("Upload-Defer-Length", "send Upload-Length")]
            )
        length = _non_negative(request, "upload-length")
        limit = video_service.config.max_upload_bytes
        if length > limit:
            raise TusError(413, f"the upload is larger than the {limit} bytes allowed", "too-large")
        metadata = parse_metadata(request.headers.get("upload-metadata"))
        try:
            video_id = uuid.UUID(metadata.get("video_id", ""))
        except ValueError:
            raise ValidationFailed(
                "Upload-Metadata needs video_id", [FieldError("Upload-Metadata", "video_id: must be a video's id")]
            ) from None
        checksum = metadata.get("checksum") or None
        upload = await video_service.start_upload(principal, video_id, length, checksum.lower() if checksum else None)
        return Response(
            b"",
            media_type="text/plain",
            status_code=HTTP_201_CREATED,
            headers={"Tus-Resumable": TUS_VERSION, "Location": _location(upload.id), "Upload-Offset": "0"},
        )

    @head(
        "/{upload_id:uuid}",
        summary="How much of the upload has arrived (tus core)",
        description="`Upload-Offset` and `Upload-Length` in the answer's headers. Needs `Tus-Resumable: 1.0.0`.",
        status_code=200,
        responses=TUS_ERRORS,
        opt={"header_parameters": [TUS_RESUMABLE]},
    )
    async def offset(
        self,
        request: Request[Any, Any, Any],
        video_service: NamedDependency[VideoService],
        media_storage: NamedDependency[LocalFileStorage],
        stored_uploads: NamedDependency[StoredUploads | None],
        principal: NamedDependency[Principal],
        upload_id: FromPath[uuid.UUID],
    ) -> Response[None]:
        _require_version(request)
        upload = await video_service.upload_for(principal, upload_id)
        # On the object store the row's offset is the truth; a local upload's is its file's size.
        size = None if stored_uploads is not None else await media_storage.size(upload.key)
        return Response(
            None,
            status_code=200,
            headers={
                "Tus-Resumable": TUS_VERSION,
                "Upload-Offset": str(upload.offset if size is None else size),
                "Upload-Length": str(upload.length),
                "Cache-Control": "no-store",
            },
        )

    @patch(
        "/{upload_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        request_max_body_size=None,
        summary="Append a chunk (tus core, checksum)",
        responses={**TUS_ERRORS, **problem_responses(409, 413, 415, 422, 423, 460)},
        opt={
            "header_parameters": [TUS_RESUMABLE, UPLOAD_OFFSET, UPLOAD_CHECKSUM],
            "request_body": {
                "required": True,
                "content": {OFFSET_OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}},
            },
        },
        description="Headers: `Tus-Resumable`, `Upload-Offset` (must equal the server's; 409 otherwise), "
        "`Content-Type: application/offset+octet-stream`, optionally `Upload-Checksum: sha1|sha256 <base64>` "
        "(460 on mismatch, the chunk discarded). 423 while another PATCH writes to the upload.",
    )
    async def append(
        self,
        request: Request[Any, Any, Any],
        video_service: NamedDependency[VideoService],
        media_storage: NamedDependency[LocalFileStorage],
        stored_uploads: NamedDependency[StoredUploads | None],
        principal: NamedDependency[Principal],
        upload_id: FromPath[uuid.UUID],
    ) -> Response[None]:
        _require_version(request)
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != OFFSET_OCTET_STREAM:
            raise TusError(415, f"a PATCH body must be sent as {OFFSET_OCTET_STREAM}", "unsupported-media-type")
        claimed = _non_negative(request, "upload-offset")
        checksum = self._checksum(request)
        upload = await video_service.upload_for(principal, upload_id)
        if stored_uploads is not None:
            return await self._append_stored(request, stored_uploads, upload, claimed, checksum)
        lock = media_storage.lock(upload.key)
        if not lock.acquire():
            raise TusError(423, "another request is writing to this upload; retry later", "locked")
        try:
            size = await media_storage.size(upload.key)
            # Complete: the file has become the video's source, the row remembers the offset.
            offset = upload.length if size is None and upload.offset >= upload.length else (size or 0)
            if claimed != offset:
                raise TusError(
                    409,
                    f"Upload-Offset {claimed} does not match the upload's offset {offset}",
                    "offset-mismatch",
                    {"Upload-Offset": str(offset)},
                )
            if offset >= upload.length:
                return self._written(offset)
            announced = request.headers.get("content-length")
            if announced is not None and announced.isdigit() and offset + int(announced) > upload.length:
                raise TusError(413, "the chunk goes beyond Upload-Length", "too-large")
            hasher = CHECKSUM_ALGORITHMS[checksum[0]]() if checksum else None
            body = _Body(request, hasher, upload.length - offset)
            try:
                new_offset = await media_storage.write_at(upload.key, offset, body)
            except (InternalServerException, _TooLong) as exc:
                # The client went away mid-chunk (or sent too much): keep what arrived unless a checksum
                # was announced for the whole chunk, which the partial bytes can no longer be checked against.
                if checksum or isinstance(exc, _TooLong):
                    await media_storage.truncate(upload.key, offset)
                    new_offset = offset
                else:
                    new_offset = await media_storage.size(upload.key) or offset
                await video_service.record_offset(upload.id, new_offset)
                if isinstance(exc, _TooLong):
                    raise TusError(413, "the chunk goes beyond Upload-Length", "too-large") from None
                raise
            if checksum and hasher is not None and hasher.digest() != checksum[1]:
                await media_storage.truncate(upload.key, offset)
                raise TusError(
                    CHECKSUM_MISMATCH,
                    f"the chunk's {checksum[0]} does not match Upload-Checksum; it was discarded",
                    "checksum-mismatch",
                    {"Upload-Offset": str(offset)},
                )
            await video_service.record_offset(upload.id, new_offset)
            if new_offset >= upload.length:
                try:
                    await video_service.complete_upload(upload.id)
                except UploadChecksumMismatch as exc:
                    raise TusError(CHECKSUM_MISMATCH, exc.detail, "checksum-mismatch") from None
            return self._written(new_offset)
        finally:
            lock.release()

    @staticmethod
    async def _append_stored(
        request: Request[Any, Any, Any],
        uploads: StoredUploads,
        upload: VideoUpload,
        claimed: int,
        checksum: tuple[str, bytes] | None,
    ) -> Response[None]:
        """The object-store path (``elearning_core.video.uploads``): the state and the lease are in the database."""
        announced = request.headers.get("content-length")
        fits = announced is None or not announced.isdigit() or claimed + int(announced) <= upload.length
        if claimed == upload.offset and not fits:
            raise TusError(413, "the chunk goes beyond Upload-Length", "too-large")
        hasher = CHECKSUM_ALGORITHMS[checksum[0]]() if checksum else None
        body = _Body(request, hasher, upload.length - claimed)

        def keep(exc: BaseException) -> bool:
            # The client went away mid-chunk: keep what arrived, unless a checksum was announced for it.
            return checksum is None and isinstance(exc, InternalServerException)

        def verify() -> bool:
            return checksum is None or hasher is None or hasher.digest() == checksum[1]

        try:
            offset = await uploads.append(upload, claimed, body, keep=keep, verify=verify)
        except UploadBusy as exc:
            raise TusError(423, str(exc), "locked") from None
        except OffsetMismatch as exc:
            raise TusError(409, str(exc), "offset-mismatch", {"Upload-Offset": str(exc.offset)}) from None
        except _TooLong:
            raise TusError(413, "the chunk goes beyond Upload-Length", "too-large") from None
        except ChunkRejected:
            assert checksum is not None
            raise TusError(
                CHECKSUM_MISMATCH,
                f"the chunk's {checksum[0]} does not match Upload-Checksum; it was discarded",
                "checksum-mismatch",
                {"Upload-Offset": str(claimed)},
            ) from None
        except UploadChecksumMismatch as exc:
            raise TusError(CHECKSUM_MISMATCH, exc.detail, "checksum-mismatch") from None
        return UploadController._written(offset)

    @staticmethod
    def _written(offset: int) -> Response[None]:
        return Response(
            None, status_code=HTTP_204_NO_CONTENT, headers={"Tus-Resumable": TUS_VERSION, "Upload-Offset": str(offset)}
        )

    @staticmethod
    def _checksum(request: Request[Any, Any, Any]) -> tuple[str, bytes] | None:
        raw = request.headers.get("upload-checksum")
        if raw is None:
            return None
        algorithm, _, encoded = raw.strip().partition(" ")
        algorithm = algorithm.lower()
        if algorithm not in CHECKSUM_ALGORITHMS:
            raise ValidationFailed(
                "unsupported checksum algorithm",
                [FieldError("Upload-Checksum", f"algorithm must be one of {', '.join(CHECKSUM_ALGORITHMS)}")],
            )
        try:
            digest = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error:
            raise ValidationFailed(
                "Upload-Checksum is malformed", [FieldError("Upload-Checksum", "must be '<algorithm> <base64>'")]
            ) from None
        return algorithm, digest

    @delete(
        "/{upload_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Abandon an upload (tus termination)",
        description="Deletes what arrived of the upload. Needs `Tus-Resumable: 1.0.0`.",
        responses=TUS_ERRORS,
        opt={"header_parameters": [TUS_RESUMABLE]},
    )
    async def terminate(
        self,
        request: Request[Any, Any, Any],
        video_service: NamedDependency[VideoService],
        stored_uploads: NamedDependency[StoredUploads | None],
        principal: NamedDependency[Principal],
        upload_id: FromPath[uuid.UUID],
    ) -> Response[None]:
        _require_version(request)
        if stored_uploads is not None:
            await stored_uploads.discard(await video_service.upload_for(principal, upload_id))
        await video_service.terminate_upload(principal, upload_id)
        return Response(None, status_code=HTTP_204_NO_CONTENT, headers={"Tus-Resumable": TUS_VERSION})


class _TooLong(Exception):
    pass


class _Body:
    """The request body as an async stream of chunks, hashed on the way, and refused beyond ``remaining``."""

    def __init__(self, request: Request[Any, Any, Any], hasher: Any, remaining: int) -> None:
        self._request, self._hasher, self._remaining = request, hasher, remaining

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._request.stream():
            if not chunk:
                continue
            self._remaining -= len(chunk)
            if self._remaining < 0:
                raise _TooLong
            if self._hasher is not None:
                self._hasher.update(chunk)
            yield chunk
