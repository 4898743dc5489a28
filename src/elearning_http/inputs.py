"""Bounded inputs at the HTTP edge: checks every route gets, before any route code runs.

- :class:`ApiRequest` (the app's ``request_class``) reads every JSON body: a body
  whose media type is not JSON is a 415, and one nested deeper than
  :data:`MAX_JSON_DEPTH` is a 400, both before a byte is decoded (a few thousand
  levels made the decoder raise ``RecursionError``: a 500, without a token).
- :func:`refuse_unstorable_parameters` (run on every route by ``auth.RouteChecks``) refuses a path or query
  parameter holding a NUL character with a 422 naming it, as the input models
  do for body fields (``elearning_core.shared.inputs``).

Routes that take other media (tus uploads, caption files) read ``request.body()``
or ``request.stream()`` themselves and are not touched by the JSON rules.
See docs/bounded-inputs.md.
"""

from __future__ import annotations

from itertools import accumulate
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.types import Empty

from elearning_core.shared.errors import FieldError, ValidationFailed
from elearning_core.shared.inputs import NUL_MESSAGE, text_problem
from elearning_http.errors import RequestRefused

MAX_JSON_DEPTH = 64
"""Arrays and objects nested deeper than this are refused. The deepest body this API
defines (a quiz document: slots, a question, its body, a blank's accepted answers) nests 8."""

# -- JSON depth ------------------------------------------------------------------------------------

# Brackets (one kind: depth does not care which), quotes, backslashes, and the letters a backslash can
# escape in JSON (as "x"), so an escape stays a backslash and the character right after it.
_STRUCTURE = bytes.maketrans(b"{}/bfnrtu", b"[]xxxxxxx")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"\\/bfnrtu')
_STEP = tuple(1 if b == ord("[") else -1 if b == ord("]") else 0 for b in range(256))
_PASSES = 8


def _deepest(brackets: bytes) -> int:
    """The largest running total of ``[`` (+1) and ``]`` (-1): a Python-level step per bracket."""
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text ``body`` nests arrays and objects more than ``limit`` deep.

    Every step is a C-level pass over bytes; no JSON is decoded. A body with at
    most ``limit`` opening brackets, as nearly every request is, stops after
    one translation of its bytes and a count. Otherwise everything but
    brackets and quotes is dropped, escapes resolved on the way (an escaped quote ends no string), then what
    strings hold (a bracket in a string does not nest; adjacent quotes are an
    empty string or the end and start of two strings, so ``""`` goes first),
    and innermost pairs ``[]`` are
    removed a few times: a wide document of ordinary depth vanishes. Each pass
    lowers the depth by at most one, so what remains bounds the answer; only a
    body near the limit is walked bracket by bracket.
    """
    brackets = body.translate(_STRUCTURE, _NOT_STRUCTURE)
    if brackets.count(b"[") <= limit:
        return False
    if b"\\" in brackets:  # escapes, left to right as JSON reads them: \\ first, then \" and \x
        brackets = brackets.replace(b"\\\\", b"").replace(b'\\"', b"").replace(b"\\x", b"")
    brackets = brackets.translate(None, b"x\\").replace(b'""', b"")
    if b'"' in brackets:
        brackets = b"".join(brackets.split(b'"')[::2])
        if brackets.count(b"[") <= limit:
            return False
    remainder, passes = brackets, 0
    while remainder and passes < _PASSES:
        remainder, passes = remainder.replace(b"[]", b""), passes + 1
    if len(remainder) - len(remainder.lstrip(b"[")) > limit:
        return True  # the usual attack, [[[[...: no need to walk it
    deepest_left = _deepest(remainder)
    if deepest_left > limit:
        return True
    if deepest_left + passes <= limit:
        return False
    return _deepest(brackets) > limit


# -- media types -----------------------------------------------------------------------------------


def json_media_type_problem(content_type: str | None) -> str | None:
    """Why a body with this ``Content-Type`` is not JSON this API reads, or None when it is.

    ``application/json`` and ``application/<anything>+json`` (RFC 6839) are JSON;
    a ``charset`` parameter must name UTF-8, the only encoding of JSON (RFC 8259).
    """
    if content_type is None:
        return "the body needs 'Content-Type: application/json'"
    media_type, _, parameters = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return f"this route reads application/json, not {media_type or 'an empty media type'}"
    if parameters:
        for parameter in parameters.split(";"):
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
                return f"JSON is read as UTF-8, not {value.strip()}"
    return None


class ApiRequest(Request[Any, Any, Any]):
    """The app's request: JSON bodies are checked for their media type and depth before decoding."""

    async def json(self) -> Any:
        if self._json is Empty and self._connection_state.json is Empty:  # not decoded yet
            body = await self.body()
            if body:
                problem = json_media_type_problem(self.headers.get("content-type"))
                if problem is not None:
                    raise RequestRefused(415, problem, code="unsupported-media-type")
                if json_depth_exceeds(body):
                    raise RequestRefused(
                        400,
                        f"the JSON body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep",
                        code="json-too-deep",
                        max_depth=MAX_JSON_DEPTH,
                    )
        return await super().json()


# -- path and query parameters ---------------------------------------------------------------------


def refuse_unstorable_parameters(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """A path or query parameter holding a NUL character is a 422 naming the parameter.

    Run on every route by :class:`elearning_http.auth.RouteChecks`. ASGI gives the path percent-decoded and the query string raw, so two byte
    searches clear an ordinary request; only a request carrying a NUL is parsed.
    """
    scope = connection.scope
    query = scope.get("query_string", b"")
    if "\x00" not in scope["path"] and b"%00" not in query and b"\x00" not in query:
        return
    errors = [
        FieldError(str(name), problem)
        for name, value in connection.path_params.items()
        if (problem := text_problem(str(value)))
    ]
    for name, value in connection.query_params.multi_items():
        problem = text_problem(name) or text_problem(value)
        if problem and all(error.field != name for error in errors):
            errors.append(FieldError(name.replace("\x00", "\\u0000"), problem))
    if not errors:  # a NUL in no parameter of the route: still not a path or query this API can use
        errors.append(FieldError("path" if "\x00" in scope["path"] else "query", NUL_MESSAGE))
    raise ValidationFailed("a parameter cannot be stored as text", errors)


__all__ = [
    "MAX_JSON_DEPTH",
    "ApiRequest",
    "json_depth_exceeds",
    "json_media_type_problem",
    "refuse_unstorable_parameters",
]
