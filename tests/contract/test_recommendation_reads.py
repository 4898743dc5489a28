"""What serving a learner's list reads, on SQLite and PostgreSQL (PostgreSQL through its prepared statements
on the read pool, SQLite through SQLAlchemy Core): the learner's history in order with completions and
titles, and the candidates' enrollment rules with the seats taken (active enrollments and live holds,
counted only where there is a capacity), published courses only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from elearning_adapters.sql.course import courses
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.enrollment import course_enrollment_settings, enrollments, seat_holds
from elearning_adapters.sql.entitlement import course_offers
from elearning_adapters.sql.recommendation import SqlCourseRules, SqlLearnerHistory

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


async def _write(db: Database, table: Any, *rows: dict[str, Any]) -> None:
    async with db.write() as conn:
        await conn.execute(insert(table), list(rows))
        await conn.commit()


async def _course(db: Database, title: str, status: str = "published") -> uuid.UUID:
    course_id = uuid.uuid4()
    await _write(
        db,
        courses,
        {
            "id": course_id, "slug": f"c-{course_id.hex[:12]}", "title": title, "summary": "", "description": "",
            "language": "en", "level": "beginner", "tags": [], "status": status, "version": 1, "created_at": NOW,
            "updated_at": NOW, "section_count": 0, "lesson_count": 0, "search_text": title,
        },
    )  # fmt: skip
    return course_id


def _enrollment(course_id: uuid.UUID, user_id: uuid.UUID, at: datetime, status: str = "active") -> dict[str, Any]:
    return {
        "id": uuid.uuid4(), "course_id": course_id, "user_id": user_id, "cohort_id": None, "status": status,
        "source": "self", "enrolled_at": at, "completed_at": at if status == "completed" else None,
        "unenrolled_at": None,
    }  # fmt: skip


async def test_the_history_is_the_learners_enrollments_oldest_first_with_completions(db: Database) -> None:
    first, second = await _course(db, "First"), await _course(db, "Second")
    me = uuid.uuid4()
    await _write(
        db,
        enrollments,
        _enrollment(second, me, NOW - timedelta(days=1)),
        _enrollment(first, me, NOW - timedelta(days=9), "completed"),
        _enrollment(second, uuid.uuid4(), NOW),
    )
    taken = await SqlLearnerHistory(db).courses_of(me)
    assert [(t.course_id, t.completed, t.title) for t in taken] == [(first, True, "First"), (second, False, "Second")]
    assert [t.at for t in taken] == [NOW - timedelta(days=9), NOW - timedelta(days=1)]
    assert await SqlLearnerHistory(db).courses_of(uuid.uuid4()) == []


async def test_the_rules_carry_settings_offers_and_seats_taken_of_published_courses_only(db: Database) -> None:
    limited, open_, paid = await _course(db, "Limited"), await _course(db, "Open"), await _course(db, "Paid")
    draft, required = await _course(db, "Draft", status="draft"), await _course(db, "Required")
    await _write(
        db,
        course_enrollment_settings,
        {"course_id": limited, "self_enrollment": True, "capacity": 3, "opens_at": None,
         "closes_at": NOW + timedelta(days=1), "prerequisites": [str(required)]},
    )  # fmt: skip
    await _write(db, course_offers, {"course_id": paid, "paid": True, "audit_track": False, "updated_at": NOW})
    await _write(
        db,
        enrollments,
        _enrollment(limited, uuid.uuid4(), NOW),
        _enrollment(limited, uuid.uuid4(), NOW, "completed"),  # holds no seat
        _enrollment(open_, uuid.uuid4(), NOW),
    )
    holds = [("live", limited, NOW + timedelta(minutes=5)), ("gone", limited, NOW - timedelta(minutes=5))]
    await _write(
        db,
        seat_holds,
        *({"reference": ref, "course_id": c, "user_id": uuid.uuid4(), "expires_at": at} for ref, c, at in holds),
    )

    rules = await SqlCourseRules(db).rules([limited, open_, paid, draft, limited, uuid.uuid4()], NOW)

    assert set(rules) == {limited, open_, paid}
    assert (rules[limited].seats_taken, rules[open_].seats_taken) == (2, 0)  # one active + one live hold; no cap
    policy = rules[limited].policy
    assert (policy.capacity, policy.closes_at, policy.prerequisites) == (3, NOW + timedelta(days=1), (required,))
    assert rules[open_].policy.self_enrollment  # the default policy
    assert rules[open_].policy.capacity is None
    assert [rules[c].paid for c in (limited, open_, paid)] == [False, False, True]
    assert rules[paid].title == "Paid"
    assert await SqlCourseRules(db).rules([], NOW) == {}
