"""Read models built from the aggregates: summaries, and an attempt as its reader may see it
(the review rules of the package docstring)."""

from __future__ import annotations

import uuid
from datetime import datetime

from elearning_core.assessment.model import (
    AnswerReview,
    Attempt,
    AttemptStatus,
    QuestionVersion,
    Quiz,
    Window,
    present,
)
from elearning_core.assessment.queries import (
    AttemptItemView,
    AttemptSummary,
    AttemptView,
    QuizSummary,
)
from elearning_core.shared.errors import (
    NotFound,
)


def attempt_summary(attempt: Attempt) -> AttemptSummary:
    return AttemptSummary(
        id=attempt.id,
        quiz_id=attempt.quiz_id,
        user_id=attempt.user_id,
        number=attempt.number,
        status=attempt.status,
        started_at=attempt.started_at,
        submitted_at=attempt.submitted_at,
        late_seconds=attempt.late_seconds,
        score=attempt.score,
        max_score=attempt.max_score,
        percent=attempt.percent,
        passed=attempt.passed,
    )


def quiz_summary(quiz: Quiz) -> QuizSummary:
    return QuizSummary(
        id=quiz.id,
        course_id=quiz.course_id,
        title=quiz.title,
        category=quiz.category,
        status=quiz.status,
        opens_at=quiz.opens_at,
        due_at=quiz.due_at,
        closes_at=quiz.closes_at,
        max_attempts=quiz.max_attempts,
        time_limit_seconds=quiz.time_limit_seconds,
        missing_grade_percent=quiz.late_policy.missing_grade_percent,
    )


def review_allowed(attempt: Attempt, quiz: Quiz, window: Window, now: datetime, *, staff: bool) -> bool:
    """Whether the reader sees the answer key, per-item scores and feedback (the module docstring)."""
    if staff:
        return True
    if attempt.status is AttemptStatus.IN_PROGRESS:
        return False
    if quiz.answer_review is AnswerReview.AFTER_SUBMIT:
        return True
    if quiz.answer_review is AnswerReview.AFTER_DUE:
        opens = window.review_from()
        return opens is None or now >= opens
    return False


def attempt_view(
    attempt: Attempt,
    quiz: Quiz,
    window: Window,
    versions: dict[tuple[uuid.UUID, int], QuestionVersion],
    *,
    staff: bool,
    now: datetime,
) -> AttemptView:
    """The attempt as its reader may see it: with review, each question is presented by the
    version that scores it (a corrected key shows the correction); without, by the one shown."""
    review = review_allowed(attempt, quiz, window, now, staff=staff)
    items: list[AttemptItemView] = []
    for item in attempt.items:
        ref = (item.question_id, item.key_version if review else item.version)
        version = versions.get(ref) or versions.get((item.question_id, item.version))
        if version is None:
            raise NotFound("question version", f"{item.version} of question {item.question_id}")
        items.append(
            AttemptItemView(
                position=item.position,
                question_id=item.question_id,
                version=item.version,
                points=item.points,
                question=present(version, item.order, reveal=review),
                response=item.response,
                saved_at=item.saved_at,
                score=item.score if review else None,
                needs_grading=item.needs_grading,
                feedback=item.feedback if review else None,
            )
        )
    return AttemptView(
        attempt=attempt_summary(attempt),
        time_ends_at=attempt.time_ends_at,
        items=items,
        feedback=attempt.feedback,
        review=review,
    )
