"""``Idempotency-Key`` on the routes that create seats or money: a repeat gets the first answer, not a second effect.

Semantics after the IETF draft httpapi-idempotency-key-header (and Stripe's keys):

- the key (1-255 printable ASCII characters) is scoped to the caller and the route;
- the first request runs; its answer (status, body, the headers in ``_KEPT_HEADERS``) is stored;
- a repeat with the same key and the same fingerprint (method, path with query, SHA-256 of the body)
  gets the stored answer with ``Idempotent-Replayed: true`` and does not run again;
- the same key with another fingerprint: 422 problem ``idempotency-key-reused``;
- the same key while its first request still runs: 409 problem ``idempotency-key-in-use``;
- server errors (5xx) and answers that ask to retry later (401, 408, 425, 429) are not stored: the key
  is released and a repeat runs again; every other answer, 4xx included, is final and replayed;
- keys expire after ``Settings.idempotency_key_ttl_hours`` (24 by default).

A route opts in with ``middleware=[IdempotencyMiddleware]`` plus the documented header parameter and
responses (``IdempotencyKey``, ``IDEMPOTENCY_RESPONSES``, ``REPLAYED_HEADER``): see docs/idempotency.md.
Requests without the header, anonymous ones and ones whose credentials fail pass straight through
(the route answers them as usual, and an invalid key is the route's own 422 on the header).
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from litestar.connection import ASGIConnection
from litestar.datastructures import ResponseHeader
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter
from litestar.types import ASGIApp, Empty, Receive, Scope, Send
from litestar.utils.scope.state import CONNECTION_STATE_KEY

from elearning_core.shared.clock import Clock
from elearning_core.shared.ports import ClaimOutcome, IdempotencyScope, IdempotencyStore, Principal, StoredResponse
from elearning_http.errors import PROBLEM_JSON, ProblemDetails, problem_document, send_problem

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
KEY_PATTERN = r"^[\x20-\x7E]{1,255}$"
STATE_KEY = "idempotency"
MAX_BODY_BYTES = 1024 * 1024
IN_PROGRESS_LOCK = timedelta(minutes=5)
"""How long a running first request holds its key; a request that died holding it frees it after this."""
PRUNE_EVERY = timedelta(hours=1)

log = logging.getLogger("elearning.http")

_KEPT_HEADERS = frozenset({b"content-type", b"location", b"link", b"etag", b"last-modified", b"cache-control"})
_NOT_STORED = frozenset({401, 408, 425, 429})
_HEADER_BYTES = HEADER.lower().encode()

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name=HEADER,
        required=False,
        min_length=1,
        max_length=255,
        pattern=KEY_PATTERN,
        description="Makes a retry safe: a repeat with the same key and the same request gets the first "
        "answer (with `Idempotent-Replayed: true`) instead of acting twice. 1-255 printable ASCII characters, "
        "e.g. a UUID; scoped to the caller and the route; kept 24 hours.",
    ),
]

REPLAYED_HEADER = ResponseHeader(
    name=REPLAYED,
    value="true",  # documents the header as a string; never set by this declaration
    documentation_only=True,
    required=False,
    description="`true` when this is the stored answer to an earlier request with the same Idempotency-Key",
)

IDEMPOTENCY_RESPONSES: dict[int, ResponseSpec] = {
    413: ResponseSpec(
        data_container=ProblemDetails,
        media_type=PROBLEM_JSON,
        description=f"A body of more than {MAX_BODY_BYTES} bytes sent with an Idempotency-Key",
        generate_examples=False,
    ),
    409: ResponseSpec(
        data_container=ProblemDetails,
        media_type=PROBLEM_JSON,
        description="Conflicts with the current state (a rule of the resource), or `idempotency-key-in-use`: "
        "a request with this Idempotency-Key is still running; retry later",
        generate_examples=False,
    ),
    422: ResponseSpec(
        data_container=ProblemDetails,
        media_type=PROBLEM_JSON,
        description="Invalid input (`errors` names each bad field), or `idempotency-key-reused`: "
        "the Idempotency-Key was used for a different request",
        generate_examples=False,
    ),
}


@dataclass(slots=True)
class Idempotency:
    """What the middleware needs, kept in the app's state under ``STATE_KEY`` by ``create_app``."""

    store: IdempotencyStore
    authenticate: Callable[[ASGIConnection[Any, Any, Any, Any]], Awaitable[Principal]]
    clock: Clock
    ttl: timedelta
    lock: timedelta = IN_PROGRESS_LOCK
    prune_every: timedelta = PRUNE_EVERY
    pruned_at: datetime | None = None

    async def prune_if_due(self) -> None:
        """Delete expired keys, at most once per ``prune_every`` in this process (after an answer was sent)."""
        now = self.clock.now()
        if self.pruned_at is not None and now - self.pruned_at < self.prune_every:
            return
        self.pruned_at = now
        try:
            pruned = await self.store.prune(now)
        except Exception as exc:  # housekeeping: a database blip must not fail the request that was served
            log.warning("pruning expired idempotency keys failed: %s", exc)
            return
        if pruned:
            log.info("pruned %d expired idempotency key(s)", pruned)


class IdempotencyMiddleware:
    """Route middleware: runs the route once per (caller, route, key) and replays its answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _key_of(scope)
        config = scope["litestar_app"].state.get(STATE_KEY) if key is not None else None
        if key is None or not isinstance(config, Idempotency):
            await self.app(scope, receive, send)
            return
        try:
            principal = await config.authenticate(ASGIConnection(scope, receive))
        except HTTPException:
            principal = None  # the route refuses the credentials itself, with its usual problem
        if principal is None or principal.is_anonymous:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            await _send_problem(send, scope, 413, "payload-too-large", f"the body exceeds {MAX_BODY_BYTES} bytes")
            return
        http: Any = scope
        method = str(http["method"])
        where = IdempotencyScope(principal.subject, f"{method} {scope.get('path_template') or scope['path']}", key)
        fingerprint = _fingerprint(method, scope["raw_path"], scope["query_string"], body)
        claim = await config.store.claim(where, fingerprint, now=config.clock.now(), ttl=config.ttl, lock=config.lock)
        if claim.outcome is ClaimOutcome.REPLAY:
            assert claim.response is not None
            await _send_stored(send, claim.response)
        elif claim.outcome is ClaimOutcome.IN_USE:
            await _send_problem(
                send,
                scope,
                409,
                "idempotency-key-in-use",
                "a request with this Idempotency-Key is still running; retry later",
            )
        elif claim.outcome is ClaimOutcome.MISMATCH:
            await _send_problem(
                send,
                scope,
                422,
                "idempotency-key-reused",
                "this Idempotency-Key was used for a different request (another body or path); use a new key",
            )
        else:
            await self._run(config, where, fingerprint, scope, body, receive, send)

    async def _run(
        self,
        config: Idempotency,
        where: IdempotencyScope,
        fingerprint: str,
        scope: Scope,
        body: bytes,
        receive: Receive,
        send: Send,
    ) -> None:
        # The stored body must be what any client can read: the route answers uncompressed. Litestar caches
        # the parsed headers in the connection's state (the compression middleware reads that cache), so the
        # inner scope gets a state whose cache is emptied too, or a large answer would be stored gzipped.
        inner: Any = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"accept-encoding"]}
        state = dict(scope.get("state", {}))
        if (cached := state.get(CONNECTION_STATE_KEY)) is not None:
            cached = copy.copy(cached)
            cached.headers = Empty
            state[CONNECTION_STATE_KEY] = cached
        inner["state"] = state
        delivered = False

        async def replay_body() -> Any:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        start: dict[str, Any] | None = None
        chunks: list[bytes] = []
        settled = False

        async def capture(message: Any) -> None:
            nonlocal start, settled
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            # The answer is stored before the client sees it: a repeat sent on receipt is a replay.
            status = int(start["status"])
            if status < 500 and status not in _NOT_STORED:
                kept = tuple(
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in start.get("headers", [])
                    if name.lower() in _KEPT_HEADERS
                )
                await config.store.complete(where, fingerprint, StoredResponse(status, kept, b"".join(chunks)))
            else:
                await config.store.release(where, fingerprint)
            settled = True
            await send(start)  # type: ignore[arg-type]
            await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": False})

        try:
            await self.app(inner, replay_body, capture)
        finally:
            if not settled:
                await config.store.release(where, fingerprint)
        await config.prune_if_due()


def _key_of(scope: Scope) -> str | None:
    if scope["type"] != ScopeType.HTTP:
        return None
    for name, value in scope["headers"]:
        if name == _HEADER_BYTES:
            text = value.decode("latin-1")
            # An invalid key is left to the route's header parameter, which refuses it with a 422.
            return text if 1 <= len(text) <= 255 and all(" " <= ch <= "~" for ch in text) else None
    return None


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Any = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _fingerprint(method: str, raw_path: bytes, query: bytes, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), raw_path, query):
        digest.update(part)
        digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()


async def _send_stored(send: Send, response: StoredResponse) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
    headers += [(b"content-length", str(len(response.body)).encode()), (REPLAYED.lower().encode(), b"true")]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body, "more_body": False})


async def _send_problem(send: Send, scope: Scope, status: int, code: str, detail: str) -> None:
    await send_problem(send, status, problem_document(status, detail, code=code, instance=scope["path"]))
