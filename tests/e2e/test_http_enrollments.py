"""Enrollment over HTTP, on SQLite and PostgreSQL: self-enrollment and its rules, staff management,
cohorts, the problem documents of every refusal, and 100 simultaneous enrollments into 10 seats."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select, text

from elearning_adapters.container import bootstrap
from elearning_adapters.settings import Settings
from elearning_adapters.sql.enrollment import enrollments
from elearning_core.identity.commands import CreateUser, RoleGrantSpec
from elearning_core.shared.ports import SYSTEM
from elearning_http.app import create_app
from tests.e2e.http_helpers import ADMIN, BACKENDS, COURSES, Api, assert_problem, backend_settings, course_spec, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

_serial = itertools.count()


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("enrollments"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="module")
async def api(running: Api) -> Api:
    return await running.reset()


@dataclass(frozen=True)
class Person:
    id: str
    headers: dict[str, str]


async def person(api: Api, *, role: str | None = None, course_id: str | None = None) -> Person:
    """An account (no password: no hashing), with a role on a course if asked, and an access token."""
    user = await api.platform.identity.create_user(
        SYSTEM, CreateUser(email=f"person-{next(_serial)}-{uuid.uuid4().hex[:6]}@example.org", display_name="P")
    )
    if role is not None:
        spec = RoleGrantSpec(role=role, scope="course", scope_id=uuid.UUID(course_id))
        await api.platform.identity.grant_role(SYSTEM, user.id, spec)
    token = api.platform.container.identity.tokens().issue_access(str(user.id))
    return Person(str(user.id), {"Authorization": f"Bearer {token}"})


async def course(api: Api, *, status: str = "published") -> str:
    (course_id,) = await api.seed(course_spec(f"course-{next(_serial)}-{uuid.uuid4().hex[:6]}", status=status))
    return course_id


async def put_settings(api: Api, course_id: str, **rules: Any) -> dict[str, Any]:
    response = await api.client.put(f"{COURSES}/{course_id}/enrollment-settings", json=rules, headers=ADMIN)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def enroll_self(api: Api, course_id: str, who: Person, **body: Any) -> Any:
    return await api.client.post(f"{COURSES}/{course_id}/enrollments", json=body or None, headers=who.headers)


async def active_count(api: Api, course_id: str) -> int:
    query = select(func.count()).where(
        enrollments.c.course_id == uuid.UUID(course_id), enrollments.c.status == "active"
    )
    async with api.platform.database.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def test_self_enroll_is_idempotent_and_listed_in_my_enrollments(api: Api) -> None:
    course_id = await course(api)
    ada = await person(api)
    first = await enroll_self(api, course_id, ada)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "active"
    assert first.json()["source"] == "self"
    again = await enroll_self(api, course_id, ada)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    mine = await api.client.get("/api/v1/me/enrollments", headers=ada.headers)
    assert [e["course_id"] for e in mine.json()["items"]] == [course_id]
    assert mine.json()["items"][0]["course_slug"].startswith("course-")
    assert mine.json()["items"][0]["course_title"]
    left = await api.client.delete(f"{COURSES}/{course_id}/enrollments/me", headers=ada.headers)
    assert left.status_code == 204
    mine = await api.client.get("/api/v1/me/enrollments", headers=ada.headers)
    assert mine.json()["items"][0]["status"] == "unenrolled"
    assert_problem(await api.client.delete(f"{COURSES}/{course_id}/enrollments/me", headers=ada.headers), 404)


async def test_refusals_are_problem_documents_naming_the_rule(api: Api) -> None:
    required, course_id = await course(api), await course(api)
    ada = await person(api)
    now = datetime.now(UTC)

    await put_settings(api, course_id, self_enrollment=False)
    body = assert_problem(await enroll_self(api, course_id, ada), 409)
    assert body["type"] == "urn:elearning:problem:enrollment-closed"

    await put_settings(api, course_id, opens_at=(now + timedelta(days=1)).isoformat())
    body = assert_problem(await enroll_self(api, course_id, ada), 409)
    assert body["type"] == "urn:elearning:problem:enrollment-not-open-yet"

    await put_settings(api, course_id, closes_at=(now - timedelta(days=1)).isoformat())
    body = assert_problem(await enroll_self(api, course_id, ada), 409)
    assert body["type"] == "urn:elearning:problem:enrollment-window-ended"

    await put_settings(api, course_id, prerequisites=[required])
    body = assert_problem(await enroll_self(api, course_id, ada), 409)
    assert body["type"] == "urn:elearning:problem:prerequisites-not-met"
    assert body["missing_prerequisites"] == [required]
    assert (await enroll_self(api, required, ada)).status_code == 201
    assert_problem(await enroll_self(api, course_id, ada), 409)
    # Staff completion is a progress override (who and why); the prerequisite reads progress at once.
    assert_problem(await api.client.post(f"{COURSES}/{required}/enrollments/{ada.id}/complete", headers=ADMIN), 400)
    completed = await api.client.post(
        f"{COURSES}/{required}/enrollments/{ada.id}/complete", json={"reason": "passed the exam"}, headers=ADMIN
    )
    assert completed.status_code == 200, completed.text
    assert completed.json()["completion_source"] == "override"
    assert (await enroll_self(api, course_id, ada)).status_code == 201

    await put_settings(api, course_id, capacity=1)
    body = assert_problem(await enroll_self(api, course_id, await person(api)), 409)
    assert body["type"] == "urn:elearning:problem:course-full"

    assert_problem(await enroll_self(api, str(uuid.uuid4()), ada), 404)
    draft = await course(api, status="draft")
    assert_problem(await enroll_self(api, draft, ada), 404)
    assert_problem(await api.client.post(f"{COURSES}/{course_id}/enrollments"), 401)
    bad = await api.client.put(f"{COURSES}/{course_id}/enrollment-settings", json={"capacity": -1}, headers=ADMIN)
    assert_problem(bad, 422, field="capacity")
    window = {"opens_at": now.isoformat(), "closes_at": (now - timedelta(hours=1)).isoformat()}
    bad = await api.client.put(f"{COURSES}/{course_id}/enrollment-settings", json=window, headers=ADMIN)
    assert_problem(bad, 422, field="closes_at")


async def test_staff_bypass_window_and_openness_but_never_capacity(api: Api) -> None:
    course_id = await course(api)
    instructor = await person(api, role="instructor", course_id=course_id)
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    response = await api.client.put(
        f"{COURSES}/{course_id}/enrollment-settings",
        json={"self_enrollment": False, "closes_at": past, "capacity": 1},
        headers=instructor.headers,
    )
    assert response.status_code == 200, response.text
    ada, bob = await person(api), await person(api)
    enrolled = await api.client.put(f"{COURSES}/{course_id}/enrollments/{ada.id}", headers=instructor.headers)
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["source"] == "staff"
    again = await api.client.put(f"{COURSES}/{course_id}/enrollments/{ada.id}", headers=instructor.headers)
    assert again.status_code == 200
    full = await api.client.put(f"{COURSES}/{course_id}/enrollments/{bob.id}", headers=instructor.headers)
    assert assert_problem(full, 409)["type"] == "urn:elearning:problem:course-full"
    assert_problem(await api.client.put(f"{COURSES}/{course_id}/enrollments/{uuid.uuid4()}", headers=ADMIN), 404)


async def test_learners_and_teaching_assistants_cannot_manage_enrollments(api: Api) -> None:
    course_id = await course(api)
    ada, bob = await person(api), await person(api)
    ta = await person(api, role="teaching_assistant", course_id=course_id)
    assert (await enroll_self(api, course_id, bob)).status_code == 201
    base = f"{COURSES}/{course_id}"
    for who in (ada, ta):
        for method, url, body in (
            ("PUT", f"{base}/enrollments/{ada.id}", None),
            ("DELETE", f"{base}/enrollments/{bob.id}", None),
            ("POST", f"{base}/enrollments/{bob.id}/complete", {"reason": "done"}),
            ("POST", f"{base}/enrollments/{bob.id}/move", {"cohort_id": None}),
            ("PUT", f"{base}/enrollment-settings", {"capacity": 1}),
            ("POST", f"{base}/cohorts", {"name": "Mine"}),
        ):
            response = await api.client.request(method, url, json=body, headers=who.headers)
            assert_problem(response, 403)
    assert_problem(await api.client.get(f"{base}/enrollments", headers=ada.headers), 403)
    listed = await api.client.get(f"{base}/enrollments", headers=ta.headers)  # TAs see who they teach
    assert [e["user_id"] for e in listed.json()["items"]] == [bob.id]
    assert await active_count(api, course_id) == 1


async def test_cohorts_crud_listing_and_moves(api: Api) -> None:
    course_id = await course(api)
    base = f"{COURSES}/{course_id}"
    small = (await api.client.post(f"{base}/cohorts", json={"name": "Small", "capacity": 1}, headers=ADMIN)).json()
    big = (await api.client.post(f"{base}/cohorts", json={"name": "Big"}, headers=ADMIN)).json()
    dup = await api.client.post(f"{base}/cohorts", json={"name": "Big"}, headers=ADMIN)
    assert_problem(dup, 409)
    ada, bob = await person(api), await person(api)
    assert (await enroll_self(api, course_id, ada, cohort_id=small["id"])).status_code == 201
    full = await enroll_self(api, course_id, bob, cohort_id=small["id"])
    assert assert_problem(full, 409)["type"] == "urn:elearning:problem:cohort-full"
    assert_problem(await enroll_self(api, course_id, bob, cohort_id=str(uuid.uuid4())), 422, field="cohort_id")
    assert (await enroll_self(api, course_id, bob, cohort_id=big["id"])).status_code == 201
    blocked = await api.client.post(f"{base}/enrollments/{bob.id}/move", json={"cohort_id": small["id"]}, headers=ADMIN)
    assert assert_problem(blocked, 409)["type"] == "urn:elearning:problem:cohort-full"
    moved = await api.client.post(f"{base}/enrollments/{ada.id}/move", json={"cohort_id": big["id"]}, headers=ADMIN)
    assert moved.status_code == 200, moved.text
    assert moved.json()["cohort_id"] == big["id"]
    cohorts = (await api.client.get(f"{base}/cohorts", headers=ada.headers)).json()["items"]
    assert {c["name"]: c["active"] for c in cohorts} == {"Small": 0, "Big": 2}
    in_big = await api.client.get(f"{base}/enrollments", params={"cohort_id": big["id"]}, headers=ADMIN)
    assert sorted(e["user_id"] for e in in_big.json()["items"]) == sorted([ada.id, bob.id])
    assert_problem(await api.client.delete(f"{base}/cohorts/{big['id']}", headers=ADMIN), 409)
    renamed = await api.client.patch(
        f"{base}/cohorts/{small['id']}", json={"name": "Tiny", "capacity": None}, headers=ADMIN
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["capacity"]) == ("Tiny", None)
    assert (await api.client.delete(f"{base}/cohorts/{small['id']}", headers=ADMIN)).status_code == 204
    assert_problem(await api.client.delete(f"{base}/cohorts/{small['id']}", headers=ADMIN), 404)


async def test_settings_are_readable_and_staff_remove_learners(api: Api) -> None:
    course_id = await course(api)
    ada = await person(api)
    rules = (await api.client.get(f"{COURSES}/{course_id}/enrollment-settings", headers=ada.headers)).json()
    assert rules == {
        "course_id": course_id,
        "self_enrollment": True,
        "capacity": None,
        "opens_at": None,
        "closes_at": None,
        "prerequisites": [],
    }
    assert (await enroll_self(api, course_id, ada)).status_code == 201
    removed = await api.client.delete(f"{COURSES}/{course_id}/enrollments/{ada.id}", headers=ADMIN)
    assert removed.status_code == 204
    statuses = await api.client.get(
        f"{COURSES}/{course_id}/enrollments", params={"status": "unenrolled"}, headers=ADMIN
    )
    assert [e["user_id"] for e in statuses.json()["items"]] == [ada.id]


async def test_hundred_simultaneous_enrollments_into_ten_seats_give_exactly_ten(api: Api, settings: Settings) -> None:
    course_id = await course(api)
    await put_settings(api, course_id, capacity=10)
    learners = await asyncio.gather(*(person(api) for _ in range(100)))
    # The same app on a platform of its own, driven straight through ASGI on this loop, so the 100 requests
    # really are in flight together. (Litestar's test client runs the app on a loop of its own, where they
    # barely overlap: with the row lock removed the test still passed that way; it fails this way.)
    platform = await bootstrap(settings, run_migrations=False)
    try:
        await platform.start_keys()
        app = create_app(container=platform.container, run_events=False)
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # Litestar's narrower ASGI types
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            url = f"{COURSES}/{course_id}/enrollments"
            responses = await asyncio.gather(*(client.post(url, headers=who.headers) for who in learners))
    finally:
        await platform.aclose()
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 10, statuses
    assert statuses.count(409) == 90, statuses
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"] == "urn:elearning:problem:course-full"
    assert await active_count(api, course_id) == 10
    async with api.platform.database.read() as conn:
        events = await conn.execute(text("SELECT count(*) FROM outbox WHERE event_type = 'enrollment.enrolled.v1'"))
        assert events.scalar_one() == 10
