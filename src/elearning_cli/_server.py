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
- a request head larger than ``max_header_bytes`` is answered ``431``;
- a body must keep arriving at ``body_min_rate`` bytes/s or more, judged over
  windows of ``body_rate_window`` seconds; a window in which the application
  was not reading (uvicorn paused the socket, or the client waits for
  ``100 Continue``) is not held against the client. A slow but live upload
  continues; a stalled one is cut (``408`` when no answer was started);
- past ``max_connections`` open connections in this process, a new one is
  answered ``503`` with ``Retry-After`` and closed before anything is read.

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
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.protocols.http.h11_impl import H11Protocol
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


class IdleTrim:
    """Give freed heap back to the OS once the process has had no connection for a moment.

    After a burst, glibc keeps the memory the burst's buffers and objects were freed into (in the main
    heap and in its per-thread arenas) mapped: the process's RSS stays at its peak while idle.
    ``malloc_trim(0)`` returns the free pages; it is called once per idle spell, never while a
    connection is open, so it costs no request anything. A no-op where the C library is not glibc.
    """

    def __init__(self, delay: float = 1.0) -> None:
        self.delay = delay
        self.trims = 0
        self._handle: asyncio.TimerHandle | None = None
        self._trim = self._load()

    @staticmethod
    def _load() -> Callable[[int], int] | None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            trim: Callable[[int], int] = libc.malloc_trim
        except (OSError, AttributeError):
            return None
        return trim

    def connection_opened(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def last_connection_closed(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._trim is not None and self._handle is None:
            self._handle = loop.call_later(self.delay, self._run)

    def _run(self) -> None:
        self._handle = None
        if self._trim is not None:
            self._trim(0)
            self.trims += 1
            metrics.MEMORY_TRIMS.inc()


IDLE_TRIM = IdleTrim()


class _Connection(h11.Connection):
    """h11's connection, remembering why it refused the peer's bytes (a head too large, or bad HTTP)."""

    refused: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refused = exc
            raise


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
        self.conn = _Connection(h11.SERVER, self.limits.max_header_bytes)
        self._awaiting_head = True
        self._head_started = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._window_bytes = 0
        self._paused_in_window = False
        self._head_bytes, self._head_tail = 0, b""
        self._refused = False

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
            self._head_timer = self.loop.call_later(REFUSED_LINGER, transport.close)
            return
        super().connection_made(transport)
        IDLE_TRIM.connection_opened()
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._refused:
            return
        super().connection_lost(exc)
        if not self.connections:
            IDLE_TRIM.last_connection_closed(self.loop)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._awaiting_head:
            if not self._head_started:
                # The first byte of a later request on a kept-alive connection: its head deadline starts now.
                self._head_started = True
                if self._head_timer is None:
                    self._arm_head_timer()
            if self._head_too_large(data):
                self._cancel_timers()
                metrics.CONNECTIONS_CUT.labels("head-too-large").inc()
                self.transport.write(HEADERS_TOO_LARGE)
                self.transport.close()
                return
        self._window_bytes += len(data)
        cycle = self.cycle
        super().data_received(data)
        self._after_events(cycle)
        if self.flow.read_paused:
            self._paused_in_window = True

    def on_response_complete(self) -> None:
        self._cancel_body_timer()
        self._awaiting_head, self._head_started = True, False
        self._head_bytes, self._head_tail = 0, b""
        cycle = self.cycle
        super().on_response_complete()
        self._after_events(cycle)

    def send_400_response(self, msg: str) -> None:
        refused = getattr(self.conn, "refused", None)
        too_large = refused is not None and refused.error_status_hint == 431
        self._cancel_timers()
        metrics.CONNECTIONS_CUT.labels("head-too-large" if too_large else "bad-request").inc()
        self.transport.write(HEADERS_TOO_LARGE if too_large else BAD_REQUEST)
        self.transport.close()

    def shutdown(self) -> None:
        if self._refused:
            return
        super().shutdown()

    # -- deadlines -----------------------------------------------------------------------

    def _head_too_large(self, data: bytes) -> bool:
        """Count the head's bytes up to its blank line (h11 only bounds a head still incomplete)."""
        window = self._head_tail + data
        end = window.find(b"\r\n\r\n")
        self._head_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._head_tail))
        self._head_tail = window[-3:]
        return self._head_bytes > self.limits.max_header_bytes

    def _after_events(self, before: object) -> None:
        """A new request head was parsed: its deadline is met; watch its body's data rate if it has one."""
        if self.cycle is before or self.cycle is None:
            return
        self._awaiting_head, self._head_started = False, False
        self._cancel_head_timer()
        if self.cycle.more_body and not self.transport.is_closing():
            self._window_bytes, self._paused_in_window = 0, False
            self._body_timer = self.loop.call_later(self.limits.body_rate_window, self._check_body_rate, self.cycle)

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._awaiting_head or self.transport.is_closing():
            return
        metrics.CONNECTIONS_CUT.labels("head-timeout").inc()
        self.transport.write(REQUEST_TIMEOUT)
        self._close()

    def _check_body_rate(self, cycle: object) -> None:
        self._body_timer = None
        if cycle is not self.cycle or self.cycle is None or not self.cycle.more_body or self.transport.is_closing():
            return
        received, self._window_bytes = self._window_bytes, 0
        not_reading = self.flow.read_paused or self._paused_in_window or self.cycle.waiting_for_100_continue
        self._paused_in_window = False
        if not_reading or received >= self.limits.body_min_rate * self.limits.body_rate_window:
            self._body_timer = self.loop.call_later(self.limits.body_rate_window, self._check_body_rate, cycle)
            return
        log.info(
            "closing a connection whose request body arrived at %.0f bytes/s (minimum %d)",
            received / self.limits.body_rate_window,
            self.limits.body_min_rate,
        )
        metrics.CONNECTIONS_CUT.labels("body-too-slow").inc()
        if not self.cycle.response_started:
            self.transport.write(REQUEST_TIMEOUT)
        # The application reading the body sees the client gone (http.disconnect), as on a reset.
        self.cycle.disconnected = True
        self.cycle.message_event.set()
        self._close()

    def _close(self) -> None:
        self._cancel_timers()
        self.transport.close()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()


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
