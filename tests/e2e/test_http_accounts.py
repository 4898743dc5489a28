"""Accounts over HTTP, on SQLite and PostgreSQL, with mail through a real SMTP server process.

The verified-email rule for self-enrollment (on by default, and off), the links
people open from their mail (a page for a browser, JSON for an API client), the
reset form end to end, and changing one's email address.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from tests.e2e.http_helpers import ADMIN, BACKENDS, COURSES, Api, assert_problem, backend_settings, course_spec, serve

if TYPE_CHECKING:
    from tests.smtp_server import ReceivedMail, SmtpServer

pytest_plugins = ["tests.smtp_server"]
pytestmark = pytest.mark.asyncio(loop_scope="module")

AUTH = "/api/v1/auth"
ME = "/api/v1/users/me"
PASSWORD = "correct horse battery"
NEW_PASSWORD = "staple on the tongue"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
VERIFICATION_REQUIRED = "urn:elearning:problem:email-verification-required"
URL = re.compile(r"^(https?://\S+)$", re.MULTILINE)


@pytest.fixture(scope="module", params=BACKENDS)
def settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, smtp_server_process: SmtpServer
) -> Settings:
    return backend_settings(
        request,
        tmp_path_factory.mktemp("e2e-accounts"),
        mail_backend="smtp",
        smtp_host=smtp_server_process.host,
        smtp_port=smtp_server_process.port,
        smtp_timeout_seconds=5,
        reset_limit_per_ip=100_000,  # every request comes from one address
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


@dataclass
class Accounts:
    app: Api
    smtp: SmtpServer

    @property
    def client(self) -> Any:
        return self.app.client

    async def mail(self, address: str, subject: str) -> str:
        """The text of the one mail to ``address`` with ``subject`` (waited for off the event loop)."""

        def matches(mail: ReceivedMail) -> bool:
            return address in mail.rcpt_tos and mail.message["subject"] == subject

        [received] = await asyncio.to_thread(self.smtp.wait_for, 1, where=matches)
        body = received.message.get_body(preferencelist=("plain",))
        assert body is not None
        text: str = body.get_content()
        return text

    async def link(self, address: str, subject: str) -> str:
        """The clickable URL of that mail (a line of its own, scheme included), as path and query."""
        urls = URL.findall(await self.mail(address, subject))
        assert len(urls) == 1, urls
        parts = urlsplit(urls[0])
        assert parts.scheme == "http"
        assert parts.netloc
        return f"{parts.path}?{parts.query}"

    async def register(self, address: str, name: str = "Ada Lovelace") -> None:
        body = {"email": address, "password": PASSWORD, "display_name": name}
        response = await self.client.post(f"{AUTH}/register", json=body)
        assert response.status_code == 202, response.text

    async def login(self, address: str, password: str = PASSWORD) -> dict[str, str]:
        response = await self.client.post(f"{AUTH}/login", json={"email": address, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def course(self) -> str:
        (course_id,) = await self.app.seed(course_spec(f"course-{uuid.uuid4().hex[:8]}"))
        return course_id

    async def enroll(self, course_id: str, headers: dict[str, str]) -> httpx.Response:
        response: httpx.Response = await self.client.post(f"{COURSES}/{course_id}/enrollments", headers=headers)
        return response


@pytest_asyncio.fixture(loop_scope="module")
async def api(running: Api, smtp_server_process: SmtpServer) -> Accounts:
    await running.reset()
    smtp_server_process.clear()
    return Accounts(running, smtp_server_process)


def an_email(tag: str = "ada") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.org"


def assert_page(response: httpx.Response, status: int, *texts: str) -> str:
    """A self-contained HTML page with ``status`` that says each of ``texts`` (HTML-escaped)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page: str = response.text
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # no external asset
    for text in texts:
        assert text in page, f"{text!r} not in {page}"
    return page


# -- the verified-email rule -------------------------------------------------------------------


async def test_an_unverified_account_may_enroll_once_it_opens_the_mailed_link(api: Accounts) -> None:
    course_id = await api.course()
    ada = an_email()
    await api.register(ada)
    headers = await api.login(ada)
    refused = assert_problem(await api.enroll(course_id, headers), 403)
    assert refused["type"] == VERIFICATION_REQUIRED
    assert "confirm your email address" in refused["detail"]

    link = await api.link(ada, "Confirm your email address")
    assert_page(await api.client.get(link, headers=BROWSER), 200, "Email address confirmed", ada)
    # The same access token: the account's state is read on every request.
    enrolled = await api.enroll(course_id, headers)
    assert enrolled.status_code == 201, enrolled.text
    # A link opened twice shows the refusal as a page too, with the problem's status.
    assert_page(await api.client.get(link, headers=BROWSER), 422, "This link cannot confirm your address")


async def test_admin_created_accounts_count_as_verified(api: Accounts) -> None:
    course_id = await api.course()
    grace = an_email("grace")
    body = {"email": grace, "display_name": "Grace", "password": PASSWORD}
    assert (await api.client.post("/api/v1/admin/users", json=body, headers=ADMIN)).status_code == 201
    assert (await api.enroll(course_id, await api.login(grace))).status_code == 201


async def test_with_the_rule_off_an_unverified_account_enrolls(api: Accounts) -> None:
    settings = api.app.platform.settings.model_copy(update={"require_verified_email": False})
    async with serve(settings, run_migrations=False) as relaxed:
        other = Accounts(relaxed, api.smtp)
        course_id = await other.course()
        bob = an_email("bob")
        await other.register(bob)
        enrolled = await other.enroll(course_id, await other.login(bob))
        assert enrolled.status_code == 201, enrolled.text


async def test_an_api_client_following_the_link_gets_json(api: Accounts) -> None:
    ada = an_email()
    await api.register(ada)
    link = await api.link(ada, "Confirm your email address")
    opened = await api.client.get(link, headers={"Accept": "application/json"})
    assert opened.status_code == 200, opened.text
    assert opened.json()["email_verified"] is True
    assert_problem(await api.client.get(link), 422, field="token")


async def test_what_a_page_shows_is_escaped(api: Accounts) -> None:
    ada = an_email()
    await api.register(ada, name='<b>Ada</b> & "Co"')
    page = assert_page(
        await api.client.get(await api.link(ada, "Confirm your email address"), headers=BROWSER),
        200,
        "&lt;b&gt;Ada&lt;/b&gt; &amp; &quot;Co&quot;",
    )
    assert "<b>" not in page


# -- the password reset form -------------------------------------------------------------------


async def test_the_reset_link_opens_a_form_whose_new_password_signs_in(api: Accounts) -> None:
    ada = an_email()
    await api.register(ada)
    assert (await api.client.post(f"{AUTH}/password-reset", json={"email": ada})).status_code == 202
    link = await api.link(ada, "Reset your password")
    token = link.split("token=", 1)[1]
    page = assert_page(await api.client.get(link, headers=BROWSER), 200, "Choose a new password")
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    assert action is not None
    assert f'name="token" value="{token}"' in page
    # An API client opening the link is told what to POST; nothing is spent.
    instructions = await api.client.get(link, headers={"Accept": "application/json"})
    assert instructions.json()["confirm"] == f"{AUTH}/password-reset/confirm"

    # A password too short: the form again, saying why (the link still works).
    short = await api.client.post(action.group(1), data={"token": token, "new_password": "short"}, headers=BROWSER)
    assert_page(short, 422, "password must be", f'value="{token}"')
    done = await api.client.post(action.group(1), data={"token": token, "new_password": NEW_PASSWORD}, headers=BROWSER)
    assert_page(done, 200, "Password changed")
    await api.login(ada, NEW_PASSWORD)
    assert (await api.client.post(f"{AUTH}/login", json={"email": ada, "password": PASSWORD})).status_code == 401
    # Spent.
    again = await api.client.post(action.group(1), data={"token": token, "new_password": NEW_PASSWORD})
    assert_page(again, 422, "This link cannot reset your password")


# -- changing one's email ---------------------------------------------------------------------


async def test_changing_the_email_moves_the_account_when_the_new_address_confirms(api: Accounts) -> None:
    old, new, taken = an_email("old"), an_email("new"), an_email("taken")
    for address in (old, taken):
        body = {"email": address, "display_name": "Ada", "password": PASSWORD}
        assert (await api.client.post("/api/v1/admin/users", json=body, headers=ADMIN)).status_code == 201
    headers = await api.login(old)

    wrong = await api.client.post(
        f"{ME}/email", json={"new_email": new, "current_password": "nope nope nope"}, headers=headers
    )
    assert_problem(wrong, 422, field="current_password")
    conflict = await api.client.post(
        f"{ME}/email", json={"new_email": taken.upper(), "current_password": PASSWORD}, headers=headers
    )
    assert assert_problem(conflict, 409)["detail"] == "another account uses this email address"
    unknown = await api.client.post(f"{ME}/email", json={"new_email": new, "role": "x"}, headers=headers)
    assert_problem(unknown, 422, field="role")

    asked = await api.client.post(f"{ME}/email", json={"new_email": new, "current_password": PASSWORD}, headers=headers)
    assert asked.status_code == 202, asked.text
    assert asked.json()["new_email"] == new
    assert (await api.client.get(ME, headers=headers)).json()["email"] == old
    notice = await api.mail(old, "Your account's email address is changing")
    assert new in notice
    assert "token" not in notice

    link = await api.link(new, "Confirm your new email address")
    assert_page(await api.client.get(link, headers=BROWSER), 200, "Email address changed", new)
    me = (await api.client.get(ME, headers=headers)).json()  # the session is kept
    assert (me["email"], me["email_verified"]) == (new, True)
    await api.login(new)
    assert (await api.client.post(f"{AUTH}/login", json={"email": old, "password": PASSWORD})).status_code == 401
    assert_problem(await api.client.get(link, headers={"Accept": "application/json"}), 422, field="token")


async def test_a_change_confirmed_by_json_and_refused_when_the_address_was_taken_meanwhile(api: Accounts) -> None:
    old, new = an_email("old"), an_email("new")
    body = {"email": old, "display_name": "Ada", "password": PASSWORD}
    assert (await api.client.post("/api/v1/admin/users", json=body, headers=ADMIN)).status_code == 201
    headers = await api.login(old)
    asked = await api.client.post(f"{ME}/email", json={"new_email": new, "current_password": PASSWORD}, headers=headers)
    assert asked.status_code == 202, asked.text
    token = (await api.link(new, "Confirm your new email address")).split("token=", 1)[1]
    other = {"email": new, "display_name": "Squatter", "password": PASSWORD}
    assert (await api.client.post("/api/v1/admin/users", json=other, headers=ADMIN)).status_code == 201
    assert_problem(await api.client.post(f"{AUTH}/email-change/confirm", json={"token": token}), 409)
    assert (await api.client.get(ME, headers=headers)).json()["email"] == old
