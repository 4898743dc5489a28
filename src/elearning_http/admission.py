"""Admission control: a bound on the requests one process works on at once (docs/overload.md).

Without it, a server offered more than it can do queues without limit: every request is accepted,
waits behind all the others for the event loop and the database pool, and all of them end late (the
drill in issue 13 saw 15 s at the median and 30 s at p99 at twice the saturating rate). With a bound,
the requests past it are answered at once with a 503 problem and ``Retry-After``, and the admitted
ones keep a latency near that of a loaded but not overloaded server.

Two counters, each with its own limit: ordinary requests (``ELEARNING_MAX_IN_FLIGHT``) and long-lived
streams (tus uploads; later server-sent events, ``ELEARNING_MAX_STREAMS``), so a few slow uploads
cannot take the slots of short requests, nor a burst of short requests refuse an upload's next
chunk. ``/health``, ``/ready`` and ``/metrics`` are never counted nor refused: an orchestrator must
see an overloaded process as alive, and an operator must be able to watch it.

The check is two integer comparisons and an increment on the event loop (no lock: nothing awaits
between the test and the increment); nothing is logged per request. Refusals are counted in the
``elearning_http_refused_requests`` metric, the requests in flight read at scrape time.
"""

from __future__ import annotations

from litestar.types import ASGIApp, Receive, Scope, Send
from prometheus_client import Counter, Gauge

from elearning_http.errors import problem_document, send_problem

NEVER_REFUSED = frozenset({"/health", "/ready", "/metrics"})
STREAM_PREFIXES = ("/api/v1/uploads",)
"""Paths of long-lived requests, counted against ``max_streams`` (tus uploads)."""

IN_FLIGHT = Gauge(
    "elearning_http_in_flight_requests", "Requests this process is working on, by admission class", ["kind"]
)
REFUSED = Counter(
    "elearning_http_refused_requests",
    "Requests refused at the door, by reason (overloaded: 503 by admission control; rate_limited: 429)",
    ["reason", "kind"],
)


class Slots:
    """One admission class: how many are in flight, the bound, and how a refusal is counted and worded."""

    __slots__ = ("count", "detail", "limit", "refused")

    def __init__(self, kind: str, limit: int, detail: str) -> None:
        self.count = 0
        self.limit = limit
        self.detail = detail
        self.refused = REFUSED.labels("overloaded", kind)
        # Scrapes read the count; the latest app built in a process is the one reported (tests build many).
        IN_FLIGHT.labels(kind).set_function(lambda: self.count)


class AdmissionMiddleware:
    """Counts the requests in flight; past ``max_in_flight`` (or ``max_streams``) answers 503 at once."""

    def __init__(self, app: ASGIApp, *, max_in_flight: int, max_streams: int, retry_after_seconds: int = 1) -> None:
        if max_in_flight < 1 or max_streams < 1:
            raise ValueError("admission limits must be positive")
        self.app = app
        self.requests = Slots("requests", max_in_flight, "this server is working on as many requests as it can")
        self.uploads = Slots("streams", max_streams, "this server is serving as many uploads as it can")
        self.retry_after = str(retry_after_seconds).encode()
        self._retry_after_seconds = retry_after_seconds

    @property
    def in_flight(self) -> int:
        return self.requests.count

    @property
    def streams(self) -> int:
        return self.uploads.count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in NEVER_REFUSED:
            await self.app(scope, receive, send)
            return
        slots = self.uploads if path.startswith(STREAM_PREFIXES) else self.requests
        if slots.count >= slots.limit:
            slots.refused.inc()
            await self._refuse(scope, send, f"{slots.detail}; retry shortly")
            return
        slots.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            slots.count -= 1

    async def _refuse(self, scope: Scope, send: Send, detail: str) -> None:
        body = problem_document(
            503, detail, code="overloaded", instance=scope["path"], retry_after=self._retry_after_seconds
        )
        await send_problem(send, 503, body, [(b"retry-after", self.retry_after)])


__all__ = ["IN_FLIGHT", "NEVER_REFUSED", "REFUSED", "STREAM_PREFIXES", "AdmissionMiddleware"]
