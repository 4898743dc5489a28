"""The at-risk list over HTTP (SQLite and PostgreSQL): staff see who is at risk and why, a learner is refused,
an unknown course is 404, bad parameters are problems, pages link to the next one, and the schema has it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import update

from elearning_adapters.settings import Settings
from elearning_adapters.sql.enrollment import enrollments
from tests.e2e.assessment_helpers import Person, enroll, person
from tests.e2e.http_helpers import BACKENDS, COURSES, Api, assert_problem, backend_settings, course_spec, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

Json = dict[str, Any]


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("at-risk"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="module")
async def api(running: Api) -> Api:
    return await running.reset()


async def _backdate(api: Api, course_id: str, who: Person, days: int) -> None:
    """The learner enrolled ``days`` ago (the clock is the system's: the enrollment is moved, not time)."""
    at = datetime.now(UTC) - timedelta(days=days)
    async with api.platform.database.write() as conn:
        await conn.execute(
            update(enrollments)
            .where(enrollments.c.course_id == uuid.UUID(course_id), enrollments.c.user_id == uuid.UUID(who.id))
            .values(enrolled_at=at)
        )
        await conn.commit()


async def _a_class(api: Api) -> tuple[str, list[str], Person, Person, Person, Person]:
    """A published four-lesson course, its teaching assistant, and three learners: ada enrolled 20 days ago and
    did nothing, bob enrolled 20 days ago and viewed one lesson today, cy enrolled today."""
    (course_id,) = await api.seed(course_spec(f"risk-{uuid.uuid4().hex[:8]}", lessons=4))
    outline = await api.outline(course_id)
    lessons = [lesson["id"] for section in outline["sections"] for lesson in section["lessons"]]
    ta = await person(api, role="teaching_assistant", course_id=course_id, name="tess")
    ada, bob, cy = [await person(api, name=name) for name in ("ada", "bob", "cy")]
    for learner in (ada, bob, cy):
        await enroll(api, course_id, learner)
    view = await api.client.post(f"{COURSES}/{course_id}/lessons/{lessons[0]}/view", headers=bob.headers)
    assert view.status_code == 204, view.text
    assert api.platform.events is not None
    await api.platform.events.drain()  # the progress projection counts bob's lesson
    for learner in (ada, bob):
        await _backdate(api, course_id, learner, 20)
    return course_id, lessons, ta, ada, bob, cy


async def _get(api: Api, url: str, who: Person) -> Json:
    response = await api.client.get(url, headers=who.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_staff_see_the_learners_at_risk_with_their_reasons_and_figures(api: Api) -> None:
    course_id, _lessons, ta, ada, bob, cy = await _a_class(api)
    body = await _get(api, f"{COURSES}/{course_id}/analytics/at-risk", ta)
    by_id = {item["user_id"]: item for item in body["items"]}
    assert set(by_id) == {ada.id, bob.id}  # cy enrolled today: nothing is due yet
    assert body["next_cursor"] is None

    ada_row = by_id[ada.id]
    assert ada_row["reasons"] == ["inactive", "behind_pace"]
    assert ada_row["email"] == ada.email
    assert ada_row["inactive"]["last_activity_at"] is None
    assert (ada_row["inactive"]["days"], ada_row["inactive"]["threshold_days"]) == (20, 14)
    pace = ada_row["behind_pace"]
    assert (pace["required_completed"], pace["required_lessons"], pace["expected_lessons"]) == (0, 4, 2)
    assert (pace["start"], pace["expected_days"], pace["completed_percent"]) == ("enrollment", 30, 0.0)
    assert 66.6 <= pace["expected_percent"] <= 66.7
    assert ada_row["failing"] is None

    bob_row = by_id[bob.id]
    assert bob_row["reasons"] == ["behind_pace"]  # active today, one lesson of the two due
    assert bob_row["inactive"] is None
    assert bob_row["behind_pace"]["required_completed"] == 1

    inactive = await _get(api, f"{COURSES}/{course_id}/analytics/at-risk?reason=inactive", ta)
    assert [item["user_id"] for item in inactive["items"]] == [ada.id]
    lenient = await _get(api, f"{COURSES}/{course_id}/analytics/at-risk?inactive_days=21&expected_days=200", ta)
    assert lenient["items"] == []  # 20 days idle is under 21; 4 x 20/200 is not one whole lesson due
    assert cy.id not in by_id


async def test_pages_link_to_the_next_one(api: Api) -> None:
    course_id, _lessons, ta, ada, bob, _cy = await _a_class(api)
    url = f"{COURSES}/{course_id}/analytics/at-risk?limit=1"
    first = await api.client.get(url, headers=ta.headers)
    assert first.status_code == 200, first.text
    assert first.json()["next_cursor"]
    link = first.headers["link"]
    assert link.endswith('rel="next"')
    second = await api.client.get(link[1 : link.index(">")], headers=ta.headers)
    assert second.status_code == 200, second.text
    ids = [first.json()["items"][0]["user_id"], second.json()["items"][0]["user_id"]]
    assert ids == sorted([ada.id, bob.id], key=uuid.UUID)
    assert second.json()["next_cursor"] is None


async def test_learners_are_refused_and_unknown_courses_are_not_found(api: Api) -> None:
    course_id, _lessons, _ta, ada, _bob, _cy = await _a_class(api)
    assert_problem(await api.client.get(f"{COURSES}/{course_id}/analytics/at-risk", headers=ada.headers), 403)
    outsider = await person(api, name="olga")
    assert_problem(await api.client.get(f"{COURSES}/{course_id}/analytics/at-risk", headers=outsider.headers), 403)
    assert_problem(await api.client.get(f"{COURSES}/{course_id}/analytics/at-risk"), 401)
    unknown = f"{COURSES}/{uuid.uuid4()}/analytics/at-risk"
    admin = await person(api, role="platform_admin", name="root")
    assert_problem(await api.client.get(unknown, headers=admin.headers), 404)
    assert (await api.client.get(f"{COURSES}/{course_id}/analytics/at-risk", headers=admin.headers)).status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("inactive_days=0", "inactive_days"),
        ("inactive_days=abc", "inactive_days"),
        ("expected_days=3651", "expected_days"),
        ("reason=lazy", "reason"),
        ("limit=0", "limit"),
        ("cursor=not-a-cursor", "cursor"),
    ],
)
async def test_bad_parameters_are_problems_naming_the_field(api: Api, query: str, field: str) -> None:
    (course_id,) = await api.seed(course_spec(f"bad-{uuid.uuid4().hex[:8]}"))
    ta = await person(api, role="teaching_assistant", course_id=course_id, name="tess")
    response = await api.client.get(f"{COURSES}/{course_id}/analytics/at-risk?{query}", headers=ta.headers)
    assert_problem(response, 422, field=field)


async def test_the_route_is_in_the_openapi_schema(api: Api) -> None:
    schema = (await api.client.get("/schema/openapi.json")).json()
    operation = schema["paths"]["/api/v1/courses/{course_id}/analytics/at-risk"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {
        "reason",
        "inactive_days",
        "expected_days",
        "cursor",
        "limit",
    }
    assert {"200", "403", "404"} <= set(operation["responses"])
