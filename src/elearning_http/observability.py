"""The edge of every request, as one raw ASGI middleware (cheap on the hot path).

One wrapper around the whole app gives each request its id, its access line and
its Prometheus samples. It replaced Litestar's ``PrometheusMiddleware``, which built a
``Request``, a label dict and four label lookups per request and cost more than the
route it measured (benchmarks/RESULTS.md, issue 13): here the samples of a
(method, route, status) are looked up once and kept.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Histogram

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
access_logger = logging.getLogger("elearning.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and any extras."""

    _skip = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "color_message"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in self._skip and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True


APP_NAME = "elearning"
_LABELS = ("method", "path", "status_code", "app_name")
REQUESTS = Counter("elearning_requests_total", "Total requests", _LABELS)
REQUEST_ERRORS = Counter("elearning_requests_error_total", "Total errors in requests (status 5xx)", _LABELS)
REQUEST_DURATION = Histogram("elearning_request_duration_seconds", "Request duration, in seconds", _LABELS)
UNMATCHED = "<unmatched>"
"""The ``path`` label of a request no route matched (a 404 or 405): one value, so a scan of random
paths cannot grow the metrics without bound, as ids in the path would."""
NOT_MEASURED = frozenset({"/metrics", "/schema"})
"""Route templates left out of the request metrics: the scrape itself and the docs."""


class _Samples:
    """The metric children of one (method, route, status): looked up once, kept for the process's life."""

    __slots__ = ("count", "duration", "errors")

    def __init__(self, method: str, path: str, status: int) -> None:
        labels = (method, path, str(status), APP_NAME)
        self.count = REQUESTS.labels(*labels)
        self.duration = REQUEST_DURATION.labels(*labels)
        self.errors = REQUEST_ERRORS.labels(*labels) if status >= 500 else None


class RequestContextMiddleware:
    """Gives each request an id (the caller's ``X-Request-ID`` if sane), echoes it, logs one access line,
    and counts it in the request metrics by method, route template and status."""

    def __init__(self, app: ASGIApp, *, access_log: bool = True, metrics: bool = True) -> None:
        self.app = app
        self.access_log = access_log
        self.metrics = metrics
        self._samples: dict[tuple[str, str, int], _Samples] = {}
        # Request ids minted here: a random prefix per app (so per process) and a counter. Unique like a
        # uuid4 where they are read (logs, the X-Request-ID header), without the system call per request.
        self._id_prefix = uuid.uuid4().hex[:16]
        self._ids = itertools.count(1)

    def _record(self, method: str, scope: Scope, status: int, seconds: float) -> None:
        # Litestar's router writes the matched template into this same scope before the route runs.
        path: str = scope.get("path_template", UNMATCHED)
        if path in NOT_MEASURED or path.startswith("/schema/"):
            return
        key = (method, path, status)
        samples = self._samples.get(key)
        if samples is None:
            samples = self._samples[key] = _Samples(method, path, status)
        samples.count.inc()
        samples.duration.observe(seconds)
        if samples.errors is not None:
            samples.errors.inc()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        request_id = incoming.decode("latin-1") if incoming else ""
        if not _VALID_REQUEST_ID.fullmatch(request_id):
            request_id = f"{self._id_prefix}{next(self._ids):016x}"
        token = request_id_var.set(request_id)
        method: str = scope["method"]  # type: ignore[typeddict-item]
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.metrics:
                self._record(method, scope, status, time.perf_counter() - started)
            if self.access_log:
                access_logger.info(
                    "request",
                    extra={
                        "method": scope.get("method"),
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    },
                )
            request_id_var.reset(token)
