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
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from elearning_core.shared.events import DomainEvent

OPTION_ID = r"^[A-Za-z0-9_-]{1,40}$"
TAG = r"^[a-z0-9][a-z0-9_.:-]{0,39}$"
TEXT_MAX = 5_000
PROMPT_MAX = 20_000
RESPONSE_TEXT_MAX = 20_000
PATTERN_MAX = 500
TAGS_MAX = 20
POINTS_MAX = 1_000.0


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


class NumericAnswer(_Spec):
    """Either ``value`` (with a tolerance) or a closed range ``[min, max]``."""

    value: float | None = None
    tolerance: float = Field(default=0.0, ge=0)
    tolerance_kind: Tolerance = Tolerance.EXACT
    min: float | None = None
    max: float | None = None


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
    """A question of a course's bank: the aggregate. ``current`` is its latest version."""

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


# The functions below are the module's scoring API.


def check_body(body: Any, matcher: PatternMatcher) -> None:
    """Raise ``ValidationFailed`` (with dotted field paths under ``body.``) when the key is inconsistent:
    duplicate ids, a correct id that is no option, a numeric answer with neither value nor range (or
    min > max), unknown blanks in the text or blanks missing from it, a matching pair naming no prompt or
    choice or a prompt without a pair, a regex the matcher refuses, a rubric whose levels are all zero."""
    raise NotImplementedError


def max_points_of(body: Any, points: float) -> float:
    """The points a question is worth: ``points``, except for essays whose rubric sets them
    (the sum over criteria of the best level)."""
    raise NotImplementedError


def check_response(body: Any, response: Mapping[str, Any]) -> dict[str, Any]:
    """The response normalised (a JSON-ready dict), or ``ValidationFailed`` naming what is wrong:
    the wrong shape for the kind, an option/item/prompt/choice/blank id the question does not have,
    text over ``RESPONSE_TEXT_MAX``, a non-finite number. Partial answers are valid (a blank left empty)."""
    raise NotImplementedError


def score_response(body: Any, response: Mapping[str, Any] | None, matcher: PatternMatcher) -> Scored:
    """Score a (checked) response against the key; None (never answered) scores 0, except essays,
    which always need grading when answered and score 0 unanswered."""
    raise NotImplementedError


def score_rubric(body: Any, selections: Mapping[str, int]) -> float:
    """An essay's points from the chosen level index per criterion; ``ValidationFailed`` when a
    criterion is missing or a level does not exist."""
    raise NotImplementedError


def option_ids(body: Any) -> tuple[str, ...]:
    """The ids an attempt shuffles for this kind (options; ordering items; matching choices), in key order;
    () for kinds with nothing to shuffle."""
    raise NotImplementedError


def key_compatible(old: Any, new: Any) -> str | None:
    """Why ``new`` cannot replace ``old``'s answer key in a regrade (another kind, other option/item/
    prompt/choice/blank/criterion ids, so stored responses would not mean the same), or None."""
    raise NotImplementedError


def present(version: QuestionVersion, order: Sequence[str], *, reveal: bool) -> dict[str, Any]:
    """What a learner is shown of a question in an attempt, options in the attempt's ``order``.

    Without ``reveal`` nothing of the key leaks: no ``correct``, ``answers``, ``pairs``, ``blanks``
    answers, ordering items only in the shuffled order. With ``reveal`` the key is added under ``key``
    (and the general ``feedback``)."""
    raise NotImplementedError
