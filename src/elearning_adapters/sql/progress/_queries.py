"""The progress reads: the learner's course state, the lists, and the narrow reads other modules use."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    func,
    literal,
    select,
)

from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.identity import users
from elearning_adapters.sql.progress._tables import (
    _courses,
    _facts_from,
    _facts_query,
    _last_from,
    _pair,
    _progress_from,
    _rules_from,
    completion_rules,
    course_progress,
    lesson_completions,
)
from elearning_core.course.requirements import LearnerFacts, LearnerFactsReader
from elearning_core.enrollment.ports import PrerequisiteChecker
from elearning_core.progress.queries import LearnerCourseRead, LearnerProgressRow, ProgressFilter, ProgressQueries


class SqlProgressQueries(ProgressQueries):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def course_state(self, course_id: uuid.UUID, user_id: uuid.UUID) -> LearnerCourseRead:
        """Two small keyed statements: the facts and completions (one union), then the learner's row and the
        course's rules together (both outer-joined to one row, either may be missing)."""
        r = completion_rules
        one = select(literal(1).label("one")).subquery()
        state = select(
            course_progress,
            r.c.course_id.label("rules_course_id"),
            r.c.text_requires_done,
            r.c.video_percent,
            r.c.assessment_requires_pass,
            r.c.min_grade_percent,
            r.c.optional_lesson_ids,
        ).select_from(
            one.outerjoin(r, r.c.course_id == course_id).outerjoin(
                course_progress, _pair(course_progress, course_id, user_id)
            )
        )
        async with self._db.read() as conn:
            facts, completed = _facts_from((await conn.execute(_facts_query(course_id, user_id))).all())
            row = (await conn.execute(state)).one()
        found = row.course_id is not None
        return LearnerCourseRead(
            rules=_rules_from(course_id, row if row.rules_course_id is not None else None),
            facts=facts,
            progress=_progress_from(row, completed) if found else None,
            last=_last_from(row) if found else None,
        )

    async def my_courses(self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[LearnerProgressRow]:
        query = (
            select(course_progress, _courses.c.title)
            .select_from(course_progress.outerjoin(_courses, _courses.c.id == course_progress.c.course_id))
            .where(course_progress.c.user_id == user_id)
        )
        if after is not None:
            query = query.where(course_progress.c.course_id > after)
        async with self._db.read() as conn:
            rows = await conn.execute(query.order_by(course_progress.c.course_id).limit(limit))
            return [_row_from(r) for r in rows]

    async def learners(
        self, course_id: uuid.UUID, where: ProgressFilter, after: uuid.UUID | None, limit: int
    ) -> list[LearnerProgressRow]:
        query = (
            select(course_progress, users.c.display_name, users.c.email)
            .select_from(course_progress.outerjoin(users, users.c.id == course_progress.c.user_id))
            .where(course_progress.c.course_id == course_id)
        )
        if after is not None:
            query = query.where(course_progress.c.user_id > after)
        if where.completed is True:
            query = query.where(course_progress.c.completed_at.is_not(None))
        elif where.completed is False:
            query = query.where(course_progress.c.completed_at.is_(None))
        async with self._db.read() as conn:
            rows = await conn.execute(query.order_by(course_progress.c.user_id).limit(limit))
            return [_row_from(r) for r in rows]

    async def lesson_counts(self, course_id: uuid.UUID) -> dict[uuid.UUID, int]:
        query = (
            select(lesson_completions.c.lesson_id, func.count())
            .where(lesson_completions.c.course_id == course_id)
            .group_by(lesson_completions.c.lesson_id)
        )
        async with self._db.read() as conn:
            return {lesson_id: int(count) for lesson_id, count in await conn.execute(query)}


def _row_from(row: Any) -> LearnerProgressRow:
    return LearnerProgressRow(
        course_id=row.course_id,
        user_id=row.user_id,
        percent=row.percent,
        required_lessons=row.required_lessons,
        required_completed=row.required_completed,
        completed_at=row.completed_at,
        completion_source=row.completion_source,
        last_lesson_id=row.last_lesson_id,
        last_activity_at=row.last_activity_at,
        course_title=getattr(row, "title", None) or "",
        display_name=getattr(row, "display_name", None) or "",
        email=getattr(row, "email", None) or "",
    )


class SqlLearnerFactsReader(LearnerFactsReader):
    """What conditional release needs: the learner's completed lessons and quiz outcomes (one statement)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def learner_facts(self, user_id: uuid.UUID, course_id: uuid.UUID) -> LearnerFacts:
        async with self._db.read() as conn:
            facts, completed = _facts_from((await conn.execute(_facts_query(course_id, user_id))).all())
        return LearnerFacts(
            completed_lesson_ids=completed,
            best_quiz_percent={q: o.best_percent for q, o in facts.quizzes.items() if o.best_percent is not None},
            passed_quiz_ids=frozenset(q for q, o in facts.quizzes.items() if o.passed),
        )


class SqlCourseCompletions(PrerequisiteChecker):
    """The enrollment module's prerequisite check, answered by progress: the courses the learner completed."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def completed(self, user_id: uuid.UUID, course_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        if not course_ids:
            return set()
        query = select(course_progress.c.course_id).where(
            course_progress.c.user_id == user_id,
            course_progress.c.course_id.in_(list(course_ids)),
            course_progress.c.completed_at.is_not(None),
        )
        async with self._db.read() as conn:
            return set((await conn.execute(query)).scalars())
