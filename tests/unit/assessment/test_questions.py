"""The question bank: each kind's scoring on worked examples, key and response checks, the learner's
view, and the Question aggregate's versions."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import pytest

from elearning_core.assessment.model import (
    POINTS_MAX,
    TAGS_MAX,
    Essay,
    FillBlanks,
    Matching,
    MultipleResponse,
    MultipleScoring,
    Numeric,
    NumericAnswer,
    Option,
    Ordering,
    OrderScoring,
    Question,
    QuestionKind,
    QuestionVersion,
    RubricCriterion,
    RubricLevel,
    Scored,
    ShortText,
    SingleChoice,
    TextAnswer,
    TextMatch,
    Tolerance,
    TrueFalse,
    check_body,
    check_response,
    key_compatible,
    max_points_of,
    option_ids,
    present,
    score_response,
    score_rubric,
)
from elearning_core.assessment.model._questions import parse_body
from elearning_core.shared.errors import ValidationFailed
from tests.fakes import T0, FakePatternMatcher, minutes

M = FakePatternMatcher()
COURSE = uuid.UUID("00000000-0000-7000-8000-000000000001")
T1 = T0 + minutes(1)
TIMEOUT_NOTE = "the answer pattern timed out: a person must grade it"


def options(*ids: str) -> list[Option]:
    return [Option(id=i, text=f"Option {i}") for i in ids]


def fraction(body: Any, response: dict[str, Any] | None, matcher: FakePatternMatcher = M) -> float:
    scored = score_response(body, response, matcher)
    assert not scored.needs_grading
    return scored.fraction


def paths(error: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [e.field for e in error.value.errors]


def rubric_essay(max_words: int | None = None) -> Essay:
    return Essay(
        rubric=[
            RubricCriterion(
                id="content",
                title="Content",
                levels=[
                    RubricLevel(points=0, description="Missing"),
                    RubricLevel(points=2, description="Partial"),
                    RubricLevel(points=4, description="Complete"),
                ],
            ),
            RubricCriterion(
                id="style",
                title="Style",
                levels=[RubricLevel(points=1, description="Rough"), RubricLevel(points=3, description="Clear")],
            ),
        ],
        max_words=max_words,
    )


def version_of(body: Any, *, points: float = 2.0, feedback: str | None = "See chapter 3") -> QuestionVersion:
    return QuestionVersion(
        question_id=uuid.UUID("00000000-0000-7000-8000-00000000000a"),
        version=3,
        course_id=COURSE,
        prompt="Answer the question below.",
        points=points,
        body=body,
        tags=("unit",),
        feedback=feedback,
        created_at=T0,
    )


# -- single choice and true/false -------------------------------------------------------------------

SINGLE = SingleChoice(options=options("a", "b", "c"), correct="b")


@pytest.mark.parametrize(
    ("response", "expected"),
    [({"choice": "b"}, 1.0), ({"choice": "a"}, 0.0), ({"choice": None}, 0.0), (None, 0.0), ({"choice": "zz"}, 0.0)],
)
def test_single_choice_scores_the_correct_option_only(response: dict[str, Any] | None, expected: float) -> None:
    assert fraction(SINGLE, response) == expected


@pytest.mark.parametrize(
    ("response", "expected"), [({"value": True}, 1.0), ({"value": False}, 0.0), ({"value": "true"}, 0.0)]
)
def test_true_false_needs_the_boolean_itself(response: dict[str, Any], expected: float) -> None:
    assert fraction(TrueFalse(correct=True), response) == expected


# -- multiple response: the worked example of each policy -----------------------------------------

# Options a b c d; a and b are correct.
#   chosen   all_or_nothing  partial (judged right / 4)   right_minus_wrong ((right - wrong) / 2, >= 0)
#   a b      1               4/4                          (2 - 0) / 2 = 1
#   a        0               a, c, d right: 3/4           (1 - 0) / 2 = 0.5
#   a c      0               a, d right: 2/4              (1 - 1) / 2 = 0
#   a b c    0               a, b, d right: 3/4           (2 - 1) / 2 = 0.5
#   c d      0               none right: 0                (0 - 2) / 2 -> floored at 0
#   nothing  0               c, d right: 2/4              0
MULTIPLE_TABLE = [
    (["a", "b"], 1.0, 1.0, 1.0),
    (["a"], 0.0, 0.75, 0.5),
    (["a", "c"], 0.0, 0.5, 0.0),
    (["a", "b", "c"], 0.0, 0.75, 0.5),
    (["c", "d"], 0.0, 0.0, 0.0),
    ([], 0.0, 0.5, 0.0),
]


@pytest.mark.parametrize(("chosen", "all_or_nothing", "partial", "right_minus_wrong"), MULTIPLE_TABLE)
def test_multiple_response_policies_on_the_worked_example(
    chosen: list[str], all_or_nothing: float, partial: float, right_minus_wrong: float
) -> None:
    def body(scoring: MultipleScoring) -> MultipleResponse:
        return MultipleResponse(options=options("a", "b", "c", "d"), correct=["a", "b"], scoring=scoring)

    response = {"choices": chosen}
    assert fraction(body(MultipleScoring.ALL_OR_NOTHING), response) == all_or_nothing
    assert fraction(body(MultipleScoring.PARTIAL), response) == partial
    assert fraction(body(MultipleScoring.RIGHT_MINUS_WRONG), response) == right_minus_wrong


def test_fractions_are_rounded_to_six_decimals() -> None:
    body = MultipleResponse(options=options("a", "b", "c"), correct=["a"], scoring=MultipleScoring.PARTIAL)
    assert fraction(body, {"choices": []}) == 0.666667
    assert fraction(body, {"choices": ["b"]}) == 0.333333


# -- numeric -------------------------------------------------------------------------------------


def numeric(*answers: NumericAnswer) -> Numeric:
    return Numeric(answers=list(answers))


@pytest.mark.parametrize(
    ("answer", "given", "expected"),
    [
        (NumericAnswer(value=3.14), 3.14, 1.0),
        (NumericAnswer(value=3.14), 3.1400001, 0.0),
        (NumericAnswer(value=10, tolerance=0.5, tolerance_kind=Tolerance.ABSOLUTE), 10.5, 1.0),
        (NumericAnswer(value=10, tolerance=0.5, tolerance_kind=Tolerance.ABSOLUTE), 9.5, 1.0),
        (NumericAnswer(value=10, tolerance=0.5, tolerance_kind=Tolerance.ABSOLUTE), 10.501, 0.0),
        (NumericAnswer(value=10, tolerance=0.5, tolerance_kind=Tolerance.ABSOLUTE), 9.499, 0.0),
        # 0.4 - 0.3 is 0.10000000000000003 in floats: still within 0.1
        (NumericAnswer(value=0.3, tolerance=0.1, tolerance_kind=Tolerance.ABSOLUTE), 0.4, 1.0),
        (NumericAnswer(value=0.3, tolerance=0.1, tolerance_kind=Tolerance.ABSOLUTE), 0.2, 1.0),
        (NumericAnswer(value=200, tolerance=5, tolerance_kind=Tolerance.PERCENT), 210, 1.0),
        (NumericAnswer(value=200, tolerance=5, tolerance_kind=Tolerance.PERCENT), 190, 1.0),
        (NumericAnswer(value=200, tolerance=5, tolerance_kind=Tolerance.PERCENT), 210.01, 0.0),
        (NumericAnswer(value=200, tolerance=5, tolerance_kind=Tolerance.PERCENT), 189.99, 0.0),
        (NumericAnswer(value=-200, tolerance=5, tolerance_kind=Tolerance.PERCENT), -210, 1.0),
        (NumericAnswer(value=-200, tolerance=5, tolerance_kind=Tolerance.PERCENT), -190, 1.0),
        (NumericAnswer(value=-200, tolerance=5, tolerance_kind=Tolerance.PERCENT), -189, 0.0),
        (NumericAnswer(value=0, tolerance=5, tolerance_kind=Tolerance.PERCENT), 0.001, 0.0),
        (NumericAnswer(min=1, max=2), 1, 1.0),
        (NumericAnswer(min=1, max=2), 2, 1.0),
        (NumericAnswer(min=1, max=2), 1.5, 1.0),
        (NumericAnswer(min=1, max=2), 0.999, 0.0),
        (NumericAnswer(min=1, max=2), 2.001, 0.0),
        (NumericAnswer(min=-5, max=-5), -5, 1.0),
    ],
)
def test_numeric_answers_at_their_boundaries(answer: NumericAnswer, given: float, expected: float) -> None:
    assert fraction(numeric(answer), {"value": given}) == expected


def test_numeric_best_credit_wins() -> None:
    body = numeric(NumericAnswer(min=90, max=110, credit=0.5), NumericAnswer(value=100))
    assert fraction(body, {"value": 100}) == 1.0
    assert fraction(body, {"value": 95}) == 0.5
    assert fraction(body, {"value": 120}) == 0.0
    assert fraction(body, {"value": None}) == 0.0


@pytest.mark.parametrize(("given", "normal"), [(3, 3.0), (2.5, 2.5), (" 3.25 ", 3.25), ("-1e3", -1000.0), (None, None)])
def test_numeric_responses_are_normalised_to_floats(given: Any, normal: float | None) -> None:
    assert check_response(numeric(NumericAnswer(value=1)), {"value": given}) == {"value": normal}


@pytest.mark.parametrize("given", [float("inf"), float("nan"), "nan", "-inf", "three", True, [1], "1" * 65])
def test_numeric_responses_refuse_what_is_no_finite_number(given: Any) -> None:
    with pytest.raises(ValidationFailed) as error:
        check_response(numeric(NumericAnswer(value=1)), {"value": given})
    assert paths(error) == ["response.value"]


def test_a_non_finite_stored_number_scores_nothing() -> None:
    assert fraction(numeric(NumericAnswer(min=0, max=1)), {"value": float("nan")}) == 0.0


# -- short text ------------------------------------------------------------------------------------


def short(*answers: TextAnswer) -> ShortText:
    return ShortText(answers=list(answers))


@pytest.mark.parametrize(
    ("answer", "given", "expected"),
    [
        (TextAnswer(text="Paris"), "  paris ", 1.0),
        (TextAnswer(text="Paris"), "PARIS", 1.0),
        (TextAnswer(text="Paris"), "Par is", 0.0),
        (TextAnswer(text="Paris", match=TextMatch.EXACT), "Paris", 1.0),
        (TextAnswer(text="Paris", match=TextMatch.EXACT), "paris", 0.0),
        (TextAnswer(text="New York", match=TextMatch.EXACT), "  New \t  York\n", 1.0),
        (TextAnswer(text=" New  York ", match=TextMatch.EXACT), "New York", 1.0),
        (TextAnswer(text="café", match=TextMatch.EXACT), "cafe\u0301", 1.0),  # NFC: one accent, two spellings
        (TextAnswer(text="STRASSE"), "straße", 1.0),  # casefolding, not lowercasing
        (TextAnswer(text="colou?r", match=TextMatch.REGEX), "colour", 1.0),
        (TextAnswer(text="colou?r", match=TextMatch.REGEX), "color", 1.0),
        (TextAnswer(text="colou?r", match=TextMatch.REGEX), "colors", 0.0),
        (TextAnswer(text="colou?r", match=TextMatch.REGEX), "Color", 0.0),
        (TextAnswer(text="colou?r", match=TextMatch.REGEX, ignore_case=True), "Color", 1.0),
        (TextAnswer(text="new york", match=TextMatch.REGEX), "  new    york ", 1.0),
        (TextAnswer(text="x*", match=TextMatch.REGEX), "   ", 0.0),  # blank is unanswered, even for x*
    ],
)
def test_short_text_matching(answer: TextAnswer, given: str, expected: float) -> None:
    assert fraction(short(answer), {"text": given}) == expected


def test_short_text_best_credit_wins() -> None:
    body = short(TextAnswer(text="Pari", credit=0.5), TextAnswer(text="Paris"))
    assert fraction(body, {"text": "paris"}) == 1.0
    assert fraction(body, {"text": "pari"}) == 0.5
    assert fraction(body, {"text": "rome"}) == 0.0


def test_a_regex_that_times_out_goes_to_a_person() -> None:
    matcher = FakePatternMatcher(slow={"(a|aa)+"})
    body = short(TextAnswer(text="(a|aa)+", match=TextMatch.REGEX))
    assert score_response(body, {"text": "aaa"}, matcher) == Scored(0, needs_grading=True, note=TIMEOUT_NOTE)


def test_a_timeout_does_not_matter_once_another_answer_gives_full_credit() -> None:
    matcher = FakePatternMatcher(slow={"(a|aa)+"})
    body = short(TextAnswer(text="(a|aa)+", match=TextMatch.REGEX), TextAnswer(text="aaa"))
    assert score_response(body, {"text": "aaa"}, matcher) == Scored(1.0)


def test_a_timeout_that_could_have_given_more_than_the_match_goes_to_a_person() -> None:
    matcher = FakePatternMatcher(slow={"(a|aa)+"})
    body = short(TextAnswer(text="(a|aa)+", match=TextMatch.REGEX), TextAnswer(text="aaa", credit=0.5))
    assert score_response(body, {"text": "aaa"}, matcher).needs_grading


def test_answers_are_tried_best_credit_first_and_stop_at_full_credit() -> None:
    matcher = FakePatternMatcher()
    body = short(
        TextAnswer(text="a.*", match=TextMatch.REGEX, credit=0.5), TextAnswer(text="ab", match=TextMatch.REGEX)
    )
    assert fraction(body, {"text": "ab"}, matcher) == 1.0
    assert matcher.calls == [("ab", "ab")]


# -- ordering ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "partial", "all_or_nothing"),
    [
        (["a", "b", "c", "d"], 1.0, 1.0),
        (["b", "a", "c", "d"], 0.5, 0.0),
        (["a", "c", "b", "d"], 0.5, 0.0),
        (["d", "a", "b", "c"], 0.0, 0.0),
        (["d", "c", "b", "a"], 0.0, 0.0),
    ],
)
def test_ordering_counts_items_in_their_place(order: list[str], partial: float, all_or_nothing: float) -> None:
    items = options("a", "b", "c", "d")
    assert fraction(Ordering(items=items, scoring=OrderScoring.PARTIAL), {"order": order}) == partial
    assert fraction(Ordering(items=items, scoring=OrderScoring.ALL_OR_NOTHING), {"order": order}) == all_or_nothing


@pytest.mark.parametrize(
    ("order", "where"),
    [
        (["a", "b", "c"], "response.order"),
        (["a", "b", "b", "c"], "response.order.2"),
        (["a", "b", "zz", "c"], "response.order.2"),
        (["a", "b", "c", "d", "d"], "response.order.4"),
        ("abcd", "response.order"),
    ],
)
def test_an_ordering_response_must_order_every_item_once(order: Any, where: str) -> None:
    with pytest.raises(ValidationFailed) as error:
        check_response(Ordering(items=options("a", "b", "c", "d")), {"order": order})
    assert where in paths(error)


# -- matching ---------------------------------------------------------------------------------------

# p1 and p3 both go with c1 (a choice may serve several prompts); x is a distractor.
MATCHING = Matching(
    prompts=options("p1", "p2", "p3"), choices=options("c1", "c2", "x"), pairs={"p1": "c1", "p2": "c2", "p3": "c1"}
)


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ({"p1": "c1", "p2": "c2", "p3": "c1"}, 1.0),
        ({"p1": "c1", "p2": "x", "p3": "c1"}, 0.666667),
        ({"p1": "c1"}, 0.333333),
        ({"p1": "c2", "p2": "c1", "p3": "x"}, 0.0),
        ({}, 0.0),
    ],
)
def test_matching_counts_correct_pairs_per_prompt(pairs: dict[str, str], expected: float) -> None:
    assert fraction(MATCHING, {"pairs": pairs}) == expected


def test_matching_responses_may_reuse_a_choice_and_leave_prompts_open() -> None:
    normal = check_response(MATCHING, {"pairs": {"p3": "c1", "p1": "c1", "p2": None}})
    assert normal == {"pairs": {"p1": "c1", "p3": "c1"}}
    assert list(normal["pairs"]) == ["p1", "p3"]


@pytest.mark.parametrize(
    ("pairs", "where"),
    [
        ({"zz": "c1"}, "response.pairs.zz"),
        ({"p1": "zz"}, "response.pairs.p1"),
        ({"p1": 3}, "response.pairs.p1"),
        (["p1", "c1"], "response.pairs"),
        ({"p1": "c1", "p2": "c1", "p3": "c1", "p4": "c1"}, "response.pairs"),
    ],
)
def test_matching_responses_name_only_known_prompts_and_choices(pairs: Any, where: str) -> None:
    with pytest.raises(ValidationFailed) as error:
        check_response(MATCHING, {"pairs": pairs})
    assert where in paths(error)


# -- fill in the blanks ------------------------------------------------------------------------------

BLANKS = FillBlanks(
    text="The capital of France is {{capital}} and of Italy {{ rome }}.",
    blanks={
        "capital": [TextAnswer(text="Paris")],
        "rome": [TextAnswer(text="Rome"), TextAnswer(text="Roma?", match=TextMatch.REGEX)],
    },
)


@pytest.mark.parametrize(
    ("blanks", "expected"),
    [
        ({"capital": "paris", "rome": "Roma"}, 1.0),
        ({"capital": " Paris ", "rome": "Milan"}, 0.5),
        ({"capital": "paris"}, 0.5),
        ({"rome": "rome"}, 0.5),
        ({}, 0.0),
    ],
)
def test_fill_blanks_counts_correct_blanks(blanks: dict[str, str], expected: float) -> None:
    assert fraction(BLANKS, {"blanks": blanks}) == expected


def test_a_blank_whose_pattern_times_out_sends_the_question_to_a_person() -> None:
    matcher = FakePatternMatcher(slow={"Roma?"})
    scored = score_response(BLANKS, {"blanks": {"capital": "Paris", "rome": "Milan"}}, matcher)
    assert scored == Scored(0, needs_grading=True, note=TIMEOUT_NOTE)


def test_fill_blanks_responses_are_partial_and_named() -> None:
    assert check_response(BLANKS, {"blanks": {"rome": "Roma", "capital": None}}) == {"blanks": {"rome": "Roma"}}
    with pytest.raises(ValidationFailed) as error:
        check_response(BLANKS, {"blanks": {"milan": "x", "capital": 7}})
    assert paths(error) == ["response.blanks.milan", "response.blanks.capital"]


# -- essays and rubrics ---------------------------------------------------------------------------


def test_an_essay_is_worth_its_rubric() -> None:
    assert max_points_of(rubric_essay(), 1.0) == 7.0
    assert max_points_of(SINGLE, 2.5) == 2.5


def test_an_answered_essay_waits_for_a_person_and_a_blank_one_scores_zero() -> None:
    essay = rubric_essay()
    waiting = score_response(essay, {"text": "Photosynthesis turns light into sugar."}, M)
    assert waiting.needs_grading
    assert waiting.fraction == 0
    assert waiting.note
    assert score_response(essay, {"text": "   "}, M) == Scored(0.0)
    assert score_response(essay, None, M) == Scored(0.0)


def test_score_rubric_adds_the_chosen_levels() -> None:
    assert score_rubric(rubric_essay(), {"content": 2, "style": 0}) == 5.0
    assert score_rubric(rubric_essay(), {"content": 0, "style": 1}) == 3.0


@pytest.mark.parametrize(
    ("selections", "where"),
    [
        ({"content": 2}, ["rubric.style"]),
        ({"content": 3, "style": 0}, ["rubric.content"]),
        ({"content": -1, "style": 0}, ["rubric.content"]),
        ({"content": True, "style": 0}, ["rubric.content"]),
        ({"content": "2", "style": 0}, ["rubric.content"]),
        ({"content": 1, "style": 1, "grammar": 0}, ["rubric.grammar"]),
    ],
)
def test_score_rubric_names_what_does_not_fit(selections: dict[str, Any], where: list[str]) -> None:
    with pytest.raises(ValidationFailed) as error:
        score_rubric(rubric_essay(), selections)
    assert paths(error) == where


def test_score_rubric_refuses_other_kinds() -> None:
    with pytest.raises(ValidationFailed) as error:
        score_rubric(SINGLE, {})
    assert paths(error) == ["rubric"]


def test_an_essay_over_its_word_limit_is_refused() -> None:
    assert check_response(rubric_essay(max_words=3), {"text": "one two  three"}) == {"text": "one two  three"}
    with pytest.raises(ValidationFailed) as error:
        check_response(rubric_essay(max_words=3), {"text": "one two three four"})
    assert paths(error) == ["response.text"]
    assert "4 words" in error.value.detail


# -- check_body --------------------------------------------------------------------------------------

NO_FULL_CREDIT = NumericAnswer(value=1, credit=0.5)
ZERO_RUBRIC = Essay(rubric=[RubricCriterion(id="c", title="C", levels=[RubricLevel(points=0, description="none")])])
HUGE_RUBRIC = Essay(
    rubric=[
        RubricCriterion(id=f"c{i}", title="C", levels=[RubricLevel(points=POINTS_MAX, description="all")])
        for i in range(2)
    ]
)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (SingleChoice(options=options("a", "a"), correct="a"), ["body.options.1.id"]),
        (SingleChoice(options=options("a", "b"), correct="c"), ["body.correct"]),
        (MultipleResponse(options=options("a", "b"), correct=["a", "z"]), ["body.correct.1"]),
        (MultipleResponse(options=options("a", "b"), correct=["a", "a"]), ["body.correct.1"]),
        (
            MultipleResponse(options=options("a", "b"), correct=[], scoring=MultipleScoring.RIGHT_MINUS_WRONG),
            ["body.correct"],
        ),
        (numeric(NumericAnswer()), ["body.answers.0"]),
        (numeric(NumericAnswer(value=1, min=0, max=2)), ["body.answers.0"]),
        (numeric(NumericAnswer(min=3, max=2)), ["body.answers.0.min"]),
        (numeric(NumericAnswer(min=3)), ["body.answers.0.max"]),
        (numeric(NumericAnswer(max=3)), ["body.answers.0.min"]),
        (numeric(NumericAnswer(value=float("inf"))), ["body.answers.0.value"]),
        (numeric(NumericAnswer(value=1, tolerance=float("inf"))), ["body.answers.0.tolerance"]),
        (numeric(NumericAnswer(value=1, tolerance=0.5)), ["body.answers.0.tolerance"]),
        (
            numeric(NumericAnswer(min=0, max=1, tolerance=0.5, tolerance_kind=Tolerance.ABSOLUTE)),
            ["body.answers.0.tolerance"],
        ),
        (numeric(NumericAnswer(value=1), NO_FULL_CREDIT.model_copy(update={"value": 2})), []),
        (numeric(NO_FULL_CREDIT), ["body.answers"]),
        (short(TextAnswer(text="(ab", match=TextMatch.REGEX)), ["body.answers.0.text"]),
        (short(TextAnswer(text="   ")), ["body.answers.0.text"]),
        (short(TextAnswer(text="Paris", ignore_case=True)), ["body.answers.0.ignore_case"]),
        (Ordering(items=options("a", "b", "a")), ["body.items.2.id"]),
        (Matching(prompts=options("p"), choices=options("c", "c"), pairs={"p": "c"}), ["body.choices.1.id"]),
        (Matching(prompts=options("p"), choices=options("c"), pairs={"p": "c", "q": "c"}), ["body.pairs.q"]),
        (Matching(prompts=options("p"), choices=options("c"), pairs={"p": "d"}), ["body.pairs.p"]),
        (Matching(prompts=options("p", "q"), choices=options("c"), pairs={"p": "c"}), ["body.pairs.q"]),
        (FillBlanks(text="No blanks here.", blanks={}), ["body.text"]),
        (FillBlanks(text="{{a}} and {{b}}", blanks={"a": [TextAnswer(text="x")]}), ["body.text"]),
        (FillBlanks(text="{{a}} and {{a}}", blanks={"a": [TextAnswer(text="x")]}), ["body.text"]),
        (FillBlanks(text="{{a b}}", blanks={}), ["body.text"]),
        (
            FillBlanks(text="{{a}}", blanks={"a": [TextAnswer(text="x")], "b": [TextAnswer(text="y")]}),
            ["body.blanks.b"],
        ),
        (FillBlanks(text="{{a}}", blanks={"a": []}), ["body.blanks.a"]),
        (
            FillBlanks(text="{{a}}", blanks={"a": [TextAnswer(text="[x", match=TextMatch.REGEX)]}),
            ["body.blanks.a.0.text"],
        ),
        (FillBlanks(text="{{a}}", blanks={"a": [TextAnswer(text="x", credit=0.2)]}), ["body.blanks.a"]),
        (ZERO_RUBRIC, ["body.rubric"]),
        (HUGE_RUBRIC, ["body.rubric"]),
        (
            Essay(rubric=[*rubric_essay().rubric, rubric_essay().rubric[0]]),
            ["body.rubric.2.id"],
        ),
    ],
)
def test_check_body_names_each_inconsistency(body: Any, where: list[str]) -> None:
    if not where:
        check_body(body, M)
        return
    with pytest.raises(ValidationFailed) as error:
        check_body(body, M)
    assert paths(error) == where
    assert error.value.detail.startswith("the answer key is inconsistent: " + where[0])


def test_check_body_reports_every_problem_at_once() -> None:
    body = SingleChoice(options=options("a", "a", "b", "b"), correct="z")
    with pytest.raises(ValidationFailed) as error:
        check_body(body, M)
    assert paths(error) == ["body.options.1.id", "body.options.3.id", "body.correct"]
    assert "(and 2 more)" in error.value.detail


def test_the_regex_problem_names_the_reason() -> None:
    with pytest.raises(ValidationFailed) as error:
        check_body(short(TextAnswer(text="(ab", match=TextMatch.REGEX)), M)
    assert error.value.errors[0].message.startswith("the pattern does not compile")


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (
            {
                "kind": "single_choice",
                "options": [{"id": "a b", "text": "x"}, {"id": "b", "text": "y"}],
                "correct": "b",
            },
            "body.options.0.id",
        ),
        ({"kind": "dictation"}, "body.kind"),
        ({"options": []}, "body.kind"),
        ({"kind": "true_false"}, "body.correct"),
        ({"kind": "true_false", "correct": True, "hint": "yes"}, "body.hint"),
        ("single_choice", "body"),
    ],
)
def test_bodies_from_json_report_paths_under_body(data: Any, where: str) -> None:
    with pytest.raises(ValidationFailed) as error:
        check_body(data, M)
    assert where in paths(error)


def test_bodies_from_json_are_parsed() -> None:
    body = parse_body({"kind": "true_false", "correct": False})
    assert body == TrueFalse(correct=False)
    assert parse_body(body) is body


# -- check_response ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "response", "where"),
    [
        (SINGLE, ["b"], ["response"]),
        (SINGLE, {}, ["response.choice"]),
        (SINGLE, {"choices": ["b"]}, ["response.choices", "response.choice"]),
        (SINGLE, {"choice": "b", "extra": 1}, ["response.extra"]),
        (SINGLE, {"choice": "zz"}, ["response.choice"]),
        (SINGLE, {"choice": 2}, ["response.choice"]),
        (TrueFalse(correct=True), {"value": "yes"}, ["response.value"]),
        (MultipleResponse(options=options("a", "b"), correct=["a"]), {"choices": "a"}, ["response.choices"]),
        (MultipleResponse(options=options("a", "b"), correct=["a"]), {"choices": ["a", "a"]}, ["response.choices.1"]),
        (MultipleResponse(options=options("a", "b"), correct=["a"]), {"choices": ["q"]}, ["response.choices.0"]),
        (MultipleResponse(options=options("a", "b"), correct=["a"]), {"choices": [None]}, ["response.choices.0"]),
        (short(TextAnswer(text="x")), {"text": 5}, ["response.text"]),
        (short(TextAnswer(text="x")), {"text": "x" * 20_001}, ["response.text"]),
        (BLANKS, {"blanks": {"capital": "x" * 20_001}}, ["response.blanks.capital"]),
        (BLANKS, {"blanks": "Paris"}, ["response.blanks"]),
    ],
)
def test_check_response_names_what_is_wrong(body: Any, response: Any, where: list[str]) -> None:
    with pytest.raises(ValidationFailed) as error:
        check_response(body, response)
    assert paths(error) == where


def test_check_response_normalises_choices_to_the_key_order() -> None:
    body = MultipleResponse(options=options("a", "b", "c"), correct=["a"])
    assert check_response(body, {"choices": ["c", "a"]}) == {"choices": ["a", "c"]}
    assert check_response(body, {"choices": []}) == {"choices": []}
    assert check_response(SINGLE, {"choice": None}) == {"choice": None}
    assert check_response(short(TextAnswer(text="x")), {"text": "  as typed "}) == {"text": "  as typed "}


# -- option ids and key compatibility ------------------------------------------------------------------


def test_option_ids_are_what_an_attempt_shuffles() -> None:
    assert option_ids(SINGLE) == ("a", "b", "c")
    assert option_ids(Ordering(items=options("x", "y"))) == ("x", "y")
    assert option_ids(MATCHING) == ("c1", "c2", "x")
    assert option_ids(BLANKS) == ()
    assert option_ids(TrueFalse(correct=True)) == ()


@pytest.mark.parametrize(
    ("new", "reason"),
    [
        (SingleChoice(options=options("a", "b", "c"), correct="c"), None),
        (SingleChoice(options=options("c", "b", "a"), correct="a"), None),
        (MultipleResponse(options=options("a", "b", "c"), correct=["a"]), "kind changed"),
        (TrueFalse(correct=True), "kind changed"),
        (SingleChoice(options=options("a", "b"), correct="a"), "removed c"),
        (SingleChoice(options=options("a", "b", "c", "d"), correct="a"), "added d"),
    ],
)
def test_key_compatible_for_choices(new: Any, reason: str | None) -> None:
    result = key_compatible(SINGLE, new)
    if reason is None:
        assert result is None
    else:
        assert result is not None
        assert reason in result


def test_key_compatible_for_the_other_kinds() -> None:
    items = options("a", "b", "c")
    assert key_compatible(Ordering(items=items), Ordering(items=list(reversed(items)))) is None
    assert "item ids" in (key_compatible(Ordering(items=items), Ordering(items=options("a", "b", "d"))) or "")
    moved = MATCHING.model_copy(update={"pairs": {"p1": "c2", "p2": "c1", "p3": "x"}})
    assert key_compatible(MATCHING, moved) is None
    fewer = MATCHING.model_copy(update={"choices": options("c1", "c2")})
    assert "choice ids" in (key_compatible(MATCHING, fewer) or "")
    renamed = FillBlanks(
        text="{{capital}} {{italy}}", blanks={"capital": [TextAnswer(text="x")], "italy": [TextAnswer(text="y")]}
    )
    assert "blank ids" in (key_compatible(BLANKS, renamed) or "")
    assert key_compatible(BLANKS, BLANKS.model_copy(update={"text": "{{rome}} then {{capital}}"})) is None
    rescored = Essay(rubric=[c.model_copy(update={"title": "Renamed"}) for c in rubric_essay().rubric])
    assert key_compatible(rubric_essay(), rescored) is None
    shorter = rubric_essay().rubric[0].model_copy(update={"levels": rubric_essay().rubric[0].levels[:2]})
    assert "levels" in (key_compatible(rubric_essay(), Essay(rubric=[shorter, rubric_essay().rubric[1]])) or "")
    assert key_compatible(numeric(NumericAnswer(value=1)), numeric(NumericAnswer(value=2))) is None


# -- present: the learner's view -------------------------------------------------------------------------


def dumped(view: dict[str, Any]) -> str:
    return json.dumps(view, ensure_ascii=False).casefold()


def test_present_choices_in_the_attempt_order_without_the_key() -> None:
    view = present(version_of(SINGLE), ("c", "a", "b"), reveal=False)
    assert view == {
        "question_id": "00000000-0000-7000-8000-00000000000a",
        "version": 3,
        "kind": "single_choice",
        "prompt": "Answer the question below.",
        "points": 2.0,
        "options": [{"id": "c", "text": "Option c"}, {"id": "a", "text": "Option a"}, {"id": "b", "text": "Option b"}],
    }
    json.dumps(view)  # JSON-ready as it is


@pytest.mark.parametrize(
    ("body", "order", "secrets"),
    [
        (SINGLE, ("b", "c", "a"), ["correct"]),
        (MultipleResponse(options=options("a", "b", "c"), correct=["a", "c"]), ("c", "a", "b"), ["correct"]),
        (TrueFalse(correct=True), (), ["correct", ": true"]),
        (TrueFalse(correct=False), (), ["correct", ": false"]),
        (
            numeric(NumericAnswer(value=42.125), NumericAnswer(min=17.5, max=18.25, credit=0.5)),
            (),
            ["answers", "42.125", "17.5", "18.25", "credit"],
        ),
        (
            short(TextAnswer(text="Mitochondria"), TextAnswer(text="mito.*", match=TextMatch.REGEX)),
            (),
            ["answers", "mitochondria", "mito.*"],
        ),
        (MATCHING, ("x", "c2", "c1"), ["pairs", "key"]),
        (BLANKS, (), ["paris", "roma", "answers"]),
        (rubric_essay(), (), ["key", "feedback"]),
        (Ordering(items=options("a", "b", "c", "d")), ("c", "a", "d", "b"), ["key", '"order"']),
    ],
)
def test_present_never_leaks_the_key(body: Any, order: tuple[str, ...], secrets: list[str]) -> None:
    view = present(version_of(body, feedback="Chapter three explains it."), order, reveal=False)
    text = dumped(view)
    for secret in secrets:
        assert secret.casefold() not in text, secret
    assert "key" not in view
    assert "feedback" not in view
    assert "chapter three" not in text


def test_present_each_kind_shows_what_answering_needs() -> None:
    multiple = present(version_of(MultipleResponse(options=options("a", "b"), correct=["a"])), ("b", "a"), reveal=False)
    assert [o["id"] for o in multiple["options"]] == ["b", "a"]
    assert multiple["scoring"] == "partial"
    matching = present(version_of(MATCHING), ("x", "c2", "c1"), reveal=False)
    assert [p["id"] for p in matching["prompts"]] == ["p1", "p2", "p3"]
    assert [c["id"] for c in matching["choices"]] == ["x", "c2", "c1"]
    blanks = present(version_of(BLANKS), (), reveal=False)
    assert blanks["text"] == BLANKS.text
    assert blanks["blanks"] == ["capital", "rome"]
    essay = present(version_of(rubric_essay(max_words=300), points=1.0), (), reveal=False)
    assert essay["points"] == 7.0
    assert essay["max_words"] == 300
    assert [c["id"] for c in essay["rubric"]] == ["content", "style"]
    assert essay["rubric"][0]["levels"][2] == {"points": 4.0, "description": "Complete"}
    for body in (TrueFalse(correct=True), numeric(NumericAnswer(value=1)), short(TextAnswer(text="x"))):
        view = present(version_of(body), (), reveal=False)
        assert set(view) == {"question_id", "version", "kind", "prompt", "points"}


def test_present_ordering_items_in_the_shuffled_order() -> None:
    body = Ordering(items=options("a", "b", "c", "d"))
    view = present(version_of(body), ("c", "a", "d", "b"), reveal=False)
    assert [i["id"] for i in view["items"]] == ["c", "a", "d", "b"]


@pytest.mark.parametrize("order", [(), ("a", "b"), ("a", "b", "c", "zz")])
def test_present_ordering_without_a_valid_order_never_shows_the_answer(order: tuple[str, ...]) -> None:
    body = Ordering(items=options("a", "b", "c", "d"))
    first = present(version_of(body), order, reveal=False)
    shown = [i["id"] for i in first["items"]]
    assert sorted(shown) == ["a", "b", "c", "d"]
    assert shown != ["a", "b", "c", "d"]
    assert present(version_of(body), order, reveal=False) == first  # stable between views


def test_present_two_items_without_an_order_are_swapped() -> None:
    view = present(version_of(Ordering(items=options("a", "b"))), (), reveal=False)
    assert [i["id"] for i in view["items"]] == ["b", "a"]


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (SINGLE, {"correct": "b"}),
        (MultipleResponse(options=options("a", "b", "c"), correct=["a", "c"]), {"correct": ["a", "c"]}),
        (TrueFalse(correct=False), {"correct": False}),
        (
            numeric(NumericAnswer(value=2, tolerance=1, tolerance_kind=Tolerance.PERCENT)),
            {
                "answers": [
                    {
                        "value": 2.0,
                        "tolerance": 1.0,
                        "tolerance_kind": "percent",
                        "min": None,
                        "max": None,
                        "credit": 1.0,
                    }
                ]
            },
        ),
        (
            short(TextAnswer(text="Paris")),
            {"answers": [{"text": "Paris", "match": "case_insensitive", "ignore_case": False, "credit": 1.0}]},
        ),
        (Ordering(items=options("a", "b", "c")), {"order": ["a", "b", "c"]}),
        (MATCHING, {"pairs": {"p1": "c1", "p2": "c2", "p3": "c1"}}),
        (rubric_essay(), {}),
    ],
)
def test_present_with_reveal_adds_the_key_and_feedback(body: Any, key: dict[str, Any]) -> None:
    view = present(version_of(body), option_ids(body), reveal=True)
    assert view["key"] == key
    assert view["feedback"] == "See chapter 3"
    json.dumps(view)


def test_present_reveals_blank_answers() -> None:
    view = present(version_of(BLANKS), (), reveal=True)
    assert [a["text"] for a in view["key"]["blanks"]["rome"]] == ["Rome", "Roma?"]
    assert view["blanks"] == ["capital", "rome"]


# -- the Question aggregate ----------------------------------------------------------------------------


def a_question(**overrides: Any) -> Question:
    fields: dict[str, Any] = {
        "prompt": "Which is the capital of France?",
        "points": 2.0,
        "body": SingleChoice(options=options("paris", "rome"), correct="paris"),
        "tags": [" Geography ", "europe", "geography"],
        "feedback": "Paris has been the capital since 987.",
        "matcher": M,
        "at": T0,
    }
    fields.update(overrides)
    return Question.create(COURSE, **fields)


def test_create_writes_version_one_with_normalised_tags() -> None:
    question = a_question()
    assert question.course_id == COURSE
    assert not question.archived
    assert question.created_at == question.updated_at == T0
    current = question.current
    assert (current.question_id, current.version, current.key_fix_of) == (question.id, 1, None)
    assert current.tags == ("europe", "geography")
    assert current.kind is QuestionKind.SINGLE_CHOICE
    assert current.points == 2.0
    assert question.pull_new_versions() == [current]
    assert question.pull_new_versions() == []
    assert question.pending_events == []


def test_create_accepts_json_bodies_and_an_id() -> None:
    qid = uuid.UUID("00000000-0000-7000-8000-0000000000ff")
    question = a_question(body={"kind": "true_false", "correct": True}, question_id=qid, feedback="  ")
    assert question.id == qid
    assert question.current.body == TrueFalse(correct=True)
    assert question.current.feedback is None


def test_an_essay_question_is_worth_its_rubric() -> None:
    question = a_question(body=rubric_essay(), points=1.0)
    assert question.current.points == 7.0


def test_create_reports_every_invalid_field_at_once() -> None:
    with pytest.raises(ValidationFailed) as error:
        a_question(
            prompt="   ",
            points=0,
            tags=["ok", "Not OK!", 7],
            body=SingleChoice(options=options("a", "b"), correct="z"),
            feedback="x" * 20_001,
        )
    assert paths(error) == ["prompt", "points", "tags.1", "tags.2", "feedback", "body.correct"]


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        ({"points": float("nan")}, "points"),
        ({"points": POINTS_MAX + 1}, "points"),
        ({"points": True}, "points"),
        ({"prompt": "x" * 20_001}, "prompt"),
        ({"tags": "geography"}, "tags"),
        ({"tags": [f"t{i}" for i in range(TAGS_MAX + 1)]}, "tags"),
        ({"tags": ["-leading"]}, "tags.0"),
        ({"tags": ["x" * 41]}, "tags.0"),
        ({"body": {"kind": "true_false"}}, "body.correct"),
    ],
)
def test_create_refuses_bad_fields(overrides: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationFailed) as error:
        a_question(**overrides)
    assert paths(error) == [where]


def test_twenty_distinct_tags_are_fine_after_deduplication() -> None:
    tags = [f"t{i:02}" for i in range(TAGS_MAX)] + ["T00", " t01 "]
    assert len(a_question(tags=tags).current.tags) == TAGS_MAX


def test_revise_writes_the_next_version() -> None:
    question = a_question()
    first = question.current
    question.pull_new_versions()
    second = question.revise(
        prompt="Is Paris the capital of France?",
        points=1.0,
        body=TrueFalse(correct=True),
        tags=["geography"],
        feedback=None,
        matcher=M,
        at=T1,
    )
    assert (second.version, second.kind, second.key_fix_of) == (2, QuestionKind.TRUE_FALSE, None)
    assert question.current is second
    assert question.updated_at == T1
    assert question.pull_new_versions() == [second]
    assert first.version == 1
    assert first.kind is QuestionKind.SINGLE_CHOICE


def test_revise_validates_like_create() -> None:
    question = a_question()
    with pytest.raises(ValidationFailed) as error:
        question.revise(prompt="", points=1, body=SINGLE, tags=[], feedback=None, matcher=M, at=T1)
    assert paths(error) == ["prompt"]
    assert question.current.version == 1


def test_fix_key_writes_a_key_fix_of_the_current_version() -> None:
    question = a_question()
    question.pull_new_versions()
    fixed = question.fix_key(SingleChoice(options=options("paris", "rome"), correct="rome"), M, T1)
    assert fixed.key_fix_of == 1
    assert fixed.version == 2
    assert fixed.body.correct == "rome"
    before = dataclasses.replace(fixed, version=1, body=None, key_fix_of=None, created_at=T0)
    after = dataclasses.replace(question.pull_new_versions()[0], version=1, body=None, key_fix_of=None, created_at=T0)
    assert before == after
    assert (fixed.prompt, fixed.points, fixed.tags, fixed.feedback) == (
        "Which is the capital of France?",
        2.0,
        ("europe", "geography"),
        "Paris has been the capital since 987.",
    )


def test_fix_key_refuses_an_incompatible_key_naming_body() -> None:
    question = a_question()
    with pytest.raises(ValidationFailed) as error:
        question.fix_key(SingleChoice(options=options("paris", "berlin"), correct="paris"), M, T1)
    assert paths(error) == ["body"]
    assert "berlin" in error.value.errors[0].message
    assert question.current.version == 1


def test_fix_key_refuses_an_inconsistent_key() -> None:
    question = a_question()
    with pytest.raises(ValidationFailed) as error:
        question.fix_key(SingleChoice(options=options("paris", "rome"), correct="berlin"), M, T1)
    assert paths(error) == ["body.correct"]


def test_a_key_fix_of_an_essay_follows_the_new_rubric_points() -> None:
    question = a_question(body=rubric_essay())
    doubled = Essay(
        rubric=[
            c.model_copy(update={"levels": [lv.model_copy(update={"points": lv.points * 2}) for lv in c.levels]})
            for c in rubric_essay().rubric
        ]
    )
    assert question.fix_key(doubled, M, T1).points == 14.0


def test_archive_is_idempotent_and_keeps_the_question_usable() -> None:
    question = a_question()
    question.archive(T1)
    question.archive(T1 + minutes(5))
    assert question.archived
    assert question.updated_at == T1
    fixed = question.fix_key(SingleChoice(options=options("paris", "rome"), correct="rome"), M, T1 + minutes(6))
    assert fixed.version == 2


def test_versions_are_immutable() -> None:
    version = a_question().current
    with pytest.raises(dataclasses.FrozenInstanceError):
        version.prompt = "changed"  # type: ignore[misc]
