"""Idempotency-Key on the enrollment routes, over HTTP on SQLite and PostgreSQL: a repeat is answered from the
stored first answer and acts once; another body is refused; keys are per caller; simultaneous repeats act once."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from elearning_adapters.settings import Settings
from elearning_adapters.sql.enrollment import enrollments
from elearning_adapters.sql.idempotency import idempotency_keys
from elearning_adapters.sql.outbox import outbox
from elearning_core.identity.commands import CreateUser
from elearning_core.shared.ports import SYSTEM, IdempotencyScope
from elearning_http.idempotency import STATE_KEY, Idempotency
from tests.e2e.http_helpers import ADMIN, BACKENDS, COURSES, Api, assert_problem, backend_settings, course_spec, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

_serial = itertools.count()
REPLAYED = "idempotent-replayed"


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("idempotency"), db_pool_size=20)


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

    def with_key(self, key: str) -> dict[str, str]:
        return {**self.headers, "Idempotency-Key": key}


async def learner(api: Api) -> Person:
    user = await api.platform.identity.create_user(
        SYSTEM, CreateUser(email=f"learner-{next(_serial)}-{uuid.uuid4().hex[:6]}@example.org", display_name="L")
    )
    token = api.platform.container.identity.tokens().issue_access(str(user.id))
    return Person(str(user.id), {"Authorization": f"Bearer {token}"})


async def course(api: Api) -> str:
    (course_id,) = await api.seed(course_spec(f"course-{next(_serial)}-{uuid.uuid4().hex[:6]}"))
    return course_id


async def cohort(api: Api, course_id: str, name: str) -> str:
    response = await api.client.post(f"{COURSES}/{course_id}/cohorts", json={"name": name}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def count(api: Api, query: Any) -> int:
    async with api.platform.database.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def enrollments_of(api: Api, course_id: str) -> int:
    return await count(api, select(func.count()).where(enrollments.c.course_id == uuid.UUID(course_id)))


async def enrolled_events(api: Api) -> int:
    return await count(api, select(func.count()).where(outbox.c.event_type == "enrollment.enrolled.v1"))


async def test_a_repeat_gets_the_first_answer_and_acts_once(api: Api) -> None:
    course_id, who = await course(api), await learner(api)
    url = f"{COURSES}/{course_id}/enrollments"
    first = await api.client.post(url, json={}, headers=who.with_key("enroll-once"))
    assert first.status_code == 201, first.text
    assert REPLAYED not in first.headers
    events = await enrolled_events(api)

    again = await api.client.post(url, json={}, headers=who.with_key("enroll-once"))
    assert again.status_code == 201, again.text  # the stored answer; without the key it would be 200
    assert again.headers[REPLAYED] == "true"
    assert again.json() == first.json()
    assert again.headers["content-type"] == first.headers["content-type"]
    assert (await enrollments_of(api, course_id), await enrolled_events(api)) == (1, events)


async def test_the_same_key_with_another_body_is_refused(api: Api) -> None:
    course_id, who = await course(api), await learner(api)
    other_cohort = await cohort(api, course_id, "Spring")
    url = f"{COURSES}/{course_id}/enrollments"
    assert (await api.client.post(url, json={}, headers=who.with_key("k"))).status_code == 201

    refused = await api.client.post(url, json={"cohort_id": other_cohort}, headers=who.with_key("k"))
    body = assert_problem(refused, 422)
    assert body["type"] == "urn:elearning:problem:idempotency-key-reused"
    elsewhere = await api.client.post(f"{COURSES}/{await course(api)}/enrollments", json={}, headers=who.with_key("k"))
    assert assert_problem(elsewhere, 422)["type"] == "urn:elearning:problem:idempotency-key-reused"
    assert await count(api, select(func.count()).where(enrollments.c.cohort_id.is_not(None))) == 0


async def test_keys_are_per_caller(api: Api) -> None:
    course_id = await course(api)
    url = f"{COURSES}/{course_id}/enrollments"
    answers = [await api.client.post(url, json={}, headers=(await learner(api)).with_key("shared")) for _ in range(2)]
    assert [a.status_code for a in answers] == [201, 201]
    assert [REPLAYED in a.headers for a in answers] == [False, False]
    assert answers[0].json()["user_id"] != answers[1].json()["user_id"]
    assert await enrollments_of(api, course_id) == 2


async def test_a_refusal_is_final_and_replayed(api: Api) -> None:
    course_id, who = await course(api), await learner(api)
    url = f"{COURSES}/{course_id}/enrollments"
    response = await api.client.put(
        f"{COURSES}/{course_id}/enrollment-settings", json={"self_enrollment": False}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    refused = await api.client.post(url, json={}, headers=who.with_key("closed"))
    assert assert_problem(refused, 409)["type"] == "urn:elearning:problem:enrollment-closed"

    response = await api.client.put(
        f"{COURSES}/{course_id}/enrollment-settings", json={"self_enrollment": True}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    again = await api.client.post(url, json={}, headers=who.with_key("closed"))
    assert (again.status_code, again.headers[REPLAYED], again.json()) == (409, "true", refused.json())
    assert await enrollments_of(api, course_id) == 0
    fresh = await api.client.post(url, json={}, headers=who.with_key("closed, take two"))
    assert fresh.status_code == 201, fresh.text


async def test_staff_enrollment_takes_a_key_too(api: Api) -> None:
    course_id, who = await course(api), await learner(api)
    url = f"{COURSES}/{course_id}/enrollments/{who.id}"
    first = await api.client.put(url, json={}, headers={**ADMIN, "Idempotency-Key": "staff-1"})
    again = await api.client.put(url, json={}, headers={**ADMIN, "Idempotency-Key": "staff-1"})
    assert (first.status_code, again.status_code, again.headers.get(REPLAYED)) == (201, 201, "true")
    assert again.json() == first.json()


async def test_an_invalid_key_is_a_validation_problem_naming_the_header(api: Api) -> None:
    course_id, who = await course(api), await learner(api)
    url = f"{COURSES}/{course_id}/enrollments"
    for key in ("x" * 256, "tab\tinside"):
        body = assert_problem(await api.client.post(url, json={}, headers=who.with_key(key)), 422)
        assert any("idempotency" in e["field"].lower() for e in body["errors"]), body
    assert await enrollments_of(api, course_id) == 0


async def test_simultaneous_repeats_act_once(api: Api) -> None:
    course_id, who = await course(api), await learner(api)
    url = f"{COURSES}/{course_id}/enrollments"
    events = await enrolled_events(api)
    answers = await asyncio.gather(*(api.client.post(url, json={}, headers=who.with_key("burst")) for _ in range(12)))
    ran = [a for a in answers if a.status_code == 201 and REPLAYED not in a.headers]
    assert len(ran) == 1, [(a.status_code, a.text) for a in answers]
    for answer in answers:
        if answer is ran[0]:
            continue
        if answer.status_code == 409:
            assert answer.json()["type"] == "urn:elearning:problem:idempotency-key-in-use"
        else:
            assert (answer.status_code, answer.headers[REPLAYED], answer.json()) == (201, "true", ran[0].json())
    assert (await enrollments_of(api, course_id), await enrolled_events(api)) == (1, events + 1)


async def test_the_schema_documents_the_header_and_its_problems(api: Api) -> None:
    schema = (await api.client.get("/schema/openapi.json")).json()
    path = schema["paths"]["/api/v1/courses/{course_id}/enrollments"]["post"]
    staff = schema["paths"]["/api/v1/courses/{course_id}/enrollments/{user_id}"]["put"]
    for operation in (path, staff):
        header = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
        assert (header["in"], header["required"], header["schema"]["maxLength"]) == ("header", False, 255)
        assert "idempotency-key-in-use" in operation["responses"]["409"]["description"]
        assert "idempotency-key-reused" in operation["responses"]["422"]["description"]
        success = next(status for status in operation["responses"] if status.startswith("2"))
        replayed = operation["responses"][success]["headers"]["Idempotent-Replayed"]
        assert replayed["schema"]["type"] == "string"


async def test_expired_keys_are_pruned_after_a_keyed_request(api: Api) -> None:
    store = api.platform.container.adapters.idempotency_store()
    stale = IdempotencyScope("someone", "POST /elsewhere", "old")
    await store.claim(stale, "f", now=datetime(2020, 1, 1, tzinfo=UTC), ttl=timedelta(hours=24), lock=timedelta(0))
    rows = select(func.count()).select_from(idempotency_keys)
    assert await count(api, rows) == 1
    state: Idempotency = api.client.app.state[STATE_KEY]
    state.pruned_at = None

    course_id, who = await course(api), await learner(api)
    response = await api.client.post(f"{COURSES}/{course_id}/enrollments", json={}, headers=who.with_key("new"))
    assert response.status_code == 201, response.text
    assert await count(api, rows) == 1  # the stale key went, the new one stays
    assert await count(api, rows.where(idempotency_keys.c.key == "new")) == 1
