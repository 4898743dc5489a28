"""The at-risk read port's contract, on the fake, SQLite and PostgreSQL: one world of source facts written
to each (the SQL backends get the modules' own tables' rows), the same readings read back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from elearning_adapters.sql.analytics_reads import SqlAtRiskReads
from elearning_adapters.sql.assessment import attempts, quiz_extensions, quizzes
from elearning_adapters.sql.course import courses
from elearning_adapters.sql.discussion import discussion_posts, discussion_threads
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.enrollment import cohorts, enrollments
from elearning_adapters.sql.identity import users
from elearning_adapters.sql.progress import completion_rules, course_progress, lesson_marks, video_watches
from elearning_core.analytics.at_risk import LearnerFacts
from elearning_core.analytics.at_risk_service import AtRiskReads
from tests.analytics_risk_fakes import Enrollment, InMemoryAtRiskReads, Quiz, RiskWorld
from tests.contract.conftest import sql_database

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
COURSE, OTHER = uuid.UUID(int=1), uuid.UUID(int=2)
ADA, BOB, CY, DEE, EVE = (uuid.UUID(int=n) for n in (101, 102, 103, 104, 105))
COHORT = uuid.UUID(int=30)
FINAL, DRAFT, OTHERS_QUIZ = uuid.UUID(int=70), uuid.UUID(int=71), uuid.UUID(int=72)
OPTIONAL = uuid.UUID(int=50)


@dataclass(frozen=True)
class Backend:
    name: str
    reads: AtRiskReads
    seed: Callable[[RiskWorld], Awaitable[None]]


@pytest.fixture(autouse=True)
def _databases_created_outside_the_event_loop(request: pytest.FixtureRequest) -> None:
    param = getattr(getattr(request.node, "callspec", None), "params", {}).get("backend")
    if param == "postgres":
        request.getfixturevalue("postgres_url")
    if param == "sqlite":
        request.getfixturevalue("migrated_sqlite_file")


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "fake":
        fake = InMemoryAtRiskReads(RiskWorld())

        async def keep(world: RiskWorld) -> None:
            fake.world = world

        yield Backend("fake", fake, keep)
        return
    db = await sql_database(request, tmp_path)
    try:
        yield Backend(request.param, SqlAtRiskReads(db), lambda world: _write_world(db, world))
    finally:
        await db.dispose()


# -- the world as the modules' rows ----------------------------------------------------------------


async def _write_world(db: Database, w: RiskWorld) -> None:
    course_ids = {e.course_id for e in w.enrollments} | {q.course_id for q in w.quizzes.values()}
    rows: list[tuple[Any, list[dict[str, Any]]]] = [
        (courses, [_course(c) for c in sorted(course_ids)]),
        (users, [_user(u, name, email) for u, (name, email) in w.users.items()]),
        (cohorts, [_cohort(c, course, at) for c, (course, at) in w.cohorts.items()]),
        (enrollments, [_enrollment(e) for e in w.enrollments]),
        (quizzes, [_quiz(q, quiz) for q, quiz in w.quizzes.items()]),
        (quiz_extensions, [_extension(q, u, n) for (q, u), n in w.extensions.items()]),
        (completion_rules, [_rules(c, g, o) for c, (g, o) in w.rules.items()]),
    ]
    progress = dict(w.progress)
    activity: dict[str, list[tuple[uuid.UUID, uuid.UUID, datetime]]] = {}
    for course_id, user_id, kind, at in w.activity:
        activity.setdefault(kind, []).append((course_id, user_id, at))
    # Every view, done mark and heartbeat moves the progress row's last activity forward with its fact
    # (ProgressRepository.touch); "progress" is that row's time alone.
    last: dict[tuple[uuid.UUID, uuid.UUID], datetime] = {}
    for kind in ("viewed", "done", "watched", "progress"):
        for c, u, at in activity.get(kind, []):
            last[(c, u)] = max(at, last.get((c, u), at))
    activity.pop("progress", None)
    rows.append((lesson_marks, [_mark(c, u, at, None) for c, u, at in activity.pop("viewed", [])]))
    rows.append((lesson_marks, [_mark(c, u, None, at) for c, u, at in activity.pop("done", [])]))
    rows.append((video_watches, [_watch(c, u, at) for c, u, at in activity.pop("watched", [])]))
    rows.append(
        (
            course_progress,
            [_progress(c, u, *progress.get((c, u), (0, 0)), last.get((c, u))) for c, u in {*progress, *last}],
        )
    )
    course_quiz = {}
    for course_id in course_ids:  # attempts need a quiz of the course: a practice quiz per course
        course_quiz[course_id] = quiz_id = uuid.uuid4()
        rows.append((quizzes, [_quiz(quiz_id, Quiz(course_id, "Practice"))]))
    rows.append(
        (attempts, [_attempt(course_quiz[c], c, u, at, None) for c, u, at in activity.pop("attempt_started", [])])
    )
    submitted = activity.pop("attempt_submitted", [])
    rows.append((attempts, [_attempt(course_quiz[c], c, u, at - DAY * 365, at) for c, u, at in submitted]))
    threads = [(uuid.uuid4(), c, u, at) for c, u, at in activity.pop("thread", [])]
    rows.append((discussion_threads, [_thread(t, c, u, at) for t, c, u, at in threads]))
    for course_id, user_id, at in activity.pop("post", []):
        thread_id = uuid.uuid4()  # someone else's old thread, answered by the learner
        rows.append((discussion_threads, [_thread(thread_id, course_id, None, NOW - 900 * DAY)]))
        rows.append((discussion_posts, [_post(thread_id, user_id, at)]))
    assert not activity, f"activity kinds not written: {sorted(activity)}"
    async with db.write() as conn:
        for table, values in rows:
            if values:
                await conn.execute(insert(table), values)
        await conn.commit()


def _course(course_id: uuid.UUID) -> dict[str, Any]:
    return {
        "id": course_id, "slug": f"c-{course_id.hex}", "title": "Course", "summary": "", "description": "",
        "language": "en", "level": "beginner", "tags": [], "status": "published", "version": 1, "created_at": NOW,
        "updated_at": NOW, "section_count": 0, "lesson_count": 0, "search_text": "Course",
    }  # fmt: skip


def _user(user_id: uuid.UUID, name: str, email: str) -> dict[str, Any]:
    return {
        "id": user_id, "email": email, "email_key": email.lower(), "display_name": name, "locale": "en",
        "time_zone": "UTC", "status": "active", "password_hash": None, "email_verified_at": NOW, "bio": "",
        "suspended_reason": "", "deleted_at": None, "created_at": NOW, "updated_at": NOW, "version": 1,
    }  # fmt: skip


def _cohort(cohort_id: uuid.UUID, course_id: uuid.UUID, starts_at: datetime | None) -> dict[str, Any]:
    return {"id": cohort_id, "course_id": course_id, "name": "Spring", "capacity": None, "starts_at": starts_at,
            "created_at": NOW - 100 * DAY}  # fmt: skip


def _enrollment(e: Enrollment) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(), "course_id": e.course_id, "user_id": e.user_id, "cohort_id": e.cohort_id,
        "status": e.status, "source": "self", "enrolled_at": e.enrolled_at,
        "completed_at": e.enrolled_at if e.status == "completed" else None,
        "unenrolled_at": e.enrolled_at if e.status == "unenrolled" else None,
    }  # fmt: skip


def _quiz(quiz_id: uuid.UUID, quiz: Quiz) -> dict[str, Any]:
    settings = {
        "shuffle_questions": False, "shuffle_options": False, "time_limit_seconds": None, "grace_seconds": 0,
        "max_attempts": quiz.max_attempts,
        "late_policy": {"deduction_percent": 0.0, "per": "day", "floor_percent": 0.0, "missing_grade_percent": None}, "grading_policy": "highest",
        "pass_mark_percent": quiz.pass_mark_percent, "answer_review": "after_submit",
    }  # fmt: skip
    return {
        "id": quiz_id, "course_id": quiz.course_id, "title": quiz.title, "description": "", "category": "exams",
        "status": quiz.status, "slots": [], "settings": settings, "opens_at": None, "due_at": None,
        "closes_at": None, "created_at": NOW, "updated_at": NOW, "published_at": NOW,
    }  # fmt: skip


def _extension(quiz_id: uuid.UUID, user_id: uuid.UUID, extra: int) -> dict[str, Any]:
    return {"quiz_id": quiz_id, "user_id": user_id, "due_at": None, "closes_at": None, "extra_attempts": extra,
            "extra_time_seconds": 0}  # fmt: skip


def _rules(course_id: uuid.UUID, min_grade: float | None, optional: frozenset[uuid.UUID]) -> dict[str, Any]:
    return {"course_id": course_id, "text_requires_done": False, "video_percent": 90,
            "assessment_requires_pass": True, "min_grade_percent": min_grade,
            "optional_lesson_ids": sorted(str(i) for i in optional)}  # fmt: skip


def _mark(course_id: uuid.UUID, user_id: uuid.UUID, viewed: datetime | None, done: datetime | None) -> dict[str, Any]:
    return {"course_id": course_id, "user_id": user_id, "lesson_id": uuid.uuid4(), "viewed_at": viewed,
            "done_at": done}  # fmt: skip


def _watch(course_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> dict[str, Any]:
    return {"course_id": course_id, "user_id": user_id, "video_id": uuid.uuid4(), "intervals": [[0, 5]],
            "watched_seconds": 5.0, "updated_at": at}  # fmt: skip


def _progress(
    course_id: uuid.UUID, user_id: uuid.UUID, required: int, done: int, last: datetime | None
) -> dict[str, Any]:
    return {"course_id": course_id, "user_id": user_id, "required_lessons": required, "required_completed": done,
            "percent": 0.0, "completed_at": None, "completion_source": None, "version_number": 1,
            "last_lesson_id": uuid.uuid4() if last else None, "last_video_id": None, "last_position_seconds": None,
            "last_activity_at": last}  # fmt: skip


_numbers: dict[tuple[uuid.UUID, uuid.UUID], int] = {}


def _attempt(
    quiz_id: uuid.UUID, course_id: uuid.UUID, user_id: uuid.UUID, started: datetime, submitted: datetime | None
) -> dict[str, Any]:
    number = _numbers[(quiz_id, user_id)] = _numbers.get((quiz_id, user_id), 0) + 1
    return {
        "id": uuid.uuid4(), "quiz_id": quiz_id, "course_id": course_id, "user_id": user_id, "number": number,
        "seed": 1, "status": "graded" if submitted else "in_progress", "started_at": started, "time_ends_at": None,
        "grace_seconds": 0, "expires_at": None, "submitted_at": submitted, "submit_reason": None, "late_seconds": 0,
        "score": None, "max_score": 1.0, "penalty_percent": 0.0, "percent": None, "passed": None, "feedback": None,
        "graded_at": None, "late_policy": None, "pass_mark_percent": None, "version": 1,
    }  # fmt: skip


def _thread(thread_id: uuid.UUID, course_id: uuid.UUID, author: uuid.UUID | None, at: datetime) -> dict[str, Any]:
    return {
        "id": thread_id, "course_id": course_id, "kind": "discussion", "title": "Hello", "author_id": author,
        "anonymous": False, "lesson_id": None, "cohort_id": None, "accepted_post_id": None, "pinned": False,
        "closed": False, "locked": False, "unanswered": False, "votes": 0, "reply_count": 0, "created_at": at,
        "last_activity_at": at,
    }  # fmt: skip


def _post(thread_id: uuid.UUID, author: uuid.UUID, at: datetime) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(), "thread_id": thread_id, "parent_id": None, "depth": 1, "author_id": author,
        "anonymous": True, "body": "reply", "created_at": at, "edited_at": None, "votes": 0, "endorsed": False,
        "state": "visible", "flag_count": 0,
    }  # fmt: skip


# -- the contract ---------------------------------------------------------------------------------


def _world() -> RiskWorld:
    people = (ADA, BOB, CY, DEE, EVE)
    return RiskWorld(
        users={u: (f"User {u.int}", f"u{u.int}@example.org") for u in people},
        enrollments=[
            Enrollment(COURSE, ADA, NOW - 40 * DAY),
            Enrollment(COURSE, BOB, NOW - 30 * DAY, cohort_id=COHORT),
            Enrollment(COURSE, CY, NOW - 20 * DAY),
            Enrollment(COURSE, DEE, NOW - 20 * DAY, status="completed"),
            Enrollment(COURSE, EVE, NOW - 20 * DAY, status="unenrolled"),
            Enrollment(OTHER, ADA, NOW - 5 * DAY),
        ],
        cohorts={COHORT: (COURSE, NOW - 35 * DAY)},
        activity=[
            (COURSE, ADA, "viewed", NOW - 9 * DAY),
            (COURSE, ADA, "done", NOW - 8 * DAY),
            (COURSE, ADA, "watched", NOW - 7 * DAY),
            (COURSE, ADA, "progress", NOW - 6 * DAY),
            (COURSE, BOB, "attempt_started", NOW - 5 * DAY),
            (COURSE, BOB, "attempt_submitted", NOW - 4 * DAY),
            (COURSE, BOB, "viewed", NOW - 12 * DAY),
            (COURSE, CY, "thread", NOW - 3 * DAY),
            (COURSE, CY, "post", NOW - 2 * DAY),
            (OTHER, ADA, "viewed", NOW - DAY),  # another course's activity is not this course's
            (COURSE, DEE, "viewed", NOW - DAY),
        ],
        progress={(COURSE, ADA): (10, 4), (COURSE, BOB): (10, 7), (OTHER, ADA): (3, 3)},
        rules={COURSE: (55.0, frozenset({OPTIONAL})), OTHER: (None, frozenset())},
        quizzes={
            FINAL: Quiz(COURSE, "Final", pass_mark_percent=60.0, max_attempts=2),
            DRAFT: Quiz(COURSE, "Draft", status="draft", pass_mark_percent=50.0),
            OTHERS_QUIZ: Quiz(OTHER, "Other", pass_mark_percent=70.0),
            uuid.UUID(int=73): Quiz(COURSE, "Unmarked"),
        },
        extensions={(FINAL, BOB): 1, (DRAFT, CY): 2, (OTHERS_QUIZ, ADA): 1},
    )


async def test_the_active_learners_with_their_start_progress_and_latest_activity(backend: Backend) -> None:
    await backend.seed(_world())
    readings = await backend.reads.readings(COURSE)
    assert readings.learners == [
        LearnerFacts(ADA, "User 101", "u101@example.org", NOW - 40 * DAY, None, None, NOW - 6 * DAY, 10, 4),
        LearnerFacts(BOB, "User 102", "u102@example.org", NOW - 30 * DAY, COHORT, NOW - 35 * DAY, NOW - 4 * DAY, 10, 7),
        LearnerFacts(CY, "User 103", "u103@example.org", NOW - 20 * DAY, None, None, NOW - 2 * DAY, 0, 0),
    ]


async def test_the_rules_pass_marks_and_extra_attempts_of_the_course(backend: Backend) -> None:
    await backend.seed(_world())
    readings = await backend.reads.readings(COURSE)
    assert readings.min_grade_percent == 55.0
    assert readings.optional_lesson_ids == {OPTIONAL}
    assert readings.pass_marks == {FINAL: 60.0}  # published with a mark: not the draft, not the unmarked one
    assert readings.extra_attempts == {(BOB, FINAL): 1}
    other = await backend.reads.readings(OTHER)
    assert (other.min_grade_percent, other.pass_marks, other.extra_attempts) == (
        None,
        {OTHERS_QUIZ: 70.0},
        {(ADA, OTHERS_QUIZ): 1},
    )
    assert [(x.user_id, x.last_activity_at, x.required_completed) for x in other.learners] == [(ADA, NOW - DAY, 3)]


async def test_a_course_without_learners_or_rules_reads_empty(backend: Backend) -> None:
    await backend.seed(RiskWorld())
    readings = await backend.reads.readings(uuid.uuid4())
    assert (readings.learners, readings.min_grade_percent, readings.optional_lesson_ids) == ([], None, frozenset())
    assert (dict(readings.pass_marks), dict(readings.extra_attempts)) == ({}, {})
