"""The links people open from their mail, under ``/api/v1/auth``: verify an address, reset a password,
confirm a new address (each path's GET for the link, POST for API clients, in this one controller).

Each GET answers a browser (``Accept: text/html``) with a small readable page
(``elearning_http.pages``) and an API client with JSON. The reset link's page
is a plain HTML form that posts, form-encoded, to ``/password-reset/form``;
API clients (and front ends of their own) POST JSON to
``/password-reset/confirm`` as before. A refusal shown to a browser is a page
with the same status the problem document would carry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import MediaType, RequestEncodingType
from litestar.params import Body, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT
from pydantic import ConfigDict, Field

from elearning_core.identity.commands import ConfirmPasswordReset
from elearning_core.identity.model import PASSWORD_MIN, User
from elearning_core.identity.service import IdentityService
from elearning_core.shared.errors import DomainError, ValidationFailed
from elearning_core.shared.inputs import InputModel
from elearning_http.errors import problem_responses, status_of
from elearning_http.pages import Field as PageField
from elearning_http.pages import Form, json_or_page, page, page_responses, wants_html
from elearning_http.routes.auth import EmailVerification, TokenBody

PUBLIC = {"public_write": True}
ERRORS = problem_responses(400, 401, 409, 422, 429)
Token = Annotated[str, QueryParameter(max_length=200, description="The token from the mailed link")]
RESET_FORM_PATH = "/api/v1/auth/password-reset/form"
HTML_NOTE = " A browser (`Accept: text/html`) gets a small HTML page instead of JSON."


class ResetForm(InputModel):
    """The reset page's form, as a browser posts it (form-encoded; not JSON, so the JSON rules do not apply).

    Fields a browser adds (a password manager's) are ignored rather than refused: the page, not a client,
    wrote this form. Missing fields are empty, so the page (not a problem document) says what is wrong."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    token: str = Field(default="", max_length=200)
    new_password: str = Field(default="", max_length=256)


@dataclass(frozen=True, slots=True)
class EmailChanged:
    user_id: str
    email: str
    email_verified: bool


@dataclass(frozen=True, slots=True)
class ResetInstructions:
    detail: str
    confirm: str
    fields: list[str]


def _refusal_page(title: str, exc: DomainError, *hints: str) -> Response[str]:
    return page(title, *hints, status=status_of(exc), error=exc.detail)


async def _link_answer(
    request: Request[Any, Any, Any],
    act: Callable[[], Awaitable[User]],
    as_json: Callable[[User], Any],
    as_page: Callable[[User], Response[str]],
    refusal: str,
    hint: str,
) -> Response[Any]:
    """What a mailed link answers: JSON for an API client (errors as problem documents), a page for a browser
    (errors as a page with the status the problem would carry)."""
    if not wants_html(request):
        return Response(as_json(await act()))
    try:
        user = await act()
    except DomainError as exc:
        return _refusal_page(refusal, exc, hint)
    return as_page(user)


def _reset_form(token: str) -> Form:
    return Form(
        action=RESET_FORM_PATH,
        fields=(
            PageField("token", "", kind="hidden", value=token),
            PageField("new_password", f"New password (at least {PASSWORD_MIN} characters)", minlength=PASSWORD_MIN),
        ),
        submit="Set the new password",
    )


class MailLinkController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post(
        "/verify-email",
        opt=PUBLIC,
        summary="Confirm an email address with the mailed token",
        status_code=HTTP_200_OK,
        responses=ERRORS,
    )
    async def verify_email(
        self, identity_service: NamedDependency[IdentityService], data: JSONBody[TokenBody]
    ) -> EmailVerification:
        user = await identity_service.verify_email(data.token)
        return EmailVerification(str(user.id), user.email_verified)

    @get(
        "/verify-email",
        opt=PUBLIC,
        summary="Confirm an email address (the link in the mail)",
        responses={**ERRORS, **json_or_page(EmailVerification, "The address is verified")},
        description="Confirms at once (the token is single-use)." + HTML_NOTE,
    )
    async def verify_email_link(
        self, request: Request[Any, Any, Any], identity_service: NamedDependency[IdentityService], token: Token
    ) -> Response[Any]:
        return await _link_answer(
            request,
            lambda: identity_service.verify_email(token),
            lambda user: EmailVerification(str(user.id), user.email_verified),
            lambda user: page(
                "Email address confirmed",
                f"Thank you, {user.display_name}: {user.email} is confirmed. You can close this page.",
            ),
            "This link cannot confirm your address",
            "Sign in and ask for a new link.",
        )

    @get(
        "/password-reset/confirm",
        opt=PUBLIC,
        summary="The password reset link in the mail: a form to choose the new password",
        responses=json_or_page(ResetInstructions, "What to POST to reset the password"),
        description="Changes nothing: a browser gets a form posting to /password-reset/form; a JSON client "
        "gets instructions (POST the token and new_password to this path).",
    )
    async def reset_link(self, request: Request[Any, Any, Any], token: Token) -> Response[Any]:
        if not wants_html(request):
            return Response(
                ResetInstructions(
                    "POST the token and the new password to confirm the reset",
                    "/api/v1/auth/password-reset/confirm",
                    ["token", "new_password"],
                )
            )
        return page(
            "Choose a new password", "Every session of the account ends when it is set.", form=_reset_form(token)
        )

    @post(
        "/password-reset/confirm",
        status_code=HTTP_204_NO_CONTENT,
        opt=PUBLIC,
        summary="Choose a new password with the mailed token",
        responses=ERRORS,
    )
    async def confirm_reset(
        self, identity_service: NamedDependency[IdentityService], data: JSONBody[ConfirmPasswordReset]
    ) -> None:
        await identity_service.confirm_password_reset(data)

    @post(
        "/password-reset/form",
        status_code=HTTP_200_OK,
        opt=PUBLIC,
        summary="The reset page's form (form-encoded; answers with a page)",
        description="For browsers: API clients use POST /password-reset/confirm with JSON.",
        media_type=MediaType.HTML,
        responses={**problem_responses(400), **page_responses(409, 422, 429)},
    )
    async def reset_form(
        self,
        identity_service: NamedDependency[IdentityService],
        data: Annotated[ResetForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Response[str]:
        try:
            await identity_service.confirm_password_reset(
                ConfirmPasswordReset(token=data.token, new_password=data.new_password)
            )
        except ValidationFailed as exc:
            if any(e.field == "token" for e in exc.errors):
                return _refusal_page("This link cannot reset your password", exc, "Ask for a new reset link.")
            # The link is still good (nothing was spent): the form again, saying what to fix.
            return page("Choose a new password", status=422, error=exc.detail, form=_reset_form(data.token))
        except DomainError as exc:
            return _refusal_page("The password was not changed", exc)
        return page("Password changed", "Sign in with your new password. Every other session has ended.")

    @get(
        "/email-change/confirm",
        opt=PUBLIC,
        summary="Confirm a new email address (the link mailed to it)",
        responses={**ERRORS, **json_or_page(EmailChanged, "The account's new address")},
        description="Moves the account to the new address (single-use token)." + HTML_NOTE,
    )
    async def email_change_link(
        self, request: Request[Any, Any, Any], identity_service: NamedDependency[IdentityService], token: Token
    ) -> Response[Any]:
        return await _link_answer(
            request,
            lambda: identity_service.confirm_email_change(token),
            lambda user: EmailChanged(str(user.id), user.email, user.email_verified),
            lambda user: page(
                "Email address changed", f"Your account now signs in with {user.email}. You can close this page."
            ),
            "This link cannot change your address",
            "Sign in and ask for the change again.",
        )

    @post(
        "/email-change/confirm",
        opt=PUBLIC,
        status_code=HTTP_200_OK,
        summary="Confirm a new email address with the mailed token",
        responses=ERRORS,
    )
    async def confirm_email_change(
        self, identity_service: NamedDependency[IdentityService], data: JSONBody[TokenBody]
    ) -> EmailChanged:
        user = await identity_service.confirm_email_change(data.token)
        return EmailChanged(str(user.id), user.email, user.email_verified)
