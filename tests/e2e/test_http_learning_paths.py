"""Learning paths over HTTP, end to end: an author builds and publishes a path of three courses (one
required, "any 1 of 2" electives), a learner enrolls, the in-process transport enrolls them into the
courses (one is full: refused, and the refusal shown), and course completions (published straight into
the outbox, as the progress module will) complete the path once. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from sqlalchemy import func, select, update

from elearning_adapters.settings import Settings
from elearning_adapters.sql.outbox import append_to_outbox, outbox
from elearning_core.progress.events import CourseCompleted, ProgressReset, progress_key
from tests.e2e.assessment_helpers import Person, course, enroll, person
from tests.e2e.http_helpers import ADMIN, BACKENDS, COURSES, Api, Json, assert_problem, backend_settings, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

PATHS = "/api/v1/learning-paths"


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("paths"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


async def drain(api: Api) -> None:
    events = api.platform.events
    assert events is not None, "the tests run the in-process transport"
    await events.drain()


async def redeliver(api: Api, event_id: uuid.UUID) -> None:
    """Deliver an outbox row again (as after a crash before it was marked published), then drain."""
    async with api.platform.database.write() as conn:
        await conn.execute(update(outbox).where(outbox.c.event_id == event_id).values(published_at=None))
        await conn.commit()
    await drain(api)


async def completed(api: Api, learner: Person, course_id: str) -> uuid.UUID:
    """Publish ``progress.course_completed.v1`` into the outbox, as the progress module does; its event id."""
    user_id, course = uuid.UUID(learner.id), uuid.UUID(course_id)
    event = CourseCompleted(
        occurred_at=datetime.now(UTC),
        aggregate_id=progress_key(course, user_id),
        course_id=course,
        user_id=user_id,
        version_number=1,
        source="rules",
    )
    async with api.platform.database.write() as conn:
        await append_to_outbox(conn, [event])
        await conn.commit()
    await drain(api)
    return event.event_id


async def outbox_count(api: Api, event_type: str) -> int:
    async with api.platform.database.read() as conn:
        query = select(func.count()).select_from(outbox).where(outbox.c.event_type == event_type)
        return int((await conn.execute(query)).scalar_one())


async def authored_path(api: Api, courses: list[str]) -> Json:
    client = api.client
    created = await client.post(
        PATHS, json={"title": "Data engineering", "slug": f"de-{uuid.uuid4().hex[:8]}"}, headers=ADMIN
    )
    assert created.status_code == 201, created.text
    path = created.json()
    structure = {
        "parts": [
            {"kind": "required", "course_ids": courses[:1], "title": "Foundations"},
            {"kind": "elective", "course_ids": courses[1:], "required_count": 1, "title": "Pick one"},
        ]
    }
    shaped = await client.put(f"{PATHS}/{path['id']}/structure", json=structure, headers=ADMIN)
    assert shaped.status_code == 200, shaped.text
    published = await client.post(f"{PATHS}/{path['id']}/publish", headers=ADMIN)
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"
    return dict(published.json())


def course_states(progress: Json) -> dict[str, Json]:
    return {c["course_id"]: c for part in progress["parts"] for c in part["courses"]}


async def test_a_learner_journey_through_a_path(running: Api) -> None:
    api = await running.reset()
    client = api.client
    courses = [await course(api) for _ in range(3)]
    # The second elective has one seat, taken by someone else.
    full = courses[2]
    rules = await client.put(f"{COURSES}/{full}/enrollment-settings", json={"capacity": 1}, headers=ADMIN)
    assert rules.status_code == 200, rules.text
    await enroll(api, full, await person(api, name="early"))
    path = await authored_path(api, courses)
    assert [p["required_count"] for p in path["parts"]] == [1, 1]

    learner = await person(api, name="learner")
    joined = await client.post(f"{PATHS}/{path['id']}/enrollment", headers=learner.headers)
    assert joined.status_code == 201, joined.text
    again = await client.post(f"{PATHS}/{path['id']}/enrollment", headers=learner.headers)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == joined.json()["id"]

    # Before the events run, nothing is decided yet.
    pending = (await client.get(f"{PATHS}/{path['id']}/progress", headers=learner.headers)).json()
    assert {c["enrollment"] for c in course_states(pending).values()} == {None}

    await drain(api)
    mine = await client.get("/api/v1/me/enrollments", headers=learner.headers)
    assert {e["course_id"] for e in mine.json()["items"]} == set(courses[:2])
    progress = (await client.get(f"{PATHS}/{path['id']}/progress", headers=learner.headers)).json()
    states = course_states(progress)
    assert states[courses[0]]["enrollment"] == "enrolled"
    assert states[courses[1]]["enrollment"] == "enrolled"
    assert states[full]["enrollment"] == "refused"
    assert states[full]["refusal_reason"] == "course_full"
    assert "full" in states[full]["refusal_detail"]
    assert progress["completed"] is False
    assert await outbox_count(api, "learning_path.course_enrollment_refused.v1") == 1

    # Completing the elective alone satisfies one part of two; the required course completes the path.
    await completed(api, learner, courses[1])
    progress = (await client.get(f"{PATHS}/{path['id']}/progress", headers=learner.headers)).json()
    assert progress["parts_satisfied"] == 1
    assert progress["completed"] is False
    first = await completed(api, learner, courses[0])
    progress = (await client.get(f"{PATHS}/{path['id']}/progress", headers=learner.headers)).json()
    assert progress["completed"] is True
    assert progress["rules_satisfied"] is True
    assert [p["satisfied"] for p in progress["parts"]] == [True, True]

    # Redelivered, repeated or later completions record nothing more: the path completed once.
    await redeliver(api, first)
    await completed(api, learner, courses[0])
    assert await outbox_count(api, "learning_path.completed.v1") == 1
    listed = (await client.get("/api/v1/me/learning-paths", headers=learner.headers)).json()
    assert [(p["path_id"], p["completed"]) for p in listed["items"]] == [(path["id"], True)]


async def test_a_reset_course_counts_no_more_for_a_path_still_open(running: Api) -> None:
    api = await running.reset()
    courses = [await course(api) for _ in range(3)]
    path = await authored_path(api, courses)
    learner = await person(api, name="resetter")
    assert (await api.client.post(f"{PATHS}/{path['id']}/enrollment", headers=learner.headers)).status_code == 201
    await drain(api)
    await completed(api, learner, courses[0])
    reset = ProgressReset(
        occurred_at=datetime.now(UTC),
        aggregate_id=progress_key(uuid.UUID(courses[0]), uuid.UUID(learner.id)),
        course_id=uuid.UUID(courses[0]),
        user_id=uuid.UUID(learner.id),
        by=None,
        reason="retake",
    )
    async with api.platform.database.write() as conn:
        await append_to_outbox(conn, [reset])
        await conn.commit()
    await drain(api)
    await completed(api, learner, courses[2])
    progress = (await api.client.get(f"{PATHS}/{path['id']}/progress", headers=learner.headers)).json()
    assert course_states(progress)[courses[0]]["completed"] is False
    assert progress["parts_satisfied"] == 1
    assert progress["completed"] is False


async def test_drafts_are_hidden_and_authoring_is_refused_to_learners(running: Api) -> None:
    api = await running.reset()
    client = api.client
    learner = await person(api, name="reader")
    draft = await client.post(PATHS, json={"title": "Secret", "slug": "secret-path"}, headers=ADMIN)
    assert draft.status_code == 201, draft.text
    draft_id = draft.json()["id"]
    assert_problem(await client.get(f"{PATHS}/{draft_id}", headers=learner.headers), 404)
    assert_problem(await client.get(f"{PATHS}/by-slug/secret-path"), 404)
    assert (await client.get(f"{PATHS}/by-slug/secret-path", headers=ADMIN)).json()["id"] == draft_id
    assert (await client.get(PATHS)).json() == {"items": [], "next_cursor": None}
    assert_problem(await client.post(PATHS, json={"title": "Mine", "slug": "mine-path"}, headers=learner.headers), 403)
    assert_problem(await client.post(f"{PATHS}/{draft_id}/enrollment", headers=learner.headers), 404)


async def test_bad_structures_and_publishing_are_clear_problems(running: Api) -> None:
    api = await running.reset()
    client = api.client
    courses = [await course(api) for _ in range(2)]
    draft_course = await course(api, status="draft")
    made = await client.post(PATHS, json={"title": "Shaky", "slug": "shaky-path"}, headers=ADMIN)
    path_id = made.json()["id"]
    url = f"{PATHS}/{path_id}/structure"
    elective = {"kind": "elective", "course_ids": courses, "required_count": 3}
    assert_problem(
        await client.put(url, json={"parts": [elective]}, headers=ADMIN), 422, field="parts.0.required_count"
    )
    twice = [{"kind": "required", "course_ids": courses[:1]}, {"kind": "required", "course_ids": courses}]
    assert_problem(await client.put(url, json={"parts": twice}, headers=ADMIN), 422, field="parts.1.course_ids")
    unknown = [{"kind": "required", "course_ids": [str(uuid.uuid4())]}]
    assert_problem(await client.put(url, json={"parts": unknown}, headers=ADMIN), 422, field="parts.0.course_ids")
    assert_problem(await client.post(f"{PATHS}/{path_id}/publish", headers=ADMIN), 409)
    with_draft = [{"kind": "required", "course_ids": [*courses, draft_course]}]
    assert (await client.put(url, json={"parts": with_draft}, headers=ADMIN)).status_code == 200
    refused = assert_problem(await client.post(f"{PATHS}/{path_id}/publish", headers=ADMIN), 409)
    assert draft_course in refused["detail"]
    taken = await client.post(PATHS, json={"title": "Again", "slug": "shaky-path"}, headers=ADMIN)
    assert_problem(taken, 409)


async def test_enrollment_refusals_name_their_rule(running: Api) -> None:
    api = await running.reset()
    client = api.client
    before, inside = await course(api), await course(api)
    made = await client.post(PATHS, json={"title": "Advanced", "slug": "advanced-path"}, headers=ADMIN)
    path_id = made.json()["id"]
    structure = {"parts": [{"kind": "required", "course_ids": [inside]}], "prerequisites": [before]}
    assert (await client.put(f"{PATHS}/{path_id}/structure", json=structure, headers=ADMIN)).status_code == 200
    assert (await client.post(f"{PATHS}/{path_id}/publish", headers=ADMIN)).status_code == 200
    learner = await person(api, name="eager")
    refused = assert_problem(await client.post(f"{PATHS}/{path_id}/enrollment", headers=learner.headers), 409)
    assert refused["type"].endswith(":path-prerequisites-not-met")
    assert refused["missing_prerequisites"] == [before]
    await completed(api, learner, before)
    assert (await client.post(f"{PATHS}/{path_id}/enrollment", headers=learner.headers)).status_code == 201
    assert (await client.post(f"{PATHS}/{path_id}/archive", headers=ADMIN)).status_code == 200
    late = await person(api, name="late")
    closed = assert_problem(await client.post(f"{PATHS}/{path_id}/enrollment", headers=late.headers), 409)
    assert closed["type"].endswith(":path-not-published")
    assert_problem(await client.post(f"{PATHS}/{path_id}/enrollment", headers=ADMIN), 401)
