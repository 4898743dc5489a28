"""The general per-client rate limit, as one raw ASGI middleware (docs/overload.md).

Two policies, each a fixed window aligned to the clock:

- ``token``: per credential (the bearer token, else the session cookie), keyed on a hash of the
  credential as sent, not on a verified principal, so the check needs no database and no signature
  check (a forged or expired token is limited like any other, then refused 401 by the app);
- ``ip``: per client address as ``elearning_http.client_ip`` resolves it, for every request.

Past either, the answer is a 429 problem with ``Retry-After`` and the IETF headers of
draft-ietf-httpapi-ratelimit-headers (structured fields: ``RateLimit-Policy: "token";q=600;w=60`` and
``RateLimit: "token";r=0;t=17``). Admitted responses do not carry them: adding headers to every
response would cost a wrapped ``send`` per request on the hot path.

The count is kept in this process (``elearning_adapters.request_counters``) and shared through Redis
in the background when Redis is configured: no request awaits the network. Health, readiness,
metrics and the API docs are never limited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from litestar.types import ASGIApp, Receive, Scope, Send

from elearning_adapters.request_counters import WindowCounters
from elearning_http.admission import NEVER_REFUSED, REFUSED
from elearning_http.auth import ACCESS_COOKIE
from elearning_http.errors import problem_document, send_problem

_COOKIE_NAME = ACCESS_COOKIE.encode() + b"="
KEY_CACHE_SIZE = 10_000


def credential_of(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The credential a request carries: its Authorization header, else its session cookie's value."""
    cookie: bytes | None = None
    for name, value in headers:
        if name == b"authorization":
            return value
        if name == b"cookie" and cookie is None:
            start = value.find(_COOKIE_NAME)
            if start != -1 and (start == 0 or value[start - 1 : start] in (b" ", b";")):
                start += len(_COOKIE_NAME)
                end = value.find(b";", start)
                cookie = value[start : end if end != -1 else None] or None
    return cookie


def token_key(credential: bytes) -> str:
    """A key that names the credential without keeping it (the counters and Redis never see a token)."""
    return "t:" + hashlib.blake2b(credential, digest_size=12).hexdigest()


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, counters: WindowCounters, *, per_token: int, per_ip: int) -> None:
        self.app = app
        self.counters = counters
        self.per_token = per_token
        self.per_ip = per_ip
        window = counters.window_seconds
        self._policies = {
            "token": (per_token, f'"token";q={per_token};w={window}'.encode()),
            "ip": (per_ip, f'"ip";q={per_ip};w={window}'.encode()),
        }
        self._refused = {name: REFUSED.labels("rate_limited", name) for name in self._policies}
        # credential -> key: a client sends the same token for minutes, so hash it once (cleared when full).
        self._keys: dict[bytes, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in NEVER_REFUSED or path.startswith("/schema"):
            await self.app(scope, receive, send)
            return
        credential = credential_of(scope["headers"])
        if credential is not None:
            key = self._keys.get(credential)
            if key is None:
                if len(self._keys) >= KEY_CACHE_SIZE:
                    self._keys.clear()
                key = self._keys[credential] = token_key(credential)
            if self.counters.hit(key, self.per_token) < 0:
                await self._refuse(scope, send, "token", "too many requests with this credential")
                return
        client = scope.get("client")
        if self.counters.hit("ip:" + (client[0] if client else "unknown"), self.per_ip) < 0:
            await self._refuse(scope, send, "ip", "too many requests from this address")
            return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, policy: str, detail: str) -> None:
        self._refused[policy].inc()
        retry_after = self.counters.reset_in()
        body = problem_document(
            429, f"{detail}; retry in {retry_after} s", code="rate-limited", instance=scope["path"],
            retry_after=retry_after,
        )  # fmt: skip
        headers = [
            (b"retry-after", str(retry_after).encode()),
            (b"ratelimit-policy", self._policies[policy][1]),
            (b"ratelimit", f'"{policy}";r=0;t={retry_after}'.encode()),
        ]
        await send_problem(send, 429, body, headers)


__all__ = ["RateLimitMiddleware", "credential_of", "token_key"]
