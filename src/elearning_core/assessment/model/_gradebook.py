"""Grades across attempts and quizzes: the grading policy, the late deduction, weighted categories,
drop-lowest, and item statistics. All pure functions over plain values."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from elearning_core.assessment.model._quiz import GradingPolicy, LatePolicy, LateUnit

CATEGORIES_MAX = 20

_LATE_UNIT_SECONDS = {LateUnit.HOUR: 3600, LateUnit.DAY: 86400}


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
    if not percents:
        return None
    if policy is GradingPolicy.HIGHEST:
        grade = max(percents)
    elif policy is GradingPolicy.LATEST:
        grade = percents[-1]
    else:
        # fsum: a long run of attempts must not drift from the exact mean by accumulated rounding.
        grade = math.fsum(percents) / len(percents)
    return round(grade, 4)


def apply_late(policy: LatePolicy, raw_percent: float, late_seconds: int) -> tuple[float, float]:
    """``(final_percent, deduction)``: ``deduction_percent`` per started hour/day late, never taking
    the grade below ``floor_percent`` (a raw grade under the floor stays as it is), never below 0."""
    if late_seconds <= 0 or policy.deduction_percent <= 0:
        return raw_percent, 0.0
    unit = _LATE_UNIT_SECONDS[policy.per]
    started_units = -(-late_seconds // unit)  # integer ceil: exact for any number of seconds
    deducted = raw_percent - policy.deduction_percent * started_units
    # The floor only stops the deduction; it never lifts a grade that was under it on its merits.
    # The outer min keeps a malformed input (negative raw, say) from being raised by the 0 bound.
    final = min(raw_percent, max(deducted, min(raw_percent, policy.floor_percent), 0.0))
    return final, raw_percent - final


def item_statistics(scores: Iterable[tuple[uuid.UUID, uuid.UUID, float, float]]) -> list[ItemStatistic]:
    """Facility and discrimination per question from ``(attempt_id, question_id, score, points)``
    rows of graded attempts, in question-id order."""
    rows = list(scores)
    # The rest score needs each attempt's totals, so the rows are read twice: totals first.
    attempt_score: dict[uuid.UUID, float] = {}
    attempt_points: dict[uuid.UUID, float] = {}
    for attempt_id, _question_id, score, points in rows:
        if points <= 0:
            continue  # the same rows the items themselves skip, so a rest score never counts them
        attempt_score[attempt_id] = attempt_score.get(attempt_id, 0.0) + score
        attempt_points[attempt_id] = attempt_points.get(attempt_id, 0.0) + points

    responses: dict[uuid.UUID, int] = {}
    fractions: dict[uuid.UUID, list[float]] = {}
    pairs: dict[uuid.UUID, list[tuple[float, float]]] = {}
    for attempt_id, question_id, score, points in rows:
        responses[question_id] = responses.get(question_id, 0) + 1
        item_fractions = fractions.setdefault(question_id, [])
        item_pairs = pairs.setdefault(question_id, [])
        if points <= 0:
            continue  # a zero-point item says nothing about difficulty (and would divide by zero)
        fraction = _unit_interval(score / points)
        item_fractions.append(fraction)
        rest_points = attempt_points[attempt_id] - points
        if rest_points > 0:
            # Corrected item-total: the item's own score is left out of the total it is compared
            # with, or a short quiz would show every item as discriminating merely by inclusion.
            rest = _unit_interval((attempt_score[attempt_id] - score) / rest_points)
            item_pairs.append((fraction, rest))

    return [
        ItemStatistic(
            question_id=question_id,
            responses=responses[question_id],
            facility=_mean4(fractions[question_id]),
            discrimination=_pearson(pairs[question_id]),
        )
        for question_id in sorted(responses)
    ]


def _mean4(values: list[float]) -> float | None:
    return round(math.fsum(values) / len(values), 4) if values else None


def _unit_interval(value: float) -> float:
    """Scores outside 0..points are bad data; clamped, they cannot push facility out of its documented range."""
    return min(1.0, max(0.0, value))


def _pearson(pairs: list[tuple[float, float]]) -> float | None:
    if len(pairs) < 2:
        return None
    xs = [x for x, _ in pairs]
    ys = [y for _, y in pairs]
    # Constant-ness is decided on the values themselves: deviations from a float mean can be tiny
    # but non-zero for identical values, which would turn "no variance" into a spurious +-1.
    if len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    mean_x = math.fsum(xs) / len(xs)
    mean_y = math.fsum(ys) / len(ys)
    sxy = math.fsum((x - mean_x) * (y - mean_y) for x, y in pairs)
    sxx = math.fsum((x - mean_x) ** 2 for x in xs)
    syy = math.fsum((y - mean_y) ** 2 for y in ys)
    if sxx <= 0 or syy <= 0:
        return None
    r = sxy / math.sqrt(sxx * syy)
    return round(min(1.0, max(-1.0, r)), 4)
