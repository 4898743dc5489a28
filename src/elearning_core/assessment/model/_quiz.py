"""Quizzes: which questions, drawn how, and the rules of taking them.

A quiz is a list of slots: a fixed question, or a random draw of ``count``
questions from the course's bank carrying all of a slot's tags. The draw and
every shuffle derive from the attempt's seed alone (``random.Random`` seeded
per purpose), so an attempt can be rebuilt and audited from its seed and the
bank as it was; the attempt stores what was drawn anyway, so later bank edits
never change it.

Timing. ``opens_at`` .. ``closes_at`` is when attempts may be started and
work saved; ``due_at`` is when work stops being on time. A per-learner
``Extension`` may move ``due_at``/``closes_at`` and add attempts or time. A
time limit ends an attempt at ``started_at + limit`` (never after the
window's close); ``grace_seconds`` more are allowed for the last save and
the submit to arrive, and such a submit is not counted as over time.

Draws. Every draw slot's pool is sorted by question id and leaves out every
fixed question of the quiz and everything earlier slots drew, so an attempt
never shows a question twice. Whether a quiz can be filled is decided on the
worst case (``check_fillable``): an earlier slot whose pool overlaps a later
one may take as many of the later slot's candidates as it draws, so a quiz that
passes the check never fails to assemble by bad luck, only because the bank
changed. Ordering questions are always shuffled (their order is the answer) and
never shown in the key's order.
"""

from __future__ import annotations

import enum
import math
import random
import re
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from elearning_core.assessment.events import QuizPublished
from elearning_core.assessment.model._questions import (
    POINTS_MAX,
    PROMPT_MAX,
    TAG,
    TAGS_MAX,
    QuestionKind,
    QuestionVersion,
    max_points_of,
    option_ids,
)
from elearning_core.shared.errors import Conflict, FieldError, ValidationFailed
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ids import new_uuid

if TYPE_CHECKING:
    from elearning_core.assessment.model._attempt import AttemptItem

TITLE_MAX = 200
SLOTS_MAX = 200
DRAW_MAX = 100
CATEGORY_MAX = 60
ITEMS_MAX = 500
"""Questions in one attempt, over all slots (a bound on an attempt's size, and on every loop over it)."""
TIME_LIMIT_MIN = 60
TIME_LIMIT_MAX = 7 * 24 * 3600
GRACE_MAX = 3600
ATTEMPTS_MAX = 100


class QuizStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class GradingPolicy(enum.StrEnum):
    """Which of a learner's graded attempts make the quiz's grade."""

    HIGHEST = "highest"
    LATEST = "latest"
    AVERAGE = "average"


class LateUnit(enum.StrEnum):
    HOUR = "hour"
    DAY = "day"


class AnswerReview(enum.StrEnum):
    """When a learner may see the answer key and per-question feedback of a submitted attempt."""

    NEVER = "never"
    AFTER_SUBMIT = "after_submit"
    AFTER_DUE = "after_due"
    """After the learner's (extended) due date, or the close when there is no due date."""


@dataclass(frozen=True, slots=True)
class LatePolicy:
    """Work submitted after the due date loses ``deduction_percent`` points of percent per started
    ``per`` (hour or day), never going below ``floor_percent`` because of the deduction (a grade under
    the floor on its merits stays). ``missing_grade_percent``: the grade of a learner with no submitted
    attempt once the quiz has closed (None: left blank, and not counted)."""

    deduction_percent: float = 0.0
    per: LateUnit = LateUnit.DAY
    floor_percent: float = 0.0
    missing_grade_percent: float | None = None


@dataclass(frozen=True, slots=True)
class FixedSlot:
    question_id: uuid.UUID
    points: float | None = None
    """Overrides the question's points in this quiz (essays keep their rubric's points)."""


@dataclass(frozen=True, slots=True)
class DrawSlot:
    tags: tuple[str, ...]
    count: int
    points: float | None = None


Slot = FixedSlot | DrawSlot


@dataclass(frozen=True, slots=True)
class Extension:
    """One learner's accommodation on a quiz."""

    quiz_id: uuid.UUID
    user_id: uuid.UUID
    due_at: datetime | None = None
    closes_at: datetime | None = None
    extra_attempts: int = 0
    extra_time_seconds: int = 0


class StartRefusal(enum.StrEnum):
    """Why an attempt may not start; the HTTP problem type is the value with dashes."""

    NOT_AVAILABLE = "quiz_not_available"
    NOT_OPEN = "quiz_not_open_yet"
    CLOSED = "quiz_closed"
    NO_ATTEMPTS_LEFT = "no_attempts_left"
    CANNOT_FILL = "quiz_cannot_be_filled"


class StartRefused(Conflict):
    """A rule of the quiz refused to start (or publish) it: a 409 whose ``reason`` names the rule."""

    def __init__(self, reason: StartRefusal, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class QuizSpec:
    """A quiz's settings as domain values (the service builds it from ``QuizSettings``); checked
    and normalised by ``Quiz.create``/``Quiz.update``, which name offending fields by their path in
    ``QuizSettings``."""

    title: str
    description: str = ""
    category: str = "quizzes"
    slots: tuple[Slot, ...] = ()
    shuffle_questions: bool = False
    shuffle_options: bool = True
    time_limit_seconds: int | None = None
    grace_seconds: int = 30
    max_attempts: int | None = None
    opens_at: datetime | None = None
    due_at: datetime | None = None
    closes_at: datetime | None = None
    late_policy: LatePolicy = field(default_factory=LatePolicy)
    grading_policy: GradingPolicy = GradingPolicy.HIGHEST
    pass_mark_percent: float | None = None
    answer_review: AnswerReview = AnswerReview.AFTER_SUBMIT


@dataclass(frozen=True, slots=True)
class Window:
    """The rules as they apply to one learner (the quiz's, with their extension)."""

    opens_at: datetime | None
    due_at: datetime | None
    closes_at: datetime | None
    time_limit_seconds: int | None
    """The quiz's limit with the learner's extra time."""
    grace_seconds: int
    max_attempts: int | None
    """The quiz's limit with the learner's extra attempts."""

    def check_start(self, at: datetime, used: int) -> None:
        """Raise ``StartRefused`` unless an attempt may start at ``at`` after ``used`` ones."""
        if self.opens_at is not None and at < self.opens_at:
            raise StartRefused(StartRefusal.NOT_OPEN, f"the quiz opens at {self.opens_at.isoformat()}")
        if self.closes_at is not None and at > self.closes_at:
            raise StartRefused(StartRefusal.CLOSED, f"the quiz closed at {self.closes_at.isoformat()}")
        if self.max_attempts is not None and used >= self.max_attempts:
            raise StartRefused(
                StartRefusal.NO_ATTEMPTS_LEFT, f"no attempts left: all {self.max_attempts} have been used"
            )

    def review_from(self) -> datetime | None:
        """When ``after_due`` answer review opens for this learner: the due date, else the close."""
        return self.due_at or self.closes_at


@dataclass(slots=True, eq=False)
class Quiz:
    id: uuid.UUID
    course_id: uuid.UUID
    title: str
    description: str
    category: str
    """The gradebook category (weighted by the course's grading scheme)."""
    status: QuizStatus
    slots: tuple[Slot, ...]
    shuffle_questions: bool
    shuffle_options: bool
    time_limit_seconds: int | None
    grace_seconds: int
    max_attempts: int | None
    opens_at: datetime | None
    due_at: datetime | None
    closes_at: datetime | None
    late_policy: LatePolicy
    grading_policy: GradingPolicy
    pass_mark_percent: float | None
    answer_review: AnswerReview
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None
    _events: list[DomainEvent] = field(default_factory=list, repr=False)

    @property
    def pending_events(self) -> list[DomainEvent]:
        return list(self._events)

    def pull_events(self) -> list[DomainEvent]:
        events, self._events = self._events, []
        return events

    # -- authoring ------------------------------------------------------------------------

    @classmethod
    def create(cls, course_id: uuid.UUID, spec: QuizSpec, at: datetime) -> Quiz:
        """A draft quiz; ``ValidationFailed`` names every offending setting at once."""
        s = check_spec(spec)
        return cls(
            id=new_uuid(),
            course_id=course_id,
            title=s.title,
            description=s.description,
            category=s.category,
            status=QuizStatus.DRAFT,
            slots=s.slots,
            shuffle_questions=s.shuffle_questions,
            shuffle_options=s.shuffle_options,
            time_limit_seconds=s.time_limit_seconds,
            grace_seconds=s.grace_seconds,
            max_attempts=s.max_attempts,
            opens_at=s.opens_at,
            due_at=s.due_at,
            closes_at=s.closes_at,
            late_policy=s.late_policy,
            grading_policy=s.grading_policy,
            pass_mark_percent=s.pass_mark_percent,
            answer_review=s.answer_review,
            created_at=at,
            updated_at=at,
        )

    def update(self, spec: QuizSpec, at: datetime) -> None:
        """Replace the settings as a whole (attempts already started keep their questions)."""
        if self.status is QuizStatus.ARCHIVED:
            raise Conflict("an archived quiz cannot be changed")
        s = check_spec(spec)
        self.title, self.description, self.category, self.slots = s.title, s.description, s.category, s.slots
        self.shuffle_questions, self.shuffle_options = s.shuffle_questions, s.shuffle_options
        self.time_limit_seconds, self.grace_seconds, self.max_attempts = (
            s.time_limit_seconds,
            s.grace_seconds,
            s.max_attempts,
        )
        self.opens_at, self.due_at, self.closes_at = s.opens_at, s.due_at, s.closes_at
        self.late_policy, self.grading_policy = s.late_policy, s.grading_policy
        self.pass_mark_percent, self.answer_review = s.pass_mark_percent, s.answer_review
        self.updated_at = at

    @property
    def spec(self) -> QuizSpec:
        """The settings as they are (to compare with a change, or to export)."""
        return QuizSpec(
            title=self.title,
            description=self.description,
            category=self.category,
            slots=self.slots,
            shuffle_questions=self.shuffle_questions,
            shuffle_options=self.shuffle_options,
            time_limit_seconds=self.time_limit_seconds,
            grace_seconds=self.grace_seconds,
            max_attempts=self.max_attempts,
            opens_at=self.opens_at,
            due_at=self.due_at,
            closes_at=self.closes_at,
            late_policy=self.late_policy,
            grading_policy=self.grading_policy,
            pass_mark_percent=self.pass_mark_percent,
            answer_review=self.answer_review,
        )

    def publish(self, at: datetime) -> bool:
        """Open the quiz to learners; False when it already is. The caller has checked with
        ``check_fillable`` that the bank can fill it (the bank is not the quiz's to read)."""
        if self.status is QuizStatus.ARCHIVED:
            raise Conflict("an archived quiz cannot be published again")
        if self.status is QuizStatus.PUBLISHED:
            return False
        if not self.slots:
            raise StartRefused(StartRefusal.CANNOT_FILL, "the quiz has no questions: add a slot before publishing")
        self.status = QuizStatus.PUBLISHED
        self.published_at = self.updated_at = at
        self._events.append(
            QuizPublished(occurred_at=at, aggregate_id=self.id, course_id=self.course_id, title=self.title)
        )
        return True

    def archive(self, at: datetime) -> bool:
        """Close the quiz for good: no new attempts; attempts in progress may still be submitted and
        every grade stays. False when it already is archived."""
        if self.status is QuizStatus.ARCHIVED:
            return False
        self.status = QuizStatus.ARCHIVED
        self.updated_at = at
        return True

    # -- one learner's rules ------------------------------------------------------------------

    def window_for(self, extension: Extension | None) -> Window:
        """The quiz's rules with the learner's extension. An extension only ever gives (a later
        due date or close, more attempts, more time): if the quiz's own dates move past it, the
        quiz's apply. Parts of an extension the quiz has nothing to extend for (no due date, no
        close, no attempt or time limit) are left out."""
        due, closes = self.due_at, self.closes_at
        limit, attempts = self.time_limit_seconds, self.max_attempts
        if extension is not None:
            due = _later(due, extension.due_at)
            closes = _later(closes, extension.closes_at)
            if limit is not None:
                limit += extension.extra_time_seconds
            if attempts is not None:
                attempts += extension.extra_attempts
        return Window(
            opens_at=self.opens_at,
            due_at=due,
            closes_at=closes,
            time_limit_seconds=limit,
            grace_seconds=self.grace_seconds,
            max_attempts=attempts,
        )

    def extension_for(
        self,
        user_id: uuid.UUID,
        *,
        due_at: datetime | None = None,
        closes_at: datetime | None = None,
        extra_attempts: int = 0,
        extra_time_seconds: int = 0,
    ) -> Extension:
        """A checked extension: it must extend something the quiz has, and never take time away."""
        errors = _Errors()
        for name, value in (("due_at", due_at), ("closes_at", closes_at)):
            errors.check(value is None or value.tzinfo is not None, name, _NEEDS_ZONE)
        if due_at is not None and due_at.tzinfo is not None:
            if self.due_at is None:
                errors.add("due_at", "the quiz has no due date to extend")
            elif due_at < self.due_at:
                errors.add("due_at", "must not be before the quiz's due date (an extension only gives time)")
        if closes_at is not None and closes_at.tzinfo is not None:
            if self.closes_at is None:
                errors.add("closes_at", "the quiz never closes: there is no close to extend")
            elif closes_at < self.closes_at:
                errors.add("closes_at", "must not be before the quiz's close (an extension only gives time)")
        errors.check(0 <= extra_attempts <= ATTEMPTS_MAX, "extra_attempts", f"must be between 0 and {ATTEMPTS_MAX}")
        errors.check(
            extra_attempts == 0 or self.max_attempts is not None,
            "extra_attempts",
            "the quiz allows unlimited attempts already",
        )
        errors.check(
            0 <= extra_time_seconds <= TIME_LIMIT_MAX, "extra_time_seconds", f"must be between 0 and {TIME_LIMIT_MAX}"
        )
        errors.check(
            extra_time_seconds == 0 or self.time_limit_seconds is not None,
            "extra_time_seconds",
            "the quiz has no time limit to extend",
        )
        errors.raise_if_any("the extension is invalid")
        extension = Extension(self.id, user_id, due_at, closes_at, extra_attempts, extra_time_seconds)
        window = self.window_for(extension)
        if window.due_at is not None and window.closes_at is not None and window.due_at > window.closes_at:
            errors.add("closes_at", "must not be before the extended due date: extend the close too")
        errors.raise_if_any("the extension is invalid")
        return extension

    # -- filling an attempt -------------------------------------------------------------------

    def fixed_question_ids(self) -> list[uuid.UUID]:
        return [slot.question_id for slot in self.slots if isinstance(slot, FixedSlot)]

    def draw_slots(self) -> list[tuple[int, DrawSlot]]:
        """``(slot index, slot)`` of the draws, in slot order."""
        return [(index, slot) for index, slot in enumerate(self.slots) if isinstance(slot, DrawSlot)]

    def check_fillable(self, existing: Collection[uuid.UUID], pools: Mapping[int, Sequence[uuid.UUID]]) -> None:
        """Raise ``StartRefused`` (``quiz_cannot_be_filled``) unless every fixed question is in
        ``existing`` and every draw is sure to find its ``count`` questions in ``pools`` (slot
        index -> candidate ids), whatever the earlier draws take (see the module docstring)."""
        if not self.slots:
            raise StartRefused(StartRefusal.CANNOT_FILL, "the quiz has no questions")
        for index, slot in enumerate(self.slots):
            if isinstance(slot, FixedSlot) and slot.question_id not in existing:
                raise StartRefused(
                    StartRefusal.CANNOT_FILL,
                    f"slots.{index}: question {slot.question_id} is no longer in the course's bank",
                )
        fixed = set(self.fixed_question_ids())
        candidates = {index: set(pools.get(index, ())) - fixed for index, _ in self.draw_slots()}
        earlier: list[tuple[int, DrawSlot]] = []
        for index, slot in self.draw_slots():
            mine = candidates[index]
            at_risk = sum(min(other.count, len(mine & candidates[j])) for j, other in earlier)
            if len(mine) - at_risk < slot.count:
                tags = ", ".join(slot.tags)
                detail = (
                    f"only {len(mine)} questions carry them"
                    if not at_risk
                    else (f"{len(mine)} questions carry them, and earlier draws may take {at_risk} of those")
                )
                raise StartRefused(
                    StartRefusal.CANNOT_FILL,
                    f"slots.{index} draws {slot.count} question(s) tagged {tags}, but {detail}",
                )
            earlier.append((index, slot))

    def draw(self, seed: int, pools: Mapping[int, Sequence[uuid.UUID]]) -> list[uuid.UUID]:
        """The ids the draw slots pick with ``seed``, in slot order (to load just their versions
        before ``assemble``, which picks the same ones)."""
        fixed = set(self.fixed_question_ids())
        return [question_id for question_id, _ in self._choose(seed, pools) if question_id not in fixed]

    def _choose(self, seed: int, pools: Mapping[int, Sequence[uuid.UUID]]) -> list[tuple[uuid.UUID, float | None]]:
        """``(question id, slot points)`` per item in slot order: the fixed ones and the draws."""
        used = set(self.fixed_question_ids())
        chosen: list[tuple[uuid.UUID, float | None]] = []
        for index, slot in enumerate(self.slots):
            if isinstance(slot, FixedSlot):
                chosen.append((slot.question_id, slot.points))
                continue
            candidates = [q for q in sorted(set(pools.get(index, ()))) if q not in used]
            if len(candidates) < slot.count:
                raise StartRefused(
                    StartRefusal.CANNOT_FILL,
                    f"slots.{index} draws {slot.count} question(s) tagged {', '.join(slot.tags)}, "
                    f"but only {len(candidates)} are left to draw",
                )
            drawn = _rng(seed, f"draw:{index}").sample(candidates, slot.count)
            used.update(drawn)
            chosen.extend((question_id, slot.points) for question_id in drawn)
        return chosen

    def assemble(
        self,
        seed: int,
        fixed: Mapping[uuid.UUID, QuestionVersion],
        pools: Mapping[int, Sequence[uuid.UUID]],
        versions: Mapping[uuid.UUID, QuestionVersion],
    ) -> list[AttemptItem]:
        """The items of an attempt with this ``seed``: the fixed questions (``fixed``: their current
        versions), the draws from ``pools`` (slot index -> candidate ids; ``versions`` has the
        candidates' current versions), the question order and each item's option order. The same
        seed, quiz and bank always give the same items, in the same orders."""
        from elearning_core.assessment.model._attempt import AttemptItem

        chosen = self._choose(seed, pools)
        if self.shuffle_questions:
            _rng(seed, "questions").shuffle(chosen)
        items: list[AttemptItem] = []
        for position, (question_id, points) in enumerate(chosen):
            version = fixed.get(question_id) or versions.get(question_id)
            if version is None:
                raise StartRefused(
                    StartRefusal.CANNOT_FILL, f"question {question_id} is no longer in the course's bank"
                )
            items.append(
                AttemptItem(
                    position=position,
                    question_id=question_id,
                    version=version.version,
                    key_version=version.version,
                    points=max_points_of(version.body, version.points if points is None else points),
                    order=self._order(seed, version),
                )
            )
        return items

    def _order(self, seed: int, version: QuestionVersion) -> tuple[str, ...]:
        ids = list(option_ids(version.body))
        ordering = version.kind is QuestionKind.ORDERING
        if len(ids) < 2 or not (self.shuffle_options or ordering):
            return tuple(ids)
        key = list(ids)
        _rng(seed, f"options:{version.question_id}").shuffle(ids)
        if ordering and ids == key:
            ids = ids[1:] + ids[:1]  # shown in the key's order, the answer would be given away
        return tuple(ids)


# -- helpers ---------------------------------------------------------------------------------

_TAG = re.compile(TAG)
_NEEDS_ZONE = "must carry a time zone (e.g. 2026-09-01T00:00:00Z)"


def _rng(seed: int, purpose: str) -> random.Random:
    """A generator for one purpose of one attempt. A string seed is hashed with SHA-512 by
    ``random``, so the sequence is the same in every process and Python version 3.2+."""
    return random.Random(f"{seed}:{purpose}")  # a reproducible shuffle, not a secret


def _later(mine: datetime | None, extended: datetime | None) -> datetime | None:
    if mine is None or extended is None:
        return mine
    return max(mine, extended)


class _Errors:
    """Field errors collected over a whole input, so a form shows every problem at once."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def check(self, ok: bool, path: str, message: str) -> None:
        if not ok:
            self.add(path, message)

    def raise_if_any(self, summary: str) -> None:
        if self.errors:
            first = self.errors[0]
            more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            raise ValidationFailed(f"{summary}: {first.field} {first.message}{more}", list(self.errors))


def _percent_ok(value: float | None, *, optional: bool = True) -> bool:
    if value is None:
        return optional
    return math.isfinite(value) and 0 <= value <= 100


def _points_ok(value: float | None) -> bool:
    return value is None or (math.isfinite(value) and 0 < value <= POINTS_MAX)


def check_spec(spec: QuizSpec) -> QuizSpec:
    """``spec`` normalised (trimmed text, deduplicated tags), or ``ValidationFailed`` naming every
    offending field by its path in ``QuizSettings`` (``slots.2.tags.0``, ``late_policy.floor_percent``)."""
    errors = _Errors()
    title = spec.title.strip()
    errors.check(1 <= len(title) <= TITLE_MAX, "title", f"must be 1 to {TITLE_MAX} characters")
    errors.check(len(spec.description) <= PROMPT_MAX, "description", f"must be at most {PROMPT_MAX} characters")
    category = " ".join(spec.category.split())
    errors.check(1 <= len(category) <= CATEGORY_MAX, "category", f"must be 1 to {CATEGORY_MAX} characters")
    slots = _check_slots(spec.slots, errors)
    limit, grace, attempts = spec.time_limit_seconds, spec.grace_seconds, spec.max_attempts
    errors.check(
        limit is None or TIME_LIMIT_MIN <= limit <= TIME_LIMIT_MAX,
        "time_limit_seconds",
        f"must be between {TIME_LIMIT_MIN} and {TIME_LIMIT_MAX} seconds, or null for no limit",
    )
    errors.check(0 <= grace <= GRACE_MAX, "grace_seconds", f"must be between 0 and {GRACE_MAX} seconds")
    errors.check(
        attempts is None or 1 <= attempts <= ATTEMPTS_MAX,
        "max_attempts",
        f"must be between 1 and {ATTEMPTS_MAX}, or null for no limit",
    )
    _check_dates(spec, errors)
    late = spec.late_policy
    for name in ("deduction_percent", "floor_percent"):
        errors.check(_percent_ok(getattr(late, name), optional=False), f"late_policy.{name}", "must be 0 to 100")
    errors.check(_percent_ok(late.missing_grade_percent), "late_policy.missing_grade_percent", "must be 0 to 100")
    errors.check(
        late.deduction_percent == 0 or spec.due_at is not None,
        "late_policy.deduction_percent",
        "needs a due date: work is late only after one",
    )
    errors.check(
        late.missing_grade_percent is None or spec.closes_at is not None or spec.due_at is not None,
        "late_policy.missing_grade_percent",
        "needs a close or due date: work is missing only after one",
    )
    errors.check(_percent_ok(spec.pass_mark_percent), "pass_mark_percent", "must be 0 to 100, or null for none")
    errors.raise_if_any("the quiz settings are invalid")
    return replace(spec, title=title, category=category, slots=slots)


def _check_dates(spec: QuizSpec, errors: _Errors) -> None:
    dates = {"opens_at": spec.opens_at, "due_at": spec.due_at, "closes_at": spec.closes_at}
    for name, value in dates.items():
        errors.check(value is None or value.tzinfo is not None, name, _NEEDS_ZONE)
    if any(value is not None and value.tzinfo is None for value in dates.values()):
        return  # naive and aware datetimes cannot be compared; the zone errors say enough
    opens, due, closes = spec.opens_at, spec.due_at, spec.closes_at
    if opens is not None and due is not None and due <= opens:
        errors.add("due_at", "must be after opens_at")
    if opens is not None and closes is not None and closes <= opens:
        errors.add("closes_at", "must be after opens_at")
    if due is not None and closes is not None and closes < due:
        errors.add("closes_at", "must not be before due_at")


def _check_slots(slots: Sequence[Slot], errors: _Errors) -> tuple[Slot, ...]:
    if len(slots) > SLOTS_MAX:
        errors.add("slots", f"at most {SLOTS_MAX} slots")
        return tuple(slots)
    checked: list[Slot] = []
    fixed_at: dict[uuid.UUID, int] = {}
    total = 0
    for index, slot in enumerate(slots):
        path = f"slots.{index}"
        errors.check(_points_ok(slot.points), f"{path}.points", f"must be above 0 and at most {POINTS_MAX:g}")
        if isinstance(slot, FixedSlot):
            first = fixed_at.setdefault(slot.question_id, index)
            errors.check(first == index, f"{path}.question_id", f"is already the question of slots.{first}")
            total += 1
            checked.append(slot)
            continue
        tags = tuple(dict.fromkeys(slot.tags))
        errors.check(1 <= len(tags) <= TAGS_MAX, f"{path}.tags", f"must name 1 to {TAGS_MAX} tags")
        for position, tag in enumerate(slot.tags):
            errors.check(bool(_TAG.fullmatch(tag)), f"{path}.tags.{position}", f"is not a valid tag ({TAG})")
        errors.check(1 <= slot.count <= DRAW_MAX, f"{path}.count", f"must be between 1 and {DRAW_MAX}")
        total += max(slot.count, 0)
        checked.append(replace(slot, tags=tags))
    errors.check(total <= ITEMS_MAX, "slots", f"at most {ITEMS_MAX} questions in all (these slots make {total})")
    return tuple(checked)
