"""The upload's stream as the store sees it: held back until its type is known, refused past the limit as it
arrives (whatever length was announced), hashed, and passed on unchanged."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable

import pytest

from elearning_core.attachment.model import AttachmentTooLarge, UnsupportedAttachmentType
from elearning_core.attachment.service import _Inspected
from elearning_core.attachment.sniffing import DEFAULT_ALLOWED, PDF, SNIFF_BYTES


async def stream(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def drain(inspected: _Inspected) -> list[bytes]:
    return [chunk async for chunk in inspected]


async def test_a_file_passes_unchanged_with_its_type_size_and_hash() -> None:
    pieces = [b"%PDF-1.7\n", b"a" * 100_000, b"b" * 7]
    inspected = _Inspected(stream(pieces), 1_000_000, DEFAULT_ALLOWED)

    out = await drain(inspected)

    assert b"".join(out) == b"".join(pieces)
    assert (inspected.media_type, inspected.size) == (PDF, sum(map(len, pieces)))
    assert inspected.sha256.hexdigest() == hashlib.sha256(b"".join(pieces)).hexdigest()


async def test_nothing_reaches_the_store_before_the_type_is_known() -> None:
    pieces = [b"MZ\x90\x00"] + [b"\x00" * 1024] * (SNIFF_BYTES // 1024 + 4)
    inspected = _Inspected(stream(pieces), 10_000_000, DEFAULT_ALLOWED)
    passed: list[bytes] = []

    async def store() -> None:
        async for chunk in inspected:
            passed.append(chunk)

    with pytest.raises(UnsupportedAttachmentType):
        await store()

    assert passed == []


async def test_a_stream_past_the_limit_is_refused_as_it_arrives() -> None:
    consumed = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal consumed
        yield b"%PDF-1.7\n"
        for _ in range(1000):  # bounded: far past the limit
            consumed += 1
            yield b"x" * 1024

    inspected = _Inspected(endless(), 100 * 1024, DEFAULT_ALLOWED)

    with pytest.raises(AttachmentTooLarge):
        await drain(inspected)
    assert consumed == 100  # stopped at the first chunk past 100 KiB, not at the end


async def test_an_allowed_type_not_in_the_configured_list_is_refused() -> None:
    inspected = _Inspected(stream([b"plain text\n"]), 1000, frozenset({PDF}))

    with pytest.raises(UnsupportedAttachmentType, match="text/plain"):
        await drain(inspected)
