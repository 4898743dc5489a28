"""The learning record store: ``POST/PUT/GET /xapi/statements`` as xAPI 1.0.3's statements resource.

Callers authenticate with HTTP Basic (an LRS credential's ``key:secret``, scoped to one organization)
or the platform's bearer token; ``elearning_core.analytics.lrs`` decides what each may write and read.
Bodies are read raw and checked here (xAPI's own rules: the version header, 400 for a malformed
statement, unknown parameters refused), so errors keep xAPI's statuses, as problem documents.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from elearning_core.analytics.lrs import LrsCaller, LrsService
from elearning_http.errors import problem_responses
from elearning_http.routes._xapi_parts import (
    GET_PARAMETERS,
    SINGLE_PARAMETERS,
    VERSION_HEADER,
    LrsAuthenticator,
    XapiRefused,
    bad,
    check_version,
    formatted,
    headers,
    output_format,
    parameters,
    refusal,
    statement_id,
    statement_query,
)

PATH = "/xapi/statements"
MAX_BODY_BYTES = 8 * 1024 * 1024
"""A POST of 1,000 statements of about 8 KB each; larger bodies are refused with 413."""
TAGS = ["xapi"]
Req = Request[Any, Any, Any]
Lrs = NamedDependency[LrsService]
Auth = NamedDependency[LrsAuthenticator]

_VERSION_PARAMETER = {
    "name": VERSION_HEADER,
    "in": "header",
    "required": True,
    "description": "The xAPI version the client speaks: 1.0.3 (any 1.0.x is accepted); sent back on every answer.",
    "schema": {"type": "string", "pattern": r"^1\.0(\.[0-9]{1,2})?$", "example": "1.0.3"},
}
_STATEMENT = {"type": "object", "description": "An xAPI 1.0.3 Statement", "additionalProperties": True}
_EXAMPLE = {
    "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee",
    "actor": {"objectType": "Agent", "account": {"homePage": "https://tool.example.org", "name": "learner-17"}},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
    "object": {"objectType": "Activity", "id": "https://tool.example.org/activities/unit-3"},
    "result": {"completion": True, "score": {"scaled": 0.85}},
    "timestamp": "2026-12-07T06:00:00Z",
}
_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"oneOf": [_STATEMENT, {"type": "array", "items": _STATEMENT, "minItems": 1, "maxItems": 1000}]},
            "example": [_EXAMPLE],
        }
    },
}
_PUT_BODY = {"required": True, "content": {"application/json": {"schema": _STATEMENT, "example": _EXAMPLE}}}
_OPT = {"public_write": True, "lrs": True, "header_parameters": [_VERSION_PARAMETER]}
_ACCESS = (
    "HTTP Basic with an LRS credential (`elearning analytics lrs-credentials create`) reads and writes its "
    "organization's statements by its scopes; a bearer token reads: a platform admin every statement, an "
    "organization admin their organizations', a learner their own."
)
ERRORS = problem_responses(400, 401, 403, 413)


async def _body(request: Req) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type.startswith("multipart/"):
        raise bad("attachments (multipart/mixed) are not supported by this LRS", "content-type")
    if content_type != "application/json":
        raise bad("the body must be application/json", "content-type")
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad("the body is not JSON", "body") from None


@post(
    PATH,
    status_code=HTTP_200_OK,
    summary="Store xAPI statements (one or an array)",
    description="Stores a statement or an array of them, atomically, and answers their ids in the order "
    "sent. An id already stored with the same content is a no-op; with other content the whole request is "
    "refused with 409. A voiding statement (verb `voided`, object a StatementRef) voids its target. "
    f"Groups, SubStatements and attachments are refused with 400. {_ACCESS}",
    tags=TAGS,
    opt={**_OPT, "request_body": _BODY},
    request_max_body_size=MAX_BODY_BYTES,
    responses=problem_responses(400, 401, 403, 409, 413),
)
async def post_statements(request: Req, lrs: Lrs, lrs_authenticator: Auth) -> Response[list[str]]:
    try:
        caller = await lrs_authenticator.caller(request)  # before anything else: 401 tells a stranger nothing
        check_version(request)
        lrs.writer(caller)
        parameters(request, frozenset())
        ids = await lrs.post(caller, await _body(request))
    except Exception as exc:  # the expected refusals are answered, anything else is raised again
        return refusal(request, exc)
    return Response([str(i) for i in ids], headers=headers())


@put(
    PATH,
    status_code=HTTP_204_NO_CONTENT,
    summary="Store one xAPI statement under the given id",
    description="Stores the statement with id `statementId` (204). The same content again is a no-op "
    f"(204); other content under a stored id is refused with 409. {_ACCESS}",
    tags=TAGS,
    opt={**_OPT, "request_body": _PUT_BODY},
    request_max_body_size=MAX_BODY_BYTES,
    responses=problem_responses(400, 401, 403, 409, 413),
)
async def put_statement(request: Req, lrs: Lrs, lrs_authenticator: Auth) -> Response[None]:
    try:
        caller = await lrs_authenticator.caller(request)  # before anything else: 401 tells a stranger nothing
        check_version(request)
        lrs.writer(caller)
        params = parameters(request, frozenset({"statementId"}))
        if "statementId" not in params:
            raise bad("PUT needs the statementId parameter", "statementId")
        await lrs.put(caller, statement_id(params["statementId"], "statementId"), await _body(request))
    except Exception as exc:  # the expected refusals are answered, anything else is raised again
        return refusal(request, exc)
    return Response(None, status_code=HTTP_204_NO_CONTENT, headers=headers())


@get(
    PATH,
    summary="Get a statement by id, or query statements",
    description="With `statementId` (or `voidedStatementId` for a voided one): that statement, or 404. "
    "Otherwise a StatementResult `{statements, more}` of the statements matching `agent` (an Agent as JSON), "
    "`verb`, `activity`, `registration`, `since` (exclusive) and `until` (inclusive) on the stored time, "
    "newest first unless `ascending=true`, `limit` per page (0 or above the maximum: 100); `more` is the URL "
    "of the next page, empty at the end. Voided statements are never listed. `format` is `exact` "
    f"(default) or `ids`. {_ACCESS}",
    tags=TAGS,
    opt=_OPT,
    responses=problem_responses(400, 401, 403, 404),
)
async def get_statements(request: Req, lrs: Lrs, lrs_authenticator: Auth) -> Response[dict[str, Any]]:
    try:
        caller = await lrs_authenticator.caller(request)  # before anything else: 401 tells a stranger nothing
        check_version(request)
        params = parameters(request, GET_PARAMETERS)
        single: list[str] = [name for name in ("statementId", "voidedStatementId") if name in params]
        if single:
            return await _one(request, lrs, caller, params, single)
        query, limit, form = statement_query(params)
        page = await lrs.statements(caller, query, limit=limit, cursor=params.get("cursor"))
    except Exception as exc:  # the expected refusals are answered, anything else is raised again
        return refusal(request, exc)
    more = ""
    if page.next_cursor is not None:
        kept = {name: value for name, value in params.items() if name != "cursor"}
        more = f"{PATH}?{urlencode({**kept, 'cursor': page.next_cursor})}"
    statements = [formatted(s.statement.as_json(), form) for s in page.items]
    return Response({"statements": statements, "more": more}, headers=headers())


async def _one(
    request: Req, lrs: LrsService, caller: LrsCaller, params: dict[str, str], single: list[str]
) -> Response[Any]:
    if len(single) > 1:
        raise bad("send statementId or voidedStatementId, not both", "voidedStatementId")
    others = set(params) - SINGLE_PARAMETERS
    if others:
        raise bad(f"{single[0]} takes no other filter ({', '.join(sorted(others))})", sorted(others)[0])
    if params.get("attachments", "false") == "true":
        raise bad("attachments=true is not supported by this LRS", "attachments")
    name = single[0]
    form = output_format(params)
    found = await lrs.statement(caller, statement_id(params[name], name), voided=name == "voidedStatementId")
    if found is None:
        raise XapiRefused(404, f"statement {params[name]} was not found", code="not-found")
    data = found.as_json()
    stored = found.stored.astimezone(UTC) if found.stored else None
    extra = {"Last-Modified": stored.strftime("%a, %d %b %Y %H:%M:%S GMT")} if stored else {}
    return Response(formatted(data, form), headers=headers(**extra))


XAPI_HANDLERS = [post_statements, put_statement, get_statements]
