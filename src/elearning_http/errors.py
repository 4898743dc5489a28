"""The one exception mapping: every error leaves as RFC 9457 problem details.

Domain errors map by class; Litestar's own errors (validation, routing,
auth) keep their status; anything unexpected is logged with its traceback
and answered with a bare 500 that reveals nothing.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import Send

from elearning_core.shared.errors import (
    Conflict,
    ContentLocked,
    DeadlineExceeded,
    DomainError,
    EmailVerificationRequired,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
    Unauthenticated,
    ValidationFailed,
)
from elearning_core.shared.storage import StorageUnavailable
from elearning_http.field_paths import json_path
from elearning_http.observability import request_id_var

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class UnmetRequirementProblem:
    """One requirement of a locked lesson the caller does not meet (conditional release, docs/gating.md)."""

    kind: Literal["previous", "lesson", "quiz"]
    on: Literal["section", "lesson"]
    """Where the requirement is set: on the lesson itself or on its section."""
    title: str
    """The lesson (or, for a section's ``previous``, the section) to complete; for ``quiz``, the lesson showing it."""
    lesson_id: str | None = None
    section_id: str | None = None
    lesson_ids: list[str] | None = None
    """A section's ``previous``: the lessons of the previous section not completed yet."""
    assessment_id: str | None = None
    min_percent: float | None = None
    best_percent: float | None = None
    """``quiz``: the caller's best graded percent so far (null: no graded attempt)."""
    passed: bool | None = None


@dataclass(frozen=True, slots=True)
class ProblemDetails:
    """RFC 9457 problem details, as every error response of this API carries them."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldProblem] | None = None
    available_at: str | None = None
    """Content gating (403 ``not-yet-released``): when the content opens for the caller, ISO 8601."""
    unmet_requirements: list[UnmetRequirementProblem] | None = None
    """Content gating (403 ``locked-by-requirement``): the requirements the caller does not meet yet."""


PROBLEM_STATUS_DESCRIPTIONS = {
    400: "Malformed request (e.g. a body that is not JSON, or JSON nested too deep)",
    401: "Missing or invalid credentials (bearer token or session cookie)",
    403: "Not allowed (or a cookie session's write without its X-CSRF-Token); for course content, `type` says "
    "why: `urn:elearning:problem:enrollment-required`, `urn:elearning:problem:not-yet-released` with "
    "`available_at`, `urn:elearning:problem:locked-by-requirement` with `unmet_requirements`, or, for a paid "
    "course, the entitlement check's reason (`payment-required`, `subscription-past-due`, "
    "`subscription-canceled`, `refunded`, `seat-revoked`, `entitlement-expired`, or `audit-track` for graded work)",
    404: "No such resource (or not visible to the caller)",
    409: "Conflicts with the current state: `type` names the rule (a taken slug, a stale version, a full course)",
    412: "Precondition failed (tus: send `Tus-Resumable: 1.0.0`)",
    413: "The body is larger than this route accepts",
    415: "The body's Content-Type is not one this route accepts",
    422: "Invalid input; `errors` names each bad field by its JSON path",
    423: "Locked: another request is writing to this resource; retry later",
    429: "Too many requests: the per-client rate limit (`urn:elearning:problem:rate-limited`, with the "
    "`RateLimit` and `RateLimit-Policy` headers) or a throttle on sign-in and mailed links "
    "(`too-many-attempts`); `Retry-After` says how many seconds to wait",
    460: "Checksum mismatch (tus): the chunk was discarded",
    503: "Unavailable: the server is overloaded (`urn:elearning:problem:overloaded`, with `Retry-After`), or "
    "not ready because a dependency (the database, the file store: `storage-unavailable`) does not answer, or "
    "did not within this request's time "
    "budget (`type` says what ran out: `urn:elearning:problem:statement-timeout`, `lock-timeout`, "
    "`pool-timeout`; nothing was written; retry after `Retry-After` seconds)",
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries documenting the problem-details responses a route can give."""
    return {
        status: ResponseSpec(
            data_container=ProblemDetails,
            media_type=PROBLEM_JSON,
            description=PROBLEM_STATUS_DESCRIPTIONS[status],
            generate_examples=False,
        )
        for status in statuses
    }


logger = logging.getLogger("elearning.http")


def problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    request: Request[Any, Any, Any] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    body = problem_document(status, detail, code=code, instance=request.url.path if request else None, **extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_document(
    status: int, detail: str, *, code: str | None = None, instance: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The problem document itself, for ASGI middleware that answers without a Litestar ``Response``."""
    title = HTTPStatus(status).phrase
    code = code or title.lower().replace(" ", "-").replace("'", "")
    body: dict[str, Any] = {"type": f"urn:elearning:problem:{code}", "title": title, "status": status, "detail": detail}
    if instance is not None:
        body["instance"] = instance
    request_id = request_id_var.get()
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return body


_STATUSES: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (ValidationFailed, 422),
    (Unauthenticated, 401),
    (TooManyAttempts, 429),
    (PermissionDenied, 403),
    (DeadlineExceeded, 503),
)


def status_of(exc: DomainError) -> int:
    """The status ``_domain_error`` answers ``exc`` with, for answers that are not problem documents (the
    HTML pages of mailed links keep the status their problem would carry)."""
    return next((status for kind, status in _STATUSES if isinstance(exc, kind)), 400)


def _domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    if isinstance(exc, NotFound):
        return problem(404, exc.detail, code="not-found", request=request)
    if isinstance(exc, Conflict):
        # A refusal that names its rule (``rule``: a subscription's state, a declined payment) says so in ``type``.
        return problem(409, exc.detail, code=getattr(exc, "rule", "conflict"), request=request)
    if isinstance(exc, ValidationFailed):
        errors = [{"field": e.field, "message": e.message} for e in exc.errors]
        return problem(422, exc.detail, code="validation-failed", request=request, errors=errors)
    if isinstance(exc, Unauthenticated):
        return _unauthorized(request, exc.detail)
    if isinstance(exc, TooManyAttempts):
        retry_after = max(1, math.ceil(exc.retry_after_seconds))
        return problem(
            429,
            exc.detail,
            code="too-many-attempts",
            request=request,
            headers={"Retry-After": str(retry_after)},
            retry_after=retry_after,
        )
    if isinstance(exc, DeadlineExceeded):
        retry_after = max(1, math.ceil(exc.retry_after_seconds))
        return problem(503, exc.detail, code=exc.what, request=request, headers={"Retry-After": str(retry_after)})
    if isinstance(exc, ContentLocked):
        # Whoever asks, signed in or not: the content exists for them to see, it is not open yet.
        extra: dict[str, Any] = {"available_at": exc.available_at.isoformat()} if exc.available_at else {}
        if exc.unmet_requirements is not None:
            extra["unmet_requirements"] = exc.unmet_requirements
        return problem(403, exc.detail, code=exc.reason, request=request, **extra)
    if isinstance(exc, EmailVerificationRequired):
        # 403, not 409: a refusal about who the caller is (their account's state), not about the
        # resource's state; the same request succeeds, unchanged, once the caller verifies.
        return problem(403, exc.detail, code="email-verification-required", request=request)
    if isinstance(exc, PermissionDenied):
        if request.scope.get("principal_anonymous", True):
            return _unauthorized(request, "authentication required: send 'Authorization: Bearer <token>'")
        return problem(403, exc.detail, code="permission-denied", request=request)
    return problem(400, exc.detail, code=exc.code.replace("_", "-"), request=request)


def _unauthorized(request: Request[Any, Any, Any], detail: str) -> Response[dict[str, Any]]:
    return problem(
        401, detail, code="unauthenticated", request=request, headers={"WWW-Authenticate": 'Bearer realm="elearning"'}
    )


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict) and item.get("key") == "data" and item.get("message") == "'data'":
            # Litestar's way of saying the JSON body is missing altogether.
            return problem(400, "the request needs a JSON body", code="bad-request", request=request)
        if isinstance(item, dict):
            field = _field_path(request, item) or item.get("source") or "body"
            message = str(item.get("message", "invalid value"))
            if tag := _MISSING_TAG.match(message):
                # A tagged union's member without its tag: name the tag (``slots.0.type``), not the member.
                field, message = f"{field}.{tag.group(1)}" if field != "body" else tag.group(1), "Field required"
            errors.append({"field": str(field), "message": message})
    if not errors:
        # A body that is not JSON at all, or the wrong content type.
        return problem(400, exc.detail or "malformed request", code="bad-request", request=request)
    return problem(422, "the request has invalid fields", code="validation-failed", request=request, errors=errors)


_MISSING_TAG = re.compile(r"Unable to extract tag using discriminator '(\w+)'")


def _field_path(request: Request[Any, Any, Any], item: dict[str, Any]) -> str:
    """A body field by its JSON path: pydantic's key less the union members it names (``FixedSlotInput``, a tag)."""
    key = str(item.get("key") or "")
    if not key or item.get("source") not in (None, "body"):
        return key
    parameter = request.route_handler.parsed_fn_signature.parameters.get("data")
    if parameter is None:
        return key
    return ".".join(json_path(parameter.annotation, key.split(".")))


class RequestRefused(HTTPException):
    """A request refused at the HTTP edge, with a problem ``type`` of its own (``json-too-deep``)."""

    def __init__(self, status_code: int, detail: str, *, code: str, **extra: Any) -> None:
        super().__init__(detail=detail, status_code=status_code)
        self.code = code
        self.problem_extra = extra


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    if isinstance(exc, RequestRefused):
        return problem(exc.status_code, exc.detail, code=exc.code, request=request, **exc.problem_extra)
    if isinstance(exc, NotAuthorizedException):
        return _unauthorized(request, exc.detail)
    return problem(exc.status_code, exc.detail, request=request, headers=dict(exc.headers or {}))


STORAGE_RETRY_AFTER_SECONDS = 5


def _storage_unavailable(request: Request[Any, Any, Any], exc: StorageUnavailable) -> Response[dict[str, Any]]:
    """The object store (S3) does not answer: like a database that does not, a 503 to retry, and logged."""
    logger.warning("object store unavailable", extra={"path": request.url.path, "error": str(exc)})
    return problem(
        503,
        "the file store does not answer; retry later",
        code="storage-unavailable",
        request=request,
        headers={"Retry-After": str(STORAGE_RETRY_AFTER_SECONDS)},
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    logger.exception("unhandled error", extra={"path": request.url.path})
    return problem(500, "an unexpected error occurred; it has been logged", code="internal-error", request=request)


async def send_problem(
    send: Send, status: int, body: dict[str, object], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """A problem document as a raw ASGI answer, for middleware that answers before any route (admission,
    rate limit, idempotency); the request body, if any, is left unread: the server drops it."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload, "more_body": False})


exception_handlers: dict[type[Exception], Any] = {
    DomainError: _domain_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    StorageUnavailable: _storage_unavailable,
    Exception: _unexpected,
}

__all__ = [
    "PROBLEM_JSON",
    "PROBLEM_STATUS_DESCRIPTIONS",
    "ProblemDetails",
    "RequestRefused",
    "exception_handlers",
    "problem",
    "problem_document",
    "problem_responses",
    "status_of",
]
