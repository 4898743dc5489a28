"""What the assessment module needs from outside: its storage, and narrow reads of other modules.

Two promises the use cases rest on:
- ``AttemptRepository.lock`` holds the attempt row until the unit of work ends
  (PostgreSQL ``FOR UPDATE``; SQLite serialises writers), so a submit, an
  autosave or a manual grade of one attempt run one after the other.
- ``AttemptRepository.add`` refuses a second attempt with the same
  (quiz, learner, number) by raising ``AttemptExists`` at commit (a unique key),
  which is how two concurrent starts end up as one attempt.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from elearning_core.assessment.model import (
    Attempt,
    Extension,
    GradingScheme,
    Question,
    QuestionVersion,
    Quiz,
    QuizGrade,
)
from elearning_core.shared.errors import Conflict
from elearning_core.shared.ports import UnitOfWork


class AttemptExists(Conflict):
    """Another attempt with this number was started at the same moment (raised by ``commit``)."""


class QuestionRepository(Protocol):
    """Questions are aggregates: loaded and added ones (and their new versions) are written on commit."""

    async def get(self, question_id: uuid.UUID) -> Question | None: ...

    def add(self, question: Question) -> None: ...

    async def versions(self, refs: Collection[tuple[uuid.UUID, int]]) -> dict[tuple[uuid.UUID, int], QuestionVersion]:
        """The given (question id, version) pairs that exist, in one read. Versions never change."""
        ...

    async def current(self, question_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, QuestionVersion]:
        """The latest version of each of the (not archived) questions that exist."""
        ...

    async def tagged(self, course_id: uuid.UUID, tags: Collection[str]) -> builtins.list[uuid.UUID]:
        """Ids of the course's questions (not archived) carrying every one of ``tags``, in id order."""
        ...


class QuizRepository(Protocol):
    async def get(self, quiz_id: uuid.UUID) -> Quiz | None: ...

    def add(self, quiz: Quiz) -> None: ...

    async def extension(self, quiz_id: uuid.UUID, user_id: uuid.UUID) -> Extension | None: ...

    async def put_extension(self, extension: Extension) -> None: ...

    async def remove_extension(self, quiz_id: uuid.UUID, user_id: uuid.UUID) -> bool: ...


class AttemptRepository(Protocol):
    """Attempts are aggregates: loaded and added ones are written on commit (items included)."""

    async def get(self, attempt_id: uuid.UUID) -> Attempt | None: ...

    async def lock(self, attempt_id: uuid.UUID) -> Attempt | None:
        """The attempt, its row locked until the unit of work ends."""
        ...

    def add(self, attempt: Attempt) -> None: ...

    async def of_learner(self, quiz_id: uuid.UUID, user_id: uuid.UUID) -> builtins.list[Attempt]:
        """The learner's attempts at the quiz, by number."""
        ...

    async def using_question(self, question_id: uuid.UUID) -> builtins.list[Attempt]:
        """Submitted or graded attempts with an item of this question, locked (for a regrade)."""
        ...

    async def expired(self, before: uuid.UUID | None, limit: int, now: datetime) -> builtins.list[uuid.UUID]:
        """Ids of in-progress attempts whose time (with grace) or window has ended at ``now``, in id
        order after ``before`` (for the sweep that submits them)."""
        ...


class GradeRepository(Protocol):
    async def put(self, grade: QuizGrade) -> None:
        """Insert or replace the learner's grade on the quiz."""
        ...

    async def scheme(self, course_id: uuid.UUID) -> GradingScheme: ...

    async def save_scheme(self, scheme: GradingScheme) -> None: ...


class AssessmentUnitOfWork(UnitOfWork, Protocol):
    questions: QuestionRepository
    quizzes: QuizRepository
    attempts: AttemptRepository
    grades: GradeRepository


class EnrollmentLookup(Protocol):
    """A narrow read of the enrollment module."""

    async def is_enrolled(self, user_id: uuid.UUID, course_id: uuid.UUID) -> bool:
        """Whether the learner may follow the course (an active or completed enrollment)."""
        ...

    async def enrolled_since(self, user_id: uuid.UUID, course_id: uuid.UUID) -> datetime | None:
        """When that enrollment started (relative release dates count from it); None without one."""
        ...


class CourseLookup(Protocol):
    """A narrow read of the course module."""

    async def published(self, course_id: uuid.UUID) -> bool: ...
