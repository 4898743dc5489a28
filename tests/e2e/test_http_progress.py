"""Progress over HTTP, as a learner and as staff: activity, the outline with progress, the staff views,
the rules, overrides and resets (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from tests.e2e.assessment_helpers import Person, enroll, person
from tests.e2e.http_helpers import ADMIN, BACKENDS, COURSES, Api, assert_problem, backend_settings, serve

API = "/api/v1"

pytestmark = pytest.mark.asyncio(loop_scope="module")

Json = dict[str, Any]


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("progress"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="module")
async def api(running: Api) -> Api:
    return await running.reset()


async def drain(api: Api) -> None:
    assert api.platform.events is not None
    await api.platform.events.drain()


async def tracked_course(api: Api) -> tuple[str, list[str], str]:
    """A published course: Variables, Loops, Functions (text), then Classes (a 100-second video)."""
    outline = await api.course_with_outline("Tracked")
    course_id = outline["id"]
    video = await api.client.post(f"{COURSES}/{course_id}/videos", json={"title": "Clip"}, headers=ADMIN)
    assert video.status_code == 201, video.text
    video_id = video.json()["id"]
    lessons = [lesson["id"] for section in outline["sections"] for lesson in section["lessons"]]
    more = outline["sections"][1]["id"]
    content = {"kind": "video", "video_id": video_id, "duration_seconds": 100}
    url = f"{COURSES}/{course_id}/sections/{more}/lessons/{lessons[3]}/content"
    response = await api.client.put(url, json=content, headers=ADMIN)
    assert response.status_code == 200, response.text
    await api.publish(course_id)
    return course_id, lessons, video_id


def beat(start: float, end: float, **more: Any) -> Json:
    return {"start": start, "end": end, "position": end, "player_session_id": "s1", **more}


async def progress(api: Api, course_id: str, who: Person) -> Json:
    response = await api.client.get(f"{COURSES}/{course_id}/progress", headers=who.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_learner_journey_from_views_and_heartbeats_to_completion(api: Api) -> None:
    course_id, lessons, video_id = await tracked_course(api)
    ada = await person(api, name="ada")
    await enroll(api, course_id, ada)
    base = f"{COURSES}/{course_id}/lessons"

    assert (await api.client.post(f"{base}/{lessons[0]}/view", headers=ada.headers)).status_code == 204
    for start, end in [(0, 50), (50, 95)]:
        response = await api.client.post(f"{base}/{lessons[3]}/heartbeats", json=beat(start, end), headers=ada.headers)
        assert response.status_code == 204, response.text
    await drain(api)

    state = await progress(api, course_id, ada)
    assert state["percent"] == 50.0
    assert [x["state"] for s in state["sections"] for x in s["lessons"]] == [
        "completed",
        "not_started",
        "not_started",
        "completed",
    ]
    assert state["continue_at"]["lesson_id"] == lessons[1]
    assert state["last"]["video_id"] == video_id
    assert state["last"]["position_seconds"] == 95
    # The video module's saved position is the heartbeat's (one stored position, not two).
    position = await api.client.get(f"{API}/videos/{video_id}/position", headers=ada.headers)
    assert position.status_code == 200, position.text
    assert position.json()["position_seconds"] == 95

    for lesson in lessons[1:3]:
        assert (await api.client.post(f"{base}/{lesson}/done", headers=ada.headers)).status_code == 204
    await drain(api)
    done = await progress(api, course_id, ada)
    assert done["completed"] is True
    assert done["completion_source"] == "rules"
    assert done["continue_at"] is None
    mine = await api.client.get(f"{API}/me/enrollments", headers=ada.headers)
    assert [e["status"] for e in mine.json()["items"]] == ["completed"]  # the enrollment followed

    listed = await api.client.get(
        f"{COURSES}/{course_id}/progress/learners", params={"completed": "true"}, headers=ADMIN
    )
    assert [r["user_id"] for r in listed.json()["items"]] == [ada.id]
    csv = await api.client.get(f"{COURSES}/{course_id}/progress/learners.csv", headers=ADMIN)
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert ada.email in csv.text
    counts = await api.client.get(f"{COURSES}/{course_id}/progress/lessons", headers=ADMIN)
    assert {c["lesson_id"]: c["completed"] for c in counts.json()["lessons"]} == dict.fromkeys(lessons, 1)
    me = await api.client.get(f"{API}/me/progress", headers=ada.headers)
    assert [(r["course_id"], r["percent"]) for r in me.json()["items"]] == [(course_id, 100.0)]


async def test_bad_activity_is_refused_with_a_clear_problem(api: Api) -> None:
    course_id, lessons, _ = await tracked_course(api)
    ada, eve = await person(api, name="ada"), await person(api, name="eve")
    await enroll(api, course_id, ada)
    base = f"{COURSES}/{course_id}/lessons"
    backwards = await api.client.post(f"{base}/{lessons[3]}/heartbeats", json=beat(10, 5), headers=ada.headers)
    assert_problem(backwards, 422, field="end")
    huge = await api.client.post(
        f"{base}/{lessons[3]}/heartbeats", json=beat(0, 5, playback_rate=1000), headers=ada.headers
    )
    assert_problem(huge, 422, field="playback_rate")
    text_beat = await api.client.post(f"{base}/{lessons[0]}/heartbeats", json=beat(0, 5), headers=ada.headers)
    assert_problem(text_beat, 409)
    assert_problem(await api.client.post(f"{base}/{lessons[0]}/view", headers=eve.headers), 403)  # not enrolled
    assert_problem(await api.client.post(f"{base}/{lessons[0]}/view"), 401)
    unknown = f"{base}/00000000-0000-0000-0000-000000000000/view"
    assert_problem(await api.client.post(unknown, headers=ada.headers), 404)
    assert_problem(await api.client.get(f"{COURSES}/{course_id}/progress", headers=eve.headers), 404)
    assert_problem(await api.client.get(f"{COURSES}/{course_id}/progress/learners", headers=ada.headers), 403)


async def test_staff_set_rules_override_and_reset_with_an_audit_trail(api: Api) -> None:
    course_id, lessons, _ = await tracked_course(api)
    ada = await person(api, name="ada")
    await enroll(api, course_id, ada)
    rules_url = f"{COURSES}/{course_id}/completion-rules"
    assert (await api.client.get(rules_url, headers=ada.headers)).json()["video_percent"] == 90
    bad = await api.client.put(rules_url, json={"video_percent": 0}, headers=ADMIN)
    assert_problem(bad, 422, field="video_percent")
    assert_problem(await api.client.put(rules_url, json={}, headers=ada.headers), 403)
    rules = {"text_requires_done": True, "optional_lesson_ids": [lessons[3]]}
    saved = await api.client.put(rules_url, json=rules, headers=ADMIN)
    assert saved.status_code == 200, saved.text
    assert saved.json()["optional_lesson_ids"] == [lessons[3]]

    complete = f"{COURSES}/{course_id}/enrollments/{ada.id}/complete"
    overridden = await api.client.post(complete, json={"reason": "passed the oral exam"}, headers=ADMIN)
    assert overridden.status_code == 200, overridden.text
    assert overridden.json()["completion_source"] == "override"
    await drain(api)
    mine = await api.client.get(f"{API}/me/enrollments", headers=ada.headers)
    assert [e["status"] for e in mine.json()["items"]] == ["completed"]

    reset = f"{COURSES}/{course_id}/progress/learners/{ada.id}/reset"
    assert_problem(await api.client.post(reset, json={"reason": ""}, headers=ADMIN), 422, field="reason")
    assert (await api.client.post(reset, json={"reason": "retake"}, headers=ADMIN)).status_code == 204
    await drain(api)
    state = await api.client.get(f"{COURSES}/{course_id}/progress/learners/{ada.id}", headers=ADMIN)
    assert state.json()["completed_at"] is None
    mine = await api.client.get(f"{API}/me/enrollments", headers=ada.headers)
    assert [e["status"] for e in mine.json()["items"]] == ["active"]  # reopened
