"""Scoring invariants over random keys and random answers of every kind: scores stay in range, the
order options are stored or shown in never matters, partial credit is monotone, numeric tolerances are
symmetric, and all-or-nothing means exactly that."""

from __future__ import annotations

import string
import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from elearning_core.assessment.model import (
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
    QuestionVersion,
    RubricCriterion,
    RubricLevel,
    ShortText,
    SingleChoice,
    TextAnswer,
    TextMatch,
    Tolerance,
    TrueFalse,
    check_body,
    check_response,
    max_points_of,
    present,
    score_response,
)
from tests.fakes import T0, FakePatternMatcher

PROPS = settings(max_examples=80, deadline=None)
M = FakePatternMatcher()

ids = st.text(string.ascii_lowercase + string.digits + "_-", min_size=1, max_size=6)
words = st.text("abcAB ", min_size=1, max_size=6).filter(lambda w: w.strip())
credits = st.sampled_from([0.25, 0.5, 1.0])


def unique_ids(min_size: int = 2, max_size: int = 6) -> st.SearchStrategy[list[str]]:
    return st.lists(ids, min_size=min_size, max_size=max_size, unique=True)


def as_options(option_ids: list[str]) -> list[Option]:
    return [Option(id=i, text=f"text of {i}") for i in option_ids]


@st.composite
def single_choices(draw: st.DrawFn) -> SingleChoice:
    option_ids = draw(unique_ids())
    return SingleChoice(options=as_options(option_ids), correct=draw(st.sampled_from(option_ids)))


@st.composite
def multiple_responses(draw: st.DrawFn, scoring: MultipleScoring | None = None) -> MultipleResponse:
    option_ids = draw(unique_ids())
    policy = scoring or draw(st.sampled_from(list(MultipleScoring)))
    min_correct = 1 if policy is MultipleScoring.RIGHT_MINUS_WRONG else 0
    correct = draw(st.lists(st.sampled_from(option_ids), min_size=min_correct, unique=True))
    return MultipleResponse(options=as_options(option_ids), correct=correct, scoring=policy)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def numeric_answers(draw: st.DrawFn) -> NumericAnswer:
    credit = draw(credits)
    if draw(st.booleans()):
        low, high = sorted((draw(finite), draw(finite)))
        return NumericAnswer(min=low, max=high, credit=credit)
    kind = draw(st.sampled_from(list(Tolerance)))
    tolerance = 0.0 if kind is Tolerance.EXACT else draw(st.floats(min_value=0, max_value=1e3))
    return NumericAnswer(value=draw(finite), tolerance=tolerance, tolerance_kind=kind, credit=credit)


@st.composite
def numerics(draw: st.DrawFn) -> Numeric:
    answers = draw(st.lists(numeric_answers(), min_size=1, max_size=4))
    return Numeric(answers=[*answers, answers[0].model_copy(update={"credit": 1.0})])


@st.composite
def text_answers(draw: st.DrawFn) -> TextAnswer:
    credit = draw(credits)
    mode = draw(st.sampled_from(list(TextMatch)))
    if mode is TextMatch.REGEX:
        pattern = draw(st.sampled_from(["a+b?", "(a|b)+", "[ab ]*", "A.*", "b{2,3}"]))
        return TextAnswer(text=pattern, match=mode, ignore_case=draw(st.booleans()), credit=credit)
    return TextAnswer(text=draw(words), match=mode, credit=credit)


def with_full_credit(answers: list[TextAnswer]) -> list[TextAnswer]:
    return [*answers, answers[0].model_copy(update={"credit": 1.0})]


@st.composite
def short_texts(draw: st.DrawFn) -> ShortText:
    return ShortText(answers=with_full_credit(draw(st.lists(text_answers(), min_size=1, max_size=4))))


@st.composite
def orderings(draw: st.DrawFn, scoring: OrderScoring | None = None) -> Ordering:
    return Ordering(items=as_options(draw(unique_ids())), scoring=scoring or draw(st.sampled_from(list(OrderScoring))))


@st.composite
def matchings(draw: st.DrawFn) -> Matching:
    prompts = draw(unique_ids(min_size=1))
    choices = draw(unique_ids(min_size=1))
    pairs = {p: draw(st.sampled_from(choices)) for p in prompts}
    return Matching(prompts=as_options(prompts), choices=as_options(choices), pairs=pairs)


@st.composite
def fill_blanks(draw: st.DrawFn) -> FillBlanks:
    blank_ids = draw(unique_ids(min_size=1, max_size=4))
    text = " and ".join(f"{{{{{b}}}}}" for b in blank_ids)
    blanks = {b: with_full_credit(draw(st.lists(text_answers(), min_size=1, max_size=3))) for b in blank_ids}
    return FillBlanks(text=text, blanks=blanks)


@st.composite
def essays(draw: st.DrawFn) -> Essay:
    criteria = draw(unique_ids(min_size=1, max_size=4))
    rubric = [
        RubricCriterion(
            id=c,
            title=c,
            levels=[
                RubricLevel(points=p, description="level")
                for p in draw(st.lists(st.integers(1, 20).map(float), min_size=1, max_size=4))
            ],
        )
        for c in criteria
    ]
    return Essay(rubric=rubric)


bodies = st.one_of(
    single_choices(),
    multiple_responses(),
    st.builds(TrueFalse, correct=st.booleans()),
    numerics(),
    short_texts(),
    orderings(),
    matchings(),
    fill_blanks(),
    essays(),
)

texts = st.one_of(words, st.text(max_size=12), st.sampled_from(["aab", "ABBA", "bb", " a  b ", ""]))


def responses_for(body: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Valid responses (what check_response accepts) of the body's kind, right and wrong alike."""
    match body:
        case SingleChoice():
            return st.builds(lambda c: {"choice": c}, st.none() | st.sampled_from([o.id for o in body.options]))
        case MultipleResponse():
            choices = st.lists(st.sampled_from([o.id for o in body.options]), unique=True)
            return st.builds(lambda c: {"choices": c}, choices)
        case TrueFalse():
            return st.builds(lambda v: {"value": v}, st.none() | st.booleans())
        case Numeric():
            near = [a.value for a in body.answers if a.value is not None] + [
                x for a in body.answers for x in (a.min, a.max) if x is not None
            ]
            return st.builds(lambda v: {"value": v}, st.none() | finite | st.sampled_from(near))
        case ShortText() | Essay():
            return st.builds(lambda t: {"text": t}, texts)
        case Ordering():
            return st.builds(lambda o: {"order": o}, st.permutations([i.id for i in body.items]))
        case Matching():
            choice = st.none() | st.sampled_from([c.id for c in body.choices])
            return st.builds(
                lambda p: {"pairs": p}, st.fixed_dictionaries({}, optional={p.id: choice for p in body.prompts})
            )
        case FillBlanks():
            return st.builds(
                lambda b: {"blanks": b}, st.fixed_dictionaries({}, optional=dict.fromkeys(body.blanks, texts))
            )
    raise AssertionError(f"no responses for {body!r}")


@st.composite
def bodies_and_responses(draw: st.DrawFn) -> tuple[Any, dict[str, Any]]:
    body = draw(bodies)
    return body, draw(responses_for(body))


def fraction(body: Any, response: dict[str, Any] | None) -> float:
    return score_response(body, response, M).fraction


@PROPS
@given(bodies_and_responses(), st.floats(min_value=0.5, max_value=100))
def test_scores_stay_within_range(case: tuple[Any, dict[str, Any]], points: float) -> None:
    body, response = case
    check_body(body, M)
    normal = check_response(body, response)
    scored = score_response(body, normal, M)
    assert 0.0 <= scored.fraction <= 1.0
    assert round(scored.fraction, 6) == scored.fraction
    worth = max_points_of(body, points)
    assert 0.0 <= worth * scored.fraction <= worth
    if scored.needs_grading:
        assert scored.fraction == 0.0
    assert score_response(body, response, M) == scored  # normalising never changes the score


@PROPS
@given(
    bodies,
    st.dictionaries(
        st.sampled_from(["choice", "choices", "value", "text", "order", "pairs", "blanks", "x"]),
        st.one_of(
            st.none(),
            st.booleans(),
            finite,
            st.text(max_size=5),
            st.lists(st.text(max_size=3), max_size=4),
            st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=3),
        ),
    ),
)
def test_unchecked_junk_scores_within_range_without_raising(body: Any, junk: dict[str, Any]) -> None:
    scored = score_response(body, junk, M)
    assert 0.0 <= scored.fraction <= 1.0


def shuffled_body(body: Any, rnd: Any) -> Any:
    """The same key with its options, choices, prompts and answers stored in another order."""

    def shuffled(items: list[Any]) -> list[Any]:
        copy = list(items)
        rnd.shuffle(copy)
        return copy

    match body:
        case SingleChoice() | MultipleResponse():
            update: dict[str, Any] = {"options": shuffled(body.options)}
            if isinstance(body, MultipleResponse):
                update["correct"] = shuffled(body.correct)
            return body.model_copy(update=update)
        case Numeric() | ShortText():
            return body.model_copy(update={"answers": shuffled(body.answers)})
        case Matching():
            pairs = dict(shuffled(list(body.pairs.items())))
            return body.model_copy(
                update={"prompts": shuffled(body.prompts), "choices": shuffled(body.choices), "pairs": pairs}
            )
        case FillBlanks():
            blanks = {b: shuffled(answers) for b, answers in shuffled(list(body.blanks.items()))}
            return body.model_copy(update={"blanks": blanks})
        case _:
            return body


def shuffled_response(response: dict[str, Any], rnd: Any) -> dict[str, Any]:
    if "choices" in response:
        choices = list(response["choices"])
        rnd.shuffle(choices)
        return {"choices": choices}
    for name in ("pairs", "blanks"):
        if name in response:
            entries = list(response[name].items())
            rnd.shuffle(entries)
            return {name: dict(entries)}
    return response


def check_permutations_keep_the_score(body: Any, response: dict[str, Any], rnd: Any) -> None:
    expected = score_response(body, response, M)
    for _ in range(4):
        other = shuffled_body(body, rnd)
        check_body(other, M)
        assert score_response(other, shuffled_response(response, rnd), M) == expected


@PROPS
@given(bodies_and_responses(), st.randoms(use_true_random=False))
def test_the_stored_order_of_options_and_answers_never_changes_a_score(
    case: tuple[Any, dict[str, Any]], rnd: Any
) -> None:
    check_permutations_keep_the_score(*case, rnd)


def with_response(bodies: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[Any, dict[str, Any]]]:
    return bodies.flatmap(lambda b: st.tuples(st.just(b), responses_for(b)))


@PROPS
@given(st.one_of(with_response(matchings()), with_response(multiple_responses())), st.randoms(use_true_random=False))
def test_the_stored_order_of_matching_and_multiple_keys_never_changes_a_score(
    case: tuple[Any, dict[str, Any]], rnd: Any
) -> None:
    """The kinds with the most order to get wrong, drawn more often than among all kinds."""
    check_permutations_keep_the_score(*case, rnd)


def version_of(body: Any) -> QuestionVersion:
    return QuestionVersion(
        question_id=uuid.UUID(int=7),
        version=1,
        course_id=uuid.UUID(int=1),
        prompt="?",
        points=1.0,
        body=body,
        tags=(),
        feedback=None,
        created_at=T0,
    )


@PROPS
@given(orderings(), st.data())
def test_ordering_the_shown_order_never_changes_the_score_of_an_answer(body: Ordering, data: st.DataObject) -> None:
    item_ids = [i.id for i in body.items]
    answer = {"order": data.draw(st.permutations(item_ids))}
    before = score_response(body, answer, M)
    for _ in range(3):
        shown = data.draw(st.permutations(item_ids))
        view = present(version_of(body), shown, reveal=False)
        assert [i["id"] for i in view["items"]] == shown
        assert score_response(body, answer, M) == before
    assert fraction(body, {"order": item_ids}) == 1.0


@PROPS
@given(
    multiple_responses(scoring=MultipleScoring.PARTIAL) | multiple_responses(scoring=MultipleScoring.RIGHT_MINUS_WRONG),
    st.data(),
)
def test_partial_credit_is_monotone(body: MultipleResponse, data: st.DataObject) -> None:
    option_ids = [o.id for o in body.options]
    chosen = data.draw(st.lists(st.sampled_from(option_ids), unique=True))
    base = fraction(body, {"choices": chosen})
    unchosen = [o for o in option_ids if o not in chosen]
    for extra in unchosen:
        after = fraction(body, {"choices": [*chosen, extra]})
        if extra in body.correct:
            assert after >= base, (chosen, extra)
        else:
            assert after <= base, (chosen, extra)


@PROPS
@given(
    st.integers(-(10**6), 10**6),
    st.integers(0, 10**5),
    st.integers(0, 10**5),
    st.integers(0, 200),
)
def test_numeric_tolerance_is_symmetric(value8: int, d8: int, tol8: int, percent: int) -> None:
    # Multiples of 1/8 are exact in binary, so value +/- d are exact and only the scorer is judged.
    value, d = value8 / 8, d8 / 8
    absolute = Numeric(answers=[NumericAnswer(value=value, tolerance=tol8 / 8, tolerance_kind=Tolerance.ABSOLUTE)])
    relative = Numeric(answers=[NumericAnswer(value=value, tolerance=percent, tolerance_kind=Tolerance.PERCENT)])
    for body in (absolute, relative):
        check_body(body, M)
        assert fraction(body, {"value": value + d}) == fraction(body, {"value": value - d})
    assert fraction(absolute, {"value": value + d}) == (1.0 if d8 <= tol8 else 0.0)


@PROPS
@given(
    st.one_of(
        with_response(multiple_responses(scoring=MultipleScoring.ALL_OR_NOTHING)),
        with_response(orderings(scoring=OrderScoring.ALL_OR_NOTHING)),
    )
)
def test_all_or_nothing_yields_only_zero_or_one(case: tuple[Any, dict[str, Any]]) -> None:
    body, response = case
    assert fraction(body, response) in (0.0, 1.0)
