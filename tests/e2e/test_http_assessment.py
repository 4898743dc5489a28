"""The assessment engine over HTTP, on SQLite and PostgreSQL: authoring, taking, grading, regrading,
the gradebook, item statistics, import and export, and the problem documents of bad input."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio

from elearning_adapters.settings import Settings
from elearning_core.assessment.commands import QuestionInput
from tests.e2e.assessment_helpers import (
    API,
    ESSAY_POINTS,
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
from tests.e2e.http_helpers import (
    ADMIN,
    BACKENDS,
    COURSES,
    PROBLEM_JSON,
    Api,
    Json,
    assert_problem,
    backend_settings,
    serve,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
ASSESSMENT_PATHS = ("/api/v1/questions", "/api/v1/quizzes", "/api/v1/attempts")
COURSE_ASSESSMENT_PARTS = ("/questions", "/quizzes", "/grading-queue", "/grading-scheme", "/gradebook", "/my-grades")


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("assessment"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="module")
async def api(running: Api) -> Api:
    return await running.reset()


@dataclass(frozen=True)
class Staffed:
    """A published course with its owner (an instructor), a teaching assistant and one enrolled learner."""

    id: str
    owner: Person
    ta: Person
    learner: Person


async def staffed_course(api: Api) -> Staffed:
    owner = await person(api, name="owner")
    course_id = await course(api, owner=owner)
    ta = await person(api, role="teaching_assistant", course_id=course_id, name="ta")
    learner = await person(api, name="learner")
    await enroll(api, course_id, learner)
    return Staffed(course_id, owner, ta, learner)


def by_question(attempt: Json) -> dict[str, Json]:
    return {item["question_id"]: item for item in attempt["items"]}


def without(body: Json, *keys: str) -> Json:
    return {k: v for k, v in body.items() if k not in keys}


# -- the whole flow ---------------------------------------------------------------------------


async def test_author_take_grade_and_report(api: Api) -> None:
    c = await staffed_course(api)
    owner, ta, learner = c.owner, c.ta, c.learner

    # The instructor writes a question of every kind (the key comes back to them) and a pool of two.
    questions: dict[str, Json] = {}
    for kind in KINDS:
        created = await create_question(api, c.id, a_question(kind, tags=["fixed"]), owner.headers)
        assert (created["kind"], created["version"], created["course_id"]) == (kind, 1, c.id)
        assert created["body"] == QuestionInput.model_validate(KINDS[kind].question).body.model_dump(mode="json")
        questions[kind] = created
    pool = [
        await create_question(
            api,
            c.id,
            a_question(
                "true_false", tags=["pool"], prompt=f"Pool question {i}", body={"kind": "true_false", "correct": i == 0}
            ),
            owner.headers,
        )
        for i in range(2)
    ]
    pool_right = {pool[0]["id"]: {"value": True}, pool[1]["id"]: {"value": False}}

    # The bank pages by id, and filters by tag.
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = await api.client.get(f"{COURSES}/{c.id}/questions", params=params, headers=owner.headers)
        assert page.status_code == 200, page.text
        seen += [q["id"] for q in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted([q["id"] for q in questions.values()] + [q["id"] for q in pool])
    tagged = await api.client.get(f"{COURSES}/{c.id}/questions", params={"tag": "pool"}, headers=owner.headers)
    assert sorted(q["id"] for q in tagged.json()["items"]) == sorted(q["id"] for q in pool)
    assert tagged.json()["next_cursor"] is None

    # A quiz of nine fixed slots and a draw of one from the pool; published; the learner lists it.
    slots = [fixed(q) for q in questions.values()] + [{"type": "draw", "tags": ["pool"], "count": 1}]
    quiz = await create_quiz(
        api, c.id, quiz_settings("Midterm", slots, pass_mark_percent=50), owner.headers, publish=False
    )
    assert quiz["status"] == "draft"
    assert [s["type"] for s in quiz["slots"]] == ["fixed"] * 9 + ["draw"]
    assert quiz["slots"][0] == {"type": "fixed", "question_id": questions["single_choice"]["id"], "points": None}
    published = await api.client.post(f"{API}/quizzes/{quiz['id']}/publish", headers=owner.headers)
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"
    listed = await api.client.get(f"{COURSES}/{c.id}/quizzes", headers=learner.headers)
    assert [(q["id"], q["status"]) for q in listed.json()["items"]] == [(quiz["id"], "published")]

    # Start twice: one attempt (201, then 200 with the same one); nothing of the key in it.
    first = await api.client.post(f"{API}/quizzes/{quiz['id']}/attempts", headers=learner.headers)
    again = await api.client.post(f"{API}/quizzes/{quiz['id']}/attempts", headers=learner.headers)
    assert (first.status_code, again.status_code) == (201, 200), (first.text, again.text)
    attempt = first.json()
    assert again.json()["id"] == attempt["id"]
    assert (attempt["status"], attempt["number"], attempt["user_id"]) == ("in_progress", 1, learner.id)
    for leak in LEAKS:
        assert leak not in first.text, f"the attempt shows {leak!r} before review"
    items = by_question(attempt)
    assert len(attempt["items"]) == 10
    drawn = [qid for qid in items if qid in pool_right]
    assert len(drawn) == 1, items.keys()

    # Autosave: twice for one question (the last wins); every other answer right but the true/false.
    await answer(api, attempt["id"], questions["single_choice"]["id"], KINDS["single_choice"].wrong, learner)
    for kind, q in questions.items():
        response = KINDS[kind].wrong if kind == "true_false" else KINDS[kind].right
        await answer(api, attempt["id"], q["id"], response, learner)
    saved = await answer(api, attempt["id"], drawn[0], pool_right[drawn[0]], learner)
    saved_items = by_question(saved)
    assert saved_items[questions["single_choice"]["id"]]["response"] == {"choice": "b"}
    assert saved_items[questions["true_false"]["id"]]["response"] == {"value": False}
    assert all(item["response"] is not None for item in saved["items"])

    # Submit twice: submitted once; the same attempt comes back.
    submitted = await submit(api, attempt["id"], learner)
    repeated = await submit(api, attempt["id"], learner)
    assert (submitted["submitted_now"], repeated["submitted_now"]) == (True, False)
    assert without(repeated, "submitted_now") == without(submitted, "submitted_now")
    assert submitted["status"] == "submitted"  # the essay waits for a person

    # The automatic scores, as staff see them: all right but the true/false; the essay pending.
    staff_view = await api.client.get(f"{API}/attempts/{attempt['id']}", headers=owner.headers)
    assert staff_view.status_code == 200, staff_view.text
    scored = by_question(staff_view.json())
    expected = {q["id"]: KINDS[kind].points for kind, q in questions.items()} | {drawn[0]: 1.0}
    expected[questions["true_false"]["id"]] = 0.0
    essay_id = questions["essay"]["id"]
    assert {qid: item["score"] for qid, item in scored.items() if qid != essay_id} == without(expected, essay_id)
    assert scored[essay_id]["needs_grading"] is True
    assert staff_view.json()["max_score"] == sum(k.points for k in KINDS.values()) + 1 == 15

    # The essay is in the grading queue; the teaching assistant grades it by the rubric.
    queue = await api.client.get(f"{COURSES}/{c.id}/grading-queue", headers=ta.headers)
    assert queue.status_code == 200, queue.text
    assert [(e["attempt_id"], e["question_id"], e["user_id"]) for e in queue.json()["items"]] == [
        (attempt["id"], essay_id, learner.id)
    ]
    graded = await api.client.put(
        f"{API}/attempts/{attempt['id']}/items/{essay_id}/grade",
        json={"rubric": {"argument": 1, "style": 1}, "feedback": "A fair start."},
        headers=ta.headers,
    )
    assert graded.status_code == 200, graded.text
    final = graded.json()
    # 9 automatic points (of 10) and 2 + 1 for the essay (of 5).
    assert (final["status"], final["score"], final["max_score"]) == ("graded", 12.0, 15.0)
    assert final["percent"] == pytest.approx(80.0)
    assert final["passed"] is True
    assert by_question(final)[essay_id]["score"] == 3.0
    assert (await api.client.get(f"{COURSES}/{c.id}/grading-queue", headers=ta.headers)).json()["items"] == []
    feedback = await api.client.put(
        f"{API}/attempts/{attempt['id']}/feedback", json={"feedback": "Well done overall."}, headers=ta.headers
    )
    assert feedback.status_code == 200, feedback.text
    assert feedback.json()["feedback"] == "Well done overall."

    # After submission the learner may review: the key now shows (so the search above can find it).
    review = await api.client.get(f"{API}/attempts/{attempt['id']}", headers=learner.headers)
    assert review.json()["review"] is True
    assert review.json()["percent"] == pytest.approx(80.0)
    assert "Marie Sklodowska" in review.text
    mine = await api.client.get(f"{API}/quizzes/{quiz['id']}/attempts", headers=learner.headers)
    assert [(a["id"], a["status"]) for a in mine.json()["items"]] == [(attempt["id"], "graded")]

    # The gradebook, as JSON and as CSV, and the learner's own row.
    book = await api.client.get(f"{COURSES}/{c.id}/gradebook", headers=owner.headers)
    assert book.status_code == 200, book.text
    (row,) = book.json()["rows"]
    assert (row["user_id"], row["email"]) == (learner.id, learner.email)
    assert row["cells"] == {quiz["id"]: pytest.approx(80.0)}
    assert row["categories"] == {"quizzes": pytest.approx(80.0)}
    assert row["total"] == pytest.approx(80.0)
    mine_book = await api.client.get(f"{COURSES}/{c.id}/my-grades", headers=learner.headers)
    assert mine_book.status_code == 200, mine_book.text
    assert [r["total"] for r in mine_book.json()["rows"]] == [pytest.approx(80.0)]

    exported = await api.client.get(f"{COURSES}/{c.id}/gradebook.csv", headers=ta.headers)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert exported.headers["content-disposition"].startswith("attachment;")
    header, *rows = list(csv.reader(io.StringIO(exported.text)))
    assert header == ["user_id", "name", "email", "Midterm", "category: quizzes", "total"]
    assert rows == [[learner.id, "Learner", learner.email, "80.00", "80.00", "80.00"]]

    # Item statistics: one graded attempt, so facility is each item's fraction and discrimination unknown.
    stats = await api.client.get(f"{API}/quizzes/{quiz['id']}/statistics", headers=ta.headers)
    assert stats.status_code == 200, stats.text
    by_id = {s["question_id"]: s for s in stats.json()["items"]}
    assert set(by_id) == set(expected)
    assert by_id[questions["true_false"]["id"]]["facility"] == 0.0
    assert by_id[questions["single_choice"]["id"]]["facility"] == 1.0
    assert by_id[essay_id]["facility"] == pytest.approx(3 / ESSAY_POINTS)
    assert all(s["responses"] == 1 and s["discrimination"] is None for s in by_id.values())


# -- late work --------------------------------------------------------------------------------


async def test_late_submission_loses_the_deduction(api: Api) -> None:
    c = await staffed_course(api)
    question = await create_question(api, c.id, a_question("true_false"), c.owner.headers)
    late_rules = {"deduction_percent": 10, "per": "hour", "floor_percent": 50}
    settings = quiz_settings(
        "Homework 1",
        [fixed(question)],
        due_at=iso(-timedelta(minutes=30)),
        closes_at=iso(timedelta(days=1)),
        late_policy=late_rules,
    )
    quiz = await create_quiz(api, c.id, settings, c.owner.headers, publish=True)
    attempt = await start(api, quiz["id"], c.learner)
    await answer(api, attempt["id"], question["id"], KINDS["true_false"].right, c.learner)
    done = await submit(api, attempt["id"], c.learner)
    # Half an hour late: one started hour, 10 points off a full score.
    assert done["status"] == "graded"
    assert done["late_seconds"] >= 30 * 60
    assert (done["score"], done["max_score"]) == (1.0, 1.0)
    assert done["percent"] == pytest.approx(90.0)
    book = (await api.client.get(f"{COURSES}/{c.id}/gradebook", headers=c.owner.headers)).json()
    assert book["rows"][0]["cells"] == {quiz["id"]: pytest.approx(90.0)}


async def test_categories_are_weighted_in_the_total(api: Api) -> None:
    c = await staffed_course(api)
    question = await create_question(api, c.id, a_question("true_false"), c.owner.headers)
    scheme = {"categories": [{"name": "quizzes", "weight": 1}, {"name": "exams", "weight": 3}]}
    put = await api.client.put(f"{COURSES}/{c.id}/grading-scheme", json=scheme, headers=c.owner.headers)
    assert put.status_code == 200, put.text
    read = await api.client.get(f"{COURSES}/{c.id}/grading-scheme", headers=c.owner.headers)
    assert [(k["name"], k["weight"], k["drop_lowest"]) for k in read.json()["categories"]] == [
        ("quizzes", 1.0, 0),
        ("exams", 3.0, 0),
    ]
    weekly = await create_quiz(api, c.id, quiz_settings("Weekly", [fixed(question)]), c.owner.headers, publish=True)
    final = await create_quiz(
        api, c.id, quiz_settings("Final", [fixed(question)], category="exams"), c.owner.headers, publish=True
    )
    for quiz, response in ((weekly, KINDS["true_false"].right), (final, KINDS["true_false"].wrong)):
        attempt = await start(api, quiz["id"], c.learner)
        await answer(api, attempt["id"], question["id"], response, c.learner)
        await submit(api, attempt["id"], c.learner)
    (row,) = (await api.client.get(f"{COURSES}/{c.id}/gradebook", headers=c.ta.headers)).json()["rows"]
    assert row["categories"] == {"quizzes": pytest.approx(100.0), "exams": pytest.approx(0.0)}
    assert row["total"] == pytest.approx(25.0)  # (100 x 1 + 0 x 3) / 4
    exported = await api.client.get(f"{COURSES}/{c.id}/gradebook.csv", headers=c.ta.headers)
    (data,) = list(csv.reader(io.StringIO(exported.text)))[1:]
    assert data[-1] == "25.00"


# -- attempts limits and extensions -----------------------------------------------------------


async def test_an_extension_gives_another_attempt(api: Api) -> None:
    c = await staffed_course(api)
    question = await create_question(api, c.id, a_question("true_false"), c.owner.headers)
    quiz = await create_quiz(
        api, c.id, quiz_settings("Once", [fixed(question)], max_attempts=1), c.owner.headers, publish=True
    )
    draft = await create_quiz(api, c.id, quiz_settings("Not yet", [fixed(question)]), c.owner.headers, publish=False)
    as_learner = await api.client.get(f"{COURSES}/{c.id}/quizzes", headers=c.learner.headers)
    assert [q["id"] for q in as_learner.json()["items"]] == [quiz["id"]]
    as_owner = await api.client.get(f"{COURSES}/{c.id}/quizzes", headers=c.owner.headers)
    assert sorted(q["id"] for q in as_owner.json()["items"]) == sorted([quiz["id"], draft["id"]])

    first = await start(api, quiz["id"], c.learner)
    await submit(api, first["id"], c.learner)
    refused = await api.client.post(f"{API}/quizzes/{quiz['id']}/attempts", headers=c.learner.headers)
    assert assert_problem(refused, 409)["type"] == "urn:elearning:problem:no-attempts-left"
    closed = await api.client.put(
        f"{API}/attempts/{first['id']}/answers/{question['id']}",
        json={"response": {"value": True}},
        headers=c.learner.headers,
    )
    assert assert_problem(closed, 409)["type"] == "urn:elearning:problem:attempt-closed"

    url = f"{API}/quizzes/{quiz['id']}/extensions/{c.learner.id}"
    extended = await api.client.put(url, json={"extra_attempts": 1}, headers=c.owner.headers)
    assert extended.status_code == 200, extended.text
    assert (extended.json()["user_id"], extended.json()["extra_attempts"]) == (c.learner.id, 1)
    second = await api.client.post(f"{API}/quizzes/{quiz['id']}/attempts", headers=c.learner.headers)
    assert second.status_code == 201, second.text
    assert second.json()["number"] == 2
    assert (await api.client.delete(url, headers=c.owner.headers)).status_code == 204

    listed = await api.client.get(
        f"{API}/quizzes/{quiz['id']}/attempts", params={"user_id": c.learner.id}, headers=c.ta.headers
    )
    assert [a["number"] for a in listed.json()["items"]] == [1, 2]
    assert listed.json()["next_cursor"] is None


# -- the grading queue ------------------------------------------------------------------------


async def test_grading_queue_pages_with_an_opaque_cursor(api: Api) -> None:
    c = await staffed_course(api)
    essay = await create_question(api, c.id, a_question("essay"), c.owner.headers)
    quiz = await create_quiz(api, c.id, quiz_settings("Essays", [fixed(essay)]), c.owner.headers, publish=True)
    other = await create_quiz(api, c.id, quiz_settings("More essays", [fixed(essay)]), c.owner.headers, publish=True)
    attempts = []
    for who in (c.learner, await person(api), await person(api)):
        if who is not c.learner:
            await enroll(api, c.id, who)
        attempt = await start(api, quiz["id"], who)
        await answer(api, attempt["id"], essay["id"], KINDS["essay"].right, who)
        attempts.append((await submit(api, attempt["id"], who))["id"])
    outside = await start(api, other["id"], c.learner)
    await answer(api, outside["id"], essay["id"], KINDS["essay"].right, c.learner)
    await submit(api, outside["id"], c.learner)  # in the queue too, but not in the quiz's

    url = f"{COURSES}/{c.id}/grading-queue"
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2, "quiz_id": quiz["id"]} | ({"cursor": cursor} if cursor else {})
        page = await api.client.get(url, params=params, headers=c.ta.headers)
        assert page.status_code == 200, page.text
        seen += [e["attempt_id"] for e in page.json()["items"]]
        assert all(e["quiz_id"] == quiz["id"] for e in page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == attempts  # oldest submission first, each once
    everything = await api.client.get(url, headers=c.ta.headers)
    assert [e["attempt_id"] for e in everything.json()["items"]] == [*attempts, outside["id"]]

    for bad in ("not-a-cursor", "AAAA", "x" * 201):
        assert_problem(await api.client.get(url, params={"cursor": bad}, headers=c.ta.headers), 422, field="cursor")
    # A cursor is bound to its listing: one from the quiz's queue does not page the whole course's.
    first = await api.client.get(url, params={"limit": 1, "quiz_id": quiz["id"]}, headers=c.ta.headers)
    other_listing = {"cursor": first.json()["next_cursor"]}
    assert_problem(await api.client.get(url, params=other_listing, headers=c.ta.headers), 422, field="cursor")


# -- regrading --------------------------------------------------------------------------------


async def test_regrade_dry_run_reports_then_commit_changes_grades(api: Api) -> None:
    c = await staffed_course(api)
    other = await person(api)
    await enroll(api, c.id, other)
    wrong_key = a_question("single_choice") | {
        "body": KINDS["single_choice"].question["body"] | {"correct": "a"}  # Lisbon: a mistake
    }
    question = await create_question(api, c.id, wrong_key, c.owner.headers)
    quiz = await create_quiz(api, c.id, quiz_settings("Capitals", [fixed(question)]), c.owner.headers, publish=True)
    ids = {}
    for who, response in ((c.learner, {"choice": "b"}), (other, {"choice": "a"})):
        attempt = await start(api, quiz["id"], who)
        await answer(api, attempt["id"], question["id"], response, who)
        ids[who.id] = (await submit(api, attempt["id"], who))["id"]
    percents = {
        uid: (await api.client.get(f"{API}/attempts/{aid}", headers=ADMIN)).json()["percent"]
        for uid, aid in ids.items()
    }
    assert percents == {c.learner.id: 0.0, other.id: 100.0}

    url = f"{API}/questions/{question['id']}/regrade"
    fixed_body = KINDS["single_choice"].question["body"]
    before = await stored_state(api)
    dry = await api.client.post(url, json={"body": fixed_body}, headers=c.owner.headers)
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert (report["dry_run"], report["new_version"], report["attempts"]) == (True, None, 2)
    changes = {ch["user_id"]: ch for ch in report["changes"]}
    assert set(changes) == {c.learner.id, other.id}
    assert (changes[c.learner.id]["item_before"], changes[c.learner.id]["item_after"]) == (0.0, 1.0)
    assert (changes[c.learner.id]["percent_before"], changes[c.learner.id]["percent_after"]) == (0.0, 100.0)
    assert (changes[other.id]["percent_before"], changes[other.id]["percent_after"]) == (100.0, 0.0)
    assert await stored_state(api) == before, "a dry run wrote something"

    incompatible = {"body": {"kind": "true_false", "correct": True}, "dry_run": False}
    assert_problem(await api.client.post(url, json=incompatible, headers=c.owner.headers), 422, field="body")

    committed = await api.client.post(url, json={"body": fixed_body, "dry_run": False}, headers=c.owner.headers)
    assert committed.status_code == 200, committed.text
    assert (committed.json()["dry_run"], committed.json()["new_version"]) == (False, 2)
    after = {
        uid: (await api.client.get(f"{API}/attempts/{aid}", headers=ADMIN)).json()["percent"]
        for uid, aid in ids.items()
    }
    assert after == {c.learner.id: 100.0, other.id: 0.0}
    current = (await api.client.get(f"{API}/questions/{question['id']}", headers=c.owner.headers)).json()
    assert (current["version"], current["key_fix_of"], current["body"]["correct"]) == (2, 1, "b")
    first = await api.client.get(f"{API}/questions/{question['id']}", params={"version": 1}, headers=c.owner.headers)
    assert (first.json()["version"], first.json()["body"]["correct"]) == (1, "a")
    book = (await api.client.get(f"{COURSES}/{c.id}/gradebook", headers=c.owner.headers)).json()
    assert {r["user_id"]: r["cells"][quiz["id"]] for r in book["rows"]} == {c.learner.id: 100.0, other.id: 0.0}


# -- import and export ------------------------------------------------------------------------


def normalised(document: Json) -> Json:
    """A quiz document without its refs: fixed slots name their question's prompt, questions sorted."""
    prompts = {q["ref"]: q["prompt"] for q in document["questions"]}
    quiz = dict(document["quiz"])
    quiz["slots"] = [
        {k: v for k, v in slot.items() if k != "ref"} | ({"question": prompts[slot["ref"]]} if "ref" in slot else {})
        for slot in quiz["slots"]
    ]
    questions = sorted((without(q, "ref") for q in document["questions"]), key=lambda q: q["prompt"])
    return {"format": document["format"], "quiz": quiz, "questions": questions}


async def test_export_then_import_into_another_course_round_trips(api: Api) -> None:
    c = await staffed_course(api)
    questions = [
        await create_question(api, c.id, a_question(kind, tags=["unit-1"]), c.owner.headers)
        for kind in ("single_choice", "numeric", "matching", "essay")
    ]
    pool = [
        await create_question(api, c.id, a_question("true_false", tags=["pool"], prompt=f"Pool {i}"), c.owner.headers)
        for i in range(3)
    ]
    settings = quiz_settings(
        "Unit 1",
        [fixed(questions[0], points=3), *map(fixed, questions[1:]), {"type": "draw", "tags": ["pool"], "count": 2}],
        description="Everything of unit 1.",
        time_limit_seconds=1800,
        max_attempts=2,
        grading_policy="latest",
        due_at="2031-06-30T17:00:00Z",
        closes_at="2031-07-07T17:00:00Z",
        late_policy={"deduction_percent": 5, "per": "day", "floor_percent": 40, "missing_grade_percent": 0},
    )
    quiz = await create_quiz(api, c.id, settings, c.owner.headers, publish=True)
    exported = await api.client.get(f"{API}/quizzes/{quiz['id']}/export", headers=c.owner.headers)
    assert exported.status_code == 200, exported.text
    document = exported.json()
    assert document["format"] == "elearning.quiz.v1"
    assert len(document["questions"]) == len(questions) + len(pool)
    assert document["quiz"]["slots"][0]["points"] == 3
    assert "question_id" not in json.dumps(document["quiz"]["slots"])

    target = await course(api, owner=c.owner)
    before = await api.client.get(f"{COURSES}/{target}/questions", headers=c.owner.headers)
    assert before.json()["items"] == []
    imported = await api.client.post(f"{COURSES}/{target}/quizzes/import", json=document, headers=c.owner.headers)
    assert imported.status_code == 201, imported.text
    copy = imported.json()
    assert (copy["course_id"], copy["status"], copy["title"]) == (target, "draft", "Unit 1")
    bank = await api.client.get(f"{COURSES}/{target}/questions", headers=c.owner.headers)
    assert len(bank.json()["items"]) == len(document["questions"])
    assert {q["id"] for q in bank.json()["items"]}.isdisjoint(q["id"] for q in questions + pool)

    again = await api.client.get(f"{API}/quizzes/{copy['id']}/export", headers=c.owner.headers)
    assert normalised(again.json()) == normalised(document)


async def test_a_bad_document_imports_nothing(api: Api) -> None:
    c = await staffed_course(api)
    question = a_question("true_false") | {"ref": "q1"}
    good = {
        "format": "elearning.quiz.v1",
        "quiz": {"title": "T", "slots": [{"type": "fixed", "ref": "q1"}]},
        "questions": [question],
    }
    url = f"{COURSES}/{c.id}/quizzes/import"
    before = await stored_state(api)
    cases = [
        (good | {"format": "elearning.quiz.v9"}, "format"),
        (good | {"quiz": {"title": "", "slots": []}}, "quiz.title"),
        (good | {"questions": [question | {"ref": "has space"}]}, "questions.0.ref"),
        (good | {"quiz": {"title": "T", "slots": [{"type": "fixed", "ref": "missing"}]}}, "quiz.slots.0.ref"),
        (
            good | {"questions": [question | {"body": {"kind": "single_choice", "options": [], "correct": "a"}}]},
            "questions.0.body",
        ),
    ]
    for document, field in cases:
        assert_problem(await api.client.post(url, json=document, headers=c.owner.headers), 422, field=field)
    assert await stored_state(api) == before
    assert (await api.client.post(url, json=good, headers=c.owner.headers)).status_code == 201


# -- validation problems ----------------------------------------------------------------------


async def test_bad_questions_and_responses_are_422_naming_the_field(api: Api) -> None:
    c = await staffed_course(api)
    url = f"{COURSES}/{c.id}/questions"
    single = KINDS["single_choice"].question
    bad_questions = [
        (single | {"prompt": ""}, "prompt"),
        (single | {"points": 0}, "points"),
        ({"prompt": "No key"}, "body"),
        (single | {"body": {"kind": "no_such_kind"}}, "body"),
        (single | {"body": single["body"] | {"correct": "z"}}, "body.correct"),
        (
            single | {"body": single["body"] | {"options": [{"id": "a", "text": "A"}, {"id": "a", "text": "B"}]}},
            "body.options",
        ),
        (single | {"tags": ["Not A Tag!"]}, "tags"),
        (single | {"surprise": 1}, "surprise"),
        (
            a_question("short_text") | {"body": {"kind": "short_text", "answers": [{"text": "(", "match": "regex"}]}},
            "body.answers",
        ),
        (
            a_question("fill_blanks")
            | {"body": KINDS["fill_blanks"].question["body"] | {"blanks": {"other": [{"text": "x"}]}}},
            "body.blanks",
        ),
    ]
    before = await stored_state(api)
    for body, field in bad_questions:
        assert_problem(await api.client.post(url, json=body, headers=c.owner.headers), 422, field=field)
    assert await stored_state(api) == before
    assert_problem(
        await api.client.post(
            url, content=b"{not json", headers=c.owner.headers | {"Content-Type": "application/json"}
        ),
        400,
    )

    questions = {
        k: await create_question(api, c.id, a_question(k), c.owner.headers)
        for k in ("single_choice", "numeric", "matching")
    }
    quiz = await create_quiz(
        api, c.id, quiz_settings("Checks", [fixed(q) for q in questions.values()]), c.owner.headers, publish=True
    )
    attempt = await start(api, quiz["id"], c.learner)
    bad_responses = [
        ("single_choice", {"response": {"choice": "zzz"}}, "response.choice"),
        ("single_choice", {"response": {"value": True}}, "response"),
        ("numeric", {"response": {"value": "three"}}, "response"),
        ("matching", {"response": {"pairs": {"p9": "c1"}}}, "response"),
        ("single_choice", {}, "response"),
        ("single_choice", {"response": {"choice": "b"}, "extra": 1}, "extra"),
    ]
    for kind, body, field in bad_responses:
        saved = await api.client.put(
            f"{API}/attempts/{attempt['id']}/answers/{questions[kind]['id']}", json=body, headers=c.learner.headers
        )
        assert_problem(saved, 422, field=field)
    unknown = await api.client.put(
        f"{API}/attempts/{attempt['id']}/answers/{questions['single_choice']['id'][:-4]}beef",
        json={"response": {"choice": "b"}},
        headers=c.learner.headers,
    )
    assert unknown.status_code in (404, 422), unknown.text
    assert unknown.headers["content-type"].startswith(PROBLEM_JSON)
    view = (await api.client.get(f"{API}/attempts/{attempt['id']}", headers=c.learner.headers)).json()
    assert [item["response"] for item in view["items"]] == [None, None, None]

    bad_quiz = quiz_settings("Bad", [{"type": "draw", "tags": ["x"], "count": 0}])
    assert_problem(
        await api.client.post(f"{COURSES}/{c.id}/quizzes", json=bad_quiz, headers=c.owner.headers), 422, field="slots"
    )
    empty_pool = quiz_settings("Empty pool", [{"type": "draw", "tags": ["nothing-has-this"], "count": 1}])
    draft = await create_quiz(api, c.id, empty_pool, c.owner.headers, publish=False)
    unfillable = await api.client.post(f"{API}/quizzes/{draft['id']}/publish", headers=c.owner.headers)
    assert assert_problem(unfillable, 409)["type"] == "urn:elearning:problem:quiz-cannot-be-filled"


# -- the OpenAPI document ---------------------------------------------------------------------


async def test_every_assessment_operation_is_documented_with_problem_errors(api: Api) -> None:
    response = await api.client.get("/schema/openapi.json")
    document = json.loads(response.content)
    operations = {
        (path, method): operation
        for path, item in document["paths"].items()
        if path.startswith(ASSESSMENT_PATHS)
        or (path.startswith(COURSES) and path.endswith(COURSE_ASSESSMENT_PARTS))
        or path.endswith(("/quizzes/import", "/gradebook.csv"))
        for method, operation in item.items()
        if method in HTTP_METHODS
    }
    assert len(operations) == 29, sorted(operations)
    for key, operation in operations.items():
        assert operation.get("summary"), f"{key} has no summary"
        errors = {status: r for status, r in operation["responses"].items() if status.startswith("4")}
        assert {"401", "403", "404", "422"} <= errors.keys(), (key, sorted(errors))
        for status, spec in errors.items():
            assert set(spec.get("content", {})) == {PROBLEM_JSON}, (key, status)
    csv_response = operations[("/api/v1/courses/{course_id}/gradebook.csv", "get")]["responses"]["200"]
    assert set(csv_response["content"]) == {"text/csv"}
    schemas = document["components"]["schemas"]
    assert {
        "QuestionOut",
        "QuizOut",
        "AttemptOut",
        "SubmittedAttemptOut",
        "QuizDocument",
        "RegradeReport",
    } <= schemas.keys()
    assert {"SingleChoice", "Essay", "FillBlanks"} <= schemas.keys()  # the question bodies are documented
