"""``/courses/{id}/similar``, ``/courses/{id}/also-taken`` and ``/me/recommendations`` as a client sees them,
on SQLite and PostgreSQL: trained by the job, each item with its explanation, published courses only, and
the personal list without the courses the caller took or cannot enroll in now."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from tests.e2e.assessment_helpers import Person, enroll, person
from tests.e2e.http_helpers import (
    ADMIN,
    BACKENDS,
    COURSES,
    Api,
    Json,
    assert_problem,
    backend_settings,
    course_spec,
    serve,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
ME = "/api/v1/me/recommendations"


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("recommendations"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


async def get(api: Api, url: str, who: Person | None = None, **params: object) -> Json:
    response = await api.client.get(url, headers=who.headers if who else {}, params=params)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


async def seeded(api: Api, title: str, tags: list[str], status: str = "published") -> str:
    slug = f"c-{uuid.uuid4().hex[:10]}"
    (course_id,) = await api.seed(course_spec(slug, status=status, title=title, tags=tags))
    return course_id


async def rules(api: Api, course_id: str, **body: object) -> None:
    response = await api.client.put(f"{COURSES}/{course_id}/enrollment-settings", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text


async def test_lists_follow_the_trained_model_with_explanations(running: Api) -> None:
    api = await running.reset()
    python = await seeded(api, "Python basics", ["python", "programming"])
    advanced = await seeded(api, "Python advanced", ["python", "programming"])
    data = await seeded(api, "Data with Python", ["python", "data"])
    closed = await seeded(api, "Python closed", ["python"])
    full = await seeded(api, "Python full", ["python"])
    needs = await seeded(api, "Python needs", ["python"])
    paid = await seeded(api, "Python paid", ["python"])
    draft = await seeded(api, "Python draft", ["python"], status="draft")
    pottery = await seeded(api, "Pottery", ["art"])
    others = [await person(api, name="learner") for _ in range(4)]
    for who in others:
        for course_id in (python, advanced, data, closed, full, needs, paid):
            await enroll(api, course_id, who)
    await enroll(api, pottery, others[0])
    await rules(api, closed, self_enrollment=False)
    await rules(api, full, capacity=4)
    await rules(api, needs, prerequisites=[pottery])
    offer = await api.client.put(f"{COURSES}/{paid}/offer", json={"paid": True, "audit_track": False}, headers=ADMIN)
    assert offer.status_code == 200, offer.text
    me = await person(api, name="me")
    await enroll(api, python, me)

    before = await get(api, f"{COURSES}/{python}/also-taken")
    assert before == {"items": [], "next_cursor": None}  # not trained yet
    outcome = await api.platform.scheduler.run_now("recommendations.train")  # the job, as the scheduler runs it
    assert outcome.ok, outcome

    also = await get(api, f"{COURSES}/{python}/also-taken")
    assert {i["id"] for i in also["items"][:6]} == {advanced, data, closed, full, needs, paid}
    assert also["items"][6]["id"] == pottery  # one learner of four took it too: ranked last
    first = also["items"][0]
    assert first["reason"] == "also_taken"
    assert first["because"] == {"id": python, "title": "Python basics"}
    assert first["explanation"] == "learners who took Python basics also took this"
    similar = await get(api, f"{COURSES}/{python}/similar")
    assert similar["items"][0]["id"] == advanced  # same tags, most shared words
    assert similar["items"][0]["explanation"] == "similar to Python basics"
    assert draft not in {i["id"] for i in similar["items"]}

    mine = await get(api, ME, me)
    listed = [i["id"] for i in mine["items"]]
    assert set(listed) == {advanced, data, pottery}  # not closed, full, needing pottery, paid, a draft or its own
    assert mine["items"][0]["explanation"] == "because you took Python basics"
    assert mine["items"][0]["because"] == {"id": python, "title": "Python basics"}

    # Paged like every list; a cursor is the caller's only.
    page = await api.client.get(ME, headers=me.headers, params={"limit": 1})
    assert page.json()["next_cursor"]
    assert page.headers["link"].endswith('rel="next"')
    assert_problem(
        await api.client.get(ME, headers=others[0].headers, params={"cursor": page.json()["next_cursor"]}),
        422,
        field="cursor",
    )

    # Enrolling drops the course from the caller's list at once (the cached list is forgotten).
    await enroll(api, advanced, me)
    assert advanced not in {i["id"] for i in (await get(api, ME, me))["items"]}


async def test_errors_are_problems(running: Api) -> None:
    api = await running.reset()
    draft = await seeded(api, "Hidden", ["x"], status="draft")
    assert_problem(await api.client.get(f"{COURSES}/{draft}/similar"), 404)
    assert_problem(await api.client.get(f"{COURSES}/{uuid.uuid4()}/also-taken"), 404)
    assert_problem(await api.client.get(f"{COURSES}/not-an-id/similar"), 404)
    assert_problem(await api.client.get(ME), 401)
    assert_problem(await api.client.get(f"{COURSES}/{draft}/similar", params={"limit": 0}), 422, field="limit")
    assert_problem(await api.client.get(f"{COURSES}/{draft}/similar", params={"cursor": "forged"}), 422, field="cursor")
