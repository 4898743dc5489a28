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
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from elearning_core.shared.errors import FieldError, ValidationFailed

T = TypeVar("T")

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

    def decode(self, scope: str, cursor: str) -> list[Any]:
        invalid = ValidationFailed("cursor is invalid or was altered", [FieldError("cursor", "invalid cursor")])
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
