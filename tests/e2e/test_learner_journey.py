"""The learner's journey end to end over HTTP (issue 14, point 10), on SQLite and PostgreSQL: staff build a
course (text, video, quiz, an optional lesson, a lesson released by the quiz), a learner registers, signs in,
enrolls, learns (views, video heartbeats, the quiz), completes the course, earns a certificate that an
independent verifier accepts and, once staff revoke it, refuses; staff then reset the learner's progress.

Only the client's view is used: every step goes through HTTP, and the events between modules (progress,
enrollment, certificates) are delivered by the in-process transport, drained where a client would wait.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from tests.e2e.assessment_helpers import API, a_question, create_question, create_quiz, fixed, quiz_settings
from tests.e2e.http_helpers import (
    ADMIN,
    BACKENDS,
    COURSES,
    Api,
    Json,
    assert_problem,
    backend_settings,
    open_read_pool,
    serve,
)
from tests.e2e.independent_verifier import verify_independently

pytestmark = pytest.mark.asyncio(loop_scope="module")

PASSWORD = "correct horse battery"
VIDEO_SECONDS = 200
LOCKED = "urn:elearning:problem:locked-by-requirement"


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # The journey starts at sign-up; the mailed verification link is tests/e2e/test_http_accounts.py's subject.
    return backend_settings(request, tmp_path_factory.mktemp("journey"), require_verified_email=False)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        await open_read_pool(app)
        yield app
        await app.platform.database.dispose()


@dataclass(frozen=True)
class Course:
    id: str
    title: str
    lessons: dict[str, str]  # title -> id
    video_id: str
    quiz_id: str
    question_id: str


async def ok(response: Any, status: int = 200) -> Json:
    assert response.status_code == status, response.text
    return dict(response.json()) if response.content else {}


async def drain(api: Api) -> None:
    """Deliver the committed events (progress -> enrollment, progress -> certificates) in-process."""
    assert api.platform.events is not None
    await api.platform.events.drain()


async def build_course(api: Api) -> Course:
    """Staff build and publish: "Start" (Welcome, Watch: a 200 s video, Check: a quiz with a 50 % pass mark),
    "Further" (Extra: optional, Advanced: released by the quiz passed with at least 60 %)."""
    title = f"Journey {uuid.uuid4().hex[:6]}"
    course = await api.create(title)
    start = await api.add_section(course["id"], "Start")
    further = await api.add_section(course["id"], "Further")
    lessons: dict[str, str] = {}
    for section, names in ((start, ("Welcome", "Watch", "Check")), (further, ("Extra", "Advanced"))):
        for name in names:
            lessons[name] = (await api.add_lesson(course["id"], section["id"], name))["id"]

    def content_url(section: Json, lesson: str) -> str:
        return f"{COURSES}/{course['id']}/sections/{section['id']}/lessons/{lessons[lesson]}"

    welcome = {"kind": "text", "body_markdown": "# Welcome\nWhat this course teaches."}
    await ok(await api.client.put(f"{content_url(start, 'Welcome')}/content", json=welcome, headers=ADMIN))
    video = await ok(
        await api.client.post(f"{COURSES}/{course['id']}/videos", json={"title": "Lecture"}, headers=ADMIN), 201
    )
    watch = {"kind": "video", "video_id": video["id"], "duration_seconds": VIDEO_SECONDS}
    await ok(await api.client.put(f"{content_url(start, 'Watch')}/content", json=watch, headers=ADMIN))

    question = await create_question(api, course["id"], a_question("single_choice"), ADMIN)
    settings = quiz_settings("Check", [fixed(question)], pass_mark_percent=50)
    quiz = await create_quiz(api, course["id"], settings, ADMIN, publish=True)
    check = {"kind": "assessment", "assessment_id": quiz["id"]}
    await ok(await api.client.put(f"{content_url(start, 'Check')}/content", json=check, headers=ADMIN))

    requirement = {"kind": "quiz", "assessment_id": quiz["id"], "min_percent": 60}
    gated = await ok(
        await api.client.put(
            f"{content_url(further, 'Advanced')}/requirements", json={"requirements": [requirement]}, headers=ADMIN
        )
    )
    assert gated["requirements"][0]["min_percent"] == 60.0

    rules = {"video_percent": 90, "optional_lesson_ids": [lessons["Extra"]]}
    saved = await ok(await api.client.put(f"{COURSES}/{course['id']}/completion-rules", json=rules, headers=ADMIN))
    assert (saved["video_percent"], saved["optional_lesson_ids"]) == (90, [lessons["Extra"]])
    award = await ok(
        await api.client.put(
            f"{COURSES}/{course['id']}/certificate-award",
            json={"enabled": True, "template": "<h1>$title</h1><p>Awarded to $learner_name</p>"},
            headers=ADMIN,
        )
    )
    assert award["enabled"] is True
    published = await api.publish(course["id"])
    assert published["status"] == "published"
    return Course(course["id"], title, lessons, video["id"], quiz["id"], question["id"])


async def sign_up(api: Api, name: str) -> tuple[str, dict[str, str]]:
    email = f"{name.split()[0].lower()}-{uuid.uuid4().hex[:8]}@example.org"
    body = {"email": email, "password": PASSWORD, "display_name": name}
    assert (await api.client.post(f"{API}/auth/register", json=body)).status_code == 202
    signed_in = await ok(await api.client.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD}))
    headers = {"Authorization": f"Bearer {signed_in['access_token']}"}
    me = await ok(await api.client.get(f"{API}/users/me", headers=headers))
    assert me["display_name"] == name
    return str(me["id"]), headers


async def instructor(api: Api, course_id: str) -> tuple[str, dict[str, str]]:
    """An administrator creates an account and makes it the course's instructor; the instructor signs in."""
    email = f"grace-{uuid.uuid4().hex[:8]}@example.org"
    body = {"email": email, "display_name": "Grace Hopper", "password": PASSWORD}
    created = await ok(await api.client.post(f"{API}/admin/users", json=body, headers=ADMIN), 201)
    grant = {"role": "instructor", "scope": "course", "scope_id": course_id}
    await ok(await api.client.post(f"{API}/admin/users/{created['id']}/roles", json=grant, headers=ADMIN), 201)
    signed_in = await ok(await api.client.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD}))
    return str(created["id"]), {"Authorization": f"Bearer {signed_in['access_token']}"}


async def progress(api: Api, course_id: str, headers: dict[str, str]) -> Json:
    return await ok(await api.client.get(f"{COURSES}/{course_id}/progress", headers=headers))


def states(view: Json) -> dict[str, tuple[str, str]]:
    """Per lesson title: (state, access)."""
    return {x["title"]: (x["state"], x["access"]) for s in view["sections"] for x in s["lessons"]}


async def beat(
    api: Api,
    course: Course,
    headers: dict[str, str],
    start: float,
    end: float,
    state: str,
    position: float | None = None,
) -> None:
    """The interval watched since the previous heartbeat, and where the player is now (its end, unless a seek)."""
    body = {
        "start": start,
        "end": end,
        "position": end if position is None else position,
        "state": state,
        "player_session_id": "tab-1",
    }
    url = f"{COURSES}/{course.id}/lessons/{course.lessons['Watch']}/heartbeats"
    response = await api.client.post(url, json=body, headers=headers)
    assert response.status_code == 204, response.text


async def enrollment_status(api: Api, headers: dict[str, str]) -> list[str]:
    mine = await ok(await api.client.get(f"{API}/me/enrollments", headers=headers))
    return [e["status"] for e in mine["items"]]


async def test_from_sign_up_to_a_verified_certificate_revoked_then_a_reset(api: Api) -> None:
    course = await build_course(api)
    lessons = course.lessons
    learner_id, me = await sign_up(api, "Ada Lovelace")

    # -- enrollment and the outline with progress -----------------------------------------------------
    await ok(await api.client.post(f"{COURSES}/{course.id}/enrollments", headers=me), 201)
    view = await progress(api, course.id, me)
    assert view["title"] == course.title
    assert (view["percent"], view["completed"], view["last"]) == (0.0, False, None)
    assert view["continue_at"]["lesson_id"] == lessons["Welcome"]
    assert states(view) == {
        "Welcome": ("not_started", "open"),
        "Watch": ("not_started", "open"),
        "Check": ("not_started", "open"),
        "Extra": ("not_started", "open"),
        "Advanced": ("not_started", "locked"),
    }
    advanced = view["sections"][1]["lessons"][1]
    assert advanced["optional"] is False
    assert view["sections"][1]["lessons"][0]["optional"] is True
    assert advanced["lock_reason"] == (
        "this lesson opens once its requirements are met: pass the quiz of 'Check' with at least 60%"
    )
    refused = await api.client.post(f"{COURSES}/{course.id}/lessons/{lessons['Advanced']}/view", headers=me)
    assert assert_problem(refused, 403)["type"] == LOCKED

    # -- text lessons ----------------------------------------------------------------------------------
    for name in ("Welcome", "Extra"):
        response = await api.client.post(f"{COURSES}/{course.id}/lessons/{lessons[name]}/view", headers=me)
        assert response.status_code == 204, response.text
    await drain(api)
    view = await progress(api, course.id, me)
    # Four required lessons (Extra is optional and counts for nothing): one of four done.
    assert view["percent"] == 25.0
    assert states(view)["Welcome"][0] == states(view)["Extra"][0] == "completed"
    assert view["continue_at"]["lesson_id"] == lessons["Watch"]

    # -- the video: a seek to the end does not complete it; watched intervals covering 90 % do ------------
    await beat(api, course, me, 0, 0, "seeking", position=VIDEO_SECONDS - 2)  # nothing watched, a jump
    await beat(api, course, me, VIDEO_SECONDS - 2, VIDEO_SECONDS, "ended")
    await drain(api)
    view = await progress(api, course.id, me)
    assert states(view)["Watch"] == ("in_progress", "open")
    assert view["percent"] == 25.0
    assert view["last"]["video_id"] == course.video_id
    assert view["last"]["position_seconds"] == VIDEO_SECONDS

    for start in range(0, 170, 30):  # 0..180: with the last two seconds, 182 of 200 s = 91 %
        await beat(api, course, me, start, start + 30, "playing")
    await drain(api)
    view = await progress(api, course.id, me)
    assert states(view)["Watch"][0] == "completed"
    assert view["percent"] == 50.0
    assert view["continue_at"]["lesson_id"] == lessons["Check"]
    position = await ok(await api.client.get(f"{API}/videos/{course.video_id}/position", headers=me))
    assert position["position_seconds"] == 180  # the heartbeat's position is the video module's

    # -- the quiz: a failed attempt keeps Advanced locked, a pass opens it -------------------------------
    for choice, percent, passed in (("a", 0.0, False), ("b", 100.0, True)):
        attempt = await ok(await api.client.post(f"{API}/quizzes/{course.quiz_id}/attempts", headers=me), 201)
        answer = {"response": {"choice": choice}}
        url = f"{API}/attempts/{attempt['id']}/answers/{course.question_id}"
        await ok(await api.client.put(url, json=answer, headers=me))
        graded = await ok(await api.client.post(f"{API}/attempts/{attempt['id']}/submit", headers=me))
        assert (graded["percent"], graded["passed"]) == (percent, passed)
        await drain(api)
        view = await progress(api, course.id, me)
        assert states(view)["Check"][0] == ("completed" if passed else "in_progress")  # submitted, not passed
        assert states(view)["Advanced"] == ("not_started", "open" if passed else "locked")
    assert view["percent"] == 75.0
    assert view["continue_at"]["lesson_id"] == lessons["Advanced"]
    assert [s["percent"] for s in view["sections"]] == [100.0, 0.0]

    # -- the released lesson, and the course completed everywhere a client looks ----------------------
    opened = await ok(await api.client.get(f"{COURSES}/{course.id}/lessons/{lessons['Advanced']}", headers=me))
    assert opened["access"] == "open"
    done = await api.client.post(f"{COURSES}/{course.id}/lessons/{lessons['Advanced']}/view", headers=me)
    assert done.status_code == 204, done.text
    await drain(api)
    view = await progress(api, course.id, me)
    assert (view["percent"], view["completed"], view["completion_source"]) == (100.0, True, "rules")
    assert view["continue_at"] is None
    assert [s["percent"] for s in view["sections"]] == [100.0, 100.0]
    overall = await ok(await api.client.get(f"{API}/me/progress", headers=me))
    assert [(r["course_id"], r["percent"], r["completed_at"] is not None) for r in overall["items"]] == [
        (course.id, 100.0, True)
    ]
    assert await enrollment_status(api, me) == ["completed"]

    # -- the certificate: listed, verified independently, rendered, revoked -----------------------------
    mine = await ok(await api.client.get(f"{API}/me/certificates", headers=me))
    [certificate] = mine["items"]
    assert (certificate["state"], certificate["learner_name"], certificate["title"]) == (
        "valid",
        "Ada Lovelace",
        course.title,
    )
    verification = await ok(await api.client.get(f"{API}/credentials/{certificate['id']}"))
    assert verification["valid"] is True, verification
    subject = verification["credential"]["credentialSubject"]
    assert subject["id"] == f"urn:uuid:{learner_id}"
    assert subject["achievement"]["name"] == course.title
    token = verification["jwt"]
    assert await verify_independently(api.client, token) is None
    page = await api.client.get(f"{API}/credentials/{certificate['id']}/html")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f"<h1>{course.title}</h1>" in page.text
    assert "<p>Awarded to Ada Lovelace</p>" in page.text

    revoked = await ok(
        await api.client.post(
            f"{API}/certificates/{certificate['id']}/revoke", json={"reason": "academic misconduct"}, headers=ADMIN
        )
    )
    assert revoked["state"] == "revoked"
    assert await verify_independently(api.client, token) == "revoked"
    after = await ok(await api.client.get(f"{API}/credentials/{certificate['id']}"))
    assert (after["valid"], after["problem"]) == (False, "revoked: academic misconduct")

    # -- staff reset the learner: back to 0 %, the enrollment reopened, who and why kept -------------------
    reset_url = f"{COURSES}/{course.id}/progress/learners/{learner_id}/reset"
    staff_id, staff = await instructor(api, course.id)
    reset = await api.client.post(reset_url, json={"reason": "retake after misconduct"}, headers=staff)
    assert reset.status_code == 204, reset.text
    await drain(api)
    view = await progress(api, course.id, me)
    assert (view["percent"], view["completed"], view["completed_at"]) == (0.0, False, None)
    assert view["continue_at"]["lesson_id"] == lessons["Welcome"]
    assert {state for state, _ in states(view).values()} == {"not_started"}
    assert states(view)["Advanced"][1] == "locked"  # the quiz outcome is forgotten too
    assert await enrollment_status(api, me) == ["active"]
    staff_view = await ok(await api.client.get(f"{COURSES}/{course.id}/progress/learners/{learner_id}", headers=ADMIN))
    assert (staff_view["percent"], staff_view["completed_lesson_ids"]) == (0.0, [])
    # The certificate module documents that a reset leaves credentials as they are (a credential attests a
    # completion that happened; staff revoke one explicitly): this one stays revoked, and none is issued.
    [still] = (await ok(await api.client.get(f"{API}/me/certificates", headers=me)))["items"]
    assert (still["id"], still["state"]) == (certificate["id"], "revoked")
    assert await verify_independently(api.client, token) == "revoked"

    # -- staff then complete the course by override: a new credential, the audit trail shows both decisions --
    override_url = f"{COURSES}/{course.id}/enrollments/{learner_id}/complete"
    overridden = await ok(await api.client.post(override_url, json={"reason": "oral re-examination"}, headers=staff))
    assert (overridden["percent"], overridden["completion_source"]) == (0.0, "override")
    await drain(api)
    assert await enrollment_status(api, me) == ["completed"]
    newest, revoked_one = (await ok(await api.client.get(f"{API}/me/certificates", headers=me)))["items"]
    assert (revoked_one["id"], revoked_one["state"]) == (certificate["id"], "revoked")
    assert (newest["state"], newest["title"]) == ("valid", course.title)
    new_token = (await ok(await api.client.get(f"{API}/credentials/{newest['id']}")))["jwt"]
    assert await verify_independently(api.client, new_token) is None

    audit_url = f"{COURSES}/{course.id}/progress/learners/{learner_id}/audit"
    trail = await ok(await api.client.get(audit_url, headers=staff))
    assert trail["user_id"] == learner_id
    assert [(e["kind"], e["reason"], e["by_user_id"]) for e in trail["entries"]] == [
        ("reset", "retake after misconduct", staff_id),
        ("override", "oral re-examination", staff_id),
    ]
    assert trail["entries"][0]["at"] <= trail["entries"][1]["at"]
    assert_problem(await api.client.get(audit_url, headers=me), 403)  # the reasons are the staff's
