"""Who may do what with assessments: every route, driven by every kind of caller.

The callers, around one published course C:

- ``anonymous``: no credentials;
- ``platform_admin``: a user granted platform_admin on the platform;
- ``owner``: the instructor who owns C;
- ``other_instructor``: instructor of another course, D (not of C);
- ``ta``: teaching assistant of C;
- ``learner`` and ``other_learner``: enrolled in C;
- ``outsider``: signed in, no role, not enrolled.

The expectations are written out per caller from the rules the assessment service documents, not
from what the code answers: authoring needs ``course.edit`` (instructors and admins, not teaching
assistants); grading and the gradebook ``grade.view_all``/``grade.edit`` (teaching assistants too);
the course's staff (authors and graders) read its questions, drafts and every attempt; taking a quiz
needs an enrollment (staff may take one as a preview). What the caller may not know exists is "not
found" rather than forbidden: a question or a draft quiz for whoever is not staff, another learner's
attempt for whoever is neither that learner nor a grader. The anonymous get 401 everywhere, and a signed-in caller without the permission 403. Every refused write is checked
to have changed nothing (every row of the assessment tables, and the outbox); an allowed write runs
on a resource made for it, so it never changes what another cell sees.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Final

import httpx
import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from tests.e2e.assessment_helpers import (
    API,
    KINDS,
    LEAKS,
    Person,
    a_question,
    answer,
    course,
    create_question,
    create_quiz,
    enroll,
    fixed,
    iso,
    person,
    quiz_settings,
    start,
    stored_state,
    submit,
)
from tests.e2e.http_helpers import ADMIN, BACKENDS, COURSES, Api, Checks, Json, backend_settings, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

ACTORS: Final = (
    "anonymous",
    "platform_admin",
    "owner",
    "other_instructor",
    "ta",
    "learner",
    "other_learner",
    "outsider",
)
OK: Final = 0
"""In a table: allowed, answered with the row's own success status."""
ENROLL: Final = -403
"""In a table: 403 whose type is content gating's ``enrollment-required`` (not ``permission-denied``)."""
PROBLEM_TYPES = {401: "unauthenticated", 403: "permission-denied", 404: "not-found", ENROLL: "enrollment-required"}


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("assessment-access"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="module")
async def world(running: Api) -> World:
    return await build_world(await running.reset())


# -- the world ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The ids a row's URL is made of."""

    course: str
    question: str
    essay: str
    quiz: str
    draft: str
    attempt_a: str
    """The learner's submitted attempt at ``quiz`` (its essay waits for a grade)."""
    attempt_b: str
    """The other learner's attempt at ``quiz``, in progress."""
    learner: str


@dataclass
class World:
    api: Api
    people: dict[str, Person]
    target: Target

    def headers(self, actor: str) -> dict[str, str]:
        return {} if actor == "anonymous" else self.people[actor].headers

    async def request(self, actor: str, method: str, url: str, body: Json | None) -> httpx.Response:
        return await self.api.client.request(method, url, json=body, headers=self.headers(actor))

    # -- resources made for one allowed write ------------------------------------------------

    async def question(self) -> str:
        return (await create_question(self.api, self.target.course, a_question("single_choice"), ADMIN))["id"]

    async def quiz(self, *, publish: bool = True) -> str:
        settings = quiz_settings(
            "Spare",
            [{"type": "fixed", "question_id": self.target.question}],
            due_at=iso(timedelta(days=2)),
            closes_at=iso(timedelta(days=30)),
            max_attempts=1,  # so that an extension has something to extend
        )
        return (await create_quiz(self.api, self.target.course, settings, ADMIN, publish=publish))["id"]


async def build_world(api: Api) -> World:
    owner = await person(api, name="owner")
    course_id = await course(api, owner=owner)
    other_course = await course(api)
    people = {
        "platform_admin": await person(api, role="platform_admin", name="admin"),
        "owner": owner,
        "other_instructor": await person(api, role="instructor", course_id=other_course, name="other"),
        "ta": await person(api, role="teaching_assistant", course_id=course_id, name="ta"),
        "learner": await person(api, name="learner"),
        "other_learner": await person(api, name="peer"),
        "outsider": await person(api, name="outsider"),
    }
    for name in ("learner", "other_learner"):
        await enroll(api, course_id, people[name])
    question = await create_question(api, course_id, a_question("single_choice"), owner.headers)
    essay = await create_question(api, course_id, a_question("essay"), owner.headers)
    settings = quiz_settings("Quiz", [fixed(question), fixed(essay)], answer_review="never")
    quiz = await create_quiz(api, course_id, settings, owner.headers, publish=True)
    draft = await create_quiz(api, course_id, quiz_settings("Draft", [fixed(question)]), owner.headers, publish=False)
    extension = await api.client.put(
        f"{API}/quizzes/{quiz['id']}/extensions/{people['learner'].id}", json={}, headers=owner.headers
    )
    assert extension.status_code == 200, extension.text

    learner, peer = people["learner"], people["other_learner"]
    a = await start(api, quiz["id"], learner)
    await answer(api, a["id"], question["id"], KINDS["single_choice"].wrong, learner)
    await answer(api, a["id"], essay["id"], KINDS["essay"].right, learner)
    await submit(api, a["id"], learner)
    b = await start(api, quiz["id"], peer)
    target = Target(course_id, question["id"], essay["id"], quiz["id"], draft["id"], a["id"], b["id"], learner.id)
    return World(api, people, target)


# -- the tables -------------------------------------------------------------------------------

Expect = tuple[int, ...]
Fresh = Callable[[World], Awaitable[Target]]


def expect(*statuses: int) -> Expect:
    assert len(statuses) == len(ACTORS), f"a row needs one status per actor, not {len(statuses)}"
    return statuses


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    url: Callable[[Target], str]
    ok: int
    expect: Expect
    body: Json | Callable[[Target], Json] | None = None
    fresh: Fresh | None = None
    """For a write: the target its allowed cells run on (made anew for each)."""


async def _new_question(w: World) -> Target:
    return replace(w.target, question=await w.question())


async def _new_quiz(w: World) -> Target:
    return replace(w.target, quiz=await w.quiz())


async def _new_draft(w: World) -> Target:
    return replace(w.target, draft=await w.quiz(publish=False))


async def _new_extension(w: World) -> Target:
    quiz = await w.quiz()
    url = f"{API}/quizzes/{quiz}/extensions/{w.target.learner}"
    put = await w.api.client.put(url, json={"extra_attempts": 1}, headers=ADMIN)
    assert put.status_code == 200, put.text
    return replace(w.target, quiz=quiz)


async def _new_attempt_b(w: World) -> Target:
    return replace(w.target, attempt_b=(await start(w.api, await w.quiz(), w.people["other_learner"]))["id"])


# Columns in ACTORS order: anonymous, platform_admin, owner, other_instructor, ta, learner, other_learner, outsider.
AUTHOR_ONLY = expect(401, OK, OK, 403, 403, 403, 403, 403)
GRADERS = expect(401, OK, OK, 403, OK, 403, 403, 403)
COURSE_MEMBERS = expect(401, OK, OK, 403, OK, OK, OK, 403)
COURSE_CONTENT = expect(401, OK, OK, ENROLL, OK, OK, OK, ENROLL)
"""A quiz, gated as every course content: staff and enrolled learners; the rest are told to enroll."""
STAFF_ELSE_HIDDEN = expect(401, OK, OK, 404, OK, 404, 404, 404)
"""Course staff (authors and graders) only; hidden from everyone else, as a draft course is."""
AUTHOR_ELSE_HIDDEN = expect(401, OK, OK, 404, 403, 404, 404, 404)
"""Authoring a thing the course's graders see (a question, a draft): 403 for them, hidden from the rest."""

READS = [
    Row("list the bank", "GET", lambda t: f"{COURSES}/{t.course}/questions", 200, AUTHOR_ONLY),
    Row("read a question and its key", "GET", lambda t: f"{API}/questions/{t.question}", 200, STAFF_ELSE_HIDDEN),
    Row("list quizzes", "GET", lambda t: f"{COURSES}/{t.course}/quizzes", 200, COURSE_MEMBERS),
    Row("read a published quiz", "GET", lambda t: f"{API}/quizzes/{t.quiz}", 200, COURSE_CONTENT),
    Row(
        "read a draft quiz",
        "GET",
        lambda t: f"{API}/quizzes/{t.draft}",
        200,
        STAFF_ELSE_HIDDEN,
    ),
    Row("export a quiz", "GET", lambda t: f"{API}/quizzes/{t.quiz}/export", 200, AUTHOR_ONLY),
    Row(
        "list attempts (one's own, or everyone's)",
        "GET",
        lambda t: f"{API}/quizzes/{t.quiz}/attempts",
        200,
        expect(401, OK, OK, OK, OK, OK, OK, OK),  # anyone signed in lists their own: none, unless enrolled
    ),
    Row(
        "list the learner's attempts",
        "GET",
        lambda t: f"{API}/quizzes/{t.quiz}/attempts?user_id={t.learner}",
        200,
        expect(401, OK, OK, 404, OK, OK, 404, 404),
    ),
    Row(
        "read the learner's attempt",
        "GET",
        lambda t: f"{API}/attempts/{t.attempt_a}",
        200,
        expect(401, OK, OK, 404, OK, OK, 404, 404),
    ),
    Row("the grading queue", "GET", lambda t: f"{COURSES}/{t.course}/grading-queue", 200, GRADERS),
    Row("the gradebook", "GET", lambda t: f"{COURSES}/{t.course}/gradebook", 200, GRADERS),
    Row("the gradebook as CSV", "GET", lambda t: f"{COURSES}/{t.course}/gradebook.csv", 200, GRADERS),
    Row(
        "one's own grades",
        "GET",
        lambda t: f"{COURSES}/{t.course}/my-grades",
        200,
        COURSE_MEMBERS,  # staff get their own (empty) row
    ),
    Row("item statistics", "GET", lambda t: f"{API}/quizzes/{t.quiz}/statistics", 200, GRADERS),
    Row("the grading scheme", "GET", lambda t: f"{COURSES}/{t.course}/grading-scheme", 200, COURSE_MEMBERS),
]

NEW_QUESTION = a_question("true_false")
NEW_QUIZ = quiz_settings("New", [])
DOCUMENT = {
    "format": "elearning.quiz.v1",
    "quiz": {"title": "Imported", "slots": [{"type": "fixed", "ref": "q1"}]},
    "questions": [a_question("true_false") | {"ref": "q1"}],
}

WRITES = [
    Row("add a question", "POST", lambda t: f"{COURSES}/{t.course}/questions", 201, AUTHOR_ONLY, body=NEW_QUESTION),
    Row(
        "revise a question",
        "PUT",
        lambda t: f"{API}/questions/{t.question}",
        200,
        AUTHOR_ELSE_HIDDEN,
        body=NEW_QUESTION,
        fresh=_new_question,
    ),
    Row(
        "archive a question",
        "DELETE",
        lambda t: f"{API}/questions/{t.question}",
        204,
        AUTHOR_ELSE_HIDDEN,
        fresh=_new_question,
    ),
    Row(
        "regrade (dry run)",
        "POST",
        lambda t: f"{API}/questions/{t.question}/regrade",
        200,
        AUTHOR_ELSE_HIDDEN,
        body={"body": KINDS["single_choice"].question["body"] | {"correct": "a"}},
    ),
    Row("create a quiz", "POST", lambda t: f"{COURSES}/{t.course}/quizzes", 201, AUTHOR_ONLY, body=NEW_QUIZ),
    Row(
        "change a quiz",
        "PUT",
        lambda t: f"{API}/quizzes/{t.quiz}",
        200,
        AUTHOR_ONLY,
        body=lambda t: quiz_settings("Renamed", [{"type": "fixed", "question_id": t.question}], max_attempts=3),
        fresh=_new_quiz,
    ),
    Row(
        "publish a quiz",
        "POST",
        lambda t: f"{API}/quizzes/{t.draft}/publish",
        200,
        AUTHOR_ELSE_HIDDEN,
        fresh=_new_draft,
    ),
    Row(
        "give an extension",
        "PUT",
        lambda t: f"{API}/quizzes/{t.quiz}/extensions/{t.learner}",
        200,
        AUTHOR_ONLY,
        body={"extra_attempts": 2, "due_at": iso(timedelta(days=7))},
        fresh=_new_quiz,
    ),
    Row(
        "remove an extension",
        "DELETE",
        lambda t: f"{API}/quizzes/{t.quiz}/extensions/{t.learner}",
        204,
        AUTHOR_ONLY,
        fresh=_new_extension,
    ),
    Row("import a quiz", "POST", lambda t: f"{COURSES}/{t.course}/quizzes/import", 201, AUTHOR_ONLY, body=DOCUMENT),
    Row(
        "set the grading scheme",
        "PUT",
        lambda t: f"{COURSES}/{t.course}/grading-scheme",
        200,
        AUTHOR_ONLY,
        body={"categories": [{"name": "quizzes", "weight": 1}]},
    ),
    Row(
        "start an attempt",
        "POST",
        lambda t: f"{API}/quizzes/{t.quiz}/attempts",
        201,
        COURSE_CONTENT,
        fresh=_new_quiz,
    ),
    Row(
        "save an answer in the other learner's attempt",
        "PUT",
        lambda t: f"{API}/attempts/{t.attempt_b}/answers/{t.question}",
        200,
        expect(401, 403, 403, 404, 403, 404, OK, 404),
        body={"response": {"choice": "b"}},
    ),
    Row(
        "submit the other learner's attempt",
        "POST",
        lambda t: f"{API}/attempts/{t.attempt_b}/submit",
        200,
        expect(401, 403, 403, 404, 403, 404, OK, 404),
        fresh=_new_attempt_b,
    ),
    Row(
        "grade the learner's essay",
        "PUT",
        lambda t: f"{API}/attempts/{t.attempt_a}/items/{t.essay}/grade",
        200,
        expect(401, OK, OK, 404, OK, 403, 404, 404),
        body={"rubric": {"argument": 2, "style": 1}},
    ),
    Row(
        "give feedback on the learner's attempt",
        "PUT",
        lambda t: f"{API}/attempts/{t.attempt_a}/feedback",
        200,
        expect(401, OK, OK, 404, OK, 403, 404, 404),
        body={"feedback": "See me."},
    ),
]


def body_of(row: Row, target: Target) -> Json | None:
    return row.body(target) if callable(row.body) else row.body


def check_status(response: httpx.Response, wanted: int, ok: int) -> None:
    status = ok if wanted == OK else abs(wanted)
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:300]}"
    if wanted != OK:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"] == f"urn:elearning:problem:{PROBLEM_TYPES[wanted]}"


async def test_reads(world: World) -> None:
    checks = Checks()
    for row in READS:
        for actor, wanted in zip(ACTORS, row.expect, strict=True):
            with checks.case(f"{row.name} as {actor}"):
                response = await world.request(actor, row.method, row.url(world.target), body_of(row, world.target))
                check_status(response, wanted, row.ok)
    checks.verify()


async def test_writes_and_refused_writes_change_nothing(world: World) -> None:
    checks = Checks()
    for row in WRITES:
        for actor, wanted in zip(ACTORS, row.expect, strict=True):
            with checks.case(f"{row.name} as {actor}"):
                if wanted == OK:
                    target = await row.fresh(world) if row.fresh else world.target
                    response = await world.request(actor, row.method, row.url(target), body_of(row, target))
                    check_status(response, wanted, row.ok)
                else:
                    before = await stored_state(world.api)
                    url, body = row.url(world.target), body_of(row, world.target)
                    response = await world.request(actor, row.method, url, body)
                    check_status(response, wanted, row.ok)
                    assert await stored_state(world.api) == before, "a refused write changed something"
    checks.verify()


# -- what a learner sees of the key -----------------------------------------------------------


def leaks(document: str) -> list[str]:
    return [leak for leak in LEAKS if leak in document]


async def test_no_key_reaches_a_learner_before_review(world: World) -> None:
    api, owner, learner = world.api, world.people["owner"], world.people["learner"]
    course_id = world.target.course
    kinds = ("short_text", "fill_blanks", "matching", "single_choice", "numeric")
    questions = {k: await create_question(api, course_id, a_question(k), owner.headers) for k in kinds}
    slots = [fixed(q) for q in questions.values()]
    for review in ("never", "after_due"):
        settings = quiz_settings(f"Review {review}", slots, answer_review=review, due_at=iso(timedelta(days=2)))
        quiz = await create_quiz(api, course_id, settings, owner.headers, publish=True)
        started = await api.client.post(f"{API}/quizzes/{quiz['id']}/attempts", headers=learner.headers)
        assert started.status_code == 201, started.text
        assert leaks(started.text) == [], review
        attempt = started.json()
        for kind, q in questions.items():
            await answer(api, attempt["id"], q["id"], KINDS[kind].wrong, learner)
        submitted = await submit(api, attempt["id"], learner)
        assert submitted["status"] == "graded"
        seen = await api.client.get(f"{API}/attempts/{attempt['id']}", headers=learner.headers)
        assert seen.status_code == 200, seen.text
        assert seen.json()["review"] is False
        assert leaks(seen.text) == [], review
        assert all(item["score"] is None for item in seen.json()["items"]), "item scores show before review"
        quiz_view = await api.client.get(f"{API}/quizzes/{quiz['id']}", headers=learner.headers)
        assert leaks(quiz_view.text) == []
        # Staff see the key in the same attempt: the search above would have found it.
        staff = await api.client.get(f"{API}/attempts/{attempt['id']}", headers=owner.headers)
        assert {"Marie Sklodowska", "Fleming-Alexander"} <= set(leaks(staff.text)), staff.text[:500]
