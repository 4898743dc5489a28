"""The question bank: question kinds and their answer keys, as pydantic bodies, and the
versioned ``Question`` aggregate.

A question's *body* is a pydantic model per kind (a discriminated union on
``kind``): it is at once the authoring input, the stored snapshot and the
documented import/export JSON format. Every change to a question writes a new
immutable ``QuestionVersion``; an attempt keeps the version it showed. What a
response looks like and how it scores is in ``_scoring``.
"""

from __future__ import annotations

import enum
import math
import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from elearning_core.shared.errors import FieldError, ValidationFailed
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ids import new_uuid
from elearning_core.shared.inputs import InputModel

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


class _Spec(InputModel):
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


def _normal(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


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
