"""``/api/v1/auth``: registration, sign-in (password or external OIDC), sessions; and ``/.well-known``.

A sign-in answers with bearer tokens (API clients), or, with ``"cookie":
true``, sets a browser session: HttpOnly access and refresh cookies and a
readable CSRF cookie whose value the page sends back in ``X-CSRF-Token``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Redirect
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_202_ACCEPTED,
    HTTP_204_NO_CONTENT,
    HTTP_302_FOUND,
    HTTP_303_SEE_OTHER,
)
from pydantic import ConfigDict, Field

from elearning_core.auth.service import AuthService, IssuedTokens
from elearning_core.identity.commands import RegisterUser
from elearning_core.identity.service import IdentityService
from elearning_core.shared.inputs import InputModel
from elearning_core.shared.ports import Principal
from elearning_http.auth import ACCESS_COOKIE, CSRF_COOKIE, CSRF_HEADER, REFRESH_COOKIE, CsrfTokens, client_ip
from elearning_http.errors import problem_responses
from elearning_http.openapi import alternative

PUBLIC = {"public_write": True}
"""Sign-in routes: the guard resolves no principal for them, so a dead session cookie cannot block a new sign-in."""
OPEN = {"public": True}
"""Reads anyone may make (a credential, when sent, must still be valid)."""
AUTH_ERRORS = problem_responses(400, 401, 422, 429)


class _Body(InputModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Login(_Body):
    email: str = Field(max_length=254)
    password: str = Field(max_length=256)
    cookie: bool = Field(default=False, description="Start a browser cookie session instead of returning tokens")


class RefreshBody(_Body):
    refresh_token: str | None = Field(
        default=None, max_length=200, description="Omit in a cookie session (the refresh cookie is used)"
    )


class EmailBody(_Body):
    email: str = Field(max_length=254)


class TokenBody(_Body):
    token: str = Field(max_length=200)


@dataclass(frozen=True, slots=True)
class Accepted:
    status: str
    detail: str


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    refresh_expires_at: dt.datetime
    session_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class CookieSession:
    token_type: str
    expires_in: int
    session_id: str
    user_id: str
    csrf_token: str


@dataclass(frozen=True, slots=True)
class EmailVerification:
    user_id: str
    email_verified: bool


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """How session cookies are set (from Settings; ``secure`` off only for plain-HTTP development)."""

    secure: bool
    csrf: CsrfTokens
    cors_origins: tuple[str, ...]


def _pair(tokens: IssuedTokens) -> TokenPair:
    return TokenPair(
        access_token=tokens.access_token,
        token_type=tokens.token_type,
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
        refresh_expires_at=tokens.refresh_expires_at,
        session_id=str(tokens.session_id),
        user_id=str(tokens.user_id),
    )


def _session_cookies(tokens: IssuedTokens, cookies: SessionSettings, now: dt.datetime) -> list[Cookie]:
    refresh_age = max(0, int((tokens.refresh_expires_at - now).total_seconds()))
    common: dict[str, Any] = {"secure": cookies.secure, "samesite": "lax"}
    return [
        Cookie(
            key=ACCESS_COOKIE, value=tokens.access_token, path="/", httponly=True, max_age=tokens.expires_in, **common
        ),
        Cookie(
            key=REFRESH_COOKIE,
            value=tokens.refresh_token,
            path="/api/v1/auth",
            httponly=True,
            max_age=refresh_age,
            **common,
        ),
        Cookie(
            key=CSRF_COOKIE,
            value=cookies.csrf.for_session(tokens.session_id),
            path="/",
            httponly=False,
            max_age=refresh_age,
            **common,
        ),
    ]


def _cleared_cookies(cookies: SessionSettings) -> list[Cookie]:
    common: dict[str, Any] = {"secure": cookies.secure, "samesite": "lax", "max_age": 0, "value": ""}
    return [
        Cookie(key=ACCESS_COOKIE, path="/", httponly=True, **common),
        Cookie(key=REFRESH_COOKIE, path="/api/v1/auth", httponly=True, **common),
        Cookie(key=CSRF_COOKIE, path="/", **common),
    ]


def _session_response(tokens: IssuedTokens, cookie: bool, cookies: SessionSettings) -> Response[Any]:
    if not cookie:
        return Response(_pair(tokens), status_code=HTTP_200_OK, headers={"Cache-Control": "no-store"})
    body = CookieSession(
        token_type="cookie",
        expires_in=tokens.expires_in,
        session_id=str(tokens.session_id),
        user_id=str(tokens.user_id),
        csrf_token=cookies.csrf.for_session(tokens.session_id),
    )
    return Response(
        body,
        status_code=HTTP_200_OK,
        cookies=_session_cookies(tokens, cookies, dt.datetime.now(dt.UTC)),
        headers={"Cache-Control": "no-store"},
    )


def _require_json(request: Request[Any, Any, Any]) -> None:
    """Cookie-mode requests must be JSON: a cross-site HTML form cannot send application/json."""
    if not request.headers.get("content-type", "").lower().startswith("application/json"):
        raise PermissionDeniedException("cookie sessions accept JSON requests only")


def _safe_return_to(return_to: str | None, cookies: SessionSettings) -> str | None:
    """Only a path on this site, or an origin the CORS settings trust: no open redirect."""
    if not return_to or "\\" in return_to or any(ord(c) < 33 for c in return_to):
        return None  # browsers read "/\\host" as "//host", another site
    parts = urlsplit(return_to)
    if not parts.scheme and not parts.netloc and return_to.startswith("/") and not return_to.startswith("//"):
        return return_to
    if f"{parts.scheme}://{parts.netloc}" in cookies.cors_origins:
        return return_to
    return None


Provider = FromPath[Annotated[str, Field(max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")]]


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post(
        "/register",
        status_code=HTTP_202_ACCEPTED,
        opt=PUBLIC,
        summary="Sign up",
        responses=AUTH_ERRORS,
        description="Always 202 with the same body, whether or not the email has an account (the mailbox's "
        "owner is told by mail). Unknown fields, such as `role`, are refused with 422.",
    )
    async def register(
        self, identity_service: NamedDependency[IdentityService], data: JSONBody[RegisterUser]
    ) -> Accepted:
        await identity_service.register(data)
        return Accepted("accepted", "check your mailbox for a message to confirm the address")

    @post(
        "/login",
        status_code=HTTP_200_OK,
        opt=PUBLIC,
        summary="Sign in with email and password",
        responses=AUTH_ERRORS,
        description='Answers with a bearer token pair, or with `"cookie": true` sets a browser session '
        "(HttpOnly cookies) and answers with its CSRF token. Throttled per account and per IP address "
        "(429 with Retry-After).",
    )
    async def login(
        self,
        request: Request[Any, Any, Any],
        auth_service: NamedDependency[AuthService],
        session_settings: NamedDependency[SessionSettings],
        data: JSONBody[Login],
    ) -> Response[TokenPair | CookieSession]:
        if data.cookie:
            _require_json(request)
        tokens = await auth_service.login(
            data.email, data.password, client_ip=client_ip(request), kind="cookie" if data.cookie else "bearer"
        )
        return _session_response(tokens, data.cookie, session_settings)

    @post(
        "/refresh",
        status_code=HTTP_200_OK,
        opt=PUBLIC,
        summary="Rotate the refresh token",
        responses=AUTH_ERRORS,
        description="Spends the refresh token and returns a new pair. A refresh token used twice ends its "
        "whole session. In a cookie session, send no body token: the refresh cookie and X-CSRF-Token are used.",
    )
    async def refresh(
        self,
        request: Request[Any, Any, Any],
        auth_service: NamedDependency[AuthService],
        session_settings: NamedDependency[SessionSettings],
        data: JSONBody[RefreshBody],
    ) -> Response[TokenPair | CookieSession]:
        if data.refresh_token:
            return _session_response(await auth_service.refresh(data.refresh_token), False, session_settings)
        cookie = request.cookies.get(REFRESH_COOKIE)
        if not cookie:
            raise NotAuthorizedException("send refresh_token, or use a cookie session")
        _require_json(request)
        # The CSRF token is bound to the session (which a rotation keeps): checked before the token is spent,
        # so a forged cross-site refresh can neither rotate nor end the victim's session.
        session_id = await auth_service.session_of(cookie)
        if not session_settings.csrf.valid(session_id, request.headers.get(CSRF_HEADER)):
            raise PermissionDeniedException("a cookie session must send its CSRF token in X-CSRF-Token")
        return _session_response(await auth_service.refresh(cookie), True, session_settings)

    @post("/logout", status_code=HTTP_204_NO_CONTENT, summary="End the session", responses=problem_responses(401))
    async def logout(
        self,
        request: Request[Any, Any, Any],
        auth_service: NamedDependency[AuthService],
        session_settings: NamedDependency[SessionSettings],
        principal: NamedDependency[Principal],
        data: JSONBody[RefreshBody | None] = None,
    ) -> Response[None]:
        await auth_service.logout(refresh_token=data.refresh_token if data else None, actor=principal)
        return Response(None, status_code=HTTP_204_NO_CONTENT, cookies=_cleared_cookies(session_settings))

    @post(
        "/verify-email/resend",
        status_code=HTTP_202_ACCEPTED,
        summary="Mail a new confirmation link",
        responses=problem_responses(401, 429),
    )
    async def resend_verification(
        self,
        identity_service: NamedDependency[IdentityService],
        principal: NamedDependency[Principal],
        again: Annotated[
            bool,
            QueryParameter(
                description="Confirm a verified address again (mail to it bounced and is held back until it is)"
            ),
        ] = False,
    ) -> Accepted:
        sent = await identity_service.resend_verification(principal, again=again)
        return Accepted("accepted" if sent else "verified", "a new link is on its way" if sent else "already verified")

    @post(
        "/password-reset",
        status_code=HTTP_202_ACCEPTED,
        opt=PUBLIC,
        summary="Ask for a password reset",
        responses=AUTH_ERRORS,
        description="Always 202: whether the email has an account is never revealed.",
    )
    async def request_reset(
        self,
        request: Request[Any, Any, Any],
        identity_service: NamedDependency[IdentityService],
        data: JSONBody[EmailBody],
    ) -> Accepted:
        await identity_service.request_password_reset(data.email, client_ip=client_ip(request))
        return Accepted("accepted", "if the address has an account, a reset message is on its way")

    @get(
        "/providers",
        opt=PUBLIC,
        summary="External identity providers configured for sign-in",
        description="Part of signing in: served whatever credentials come with it (a dead session cookie too).",
    )
    async def providers(self, auth_service: NamedDependency[AuthService]) -> dict[str, list[str]]:
        return {"providers": auth_service.providers}

    @get(
        "/oidc/{provider:str}/authorize",
        opt=PUBLIC,
        status_code=HTTP_302_FOUND,
        summary="Start an external sign-in (302 to the provider)",
        description="Redirects the browser to the provider's sign-in page; it comes back to the callback.",
        responses=problem_responses(401, 404),
    )
    async def oidc_authorize(
        self,
        request: Request[Any, Any, Any],
        auth_service: NamedDependency[AuthService],
        session_settings: NamedDependency[SessionSettings],
        provider: Provider,
        return_to: Annotated[
            str | None,
            QueryParameter(
                max_length=2000,
                description="Where to send the browser afterwards, with a cookie session; without it the callback "
                "answers with bearer tokens",
            ),
        ] = None,
    ) -> Redirect:
        url = await auth_service.begin_external(
            provider,
            redirect_uri=_callback_url(request, provider),
            return_to=_safe_return_to(return_to, session_settings),
        )
        return Redirect(url, status_code=302)

    @get(
        "/oidc/{provider:str}/callback",
        opt=PUBLIC,
        summary="Finish an external sign-in",
        description="Answers with a bearer token pair, or, when the sign-in began with `return_to`, sets a cookie "
        "session and redirects there (303).",
        responses={
            **AUTH_ERRORS,
            **problem_responses(404),
            **alternative(HTTP_303_SEE_OTHER, None, "Signed in with a cookie session: on to `return_to`"),
        },
    )
    async def oidc_callback(
        self,
        request: Request[Any, Any, Any],
        auth_service: NamedDependency[AuthService],
        session_settings: NamedDependency[SessionSettings],
        provider: Provider,
        code: Annotated[str | None, QueryParameter(max_length=2000)] = None,
        oidc_state: Annotated[str | None, QueryParameter(name="state", max_length=200)] = None,
        error: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> Response[TokenPair]:
        if error or not code or not oidc_state:
            raise NotAuthorizedException(f"the provider did not sign you in ({error or 'no code'})")
        tokens, return_to = await auth_service.complete_external(
            provider, code=code, state=oidc_state, redirect_uri=_callback_url(request, provider)
        )
        if return_to is None:
            return _session_response(tokens, False, session_settings)
        return Redirect(
            return_to,
            status_code=303,
            cookies=_session_cookies(tokens, session_settings, dt.datetime.now(dt.UTC)),
        )


def _callback_url(request: Request[Any, Any, Any], provider: str) -> str:
    base = request.app.state.get("public_base_url") or str(request.base_url).rstrip("/")
    return f"{base}/api/v1/auth/oidc/{provider}/callback"


@get("/.well-known/jwks.json", tags=["auth"], opt=OPEN, summary="Public keys that verify this platform's access tokens")
async def jwks(jwks_document: NamedDependency[Any]) -> Response[dict[str, Any]]:
    return Response(jwks_document(), headers={"Cache-Control": "public, max-age=300"})


@get("/.well-known/openid-configuration", tags=["auth"], opt=OPEN, summary="OpenID discovery document")
async def openid_configuration(request: Request[Any, Any, Any]) -> dict[str, Any]:
    base = request.app.state.get("public_base_url") or str(request.base_url).rstrip("/")
    return {
        "issuer": request.app.state.get("token_issuer") or base,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "token_endpoint": f"{base}/api/v1/auth/login",
        "userinfo_endpoint": f"{base}/api/v1/users/me",
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": request.app.state.get("token_algorithms") or ["EdDSA"],
        "token_endpoint_auth_methods_supported": ["none"],
        "grant_types_supported": ["password", "refresh_token"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "jti", "sid", "token_type"],
    }
