"""Content gating over HTTP: every content route crossed with every kind of caller, on SQLite and PostgreSQL.

The course (published, then edited so that its draft has one more lesson):

- "Open" (no release date): *Preview* (a preview lesson showing the video ``v_preview``),
  *Reading* (text), *Watch* (the video ``v_open``), *Quiz* (the quiz ``q_open``);
- "Weekly" (``release_after_days = 7``): *Week reading*, *Week video* (``v_week``), *Week quiz* (``q_week``);
- "Later" (``release_at`` = in 30 days): *Later reading*;
- *Draft only*: a lesson added to "Open" after publishing (in the draft, not in the version).

Every lesson body and attachment carries a marker (``SECRET_*``, ``PREVIEW``); each response is
searched for the markers the caller may not see.

Callers (columns, in this order): ``anonymous``; ``outsider`` (signed in, not enrolled); ``fresh``
(enrolled now: before the weekly release); ``veteran`` (enrolled 8 days ago: after it); ``staff`` (the
course's instructor); ``as_learner`` (the same instructor with ``?view_as=learner``, which outline and
lesson reads honour and other routes ignore).

Cells: a status, or ``E`` (403 ``enrollment-required``) / ``R`` (403 ``not-yet-released`` with
``available_at``). A playback URL needs a transcoded video: for a caller the gate lets through,
playback answers 409 (not ready), which shows the gate passed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select, update

from elearning_adapters.settings import Settings
from elearning_adapters.sql.enrollment import enrollments
from tests.e2e.assessment_helpers import (
    API,
    Person,
    a_question,
    create_question,
    create_quiz,
    enroll,
    fixed,
    person,
    quiz_settings,
)
from tests.e2e.http_helpers import ADMIN, BACKENDS, COURSES, Api, Checks, Json, backend_settings, random_id, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

ACTORS: Final = ("anonymous", "outsider", "fresh", "veteran", "staff", "as_learner")
E: Final = -1
"""403 enrollment-required."""
R: Final = -2
"""403 not-yet-released, with available_at."""
PROBLEM = {E: "enrollment-required", R: "not-yet-released", 401: "unauthenticated", 404: "not-found"}

PREVIEW = "PREVIEW-7c1e"
SECRETS = {
    "Reading": "SECRET-A-51f0",
    "Watch": "SECRET-B-8d2a",
    "Week reading": "SECRET-C-0b77",
    "Later reading": "SECRET-D-e4c9",
    "Draft only": "SECRET-X-93aa",
}


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("gating"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


@dataclass
class World:
    api: Api
    people: dict[str, Person]
    course: str
    slug: str
    lessons: dict[str, str]
    videos: dict[str, str]
    quizzes: dict[str, str]
    enrolled_at: dict[str, datetime]
    later_at: datetime

    def headers(self, actor: str) -> dict[str, str]:
        if actor == "anonymous":
            return {}
        return self.people["staff" if actor == "as_learner" else actor].headers

    async def request(self, actor: str, method: str, url: str) -> httpx.Response:
        params = {"view_as": "learner"} if actor == "as_learner" else None
        return await self.api.client.request(method, url, params=params, headers=self.headers(actor))


async def _ok(response: httpx.Response, status: int = 200) -> Json:
    assert response.status_code == status, response.text
    return dict(response.json())


def _attachment(marker: str) -> list[Json]:
    return [
        {
            "name": "notes.pdf",
            "url": f"https://files.example.org/{marker}.pdf",
            "size_bytes": 1,
            "content_type": "application/pdf",
        }
    ]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(running: Api) -> World:
    api = await running.reset()
    client = api.client
    course = await api.create("Gated course", slug="gated-course")
    course_id = course["id"]
    staff = await person(api, role="instructor", course_id=course_id, name="staff")
    sections = {name: (await api.add_section(course_id, name))["id"] for name in ("Open", "Weekly", "Later")}
    videos = {
        name: (
            await _ok(await client.post(f"{API}/courses/{course_id}/videos", json={"title": name}, headers=ADMIN), 201)
        )["id"]
        for name in ("v_preview", "v_open", "v_week")
    }
    question = await create_question(api, course_id, a_question("single_choice"), ADMIN)
    quizzes = {
        name: (await create_quiz(api, course_id, quiz_settings(name, [fixed(question)]), ADMIN, publish=True))["id"]
        for name in ("q_open", "q_week")
    }
    plan: list[tuple[str, str, Json]] = [
        (
            "Open",
            "Preview",
            {
                "kind": "video",
                "video_id": videos["v_preview"],
                "body_markdown": PREVIEW,
                "preview": True,
                "attachments": _attachment(PREVIEW),
            },
        ),
        ("Open", "Reading", {"body_markdown": SECRETS["Reading"], "attachments": _attachment(SECRETS["Reading"])}),
        ("Open", "Watch", {"kind": "video", "video_id": videos["v_open"], "body_markdown": SECRETS["Watch"]}),
        ("Open", "Quiz", {"kind": "assessment", "assessment_id": quizzes["q_open"], "duration_seconds": 600}),
        (
            "Weekly",
            "Week reading",
            {"body_markdown": SECRETS["Week reading"], "attachments": _attachment(SECRETS["Week reading"])},
        ),
        ("Weekly", "Week video", {"kind": "video", "video_id": videos["v_week"], "duration_seconds": 120}),
        ("Weekly", "Week quiz", {"kind": "assessment", "assessment_id": quizzes["q_week"]}),
        ("Later", "Later reading", {"body_markdown": SECRETS["Later reading"]}),
    ]
    lessons: dict[str, str] = {}
    for section, title, content in plan:
        lesson = await api.add_lesson(course_id, sections[section], title)
        lessons[title] = lesson["id"]
        url = f"{COURSES}/{course_id}/sections/{sections[section]}/lessons/{lesson['id']}/content"
        await _ok(await client.put(url, json=content, headers=ADMIN))
    later_at = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    for section, release in (("Weekly", {"release_after_days": 7}), ("Later", {"release_at": later_at.isoformat()})):
        url = f"{COURSES}/{course_id}/sections/{sections[section]}/release"
        await _ok(await client.put(url, json=release, headers=ADMIN))
    await api.publish(course_id)
    # A lesson only the draft has: unknown to everyone who reads the published version.
    draft_only = await api.add_lesson(course_id, sections["Open"], "Draft only")
    lessons["Draft only"] = draft_only["id"]
    url = f"{COURSES}/{course_id}/sections/{sections['Open']}/lessons/{draft_only['id']}/content"
    await _ok(await client.put(url, json={"body_markdown": SECRETS["Draft only"]}, headers=ADMIN))

    people = {"staff": staff}
    for name in ("outsider", "fresh", "veteran"):
        people[name] = await person(api, name=name)
    for name in ("fresh", "veteran"):
        await enroll(api, course_id, people[name])
    # The veteran enrolled 8 days ago (set before any read, so no cache holds the real date).
    veteran = uuid.UUID(people["veteran"].id)
    async with api.platform.database.write() as conn:
        await conn.execute(
            update(enrollments)
            .where(enrollments.c.user_id == veteran)
            .values(enrolled_at=datetime.now(UTC) - timedelta(days=8))
        )
        await conn.commit()
    enrolled_at = {}
    async with api.platform.database.read() as conn:
        for name in ("fresh", "veteran"):
            query = select(enrollments.c.enrolled_at).where(enrollments.c.user_id == uuid.UUID(people[name].id))
            enrolled_at[name] = (await conn.execute(query)).scalar_one()
    assert enrolled_at["veteran"] < datetime.now(UTC) - timedelta(days=7) < enrolled_at["fresh"]
    return World(api, people, course_id, "gated-course", lessons, videos, quizzes, enrolled_at, later_at)


# -- the matrix ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    url: Callable[[World], str]
    expect: tuple[int, ...]
    ok: int = 200


def lesson(title: str) -> Callable[[World], str]:
    return lambda w: f"{COURSES}/{w.course}/lessons/{w.lessons[title]}"


def video(name: str, suffix: str = "") -> Callable[[World], str]:
    return lambda w: f"{API}/videos/{w.videos[name]}{suffix}"


def quiz(name: str, suffix: str = "") -> Callable[[World], str]:
    return lambda w: f"{API}/quizzes/{w.quizzes[name]}{suffix}"


OK: Final = 0
# Columns: anonymous, outsider, fresh, veteran, staff, as_learner.
ROWS = [
    # The outline is never refused; what it shows is checked by test_outlines_reveal_only_what_is_open.
    Row("outline", "GET", lambda w: f"{COURSES}/{w.course}", (OK, OK, OK, OK, OK, OK)),
    Row("outline by slug", "GET", lambda w: f"{COURSES}/by-slug/{w.slug}", (OK, OK, OK, OK, OK, OK)),
    Row("preview lesson", "GET", lesson("Preview"), (OK, OK, OK, OK, OK, OK)),
    Row("lesson", "GET", lesson("Reading"), (E, E, OK, OK, OK, OK)),
    Row("video lesson", "GET", lesson("Watch"), (E, E, OK, OK, OK, OK)),
    Row("quiz lesson", "GET", lesson("Quiz"), (E, E, OK, OK, OK, OK)),
    Row("self-paced lesson", "GET", lesson("Week reading"), (E, E, R, OK, OK, R)),
    Row("self-paced video lesson", "GET", lesson("Week video"), (E, E, R, OK, OK, R)),
    Row("dated lesson", "GET", lesson("Later reading"), (E, E, R, R, OK, R)),
    Row("draft-only lesson", "GET", lesson("Draft only"), (404, 404, 404, 404, OK, 404)),
    Row("unknown lesson", "GET", lambda w: f"{COURSES}/{w.course}/lessons/{random_id()}", (404,) * 6),
    Row(
        "lesson of an unknown course",
        "GET",
        lambda w: f"{COURSES}/{random_id()}/lessons/{w.lessons['Preview']}",
        (404,) * 6,
    ),
    # Videos: view_as is for outline and lesson reads; the video routes answer staff as staff.
    Row("preview video", "GET", video("v_preview"), (OK, OK, OK, OK, OK, OK)),
    Row("preview video playback", "GET", video("v_preview", "/playback"), (409, 409, 409, 409, 409, 409)),
    Row("preview video captions", "GET", video("v_preview", "/captions"), (OK, OK, OK, OK, OK, OK)),
    Row("preview video position", "GET", video("v_preview", "/position"), (401, OK, OK, OK, OK, OK)),
    Row("video", "GET", video("v_open"), (E, E, OK, OK, OK, OK)),
    Row("video playback", "GET", video("v_open", "/playback"), (E, E, 409, 409, 409, 409)),
    Row("video captions", "GET", video("v_open", "/captions"), (E, E, OK, OK, OK, OK)),
    Row("video position", "GET", video("v_open", "/position"), (401, E, OK, OK, OK, OK)),  # a position is a user's
    Row("self-paced video", "GET", video("v_week"), (E, E, R, OK, OK, OK)),
    Row("self-paced video playback", "GET", video("v_week", "/playback"), (E, E, R, 409, 409, 409)),
    Row("unknown video", "GET", lambda w: f"{API}/videos/{random_id()}", (404,) * 6),
    # Quizzes need a sign-in (an attempt is somebody's).
    Row("quiz", "GET", quiz("q_open"), (401, E, OK, OK, OK, OK)),
    Row("self-paced quiz", "GET", quiz("q_week"), (401, E, R, OK, OK, OK)),
    Row("start an attempt", "POST", quiz("q_open", "/attempts"), (401, E, OK, OK, OK, 200), ok=201),
    Row("start a self-paced attempt", "POST", quiz("q_week", "/attempts"), (401, E, R, OK, OK, 200), ok=201),
]
"""``as_learner`` starting an attempt: the same person as ``staff``, whose attempt is already in progress (200)."""


def check(w: World, actor: str, row: Row, response: httpx.Response, wanted: int) -> None:
    status = row.ok if wanted == OK else 403 if wanted in (E, R) else wanted
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:300]}"
    body = response.text
    if wanted != OK and not 200 <= wanted < 300:
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"] == f"urn:elearning:problem:{PROBLEM.get(wanted, 'conflict')}", problem
        if wanted == R:
            available = datetime.fromisoformat(problem["available_at"])
            assert available > datetime.now(UTC), problem
            expected = (
                w.later_at
                if row.name == "dated lesson"
                else (w.enrolled_at.get(actor) or datetime.now(UTC)) + timedelta(days=7)
            )
            assert abs((available - expected).total_seconds()) < 120, (available, expected)
        else:
            assert "available_at" not in problem
    # No response gives away a lesson text or attachment its caller may not open.
    for title, secret in SECRETS.items():
        if secret in body:
            assert (wanted == OK and row.name.endswith("lesson")) or row.name.startswith("outline"), (title, body[:300])


async def test_every_content_route_for_every_caller(world: World) -> None:
    checks = Checks()
    for row in ROWS:
        for actor, wanted in zip(ACTORS, row.expect, strict=True):
            with checks.case(f"{row.name} as {actor}"):
                response = await world.request(actor, row.method, row.url(world))
                check(world, actor, row, response, wanted)
    checks.verify()


VISIBLE: dict[str, set[str]] = {
    "anonymous": set(),
    "outsider": set(),
    "fresh": {"Reading", "Watch"},
    "veteran": {"Reading", "Watch", "Week reading"},
    "staff": set(SECRETS),  # the draft, Markdown included
    "as_learner": {"Reading", "Watch"},  # enrolled now, as a new learner
}


async def test_outlines_reveal_only_what_is_open(world: World) -> None:
    checks = Checks()
    for actor in ACTORS:
        for url in (f"{COURSES}/{world.course}", f"{COURSES}/by-slug/{world.slug}"):
            with checks.case(f"{url} as {actor}"):
                response = await world.request(actor, "GET", url)
                assert response.status_code == 200, response.text
                outline = response.json()
                shown = {title for title, secret in SECRETS.items() if secret in response.text}
                assert shown == VISIBLE[actor], shown
                assert PREVIEW in response.text  # the free preview, for everyone
                lessons = {x["title"]: x for s in outline["sections"] for x in s["lessons"]}
                # Titles, kinds and durations of everything published, open or not.
                assert lessons["Week video"]["kind"] == "video"
                assert lessons["Week video"]["duration_seconds"] == 120
                assert lessons["Quiz"]["duration_seconds"] == 600
                if actor != "staff":
                    assert "Draft only" not in lessons
                    for title, x in lessons.items():
                        if x["access"] != "open":
                            assert (x["body_html"], x["attachments"], x["video_id"], x["assessment_id"]) == (
                                "",
                                [],
                                None,
                                None,
                            ), title
                    assert lessons["Preview"]["video_id"] == world.videos["v_preview"]
                    later = next(s for s in outline["sections"] if s["title"] == "Later")
                    assert datetime.fromisoformat(later["release_at"]) == world.later_at
                    weekly = next(s for s in outline["sections"] if s["title"] == "Weekly")
                    assert weekly["release_after_days"] == 7
                    if actor in ("anonymous", "outsider"):
                        assert {x["access"] for t, x in lessons.items() if t != "Preview"} == {"enrollment_required"}
                        assert weekly["available_at"] is None
                    if actor == "veteran":
                        assert weekly["available_at"] is None  # open for them: no date to wait for
                        assert lessons["Week reading"]["access"] == "open"
                    if actor in ("fresh", "as_learner"):
                        assert lessons["Week reading"]["access"] == "not_yet_released"
                        assert lessons["Week reading"]["available_at"] == weekly["available_at"]
    checks.verify()


async def test_the_lesson_route_and_its_problems_are_in_the_openapi_document(world: World) -> None:
    schema = (await world.api.client.get("/schema/openapi.json")).json()
    get = schema["paths"]["/api/v1/courses/{course_id}/lessons/{lesson_id}"]["get"]
    assert {"200", "403", "404"} <= set(get["responses"])
    assert "enrollment-required" in get["responses"]["403"]["description"]
    assert "not-yet-released" in json.dumps(get)
    names = {p["name"] for p in get["parameters"]}
    assert {"course_id", "lesson_id", "view_as"} <= names
    assert "put" in schema["paths"]["/api/v1/courses/{course_id}/sections/{section_id}/release"]
    outline_params = {p["name"] for p in schema["paths"]["/api/v1/courses/{course_id}"]["get"]["parameters"]}
    assert "view_as" in outline_params


async def test_release_dates_are_checked(world: World) -> None:
    outline = await world.api.outline(world.course)
    section = outline["sections"][0]["id"]
    url = f"{COURSES}/{world.course}/sections/{section}/release"
    client = world.api.client
    both = await client.put(url, json={"release_at": "2030-01-01T00:00:00Z", "release_after_days": 3}, headers=ADMIN)
    assert both.status_code == 422, both.text
    assert both.json()["errors"][0]["field"] == "release_after_days"
    naive = await client.put(url, json={"release_at": "2030-01-01T00:00:00"}, headers=ADMIN)
    assert naive.status_code == 422, naive.text
    negative = await client.put(url, json={"release_after_days": -1}, headers=ADMIN)
    assert negative.status_code == 422, negative.text
    learner = await client.put(url, json={"release_after_days": 1}, headers=world.people["fresh"].headers)
    assert learner.status_code == 403, learner.text
    anonymous = await client.put(url, json={"release_after_days": 1})
    assert anonymous.status_code == 401, anonymous.text
