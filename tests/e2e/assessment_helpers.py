"""Builders shared by the assessment end-to-end tests: people with roles, courses, a question of every
kind with its right and wrong answers, quiz settings, and a snapshot of what the module stores.

The questions are written so that their answer keys are recognisable in a JSON document (``LEAKS``):
a test searching an attempt for them proves the key is, or is not, shown.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from elearning_adapters.sql.assessment import ASSESSMENT_TABLES
from elearning_core.identity.commands import CreateUser, RoleGrantSpec
from elearning_core.shared.ports import SYSTEM
from tests.e2e.http_helpers import COURSES, Api, Json, course_spec

API = "/api/v1"
_serial = itertools.count()


# -- people and courses ---------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    id: str
    email: str
    headers: dict[str, str]


async def person(api: Api, *, role: str | None = None, course_id: str | None = None, name: str | None = None) -> Person:
    """An account (no password: no hashing) with a role if asked (on ``course_id``, or the platform), and a token."""
    n = next(_serial)
    email = f"{name or 'person'}-{n}-{uuid.uuid4().hex[:6]}@example.org"
    display = name.title() if name else f"Person {n}"
    user = await api.platform.identity.create_user(SYSTEM, CreateUser(email=email, display_name=display))
    if role is not None:
        scope = {"scope": "course", "scope_id": uuid.UUID(course_id)} if course_id else {}
        await api.platform.identity.grant_role(SYSTEM, user.id, RoleGrantSpec(role=role, **scope))
    token = api.platform.container.identity.tokens().issue_access(str(user.id))
    return Person(str(user.id), email, {"Authorization": f"Bearer {token}"})


async def course(api: Api, *, owner: Person | None = None, status: str = "published") -> str:
    """A course (published by default, so learners can enroll), owned by ``owner`` when given."""
    slug = f"course-{next(_serial)}-{uuid.uuid4().hex[:6]}"
    spec = course_spec(slug, status=status, owner_id=uuid.UUID(owner.id) if owner else None)
    (course_id,) = await api.seed(spec)
    return course_id


async def enroll(api: Api, course_id: str, who: Person) -> None:
    response = await api.client.post(f"{COURSES}/{course_id}/enrollments", headers=who.headers)
    assert response.status_code == 201, response.text


# -- questions ------------------------------------------------------------------------------


def _options(*pairs: tuple[str, str]) -> list[Json]:
    return [{"id": i, "text": t} for i, t in pairs]


RUBRIC = [
    {
        "id": "argument",
        "title": "Argument",
        "levels": [
            {"points": 0, "description": "None"},
            {"points": 2, "description": "Weak"},
            {"points": 4, "description": "Strong"},
        ],
    },
    {
        "id": "style",
        "title": "Style",
        "levels": [{"points": 0, "description": "Poor"}, {"points": 1, "description": "Clear"}],
    },
]
ESSAY_POINTS = 5.0
"""The rubric's best levels: 4 + 1."""


@dataclass(frozen=True)
class Kind:
    """A question of one kind: what the instructor posts, a right and a wrong response, and its worth."""

    question: Json
    right: Json
    wrong: Json
    points: float


KINDS: dict[str, Kind] = {
    "single_choice": Kind(
        {
            "prompt": "Which city is the capital of France?",
            "body": {
                "kind": "single_choice",
                "options": _options(("a", "Lisbon"), ("b", "Paris"), ("c", "Rome")),
                "correct": "b",
            },
        },
        {"choice": "b"},
        {"choice": "a"},
        1.0,
    ),
    "multiple_response": Kind(
        {
            "prompt": "Which of these are prime?",
            "points": 2,
            "body": {
                "kind": "multiple_response",
                "options": _options(("a", "2"), ("b", "3"), ("c", "4"), ("d", "5")),
                "correct": ["a", "b", "d"],
                "scoring": "partial",
            },
        },
        {"choices": ["a", "b", "d"]},
        {"choices": ["c"]},
        2.0,
    ),
    "true_false": Kind(
        {"prompt": "The Earth orbits the Sun.", "body": {"kind": "true_false", "correct": True}},
        {"value": True},
        {"value": False},
        1.0,
    ),
    "numeric": Kind(
        {
            "prompt": "Give pi to two decimals.",
            "body": {
                "kind": "numeric",
                "answers": [{"value": 3.14159, "tolerance": 0.01, "tolerance_kind": "absolute"}],
            },
        },
        {"value": 3.14},
        {"value": 2.72},
        1.0,
    ),
    "short_text": Kind(
        {
            "prompt": "Who discovered polonium?",
            "body": {"kind": "short_text", "answers": [{"text": "Marie Sklodowska", "match": "case_insensitive"}]},
            "feedback": "Zebra-feedback: she named it after Poland.",
        },
        {"text": "marie sklodowska"},
        {"text": "Pierre"},
        1.0,
    ),
    "ordering": Kind(
        {
            "prompt": "Put these in order, smallest first.",
            "body": {"kind": "ordering", "items": _options(("i1", "one"), ("i2", "two"), ("i3", "three"))},
        },
        {"order": ["i1", "i2", "i3"]},
        {"order": ["i3", "i1", "i2"]},
        1.0,
    ),
    "matching": Kind(
        {
            "prompt": "Match each country with its capital.",
            "body": {
                "kind": "matching",
                "prompts": _options(("p1", "France"), ("p2", "Italy")),
                "choices": _options(("c1", "Paris"), ("c2", "Rome"), ("c3", "Oslo")),
                "pairs": {"p1": "c1", "p2": "c2"},
            },
        },
        {"pairs": {"p1": "c1", "p2": "c2"}},
        {"pairs": {"p1": "c3", "p2": "c1"}},
        1.0,
    ),
    "fill_blanks": Kind(
        {
            "prompt": "Fill in the blank.",
            "body": {
                "kind": "fill_blanks",
                "text": "Penicillin was discovered by {{who}}.",
                "blanks": {"who": [{"text": "Fleming-Alexander"}]},
            },
        },
        {"blanks": {"who": "Fleming-Alexander"}},
        {"blanks": {"who": "Pasteur"}},
        1.0,
    ),
    "essay": Kind(
        # An essay is worth what its rubric's best levels add up to (stored so, whatever ``points`` says).
        {
            "prompt": "Argue for or against homework.",
            "points": ESSAY_POINTS,
            "body": {"kind": "essay", "rubric": RUBRIC},
        },
        {"text": "Homework helps, because practice makes perfect."},
        {"text": "No."},
        ESSAY_POINTS,
    ),
}
LEAKS = (
    "Marie Sklodowska",
    "Fleming-Alexander",
    "Zebra-feedback",
    "3.14159",
    '"correct"',
    '"pairs":{"p1":"c1"',
    '"key"',
)
"""Text that appears in an attempt's JSON only when the answer key is shown."""


async def create_question(api: Api, course_id: str, question: Json, headers: dict[str, str]) -> Json:
    response = await api.client.post(f"{COURSES}/{course_id}/questions", json=question, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def a_question(kind: str = "single_choice", *, tags: list[str] | None = None, **fields: Any) -> Json:
    return KINDS[kind].question | {"tags": tags or []} | fields


# -- quizzes --------------------------------------------------------------------------------


def quiz_settings(title: str, slots: list[Json], **fields: Any) -> Json:
    """Settings for ``PUT``/``POST``: answers reviewable after submission, no shuffling surprises needed."""
    return {"title": title, "slots": slots, "answer_review": "after_submit"} | fields


def fixed(question: Json, **fields: Any) -> Json:
    return {"type": "fixed", "question_id": question["id"]} | fields


async def create_quiz(api: Api, course_id: str, settings: Json, headers: dict[str, str], *, publish: bool) -> Json:
    response = await api.client.post(f"{COURSES}/{course_id}/quizzes", json=settings, headers=headers)
    assert response.status_code == 201, response.text
    quiz = dict(response.json())
    if publish:
        published = await api.client.post(f"{API}/quizzes/{quiz['id']}/publish", headers=headers)
        assert published.status_code == 200, published.text
        quiz = dict(published.json())
    return quiz


async def start(api: Api, quiz_id: str, who: Person) -> Json:
    response = await api.client.post(f"{API}/quizzes/{quiz_id}/attempts", headers=who.headers)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def answer(api: Api, attempt_id: str, question_id: str, response: Json, who: Person) -> Json:
    saved = await api.client.put(
        f"{API}/attempts/{attempt_id}/answers/{question_id}", json={"response": response}, headers=who.headers
    )
    assert saved.status_code == 200, saved.text
    return dict(saved.json())


async def submit(api: Api, attempt_id: str, who: Person) -> Json:
    response = await api.client.post(f"{API}/attempts/{attempt_id}/submit", headers=who.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def iso(delta: timedelta) -> str:
    """Now plus ``delta``, as the API takes times."""
    return (datetime.now(UTC) + delta).isoformat()


# -- what the module stores -------------------------------------------------------------------


async def stored_state(api: Api) -> dict[str, list[tuple[str, ...]]]:
    """Every row of the assessment tables, and the outbox's size: equal snapshots mean nothing was written."""
    state: dict[str, list[tuple[str, ...]]] = {}
    async with api.platform.database.read() as conn:
        for table in ASSESSMENT_TABLES:
            rows = (await conn.execute(text(f"SELECT * FROM {table}"))).all()
            state[table] = sorted(tuple(str(v) for v in row) for row in rows)
        state["outbox"] = [(str((await conn.execute(text("SELECT count(*) FROM outbox"))).scalar_one()),)]
    return state
