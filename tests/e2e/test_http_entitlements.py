"""The entitlement routes as a client sees them: a course's offer (read and set by its staff), the caller's
verdict for a course (a refusal names its reason), and "my entitlements", paged."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from elearning_core.entitlement.commands import ChangeGrant, GiveGrant
from elearning_core.entitlement.model import GrantStatus
from elearning_core.shared.ports import SYSTEM
from tests.e2e.assessment_helpers import course, enroll, person
from tests.e2e.http_helpers import ADMIN, BACKENDS, Api, assert_problem, backend_settings, open_read_pool, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

COURSES = "/api/v1/courses"


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("entitlements"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        await open_read_pool(app)
        yield app
        await app.platform.database.dispose()


async def test_staff_set_the_offer_and_paid_since_is_recorded_once(api: Api) -> None:
    teacher = await person(api)
    course_id = await course(api, owner=teacher)
    url = f"{COURSES}/{course_id}/offer"
    free = await api.client.get(url, headers=teacher.headers)
    assert free.status_code == 200, free.text
    assert free.json() == {"course_id": course_id, "paid": False, "audit_track": False, "paid_since": None}
    paid = await api.client.put(url, json={"paid": True}, headers=teacher.headers)
    assert paid.status_code == 200, paid.text
    since = paid.json()["paid_since"]
    assert since is not None
    again = await api.client.put(url, json={"paid": False, "audit_track": True}, headers=ADMIN)
    assert again.json()["paid_since"] == since
    assert (await api.client.put(url, json={"paid": True}, headers=ADMIN)).json()["paid_since"] == since


async def test_the_offer_refuses_bad_input_and_other_callers(api: Api) -> None:
    learner = await person(api)
    course_id = await course(api)
    url = f"{COURSES}/{course_id}/offer"
    assert_problem(await api.client.put(url, json={"paid": "maybe"}, headers=ADMIN), 422, field="paid")
    assert_problem(await api.client.put(url, json={"paid": True, "price": 1}, headers=ADMIN), 422)
    assert_problem(await api.client.put(url, json={"paid": True}, headers=learner.headers), 403)
    assert_problem(await api.client.get(url, headers=learner.headers), 403)
    assert_problem(await api.client.get(f"{COURSES}/{uuid.uuid4()}/offer", headers=ADMIN), 404)


async def test_a_verdict_names_its_source_or_its_refusal(api: Api) -> None:
    learner = await person(api)
    course_id = await course(api)
    url = f"{COURSES}/{course_id}/entitlement"
    free = (await api.client.get(url, headers=learner.headers)).json()
    assert (free["allowed"], free["source"], free["track"]) == (True, "free", "full")
    assert (await api.client.put(f"{COURSES}/{course_id}/offer", json={"paid": True}, headers=ADMIN)).status_code == 200
    refused = await api.client.get(url, headers=learner.headers)
    assert refused.status_code == 200, refused.text
    assert (refused.json()["allowed"], refused.json()["refusal"]) == (False, "payment-required")
    grant = await api.platform.entitlements.give(
        SYSTEM, GiveGrant(user_id=uuid.UUID(learner.id), course_id=uuid.UUID(course_id))
    )
    bought = (await api.client.get(url, headers=learner.headers)).json()
    assert (bought["allowed"], bought["source"], bought["until"]) == (True, "purchased", None)
    await api.platform.entitlements.change(SYSTEM, ChangeGrant(grant_id=grant.id, status=GrantStatus.REFUNDED))
    assert (await api.client.get(url, headers=learner.headers)).json()["refusal"] == "refunded"
    assert_problem(await api.client.get(f"{COURSES}/{uuid.uuid4()}/entitlement", headers=learner.headers), 404)


async def test_my_entitlements_list_granted_and_enrolled_courses_in_pages(api: Api) -> None:
    learner = await person(api)
    enrolled, granted = await course(api), await course(api)
    await enroll(api, enrolled, learner)
    await api.platform.entitlements.give(SYSTEM, GiveGrant(user_id=uuid.UUID(learner.id), course_id=uuid.UUID(granted)))
    first = await api.client.get("/api/v1/me/entitlements", params={"limit": 1}, headers=learner.headers)
    assert first.status_code == 200, first.text
    body = first.json()
    rest = await api.client.get(
        "/api/v1/me/entitlements", params={"limit": 1, "cursor": body["next_cursor"]}, headers=learner.headers
    )
    items = body["items"] + rest.json()["items"]
    assert rest.json()["next_cursor"] is None
    assert [i["course_id"] for i in items] == sorted([enrolled, granted])
    by_course = {i["course_id"]: i for i in items}
    assert [g["source"] for g in by_course[granted]["grants"]] == ["purchased"]
    assert by_course[enrolled]["grants"] == []
    assert by_course[enrolled]["verdict"]["source"] == "free"
    assert_problem(await api.client.get("/api/v1/me/entitlements"), 401)
