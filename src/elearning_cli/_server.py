"""How ``elearning serve`` runs uvicorn: deadlines for slow clients, a connection cap, a graceful drain.

uvicorn (0.55, h11: httptools is not installed) has a keep-alive timeout but no
deadline while it reads a request: a client that sends half a head, or half a
body, holds its connection (and its buffers) for as long as it likes, and one
that connects and sends nothing is never closed. ``GuardedH11Protocol``, a
subclass of uvicorn's own h11 protocol selected through ``Config(http=...)``,
adds what is missing at the place that sees the bytes arrive:

- the request head (request line and headers) must be complete within
  ``header_timeout`` of its first byte (of the connection, for the first
  request): else ``408`` and the connection is closed;
- a request head larger than ``max_header_bytes`` is answered ``431`` (the rest of a body answered
  before it was read is the old request's, dropped, and not counted as the next head);
- a body must keep arriving at ``body_min_rate`` bytes/s or more, judged over
  windows of ``body_rate_window`` seconds; a window in which the application
  was not reading (uvicorn paused the socket, or the client waits for
  ``100 Continue``) is not held against the client. A slow but live upload
  continues; a stalled one is cut (``408`` when no answer was started);
- past ``max_connections`` open connections in this process, a new one is
  answered ``503`` with ``Retry-After`` and closed before anything is read.

The deadlines are checked by one watchdog tick per process (not a timer per
request), which also gives freed heap back to the OS when the process goes idle.

Refusals are small RFC 9457 documents written here, before the application
(and its one error mapping) is reached: there is no request to map yet.

SIGTERM: uvicorn stops accepting, closes idle connections, lets requests in
flight finish (``Connection: close`` on their answer) within the grace period,
then runs the lifespan shutdown (the in-process event transport finishes its
batch, adapters close). ``GracefulServer`` only changes the end: uvicorn
re-raises the signal after a clean drain, so the process would die "killed by
SIGTERM"; a drained server exits 0.

The CLI runtime never imports ``elearning_http``: uvicorn loads the app by
import string and this protocol by class.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import json
import logging
import signal
import threading
import time
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle
from uvicorn.server import HANDLED_SIGNALS, Server, ServerState

from elearning_adapters import metrics

log = logging.getLogger("elearning.server")


@dataclass(frozen=True)
class ServerLimits:
    """What a client may cost one server process before it is cut off (``ELEARNING_*`` settings)."""

    header_timeout: float = 10.0
    body_min_rate: int = 1024
    body_rate_window: float = 10.0
    max_header_bytes: int = 16_384
    max_connections: int = 1_000
    shutdown_grace: float = 20.0


def _problem(status: int, reason: str, code: str, detail: str, *, retry_after: int | None = None) -> bytes:
    """A complete HTTP/1.1 answer carrying an RFC 9457 document, closing the connection."""
    body = json.dumps(
        {"type": f"urn:elearning:problem:{code}", "title": reason, "status": status, "detail": detail},
        separators=(",", ":"),
    ).encode()
    head = [
        f"HTTP/1.1 {status} {reason}",
        "content-type: application/problem+json",
        f"content-length: {len(body)}",
        "connection: close",
    ]
    if retry_after is not None:
        head.append(f"retry-after: {retry_after}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


REQUEST_TIMEOUT = _problem(
    408, "Request Timeout", "request-timeout", "the request did not arrive in time (too slow or stalled)"
)
HEADERS_TOO_LARGE = _problem(
    431,
    "Request Header Fields Too Large",
    "request-header-fields-too-large",
    "the request line and headers are larger than this server accepts",
)
BAD_REQUEST = _problem(400, "Bad Request", "bad-request", "the request is not valid HTTP/1.1")
TOO_MANY_CONNECTIONS = _problem(
    503,
    "Service Unavailable",
    "too-many-connections",
    "this server process holds as many connections as it accepts; retry shortly",
    retry_after=1,
)


REFUSED_LINGER = 1.0  # seconds a refused connection is kept half-closed for its client to read the 503
TRIM_AFTER_IDLE = 1.0  # seconds without a connection before freed heap is given back


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


MALLOC_TRIM = _load_malloc_trim()


class _Watchdog:
    """One timer per event loop that walks the open connections and cuts those past a deadline.

    A timer per request (armed at its first byte, cancelled at its last header) cost ~20 us of CPU per
    request in uvicorn's loop; a shared tick costs a walk of the connections a few times a second, and
    deadlines hold to within a tick (a quarter of the shortest one, at most a second).

    It also gives freed heap back to the OS once the process has had no connection for a second: after a
    burst glibc keeps the memory the burst's buffers and objects were freed into mapped, so RSS stays at the
    peak while idle (docs/overload.md). ``malloc_trim(0)`` runs once per idle spell, never while a
    connection is open; a no-op where the C library is not glibc.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, limits: ServerLimits) -> None:
        self.loop = loop
        self.interval = min(1.0, limits.header_timeout / 4, limits.body_rate_window / 4)
        self.open: set[GuardedH11Protocol] = set()
        self._tick_handle: asyncio.TimerHandle | None = None
        self._trim_handle: asyncio.TimerHandle | None = None

    def opened(self, protocol: GuardedH11Protocol) -> None:
        self.open.add(protocol)
        if self._trim_handle is not None:
            self._trim_handle.cancel()
            self._trim_handle = None
        if self._tick_handle is None:
            self._tick_handle = self.loop.call_later(self.interval, self._tick)

    def closed(self, protocol: GuardedH11Protocol) -> None:
        self.open.discard(protocol)
        if not self.open and MALLOC_TRIM is not None and self._trim_handle is None:
            self._trim_handle = self.loop.call_later(TRIM_AFTER_IDLE, self._trim)

    def _tick(self) -> None:
        self._tick_handle = None
        now = self.loop.time()
        for protocol in list(self.open):
            protocol.check_deadlines(now)
        if self.open:
            self._tick_handle = self.loop.call_later(self.interval, self._tick)

    def _trim(self) -> None:
        self._trim_handle = None
        if MALLOC_TRIM is not None and not self.open:
            MALLOC_TRIM(0)
            metrics.MEMORY_TRIMS.inc()


_WATCHDOGS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watchdog] = weakref.WeakKeyDictionary()


def _watchdog(loop: asyncio.AbstractEventLoop, limits: ServerLimits) -> _Watchdog:
    watchdog = _WATCHDOGS.get(loop)
    if watchdog is None:
        watchdog = _WATCHDOGS[loop] = _Watchdog(loop, limits)
    return watchdog


class _Connection(h11.Connection):
    """h11's connection, remembering why it refused the peer's bytes (a head too large, or bad HTTP)."""

    refused: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refused = exc
            raise


_RESUMABLE_BODY = b"application/offset+octet-stream"
"""The media type of a tus ``PATCH``: whatever part of its body arrives is kept, so it is never held back."""


def _held_length(scope: Any) -> int:
    """The request's Content-Length, for holding a small body back until it is complete; past the
    buffering bound when it has none (chunked) or a bad one, or when it is a resumable upload's chunk."""
    length = HIGH_WATER_LIMIT + 1
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return HIGH_WATER_LIMIT + 1
        elif name == b"content-type" and value.split(b";", 1)[0].strip().lower() == _RESUMABLE_BODY:
            return HIGH_WATER_LIMIT + 1
    return length


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a head deadline, a body data rate, a head size cap and a connection cap."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits: ServerLimits = getattr(config, "limits", None) or ServerLimits()
        self._inner_app = self.app
        self.app = self._app_after_small_body
        self.conn = _Connection(h11.SERVER, self.limits.max_header_bytes)
        self.watchdog = _watchdog(self.loop, self.limits)
        self._awaiting_head = True
        self._head_since: float | None = None  # when the head being read began; None between requests
        self._head_bytes, self._head_tail = 0, b""
        self._window_start: float | None = None  # the body being read: when its current window began
        self._window_bytes = 0
        self._paused_in_window = False
        self._refused = False
        self._linger: asyncio.TimerHandle | None = None

    # -- connection ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            # Refused before any request is parsed or any task made: the cap bounds this process's memory.
            # Half-closed rather than closed, and what the client sends is read and dropped: closing a socket
            # with unread bytes resets it, and the client would lose the 503 to the reset. It closes when
            # the client does, or after a second at most.
            self._refused = True
            self.transport = transport
            transport.write(TOO_MANY_CONNECTIONS)
            metrics.CONNECTIONS_CUT.labels("too-many-connections").inc()
            if transport.can_write_eof():
                transport.write_eof()
            self._linger = self.loop.call_later(REFUSED_LINGER, transport.close)
            return
        super().connection_made(transport)
        self._head_since = self.loop.time()  # the first request's head: from the connection's opening
        self.watchdog.opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            if self._linger is not None:
                self._linger.cancel()
            return
        super().connection_lost(exc)
        self.watchdog.closed(self)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._awaiting_head:
            if self._head_since is None:
                # The first byte of a later request on a kept-alive connection: its head deadline starts now.
                self._head_since = self.loop.time()
            # The rest of a body answered before it was read is the old request's (h11 reads it to its end and
            # uvicorn drops it), not the next head: only a head's bytes count against the cap.
            if self.conn.their_state is not h11.SEND_BODY and self._head_too_large(data):
                metrics.CONNECTIONS_CUT.labels("head-too-large").inc()
                self.transport.write(HEADERS_TOO_LARGE)
                self.transport.close()
                return
        self._window_bytes += len(data)
        cycle = self.cycle
        super().data_received(data)
        if self.transport.get_protocol() is not self:  # upgraded to a WebSocket: its protocol owns it now
            self.watchdog.closed(self)
            return
        if self.cycle is not cycle:
            self._request_started()
        if self.flow.read_paused:
            self._paused_in_window = True

    def on_response_complete(self) -> None:
        self._awaiting_head, self._head_since, self._window_start = True, None, None
        self._head_bytes, self._head_tail = 0, b""
        if self.conn.their_state is h11.SEND_BODY:
            # Answered before its body was all here (a missing route, a refused chunk): the rest of the body
            # and the next head share the head's deadline from now, so a client cannot hold the connection.
            self._head_since = self.loop.time()
        cycle = self.cycle
        super().on_response_complete()
        if self.cycle is not cycle:  # a pipelined request was waiting
            self._request_started()

    def send_400_response(self, msg: str) -> None:
        refused = getattr(self.conn, "refused", None)
        too_large = refused is not None and refused.error_status_hint == 431
        metrics.CONNECTIONS_CUT.labels("head-too-large" if too_large else "bad-request").inc()
        self.transport.write(HEADERS_TOO_LARGE if too_large else BAD_REQUEST)
        self.transport.close()

    def shutdown(self) -> None:
        if self._refused:
            return
        super().shutdown()

    # -- small bodies arrive before the application sees the request ---------------------

    async def _app_after_small_body(self, scope: Any, receive: Any, send: Any) -> None:
        """Call the application once a small body (a declared length up to 64 KiB) is all here.

        A client that sends its body slowly then costs a connection and a few KiB of buffer, not a slot of
        the application's admission bound or a database connection: a reverse proxy's request buffering,
        done here. Larger or chunked bodies (uploads), a tus ``PATCH`` of any size (a broken one keeps
        what arrived) and ``Expect: 100-continue`` go to the application at once, as before; uvicorn's
        flow control applies to them.
        """
        cycle = getattr(receive, "__self__", None)
        if (
            isinstance(cycle, RequestResponseCycle)
            and cycle.more_body
            and not cycle.waiting_for_100_continue
            and _held_length(scope) <= HIGH_WATER_LIMIT
        ):
            while cycle.more_body and not cycle.disconnected:
                await cycle.message_event.wait()
                cycle.message_event.clear()
            cycle.message_event.set()  # receive() answers at once with the whole body
            if cycle.disconnected:
                return  # cut by the body deadline, or the client left: nothing reached the application
        await self._inner_app(scope, receive, send)

    # -- deadlines -----------------------------------------------------------------------

    def _head_too_large(self, data: bytes) -> bool:
        """Count the head's bytes up to its blank line (h11 only bounds a head still incomplete)."""
        self._head_bytes += len(data)
        if self._head_bytes > self.limits.max_header_bytes:
            # Over the cap counting every byte: count the head alone (a body may follow in the same chunk).
            window = self._head_tail + data
            end = window.find(b"\r\n\r\n")
            if end >= 0:
                self._head_bytes -= len(data) - max(0, end + 4 - len(self._head_tail))
        self._head_tail = data[-3:]
        return self._head_bytes > self.limits.max_header_bytes

    def _request_started(self) -> None:
        """A request head was parsed: its deadline is met; watch its body's data rate if it has one."""
        self._awaiting_head, self._head_since = False, None
        if self.cycle is not None and self.cycle.more_body:
            self._window_start, self._window_bytes, self._paused_in_window = self.loop.time(), 0, False

    def check_deadlines(self, now: float) -> None:
        """Called by the watchdog's tick: cut this connection if its head or its body is late."""
        if self.transport.is_closing():
            return
        if self._awaiting_head:
            if self._head_since is not None and now - self._head_since >= self.limits.header_timeout:
                metrics.CONNECTIONS_CUT.labels("head-timeout").inc()
                self.transport.write(REQUEST_TIMEOUT)
                self.transport.close()
            return
        cycle = self.cycle
        if self._window_start is None or cycle is None:
            return
        if not cycle.more_body or cycle.disconnected:
            self._window_start = None
            return
        elapsed = now - self._window_start
        if elapsed < self.limits.body_rate_window:
            return
        received = self._window_bytes
        not_reading = self.flow.read_paused or self._paused_in_window or cycle.waiting_for_100_continue
        self._window_start, self._window_bytes, self._paused_in_window = now, 0, False
        if not_reading or received >= self.limits.body_min_rate * elapsed:
            return
        log.info(
            "closing a connection whose request body arrived at %.0f bytes/s (minimum %d)",
            received / elapsed,
            self.limits.body_min_rate,
        )
        metrics.CONNECTIONS_CUT.labels("body-too-slow").inc()
        if not cycle.response_started:
            self.transport.write(REQUEST_TIMEOUT)
        # The application reading the body sees the client gone (http.disconnect), as on a reset.
        cycle.disconnected = True
        cycle.message_event.set()
        self.transport.close()


class ServerConfig(Config):
    """uvicorn's configuration carrying the limits (it is pickled to worker processes as it is)."""

    def __init__(self, app: Any, *, limits: ServerLimits, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.limits = limits


class GracefulServer(Server):
    """uvicorn's server, exiting 0 after a drain a signal asked for instead of re-raising the signal."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: Any = None) -> None:
        started = time.monotonic()
        await super().shutdown(sockets)
        log.info("drained and shut down in %.1fs", time.monotonic() - started)


def run_server(app: str, *, limits: ServerLimits, workers: int = 1, **options: Any) -> None:
    """Run ``app`` (an import string of an app factory) with the limits, as ``uvicorn.run`` would.

    ``options`` are uvicorn's (host, port, proxy headers ...); the protocol, the factory flag, the
    logging (ours, configured by the app) and the graceful-shutdown timeout are set here.
    """
    config = ServerConfig(
        app,
        limits=limits,
        factory=True,
        workers=workers,
        log_config=None,
        http=GuardedH11Protocol,
        timeout_graceful_shutdown=max(1, round(limits.shutdown_grace)),
        **options,
    )
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = GracefulServer(config)
    server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)
