"""Grades across attempts and quizzes: the grading policy, the late deduction, weighted categories,
drop-lowest, and item statistics. All pure functions over plain values."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from elearning_core.assessment.model._quiz import GradingPolicy, LatePolicy

CATEGORIES_MAX = 20


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    weight: float
    """Relative weight; the weights of the categories a learner has grades in are renormalised to 100%."""
    drop_lowest: int = 0
    """How many of the learner's lowest grades in the category are left out (never all of them)."""


@dataclass(frozen=True, slots=True)
class GradingScheme:
    """A course's gradebook categories. A quiz whose category is not listed counts in an implicit
    category of weight 1 named after it; a course without a scheme weighs every category equally."""

    course_id: uuid.UUID
    categories: tuple[Category, ...] = ()


@dataclass(frozen=True, slots=True)
class QuizGrade:
    """A learner's grade on one quiz, derived from their graded attempts by the quiz's grading policy;
    stored (one row per learner and quiz) so the gradebook reads it without touching attempts."""

    quiz_id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID
    percent: float | None
    """None while no attempt is graded (submitted ones wait for a person)."""
    attempts: int
    """Submitted attempts."""
    pending: int
    """Submitted attempts waiting for manual grading."""
    passed: bool | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ItemStatistic:
    question_id: uuid.UUID
    responses: int
    facility: float | None
    """Mean fraction of the item's points earned (0 hard .. 1 easy); None without responses."""
    discrimination: float | None
    """Point-biserial (Pearson) correlation of the item's score with the rest of the attempt's score
    (the total minus this item); None when either has no variance or fewer than 2 responses."""


def combine(policy: GradingPolicy, percents: Sequence[float]) -> float | None:
    """The quiz grade from the graded attempts' percents (in attempt-number order) by the grading
    policy; None when there are none."""
    raise NotImplementedError


def apply_late(policy: LatePolicy, raw_percent: float, late_seconds: int) -> tuple[float, float]:
    """``(final_percent, deduction)``: ``deduction_percent`` per started hour/day late, never taking
    the grade below ``floor_percent`` (a raw grade under the floor stays as it is), never below 0."""
    raise NotImplementedError


def item_statistics(scores: Iterable[tuple[uuid.UUID, uuid.UUID, float, float]]) -> list[ItemStatistic]:
    """Facility and discrimination per question from ``(attempt_id, question_id, score, points)``
    rows of graded attempts, in question-id order."""
    raise NotImplementedError
