"""The at-risk list's read for one large course on PostgreSQL: what a page of
``GET /api/v1/courses/{id}/analytics/at-risk`` costs, since every page judges the whole course.

    python benchmarks/at_risk.py [--learners 10000] [--rounds 20] [--postgres-url URL]

A throwaway database is created, migrated and seeded with raw inserts (the source tables the read joins):
one published course of 20 lessons, 5 published quizzes with a pass mark and a course minimum grade,
``--learners`` active enrollments (a fifth in a cohort), each with a progress row, 3 lesson marks, a video
watch, a quiz grade per quiz and an attempt; a fifth of them wrote a discussion post. Then
``AtRiskService.all_at_risk`` (the four reads of ``SqlAtRiskReads``, the gradebook inputs, the outline,
the rules over every learner) runs ``--rounds`` times after two warm-up calls, then as many next pages of a
walk (``at_risk`` with a cursor, cut from the first page's judgement); p50/p95/max of each are printed.
The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from catalog import DEFAULT_ADMIN_URL, _vacuum, log, throwaway_database

NOW = datetime.now(UTC)
DAY = timedelta(days=1)
CHUNK = 5_000


async def _seed(url: str, learners: int, rng: random.Random) -> uuid.UUID:
    from sqlalchemy import insert

    from elearning_adapters.container import bootstrap
    from elearning_adapters.settings import Settings
    from elearning_adapters.sql.assessment import attempts, quiz_grades, quizzes
    from elearning_adapters.sql.discussion import discussion_posts, discussion_threads
    from elearning_adapters.sql.enrollment import cohorts, enrollments
    from elearning_adapters.sql.identity import users
    from elearning_adapters.sql.progress import completion_rules, course_progress, lesson_marks, video_watches
    from elearning_core.course.commands import CourseSpec, LessonSpec, SectionSpec
    from elearning_core.shared.ports import SYSTEM

    platform = await bootstrap(Settings(database_url=url))
    try:
        spec = CourseSpec(
            slug="at-risk-bench",
            title="At-risk bench",
            status="published",
            sections=[SectionSpec(title="S", lessons=[LessonSpec(title=f"L{i}") for i in range(20)])],
        )
        (course,) = await platform.courses.import_courses(SYSTEM, [spec])
        course_id = course.id
        cohort_id = uuid.uuid4()
        quiz_ids = [uuid.uuid4() for _ in range(5)]
        thread_id = uuid.uuid4()
        settings = {
            "shuffle_questions": False, "shuffle_options": False, "time_limit_seconds": None, "grace_seconds": 0,
            "max_attempts": 2,
            "late_policy": {"deduction_percent": 0.0, "per": "day", "floor_percent": 0.0, "missing_grade_percent": None}, "grading_policy": "highest", "pass_mark_percent": 60.0,
            "answer_review": "after_submit",
        }  # fmt: skip
        rows: dict[Any, list[dict[str, Any]]] = {
            cohorts: [{"id": cohort_id, "course_id": course_id, "name": "Spring", "capacity": None,
                       "starts_at": NOW - 25 * DAY, "created_at": NOW - 30 * DAY}],
            quizzes: [{"id": q, "course_id": course_id, "title": f"Quiz {n}", "description": "", "category": "exams",
                       "status": "published", "slots": [], "settings": settings, "opens_at": None, "due_at": None,
                       "closes_at": NOW - DAY if n == 0 else None, "created_at": NOW, "updated_at": NOW,
                       "published_at": NOW} for n, q in enumerate(quiz_ids)],
            completion_rules: [{"course_id": course_id, "text_requires_done": False, "video_percent": 90,
                                "assessment_requires_pass": True, "min_grade_percent": 55.0,
                                "optional_lesson_ids": []}],
            discussion_threads: [{"id": thread_id, "course_id": course_id, "kind": "discussion", "title": "Hi",
                                  "author_id": None, "anonymous": False, "lesson_id": None, "cohort_id": None,
                                  "accepted_post_id": None, "pinned": False, "closed": False, "locked": False,
                                  "unanswered": False, "votes": 0, "reply_count": 0, "created_at": NOW - 40 * DAY,
                                  "last_activity_at": NOW}],
        }  # fmt: skip
        for table in (users, enrollments, course_progress, lesson_marks, video_watches, quiz_grades, attempts):
            rows[table] = []
        rows[discussion_posts] = []
        for n in range(learners):
            user_id = uuid.uuid4()
            enrolled = NOW - rng.randint(1, 60) * DAY
            seen = NOW - timedelta(hours=rng.randint(1, 40 * 24))
            rows[users].append({
                "id": user_id, "email": f"l{n}@example.org", "email_key": f"l{n}@example.org",
                "display_name": f"Learner {n}", "locale": "en", "time_zone": "UTC", "status": "active",
                "password_hash": None, "email_verified_at": NOW, "bio": "", "suspended_reason": "",
                "deleted_at": None, "created_at": NOW, "updated_at": NOW, "version": 1,
            })  # fmt: skip
            rows[enrollments].append({
                "id": uuid.uuid4(), "course_id": course_id, "user_id": user_id,
                "cohort_id": cohort_id if n % 5 == 0 else None, "status": "active", "source": "self",
                "enrolled_at": enrolled, "completed_at": None, "unenrolled_at": None,
            })  # fmt: skip
            rows[course_progress].append({
                "course_id": course_id, "user_id": user_id, "required_lessons": 20,
                "required_completed": rng.randint(0, 20), "percent": 0.0, "completed_at": None,
                "completion_source": None, "version_number": 1, "last_lesson_id": None, "last_video_id": None,
                "last_position_seconds": None, "last_activity_at": seen,
            })  # fmt: skip
            for _ in range(3):
                rows[lesson_marks].append({"course_id": course_id, "user_id": user_id, "lesson_id": uuid.uuid4(),
                                           "viewed_at": seen - rng.randint(0, 5) * DAY, "done_at": None})  # fmt: skip
            rows[video_watches].append({"course_id": course_id, "user_id": user_id, "video_id": uuid.uuid4(),
                                        "intervals": [[0, 30]], "watched_seconds": 30.0,
                                        "updated_at": seen - DAY})  # fmt: skip
            for q in quiz_ids:
                rows[quiz_grades].append({"quiz_id": q, "user_id": user_id, "course_id": course_id,
                                          "percent": float(rng.randint(20, 100)), "attempts": rng.randint(1, 2),
                                          "pending": 0, "passed": None, "updated_at": NOW})  # fmt: skip
            rows[attempts].append({
                "id": uuid.uuid4(), "quiz_id": quiz_ids[n % 5], "course_id": course_id, "user_id": user_id,
                "number": 1, "seed": 1, "status": "graded", "started_at": seen - 2 * DAY, "time_ends_at": None,
                "grace_seconds": 0, "expires_at": None, "submitted_at": seen - 2 * DAY, "submit_reason": None,
                "late_seconds": 0, "score": 1.0, "max_score": 1.0, "penalty_percent": 0.0, "percent": 100.0,
                "passed": True, "feedback": None, "graded_at": NOW, "late_policy": None, "pass_mark_percent": 60.0,
                "version": 1,
            })  # fmt: skip
            if n % 5 == 1:
                rows[discussion_posts].append({
                    "id": uuid.uuid4(), "thread_id": thread_id, "parent_id": None, "depth": 1, "author_id": user_id,
                    "anonymous": False, "body": "hi", "created_at": seen, "edited_at": None, "votes": 0,
                    "endorsed": False, "state": "visible", "flag_count": 0,
                })  # fmt: skip
        async with platform.database.write() as conn:
            for table, values in rows.items():
                for start in range(0, len(values), CHUNK):
                    await conn.execute(insert(table), values[start : start + CHUNK])
            await conn.commit()
        return course_id
    finally:
        await platform.aclose()


async def _measure(url: str, course_id: uuid.UUID, rounds: int) -> tuple[list[float], list[float], int]:
    from elearning_adapters.container import bootstrap
    from elearning_adapters.settings import Settings
    from elearning_core.shared.ports import SYSTEM

    platform = await bootstrap(Settings(database_url=url), run_migrations=False)
    try:
        service = platform.at_risk
        found = 0
        for _ in range(2):
            found = len(await service.all_at_risk(SYSTEM, course_id))
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            await service.all_at_risk(SYSTEM, course_id)
            times.append((time.perf_counter() - started) * 1000)
        first = await service.at_risk(SYSTEM, course_id, limit=20)
        next_pages = []
        for _ in range(rounds):
            started = time.perf_counter()
            await service.at_risk(SYSTEM, course_id, cursor=first.next_cursor, limit=20)
            next_pages.append((time.perf_counter() - started) * 1000)
        return times, next_pages, found
    finally:
        await platform.aclose()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--postgres-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args(argv)
    if args.learners < 1 or args.rounds < 1:
        parser.error("--learners and --rounds must be at least 1")
    with throwaway_database(args.postgres_url) as url:
        started = time.perf_counter()
        course_id = asyncio.run(_seed(url, args.learners, random.Random(18)))
        log(f"seeded {args.learners} learners in {time.perf_counter() - started:.1f} s")
        _vacuum(url)
        times, next_pages, found = asyncio.run(_measure(url, course_id, args.rounds))
        print(f"at-risk read, {args.learners} learners ({found} at risk), {args.rounds} rounds: {_summary(times)}")
        print(f"a next page of 20 (cut from the walk's judgement): {_summary(next_pages)}")


def _summary(times: list[float]) -> str:
    cuts = statistics.quantiles(times, n=20, method="inclusive") if len(times) > 1 else times * 19
    return f"p50 {statistics.median(times):.1f} ms, p95 {cuts[18]:.1f} ms, max {max(times):.1f} ms"


if __name__ == "__main__":
    main(sys.argv[1:])
