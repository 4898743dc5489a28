"""Conditional release over HTTP, on SQLite and PostgreSQL: authoring requirements, refusing bad ones,
publishing, and a learner who sees a locked lesson and why, until the facts (a stub of the progress
module's reader, installed in the container) open it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from dependency_injector import providers

from elearning_adapters.container import Platform
from elearning_adapters.settings import Settings
from elearning_core.course.requirements import LearnerFacts, LearnerFactsReader
from tests.e2e.assessment_helpers import (
    API,
    a_question,
    create_question,
    create_quiz,
    enroll,
    fixed,
    person,
    quiz_settings,
)
from tests.e2e.http_helpers import ADMIN, BACKENDS, COURSES, Api, Json, assert_problem, backend_settings, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

LOCKED = "urn:elearning:problem:locked-by-requirement"


class ChosenFacts(LearnerFactsReader):
    """The progress module's read as the test decides it: completed lessons per learner."""

    def __init__(self) -> None:
        self.completed: dict[uuid.UUID, frozenset[uuid.UUID]] = {}

    async def learner_facts(self, user_id: uuid.UUID, course_id: uuid.UUID) -> LearnerFacts:
        return LearnerFacts(completed_lesson_ids=self.completed.get(user_id, frozenset()))


FACTS = ChosenFacts()


def _install_facts(platform: Platform) -> None:
    platform.container.course.learner_facts.override(providers.Object(FACTS))
    for service in (platform.container.course.service, platform.container.assessment.service):
        service.reset()  # built again with the stub: the course's reads and the quizzes' gate


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("requirements"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings, before_app=_install_facts) as app:
        yield app


def lessons_of(outline: Json) -> dict[str, Json]:
    return {lesson["title"]: lesson for section in outline["sections"] for lesson in section["lessons"]}


async def put(api: Api, url: str, requirements: list[Json]) -> Json:
    response = await api.client.put(url, json={"requirements": requirements}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_authoring_publishing_and_a_learner_locked_until_the_facts_open_it(api: Api) -> None:
    outline = await api.course_with_outline("Gated Python")  # Basics: Variables, Loops, Functions; More: Classes
    course_id = outline["id"]
    basics, more = outline["sections"]
    lessons = lessons_of(outline)
    variables, loops, functions, classes = (lessons[t]["id"] for t in ("Variables", "Loops", "Functions", "Classes"))
    base = f"{COURSES}/{course_id}/sections"

    loops_view = await put(api, f"{base}/{basics['id']}/lessons/{loops}/requirements", [{"kind": "previous"}])
    assert loops_view["requirements"] == [
        {"kind": "previous", "lesson_id": None, "assessment_id": None, "min_percent": None}
    ]
    more_view = await put(api, f"{base}/{more['id']}/requirements", [{"kind": "lesson", "lesson_id": functions}])
    assert [r["lesson_id"] for r in more_view["requirements"]] == [functions]
    draft = await api.outline(course_id)
    assert lessons_of(draft)["Loops"]["requirements"][0]["kind"] == "previous"  # the draft read shows them
    assert draft["sections"][1]["requirements"][0]["kind"] == "lesson"

    await api.publish(course_id)
    learner = await person(api, name="learner")
    await enroll(api, course_id, learner)

    seen = await api.client.get(f"{COURSES}/{course_id}", headers=learner.headers)
    assert seen.status_code == 200, seen.text
    mine = lessons_of(seen.json())
    assert [mine[t]["access"] for t in ("Variables", "Loops", "Functions", "Classes")] == [
        "open",
        "locked",
        "open",
        "locked",
    ]
    [why] = mine["Loops"]["unmet_requirements"]
    assert (why["kind"], why["on"], why["lesson_id"], why["title"]) == ("previous", "lesson", variables, "Variables")
    [why] = mine["Classes"]["unmet_requirements"]
    assert (why["kind"], why["on"], why["lesson_id"], why["title"]) == ("lesson", "section", functions, "Functions")

    refused = await api.client.get(f"{COURSES}/{course_id}/lessons/{loops}", headers=learner.headers)
    body = assert_problem(refused, 403)
    assert body["type"] == LOCKED
    assert "complete the lesson 'Variables'" in body["detail"]
    assert body["unmet_requirements"] == [
        {"kind": "previous", "on": "lesson", "title": "Variables", "lesson_id": variables}
    ]
    staff = await api.client.get(f"{COURSES}/{course_id}/lessons/{loops}", headers=ADMIN)
    assert staff.status_code == 200, staff.text  # staff are never held back

    FACTS.completed[uuid.UUID(learner.id)] = frozenset({uuid.UUID(variables)})
    opened = await api.client.get(f"{COURSES}/{course_id}/lessons/{loops}", headers=learner.headers)
    assert opened.status_code == 200, opened.text
    assert opened.json()["access"] == "open"
    still = await api.client.get(f"{COURSES}/{course_id}/lessons/{classes}", headers=learner.headers)
    assert assert_problem(still, 403)["type"] == LOCKED


@pytest.mark.parametrize(
    ("requirements", "field"),
    [
        ([{"kind": "someday"}], "requirements.0"),  # the unknown tag names the item
        ([{"kind": "lesson"}], "requirements.0.lesson_id"),
        ([{"kind": "quiz", "assessment_id": str(uuid.UUID(int=1)), "min_percent": 120}], "requirements.0.min_percent"),
        ([{"kind": "quiz", "assessment_id": str(uuid.UUID(int=1))}], "requirements.0.assessment_id"),
        ([{"kind": "lesson", "lesson_id": str(uuid.UUID(int=2))}], "requirements.0.lesson_id"),
        ([{"kind": "lesson", "lesson_id": "SELF"}], "requirements.0.lesson_id"),
        ([{"kind": "previous"}, {"kind": "previous"}], "requirements"),
        ([{"kind": "previous", "extra": 1}], "requirements.0"),
    ],
)
async def test_bad_requirements_are_422_naming_the_field_and_change_nothing(
    api: Api, requirements: list[Json], field: str
) -> None:
    outline = await api.course_with_outline("Bad requirements")
    basics = outline["sections"][0]
    loops = basics["lessons"][1]["id"]
    for item in requirements:
        if item.get("lesson_id") == "SELF":
            item["lesson_id"] = loops
    before = await api.snapshot(outline["id"])
    url = f"{COURSES}/{outline['id']}/sections/{basics['id']}/lessons/{loops}/requirements"
    response = await api.client.put(url, json={"requirements": requirements}, headers=ADMIN)
    assert_problem(response, 422, field=field)
    assert await api.snapshot(outline["id"]) == before


async def test_a_cycle_is_refused_and_a_learner_needs_to_sign_in_for_nothing_else(api: Api) -> None:
    outline = await api.course_with_outline("Cyclic")
    basics, more = outline["sections"]
    variables = basics["lessons"][0]["id"]
    classes = more["lessons"][0]["id"]
    base = f"{COURSES}/{outline['id']}/sections"
    await put(
        api, f"{base}/{basics['id']}/lessons/{variables}/requirements", [{"kind": "lesson", "lesson_id": classes}]
    )
    response = await api.client.put(
        f"{base}/{more['id']}/requirements", json={"requirements": [{"kind": "previous"}]}, headers=ADMIN
    )
    body = assert_problem(response, 422, field="requirements")
    assert "cycle" in body["detail"]
    learner = await person(api, name="stranger")
    refused = await api.client.put(
        f"{base}/{more['id']}/requirements", json={"requirements": []}, headers=learner.headers
    )
    assert_problem(refused, 403)


async def test_a_quiz_shown_only_by_a_locked_lesson_cannot_be_taken_until_it_opens(api: Api) -> None:
    outline = await api.course_with_outline("Gated quiz")  # Basics: Variables, Loops, Functions; More: Classes
    course_id = outline["id"]
    basics = outline["sections"][0]
    variables, loops = basics["lessons"][0]["id"], basics["lessons"][1]["id"]
    question = await create_question(api, course_id, a_question("single_choice"), ADMIN)
    quiz = await create_quiz(api, course_id, quiz_settings("Check", [fixed(question)]), ADMIN, publish=True)
    lesson_url = f"{COURSES}/{course_id}/sections/{basics['id']}/lessons/{loops}"
    content = {"kind": "assessment", "assessment_id": quiz["id"]}
    assert (await api.client.put(f"{lesson_url}/content", json=content, headers=ADMIN)).status_code == 200
    await put(api, f"{lesson_url}/requirements", [{"kind": "previous"}])
    # Classes waits on a 50 % pass of the quiz: the quiz is the course's own (shown by Loops).
    more = outline["sections"][1]
    requirement = {"kind": "quiz", "assessment_id": quiz["id"], "min_percent": 50}
    more_view = await put(api, f"{COURSES}/{course_id}/sections/{more['id']}/requirements", [requirement])
    assert more_view["requirements"][0]["min_percent"] == 50.0
    await api.publish(course_id)
    learner = await person(api, name="quizzer")
    await enroll(api, course_id, learner)

    refused = await api.client.post(f"{API}/quizzes/{quiz['id']}/attempts", headers=learner.headers)
    body = assert_problem(refused, 403)
    assert body["type"] == LOCKED
    assert body["unmet_requirements"][0]["lesson_id"] == variables
    seen = await api.client.get(f"{COURSES}/{course_id}", headers=learner.headers)
    [why] = lessons_of(seen.json())["Classes"]["unmet_requirements"]
    assert why == {
        "kind": "quiz",
        "on": "section",
        "title": "Loops",
        "lesson_id": None,
        "section_id": None,
        "lesson_ids": None,
        "assessment_id": quiz["id"],
        "min_percent": 50.0,
        "best_percent": None,
        "passed": False,
    }

    FACTS.completed[uuid.UUID(learner.id)] = frozenset({uuid.UUID(variables)})
    started = await api.client.post(f"{API}/quizzes/{quiz['id']}/attempts", headers=learner.headers)
    assert started.status_code == 201, started.text
