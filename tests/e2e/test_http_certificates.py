"""Certificates over HTTP, on SQLite and PostgreSQL: from a course completion (the progress event,
delivered by the in-process transport) to a credential an independent verifier accepts, and
refuses once revoked, tampered with or expired; the name change reissue; awards and refusals."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from sqlalchemy import select

from elearning_adapters.settings import Settings
from elearning_adapters.sql.dead_letters import dead_letters
from elearning_adapters.sql.outbox import append_to_outbox
from elearning_core.identity.commands import UpdateProfile
from elearning_core.learning_path.events import PathCompleted
from elearning_core.shared.ports import SYSTEM
from tests.certificate_fakes import course_completed
from tests.e2e.assessment_helpers import Person, course, person
from tests.e2e.http_helpers import ADMIN, BACKENDS, Api, Json, assert_problem, backend_settings, open_read_pool, serve
from tests.e2e.independent_verifier import verify_independently

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("certificates"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        await open_read_pool(app)
        yield app
        await app.platform.database.dispose()


@pytest_asyncio.fixture(loop_scope="module")
async def api(running: Api) -> Api:
    return running


async def complete(api: Api, course_id: str, learner: Person) -> None:
    """The progress module's completion event, committed to the outbox and delivered in-process."""
    event = course_completed(uuid.UUID(course_id), uuid.UUID(learner.id))
    async with api.platform.database.write() as conn:
        await append_to_outbox(conn, [event])
        await conn.commit()
    events = api.platform.events
    assert events is not None
    await events.drain()


async def awarded_course(api: Api, **award: object) -> str:
    course_id = await course(api)
    body = {"enabled": True, **award}
    response = await api.client.put(f"/api/v1/courses/{course_id}/certificate-award", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    return course_id


async def my_certificates(api: Api, who: Person) -> list[Json]:
    response = await api.client.get("/api/v1/me/certificates", headers=who.headers)
    assert response.status_code == 200, response.text
    items: list[Json] = response.json()["items"]
    return items


def tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["credentialSubject"]["identifier"][0]["identityHash"] = "Mallory"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


async def test_a_completion_issues_a_credential_an_independent_verifier_accepts(api: Api) -> None:
    course_id = await awarded_course(api, valid_days=30)
    learner = await person(api, name="ada")
    await complete(api, course_id, learner)

    (mine,) = await my_certificates(api, learner)
    assert mine["state"] == "valid"
    assert mine["learner_name"] == "Ada"
    verification = (await api.client.get(f"/api/v1/credentials/{mine['id']}")).json()
    assert verification["valid"] is True, verification
    token = verification["jwt"]
    assert await verify_independently(api.client, token) is None

    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "RS256"
    assert header["typ"] == "JWT"
    assert set(header) == {"alg", "kid", "typ"}
    key = await api.client.get(urlsplit(header["kid"]).path)
    assert key.status_code == 200, key.text
    assert "d" not in key.json()
    document = verification["credential"]
    assert document["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert document["credentialSubject"]["achievement"]["achievementType"] == "Course"
    assert document["credentialStatus"]["type"] == "BitstringStatusListEntry"
    assert document["jti"] == document["id"] == f"{document['id']}"
    assert document["exp"] - document["nbf"] == 30 * 86_400

    # Tampered: refused; expired (checked 31 days on): refused.
    assert (await verify_independently(api.client, tamper(token))) is not None
    later = (datetime.now(UTC) + timedelta(days=31)).timestamp()
    assert await verify_independently(api.client, token, now=later) == "claims: ExpiredTokenError"

    # Revoked: the staff's revocation sets the bit the verifier reads from the published list.
    revoked = await api.client.post(
        f"/api/v1/certificates/{mine['id']}/revoke", json={"reason": "issued in error"}, headers=ADMIN
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["state"] == "revoked"
    assert await verify_independently(api.client, token) == "revoked"
    after = (await api.client.get(f"/api/v1/credentials/{mine['id']}")).json()
    assert after["valid"] is False
    assert after["problem"] == "revoked: issued in error"


async def test_a_redelivered_completion_issues_one_credential(api: Api) -> None:
    course_id = await awarded_course(api)
    learner = await person(api, name="grace")
    await complete(api, course_id, learner)
    await complete(api, course_id, learner)  # another completion event (a recompute, an override)
    assert len(await my_certificates(api, learner)) == 1
    staff = await api.client.get(f"/api/v1/courses/{course_id}/certificates", headers=ADMIN)
    assert [c["user_id"] for c in staff.json()["items"]] == [learner.id]


async def test_a_name_change_revokes_and_reissues_linked(api: Api) -> None:
    course_id = await awarded_course(api)
    learner = await person(api, name="alan")
    await complete(api, course_id, learner)
    (old,) = await my_certificates(api, learner)
    await api.platform.identity.update_profile(SYSTEM, uuid.UUID(learner.id), UpdateProfile(display_name="Alan T"))
    assert api.platform.events is not None
    await api.platform.events.drain()

    new, previous = await my_certificates(api, learner)
    assert previous["id"] == old["id"]
    assert previous["state"] == "revoked"
    assert new["state"] == "valid"
    assert new["learner_name"] == "Alan T"
    assert new["replaces"] == old["id"]
    verification = (await api.client.get(f"/api/v1/credentials/{old['id']}")).json()
    assert verification["replaced_by"].endswith(new["id"])
    old_token = verification["jwt"]
    assert await verify_independently(api.client, old_token) == "revoked"
    new_token = (await api.client.get(f"/api/v1/credentials/{new['id']}")).json()["jwt"]
    assert await verify_independently(api.client, new_token) is None


async def test_an_award_not_yet_available_issues_when_it_passes(api: Api) -> None:
    soon = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    course_id = await awarded_course(api, available_from=soon)
    learner = await person(api, name="edsger")
    await complete(api, course_id, learner)
    assert await my_certificates(api, learner) == []
    assert await api.platform.certificates.issue_due() == 0
    now = datetime.now(UTC).isoformat()
    response = await api.client.put(
        f"/api/v1/courses/{course_id}/certificate-award", json={"enabled": True, "available_from": now}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    assert await api.platform.certificates.issue_due() == 1
    assert [c["state"] for c in await my_certificates(api, learner)] == ["valid"]


async def test_no_certificate_without_an_award_and_pages_render(api: Api) -> None:
    plain = await course(api)
    learner = await person(api)
    await complete(api, plain, learner)
    assert await my_certificates(api, learner) == []

    course_id = await awarded_course(api, template="<h1>$title</h1><p>for $learner_name</p>")
    await complete(api, course_id, learner)
    (mine,) = await my_certificates(api, learner)
    page = await api.client.get(f"/api/v1/credentials/{mine['id']}/html")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f"<p>for {mine['learner_name']}</p>" in page.text
    pdf = await api.client.get(f"/api/v1/credentials/{mine['id']}/pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")


async def path_completed(api: Api, path_id: str, learner: Person) -> PathCompleted:
    event = PathCompleted(
        occurred_at=datetime.now(UTC),
        aggregate_id=uuid.uuid4(),
        path_id=uuid.UUID(path_id),
        user_id=uuid.UUID(learner.id),
    )
    async with api.platform.database.write() as conn:
        await append_to_outbox(conn, [event])
        await conn.commit()
    assert api.platform.events is not None
    await api.platform.events.drain()
    return event


async def test_a_published_path_awards_its_certificate_with_the_path_title(api: Api) -> None:
    course_id = await course(api)
    body = {"title": "Data Engineering Path", "slug": f"data-{uuid.uuid4().hex[:8]}"}
    created = await api.client.post("/api/v1/learning-paths", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    path_id = created.json()["id"]
    structure = {"parts": [{"kind": "required", "course_ids": [course_id]}]}
    for response in (
        await api.client.put(f"/api/v1/learning-paths/{path_id}/structure", json=structure, headers=ADMIN),
        await api.client.post(f"/api/v1/learning-paths/{path_id}/publish", headers=ADMIN),
        await api.client.put(
            f"/api/v1/learning-paths/{path_id}/certificate-award", json={"enabled": True}, headers=ADMIN
        ),
    ):
        assert response.status_code in (200, 201), response.text
    learner = await person(api)
    await path_completed(api, path_id, learner)
    (mine,) = await my_certificates(api, learner)
    assert mine["title"] == "Data Engineering Path"


async def test_a_path_never_published_gets_no_certificate_and_its_completion_is_dead_lettered(api: Api) -> None:
    """No title is ever made up: the completion waits in the dead letters for a replay."""
    path_id = str(uuid.uuid4())
    put = await api.client.put(
        f"/api/v1/learning-paths/{path_id}/certificate-award", json={"enabled": True}, headers=ADMIN
    )
    assert put.status_code == 200, put.text
    learner = await person(api)
    event = await path_completed(api, path_id, learner)
    assert await my_certificates(api, learner) == []
    query = select(dead_letters.c.error).where(
        dead_letters.c.consumer == "certificates", dead_letters.c.event_id == event.event_id
    )
    async with api.platform.database.read() as conn:
        (error,) = (await conn.execute(query)).scalars().all()
    assert "no readable title" in error


async def test_refusals_are_problem_documents(api: Api) -> None:
    course_id = await awarded_course(api)
    learner = await person(api)
    assert_problem(await api.client.get(f"/api/v1/credentials/{uuid.uuid4()}"), 404)
    assert_problem(await api.client.get("/api/v1/credentials/status/99"), 404)
    assert_problem(await api.client.get("/api/v1/credentials/keys/cred-nope"), 404)
    bad_template = {"enabled": True, "template": "<p>$who</p>"}
    url = f"/api/v1/courses/{course_id}/certificate-award"
    assert_problem(await api.client.put(url, json=bad_template, headers=ADMIN), 422, field="template")
    assert_problem(await api.client.put(url, json={"enabled": True}, headers=learner.headers), 403)
    assert_problem(await api.client.get(f"/api/v1/courses/{course_id}/certificates", headers=learner.headers), 403)
    assert_problem(await api.client.get("/api/v1/me/certificates"), 401)
    await complete(api, course_id, learner)
    (mine,) = await my_certificates(api, learner)
    revoke = f"/api/v1/certificates/{mine['id']}/revoke"
    assert_problem(await api.client.post(revoke, json={"reason": "x"}, headers=learner.headers), 403)
    assert_problem(await api.client.post(revoke, json={"reason": ""}, headers=ADMIN), 422, field="reason")
