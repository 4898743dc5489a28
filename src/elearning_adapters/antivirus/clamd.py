"""ClamAV's daemon over its INSTREAM protocol, on TCP or a unix socket.

``zINSTREAM\\0``, then the bytes as chunks each prefixed by its length (4 bytes, network order), then a
zero length; clamd answers one NUL-terminated line: ``stream: OK``, ``stream: <signature> FOUND``, or
``... ERROR`` (``INSTREAM size limit exceeded`` past its ``StreamMaxLength``). Every answer but the first
two is ``ScannerUnavailable``: the platform never serves a file without a verdict. One connection per
scan (clamd handles them concurrently); every step is bounded by ``timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from elearning_core.attachment.ports import CLEAN, ScannerUnavailable, ScanResult, VirusScanner

CHUNK_BYTES = 64 * 1024
"""Bytes per INSTREAM chunk (clamd's default StreamMaxLength is 25 MiB; a chunk is far below it)."""
REPLY_MAX = 4096


@dataclass(frozen=True, slots=True)
class ClamdAddress:
    host: str | None = None
    port: int | None = None
    path: str | None = None
    """A unix socket's path (instead of host and port)."""

    def __str__(self) -> str:
        return f"unix://{self.path}" if self.path else f"tcp://{self.host}:{self.port}"


def parse_address(value: str) -> ClamdAddress:
    """``tcp://host:port`` or ``unix:///path/to/clamd.ctl``; ValueError otherwise."""
    parts = urlsplit(value)
    if parts.scheme == "unix" and parts.path and not parts.netloc:
        return ClamdAddress(path=parts.path)
    if parts.scheme == "tcp" and parts.hostname and not parts.path.strip("/"):
        try:
            port = parts.port
        except ValueError:
            port = None
        if port:
            return ClamdAddress(host=parts.hostname, port=port)
    raise ValueError(f"a clamd address is tcp://HOST:PORT or unix:///PATH, not {value!r}")


class ClamdScanner(VirusScanner):
    def __init__(self, address: ClamdAddress, timeout: float = 60.0) -> None:
        self.address, self._timeout = address, timeout

    async def scan(self, chunks: AsyncIterable[bytes]) -> ScanResult:
        try:
            reader, writer = await asyncio.wait_for(self._connect(), self._timeout)
        except (OSError, TimeoutError) as exc:
            raise ScannerUnavailable(f"clamd at {self.address} cannot be reached: {exc or type(exc).__name__}") from exc
        try:
            reply = await self._exchange(reader, writer, chunks)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            raise ScannerUnavailable(f"clamd at {self.address} failed the scan: {exc or type(exc).__name__}") from exc
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
        return _verdict(reply, str(self.address))

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.address.path is not None:
            return await asyncio.open_unix_connection(self.address.path)
        return await asyncio.open_connection(self.address.host, self.address.port)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chunks: AsyncIterable[bytes]
    ) -> bytes:
        writer.write(b"zINSTREAM\0")
        try:
            async for chunk in chunks:
                for start in range(0, len(chunk), CHUNK_BYTES):
                    piece = chunk[start : start + CHUNK_BYTES]
                    writer.write(struct.pack("!L", len(piece)) + piece)
                    await asyncio.wait_for(writer.drain(), self._timeout)
            writer.write(struct.pack("!L", 0))
            await asyncio.wait_for(writer.drain(), self._timeout)
        except ConnectionError:
            # clamd stops reading past its StreamMaxLength and says so before closing: read why.
            pass
        reply = await asyncio.wait_for(reader.readuntil(b"\0"), self._timeout)
        return reply[:REPLY_MAX]


def _verdict(reply: bytes, address: str) -> ScanResult:
    line = reply.rstrip(b"\0").decode("utf-8", "replace").strip()
    _, _, answer = line.partition(": ")
    if answer == "OK":
        return CLEAN
    if answer.endswith(" FOUND"):
        return ScanResult(signature=answer.removesuffix(" FOUND").strip() or "unknown")
    raise ScannerUnavailable(f"clamd at {address} gave no verdict: {line!r}")
