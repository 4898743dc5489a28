"""Response shapes of the assessment routes, and the mapping from the core's results.

Where a core read model already has the right shape (summaries, the gradebook, a regrade report,
item statistics) the routes return it as it is; these are the shapes that differ: a question with
its current version, a quiz whose slots and late policy read back in the form ``PUT`` takes, and an
attempt flattened into one object.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from elearning_core.assessment.commands import LatePolicyInput, QuizSettings, QuizSlot
from elearning_core.assessment.model import (
    AnswerReview,
    AttemptStatus,
    GradingPolicy,
    QuestionBody,
    QuestionKind,
    QuestionVersion,
    Quiz,
    QuizStatus,
)
from elearning_core.assessment.queries import (
    AttemptItemView,
    AttemptView,
)
from elearning_core.assessment.service import quiz_settings


@dataclass(frozen=True, slots=True)
class QuestionOut:
    """One version of a question, answer key included (only course staff read it)."""

    id: uuid.UUID
    course_id: uuid.UUID
    version: int
    kind: QuestionKind
    prompt: str
    points: float
    body: QuestionBody
    tags: list[str]
    feedback: str | None
    key_fix_of: int | None
    """Set on a version a regrade wrote: the version whose answer key it corrects."""
    created_at: dt.datetime
    """When this version was written."""
    archived: bool | None
    """Known on writes (null when one version is read: the listing says it too)."""


@dataclass(frozen=True, slots=True)
class QuizOut:
    """A quiz: its settings in the shape ``PUT /quizzes/{id}`` takes, plus its state."""

    id: uuid.UUID
    course_id: uuid.UUID
    status: QuizStatus
    title: str
    description: str
    category: str
    slots: list[QuizSlot]
    shuffle_questions: bool
    shuffle_options: bool
    time_limit_seconds: int | None
    grace_seconds: int
    max_attempts: int | None
    opens_at: dt.datetime | None
    due_at: dt.datetime | None
    closes_at: dt.datetime | None
    late_policy: LatePolicyInput
    grading_policy: GradingPolicy
    pass_mark_percent: float | None
    answer_review: AnswerReview
    created_at: dt.datetime
    updated_at: dt.datetime
    published_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class AttemptOut:
    """An attempt as its reader may see it: the answer key and item scores only once review is allowed."""

    id: uuid.UUID
    quiz_id: uuid.UUID
    user_id: uuid.UUID
    number: int
    status: AttemptStatus
    started_at: dt.datetime
    time_ends_at: dt.datetime | None
    """When saving stops counting (the time limit or the window's close), before the grace period."""
    submitted_at: dt.datetime | None
    late_seconds: int
    score: float | None
    max_score: float
    percent: float | None
    """The grade in percent, after any late deduction."""
    passed: bool | None
    feedback: str | None
    review: bool
    """Whether the answer key and per-item scores are shown."""
    items: list[AttemptItemView]


@dataclass(frozen=True, slots=True)
class SubmittedAttemptOut(AttemptOut):
    submitted_now: bool
    """True for the request that submitted the attempt; false when it was already submitted."""


def question_out(version: QuestionVersion, archived: bool | None = None) -> QuestionOut:
    return QuestionOut(
        id=version.question_id,
        course_id=version.course_id,
        version=version.version,
        kind=version.kind,
        prompt=version.prompt,
        points=version.points,
        body=version.body,
        tags=list(version.tags),
        feedback=version.feedback,
        key_fix_of=version.key_fix_of,
        created_at=version.created_at,
        archived=archived,
    )


def quiz_out(quiz: Quiz) -> QuizOut:
    settings = quiz_settings(quiz)
    return QuizOut(
        id=quiz.id,
        course_id=quiz.course_id,
        status=quiz.status,
        created_at=quiz.created_at,
        updated_at=quiz.updated_at,
        published_at=quiz.published_at,
        **{name: getattr(settings, name) for name in QuizSettings.model_fields},
    )


def _attempt_fields(view: AttemptView) -> dict[str, Any]:
    a = view.attempt
    return {
        "id": a.id,
        "quiz_id": a.quiz_id,
        "user_id": a.user_id,
        "number": a.number,
        "status": a.status,
        "started_at": a.started_at,
        "time_ends_at": view.time_ends_at,
        "submitted_at": a.submitted_at,
        "late_seconds": a.late_seconds,
        "score": a.score,
        "max_score": a.max_score,
        "percent": a.percent,
        "passed": a.passed,
        "feedback": view.feedback,
        "review": view.review,
        "items": list(view.items),
    }


def attempt_out(view: AttemptView) -> AttemptOut:
    return AttemptOut(**_attempt_fields(view))


def submitted_out(view: AttemptView, submitted_now: bool) -> SubmittedAttemptOut:
    return SubmittedAttemptOut(**_attempt_fields(view), submitted_now=submitted_now)
