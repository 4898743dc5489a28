"""The question bank: question kinds, their answer keys, and scoring.

A question's *body* is a pydantic model per kind (a discriminated union on
``kind``): it is at once the authoring input, the stored snapshot and the
documented import/export JSON format. Every change to a question writes a new
immutable ``QuestionVersion``; an attempt keeps the version it showed.

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

import enum
import hashlib
import math
import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from elearning_core.shared.errors import FieldError, ValidationFailed
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ids import new_uuid

OPTION_ID = r"^[A-Za-z0-9_-]{1,40}$"
TAG = r"^[a-z0-9][a-z0-9_.:-]{0,39}$"
TEXT_MAX = 5_000
PROMPT_MAX = 20_000
RESPONSE_TEXT_MAX = 20_000
PATTERN_MAX = 500
TAGS_MAX = 20
POINTS_MAX = 1_000.0
BLANKS_MAX = 50


class QuestionKind(enum.StrEnum):
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_RESPONSE = "multiple_response"
    TRUE_FALSE = "true_false"
    NUMERIC = "numeric"
    SHORT_TEXT = "short_text"
    ORDERING = "ordering"
    MATCHING = "matching"
    FILL_BLANKS = "fill_blanks"
    ESSAY = "essay"


class MultipleScoring(enum.StrEnum):
    ALL_OR_NOTHING = "all_or_nothing"
    PARTIAL = "partial"
    """Each option is a judgement: credit = options judged right (chosen if correct, left if wrong) / options."""
    RIGHT_MINUS_WRONG = "right_minus_wrong"
    """(correct chosen - wrong chosen) / correct options, floored at 0."""


class OrderScoring(enum.StrEnum):
    ALL_OR_NOTHING = "all_or_nothing"
    PARTIAL = "partial"
    """Credit = items in their correct position / items."""


class TextMatch(enum.StrEnum):
    EXACT = "exact"
    CASE_INSENSITIVE = "case_insensitive"
    REGEX = "regex"
    """A full match of the pattern (with the ``regex`` module's syntax), under the matcher's timeout."""


class Tolerance(enum.StrEnum):
    EXACT = "exact"
    ABSOLUTE = "absolute"
    PERCENT = "percent"


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=TEXT_MAX)


class Option(_Spec):
    id: str = Field(pattern=OPTION_ID)
    text: str = Field(min_length=1, max_length=TEXT_MAX)


class TextAnswer(_Spec):
    text: str = Field(min_length=1, max_length=PATTERN_MAX)
    match: TextMatch = TextMatch.CASE_INSENSITIVE
    ignore_case: bool = Field(
        default=False, description="Regex answers only: match regardless of case (other modes say it by name)"
    )
    credit: float = Field(default=1.0, gt=0, le=1, description="The fraction of the points this answer earns")


class NumericAnswer(_Spec):
    """Either ``value`` (with a tolerance) or a closed range ``[min, max]``."""

    value: float | None = None
    tolerance: float = Field(default=0.0, ge=0)
    tolerance_kind: Tolerance = Tolerance.EXACT
    min: float | None = None
    max: float | None = None
    credit: float = Field(default=1.0, gt=0, le=1, description="The fraction of the points this answer earns")


class RubricLevel(_Spec):
    points: float = Field(ge=0, le=POINTS_MAX)
    description: str = Field(min_length=1, max_length=TEXT_MAX)


class RubricCriterion(_Spec):
    id: str = Field(pattern=OPTION_ID)
    title: str = Field(min_length=1, max_length=200)
    levels: list[RubricLevel] = Field(min_length=1, max_length=10)


class SingleChoice(_Spec):
    kind: Literal["single_choice"] = "single_choice"
    options: list[Option] = Field(min_length=2, max_length=20)
    correct: str = Field(pattern=OPTION_ID)


class MultipleResponse(_Spec):
    kind: Literal["multiple_response"] = "multiple_response"
    options: list[Option] = Field(min_length=2, max_length=20)
    correct: list[str] = Field(max_length=20)
    scoring: MultipleScoring = MultipleScoring.PARTIAL


class TrueFalse(_Spec):
    kind: Literal["true_false"] = "true_false"
    correct: bool


class Numeric(_Spec):
    kind: Literal["numeric"] = "numeric"
    answers: list[NumericAnswer] = Field(min_length=1, max_length=10)


class ShortText(_Spec):
    kind: Literal["short_text"] = "short_text"
    answers: list[TextAnswer] = Field(min_length=1, max_length=20)


class Ordering(_Spec):
    kind: Literal["ordering"] = "ordering"
    items: list[Option] = Field(min_length=2, max_length=20, description="In the correct order")
    scoring: OrderScoring = OrderScoring.PARTIAL


class Matching(_Spec):
    kind: Literal["matching"] = "matching"
    prompts: list[Option] = Field(min_length=1, max_length=20)
    choices: list[Option] = Field(min_length=1, max_length=30, description="May hold distractors")
    pairs: dict[str, str] = Field(description="prompt id -> choice id; every prompt has one")


class FillBlanks(_Spec):
    kind: Literal["fill_blanks"] = "fill_blanks"
    text: str = Field(min_length=1, max_length=TEXT_MAX, description="With blanks written {{id}}")
    blanks: dict[str, list[TextAnswer]] = Field(description="blank id -> accepted answers")


class Essay(_Spec):
    kind: Literal["essay"] = "essay"
    rubric: list[RubricCriterion] = Field(min_length=1, max_length=20)
    max_words: int | None = Field(default=None, ge=1, le=20_000)


QuestionBody = Annotated[
    SingleChoice | MultipleResponse | TrueFalse | Numeric | ShortText | Ordering | Matching | FillBlanks | Essay,
    Field(discriminator="kind"),
]

Body = SingleChoice | MultipleResponse | TrueFalse | Numeric | ShortText | Ordering | Matching | FillBlanks | Essay
"""One of the body models, for type hints (``QuestionBody`` is the same union annotated for parsing)."""

_BODY_TYPES = (SingleChoice, MultipleResponse, TrueFalse, Numeric, ShortText, Ordering, Matching, FillBlanks, Essay)
_BODY_ADAPTER: TypeAdapter[Body] = TypeAdapter(QuestionBody)


class PatternTimeout(Exception):
    """A regular expression ran out of time (catastrophic backtracking, or a huge answer)."""


class PatternMatcher(Protocol):
    """Regular expressions with a time limit (the core's ``re`` has none)."""

    def problem(self, pattern: str) -> str | None:
        """Why the pattern cannot be used (syntax, length), or None when it can."""
        ...

    def fullmatch(self, pattern: str, text: str, *, ignore_case: bool) -> bool:
        """Whether the whole text matches; raises ``PatternTimeout`` past the limit."""
        ...


@dataclass(frozen=True, slots=True)
class Scored:
    """The outcome of scoring one response: a fraction of the question's points, or a person's turn."""

    fraction: float
    """In [0, 1]; 0 while ``needs_grading``."""
    needs_grading: bool = False
    note: str | None = None
    """Why a person must grade it ("essay", "the pattern timed out"), for the grading queue."""


@dataclass(frozen=True, slots=True)
class QuestionVersion:
    """One immutable version of a question: what an attempt showed, and the key it is scored by."""

    question_id: uuid.UUID
    version: int
    course_id: uuid.UUID
    prompt: str
    points: float
    body: Any  # one of the QuestionBody models
    tags: tuple[str, ...]
    feedback: str | None
    created_at: datetime
    key_fix_of: int | None = None
    """Set on a version written by a regrade: the version whose answer key it corrects."""

    @property
    def kind(self) -> QuestionKind:
        return QuestionKind(self.body.kind)


@dataclass(slots=True, eq=False)
class Question:
    """A question of a course's bank: the aggregate. ``current`` is its latest version.

    Archiving only takes a question out of new draws and listings: attempts and
    fixed slots that use it keep working, so it may still be revised and have
    its key fixed (a regrade of old attempts is exactly when that is needed)."""

    id: uuid.UUID
    course_id: uuid.UUID
    current: QuestionVersion
    archived: bool
    created_at: datetime
    updated_at: datetime
    _new_versions: list[QuestionVersion] = field(default_factory=list, repr=False)
    _events: list[DomainEvent] = field(default_factory=list, repr=False)

    @property
    def pending_events(self) -> list[DomainEvent]:
        return list(self._events)

    def pull_events(self) -> list[DomainEvent]:
        events, self._events = self._events, []
        return events

    def pull_new_versions(self) -> list[QuestionVersion]:
        """Versions written since load (the repository inserts them on commit)."""
        versions, self._new_versions = self._new_versions, []
        return versions

    @classmethod
    def create(
        cls,
        course_id: uuid.UUID,
        *,
        prompt: str,
        points: float,
        body: Any,
        tags: Sequence[str],
        feedback: str | None,
        matcher: PatternMatcher,
        at: datetime,
        question_id: uuid.UUID | None = None,
    ) -> Question:
        """A new question at version 1 (pending in ``pull_new_versions`` like every later version)."""
        qid = question_id or new_uuid()
        first = _checked_version(
            qid,
            1,
            course_id,
            prompt=prompt,
            points=points,
            body=body,
            tags=tags,
            feedback=feedback,
            matcher=matcher,
            at=at,
        )
        question = cls(id=qid, course_id=course_id, current=first, archived=False, created_at=at, updated_at=at)
        question._new_versions.append(first)
        return question

    def revise(
        self,
        *,
        prompt: str,
        points: float,
        body: Any,
        tags: Sequence[str],
        feedback: str | None,
        matcher: PatternMatcher,
        at: datetime,
    ) -> QuestionVersion:
        """Write the next version; the kind may change, since attempts keep the version they showed."""
        version = _checked_version(
            self.id,
            self.current.version + 1,
            self.course_id,
            prompt=prompt,
            points=points,
            body=body,
            tags=tags,
            feedback=feedback,
            matcher=matcher,
            at=at,
        )
        self._advance(version)
        return version

    def fix_key(self, body: Any, matcher: PatternMatcher, at: datetime) -> QuestionVersion:
        """A key-fix version for a regrade: the same question with a corrected key, which stored
        responses must still fit (``key_compatible``), so old attempts can be rescored by it."""
        parsed = parse_body(body)
        _raise_if_any("the corrected answer key is inconsistent", body_problems(parsed, matcher))
        reason = key_compatible(self.current.body, parsed)
        if reason is not None:
            raise ValidationFailed(f"body cannot replace the answer key: {reason}", [FieldError("body", reason)])
        version = replace(
            self.current,
            version=self.current.version + 1,
            body=parsed,
            points=max_points_of(parsed, self.current.points),
            created_at=at,
            key_fix_of=self.current.version,
        )
        self._advance(version)
        return version

    def archive(self, at: datetime) -> None:
        """Idempotent: archiving an archived question changes nothing."""
        if not self.archived:
            self.archived = True
            self.updated_at = at

    def _advance(self, version: QuestionVersion) -> None:
        self.current = version
        self.updated_at = version.created_at
        self._new_versions.append(version)


# -- validation helpers ----------------------------------------------------------------------------

_TAG_RE = re.compile(TAG)
_OPTION_ID_RE = re.compile(OPTION_ID)
_BLANK_RE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_NOISE = 1e-12
"""Relative float noise allowed in numeric comparisons (decimal input rarely converts exactly)."""
_TIMEOUT_NOTE = "the answer pattern timed out: a person must grade it"
_ESSAY_NOTE = "an essay: a person grades it by the rubric"


def _raise_if_any(detail: str, errors: list[FieldError]) -> None:
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ValidationFailed(f"{detail}: {first.field} {first.message}{more}", errors)


def _invalid(path: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{path} {message}", [FieldError(path, message)])


def parse_body(data: Any) -> Body:
    """A body model from a model (returned as is) or JSON-like data (stored rows, imports), with
    ``ValidationFailed`` paths under ``body.`` when the data does not fit any kind."""
    if isinstance(data, _BODY_TYPES):
        return data
    try:
        return _BODY_ADAPTER.validate_python(data)
    except ValidationError as exc:
        kind = data.get("kind") if isinstance(data, Mapping) else None
        errors: list[FieldError] = []
        for error in exc.errors():
            loc = list(error["loc"])
            if loc and loc[0] == kind:
                loc = loc[1:]
            if not loc and str(error["type"]).startswith("union_tag"):
                loc = ["kind"]
            errors.append(FieldError(".".join(["body", *(str(part) for part in loc)]), error["msg"]))
        _raise_if_any("the question body is invalid", errors)
        raise  # unreachable: pydantic reports at least one error


def _duplicate_ids(ids: Sequence[str], path: str) -> list[FieldError]:
    seen: set[str] = set()
    errors: list[FieldError] = []
    for i, option_id in enumerate(ids):
        if option_id in seen:
            errors.append(FieldError(f"{path}.{i}.id", f"{option_id!r} is used twice: ids must be unique"))
        seen.add(option_id)
    return errors


def _finite(value: float | None) -> bool:
    return value is None or math.isfinite(value)


def _numeric_answer_problems(answer: NumericAnswer, path: str) -> list[FieldError]:
    errors = [
        FieldError(f"{path}.{name}", "must be a finite number")
        for name in ("value", "tolerance", "min", "max")
        if not _finite(getattr(answer, name))
    ]
    if errors:
        return errors
    has_range = answer.min is not None or answer.max is not None
    if answer.value is None and not has_range:
        errors.append(FieldError(path, "needs a value, or a range with min and max"))
    elif answer.value is not None and has_range:
        errors.append(FieldError(path, "give either a value or a range (min and max), not both"))
    elif has_range:
        if answer.min is None:
            errors.append(FieldError(f"{path}.min", "is missing: a range needs both min and max"))
        elif answer.max is None:
            errors.append(FieldError(f"{path}.max", "is missing: a range needs both min and max"))
        elif answer.min > answer.max:
            errors.append(FieldError(f"{path}.min", f"must not be greater than max ({answer.max:g})"))
        if answer.tolerance != 0 or answer.tolerance_kind is not Tolerance.EXACT:
            errors.append(FieldError(f"{path}.tolerance", "does not apply to a range (widen the range instead)"))
    elif answer.tolerance_kind is Tolerance.EXACT and answer.tolerance != 0:
        errors.append(
            FieldError(f"{path}.tolerance", "must be 0 when tolerance_kind is 'exact' (use 'absolute' or 'percent')")
        )
    return errors


def _text_answer_problems(answer: TextAnswer, path: str, matcher: PatternMatcher) -> list[FieldError]:
    if answer.match is TextMatch.REGEX:
        problem = matcher.problem(answer.text)
        return [FieldError(f"{path}.text", problem)] if problem else []
    errors: list[FieldError] = []
    if not _normal(answer.text):
        errors.append(FieldError(f"{path}.text", "must not be blank"))
    if answer.ignore_case:
        errors.append(FieldError(f"{path}.ignore_case", "applies to regex answers only (use match 'case_insensitive')"))
    return errors


def _full_credit_problem(credits: Sequence[float], path: str) -> list[FieldError]:
    if credits and max(credits) < 1:
        return [FieldError(path, "needs at least one answer with full credit (credit 1)")]
    return []


def _blank_ids(text: str) -> list[str]:
    return [m.group(1) for m in _BLANK_RE.finditer(text)]


def body_problems(body: Body, matcher: PatternMatcher) -> list[FieldError]:
    """Every inconsistency of a parsed body (``check_body`` raises them; callers may merge them
    with their own field errors into one answer)."""
    errors: list[FieldError] = []
    match body:
        case SingleChoice():
            errors += _duplicate_ids([o.id for o in body.options], "body.options")
            if body.correct not in {o.id for o in body.options}:
                errors.append(FieldError("body.correct", f"{body.correct!r} is not one of the options"))
        case MultipleResponse():
            errors += _duplicate_ids([o.id for o in body.options], "body.options")
            ids = {o.id for o in body.options}
            listed: set[str] = set()
            for i, option_id in enumerate(body.correct):
                if option_id not in ids:
                    errors.append(FieldError(f"body.correct.{i}", f"{option_id!r} is not one of the options"))
                elif option_id in listed:
                    errors.append(FieldError(f"body.correct.{i}", f"{option_id!r} is listed twice"))
                listed.add(option_id)
            if body.scoring is MultipleScoring.RIGHT_MINUS_WRONG and not body.correct:
                errors.append(FieldError("body.correct", "right_minus_wrong scoring needs at least one correct option"))
        case TrueFalse():
            pass
        case Numeric():
            for i, answer in enumerate(body.answers):
                errors += _numeric_answer_problems(answer, f"body.answers.{i}")
            errors += _full_credit_problem([a.credit for a in body.answers], "body.answers")
        case ShortText():
            for i, text_answer in enumerate(body.answers):
                errors += _text_answer_problems(text_answer, f"body.answers.{i}", matcher)
            errors += _full_credit_problem([a.credit for a in body.answers], "body.answers")
        case Ordering():
            errors += _duplicate_ids([o.id for o in body.items], "body.items")
        case Matching():
            errors += _duplicate_ids([o.id for o in body.prompts], "body.prompts")
            errors += _duplicate_ids([o.id for o in body.choices], "body.choices")
            prompt_ids = {p.id for p in body.prompts}
            choice_ids = {c.id for c in body.choices}
            for prompt_id, choice_id in body.pairs.items():
                if prompt_id not in prompt_ids:
                    errors.append(FieldError(f"body.pairs.{prompt_id}", f"{prompt_id!r} is not one of the prompts"))
                elif choice_id not in choice_ids:
                    errors.append(FieldError(f"body.pairs.{prompt_id}", f"{choice_id!r} is not one of the choices"))
            errors += [
                FieldError(f"body.pairs.{p.id}", "is missing: every prompt needs its choice")
                for p in body.prompts
                if p.id not in body.pairs
            ]
        case FillBlanks():
            errors += _fill_blanks_problems(body, matcher)
        case Essay():
            errors += _duplicate_ids([o.id for o in body.rubric], "body.rubric")
            total = _rubric_max(body)
            if total <= 0:
                errors.append(FieldError("body.rubric", "must award some points: every level is worth 0"))
            elif total > POINTS_MAX:
                errors.append(FieldError("body.rubric", f"is worth {total:g} points; at most {POINTS_MAX:g}"))
    return errors


def _fill_blanks_problems(body: FillBlanks, matcher: PatternMatcher) -> list[FieldError]:
    errors: list[FieldError] = []
    in_text = _blank_ids(body.text)
    if not in_text:
        errors.append(FieldError("body.text", "must contain at least one blank, written {{id}}"))
    if len(body.blanks) > BLANKS_MAX:
        errors.append(FieldError("body.blanks", f"at most {BLANKS_MAX} blanks"))
    seen: set[str] = set()
    for blank_id in in_text:
        if not _OPTION_ID_RE.fullmatch(blank_id):
            errors.append(FieldError("body.text", f"{{{{{blank_id}}}}}: a blank id is 1-40 letters, digits, _ or -"))
        elif blank_id in seen:
            errors.append(FieldError("body.text", f"blank {blank_id!r} appears more than once"))
        elif blank_id not in body.blanks:
            errors.append(FieldError("body.text", f"blank {blank_id!r} has no accepted answers in blanks"))
        seen.add(blank_id)
    for blank_id, answers in body.blanks.items():
        path = f"body.blanks.{blank_id}"
        if blank_id not in seen:
            errors.append(FieldError(path, "does not appear in the text (write it as {{" + blank_id + "}})"))
        if not answers:
            errors.append(FieldError(path, "needs at least one accepted answer"))
        for i, answer in enumerate(answers):
            errors += _text_answer_problems(answer, f"{path}.{i}", matcher)
        errors += _full_credit_problem([a.credit for a in answers], path)
    return errors


def _rubric_max(body: Essay) -> float:
    return round(sum(max(level.points for level in c.levels) for c in body.rubric), 6)


def _checked_version(
    question_id: uuid.UUID,
    number: int,
    course_id: uuid.UUID,
    *,
    prompt: str,
    points: float,
    body: Any,
    tags: Sequence[str],
    feedback: str | None,
    matcher: PatternMatcher,
    at: datetime,
) -> QuestionVersion:
    errors: list[FieldError] = []
    if not isinstance(prompt, str) or not prompt.strip():
        errors.append(FieldError("prompt", "must not be blank"))
    elif len(prompt) > PROMPT_MAX:
        errors.append(FieldError("prompt", f"must be at most {PROMPT_MAX} characters"))
    if isinstance(points, bool) or not isinstance(points, int | float) or not math.isfinite(points):
        errors.append(FieldError("points", "must be a finite number"))
    elif not 0 < points <= POINTS_MAX:
        errors.append(FieldError("points", f"must be more than 0 and at most {POINTS_MAX:g}"))
    normal_tags, tag_errors = _normal_tags(tags)
    errors += tag_errors
    if feedback is not None and len(feedback) > PROMPT_MAX:
        errors.append(FieldError("feedback", f"must be at most {PROMPT_MAX} characters"))
    try:
        parsed: Body | None = parse_body(body)
    except ValidationFailed as exc:
        parsed = None
        errors += exc.errors
    if parsed is not None:
        errors += body_problems(parsed, matcher)
    _raise_if_any("the question is invalid", errors)
    assert parsed is not None  # every path that leaves it None added an error
    return QuestionVersion(
        question_id=question_id,
        version=number,
        course_id=course_id,
        prompt=prompt,
        points=max_points_of(parsed, float(points)),
        body=parsed,
        tags=normal_tags,
        feedback=feedback if feedback and feedback.strip() else None,
        created_at=at,
    )


def _normal_tags(tags: Sequence[str]) -> tuple[tuple[str, ...], list[FieldError]]:
    """Tags are lowercase, unique and sorted, so tag draws and listings need no case folding."""
    if isinstance(tags, str):
        return (), [FieldError("tags", "must be a list of tags, not one string")]
    errors: list[FieldError] = []
    normal: set[str] = set()
    for i, raw in enumerate(tags):
        tag = raw.strip().lower() if isinstance(raw, str) else ""
        if not _TAG_RE.fullmatch(tag):
            errors.append(
                FieldError(
                    f"tags.{i}", "must be 1-40 lowercase letters, digits or _ . : - (starting with a letter or digit)"
                )
            )
        else:
            normal.add(tag)
    if len(normal) > TAGS_MAX:
        errors.append(FieldError("tags", f"at most {TAGS_MAX} tags"))
    return tuple(sorted(normal)), errors


# -- the scoring API ---------------------------------------------------------------------------


def check_body(body: Any, matcher: PatternMatcher) -> None:
    """Raise ``ValidationFailed`` (with dotted field paths under ``body.``) when the key is inconsistent:
    duplicate ids, a correct id that is no option, a numeric answer with neither value nor range (or
    min > max), unknown blanks in the text or blanks missing from it, a matching pair naming no prompt or
    choice or a prompt without a pair, a regex the matcher refuses, a rubric whose levels are all zero."""
    _raise_if_any("the answer key is inconsistent", body_problems(parse_body(body), matcher))


def max_points_of(body: Any, points: float) -> float:
    """The points a question is worth: ``points``, except for essays whose rubric sets them
    (the sum over criteria of the best level)."""
    parsed = parse_body(body)
    return _rubric_max(parsed) if isinstance(parsed, Essay) else points


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


def _checked_choices(value: Any, ids: list[str], path: str) -> list[str]:
    if not isinstance(value, list | tuple):
        raise _invalid(path, "must be a list of option ids")
    errors: list[FieldError] = []
    chosen: set[str] = set()
    for i, item in enumerate(value[: len(ids) + 1]):
        if not isinstance(item, str) or item not in ids:
            errors.append(FieldError(f"{path}.{i}", f"{str(item)[:60]!r} is not an option of this question"))
        elif item in chosen:
            errors.append(FieldError(f"{path}.{i}", f"{item!r} is chosen twice"))
        else:
            chosen.add(item)
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
    if not isinstance(value, list | tuple):
        raise _invalid(path, "must be a list of item ids")
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, item in enumerate(value[: len(ids) + 1]):
        if not isinstance(item, str) or item not in ids:
            errors.append(FieldError(f"{path}.{i}", f"{str(item)[:60]!r} is not an item of this question"))
        elif item in seen:
            errors.append(FieldError(f"{path}.{i}", f"{item!r} appears twice"))
        else:
            seen.add(item)
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


def _normal(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


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


def option_ids(body: Any) -> tuple[str, ...]:
    """The ids an attempt shuffles for this kind (options; ordering items; matching choices), in key order;
    () for kinds with nothing to shuffle."""
    parsed = parse_body(body)
    match parsed:
        case SingleChoice() | MultipleResponse():
            return tuple(o.id for o in parsed.options)
        case Ordering():
            return tuple(o.id for o in parsed.items)
        case Matching():
            return tuple(o.id for o in parsed.choices)
        case _:
            return ()


def _id_change(what: str, old: Sequence[str], new: Sequence[str]) -> str | None:
    removed = [i for i in old if i not in set(new)]
    added = [i for i in new if i not in set(old)]
    if not removed and not added:
        return None
    parts = [f"removed {', '.join(removed)}" if removed else "", f"added {', '.join(added)}" if added else ""]
    return f"the {what} ids changed ({'; '.join(p for p in parts if p)}): stored answers name them"


def key_compatible(old: Any, new: Any) -> str | None:
    """Why ``new`` cannot replace ``old``'s answer key in a regrade (another kind, other option/item/
    prompt/choice/blank/criterion ids, so stored responses would not mean the same), or None."""
    before, after = parse_body(old), parse_body(new)
    if before.kind != after.kind:
        return f"the kind changed from {before.kind} to {after.kind}: stored answers would not fit"
    match before, after:
        case (SingleChoice() | MultipleResponse(), SingleChoice() | MultipleResponse()):
            return _id_change("option", [o.id for o in before.options], [o.id for o in after.options])
        case (Ordering(), Ordering()):
            return _id_change("item", [o.id for o in before.items], [o.id for o in after.items])
        case (Matching(), Matching()):
            return _id_change("prompt", [p.id for p in before.prompts], [p.id for p in after.prompts]) or _id_change(
                "choice", [c.id for c in before.choices], [c.id for c in after.choices]
            )
        case (FillBlanks(), FillBlanks()):
            return _id_change("blank", _blank_ids(before.text), _blank_ids(after.text))
        case (Essay(), Essay()):
            change = _id_change("criterion", [c.id for c in before.rubric], [c.id for c in after.rubric])
            if change:
                return change
            levels = {c.id: len(c.levels) for c in before.rubric}
            for criterion in after.rubric:
                if len(criterion.levels) != levels[criterion.id]:
                    return (
                        f"criterion {criterion.id!r} now has {len(criterion.levels)} levels instead of "
                        f"{levels[criterion.id]}: stored rubric grades name levels by position"
                    )
            return None
        case _:
            return None


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
