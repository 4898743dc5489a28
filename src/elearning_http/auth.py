"""Who is calling: resolves the request's principal, and guards cookie sessions against CSRF.

Credentials, in order:

- ``Authorization: Bearer <token>``: the admin service account's token
  (``ELEARNING_ADMIN_TOKEN``), else an access token of ours or of a trusted
  external OIDC issuer, which ``AuthService.authenticate`` checks against the
  user's current status, grants and session;
- the browser session cookie (``elearning_access``), set by a cookie-mode
  sign-in. A request that changes state with it must also send the session's
  CSRF token in ``X-CSRF-Token``: a signed double submit, the token being an
  HMAC of the session id, which a cross-site page can neither read nor forge;
- nothing: the anonymous public.

A credential that is present but wrong is refused with 401, never downgraded
to anonymous, so a typo in a token is not mistaken for public access.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.types import ASGIApp, Receive, Scope, Send

from elearning_core.auth.service import AuthService
from elearning_core.shared.errors import Unauthenticated
from elearning_core.shared.ports import ANONYMOUS, Principal
from elearning_http.inputs import refuse_unstorable_parameters

ADMIN_SERVICE_ACCOUNT = Principal(subject="service:admin-token", roles=frozenset({"admin"}))
ACCESS_COOKIE = "elearning_access"
REFRESH_COOKIE = "elearning_refresh"
CSRF_COOKIE = "elearning_csrf"
CSRF_HEADER = "x-csrf-token"
_MAX_TOKEN_LENGTH = 8192
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SCOPE_KEY = "elearning_principal"


class CsrfTokens:
    """The CSRF token of a cookie session: HMAC-SHA256(secret, session id), URL-safe."""

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"elearning csrf:" + secret).digest()

    def for_session(self, session_id: uuid.UUID) -> str:
        mac = hmac.new(self._key, session_id.bytes, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def valid(self, session_id: uuid.UUID | None, presented: str | None) -> bool:
        if session_id is None or not presented:
            return False
        return hmac.compare_digest(self.for_session(session_id).encode(), presented.encode())


class Authenticator:
    def __init__(self, auth: AuthService, csrf: CsrfTokens, admin_token: str | None) -> None:
        self._auth = auth
        self._csrf = csrf
        self._admin_token = admin_token.encode() if admin_token else None

    async def __call__(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
        cached = connection.scope.get(_SCOPE_KEY)
        if isinstance(cached, Principal):
            return cached
        principal = await self._authenticate(connection)
        connection.scope[_SCOPE_KEY] = principal  # type: ignore[literal-required]
        connection.scope["principal_anonymous"] = principal.is_anonymous  # type: ignore[typeddict-unknown-key]
        return principal

    async def _authenticate(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
        header = connection.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN_LENGTH:
                raise NotAuthorizedException("the Authorization header must be 'Bearer <token>'")
            if self._admin_token is not None and hmac.compare_digest(token.encode(), self._admin_token):
                return ADMIN_SERVICE_ACCOUNT
            return await self._verified(token)
        cookie = connection.cookies.get(ACCESS_COOKIE)
        if cookie:
            if len(cookie) > _MAX_TOKEN_LENGTH:
                raise NotAuthorizedException("the session cookie is invalid")
            principal = await self._verified(cookie)
            if connection.scope.get("method") not in _SAFE_METHODS and not self._csrf.valid(
                principal.session_id, connection.headers.get(CSRF_HEADER)
            ):
                raise PermissionDeniedException(
                    "a cookie session must send its CSRF token in the X-CSRF-Token header to change anything"
                )
            return principal
        return ANONYMOUS

    async def _verified(self, token: str) -> Principal:
        try:
            return await self._auth.authenticate(token)
        except Unauthenticated as exc:
            raise NotAuthorizedException(exc.detail) from None


class RouteChecks:
    """Route middleware: what every route checks before its code runs, in one raw ASGI pass.

    - Anonymous callers may read what is public, never write (``public_write`` routes excepted). A route
      is open to anonymous reads when its ``opt`` (or a layer's) says ``public``: the catalog, the
      well-known documents, health, the docs. Any other route answers an anonymous caller 401, whatever
      the resource, as its OpenAPI ``security`` says (``elearning_http.openapi``). It runs before the
      body is parsed, so an anonymous write gets 401 rather than a validation error that would describe
      the API to it. What an authenticated caller may do is still decided by the use case's policy.
    - A path or query parameter that cannot be stored is refused
      (:func:`elearning_http.inputs.refuse_unstorable_parameters`).

    These were two Litestar guards; Litestar copies the route handler (some 70 attributes) for each
    guard on each request, which cost more CPU than both checks (benchmarks/RESULTS.md, issue 13). As a
    middleware of the app, Litestar builds it into every route's stack, after routing: the matched
    handler is in the scope.
    """

    def __init__(self, app: ASGIApp, authenticate: Authenticator) -> None:
        self.app = app
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # type: ignore[comparison-overlap]
            connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope, receive)
            opt = scope["route_handler"].opt
            if not opt.get("public_write"):
                # Sign-in, registration, refresh (``public_write``): a stale session cookie must not stand in the way.
                principal = await self.authenticate(connection)
                method = scope["method"]  # type: ignore[typeddict-item]
                if principal.is_anonymous and not (
                    method == "OPTIONS" or (method in _SAFE_METHODS and opt.get("public"))
                ):
                    raise NotAuthorizedException("authentication required: send 'Authorization: Bearer <token>'")
            refuse_unstorable_parameters(connection)
        await self.app(scope, receive, send)


def client_ip(request: Request[Any, Any, Any]) -> str:
    """The client address as ``elearning_http.client_ip`` resolved it (forwarded headers only from trusted proxies)."""
    return request.client.host if request.client is not None else "unknown"
