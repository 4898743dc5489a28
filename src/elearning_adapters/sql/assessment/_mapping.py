"""Rows to entities and back, spelled out per table (the one mapping style of the SQL adapters).

A ``*_row`` function gives every column an aggregate writes (without the
key); repositories keep what they loaded as such a row and compare it at
commit, so only what changed is written. The rows are fresh structures
(lists, dicts deep-copied), never the entity's own, so a change made in
place to an entity's response dict still shows as a change.
"""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter

from elearning_core.assessment.model import (
    AnswerReview,
    Attempt,
    AttemptItem,
    AttemptStatus,
    Category,
    DrawSlot,
    Extension,
    FixedSlot,
    GradingPolicy,
    GradingScheme,
    LatePolicy,
    LateUnit,
    Question,
    QuestionBody,
    QuestionVersion,
    Quiz,
    QuizGrade,
    QuizStatus,
    Slot,
    SubmitReason,
)

BODY: TypeAdapter[Any] = TypeAdapter(QuestionBody)
"""Stored question bodies back into their pydantic models (built once: building one is slow)."""

_SEED_SPAN = 1 << 64
_SEED_SIGNED_MAX = 1 << 63


def seed_to_db(seed: int) -> int:
    """An attempt's seed, any of 64 bits in [0, 2**64), as the signed BIGINT both backends store
    (two's complement: seeds from ``randbits(64)`` fit, and come back unchanged)."""
    if not 0 <= seed < _SEED_SPAN:
        raise ValueError(f"an attempt seed must be in [0, 2**64), not {seed}")
    return seed - _SEED_SPAN if seed >= _SEED_SIGNED_MAX else seed


def seed_from_db(value: int) -> int:
    return value + _SEED_SPAN if value < 0 else value


# -- questions -----------------------------------------------------------------------------


def question_row(question: Question) -> dict[str, Any]:
    return {
        "course_id": question.course_id,
        "current_version": question.current.version,
        "archived": question.archived,
        "created_at": question.created_at,
        "updated_at": question.updated_at,
    }


def version_row(version: QuestionVersion) -> dict[str, Any]:
    return {
        "question_id": version.question_id,
        "version": version.version,
        "course_id": version.course_id,
        "kind": str(version.body.kind),
        "prompt": version.prompt,
        "points": version.points,
        "body": version.body.model_dump(mode="json"),
        "tags": list(version.tags),
        "feedback": version.feedback,
        "key_fix_of": version.key_fix_of,
        "created_at": version.created_at,
    }


def version_from(row: Any) -> QuestionVersion:
    return QuestionVersion(
        question_id=row.question_id,
        version=row.version,
        course_id=row.course_id,
        prompt=row.prompt,
        points=row.points,
        body=BODY.validate_python(row.body),
        tags=tuple(row.tags),
        feedback=row.feedback,
        created_at=row.created_at,
        key_fix_of=row.key_fix_of,
    )


def question_from(row: Any, current: QuestionVersion) -> Question:
    return Question(
        id=row.id,
        course_id=row.course_id,
        current=current,
        archived=row.archived,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# -- quizzes -------------------------------------------------------------------------------


def _slot_json(slot: Slot) -> dict[str, Any]:
    if isinstance(slot, FixedSlot):
        return {"type": "fixed", "question_id": str(slot.question_id), "points": slot.points}
    return {"type": "draw", "tags": list(slot.tags), "count": slot.count, "points": slot.points}


def _slot_from(data: dict[str, Any]) -> Slot:
    if data["type"] == "fixed":
        return FixedSlot(uuid.UUID(data["question_id"]), data.get("points"))
    return DrawSlot(tuple(data["tags"]), int(data["count"]), data.get("points"))


def _late_json(policy: LatePolicy) -> dict[str, Any]:
    return {
        "deduction_percent": policy.deduction_percent,
        "per": policy.per.value,
        "floor_percent": policy.floor_percent,
        "missing_grade_percent": policy.missing_grade_percent,
    }


def late_policy_from(data: dict[str, Any]) -> LatePolicy:
    return LatePolicy(
        deduction_percent=data["deduction_percent"],
        per=LateUnit(data["per"]),
        floor_percent=data["floor_percent"],
        missing_grade_percent=data["missing_grade_percent"],
    )


def quiz_row(quiz: Quiz) -> dict[str, Any]:
    return {
        "course_id": quiz.course_id,
        "title": quiz.title,
        "description": quiz.description,
        "category": quiz.category,
        "status": quiz.status.value,
        "slots": [_slot_json(s) for s in quiz.slots],
        "settings": {
            "shuffle_questions": quiz.shuffle_questions,
            "shuffle_options": quiz.shuffle_options,
            "time_limit_seconds": quiz.time_limit_seconds,
            "grace_seconds": quiz.grace_seconds,
            "max_attempts": quiz.max_attempts,
            "late_policy": _late_json(quiz.late_policy),
            "grading_policy": quiz.grading_policy.value,
            "pass_mark_percent": quiz.pass_mark_percent,
            "answer_review": quiz.answer_review.value,
        },
        "opens_at": quiz.opens_at,
        "due_at": quiz.due_at,
        "closes_at": quiz.closes_at,
        "created_at": quiz.created_at,
        "updated_at": quiz.updated_at,
        "published_at": quiz.published_at,
    }


def quiz_from(row: Any) -> Quiz:
    settings = row.settings
    return Quiz(
        id=row.id,
        course_id=row.course_id,
        title=row.title,
        description=row.description,
        category=row.category,
        status=QuizStatus(row.status),
        slots=tuple(_slot_from(s) for s in row.slots),
        shuffle_questions=settings["shuffle_questions"],
        shuffle_options=settings["shuffle_options"],
        time_limit_seconds=settings["time_limit_seconds"],
        grace_seconds=settings["grace_seconds"],
        max_attempts=settings["max_attempts"],
        opens_at=row.opens_at,
        due_at=row.due_at,
        closes_at=row.closes_at,
        late_policy=late_policy_from(settings["late_policy"]),
        grading_policy=GradingPolicy(settings["grading_policy"]),
        pass_mark_percent=settings["pass_mark_percent"],
        answer_review=AnswerReview(settings["answer_review"]),
        created_at=row.created_at,
        updated_at=row.updated_at,
        published_at=row.published_at,
    )


def extension_row(extension: Extension) -> dict[str, Any]:
    return {
        "quiz_id": extension.quiz_id,
        "user_id": extension.user_id,
        "due_at": extension.due_at,
        "closes_at": extension.closes_at,
        "extra_attempts": extension.extra_attempts,
        "extra_time_seconds": extension.extra_time_seconds,
    }


def extension_from(row: Any) -> Extension:
    return Extension(
        quiz_id=row.quiz_id,
        user_id=row.user_id,
        due_at=row.due_at,
        closes_at=row.closes_at,
        extra_attempts=row.extra_attempts,
        extra_time_seconds=row.extra_time_seconds,
    )


# -- attempts ------------------------------------------------------------------------------


def attempt_row(attempt: Attempt) -> dict[str, Any]:
    """Every attempt column but the key and ``version`` (which the repository checks and sets on write)."""
    ends = attempt.time_ends_at
    return {
        "quiz_id": attempt.quiz_id,
        "course_id": attempt.course_id,
        "user_id": attempt.user_id,
        "number": attempt.number,
        "seed": seed_to_db(attempt.seed),
        "status": attempt.status.value,
        "started_at": attempt.started_at,
        "time_ends_at": ends,
        "grace_seconds": attempt.grace_seconds,
        "expires_at": None if ends is None else ends + timedelta(seconds=attempt.grace_seconds),
        "submitted_at": attempt.submitted_at,
        "submit_reason": None if attempt.submit_reason is None else attempt.submit_reason.value,
        "late_seconds": attempt.late_seconds,
        "score": attempt.score,
        "max_score": attempt.max_score,
        "penalty_percent": attempt.penalty_percent,
        "percent": attempt.percent,
        "passed": attempt.passed,
        "feedback": attempt.feedback,
        "graded_at": attempt.graded_at,
        "late_policy": None if attempt.late_policy is None else _late_json(attempt.late_policy),
        "pass_mark_percent": attempt.pass_mark_percent,
    }


def item_row(item: AttemptItem) -> dict[str, Any]:
    """Every item column but the key (attempt id, position)."""
    return {
        "question_id": item.question_id,
        "version": item.version,
        "key_version": item.key_version,
        "points": item.points,
        "option_order": list(item.order),
        "response": copy.deepcopy(item.response),
        "saved_at": item.saved_at,
        "fraction": item.fraction,
        "score": item.score,
        "needs_grading": item.needs_grading,
        "grading_note": item.grading_note,
        "rubric": None if item.rubric is None else dict(item.rubric),
        "feedback": item.feedback,
        "graded_by": item.graded_by,
        "graded_at": item.graded_at,
    }


def item_from(row: Any) -> AttemptItem:
    return AttemptItem(
        position=row.position,
        question_id=row.question_id,
        version=row.version,
        key_version=row.key_version,
        points=row.points,
        order=tuple(row.option_order),
        response=row.response,
        saved_at=row.saved_at,
        fraction=row.fraction,
        score=row.score,
        needs_grading=row.needs_grading,
        grading_note=row.grading_note,
        rubric=row.rubric,
        feedback=row.feedback,
        graded_by=row.graded_by,
        graded_at=row.graded_at,
    )


def attempt_from(row: Any, items: list[AttemptItem]) -> Attempt:
    return Attempt(
        id=row.id,
        quiz_id=row.quiz_id,
        course_id=row.course_id,
        user_id=row.user_id,
        number=row.number,
        seed=seed_from_db(row.seed),
        status=AttemptStatus(row.status),
        started_at=row.started_at,
        time_ends_at=row.time_ends_at,
        grace_seconds=row.grace_seconds,
        items=items,
        submitted_at=row.submitted_at,
        submit_reason=None if row.submit_reason is None else SubmitReason(row.submit_reason),
        late_seconds=row.late_seconds,
        score=row.score,
        max_score=row.max_score,
        penalty_percent=row.penalty_percent,
        percent=row.percent,
        passed=row.passed,
        feedback=row.feedback,
        graded_at=row.graded_at,
        version=row.version,
        late_policy=None if row.late_policy is None else late_policy_from(row.late_policy),
        pass_mark_percent=row.pass_mark_percent,
    )


# -- grades --------------------------------------------------------------------------------


def grade_row(grade: QuizGrade) -> dict[str, Any]:
    return {
        "quiz_id": grade.quiz_id,
        "user_id": grade.user_id,
        "course_id": grade.course_id,
        "percent": grade.percent,
        "attempts": grade.attempts,
        "pending": grade.pending,
        "passed": grade.passed,
        "updated_at": grade.updated_at,
    }


def categories_json(categories: tuple[Category, ...]) -> list[dict[str, Any]]:
    return [{"name": c.name, "weight": c.weight, "drop_lowest": c.drop_lowest} for c in categories]


def categories_from(data: list[dict[str, Any]]) -> tuple[Category, ...]:
    return tuple(Category(c["name"], c["weight"], c["drop_lowest"]) for c in data)


def scheme_from(course_id: uuid.UUID, data: list[dict[str, Any]] | None) -> GradingScheme:
    return GradingScheme(course_id, categories_from(data or []))
