"""ClamAV's daemon over its INSTREAM protocol, on TCP or a unix socket.

``zINSTREAM\\0``, then the bytes as chunks each prefixed by its length (4 bytes, network order), then a
zero length; clamd answers one NUL-terminated line: ``stream: OK``, ``stream: <signature> FOUND``, or
``... ERROR`` (``INSTREAM size limit exceeded`` past its ``StreamMaxLength``). Every answer but the first
two is ``ScannerUnavailable``: the platform never serves a file without a verdict. One connection per
scan (clamd handles them concurrently); every step is bounded by ``timeout``.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Any
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
    """On a plain non-blocking socket (``loop.sock_*``), not an asyncio stream: past its StreamMaxLength clamd
    answers and closes while bytes are still coming, and a stream's transport, on the write that then fails
    (EPIPE), closes itself without reading the answer that had arrived; the socket is still read here."""

    def __init__(self, address: ClamdAddress, timeout: float = 60.0) -> None:
        self.address, self._timeout = address, timeout

    async def scan(self, chunks: AsyncIterable[bytes]) -> ScanResult:
        loop = asyncio.get_running_loop()
        try:
            sock = await asyncio.wait_for(self._connect(loop), self._timeout)
        except (OSError, TimeoutError) as exc:
            raise ScannerUnavailable(f"clamd at {self.address} cannot be reached: {exc or type(exc).__name__}") from exc
        try:
            reply = await self._exchange(loop, sock, chunks)
        except (OSError, TimeoutError) as exc:
            raise ScannerUnavailable(f"clamd at {self.address} failed the scan: {exc or type(exc).__name__}") from exc
        finally:
            sock.close()
        return _verdict(reply, str(self.address))

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> socket.socket:
        target: Any
        if self.address.path is not None:
            sock, target = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), self.address.path
        else:
            found = await loop.getaddrinfo(self.address.host, self.address.port, type=socket.SOCK_STREAM)
            family, kind, proto, _, target = found[0]
            sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, target)
        except BaseException:
            sock.close()
            raise
        return sock

    async def _exchange(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, chunks: AsyncIterable[bytes]
    ) -> bytes:
        try:
            await self._send(loop, sock, b"zINSTREAM\0")
            async for chunk in chunks:
                for start in range(0, len(chunk), CHUNK_BYTES):
                    piece = chunk[start : start + CHUNK_BYTES]
                    await self._send(loop, sock, struct.pack("!L", len(piece)) + piece)
            await self._send(loop, sock, struct.pack("!L", 0))
        except ConnectionError:
            # clamd stops reading past its StreamMaxLength and says so before closing: read why.
            pass
        return await asyncio.wait_for(self._reply(loop, sock), self._timeout)

    async def _send(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, data: bytes) -> None:
        await asyncio.wait_for(loop.sock_sendall(sock, data), self._timeout)

    @staticmethod
    async def _reply(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bytes:
        """clamd's one NUL-terminated line (at most ``REPLY_MAX`` bytes of it)."""
        reply = b""
        while b"\0" not in reply and len(reply) < REPLY_MAX:
            data = await loop.sock_recv(sock, REPLY_MAX)
            if not data:
                raise ConnectionError("clamd closed the connection without an answer")
            reply += data
        return reply.partition(b"\0")[0][:REPLY_MAX]


def _verdict(reply: bytes, address: str) -> ScanResult:
    line = reply.rstrip(b"\0").decode("utf-8", "replace").strip()
    _, _, answer = line.partition(": ")
    if answer == "OK":
        return CLEAN
    if answer.endswith(" FOUND"):
        return ScanResult(signature=answer.removesuffix(" FOUND").strip() or "unknown")
    raise ScannerUnavailable(f"clamd at {address} gave no verdict: {line!r}")
