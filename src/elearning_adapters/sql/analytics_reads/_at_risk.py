"""``AtRiskReads`` in four statements for the whole course, whatever its number of learners: the learners
(active enrollments, their cohort's start, name, progress counts and last activity, in one statement), the
completion rules, the published quizzes' pass marks, and the extensions' extra attempts.

The last activity is the latest of what the modules record about a learner in the course: the progress
row's ``last_activity_at`` (which every lesson view, done mark and video heartbeat moves forward, in the
same transaction as the fact: ``ProgressRepository.touch``, so the lesson marks and watches need no read of
their own), a quiz attempt started or submitted, a discussion thread or post written. Attempts are read
through the course's quizzes (the ``(quiz_id, user_id, number)`` key), threads and posts through the
course's threads; those are grouped per learner once.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, type_coerce, union_all

from elearning_adapters.sql.analytics_reads._sources import (
    attempts,
    cohorts,
    completion_rules,
    course_progress,
    discussion_posts,
    discussion_threads,
    enrollments,
    quiz_extensions,
    quizzes,
    users,
)
from elearning_adapters.sql.engine import Database, UtcDateTime
from elearning_core.analytics.at_risk import LearnerFacts
from elearning_core.analytics.at_risk_service import AtRiskReads, RiskReadings

_PUBLISHED = "published"
_ACTIVE = "active"


def _activity(course_id: uuid.UUID) -> Any:
    """(user_id, at) of every attempt, thread and post of the course's learners."""
    a, t, d = attempts, discussion_threads, discussion_posts
    course_quizzes = select(quizzes.c.id).where(quizzes.c.course_id == course_id)
    return union_all(
        select(a.c.user_id, a.c.started_at.label("at")).where(a.c.quiz_id.in_(course_quizzes)),
        select(a.c.user_id, a.c.submitted_at).where(a.c.quiz_id.in_(course_quizzes), a.c.submitted_at.is_not(None)),
        select(t.c.author_id, t.c.created_at).where(t.c.course_id == course_id, t.c.author_id.is_not(None)),
        select(d.c.author_id, d.c.created_at)
        .join(t, t.c.id == d.c.thread_id)
        .where(t.c.course_id == course_id, d.c.author_id.is_not(None)),
    ).subquery("activity")


def _learners_query(course_id: uuid.UUID) -> Any:
    activity = _activity(course_id)
    last = (
        select(activity.c.user_id, type_coerce(func.max(activity.c.at), UtcDateTime).label("last_at"))
        .group_by(activity.c.user_id)
        .subquery("last")
    )
    e, p = enrollments, course_progress
    return (
        select(
            e.c.user_id,
            e.c.enrolled_at,
            e.c.cohort_id,
            cohorts.c.starts_at,
            users.c.display_name,
            users.c.email,
            p.c.required_lessons,
            p.c.required_completed,
            p.c.last_activity_at,
            last.c.last_at,
        )
        .select_from(
            e.outerjoin(cohorts, cohorts.c.id == e.c.cohort_id)
            .outerjoin(users, users.c.id == e.c.user_id)
            .outerjoin(p, (p.c.course_id == e.c.course_id) & (p.c.user_id == e.c.user_id))
            .outerjoin(last, last.c.user_id == e.c.user_id)
        )
        .where(e.c.course_id == course_id, e.c.status == _ACTIVE)
        .order_by(e.c.user_id)
    )


def _learner(row: Any) -> LearnerFacts:
    return LearnerFacts(
        user_id=row.user_id,
        display_name=row.display_name or "",
        email=row.email or "",
        enrolled_at=row.enrolled_at,
        cohort_id=row.cohort_id,
        cohort_starts_at=row.starts_at,
        last_activity_at=max((t for t in (row.last_activity_at, row.last_at) if t is not None), default=None),
        required_lessons=row.required_lessons or 0,
        required_completed=row.required_completed or 0,
    )


class SqlAtRiskReads(AtRiskReads):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def readings(self, course_id: uuid.UUID) -> RiskReadings:
        rules_query = select(completion_rules.c.min_grade_percent, completion_rules.c.optional_lesson_ids).where(
            completion_rules.c.course_id == course_id
        )
        quiz_query = select(quizzes.c.id, quizzes.c.settings).where(
            quizzes.c.course_id == course_id, quizzes.c.status == _PUBLISHED
        )
        extension_query = (
            select(quiz_extensions.c.quiz_id, quiz_extensions.c.user_id, quiz_extensions.c.extra_attempts)
            .join(quizzes, quizzes.c.id == quiz_extensions.c.quiz_id)
            .where(
                quizzes.c.course_id == course_id,
                quizzes.c.status == _PUBLISHED,
                quiz_extensions.c.extra_attempts != 0,
            )
        )
        async with self._db.read() as conn:
            learners = [_learner(row) for row in await conn.execute(_learners_query(course_id))]
            rules = (await conn.execute(rules_query)).one_or_none()
            quiz_rows = (await conn.execute(quiz_query)).all()
            extension_rows = (await conn.execute(extension_query)).all()
        marks = {row.id: (row.settings or {}).get("pass_mark_percent") for row in quiz_rows}
        return RiskReadings(
            learners=learners,
            min_grade_percent=rules.min_grade_percent if rules is not None else None,
            optional_lesson_ids=frozenset(uuid.UUID(i) for i in rules.optional_lesson_ids) if rules else frozenset(),
            pass_marks={quiz_id: float(mark) for quiz_id, mark in marks.items() if mark is not None},
            extra_attempts={(row.user_id, row.quiz_id): row.extra_attempts for row in extension_rows},
        )
