"""The entitlement check enforced over HTTP: every kind of learner against every content route it gates
(issue 15, point 4), on SQLite and PostgreSQL.

Three published courses, each with a text lesson, a video lesson and a quiz lesson:

- *free* (no offer: every course from before commerce);
- *paid* (paid, no audit track), which became paid after the ``grandfathered`` learner enrolled;
- *audit* (paid, with a free audit track).

Learners (rows), each on one course: ``free``; ``audit`` (audit track: content, no quizzes); ``purchased``
(a purchase grant); ``subscribed`` (a subscription grant of the course); ``subscribed_all`` (a subscription
grant of every course, ``course_id`` None); ``seat`` (an organization seat); ``lapsed`` (subscription
``past_due``); ``refunded`` (purchase refunded); ``expired`` (a subscription whose period has ended);
``revoked`` (a seat taken back); ``grandfathered`` (enrolled before the price); ``unpaid`` (never had
access); ``staff`` (the course's instructor, no grant). Grants are given and changed through the
entitlement service as an admin would (checkout and subscriptions, which will write them, are built
elsewhere). Those who had access enrolled while they had it, then lost it.

Columns: enroll (POST enrollments), lesson (GET the text lesson), playback (GET the video's playback: a
video not transcoded answers 409 ``not ready`` to a caller the gate lets through), quiz (POST an attempt).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import httpx
import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from elearning_core.entitlement.commands import ChangeGrant, GiveGrant
from elearning_core.entitlement.model import GrantStatus, Source
from elearning_core.shared.ports import SYSTEM
from tests.e2e.assessment_helpers import (
    API,
    Person,
    a_question,
    create_question,
    create_quiz,
    fixed,
    person,
    quiz_settings,
)
from tests.e2e.http_helpers import ADMIN, BACKENDS, COURSES, Api, Checks, Json, backend_settings, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = "SECRET-PAID-5e1b"


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("entitlement-gates"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


@dataclass(frozen=True)
class Course:
    id: str
    lesson: str
    video: str
    quiz: str


async def _ok(response: httpx.Response, status: int = 200) -> Json:
    assert response.status_code == status, response.text
    return dict(response.json())


async def _course(api: Api, name: str) -> Course:
    created = await api.create(f"{name.title()} course", slug=f"{name}-{uuid.uuid4().hex[:6]}")
    course_id = created["id"]
    section = (await api.add_section(course_id, "Only"))["id"]
    video = (
        await _ok(await api.client.post(f"{API}/courses/{course_id}/videos", json={"title": "v"}, headers=ADMIN), 201)
    )["id"]
    question = await create_question(api, course_id, a_question("single_choice"), ADMIN)
    quiz = (await create_quiz(api, course_id, quiz_settings("q", [fixed(question)]), ADMIN, publish=True))["id"]
    lessons = {}
    for title, content in (
        ("Reading", {"body_markdown": SECRET}),
        ("Watch", {"kind": "video", "video_id": video}),
        ("Quiz", {"kind": "assessment", "assessment_id": quiz}),
    ):
        lesson = await api.add_lesson(course_id, section, title)
        lessons[title] = lesson["id"]
        url = f"{COURSES}/{course_id}/sections/{section}/lessons/{lesson['id']}/content"
        await _ok(await api.client.put(url, json=content, headers=ADMIN))
    await api.publish(course_id)
    return Course(course_id, lessons["Reading"], video, quiz)


async def _offer(api: Api, course: Course, **offer: bool) -> None:
    await _ok(await api.client.put(f"{COURSES}/{course.id}/offer", json=offer, headers=ADMIN))


async def _enroll(api: Api, course: Course, who: Person) -> None:
    await _ok(await api.client.post(f"{COURSES}/{course.id}/enrollments", headers=who.headers), 201)


@dataclass
class World:
    api: Api
    courses: dict[str, Course]
    people: dict[str, Person]


# Who learns where, the grant they hold (source, course-specific?), and what became of it after enrolling.
LEARNERS: Final[dict[str, tuple[str, Source | None, bool, GrantStatus | None]]] = {
    "free": ("free", None, True, None),
    "audit": ("audit", None, True, None),
    "purchased": ("paid", Source.PURCHASED, True, None),
    "subscribed": ("paid", Source.SUBSCRIPTION, True, None),
    "subscribed_all": ("paid", Source.SUBSCRIPTION, False, None),
    "seat": ("paid", Source.ORGANIZATION_SEAT, True, None),
    "lapsed": ("paid", Source.SUBSCRIPTION, True, GrantStatus.PAST_DUE),
    "refunded": ("paid", Source.PURCHASED, True, GrantStatus.REFUNDED),
    "expired": ("paid", Source.SUBSCRIPTION, True, GrantStatus.ACTIVE),  # its period ends (below)
    "revoked": ("paid", Source.ORGANIZATION_SEAT, True, GrantStatus.REVOKED),
    "grandfathered": ("paid", None, True, None),
    "unpaid": ("paid", None, False, None),
    "staff": ("paid", None, False, None),
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(running: Api) -> World:
    api = await running.reset()
    courses = {name: await _course(api, name) for name in ("free", "paid", "audit")}
    people = {name: await person(api, name=name) for name in LEARNERS if name != "staff"}
    people["staff"] = await person(api, role="instructor", course_id=courses["paid"].id, name="staff")
    # Enrolled while the course was free: keeps access once it is paid.
    await _enroll(api, courses["paid"], people["grandfathered"])
    await _offer(api, courses["paid"], paid=True)
    await _offer(api, courses["audit"], paid=True, audit_track=True)
    service = api.platform.entitlements
    for name, (where, source, own_course, _after) in LEARNERS.items():
        if source is None:
            continue
        ends_at = datetime.now(UTC) + timedelta(seconds=4) if name == "expired" else None
        await service.give(
            SYSTEM,
            GiveGrant(
                user_id=uuid.UUID(people[name].id),
                course_id=uuid.UUID(courses[where].id) if own_course else None,
                source=source,
                ends_at=ends_at,
            ),
        )
    for name in (
        "free",
        "audit",
        "purchased",
        "subscribed",
        "subscribed_all",
        "seat",
        "lapsed",
        "refunded",
        "expired",
        "revoked",
    ):
        await _enroll(api, courses[LEARNERS[name][0]], people[name])
    for name, (_where, _source, _own, after) in LEARNERS.items():
        if after is None or after is GrantStatus.ACTIVE:
            continue
        [grant] = await service.grants_of(SYSTEM, uuid.UUID(people[name].id), uuid.UUID(courses["paid"].id))
        await service.change(SYSTEM, ChangeGrant(grant_id=grant.id, status=after))
    return World(api, courses, people)


OK: Final = "ok"
ENROLLED: Final = "enrolled"
"""Enrolling again: 200 with the enrollment (it is kept whatever became of the access)."""
COLUMNS: Final = ("enroll", "lesson", "playback", "quiz")
E: Final = "enrollment-required"
MATRIX: Final[dict[str, tuple[str, str, str, str]]] = {
    "free": (ENROLLED, OK, OK, OK),
    "audit": (ENROLLED, OK, OK, "audit-track"),
    "purchased": (ENROLLED, OK, OK, OK),
    "subscribed": (ENROLLED, OK, OK, OK),
    "subscribed_all": (ENROLLED, OK, OK, OK),
    "seat": (ENROLLED, OK, OK, OK),
    "lapsed": (ENROLLED, "subscription-past-due", "subscription-past-due", "subscription-past-due"),
    "refunded": (ENROLLED, "refunded", "refunded", "refunded"),
    "expired": (ENROLLED, "entitlement-expired", "entitlement-expired", "entitlement-expired"),
    "revoked": (ENROLLED, "seat-revoked", "seat-revoked", "seat-revoked"),
    "grandfathered": (ENROLLED, OK, OK, OK),
    "unpaid": ("payment-required", E, E, E),
    "staff": (OK, OK, OK, OK),
}


async def _request(w: World, name: str, column: str) -> httpx.Response:
    course = w.courses[LEARNERS[name][0]]
    headers = w.people[name].headers
    client = w.api.client
    if column == "enroll":
        return await client.post(f"{COURSES}/{course.id}/enrollments", headers=headers)
    if column == "lesson":
        return await client.get(f"{COURSES}/{course.id}/lessons/{course.lesson}", headers=headers)
    if column == "playback":
        return await client.get(f"{API}/videos/{course.video}/playback", headers=headers)
    return await client.post(f"{API}/quizzes/{course.quiz}/attempts", headers=headers)


def _check(name: str, column: str, wanted: str, response: httpx.Response) -> None:
    if wanted in (OK, ENROLLED):
        status = {"enroll": 201 if wanted == OK else 200, "lesson": 200, "playback": 409, "quiz": 201}[column]
        assert response.status_code == status, response.text[:300]
        if column == "playback":  # the gate let the caller through: the video is not transcoded
            assert response.json()["type"] == "urn:elearning:problem:conflict", response.text
        if column == "lesson":
            assert SECRET in response.text
        return
    status = 409 if column == "enroll" else 403
    assert response.status_code == status, response.text[:300]
    problem = response.json()
    assert problem["type"] == f"urn:elearning:problem:{wanted}", problem
    assert SECRET not in response.text
    assert problem["detail"], problem


async def test_every_learner_against_every_gated_route(world: World) -> None:
    # The "expired" learner's subscription period ends 4 s after it was given: wait for it (bounded).
    for _ in range(60):
        response = await _request(world, "expired", "lesson")
        if response.status_code == 403:
            break
        await asyncio.sleep(0.1)
    checks = Checks()
    for name, row in MATRIX.items():
        for column, wanted in zip(COLUMNS, row, strict=True):
            with checks.case(f"{column} as {name}"):
                _check(name, column, wanted, await _request(world, name, column))
    checks.verify()


async def test_an_outline_shows_a_learner_without_access_why_and_no_content(world: World) -> None:
    course = world.courses["paid"]
    response = await world.api.client.get(f"{COURSES}/{course.id}", headers=world.people["refunded"].headers)
    outline = await _ok(response)
    lessons = [lesson for section in outline["sections"] for lesson in section["lessons"]]
    assert {(x["access"], x["refusal"]) for x in lessons} == {("entitlement_required", "refunded")}
    assert SECRET not in response.text
    assert all(x["video_id"] is None and x["assessment_id"] is None for x in lessons)
    # The purchaser sees the same outline open.
    response = await world.api.client.get(f"{COURSES}/{course.id}", headers=world.people["purchased"].headers)
    assert {(x["access"], x["refusal"]) for s in response.json()["sections"] for x in s["lessons"]} == {("open", None)}


async def test_a_refund_stops_an_attempt_under_way_and_keeps_it_and_the_enrollment(world: World) -> None:
    api, course = world.api, world.courses["paid"]
    returning = await person(api, name="returning")
    user_id = uuid.UUID(returning.id)
    await api.platform.entitlements.give(SYSTEM, GiveGrant(user_id=user_id, course_id=uuid.UUID(course.id)))
    await _enroll(api, course, returning)
    attempt = await _ok(await api.client.post(f"{API}/quizzes/{course.quiz}/attempts", headers=returning.headers), 201)
    [grant] = await api.platform.entitlements.grants_of(SYSTEM, user_id, uuid.UUID(course.id))
    await api.platform.entitlements.change(SYSTEM, ChangeGrant(grant_id=grant.id, status=GrantStatus.REFUNDED))

    submit = f"{API}/attempts/{attempt['id']}/submit"
    refused = await api.client.post(submit, headers=returning.headers)
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"] == "urn:elearning:problem:refunded"
    # Nothing was deleted: the attempt is there as it was, and so is the enrollment.
    kept = await _ok(await api.client.get(f"{API}/attempts/{attempt['id']}", headers=returning.headers))
    assert (kept["id"], kept["status"]) == (attempt["id"], "in_progress")
    assert await api.platform.enrollments.is_enrolled(user_id, uuid.UUID(course.id))

    await api.platform.entitlements.change(SYSTEM, ChangeGrant(grant_id=grant.id, status=GrantStatus.ACTIVE))
    submitted = await _ok(await api.client.post(submit, headers=returning.headers))
    assert submitted["id"] == attempt["id"]
    assert submitted["status"] != "in_progress"


async def test_a_refund_stops_progress_being_recorded_and_keeps_what_was(world: World) -> None:
    """Losing access ends access, not the learner's record: done marks are refused with the reason while the
    grant is refunded, the progress made before is still there, and recording resumes with access."""
    api, course = world.api, world.courses["paid"]
    learner = await person(api, name="progressing")
    user_id = uuid.UUID(learner.id)
    await api.platform.entitlements.give(SYSTEM, GiveGrant(user_id=user_id, course_id=uuid.UUID(course.id)))
    await _enroll(api, course, learner)
    done = f"{COURSES}/{course.id}/lessons/{course.lesson}/done"
    assert (await api.client.post(done, headers=learner.headers)).status_code == 204
    [grant] = await api.platform.entitlements.grants_of(SYSTEM, user_id, uuid.UUID(course.id))
    await api.platform.entitlements.change(SYSTEM, ChangeGrant(grant_id=grant.id, status=GrantStatus.REFUNDED))

    for path in (done, f"{COURSES}/{course.id}/lessons/{course.lesson}/view"):
        refused = await api.client.post(path, headers=learner.headers)
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"] == "urn:elearning:problem:refunded"
    assert api.platform.events is not None
    await api.platform.events.drain()
    progress = await _ok(await api.client.get(f"{COURSES}/{course.id}/progress", headers=learner.headers))
    states = {x["id"]: x["state"] for s in progress["sections"] for x in s["lessons"]}
    assert states[course.lesson] == "completed", progress

    await api.platform.entitlements.change(SYSTEM, ChangeGrant(grant_id=grant.id, status=GrantStatus.ACTIVE))
    assert (await api.client.post(done, headers=learner.headers)).status_code == 204
