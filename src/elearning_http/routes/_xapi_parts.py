"""The xAPI statements resource's HTTP plumbing: who calls (HTTP Basic or the platform's bearer), the
version header, the query parameters, and errors as xAPI statuses with problem bodies.

xAPI 1.0.3 (Communication 2.1 and 3) answers a malformed request or statement 400 (not the 422 the
rest of this API uses for invalid fields), an id reused with other content 409, missing or wrong
credentials 401 and a credential without the scope 403; every answer carries ``X-Experience-API-Version``.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException

from elearning_core.analytics._lrs_parse import parse_agent
from elearning_core.analytics.lrs import LrsCaller, LrsService
from elearning_core.analytics.lrs_credentials import LrsCredentialService
from elearning_core.analytics.ports import StatementQuery
from elearning_core.shared.errors import (
    Conflict,
    DomainError,
    FieldError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from elearning_core.shared.pagination import MAX_PAGE_SIZE
from elearning_http.auth import Authenticator
from elearning_http.errors import problem

VERSION = "1.0.3"
VERSION_HEADER = "X-Experience-API-Version"
CONSISTENT_THROUGH = "X-Experience-API-Consistent-Through"
_VERSION_SENT = re.compile(r"1\.0(\.\d{1,2})?")
_BASIC_REALM = 'Basic realm="xapi", Bearer realm="elearning"'
_MAX_PARAMETER = 2000

GET_PARAMETERS = frozenset(
    {
        "statementId",
        "voidedStatementId",
        "agent",
        "verb",
        "activity",
        "registration",
        "related_activities",
        "related_agents",
        "since",
        "until",
        "limit",
        "format",
        "attachments",
        "ascending",
        "cursor",
    }
)
SINGLE_PARAMETERS = frozenset({"statementId", "voidedStatementId", "format", "attachments"})


class XapiRefused(Exception):
    """A request the resource refuses, with its xAPI status."""

    def __init__(self, status: int, detail: str, *, code: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.code, self.errors = status, detail, code, errors or []


def bad(detail: str, field: str | None = None) -> XapiRefused:
    return XapiRefused(400, detail, code="xapi-bad-request", errors=[FieldError(field, detail)] if field else None)


def headers(**extra: str) -> dict[str, str]:
    return {VERSION_HEADER: VERSION, CONSISTENT_THROUGH: now_iso(), **extra}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def refusal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The problem document of ``exc`` with the status xAPI gives it; what is not an expected refusal is raised."""
    if isinstance(exc, XapiRefused):
        status, detail, code, errors = exc.status, exc.detail, exc.code, exc.errors
    elif isinstance(exc, Unauthenticated | NotAuthorizedException):
        status, detail, code, errors = 401, str(getattr(exc, "detail", exc)), "unauthenticated", []
    elif isinstance(exc, PermissionDenied | PermissionDeniedException):
        status, detail, code, errors = 403, str(getattr(exc, "detail", exc)), "permission-denied", []
    elif isinstance(exc, Conflict):
        status, detail, code, errors = 409, exc.detail, "xapi-statement-conflict", []
    elif isinstance(exc, NotFound):
        status, detail, code, errors = 404, exc.detail, "not-found", []
    elif isinstance(exc, ValidationFailed):
        status, detail, code, errors = 400, exc.detail, "xapi-invalid-statement", exc.errors
    elif isinstance(exc, HTTPException) and 400 <= exc.status_code < 500:
        status, detail, code, errors = exc.status_code, exc.detail, "bad-request", []
    elif isinstance(exc, DomainError):
        status, detail, code, errors = 400, exc.detail, exc.code.replace("_", "-"), []
    else:
        raise exc
    extra = {"WWW-Authenticate": _BASIC_REALM} if status == 401 else {}
    fields: dict[str, Any] = {"errors": [{"field": e.field, "message": e.message} for e in errors]} if errors else {}
    return problem(status, detail, code=code, request=request, headers=headers(**extra), **fields)


def check_version(request: Request[Any, Any, Any]) -> None:
    sent = request.headers.get(VERSION_HEADER)
    if sent is None:
        raise bad(f"the {VERSION_HEADER} header is required (1.0.3)", VERSION_HEADER)
    if not _VERSION_SENT.fullmatch(sent.strip()):
        raise bad(f"{VERSION_HEADER} {sent[:20]!r} is not supported: send 1.0.3 (any 1.0.x)", VERSION_HEADER)


class LrsAuthenticator:
    """The caller of the statements resource: an LRS credential by HTTP Basic, else the platform's bearer
    token or session (``elearning_http.auth``), else 401."""

    def __init__(self, authenticate: Authenticator, lrs: LrsService, credentials: LrsCredentialService) -> None:
        self._authenticate, self._lrs, self._credentials = authenticate, lrs, credentials

    async def caller(self, request: Request[Any, Any, Any]) -> LrsCaller:
        header = request.headers.get("authorization")
        if header is not None and header[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise Unauthenticated("the Basic credentials are not base64 of 'key:secret'") from None
            key, colon, secret = decoded.partition(":")
            if not colon:
                raise Unauthenticated("the Basic credentials are not base64 of 'key:secret'")
            return self._lrs.credential_caller(await self._credentials.authenticate(key, secret))
        principal = await self._authenticate(request)
        if principal.is_anonymous:
            raise Unauthenticated("authentication required: HTTP Basic with an LRS credential, or a bearer token")
        return self._lrs.principal_caller(principal)


def parameters(request: Request[Any, Any, Any], allowed: frozenset[str]) -> dict[str, str]:
    """The query parameters, each once; an unknown one is a 400 (xAPI: the LRS rejects what it does not know)."""
    out: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in allowed:
            raise bad(f"unknown parameter {name[:40]!r} for this request", name[:40])
        if name in out:
            raise bad(f"parameter {name} given twice", name)
        if len(value) > _MAX_PARAMETER:
            raise bad(f"parameter {name} is longer than {_MAX_PARAMETER} characters", name)
        out[name] = value
    return out


def statement_id(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise bad(f"{name} is not a UUID", name) from None


def _flag(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise bad(f"{name} is true or false", name)
    return value == "true"


def _timestamp(params: Mapping[str, str], name: str) -> datetime | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad(f"{name} is not an ISO 8601 timestamp", name) from None
    if parsed.tzinfo is None:
        raise bad(f"{name} needs a time zone (Z or +hh:mm)", name)
    return parsed


def statement_query(params: Mapping[str, str]) -> tuple[StatementQuery, int, str]:
    """The filters, the page size and the format of ``GET /xapi/statements``."""
    for unsupported in ("related_activities", "related_agents", "attachments"):
        if _flag(params, unsupported):
            raise bad(f"{unsupported}=true is not supported by this LRS", unsupported)
    try:
        agent = parse_agent(params["agent"]).key() if "agent" in params else None
    except ValidationFailed as exc:
        raise bad(exc.detail, "agent") from None
    registration = statement_id(params["registration"], "registration") if "registration" in params else None
    limit_text = params.get("limit", "0")
    if not limit_text.isdigit() or len(limit_text) > 9:
        raise bad("limit is a whole number (0: the server's maximum)", "limit")
    limit = int(limit_text)
    limit = MAX_PAGE_SIZE if limit == 0 else min(limit, MAX_PAGE_SIZE)
    query = StatementQuery(
        agent=agent,
        verb=params.get("verb"),
        activity=params.get("activity"),
        registration=registration,
        since=_timestamp(params, "since"),
        until=_timestamp(params, "until"),
        ascending=_flag(params, "ascending"),
    )
    return query, limit, output_format(params)


def output_format(params: Mapping[str, str]) -> str:
    form = params.get("format", "exact")
    if form == "canonical":
        raise bad("format=canonical is not supported by this LRS: use exact or ids", "format")
    if form not in ("exact", "ids"):
        raise bad("format is exact, ids or canonical", "format")
    return form


def _agent_ids(agent: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in agent.items() if k in ("objectType", "account", "mbox", "mbox_sha1sum", "openid")}


def _activity_ids(activity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in activity.items() if k in ("objectType", "id")}


def formatted(data: dict[str, Any], form: str) -> dict[str, Any]:
    """A statement in ``format=ids``: agents by their identifier, activities and verbs by id only."""
    if form != "ids":
        return data
    out = dict(data)
    out["actor"] = _agent_ids(data["actor"])
    out["verb"] = {"id": data["verb"]["id"]}
    target = data["object"]
    out["object"] = _agent_ids(target) if target.get("objectType") == "Agent" else _activity_ids(target)
    if "authority" in data:
        out["authority"] = _agent_ids(data["authority"])
    context = data.get("context")
    if isinstance(context, dict) and "contextActivities" in context:
        out["context"] = {
            **context,
            "contextActivities": {
                kind: [_activity_ids(a) for a in activities]
                for kind, activities in context["contextActivities"].items()
            },
        }
    return out
