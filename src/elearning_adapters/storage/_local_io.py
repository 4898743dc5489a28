"""Streams to files off the event loop, in pieces of about a megabyte."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from typing import IO, Protocol

WRITE_BUFFER = 1024 * 1024
READ_SIZE = 1024 * 1024


class Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...


async def write_stream(chunks: AsyncIterable[bytes], handle: IO[bytes], digest: Digest | None = None) -> int:
    """Write the stream through a buffer of about a megabyte (hashing it into ``digest`` on the way);
    what arrived before an error is kept."""
    buffered: list[bytes] = []
    pending = 0
    written = 0

    def write(data: bytes) -> None:
        handle.write(data)
        if digest is not None:
            digest.update(data)

    try:
        async for chunk in chunks:
            if not chunk:
                continue
            buffered.append(chunk)
            pending += len(chunk)
            if pending >= WRITE_BUFFER:
                data = b"".join(buffered) if len(buffered) > 1 else buffered[0]
                buffered, pending = [], 0
                await asyncio.to_thread(write, data)
                written += len(data)
    finally:
        if buffered:
            data = b"".join(buffered)
            await asyncio.to_thread(write, data)
            written += len(data)
    return written
