"""Anonymous pages of a cached listing, answered from their encoded bytes (issue 13: the cached catalog list
at 0.7 of a bare Litestar app serving the same bytes).

A busy public listing (the catalog's first pages) is read by anonymous callers with the same few query
strings. With the catalog cache, the rows already come from the process's near copy; what remained per
request was Litestar resolving the handler's query parameters and dependencies, the use case, and encoding
the same 9 KB of JSON again: a third of the request's CPU. The memo keeps the encoded body and headers
of each (root path, path, raw query string) answered to an anonymous caller, under the listing's version token (the
catalog cache's list version, which every change to a listed course bumps and this process re-reads at
most every ``version_ttl_seconds``): a later identical request is answered by a ``before_request`` hook with
those bytes. The middleware (request id, admission, rate limits, metrics, compression) runs as for any
request; only the handler is skipped. So the memo adds no staleness of its own: a page is served from it
only while the version it was encoded under is the current one, as the near copy of the rows already was.

Nothing is memoized without a version token (no catalog cache, or the shared cache not answering), for a
caller that sends credentials (an ``Authorization`` header or any cookie: what they see may differ, and a
bad token must still be refused), or for an answer that is not a 200 (a refused query string is checked
again every time). The memo is bounded (least recently used pages are dropped).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response
from litestar.enums import MediaType
from litestar.response.base import ASGIResponse
from litestar.serialization import encode_json

STATE_KEY = "elearning.page_memo"
PAGES_KEPT = 512
MAX_AGE_SECONDS = 0.5
"""As long as the catalog cache keeps its near copy of a page's rows (``CachedCatalogQueries``'s
``version_ttl_seconds``): the memo is never staler than the rows it would be rendered from."""
_VERSION = "elearning.page_memo.version"


@dataclass(frozen=True, slots=True)
class _Page:
    version: int
    at: float
    ready: ASGIResponse
    """The low-level GET response, built once: it only reads its fields when sent (its header list is
    copied into each start message, which the middleware then extends), so concurrent requests share it."""


class PageMemo:
    """Encoded anonymous pages of one listing, by request target, under ``version()``'s token."""

    def __init__(
        self,
        version: Callable[[], Awaitable[int | None]],
        *,
        max_age: float = MAX_AGE_SECONDS,
        kept: int = PAGES_KEPT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._version = version
        self._max_age = max_age
        self._kept = kept
        self._clock = clock
        self._pages: OrderedDict[tuple[str, str, bytes], _Page] = OrderedDict()

    async def answer(self, request: Request[Any, Any, Any]) -> Response[Any] | None:
        """The ``before_request`` hook: the memoized answer, or None to run the handler."""
        scope = request.scope
        if not _anonymous(scope):
            return None
        version = await self._version()
        if version is None:
            return None
        key = _key(scope)
        page = self._pages.get(key)
        if page is not None and page.version == version and self._clock() - page.at < self._max_age:
            self._pages.move_to_end(key)
            return _Ready(page.ready)
        scope.setdefault("state", {})[_VERSION] = version  # the handler may keep what it answers
        return None

    def keep(self, request: Request[Any, Any, Any], content: Any, headers: dict[str, str]) -> Response[Any]:
        """The handler's answer: encoded here and kept when the hook found this request memoizable."""
        scope = request.scope
        response = ready_json(content, headers)
        version = scope.get("state", {}).get(_VERSION)
        if version is not None:
            key = _key(scope)
            self._pages[key] = _Page(version, self._clock(), response.ready)
            self._pages.move_to_end(key)
            while len(self._pages) > self._kept:
                self._pages.popitem(last=False)
        return response


class _Ready(Response[Any]):
    """A JSON answer already encoded, on its way out: straight to the low-level response (its body is final
    bytes and its headers are the handler's; ``Response.to_asgi_response`` would merge, encode and check
    them again: a sixth of a memoized page's CPU)."""

    def __init__(self, ready: ASGIResponse) -> None:
        self.ready = ready

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        return self.ready  # a GET route's (Litestar routes no HEAD to it)


def ready_json(content: Any, headers: dict[str, str]) -> _Ready:
    """``content`` encoded once (Litestar's default JSON encoding), as a 200 with ``headers``."""
    return _Ready(ASGIResponse(body=encode_json(content), headers=headers, media_type=MediaType.JSON))


def _key(scope: Any) -> tuple[str, str, bytes]:
    # The root path too: the Link header of a page is root-relative.
    return (scope.get("root_path", ""), scope["path"], scope["query_string"])


def _anonymous(scope: Any) -> bool:
    return not any(name in (b"authorization", b"cookie") for name, _ in scope["headers"])


def page_memo_of(request: Request[Any, Any, Any]) -> PageMemo | None:
    memo = request.scope["litestar_app"].state.get(STATE_KEY)
    return memo if isinstance(memo, PageMemo) else None


async def answer_from_memo(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """``before_request`` of a memoized listing route (the app puts its ``PageMemo`` in its state)."""
    memo = page_memo_of(request)
    return None if memo is None else await memo.answer(request)
