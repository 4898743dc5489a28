"""``/api/v1/me/notifications``, ``/api/v1/me/notification-preferences`` and the one-click unsubscribe,
as a client sees them: an enrollment's notification in the inbox (paged, unread count, read marks),
preferences with their defaults, and the mailed link that turns a type off without signing in (a digest's:
every type it gathered, read from the mail a real SMTP server process received)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from elearning_adapters.sql.notification import record_notices
from elearning_core.notification.model import Notice, NotificationType
from tests.e2e.assessment_helpers import Person, course, person
from tests.e2e.http_helpers import BACKENDS, Api, Json, assert_problem, backend_settings, open_read_pool, serve

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer

pytest_plugins = ["tests.smtp_server"]
pytestmark = pytest.mark.asyncio(loop_scope="module")
T = NotificationType


@pytest.fixture(scope="module", params=BACKENDS)
def settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, smtp_server_process: SmtpServer
) -> Settings:
    mail = {"mail_backend": "smtp", "smtp_host": smtp_server_process.host, "smtp_port": smtp_server_process.port}
    return backend_settings(request, tmp_path_factory.mktemp("notifications"), **mail)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        await open_read_pool(app)
        yield app
        await app.platform.database.dispose()


@pytest_asyncio.fixture(loop_scope="module")
async def api(running: Api) -> Api:
    return running


async def enrolled_learner(api: Api, count: int = 1) -> Person:
    learner = await person(api, name="learner")
    for _ in range(count):
        course_id = await course(api)
        response = await api.client.post(f"/api/v1/courses/{course_id}/enrollments", headers=learner.headers)
        assert response.status_code in (200, 201), response.text
    events = api.platform.events
    assert events is not None
    await events.drain()
    return learner


async def inbox(api: Api, who: Person, **params: object) -> Json:
    response = await api.client.get("/api/v1/me/notifications", headers=who.headers, params=params)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


async def unread(api: Api, who: Person) -> int:
    response = await api.client.get("/api/v1/me/notifications/unread-count", headers=who.headers)
    assert response.status_code == 200, response.text
    return int(response.json()["unread"])


async def test_the_inbox_pages_counts_and_marks_read(api: Api) -> None:
    learner = await enrolled_learner(api, count=3)
    first = await inbox(api, learner, limit=2)
    assert [n["type"] for n in first["items"]] == ["enrollment_confirmed"] * 2
    rest = await inbox(api, learner, limit=2, cursor=first["next_cursor"])
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
    assert await unread(api, learner) == 3

    one = first["items"][0]["id"]
    marked = await api.client.post(f"/api/v1/me/notifications/{one}/read", headers=learner.headers)
    assert marked.status_code == 204
    assert await unread(api, learner) == 2
    assert [n["id"] for n in (await inbox(api, learner, unread="true"))["items"]] == [
        n["id"] for n in [*first["items"][1:], *rest["items"]]
    ]
    everything = await api.client.post("/api/v1/me/notifications/read-all", headers=learner.headers)
    assert everything.json() == {"marked": 2}
    assert await unread(api, learner) == 0


async def test_someone_elses_notification_is_not_found(api: Api) -> None:
    owner, other = await enrolled_learner(api), await person(api)
    (item,) = (await inbox(api, owner))["items"]
    response = await api.client.post(f"/api/v1/me/notifications/{item['id']}/read", headers=other.headers)
    assert_problem(response, 404)
    assert await unread(api, owner) == 1


async def test_the_inbox_needs_a_sign_in(api: Api) -> None:
    assert_problem(await api.client.get("/api/v1/me/notifications"), 401)
    assert_problem(await api.client.post("/api/v1/me/notifications/stream-ticket"), 401)


async def test_preferences_show_defaults_and_keep_choices(api: Api) -> None:
    who = await person(api)
    listed = await api.client.get("/api/v1/me/notification-preferences", headers=who.headers)
    assert listed.status_code == 200
    assert {"type": "course_updated", "channel": "email", "cadence": "weekly"} in listed.json()["preferences"]
    chosen = await api.client.put(
        "/api/v1/me/notification-preferences",
        headers=who.headers,
        json={"preferences": [{"type": "course_updated", "channel": "email", "cadence": "daily"}]},
    )
    assert chosen.status_code == 200, chosen.text
    assert {"type": "course_updated", "channel": "email", "cadence": "daily"} in chosen.json()["preferences"]
    refused = await api.client.put(
        "/api/v1/me/notification-preferences",
        headers=who.headers,
        json={"preferences": [{"type": "course_updated", "channel": "pigeon", "cadence": "daily"}]},
    )
    assert_problem(refused, 422, field="preferences.0.channel")
    in_app_digest = await api.client.put(
        "/api/v1/me/notification-preferences",
        headers=who.headers,
        json={"preferences": [{"type": "announcement", "channel": "in_app", "cadence": "weekly"}]},
    )
    assert_problem(in_app_digest, 422, field="preferences.0.cadence")


async def test_the_mailed_unsubscribe_link_turns_the_type_off_without_a_sign_in(api: Api) -> None:
    who = await person(api)
    links = api.platform.container.notification.links()
    url = links.url(uuid.UUID(who.id), NotificationType.ANNOUNCEMENT)
    path = url[url.index("/api/v1/") :]
    response = await api.client.post(
        path, content="List-Unsubscribe=One-Click", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 204, response.text
    prefs = (await api.client.get("/api/v1/me/notification-preferences", headers=who.headers)).json()["preferences"]
    assert {"type": "announcement", "channel": "email", "cadence": "off"} in prefs
    tampered = await api.client.post(path.replace("announcement", "grade_released"))
    assert_problem(tampered, 422, field="token")


async def test_a_digests_link_turns_off_every_type_it_gathered(api: Api, smtp_server: SmtpServer) -> None:
    who = await person(api, name="digest")
    user_id = uuid.UUID(who.id)
    # A reply (daily by default) and a course update (weekly by default), both from periods long over.
    long_ago = datetime.now(UTC) - timedelta(days=8)
    notices = [
        Notice(T.DISCUSSION_REPLY, user_id, uuid.uuid4(), {"thread": "Orbits", "author": "Ada"}),
        Notice(T.COURSE_UPDATED, user_id, uuid.uuid4(), {"course": "Astronomy", "version": 2}),
    ]
    async with api.platform.database.write() as conn:
        await record_notices(conn, notices, at=long_ago, render=lambda k, d, loc: ("t", "b"), mail_domain="x.org")
        await conn.commit()

    await api.platform.container.notification.sender().send_digests()  # or the scheduler's run did it first

    (mail,) = smtp_server.wait_for(1, where=lambda m: who.email in m.rcpt_tos)
    message = mail.message
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = message["List-Unsubscribe"].strip("<>")
    text = message.get_body(("plain",))
    assert text is not None
    assert "Orbits" in text.get_content()
    assert "Astronomy" in text.get_content()
    assert link in text.get_content()

    response = await api.client.post(
        link[link.index("/api/v1/") :],
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 204, response.text

    prefs = (await api.client.get("/api/v1/me/notification-preferences", headers=who.headers)).json()["preferences"]
    email = {p["type"]: p["cadence"] for p in prefs if p["channel"] == "email"}
    assert (email["discussion_reply"], email["course_updated"]) == ("off", "off")
    assert {kind for kind, cadence in email.items() if cadence == "off"} == {"discussion_reply", "course_updated"}
    in_app = {p["type"]: p["cadence"] for p in prefs if p["channel"] == "in_app"}
    assert in_app["discussion_reply"] == "immediate"  # the mail's link speaks for email only
