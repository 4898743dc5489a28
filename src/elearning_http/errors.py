"""The one exception mapping: every error leaves as RFC 9457 problem details.

Domain errors map by class; Litestar's own errors (validation, routing,
auth) keep their status; anything unexpected is logged with its traceback
and answered with a bare 500 that reveals nothing.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException

from elearning_core.shared.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from elearning_http.observability import request_id_var

PROBLEM_JSON = "application/problem+json"
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
    title = HTTPStatus(status).phrase
    code = code or title.lower().replace(" ", "-").replace("'", "")
    body: dict[str, Any] = {"type": f"urn:elearning:problem:{code}", "title": title, "status": status, "detail": detail}
    if request is not None:
        body["instance"] = request.url.path
    request_id = request_id_var.get()
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    if isinstance(exc, NotFound):
        return problem(404, exc.detail, code="not-found", request=request)
    if isinstance(exc, Conflict):
        return problem(409, exc.detail, code="conflict", request=request)
    if isinstance(exc, ValidationFailed):
        errors = [{"field": e.field, "message": e.message} for e in exc.errors]
        return problem(422, exc.detail, code="validation-failed", request=request, errors=errors)
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
        if isinstance(item, dict):
            field = item.get("key") or item.get("source") or "body"
            errors.append({"field": str(field), "message": str(item.get("message", "invalid value"))})
    if not errors:
        # A body that is not JSON at all, or the wrong content type.
        return problem(400, exc.detail or "malformed request", code="bad-request", request=request)
    return problem(422, "the request has invalid fields", code="validation-failed", request=request, errors=errors)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    if isinstance(exc, NotAuthorizedException):
        return _unauthorized(request, exc.detail)
    return problem(exc.status_code, exc.detail, request=request, headers=dict(exc.headers or {}))


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    logger.exception("unhandled error", extra={"path": request.url.path})
    return problem(500, "an unexpected error occurred; it has been logged", code="internal-error", request=request)


exception_handlers: dict[type[Exception], Any] = {
    DomainError: _domain_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}

__all__ = ["PROBLEM_JSON", "exception_handlers", "problem"]
