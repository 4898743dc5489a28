"""A lean open-loop HTTP/1.1 load generator for the benchmarks: requests are bytes encoded before the run.

httpx costs about 5.7 ms of client CPU per request on this machine, so at a few hundred requests/s a
Python client on a 2-core machine takes a whole core from the server it measures (and cannot even send
at the rate). This client pre-encodes every request, keeps persistent connections (one request at a time
on each, as browsers and players do), and parses only the status line, ``Content-Length`` and chunked
bodies: a few tens of microseconds per request. Open loop: each request starts at its scheduled moment
whatever the earlier ones are doing, and its latency counts from that moment, so a stalled server shows
as latency, not as a slower sender (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

KEEP_IDLE_SECONDS = 4.0
"""An idle connection is reused for this long at most: below uvicorn's 5 s keep-alive timeout, as browsers
and HTTP libraries keep under a server's advertised or usual timeout."""

Request = tuple[str, str, Mapping[str, str], Any]
"""(method, path, headers, JSON body or None)."""


@dataclass
class Outcome:
    latencies_ms: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    failed_at: list[float] = field(default_factory=list)
    """When each failure was scheduled, in seconds from the start of the run."""
    achieved_rate: float = 0.0

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


def encode(host: str, request: Request) -> bytes:
    method, path, headers, body = request
    payload = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(payload)}"]
    if body is not None:
        lines.append("Content-Type: application/json")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def _response(reader: asyncio.StreamReader) -> int:
    """Read one response; its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


class Connection:
    """One persistent connection for closed-loop use (a request, its answer, the next): ``await
    request(...)`` gives (status, body bytes). As lean as ``open_loop``'s requests."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, headers: Mapping[str, str], body: Any = None) -> tuple[int, bytes]:
        reused = self._stream is not None
        if self._stream is None:
            self._stream = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._stream
        writer.write(encode(f"{self._host}:{self._port}", (method, path, headers, body)))
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (OSError, asyncio.IncompleteReadError):
            self.close()
            if not reused:
                raise
            return await self.request(method, path, headers, body)  # the server closed an idle one: once more
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(head[9:12]), await reader.readexactly(length) if length else b""

    def close(self) -> None:
        if self._stream is not None:
            self._stream[1].close()
            self._stream = None


async def open_loop(base: str, requests: Sequence[Request], rate: float, *, answer_within: float = 30.0) -> Outcome:
    """Start request i at ``i / rate`` s; latencies of the successful ones (status < 400) in ms."""
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    encoded = [encode(f"{host}:{port}", r) for r in requests]
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
    outcome = Outcome()

    start = time.perf_counter()

    def failed(reason: str, scheduled: float) -> None:
        outcome.failures[reason] = outcome.failures.get(reason, 0) + 1
        outcome.failed_at.append(round(scheduled - start, 3))

    async def connection() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while idle:
            reader, writer, since = idle.pop()
            if time.monotonic() - since < KEEP_IDLE_SECONDS:
                return reader, writer
            writer.close()  # the server may be closing it (its keep-alive timeout): a client does not reuse it
        return await asyncio.open_connection(host, port)

    async def one(data: bytes, scheduled: float) -> None:
        reader, writer = await connection()
        try:
            writer.write(data)
            status = await asyncio.wait_for(_response(reader), answer_within)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as exc:
            writer.close()
            failed(type(exc).__name__, scheduled)
            return
        idle.append((reader, writer, time.monotonic()))
        if status >= 400:
            failed(str(status), scheduled)
        else:
            outcome.latencies_ms.append((time.perf_counter() - scheduled) * 1000)

    for data in encoded[:20]:  # warm-up: connections, prepared statements (not counted)
        await one(data, time.perf_counter())
    outcome = Outcome()
    tasks = []
    start = time.perf_counter()
    for i, data in enumerate(encoded):
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        tasks.append(asyncio.create_task(one(data, scheduled)))
    await asyncio.gather(*tasks)
    # Sustained: answered successfully per second, until the last answer (a backlog's tail counts).
    outcome.achieved_rate = len(outcome.latencies_ms) / (time.perf_counter() - start)
    for _, writer, _ in idle:
        writer.close()
    return outcome
