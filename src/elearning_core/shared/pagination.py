"""Cursor (keyset) pagination.

A cursor is the sort key of the last item on a page, serialised and signed
with HMAC-SHA256, so clients treat it as opaque and a tampered or forged
cursor is refused instead of silently returning a wrong page.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from elearning_core.shared.errors import FieldError, ValidationFailed

T = TypeVar("T")
K = TypeVar("K")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
_MAX_CURSOR_LENGTH = 512


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def check_page_size(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationFailed(
            f"limit must be between 1 and {MAX_PAGE_SIZE}",
            [FieldError("limit", f"must be between 1 and {MAX_PAGE_SIZE}")],
        )
    return limit


def scope_of(listing: str, *filters: object) -> str:
    """A short stable name for one listing and its filter values, to bind cursors to it.

    Hashed, so a long text filter does not make the cursor long; ``None`` and ``""`` differ.
    """
    parts = json.dumps([None if f is None else str(f) for f in filters], separators=(",", ":"))
    return f"{listing}:{hashlib.sha256(parts.encode()).hexdigest()[:24]}"


def iso_time(at: datetime) -> str:
    """A time as a cursor key part that sorts as text in time order (UTC, always with microseconds)."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def uuid_key(key: list[Any]) -> uuid.UUID:
    """The sort key of a listing in id order (ids are time-ordered and unique)."""
    (value,) = key
    return uuid.UUID(str(value))


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed("cursor is invalid or was altered", [FieldError("cursor", "invalid cursor")])


class CursorCodec:
    """Signs and verifies cursors. ``scope`` binds a cursor to one listing and its filters."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("cursor secret must be at least 16 bytes")
        self._secret = secret
        # The first page of a listing is read over and over and always ends on the same key:
        # its cursor is remembered rather than serialised and signed again (a few % of the request).
        self._encoded = functools.lru_cache(maxsize=1024)(self._encode)

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body, hashlib.sha256).digest()[:16]

    def encode(self, scope: str, key: list[Any]) -> str:
        try:
            return self._encoded(scope, tuple(key))
        except TypeError:  # an unhashable part: sign it afresh
            return self._encode(scope, tuple(key))

    def _encode(self, scope: str, key: tuple[Any, ...]) -> str:
        body = json.dumps([scope, list(key)], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(body + self._mac(body)).rstrip(b"=").decode()

    def after(self, scope: str, cursor: str | None, parse: Callable[[list[Any]], K]) -> K | None:
        """The sort key ``cursor`` carries (None for the first page), through ``parse``; a key that
        does not parse is an invalid cursor, a cursor of another listing or filter is refused."""
        if not cursor:
            return None
        key = self.decode(scope, cursor)
        try:
            return parse(key)
        except (TypeError, ValueError):
            raise _invalid_cursor() from None

    def page(self, scope: str, rows: Sequence[T], limit: int, key: Callable[[T], list[Any]]) -> Page[T]:
        """A page from ``rows`` read with ``limit + 1``: the extra row only says that a next page exists,
        and the next cursor carries ``key`` of the page's last item."""
        items = list(rows[:limit])
        if len(rows) <= limit:
            return Page(items, None)
        return Page(items, self.encode(scope, key(items[-1])))

    def slice(
        self, scope: str, items: Sequence[T], cursor: str | None, limit: int, key: Callable[[T], list[Any]]
    ) -> Page[T]:
        """A page of a short list read whole (a video's captions, a course's cohorts), in the order of
        ``key``: JSON strings, numbers or booleans (``iso_time`` for times), unique per item."""
        after = self.after(scope, cursor, list)
        try:
            rest = sorted((item for item in items if after is None or key(item) > after), key=key)
        except TypeError:  # a key of another shape: not one of ours
            raise _invalid_cursor() from None
        return self.page(scope, rest[: limit + 1], limit, key)

    def decode(self, scope: str, cursor: str) -> list[Any]:
        invalid = _invalid_cursor()
        if len(cursor) > _MAX_CURSOR_LENGTH:
            raise invalid
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (ValueError, TypeError):
            raise invalid from None
        body, mac = raw[:-16], raw[-16:]
        if len(raw) <= 16 or not hmac.compare_digest(mac, self._mac(body)):
            raise invalid
        try:
            cursor_scope, key = json.loads(body)
        except (ValueError, TypeError):
            raise invalid from None
        if cursor_scope != scope or not isinstance(key, list):
            raise ValidationFailed(
                "cursor belongs to a different listing or filter",
                [FieldError("cursor", "cursor does not match the query")],
            )
        return key
