"""A course dashboard from real activity, end to end (SQLite and PostgreSQL): learners enroll and view lessons
through the API, the events come back through the ``analytics`` projection into the statement store and the
aggregate tables, and the dashboard's JSON counts them, with a cell under k hidden.

test_http_dashboards.py covers the JSON's shape, every chart and access over sample aggregates; this file
is the one path from requests to figures with nothing in between replaced."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from tests.e2e.assessment_helpers import enroll, person
from tests.e2e.http_helpers import BACKENDS, COURSES, Api, backend_settings, course_spec, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

Json = dict[str, Any]


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("dashboards-sql"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


def _series(body: Json, key: str, name: str) -> list[Json]:
    chart = next(c for c in body["charts"] if c["key"] == key)
    return list(next(s for s in chart["series"] if s["name"] == name)["points"])


async def test_the_dashboard_counts_what_learners_did_through_the_api(api: Api) -> None:
    (course_id,) = await api.seed(course_spec(f"dash-sql-{uuid.uuid4().hex[:8]}", lessons=2))
    outline = await api.outline(course_id)
    first, second = [lesson["id"] for section in outline["sections"] for lesson in section["lessons"]]
    ta = await person(api, role="teaching_assistant", course_id=course_id, name="tess")
    learners = [await person(api, name=f"learner{i}") for i in range(6)]
    for learner in learners:
        await enroll(api, course_id, learner)
        viewed = await api.client.post(f"{COURSES}/{course_id}/lessons/{first}/view", headers=learner.headers)
        assert viewed.status_code == 204, viewed.text
    for learner in learners[:2]:  # two learners finish the course: cells of 2, under k = 5
        viewed = await api.client.post(f"{COURSES}/{course_id}/lessons/{second}/view", headers=learner.headers)
        assert viewed.status_code == 204, viewed.text
    assert api.platform.events is not None
    await api.platform.events.drain()

    response = await api.client.get(f"{COURSES}/{course_id}/analytics/dashboard", headers=ta.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    today = datetime.now(UTC).date().isoformat()  # the course has no organization: the platform's zone, UTC
    assert (body["until"], body["time_zone"], body["suppression_threshold"]) == (today, "UTC", 5)
    figures = {f["label"]: f["value"] for f in body["figures"]}
    assert figures["Enrollments"] == 6
    enrollments = _series(body, "enrollments-completions", "Enrollments")
    assert enrollments[-1] == {"x": today, "value": 6}
    assert sum(p["value"] or 0 for p in enrollments) == 6
    funnel = {p["x"]: p["value"] for p in _series(body, "funnel", "Learners")}
    # Viewing a text lesson completes it: six learners have half the course done, two all of it (hidden: 2 < 5).
    assert funnel == {
        "Enrolled": 6,
        "Started": 6,
        "25% done": 6,
        "50% done": 6,
        "75% done": None,
        "Completed": None,
    }
    assert figures["Completions"] is None
    assert _series(body, "active-learners", "Active learners")[-1]["value"] == 6

    # The learner never sees it.
    refused = await api.client.get(f"{COURSES}/{course_id}/analytics/dashboard", headers=learners[0].headers)
    assert refused.status_code in (403, 404), refused.text
