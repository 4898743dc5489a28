"""Responses and scoring: what a learner may save for each kind of question, its score against
the key, and what the learner is shown of a question.

Scoring is pure: ``score_response(body, response, matcher)`` returns a
fraction in [0, 1] of the question's points, or says that a person must grade
it (essays; a short-text regex that ran out of time). Regular expressions run
through the ``PatternMatcher`` port, whose adapter enforces a timeout, so a
hostile pattern or answer cannot stall a worker.

Responses (what a learner saves per question), by kind:

==================  ===========================================
single_choice       ``{"choice": "<option id>"}``
multiple_response   ``{"choices": ["<option id>", ...]}``
true_false          ``{"value": true}``
numeric             ``{"value": 3.14}``
short_text          ``{"text": "..."}``
ordering            ``{"order": ["<item id>", ...]}``
matching            ``{"pairs": {"<prompt id>": "<choice id>"}}``
fill_blanks         ``{"blanks": {"<blank id>": "..."}}``
essay               ``{"text": "..."}``
==================  ===========================================

Rules worth knowing when authoring or grading:

- Fractions are clamped to [0, 1] and rounded to 6 decimals, so the same
  answers always add up to the same total (no ``0.30000000000000004``).
- Text is compared after trimming, collapsing inner whitespace runs to one
  space and Unicode NFC normalisation (a learner's stray double space or a
  decomposed accent is not a wrong answer). ``case_insensitive`` compares
  casefolded text; a regex must match the whole normalised answer.
- Accepted answers (numeric, short text, each blank) may carry a ``credit``
  below 1 for a near miss; the best credit among the answers that match wins.
- Numbers: a tolerance is symmetric around the value (``percent`` is
  ``|value| * tolerance / 100``); ranges are closed. Comparisons allow a
  relative 1e-12 of float noise, so ``0.4`` is within ``0.3 +/- 0.1``.
- Matching: a choice may serve several prompts, in the key and in answers
  (countries to continents); choices that serve none are distractors.
- Ordering: a response must order every item; a learner always sees the items
  shuffled (``present`` scrambles them itself when given no valid order).
- Multiple response with ``right_minus_wrong`` needs at least one correct
  option (the credit is divided by their number).
- Essays are worth their rubric's points (the best level of each criterion);
  an unanswered (blank) essay scores 0 without waiting for a person.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from elearning_core.assessment.model._questions import (
    _ESSAY_NOTE,
    _NOISE,
    _TIMEOUT_NOTE,
    RESPONSE_TEXT_MAX,
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
    PatternMatcher,
    PatternTimeout,
    QuestionVersion,
    Scored,
    ShortText,
    SingleChoice,
    TextAnswer,
    TextMatch,
    Tolerance,
    TrueFalse,
    _blank_ids,
    _invalid,
    _normal,
    _raise_if_any,
    max_points_of,
    parse_body,
)
from elearning_core.shared.errors import FieldError

_RESPONSE_SHAPES: dict[str, tuple[str, str]] = {
    "single_choice": ("choice", '{"choice": "<option id>"}'),
    "multiple_response": ("choices", '{"choices": ["<option id>", ...]}'),
    "true_false": ("value", '{"value": true}'),
    "numeric": ("value", '{"value": 3.14}'),
    "short_text": ("text", '{"text": "..."}'),
    "ordering": ("order", '{"order": ["<item id>", ...]}'),
    "matching": ("pairs", '{"pairs": {"<prompt id>": "<choice id>"}}'),
    "fill_blanks": ("blanks", '{"blanks": {"<blank id>": "..."}}'),
    "essay": ("text", '{"text": "..."}'),
}


def check_response(body: Any, response: Mapping[str, Any]) -> dict[str, Any]:
    """The response normalised (a JSON-ready dict), or ``ValidationFailed`` naming what is wrong:
    the wrong shape for the kind, an option/item/prompt/choice/blank id the question does not have,
    text over ``RESPONSE_TEXT_MAX``, a non-finite number. Partial answers are valid (a blank left empty).

    Normal form: chosen options in key order, matching pairs and blanks in key order without nulls;
    ``null`` clears a choice, a truth value or a number. Text is kept as typed (scoring normalises it).
    An essay over its ``max_words`` is refused, so the limit holds for what gets graded."""
    parsed = parse_body(body)
    name, shape = _RESPONSE_SHAPES[parsed.kind]
    if not isinstance(response, Mapping):
        raise _invalid("response", f"must be an object: a {parsed.kind} answer is {shape}")
    errors = [
        FieldError(f"response.{str(key)[:60]}", f"is not part of a {parsed.kind} answer, which is {shape}")
        for key in list(response)[:10]
        if key != name
    ]
    if name not in response:
        errors.append(FieldError(f"response.{name}", f"is required: a {parsed.kind} answer is {shape}"))
    _raise_if_any("the answer does not fit the question", errors)
    path = f"response.{name}"
    value = response[name]
    normal: Any
    match parsed:
        case SingleChoice():
            normal = _checked_choice(value, {o.id for o in parsed.options}, path)
        case MultipleResponse():
            normal = _checked_choices(value, [o.id for o in parsed.options], path)
        case TrueFalse():
            if value is not None and not isinstance(value, bool):
                raise _invalid(path, "must be true, false or null")
            normal = value
        case Numeric():
            normal = _checked_number(value, path)
        case ShortText():
            normal = _checked_text(value, path)
        case Essay():
            normal = _checked_text(value, path)
            words = len(normal.split())
            if parsed.max_words is not None and words > parsed.max_words:
                raise _invalid(path, f"has {words} words; at most {parsed.max_words}")
        case Ordering():
            normal = _checked_order(value, [o.id for o in parsed.items], path)
        case Matching():
            choice_ids = {c.id for c in parsed.choices}
            normal = _checked_mapping(value, [p.id for p in parsed.prompts], path, "prompt", choice=choice_ids)
        case FillBlanks():
            normal = _checked_mapping(value, _blank_ids(parsed.text), path, "blank", choice=None)
    return {name: normal}


def _checked_choice(value: Any, ids: set[str], path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(path, "must be an option id (a string) or null")
    if value not in ids:
        raise _invalid(path, f"{value[:60]!r} is not an option of this question")
    return value


def _distinct_ids(value: Any, ids: list[str], path: str, what: str, twice: str) -> tuple[list[FieldError], set[str]]:
    """The ids of a list answer that are the question's, each once; an error for every other entry."""
    if not isinstance(value, list | tuple):
        raise _invalid(path, f"must be a list of {what} ids")
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, item in enumerate(value[: len(ids) + 1]):
        if not isinstance(item, str) or item not in ids:
            errors.append(FieldError(f"{path}.{i}", f"{str(item)[:60]!r} is not an {what} of this question"))
        elif item in seen:
            errors.append(FieldError(f"{path}.{i}", f"{item!r} {twice}"))
        else:
            seen.add(item)
    return errors, seen


def _checked_choices(value: Any, ids: list[str], path: str) -> list[str]:
    errors, chosen = _distinct_ids(value, ids, path, "option", "is chosen twice")
    if len(value) > len(ids) and not errors:
        errors.append(FieldError(path, f"has {len(value)} entries; the question has {len(ids)} options"))
    _raise_if_any("the answer does not fit the question", errors)
    return [option_id for option_id in ids if option_id in chosen]


def _checked_number(value: Any, path: str) -> float | None:
    if value is None:
        return None
    number: float
    if isinstance(value, bool):
        raise _invalid(path, "must be a number such as 3.14")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and len(value) <= 64:
        try:
            number = float(value.strip())
        except ValueError:
            raise _invalid(path, "must be a number such as 3.14") from None
    else:
        raise _invalid(path, "must be a number such as 3.14")
    if not math.isfinite(number):
        raise _invalid(path, "must be a finite number")
    return number


def _checked_text(value: Any, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid(path, "must be text")
    if len(value) > RESPONSE_TEXT_MAX:
        raise _invalid(path, f"must be at most {RESPONSE_TEXT_MAX} characters")
    return value


def _checked_order(value: Any, ids: list[str], path: str) -> list[str]:
    errors, seen = _distinct_ids(value, ids, path, "item", "appears twice")
    missing = [item for item in ids if item not in seen]
    if not errors and (missing or len(value) != len(ids)):
        errors.append(FieldError(path, "must order every item exactly once; missing: " + ", ".join(missing)))
    _raise_if_any("the answer does not fit the question", errors)
    return list(value)


def _checked_mapping(value: Any, keys: list[str], path: str, what: str, *, choice: set[str] | None) -> dict[str, str]:
    """Matching pairs (values are choice ids) or blanks (values are text), in key order, nulls dropped."""
    if not isinstance(value, Mapping):
        raise _invalid(path, f"must be an object of {what} id -> {'choice id' if choice is not None else 'text'}")
    if len(value) > len(keys):
        raise _invalid(path, f"has {len(value)} entries; the question has {len(keys)} {what}s")
    errors: list[FieldError] = []
    for key, item in value.items():
        here = f"{path}.{str(key)[:60]}"
        if key not in keys:
            errors.append(FieldError(here, f"is not a {what} of this question"))
        elif item is None:
            continue
        elif not isinstance(item, str):
            errors.append(
                FieldError(here, "must be a choice id (a string) or null" if choice is not None else "must be text")
            )
        elif choice is not None and item not in choice:
            errors.append(FieldError(here, f"{item[:60]!r} is not a choice of this question"))
        elif len(item) > RESPONSE_TEXT_MAX:
            errors.append(FieldError(here, f"must be at most {RESPONSE_TEXT_MAX} characters"))
    _raise_if_any("the answer does not fit the question", errors)
    return {key: value[key] for key in keys if value.get(key) is not None}


def _fraction(value: float) -> float:
    """Clamped to [0, 1] and rounded, so identical answers always sum to identical totals."""
    if not math.isfinite(value):
        return 0.0
    return round(min(1.0, max(0.0, value)), 6)


def _text_credit(answers: Sequence[TextAnswer], text: Any, matcher: PatternMatcher) -> tuple[float, bool]:
    """The best credit among matching answers, and whether a pattern that could have given more timed
    out (then only a person can say what the answer is worth)."""
    given = _normal(text) if isinstance(text, str) else ""
    if not given:
        return 0.0, False
    folded = given.casefold()
    timed_out_credit = 0.0
    for answer in sorted(answers, key=lambda a: -a.credit):
        try:
            if answer.match is TextMatch.REGEX:
                hit = matcher.fullmatch(answer.text, given, ignore_case=answer.ignore_case)
            elif answer.match is TextMatch.CASE_INSENSITIVE:
                hit = _normal(answer.text).casefold() == folded
            else:
                hit = _normal(answer.text) == given
        except PatternTimeout:
            timed_out_credit = max(timed_out_credit, answer.credit)
            continue
        if hit:
            return answer.credit, timed_out_credit > answer.credit
    return 0.0, timed_out_credit > 0


def _numeric_hit(answer: NumericAnswer, given: float) -> bool:
    if answer.value is None:
        low = answer.min if answer.min is not None else -math.inf
        high = answer.max if answer.max is not None else math.inf
        slack = _NOISE * max(abs(x) for x in (answer.min, answer.max, 0.0) if x is not None)
        return low - slack <= given <= high + slack
    if answer.tolerance_kind is Tolerance.ABSOLUTE:
        tolerance = answer.tolerance
    elif answer.tolerance_kind is Tolerance.PERCENT:
        tolerance = abs(answer.value) * answer.tolerance / 100
    else:
        tolerance = 0.0
    # The slack depends on the key alone, so value + d and value - d are judged alike.
    return abs(given - answer.value) <= tolerance + _NOISE * max(abs(answer.value), tolerance)


def score_response(body: Any, response: Mapping[str, Any] | None, matcher: PatternMatcher) -> Scored:
    """Score a (checked) response against the key; None (never answered) scores 0, except essays,
    which always need grading when answered and score 0 unanswered.

    Lenient by design: an id the key does not know simply earns nothing, so a stored response that
    slipped past ``check_response`` (an old row, a key fix) never stops an attempt from being graded."""
    parsed = parse_body(body)
    if response is None or not isinstance(response, Mapping):
        return Scored(0.0)
    match parsed:
        case SingleChoice():
            return Scored(1.0 if response.get("choice") == parsed.correct else 0.0)
        case MultipleResponse():
            return Scored(_multiple_fraction(parsed, response.get("choices")))
        case TrueFalse():
            value = response.get("value")
            return Scored(1.0 if isinstance(value, bool) and value == parsed.correct else 0.0)
        case Numeric():
            return Scored(_numeric_fraction(parsed, response.get("value")))
        case ShortText():
            credit, timed_out = _text_credit(parsed.answers, response.get("text"), matcher)
            return Scored(0.0, needs_grading=True, note=_TIMEOUT_NOTE) if timed_out else Scored(_fraction(credit))
        case Ordering():
            return Scored(_ordering_fraction(parsed, response.get("order")))
        case Matching():
            pairs = response.get("pairs")
            given = pairs if isinstance(pairs, Mapping) else {}
            right = sum(1 for p in parsed.prompts if p.id in parsed.pairs and given.get(p.id) == parsed.pairs[p.id])
            return Scored(_fraction(right / len(parsed.prompts)))
        case FillBlanks():
            return _fill_blanks_scored(parsed, response.get("blanks"), matcher)
        case Essay():
            text = response.get("text")
            answered = isinstance(text, str) and bool(text.strip())
            return Scored(0.0, needs_grading=True, note=_ESSAY_NOTE) if answered else Scored(0.0)


def _multiple_fraction(body: MultipleResponse, choices: Any) -> float:
    options = [o.id for o in body.options]
    listed = choices if isinstance(choices, list | tuple) else ()
    chosen = {c for c in listed if isinstance(c, str)} & set(options)
    correct = set(body.correct) & set(options)
    if body.scoring is MultipleScoring.ALL_OR_NOTHING:
        return 1.0 if chosen == correct else 0.0
    if body.scoring is MultipleScoring.PARTIAL:
        judged_right = sum(1 for o in options if (o in chosen) == (o in correct))
        return _fraction(judged_right / len(options))
    if not correct:  # refused by check_body; an empty key is met only by choosing nothing
        return 1.0 if not chosen else 0.0
    return _fraction((len(chosen & correct) - len(chosen - correct)) / len(correct))


def _numeric_fraction(body: Numeric, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0.0
    credits = [a.credit for a in body.answers if _numeric_hit(a, float(value))]
    return _fraction(max(credits, default=0.0))


def _ordering_fraction(body: Ordering, order: Any) -> float:
    key = [item.id for item in body.items]
    given = list(order) if isinstance(order, list | tuple) else []
    in_place = sum(1 for expected, actual in zip(key, given, strict=False) if expected == actual)
    if body.scoring is OrderScoring.ALL_OR_NOTHING:
        return 1.0 if given == key else 0.0
    return _fraction(in_place / len(key))


def _fill_blanks_scored(body: FillBlanks, blanks: Any, matcher: PatternMatcher) -> Scored:
    given = blanks if isinstance(blanks, Mapping) else {}
    ids = list(dict.fromkeys(_blank_ids(body.text)))
    if not ids:
        return Scored(0.0)
    total = 0.0
    for blank_id in ids:
        credit, timed_out = _text_credit(body.blanks.get(blank_id, []), given.get(blank_id), matcher)
        if timed_out:
            return Scored(0.0, needs_grading=True, note=_TIMEOUT_NOTE)
        total += credit
    return Scored(_fraction(total / len(ids)))


def score_rubric(body: Any, selections: Mapping[str, int]) -> float:
    """An essay's points from the chosen level index per criterion; ``ValidationFailed`` when a
    criterion is missing or a level does not exist."""
    parsed = parse_body(body)
    if not isinstance(parsed, Essay):
        raise _invalid("rubric", "applies to essays only: grade this question with points")
    if not isinstance(selections, Mapping):
        raise _invalid("rubric", "must be an object of criterion id -> level index")
    ids = {c.id for c in parsed.rubric}
    errors = [
        FieldError(f"rubric.{str(key)[:60]}", "is not a criterion of this rubric")
        for key in selections
        if key not in ids
    ]
    total = 0.0
    for criterion in parsed.rubric:
        level = selections.get(criterion.id)
        last = len(criterion.levels) - 1
        if level is None:
            errors.append(FieldError(f"rubric.{criterion.id}", f"needs a level (0 to {last})"))
        elif isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= last:
            errors.append(FieldError(f"rubric.{criterion.id}", f"must be a level index from 0 to {last}"))
        else:
            total += criterion.levels[level].points
    _raise_if_any("the rubric grade does not fit the rubric", errors)
    return round(total, 6)


def _arranged(options: Sequence[Option], order: Sequence[str]) -> list[Option] | None:
    """The options in ``order`` when it is a permutation of their ids, else None."""
    by_id = {o.id: o for o in options}
    if len(order) == len(options) and set(order) == set(by_id):
        return [by_id[option_id] for option_id in order]
    return None


def _scrambled(items: Sequence[Option], salt: str) -> list[Option]:
    """A stable order that is never the key's, for an ordering question shown without a shuffle:
    showing the items as stored would show the answer."""
    ranked = sorted(items, key=lambda o: hashlib.sha256(f"{salt}:{o.id}".encode()).digest())
    if [o.id for o in ranked] == [o.id for o in items]:
        ranked = ranked[1:] + ranked[:1]
    return ranked


def _listed(options: Sequence[Option]) -> list[dict[str, str]]:
    return [{"id": o.id, "text": o.text} for o in options]


def present(version: QuestionVersion, order: Sequence[str], *, reveal: bool) -> dict[str, Any]:
    """What a learner is shown of a question in an attempt, options in the attempt's ``order``.

    Without ``reveal`` nothing of the key leaks: no ``correct``, ``answers``, ``pairs``, ``blanks``
    answers, ordering items only in the shuffled order. With ``reveal`` the key is added under ``key``
    (and the general ``feedback``).

    An ``order`` that is no permutation of ``option_ids`` (e.g. () from an unshuffled quiz) shows the
    key order, except for ordering questions, which are then scrambled deterministically."""
    body = parse_body(version.body)
    view: dict[str, Any] = {
        "question_id": str(version.question_id),
        "version": version.version,
        "kind": body.kind,
        "prompt": version.prompt,
        "points": max_points_of(body, version.points),
    }
    key: dict[str, Any]
    match body:
        case SingleChoice():
            view["options"] = _listed(_arranged(body.options, order) or body.options)
            key = {"correct": body.correct}
        case MultipleResponse():
            view["options"] = _listed(_arranged(body.options, order) or body.options)
            view["scoring"] = body.scoring.value
            key = {"correct": list(body.correct)}
        case TrueFalse():
            key = {"correct": body.correct}
        case Numeric():
            key = {"answers": [a.model_dump(mode="json") for a in body.answers]}
        case ShortText():
            key = {"answers": [a.model_dump(mode="json") for a in body.answers]}
        case Ordering():
            shown = _arranged(body.items, order) or _scrambled(body.items, f"{version.question_id}:{version.version}")
            view["items"] = _listed(shown)
            view["scoring"] = body.scoring.value
            key = {"order": [item.id for item in body.items]}
        case Matching():
            view["prompts"] = _listed(body.prompts)
            view["choices"] = _listed(_arranged(body.choices, order) or body.choices)
            key = {"pairs": dict(body.pairs)}
        case FillBlanks():
            view["text"] = body.text
            view["blanks"] = list(dict.fromkeys(_blank_ids(body.text)))
            key = {
                "blanks": {
                    blank_id: [a.model_dump(mode="json") for a in answers] for blank_id, answers in body.blanks.items()
                }
            }
        case Essay():
            view["rubric"] = [c.model_dump(mode="json") for c in body.rubric]
            view["max_words"] = body.max_words
            key = {}
    if reveal:
        view["key"] = key
        view["feedback"] = version.feedback
    return view
