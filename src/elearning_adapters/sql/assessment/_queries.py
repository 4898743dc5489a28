"""The assessment read side: flat summaries straight from the tables, outside any unit of work.

``gradebook_inputs`` is five statements whatever the course's size (quizzes,
learners, grades, the scheme, extended closes), each selecting only the
columns the gradebook uses; grades come from ``quiz_grades`` (one row per
learner and quiz, kept by the service), never from attempts.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, and_, cast, column, exists, select, table, tuple_, type_coerce
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import Uuid

from elearning_adapters.sql.assessment._mapping import categories_from, late_policy_from
from elearning_adapters.sql.assessment._tables import (
    attempt_items,
    attempts,
    grading_schemes,
    question_tags,
    question_versions,
    questions,
    quiz_extensions,
    quiz_grades,
    quizzes,
)
from elearning_adapters.sql.engine import Database
from elearning_core.assessment.model import AttemptStatus, QuestionKind, QuizStatus
from elearning_core.assessment.queries import (
    AssessmentQueries,
    AttemptSummary,
    GradebookInputs,
    GradeCell,
    ItemScore,
    Learner,
    QuestionSummary,
    QueueEntry,
    QuizSummary,
)

# Other modules' tables, as far as the gradebook reads them (no import of their adapters).
_enrollments = table("enrollments", column("course_id", Uuid), column("user_id", Uuid), column("status", String))
_users = table("users", column("id", Uuid), column("display_name", String), column("email", String))
_FOLLOWING = ("active", "completed")
"""Enrollment statuses of a learner who follows the course (as the enrollment lookup counts them)."""

_QUIZ_SUMMARY = (
    quizzes.c.id,
    quizzes.c.course_id,
    quizzes.c.title,
    quizzes.c.category,
    quizzes.c.status,
    quizzes.c.opens_at,
    quizzes.c.due_at,
    quizzes.c.closes_at,
    quizzes.c.settings,
)
_ATTEMPT_SUMMARY = (
    attempts.c.id,
    attempts.c.quiz_id,
    attempts.c.user_id,
    attempts.c.number,
    attempts.c.status,
    attempts.c.started_at,
    attempts.c.submitted_at,
    attempts.c.late_seconds,
    attempts.c.score,
    attempts.c.max_score,
    attempts.c.percent,
    attempts.c.passed,
)


def _quiz_summary(row: Any) -> QuizSummary:
    settings = row.settings
    return QuizSummary(
        id=row.id,
        course_id=row.course_id,
        title=row.title,
        category=row.category,
        status=QuizStatus(row.status),
        opens_at=row.opens_at,
        due_at=row.due_at,
        closes_at=row.closes_at,
        max_attempts=settings["max_attempts"],
        time_limit_seconds=settings["time_limit_seconds"],
        missing_grade_percent=late_policy_from(settings["late_policy"]).missing_grade_percent,
    )


def _by_due_date(quiz: QuizSummary) -> tuple[bool, datetime | None, str, uuid.UUID]:
    """Due date first (quizzes without one last), then title: the same order on every backend."""
    return (quiz.due_at is None, quiz.due_at, quiz.title, quiz.id)


def _attempt_summary(row: Any) -> AttemptSummary:
    return AttemptSummary(
        id=row.id,
        quiz_id=row.quiz_id,
        user_id=row.user_id,
        number=row.number,
        status=AttemptStatus(row.status),
        started_at=row.started_at,
        submitted_at=row.submitted_at,
        late_seconds=row.late_seconds,
        score=row.score,
        max_score=row.max_score,
        percent=row.percent,
        passed=row.passed,
    )


class SqlAssessmentQueries(AssessmentQueries):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def questions(
        self, course_id: uuid.UUID, tag: str | None, include_archived: bool, after: uuid.UUID | None, limit: int
    ) -> list[QuestionSummary]:
        query = (
            select(
                questions.c.id,
                questions.c.course_id,
                questions.c.current_version,
                questions.c.archived,
                questions.c.updated_at,
                question_versions.c.kind,
                question_versions.c.prompt,
                question_versions.c.points,
                question_versions.c.tags,
            )
            .join(
                question_versions,
                and_(
                    question_versions.c.question_id == questions.c.id,
                    question_versions.c.version == questions.c.current_version,
                ),
            )
            .where(questions.c.course_id == course_id)
            .order_by(questions.c.id)
            .limit(limit)
        )
        if not include_archived:
            query = query.where(questions.c.archived.is_(False))
        if after is not None:
            query = query.where(questions.c.id > after)
        if tag is not None:
            query = query.where(
                exists().where(
                    question_tags.c.course_id == course_id,
                    question_tags.c.tag == tag,
                    question_tags.c.question_id == questions.c.id,
                )
            )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            QuestionSummary(
                id=r.id,
                course_id=r.course_id,
                version=r.current_version,
                kind=QuestionKind(r.kind),
                prompt=r.prompt,
                points=r.points,
                tags=tuple(r.tags),
                archived=r.archived,
                updated_at=r.updated_at,
            )
            for r in rows
        ]

    async def quizzes(self, course_id: uuid.UUID, published_only: bool) -> list[QuizSummary]:
        query = select(*_QUIZ_SUMMARY).where(quizzes.c.course_id == course_id)
        if published_only:
            query = query.where(quizzes.c.status == QuizStatus.PUBLISHED.value)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return sorted((_quiz_summary(r) for r in rows), key=_by_due_date)

    async def attempts(
        self, quiz_id: uuid.UUID, user_id: uuid.UUID | None, after: uuid.UUID | None, limit: int
    ) -> list[AttemptSummary]:
        query = select(*_ATTEMPT_SUMMARY).where(attempts.c.quiz_id == quiz_id).order_by(attempts.c.id).limit(limit)
        if user_id is not None:
            query = query.where(attempts.c.user_id == user_id)
        if after is not None:
            query = query.where(attempts.c.id > after)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_attempt_summary(r) for r in rows]

    async def grading_queue(
        self, course_id: uuid.UUID, quiz_id: uuid.UUID | None, after: tuple[datetime, uuid.UUID, int] | None, limit: int
    ) -> list[QueueEntry]:
        query = (
            select(
                attempts.c.id,
                attempts.c.quiz_id,
                quizzes.c.title,
                attempts.c.user_id,
                attempts.c.submitted_at,
                attempt_items.c.question_id,
                attempt_items.c.position,
                attempt_items.c.grading_note,
            )
            .select_from(
                attempt_items.join(attempts, attempts.c.id == attempt_items.c.attempt_id).join(
                    quizzes, quizzes.c.id == attempts.c.quiz_id
                )
            )
            .where(
                attempt_items.c.needs_grading,  # rendered as the partial index's predicate on each backend
                attempts.c.course_id == course_id,
                attempts.c.status == AttemptStatus.SUBMITTED.value,
            )
            .order_by(attempts.c.submitted_at, attempts.c.id, attempt_items.c.position)
            .limit(limit)
        )
        if quiz_id is not None:
            query = query.where(attempts.c.quiz_id == quiz_id)
        if after is not None:
            key = tuple_(attempts.c.submitted_at, attempts.c.id, attempt_items.c.position)
            query = query.where(key > tuple_(*after))
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            QueueEntry(
                attempt_id=r.id,
                quiz_id=r.quiz_id,
                quiz_title=r.title,
                user_id=r.user_id,
                question_id=r.question_id,
                position=r.position,
                note=r.grading_note,
                submitted_at=r.submitted_at,
            )
            for r in rows
        ]

    async def gradebook_inputs(self, course_id: uuid.UUID) -> GradebookInputs:
        return await self._inputs(course_id, None)

    async def learner_grades(self, course_id: uuid.UUID, user_id: uuid.UUID) -> GradebookInputs:
        return await self._inputs(course_id, user_id)

    async def _inputs(self, course_id: uuid.UUID, user_id: uuid.UUID | None) -> GradebookInputs:
        quiz_query = select(*_QUIZ_SUMMARY).where(
            quizzes.c.course_id == course_id, quizzes.c.status == QuizStatus.PUBLISHED.value
        )
        learner_query = (
            select(_users.c.id, _users.c.display_name, _users.c.email)
            .select_from(_enrollments.join(_users, _users.c.id == _enrollments.c.user_id))
            .where(_enrollments.c.course_id == course_id, _enrollments.c.status.in_(_FOLLOWING))
            .order_by(_users.c.display_name, _users.c.id)
        )
        grade_query = select(
            self._id_text(quiz_grades.c.user_id),
            self._id_text(quiz_grades.c.quiz_id),
            quiz_grades.c.percent,
            quiz_grades.c.attempts,
            quiz_grades.c.pending,
        ).where(quiz_grades.c.course_id == course_id)
        close_query = (
            select(quiz_extensions.c.quiz_id, quiz_extensions.c.user_id, quiz_extensions.c.closes_at)
            .join(quizzes, quizzes.c.id == quiz_extensions.c.quiz_id)
            .where(quizzes.c.course_id == course_id, quizzes.c.status == QuizStatus.PUBLISHED.value)
        )
        if user_id is not None:
            learner_query = learner_query.where(_enrollments.c.user_id == user_id)
            grade_query = grade_query.where(quiz_grades.c.user_id == user_id)
            close_query = close_query.where(quiz_extensions.c.user_id == user_id)
        scheme_query = select(grading_schemes.c.categories).where(grading_schemes.c.course_id == course_id)
        async with self._db.read() as conn:
            quiz_rows = (await conn.execute(quiz_query)).all()
            learner_rows = (await conn.execute(learner_query)).all()
            grade_rows = (await conn.execute(grade_query)).all()
            close_rows = (await conn.execute(close_query)).all()
            categories = (await conn.execute(scheme_query)).scalar()
        listed = sorted((_quiz_summary(r) for r in quiz_rows), key=_by_due_date)
        learners = [Learner(r.id, r.display_name, r.email) for r in learner_rows]
        # Ids come back as text and are looked up among the quizzes' and learners' UUIDs: building
        # 20,000 uuid.UUID objects was most of the time a 500 x 20 gradebook took to read.
        text = self._text_of
        published = {text(q.id): q.id for q in listed}
        people = {text(learner.user_id): learner.user_id for learner in learners}
        grades = []
        for user, quiz, percent, attempts_, pending in grade_rows:
            quiz_id = published.get(quiz)
            if quiz_id is not None:  # the published quizzes' grades (a draft's come from staff previews)
                grades.append(GradeCell(people.get(user) or uuid.UUID(user), quiz_id, percent, attempts_, pending))
        return GradebookInputs(
            quizzes=listed,
            learners=learners,
            grades=grades,
            categories=list(categories_from(categories or [])),
            # None: the extension leaves the quiz's close as it is (it extends something else).
            extended_closes={(r.quiz_id, r.user_id): r.closes_at for r in close_rows},
        )

    def _id_text(self, id_column: ColumnElement[uuid.UUID]) -> ColumnElement[str]:
        """A UUID column read as text: SQLite stores 32 hex digits, PostgreSQL casts to its dashed form."""
        if self._db.is_sqlite:
            return type_coerce(id_column, String)
        return cast(id_column, Text)

    def _text_of(self, value: uuid.UUID) -> str:
        """A UUID as ``_id_text`` reads it back."""
        return value.hex if self._db.is_sqlite else str(value)

    async def item_scores(self, quiz_id: uuid.UUID) -> list[ItemScore]:
        query = (
            select(attempts.c.id, attempt_items.c.question_id, attempt_items.c.score, attempt_items.c.points)
            .join(attempt_items, attempt_items.c.attempt_id == attempts.c.id)
            .where(
                attempts.c.quiz_id == quiz_id,
                attempts.c.status == AttemptStatus.GRADED.value,
                attempt_items.c.score.is_not(None),
            )
            .order_by(attempts.c.id, attempt_items.c.position)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [ItemScore(r.id, r.question_id, r.score, r.points) for r in rows]
