"""The one pass over the generated OpenAPI document that makes it say what the server does.

Litestar generates the document from the handlers; what every operation shares is added here, once,
from the facts the server itself acts on, rather than repeated on each route:

- the security schemes (bearer token, session cookie, CSRF header) and each operation's ``security``,
  from the handler's ``opt`` (``public``, ``public_write``) and the method, as ``elearning_http.auth``
  decides them;
- the answers of the overload layers on every operation but ``/health``, ``/ready`` and ``/metrics``:
  429 (the per-client rate limit, with ``Retry-After`` and the ``RateLimit``/``RateLimit-Policy``
  headers) and 503 (admission control, with ``Retry-After``);
- the error responses every operation of a kind can give: 401 (a credential present but wrong),
  403 (a cookie session writing without its CSRF token), 400/413/415 (a JSON body that is malformed,
  too large or not JSON), 422 (parameters or a body that do not validate), all as problem details;
- any 4xx/5xx left in another shape becomes ``application/problem+json`` with ``ProblemDetails`` (a
  documented HTML page for browsers stays beside it);
  204 and HEAD answers carry no content;
- ``additionalProperties: false`` on the request models that refuse unknown fields, a
  ``discriminator`` on every tagged union (and its tag ``required``);
- descriptions (the caller's access, the parameter glossary) and request examples.

Route-specific truth (a second success status, a redirect, tus's own statuses) stays on the route,
through ``problem_responses`` and ``alternative``.
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Iterator
from typing import Any, get_args

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from pydantic import BaseModel

from elearning_http.admission import NEVER_REFUSED
from elearning_http.auth import ACCESS_COOKIE, CSRF_HEADER
from elearning_http.errors import PROBLEM_JSON, PROBLEM_STATUS_DESCRIPTIONS
from elearning_http.openapi._glossary import PARAMETER_DESCRIPTIONS, REQUEST_EXAMPLES

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
SAFE_METHODS = frozenset({"get", "head", "options"})
JSON = "application/json"

BEARER = "bearerAuth"
COOKIE = "sessionCookie"
CSRF = "csrfToken"
LRS_BASIC = "lrsBasic"
SECURITY_SCHEMES: dict[str, Any] = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from `POST /api/v1/auth/login` (or the admin service token): "
        "`Authorization: Bearer <token>`.",
    },
    COOKIE: {
        "type": "apiKey",
        "in": "cookie",
        "name": ACCESS_COOKIE,
        "description": 'The browser session a sign-in with `"cookie": true` sets (HttpOnly).',
    },
    LRS_BASIC: {
        "type": "http",
        "scheme": "basic",
        "description": "An LRS credential of the learning record store (`/xapi/statements`): `key:secret` from "
        "`elearning analytics lrs-credentials create`.",
    },
    CSRF: {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRF-Token",
        "description": "A cookie session's CSRF token (the `csrf_token` of the sign-in answer, also in the "
        "`elearning_csrf` cookie): required with the session cookie on every request that changes something.",
    },
}
assert SECURITY_SCHEMES[CSRF]["name"].lower() == CSRF_HEADER

PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "ProblemDetails",
    "description": "RFC 9457 problem details: every error of this API has this shape.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "A URN naming the problem: urn:elearning:problem:<code>"},
        "title": {"type": "string", "description": "The HTTP status phrase"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong, for a person"},
        "instance": {"oneOf": [{"type": "string"}, {"type": "null"}], "description": "The request path"},
        "request_id": {"oneOf": [{"type": "string"}, {"type": "null"}], "description": "As in X-Request-ID"},
        "errors": {
            "oneOf": [{"type": "array", "items": {"$ref": "#/components/schemas/FieldProblem"}}, {"type": "null"}],
            "description": "Each invalid field, named by its JSON path (422)",
        },
    },
}
FIELD_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "FieldProblem",
    "required": ["field", "message"],
    "properties": {
        "field": {"type": "string", "description": "JSON path of the field (`slots.0.question_id`), or the parameter"},
        "message": {"type": "string"},
    },
}

_RETRY_AFTER = {
    "description": "Seconds to wait before trying again",
    "schema": {"type": "integer", "minimum": 1},
}
OVERLOAD_HEADERS: dict[int, dict[str, Any]] = {
    429: {
        "Retry-After": {**_RETRY_AFTER, "required": True},
        "RateLimit-Policy": {
            "description": 'The quota refused (draft-ietf-httpapi-ratelimit-headers): `"token";q=600;w=60` '
            '(per credential) or `"ip";q=3000;w=60` (per client address); absent on a sign-in throttle\'s 429',
            "schema": {"type": "string"},
        },
        "RateLimit": {
            "description": 'What is left of it and when it resets: `"token";r=0;t=17`',
            "schema": {"type": "string"},
        },
    },
    503: {"Retry-After": _RETRY_AFTER},
}

ACCESS_TEXT = {
    "lrs": "Needs HTTP Basic with an LRS credential, or a bearer token.",
    "public_write": "No credentials needed.",
    "public": "Open to anonymous callers; a bearer token or session cookie, when sent, must be valid (401).",
    "read": "Needs a bearer token or the session cookie.",
    "write": "Needs a bearer token, or the session cookie with its X-CSRF-Token header (403 without it).",
}


def access_of(handler: HTTPRouteHandler | None, method: str) -> str:
    """Who may call: the handler's ``opt`` (``public_write``, ``public``), else authenticated by method."""
    opt = handler.opt if handler is not None else {}
    if opt.get("lrs"):
        return "lrs"
    if opt.get("public_write"):
        return "public_write"
    if opt.get("public"):
        return "public"
    return "read" if method in SAFE_METHODS else "write"


def security_for(access: str) -> list[dict[str, list[str]]]:
    if access == "public_write":
        return []
    if access == "lrs":
        return [{LRS_BASIC: []}, {BEARER: []}]
    if access == "public":
        return [{}, {BEARER: []}, {COOKIE: []}]
    if access == "read":
        return [{BEARER: []}, {COOKIE: []}]
    return [{BEARER: []}, {COOKIE: [], CSRF: []}]


def handlers_by_operation(app: Litestar) -> dict[tuple[str, str], HTTPRouteHandler]:
    """``(path as documented, method)`` -> the handler that answers it."""
    found: dict[tuple[str, str], HTTPRouteHandler] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                for method in handler.http_methods:
                    found[(route.path_format or "/", method.lower())] = handler
    return found


def finalize(raw: dict[str, Any], app: Litestar) -> dict[str, Any]:
    """The document as served: ``raw`` (Litestar's) with the shared promises applied. ``raw`` is left as it is."""
    doc = copy.deepcopy(raw)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["ProblemDetails"] = PROBLEM_SCHEMA
    schemas["FieldProblem"] = FIELD_PROBLEM_SCHEMA
    components["securitySchemes"] = SECURITY_SCHEMES
    handlers = handlers_by_operation(app)
    for path, item in doc.get("paths", {}).items():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            handler = handlers.get((path, method))
            _operation(operation, method, handler, schemas)
            if path not in NEVER_REFUSED:
                _overload(operation["responses"])
    for model in _request_models(handlers.values()):
        _close(schemas.get(model.__name__), model)
    for schema in _walk(schemas):
        _discriminate(schema, schemas)
    return doc


def _operation(
    operation: dict[str, Any], method: str, handler: HTTPRouteHandler | None, schemas: dict[str, Any]
) -> None:
    access = access_of(handler, method)
    operation["security"] = security_for(access)
    opt = handler.opt if handler is not None else {}
    if "request_body" in opt:
        operation["requestBody"] = copy.deepcopy(opt["request_body"])
    elif "requestBody" in operation and handler is not None and _body_optional(handler):
        operation["requestBody"]["required"] = False
    if "header_parameters" in opt:
        operation.setdefault("parameters", []).extend(copy.deepcopy(opt["header_parameters"]))
    responses = operation.setdefault("responses", {})
    body = operation.get("requestBody", {}).get("content", {})
    shared: list[int] = []
    if access != "public_write":
        shared.append(401)
    if access == "write":
        shared.append(403)
    if JSON in body:
        shared += [400, 413, 415]
    if body or operation.get("parameters"):
        shared.append(422)
    for status in shared:
        responses.setdefault(str(status), _problem(status))
    for status, response in responses.items():
        if status[0] in "45":
            response.setdefault("description", PROBLEM_STATUS_DESCRIPTIONS.get(int(status), "An error"))
            # A page for browsers (a mailed link's form, ``elearning_http.pages``) stays beside the problem document.
            pages = {t: c for t, c in response.get("content", {}).items() if t.startswith("text/html")}
            response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}, **pages}
        elif status == "204" or method == "head" or (status.startswith("3") and not response.get("content")):
            response.pop("content", None)
    if "success_content" in opt:
        # A list of media types served as bytes, or a mapping of media types to their schemas (a route whose
        # answer is JSON or an image by a query parameter).
        success = next(s for s in responses if s.startswith("2"))
        wanted = opt["success_content"]
        binary = {"type": "string", "format": "binary"}
        schemas = wanted if isinstance(wanted, dict) else {media_type: binary for media_type in wanted}
        responses[success]["content"] = {t: {"schema": copy.deepcopy(schema)} for t, schema in schemas.items()}
    summary = operation.get("summary", "")
    described = operation.get("description") or (summary if summary.endswith(".") else f"{summary}.")
    operation["description"] = f"{described}\n\n{ACCESS_TEXT[access]}"
    for parameter in operation.get("parameters", []):
        if not parameter.get("description"):
            text = PARAMETER_DESCRIPTIONS.get((parameter["in"], parameter["name"]))
            if text:
                parameter["description"] = text
    content = operation.get("requestBody", {}).get("content", {})
    for media_type, entry in content.items():
        schema = entry.get("schema", {})
        ref = schema.get("$ref") or next((m["$ref"] for m in schema.get("oneOf", []) if "$ref" in m), "")
        example = REQUEST_EXAMPLES.get(ref.rsplit("/", 1)[-1] if ref else media_type)
        if example is not None and "example" not in entry and "examples" not in entry:
            entry["example"] = copy.deepcopy(example)


def _overload(responses: dict[str, Any]) -> None:
    """429 and 503, as the rate limit and admission control answer them before any route runs."""
    for status, headers in OVERLOAD_HEADERS.items():
        response = responses.setdefault(str(status), _problem(status))
        response["description"] = PROBLEM_STATUS_DESCRIPTIONS[status]
        for name, header in headers.items():
            response.setdefault("headers", {}).setdefault(name, copy.deepcopy(header))


def _body_optional(handler: HTTPRouteHandler) -> bool:
    """``data: JSONBody[X | None] = None``: the route works without a body, so the document must not require one."""
    parameter = handler.parsed_fn_signature.parameters.get("data")
    return parameter is not None and parameter.has_default


def _problem(status: int) -> dict[str, Any]:
    return {
        "description": PROBLEM_STATUS_DESCRIPTIONS.get(status, "An error"),
        "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
    }


# -- request models: unknown fields refused ---------------------------------------------------------------


def _request_models(handlers: typing.Iterable[HTTPRouteHandler]) -> Iterator[type[BaseModel]]:
    seen: set[type[Any]] = set()
    for handler in set(handlers):
        parameter = handler.parsed_fn_signature.parameters.get("data")
        if parameter is not None:
            yield from _models_in(parameter.annotation, seen)


def _models_in(annotation: Any, seen: set[type[Any]]) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        seen.add(annotation)
        yield annotation
        for field in annotation.model_fields.values():
            yield from _models_in(field.annotation, seen)
        return
    for arg in get_args(annotation):
        yield from _models_in(arg, seen)


def _close(schema: dict[str, Any] | None, model: type[BaseModel]) -> None:
    if schema is not None and model.model_config.get("extra") == "forbid" and schema.get("type") == "object":
        schema["additionalProperties"] = False


# -- tagged unions -------------------------------------------------------------------------------------------


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _discriminate(schema: dict[str, Any], schemas: dict[str, Any]) -> None:
    """A ``oneOf`` of objects that each fix one property to a constant is a tagged union: say so."""
    members = schema.get("oneOf")
    if not members or len(members) < 2 or "discriminator" in schema:
        return
    refs = [m.get("$ref", "") for m in members]
    if not all(refs):
        return
    targets = [schemas.get(ref.rsplit("/", 1)[-1], {}) for ref in refs]
    tags = [{name for name, p in t.get("properties", {}).items() if "const" in p} for t in targets]
    common = set.intersection(*tags) if tags else set()
    if len(common) != 1:
        return
    (tag,) = common
    schema["discriminator"] = {
        "propertyName": tag,
        "mapping": {t["properties"][tag]["const"]: ref for t, ref in zip(targets, refs, strict=True)},
    }
    for target in targets:
        required = target.setdefault("required", [])
        if tag not in required:
            required.append(tag)
