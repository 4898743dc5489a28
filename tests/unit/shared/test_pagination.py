"""Signed cursors: only a cursor this codec issued, for this listing, decodes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elearning_core.shared.errors import ValidationFailed
from elearning_core.shared.pagination import (
    MAX_PAGE_SIZE,
    CursorCodec,
    Page,
    check_page_size,
    iso_time,
    scope_of,
    uuid_key,
)

SECRET = b"0123456789abcdef-cursor-secret"
SCOPE = "published||||"
KEY = ["2026-01-05T09:30:00+00:00", "0190a5a4-8a2b-7c3d-8e4f-001122334455"]


@pytest.fixture
def codec() -> CursorCodec:
    return CursorCodec(SECRET)


def signed(body: bytes, secret: bytes = SECRET) -> str:
    """A cursor with a correct signature over an arbitrary body (what only the key holder can make)."""
    mac = hmac.new(secret, body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(body + mac).rstrip(b"=").decode()


def assert_invalid_cursor(codec: CursorCodec, scope: str, cursor: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        codec.decode(scope, cursor)
    assert [e.field for e in info.value.errors] == ["cursor"]


def test_a_cursor_round_trips(codec: CursorCodec) -> None:
    cursor = codec.encode(SCOPE, KEY)
    assert codec.decode(SCOPE, cursor) == KEY
    assert "=" not in cursor
    assert CursorCodec(SECRET).decode(SCOPE, cursor) == KEY  # another instance with the same secret


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        CursorCodec(b"too-short")


@pytest.mark.parametrize("position", [0, 5, 20, -3, -1])
def test_a_tampered_cursor_is_refused(codec: CursorCodec, position: int) -> None:
    cursor = codec.encode(SCOPE, KEY)
    chars = list(cursor)
    chars[position] = "A" if chars[position] != "A" else "B"
    tampered = "".join(chars)
    assert tampered != cursor
    assert_invalid_cursor(codec, SCOPE, tampered)


def test_a_cursor_with_an_edited_key_and_the_old_signature_is_refused(codec: CursorCodec) -> None:
    raw = base64.urlsafe_b64decode(codec.encode(SCOPE, KEY) + "==")
    body, mac = raw[:-16], raw[-16:]
    edited = body.replace(b"2026", b"2027")
    assert edited != body
    assert_invalid_cursor(codec, SCOPE, base64.urlsafe_b64encode(edited + mac).decode())


@pytest.mark.parametrize("keep", [0, 1, 10, 21, -1, -5])
def test_a_truncated_cursor_is_refused(codec: CursorCodec, keep: int) -> None:
    cursor = codec.encode(SCOPE, KEY)
    assert_invalid_cursor(codec, SCOPE, cursor[:keep])


def test_a_cursor_signed_with_another_secret_is_refused(codec: CursorCodec) -> None:
    forged = CursorCodec(b"another-secret-of-enough-length").encode(SCOPE, KEY)
    assert_invalid_cursor(codec, SCOPE, forged)


def test_an_unsigned_cursor_is_refused(codec: CursorCodec) -> None:
    body = json.dumps([SCOPE, KEY]).encode()
    assert_invalid_cursor(codec, SCOPE, base64.urlsafe_b64encode(body).decode())


def test_a_cursor_for_another_listing_is_refused(codec: CursorCodec) -> None:
    cursor = codec.encode("published|en|||", KEY)
    assert_invalid_cursor(codec, "published|fr|||", cursor)
    assert codec.decode("published|en|||", cursor) == KEY


def test_an_oversized_cursor_is_refused_even_when_correctly_signed(codec: CursorCodec) -> None:
    cursor = codec.encode(SCOPE, ["x" * 600])
    assert len(cursor) > 512
    assert_invalid_cursor(codec, SCOPE, cursor)


@pytest.mark.parametrize("cursor", ["", "!!!!", "é" * 30, "a", "====", " " * 40])
def test_garbage_is_refused(codec: CursorCodec, cursor: str) -> None:
    assert_invalid_cursor(codec, SCOPE, cursor)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{}", b'{"a": 1}', b"5", b"null", b'["published||||"]', b'["a", "b", "c"]', b'"ab"'],
)
def test_a_correctly_signed_cursor_with_a_malformed_body_is_refused(codec: CursorCodec, body: bytes) -> None:
    assert_invalid_cursor(codec, SCOPE, signed(body))


def test_a_correctly_signed_cursor_whose_key_is_not_a_list_is_refused(codec: CursorCodec) -> None:
    assert_invalid_cursor(codec, SCOPE, signed(json.dumps([SCOPE, "key"]).encode()))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=600) | st.binary(max_size=400).map(lambda b: base64.urlsafe_b64encode(b).decode()))
def test_decoding_arbitrary_text_only_ever_raises_validation_failed(cursor: str) -> None:
    with pytest.raises(ValidationFailed):
        CursorCodec(SECRET).decode(SCOPE, cursor)


@pytest.mark.parametrize("limit", [0, -1, MAX_PAGE_SIZE + 1, 10_000])
def test_page_size_out_of_range_is_refused(limit: int) -> None:
    with pytest.raises(ValidationFailed) as info:
        check_page_size(limit)
    assert [e.field for e in info.value.errors] == ["limit"]


@pytest.mark.parametrize("limit", [1, 20, MAX_PAGE_SIZE])
def test_page_size_in_range_is_accepted(limit: int) -> None:
    assert check_page_size(limit) == limit


# -- the paging helpers every listing uses -----------------------------------------------


def walk(codec: CursorCodec, fetch: Callable[[str | None], Page[int]]) -> list[list[int]]:
    """Every page of a listing, following next_cursor from the first page to the last."""
    pages, cursor = [], None
    for _ in range(1_000):
        page = fetch(cursor)
        pages.append(page.items)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
    raise AssertionError("the listing never ended")


@given(st.lists(st.integers(-1_000, 1_000), unique=True, max_size=40), st.integers(1, 7))
@settings(max_examples=60, deadline=None)
def test_keyset_pages_cover_every_row_once(rows: list[int], limit: int) -> None:
    codec, ordered = CursorCodec(SECRET), sorted(rows)
    scope = scope_of("numbers")

    def fetch(cursor: str | None) -> Page[int]:
        after = codec.after(scope, cursor, lambda key: int(key[0]))
        read = [r for r in ordered if after is None or r > after][: limit + 1]  # what a query with limit + 1 reads
        return codec.page(scope, read, limit, lambda r: [r])

    pages = walk(codec, fetch)
    assert [r for page in pages for r in page] == ordered
    assert all(len(page) == limit for page in pages[:-1])
    assert len(pages[-1]) <= limit
    assert pages[-1] or not ordered  # no empty last page after a full one


@given(st.lists(st.text(max_size=5), unique=True, max_size=30), st.integers(1, 6))
@settings(max_examples=60, deadline=None)
def test_a_list_read_whole_pages_in_key_order(values: list[str], limit: int) -> None:
    codec, scope = CursorCodec(SECRET), scope_of("words", "filter")
    pages = walk(codec, lambda cursor: codec.slice(scope, values, cursor, limit, lambda v: [v]))
    assert [v for page in pages for v in page] == sorted(values)


def test_a_cursor_of_another_listing_or_filter_is_refused(codec: CursorCodec) -> None:
    first = codec.page(scope_of("users", "active"), [1, 2, 3], 2, lambda r: [r])
    assert first.next_cursor is not None
    for other in (scope_of("users", "suspended"), scope_of("users", None), scope_of("videos", "active")):
        with pytest.raises(ValidationFailed) as info:
            codec.after(other, first.next_cursor, lambda key: int(key[0]))
        assert [e.field for e in info.value.errors] == ["cursor"]


def test_a_signed_key_of_the_wrong_shape_is_an_invalid_cursor(codec: CursorCodec) -> None:
    cursor = codec.encode("ids", ["not-a-uuid"])
    with pytest.raises(ValidationFailed) as info:
        codec.after("ids", cursor, uuid_key)
    assert [e.field for e in info.value.errors] == ["cursor"]
    mixed = codec.encode("words", [1])
    with pytest.raises(ValidationFailed):
        codec.slice("words", ["a", "b"], mixed, 1, lambda v: [v])


def test_no_cursor_is_the_first_page_and_scopes_stay_short(codec: CursorCodec) -> None:
    assert codec.after("ids", None, uuid_key) is None
    assert codec.after("ids", "", uuid_key) is None
    assert scope_of("users", None) != scope_of("users", "")
    assert len(scope_of("users", "x" * 5_000)) < 40  # a long filter does not make a long cursor


def test_iso_time_sorts_as_text_in_time_order() -> None:
    times = [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 0, 500, tzinfo=UTC)]
    assert sorted(iso_time(t) for t in times) == [iso_time(t) for t in sorted(times)]
