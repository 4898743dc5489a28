"""The assessment engine's two figures, on PostgreSQL, through the HTTP API of one server process.

    python benchmarks/assessment.py        # gradebook 500 x 20, then submit-and-grade at 20/s

The issue's figures:
- "Gradebook for 500 learners x 20 items p95 < 500 ms";
- "submit-and-grade of a 50-question quiz p95 < 150 ms at 20 submits/s".

Gradebook. A throwaway database gets one published course, 500 learners enrolled in it and 20
published quizzes in two weighted categories (one with drop-lowest). Every learner gets a grade on
every quiz written through the module's own ``GradeRepository`` (the stored read model that
submitting writes): 10,000 real attempts would take minutes to prepare and the gradebook never reads
attempts. The course's instructor then reads ``GET /api/v1/courses/{id}/gradebook`` (JSON, every
learner x every quiz, categories and totals) and ``.../gradebook.csv`` in an open loop.

Submit-and-grade. A quiz of 50 auto-graded questions (every auto-graded kind, among them a short-text
regex) and, per learner, an attempt started and fully answered through the service (50 autosaves).
Then an open-loop client posts ``POST /api/v1/attempts/{id}/submit`` at the given rate, each as the
attempt's own learner: every request locks the attempt, scores its 50 items, writes them, the
attempt, the learner's quiz grade and two outbox events in one transaction. Every response is
checked: graded, submitted now, and the expected score.

Baseline, in the same run and at the same rate: ``GET /health`` (the machine's and the server's
floor, so a busy machine shows in both numbers).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from auth import run_server
from catalog import DEFAULT_ADMIN_URL, OUT, RESULTS, ROOT, environment_facts, log, throwaway_database

LEARNERS = 500
QUIZZES = 20
QUESTIONS = 50
GRADEBOOK_TARGET_MS = 500.0
SUBMIT_TARGET_MS = 150.0
PASSWORD = "benchmark-password-0"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _settings(env: dict[str, str]) -> Any:
    from elearning_adapters.settings import Settings

    return Settings(database_url=env["ELEARNING_DATABASE_URL"], secret_key=env["ELEARNING_SECRET_KEY"], cache="none")


def _questions() -> list[tuple[Any, dict[str, Any], float]]:
    """(QuestionInput, the right response, fraction it earns) for 50 auto-graded questions."""
    from elearning_core.assessment.commands import QuestionInput

    def opts(n: int) -> list[dict[str, str]]:
        return [{"id": f"o{i}", "text": f"Option {i}"} for i in range(n)]

    kinds: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"kind": "single_choice", "options": opts(4), "correct": "o2"}, {"choice": "o2"}),
        (
            {"kind": "multiple_response", "options": opts(5), "correct": ["o0", "o3"], "scoring": "partial"},
            {"choices": ["o0", "o3"]},
        ),
        ({"kind": "true_false", "correct": True}, {"value": True}),
        (
            {"kind": "numeric", "answers": [{"value": 9.81, "tolerance": 1, "tolerance_kind": "percent"}]},
            {"value": 9.8},
        ),
        ({"kind": "short_text", "answers": [{"text": "paris", "match": "case_insensitive"}]}, {"text": "Paris"}),
        ({"kind": "short_text", "answers": [{"text": r"colou?r", "match": "regex"}]}, {"text": "color"}),
        (
            {"kind": "ordering", "items": [{"id": f"i{i}", "text": f"Step {i}"} for i in range(5)]},
            {"order": [f"i{i}" for i in range(5)]},
        ),
        (
            {
                "kind": "matching",
                "prompts": [{"id": f"p{i}", "text": f"Term {i}"} for i in range(4)],
                "choices": [{"id": f"c{i}", "text": f"Meaning {i}"} for i in range(5)],
                "pairs": {f"p{i}": f"c{i}" for i in range(4)},
            },
            {"pairs": {f"p{i}": f"c{i}" for i in range(4)}},
        ),
        (
            {
                "kind": "fill_blanks",
                "text": "The {{a}} is blue and the {{b}} is green.",
                "blanks": {"a": [{"text": "sky"}], "b": [{"text": "grass"}]},
            },
            {"blanks": {"a": "sky", "b": "grass"}},
        ),
    ]
    out = []
    for n in range(QUESTIONS):
        body, right = kinds[n % len(kinds)]
        out.append((QuestionInput(prompt=f"Question {n + 1}", points=2.0, body=body, tags=["bench"]), right, 1.0))
    return out


async def _seed(env: dict[str, str], learners: int) -> dict[str, Any]:
    """The course, its instructor, the learners (signed in), 20 graded quizzes and the 50-question quiz
    with one fully answered attempt per learner."""
    from elearning_adapters.container import bootstrap
    from elearning_core.assessment.commands import (
        CategoryInput,
        FixedSlotInput,
        GradingSchemeInput,
        QuizSettings,
        SaveAnswer,
    )
    from elearning_core.assessment.model import QuizGrade
    from elearning_core.course.commands import CourseSpec, LessonSpec, SectionSpec
    from elearning_core.course.model import CourseStatus
    from elearning_core.identity.commands import CreateUser, RoleGrantSpec
    from elearning_core.shared.ports import SYSTEM, Principal

    spec = CourseSpec(
        slug="bench-assessment",
        title="Assessed course",
        summary="Quizzes.",
        status=CourseStatus.PUBLISHED,
        sections=[SectionSpec(title="Part 1", lessons=[LessonSpec(title="Lesson 1")])],
    )
    rng = random.Random(7)
    async with await bootstrap(_settings(env)) as platform:
        (course,) = await platform.courses.import_courses(SYSTEM, [spec])
        instructor = await platform.identity.create_user(
            SYSTEM, CreateUser(email="instructor@example.org", display_name="Instructor", password=PASSWORD)
        )
        await platform.identity.grant_role(
            SYSTEM, instructor.id, RoleGrantSpec(role="instructor", scope="course", scope_id=course.id)
        )
        log(f"creating and enrolling {learners} learners")
        users = []
        for i in range(learners):
            user = await platform.identity.create_user(
                SYSTEM,
                CreateUser(email=f"learner{i:04d}@example.org", display_name=f"Learner {i:04d}", password=PASSWORD),
            )
            await platform.enrollments.enroll(SYSTEM, course.id, user.id)
            users.append(user.id)
        await platform.assessment.set_grading_scheme(
            SYSTEM,
            course.id,
            GradingSchemeInput(
                categories=[
                    CategoryInput(name="quizzes", weight=40, drop_lowest=1),
                    CategoryInput(name="exams", weight=60),
                ]
            ),
        )
        log(f"creating {QUIZZES} quizzes and {learners * QUIZZES} grades")
        question_specs = _questions()
        first = await platform.assessment.create_question(SYSTEM, course.id, question_specs[0][0])
        quiz_ids = []
        for q in range(QUIZZES):
            quiz = await platform.assessment.create_quiz(
                SYSTEM,
                course.id,
                QuizSettings(
                    title=f"Quiz {q + 1:02d}",
                    category="exams" if q % 5 == 4 else "quizzes",
                    slots=[FixedSlotInput(question_id=first.id)],
                ),
            )
            await platform.assessment.publish_quiz(SYSTEM, quiz.id)
            quiz_ids.append(quiz.id)
        now = datetime.now(UTC)
        async with platform.container.adapters.unit_of_work() as uow:
            for quiz_id in quiz_ids:
                for user_id in users:
                    percent = round(rng.uniform(30, 100), 2)
                    await uow.grades.put(QuizGrade(quiz_id, user_id, course.id, percent, 1, 0, percent >= 50, now))
            await uow.commit()

        log(f"the {QUESTIONS}-question quiz and one answered attempt per learner")
        created = [await platform.assessment.create_question(SYSTEM, course.id, s[0]) for s in question_specs]
        big = await platform.assessment.create_quiz(
            SYSTEM,
            course.id,
            QuizSettings(
                title="Final exam",
                category="exams",
                slots=[FixedSlotInput(question_id=q.id) for q in created],
                shuffle_questions=True,
                due_at=now + timedelta(days=7),
            ),
        )
        await platform.assessment.publish_quiz(SYSTEM, big.id)
        right = {q.id: s[1] for q, s in zip(created, question_specs, strict=True)}
        tokens: dict[str, str] = {}
        attempts: list[tuple[str, str]] = []
        for i, user_id in enumerate(users):
            learner = Principal(subject=str(user_id), user_id=user_id)
            view, _ = await platform.assessment.start_attempt(learner, big.id)
            for item in view.items:
                await platform.assessment.save_answer(
                    learner, view.attempt.id, item.question_id, SaveAnswer(response=right[item.question_id])
                )
            issued = await platform.auth.login(
                f"learner{i:04d}@example.org", PASSWORD, client_ip=f"10.9.{i // 250}.{i % 250}"
            )
            tokens[str(user_id)] = issued.access_token
            attempts.append((str(view.attempt.id), str(user_id)))
        issued = await platform.auth.login("instructor@example.org", PASSWORD, client_ip="10.8.0.1")
        return {
            "course_id": str(course.id),
            "instructor_token": issued.access_token,
            "tokens": tokens,
            "attempts": attempts,
            "max_score": 2.0 * QUESTIONS,
        }


async def _open_loop(
    base: str, requests: list[tuple[str, str, dict[str, str]]], rate: float, check: Any
) -> list[float]:
    """Start each (method, path, headers) request every 1/rate s whatever the earlier ones are doing."""
    import httpx

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def one(method: str, path: str, headers: dict[str, str]) -> float:
            start = time.perf_counter()
            response = await client.request(method, path, headers=headers)
            elapsed = (time.perf_counter() - start) * 1000
            check(response)
            return elapsed

        tasks = []
        start = time.perf_counter()
        for i, (method, path, headers) in enumerate(requests):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(method, path, headers)))
        return list(await asyncio.gather(*tasks))


def _ok(response: Any) -> None:
    response.raise_for_status()


def _row(name: str, values: list[float]) -> str:
    return (
        f"| {name} | {len(values)} | {statistics.median(values):.1f} | {_pct(values, 0.95):.1f}"
        f" | {_pct(values, 0.99):.1f} | {max(values):.1f} |"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default=os.environ.get("BENCH_ADMIN_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--learners", type=int, default=LEARNERS)
    parser.add_argument("--gradebook-rate", type=float, default=4.0)
    parser.add_argument("--gradebook-requests", type=int, default=120)
    parser.add_argument("--submit-rate", type=float, default=20.0)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    OUT.mkdir(exist_ok=True)
    facts = environment_facts(argparse.Namespace(wrk="wrk"))
    with throwaway_database(args.admin_url) as url:
        env = {
            "ELEARNING_DATABASE_URL": url,
            "ELEARNING_SECRET_KEY": secrets.token_urlsafe(32),
            "ELEARNING_ACCESS_TOKEN_TTL_SECONDS": "3600",
            "ELEARNING_CACHE": "none",
            "ELEARNING_KAFKA_BOOTSTRAP_SERVERS": "",
            "ELEARNING_REDIS_URL": "",
            "BENCH_USER_ID": "00000000-0000-0000-0000-000000000000",
            "BENCH_BARE_BODY_FILE": str(OUT / "assessment_bare.json"),
        }
        (OUT / "assessment_bare.json").write_bytes(b"{}")
        seeded = asyncio.run(_seed(env, args.learners))
        course = seeded["course_id"]
        staff = {"Authorization": f"Bearer {seeded['instructor_token']}"}
        with run_server(env, OUT / "assessment_server.log") as (_, base):
            n = args.gradebook_requests
            log(f"baseline: GET /health at {args.gradebook_rate:g}/s x {n}")
            health_slow = asyncio.run(_open_loop(base, [("GET", "/health", {})] * n, args.gradebook_rate, _ok))
            gradebook_path = f"/api/v1/courses/{course}/gradebook"

            def gradebook_ok(response: Any) -> None:
                response.raise_for_status()
                if "csv" in response.headers.get("content-type", ""):
                    lines = response.text.splitlines()
                    assert len(lines) == args.learners + 1, len(lines)
                    return
                body = response.json()
                assert len(body["rows"]) == args.learners, len(body["rows"])
                assert all(len(row["cells"]) == QUIZZES + 1 for row in body["rows"])

            log(f"gradebook: GET {gradebook_path} at {args.gradebook_rate:g}/s x {n}")
            for _ in range(3):
                asyncio.run(_open_loop(base, [("GET", gradebook_path, staff)], 1, gradebook_ok))
            gradebook = asyncio.run(
                _open_loop(base, [("GET", gradebook_path, staff)] * n, args.gradebook_rate, gradebook_ok)
            )
            log(f"gradebook CSV at {args.gradebook_rate:g}/s x {n}")
            csv = asyncio.run(
                _open_loop(base, [("GET", gradebook_path + ".csv", staff)] * n, args.gradebook_rate, gradebook_ok)
            )
            submits = [
                ("POST", f"/api/v1/attempts/{attempt}/submit", {"Authorization": f"Bearer {seeded['tokens'][user]}"})
                for attempt, user in seeded["attempts"]
            ]
            log(f"baseline: GET /health at {args.submit_rate:g}/s x {len(submits)}")
            health_fast = asyncio.run(_open_loop(base, [("GET", "/health", {})] * len(submits), args.submit_rate, _ok))

            def submit_ok(response: Any) -> None:
                response.raise_for_status()
                body = response.json()
                assert body["submitted_now"] is True, body
                assert body["status"] == "graded", body["status"]
                assert abs(body["score"] - seeded["max_score"]) < 1e-6, body["score"]

            log(f"submit-and-grade: POST /api/v1/attempts/{{id}}/submit at {args.submit_rate:g}/s x {len(submits)}")
            submit = asyncio.run(_open_loop(base, submits, args.submit_rate, submit_ok))
    total = time.perf_counter() - started
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    g95, s95 = _pct(gradebook, 0.95), _pct(submit, 0.95)
    lines = [
        f"## {now} - assessment: gradebook {args.learners} x {QUIZZES}, submit-and-grade of {QUESTIONS} questions",
        "",
        f"- Command: `python benchmarks/assessment.py{''.join(' ' + a for a in sys.argv[1:])}` (total {total:.0f} s)",
        f"- Code: {facts['revision']}",
        f"- Machine: {facts['cpus']} CPUs, {facts['os']}, Python {facts['python']}",
        "- Server: one uvicorn process, production app, PostgreSQL (throwaway database), no cache; open-loop clients;"
        " every response checked (gradebook rows and cells; submit graded now with the full score)",
        "",
        "| request | n | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |",
        "|---|---:|---:|---:|---:|---:|",
        _row(f"baseline `GET /health` at {args.gradebook_rate:g}/s", health_slow),
        _row(f"`GET /courses/{{id}}/gradebook` ({args.learners} x {QUIZZES}) at {args.gradebook_rate:g}/s", gradebook),
        _row(f"`GET /courses/{{id}}/gradebook.csv` at {args.gradebook_rate:g}/s", csv),
        _row(f"baseline `GET /health` at {args.submit_rate:g}/s", health_fast),
        _row(f"`POST /attempts/{{id}}/submit` ({QUESTIONS} questions) at {args.submit_rate:g}/s", submit),
        "",
        f"- **Gradebook p95 {g95:.1f} ms** (target < {GRADEBOOK_TARGET_MS:.0f} ms:"
        f" {'met' if g95 < GRADEBOOK_TARGET_MS else 'NOT met'}); {g95 / _pct(health_slow, 0.95):.1f}x the /health p95",
        f"- **Submit-and-grade p95 {s95:.1f} ms** (target < {SUBMIT_TARGET_MS:.0f} ms:"
        f" {'met' if s95 < SUBMIT_TARGET_MS else 'NOT met'}); {s95 / _pct(health_fast, 0.95):.1f}x the /health p95",
    ]
    print("\n".join(lines))
    if not args.no_record:
        with RESULTS.open("a") as out:
            out.write("\n" + "\n".join(lines) + "\n")
        log(f"appended to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
