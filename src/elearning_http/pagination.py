"""The one pagination contract of the HTTP API (docs/pagination.md).

Every list that can grow takes ``?limit=&cursor=`` (``Limit``, ``Cursor``), answers
``{"items": [...], "next_cursor": "..." | null}`` (``Paged[T]``) and, when there is a
next page, an RFC 8288 ``Link: <...>; rel="next"`` header whose URL is the request's own
with the new cursor. A route builds that answer with ``paged(request, page)`` from the
core's ``Page`` (the service encodes and checks the signed cursor) and documents the
header with ``LINK``:

    @get("/things", response_headers=LINK)
    async def list_things(self, request: Req, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> Response[Paged[ThingOut]]:
        return paged(request, await service.list_things(actor, cursor=cursor, limit=limit), thing_out)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, make_dataclass
from typing import Annotated, Any, Generic, TypeVar, overload
from urllib.parse import quote_plus, unquote_plus

from litestar import Request, Response
from litestar.datastructures import ResponseHeader
from litestar.params import QueryParameter

from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page

T = TypeVar("T")
U = TypeVar("U")

Cursor = Annotated[
    str | None,
    QueryParameter(
        max_length=512,
        description="The `next_cursor` of the previous page (opaque and signed; valid only for the same "
        "listing and filters). Omit it for the first page.",
    ),
]
Limit = Annotated[
    int,
    QueryParameter(
        ge=1, le=MAX_PAGE_SIZE, description=f"Items per page, 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})."
    ),
]

LINK = [
    ResponseHeader(
        name="Link",
        value="",  # documentation only: its type gives the documented schema (a string)
        documentation_only=True,
        required=False,
        description='RFC 8288 link to the next page, `<URL>; rel="next"`: this request\'s URL with the '
        "`cursor` of the next page. Absent on the last page.",
    )
]
"""``response_headers=LINK`` documents the next-page header on a paged route."""


@dataclass(frozen=True, slots=True)
class Paged(Generic[T]):
    """One page of a listing.

    ``Paged[X]`` with a concrete ``X`` is a dataclass of its own named ``XPage``, so the OpenAPI
    document names its schema ``XPage`` (not ``Paged_module.path.X_``) and generated clients get
    readable class names.
    """

    items: list[T]
    next_cursor: str | None
    """Opaque: pass it back as ``cursor`` for the next page; null on the last page."""

    def __class_getitem__(cls, item: Any) -> Any:
        if isinstance(item, type):
            return _page_of(item)
        return super().__class_getitem__(item)  # type: ignore[misc]


@functools.cache
def _page_of(item: type) -> type:
    page = make_dataclass(
        f"{item.__name__}Page",
        [("items", list[item]), ("next_cursor", str | None)],  # type: ignore[valid-type]
        bases=(Paged,),
        frozen=True,
        slots=True,
    )
    page.__module__ = __name__
    page.__doc__ = f"One page of a listing of {item.__name__}."
    return page


@overload
def paged(request: Request[Any, Any, Any], page: Page[T]) -> Response[Paged[T]]: ...
@overload
def paged(request: Request[Any, Any, Any], page: Page[T], convert: Callable[[T], U]) -> Response[Paged[U]]: ...
def paged(
    request: Request[Any, Any, Any], page: Page[Any], convert: Callable[[Any], Any] | None = None
) -> Response[Paged[Any]]:
    """The answer for ``page``: the body (items passed through ``convert``) and the ``Link`` header."""
    content, headers = page_parts(request, page, convert)
    return Response(content, headers=headers)


def page_parts(
    request: Request[Any, Any, Any], page: Page[Any], convert: Callable[[Any], Any] | None = None
) -> tuple[Paged[Any], dict[str, str]]:
    """``paged``'s body and headers, for a route that renders them itself (``PageMemo.keep``)."""
    items = page.items if convert is None else [convert(item) for item in page.items]
    headers = {}
    if page.next_cursor is not None:
        headers["Link"] = f'<{next_page_url(request, page.next_cursor)}>; rel="next"'
    return Paged(items, page.next_cursor), headers


def next_page_url(request: Request[Any, Any, Any], cursor: str) -> str:
    """The request's root-relative URL with ``cursor`` in place of its own (every other query
    parameter kept as the client sent it, repeated ones included).

    Works on the raw query string: the other parameters are copied byte for byte, not decoded and
    encoded again (that round trip was an eighth of a cached catalog read, issue 13), and the cursor
    is URL-safe base64 (``CursorCodec``), so it needs no quoting.
    """
    scope = request.scope
    raw = scope.get("query_string", b"").decode("latin-1")
    kept = [part for part in raw.split("&") if part and not _is_cursor(part)]
    kept.append(f"cursor={quote_plus(cursor, safe='-_.~')}")
    return f"{scope.get('root_path', '')}{scope['path']}?{'&'.join(kept)}"


def _is_cursor(part: str) -> bool:
    name = part.split("=", 1)[0]
    if "%" in name or "+" in name:
        name = unquote_plus(name)
    return name == "cursor"
