"""Who is calling: resolves the request's principal.

Until the auth module lands, the only credential is the admin service
account's bearer token (``ELEARNING_ADMIN_TOKEN``). No header means the
anonymous public; a wrong token is refused outright with 401, so a typo in a
token is never mistaken for anonymous access.
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from elearning_core.shared.ports import ANONYMOUS, Principal

ADMIN_SERVICE_ACCOUNT = Principal(subject="service:admin-token", roles=frozenset({"admin"}))
_MAX_TOKEN_LENGTH = 4096


class BearerTokenAuthenticator:
    def __init__(self, admin_token: str | None) -> None:
        self._admin_token = admin_token.encode() if admin_token else None

    def __call__(self, request: Request[Any, Any, Any]) -> Principal:
        cached = request.scope.get("elearning_principal")
        if isinstance(cached, Principal):
            return cached
        principal = self._authenticate(request)
        request.scope["elearning_principal"] = principal  # type: ignore[typeddict-unknown-key]
        request.scope["principal_anonymous"] = principal.is_anonymous  # type: ignore[typeddict-unknown-key]
        return principal

    def _authenticate(self, request: Request[Any, Any, Any]) -> Principal:
        header = request.headers.get("authorization")
        if header is None:
            return ANONYMOUS
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN_LENGTH:
            raise NotAuthorizedException("the Authorization header must be 'Bearer <token>'")
        if self._admin_token is None or not hmac.compare_digest(token.encode(), self._admin_token):
            raise NotAuthorizedException("the bearer token is invalid")
        return ADMIN_SERVICE_ACCOUNT


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def authenticated_writes(authenticate: BearerTokenAuthenticator) -> Any:
    """A guard: anonymous callers may read, never write.

    It runs before the body is parsed, so an anonymous write gets 401 rather
    than a validation error that would describe the API to it. What an
    authenticated caller may do is still decided by the use case's policy.
    """

    # async: Litestar runs a plain-function guard in a worker thread, a thread hop on every request.
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.scope.get("method") in _SAFE_METHODS:
            return
        if authenticate(connection).is_anonymous:  # type: ignore[arg-type]
            raise NotAuthorizedException("authentication required: send 'Authorization: Bearer <token>'")

    return guard
