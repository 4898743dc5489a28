"""Attempts: one learner's go at a quiz, from start to a grade.

States: ``in_progress`` -> ``submitted`` (a person must still grade an item)
-> ``graded``; or ``in_progress`` -> ``graded`` at once when every item scores
itself. A graded attempt goes back to ``submitted`` never; manual grades and
regrades change its score in place (and record events).

Exactly once: ``submit`` on an attempt that is no longer in progress changes
nothing and says so, so concurrent or repeated submits (double clicks,
retries) give one submission, one set of events, one grade. The repository
locks the attempt row for the submit, so this check runs on the committed
state.

An attempt is graded by the rules in force when it was submitted: the submit
stores the quiz's late policy and pass mark on the attempt, so a manual grade
or a regrade weeks later computes the percent the same way, and a change of the
quiz's late policy reaches later submissions only. (The learner's quiz grade,
combined over attempts, follows the quiz's current grading policy and pass
mark: the service recomputes it.)

Scores: an item's ``score`` is ``fraction * points``; the attempt's ``score``
(raw points) and ``percent`` are set once it is graded and stay None while an
item waits for a person. ``percent`` is ``score / max_score * 100`` with the
late deduction applied, rounded to 4 decimals, in [0, 100]; an attempt worth
nothing (``max_score`` 0, which the quiz rules prevent) is 0 percent rather
than a division by zero.
"""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from elearning_core.assessment.events import (
    AttemptGraded,
    AttemptRegraded,
    AttemptStarted,
    AttemptSubmitted,
    SubmittedItem,
)
from elearning_core.assessment.model._gradebook import apply_late
from elearning_core.assessment.model._questions import (
    PatternMatcher,
    QuestionKind,
    QuestionVersion,
    max_points_of,
)
from elearning_core.assessment.model._quiz import LatePolicy, Quiz, StartRefusal, StartRefused, Window
from elearning_core.assessment.model._scoring import score_response, score_rubric
from elearning_core.shared.errors import Conflict, FieldError, NotFound, ValidationFailed
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.ids import new_uuid


class AttemptStatus(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    GRADED = "graded"


class SubmitReason(enum.StrEnum):
    LEARNER = "learner"
    TIME_UP = "time_up"
    """Closed by the system after the time limit (plus grace) or the window's close passed."""


@dataclass(slots=True, eq=False)
class AttemptItem:
    """One question of an attempt, as shown, answered and scored."""

    position: int
    """The item's place in the attempt as shown, from 0."""
    question_id: uuid.UUID
    version: int
    """The version the attempt showed (never changes)."""
    key_version: int
    """The version whose answer key scores it (a regrade moves it to the key fix)."""
    points: float
    """What the item is worth in this attempt."""
    order: tuple[str, ...]
    """The shuffled ids the learner saw (options, ordering items, matching choices); () when none."""
    response: dict[str, Any] | None = None
    saved_at: datetime | None = None
    fraction: float | None = None
    score: float | None = None
    needs_grading: bool = False
    grading_note: str | None = None
    rubric: dict[str, int] | None = None
    """An essay's chosen level index per rubric criterion."""
    feedback: str | None = None
    graded_by: uuid.UUID | None = None
    graded_at: datetime | None = None


@dataclass(slots=True, eq=False)
class Attempt:
    id: uuid.UUID
    quiz_id: uuid.UUID
    course_id: uuid.UUID
    user_id: uuid.UUID
    number: int
    seed: int
    status: AttemptStatus
    started_at: datetime
    time_ends_at: datetime | None
    """When the time limit (with the learner's extra time, capped by the close) ends; grace comes on top."""
    grace_seconds: int
    items: list[AttemptItem]
    submitted_at: datetime | None = None
    submit_reason: SubmitReason | None = None
    late_seconds: int = 0
    """How long after the (extended) due date the work was submitted; 0 when on time."""
    score: float | None = None
    """Raw points, before any late deduction."""
    max_score: float = 0.0
    penalty_percent: float = 0.0
    percent: float | None = None
    """The attempt's grade in percent, after the late deduction."""
    passed: bool | None = None
    feedback: str | None = None
    graded_at: datetime | None = None
    version: int = 1
    """Optimistic concurrency counter, bumped on every save."""
    late_policy: LatePolicy | None = None
    """The quiz's late policy when the attempt was submitted: the rule every later regrade keeps."""
    pass_mark_percent: float | None = None
    """The quiz's pass mark when the attempt was submitted (None: no pass mark)."""
    _events: list[DomainEvent] = field(default_factory=list, repr=False)

    @property
    def pending_events(self) -> list[DomainEvent]:
        return list(self._events)

    def pull_events(self) -> list[DomainEvent]:
        events, self._events = self._events, []
        return events

    # -- starting and answering -----------------------------------------------------------

    @classmethod
    def start(
        cls,
        quiz: Quiz,
        window: Window,
        user_id: uuid.UUID,
        number: int,
        seed: int,
        items: list[AttemptItem],
        at: datetime,
    ) -> Attempt:
        """A new attempt with the items ``quiz.assemble`` drew from ``seed``. Its time ends at the
        time limit (with the learner's extra time, in ``window``) or the window's close,
        whichever comes first."""
        if not items:
            raise StartRefused(StartRefusal.CANNOT_FILL, "the quiz has no questions")
        ends: datetime | None = None
        if window.time_limit_seconds is not None:
            ends = at + timedelta(seconds=window.time_limit_seconds)
        if window.closes_at is not None:
            ends = window.closes_at if ends is None else min(ends, window.closes_at)
        attempt = cls(
            id=new_uuid(),
            quiz_id=quiz.id,
            course_id=quiz.course_id,
            user_id=user_id,
            number=number,
            seed=seed,
            status=AttemptStatus.IN_PROGRESS,
            started_at=at,
            time_ends_at=ends,
            grace_seconds=window.grace_seconds,
            items=list(items),
            max_score=_round(math.fsum(item.points for item in items)),
        )
        attempt._record(AttemptStarted, at)
        return attempt

    @property
    def deadline(self) -> datetime | None:
        """The last moment work is accepted: the end of time plus the grace; None without either."""
        if self.time_ends_at is None:
            return None
        return self.time_ends_at + timedelta(seconds=self.grace_seconds)

    def expired(self, at: datetime) -> bool:
        """Whether the attempt is in progress although its time (with grace) is over at ``at``."""
        deadline = self.deadline
        return self.status is AttemptStatus.IN_PROGRESS and deadline is not None and at > deadline

    @property
    def pending(self) -> int:
        """Items waiting for a person's grade."""
        return sum(1 for item in self.items if item.needs_grading)

    def item(self, question_id: uuid.UUID) -> AttemptItem:
        for item in self.items:
            if item.question_id == question_id:
                return item
        raise NotFound("question", f"{question_id} in attempt {self.id}")

    def save_answer(self, question_id: uuid.UUID, response: Mapping[str, Any], at: datetime) -> None:
        """Keep the (checked) response; the last write wins. Refused once submitted, or after the
        time and the grace are over (the caller then submits the attempt for the learner)."""
        if self.status is not AttemptStatus.IN_PROGRESS:
            raise AttemptClosed("the attempt has been submitted: its answers can no longer change")
        deadline = self.deadline
        if deadline is not None and at > deadline:
            raise AttemptClosed(f"time is up: answers were accepted until {deadline.isoformat()}")
        item = self.item(question_id)
        item.response = dict(response)
        item.saved_at = at
        self.version += 1

    # -- submitting -----------------------------------------------------------------------

    def follow_key_fixes(self, versions: Mapping[tuple[uuid.UUID, int], QuestionVersion]) -> None:
        """Move each item's key along the corrections among ``versions`` (a version whose
        ``key_fix_of`` is the item's key version, then a correction of that, ...), so an attempt
        that was in progress during a regrade is scored by the corrected key. Only in progress:
        a submitted attempt is moved by the regrade itself."""
        if self.status is not AttemptStatus.IN_PROGRESS:
            return
        fixes: dict[tuple[uuid.UUID, int], int] = {}
        for (question_id, number), version in versions.items():
            if version.key_fix_of is not None and number > version.key_fix_of:
                key = (question_id, version.key_fix_of)
                fixes[key] = max(fixes.get(key, number), number)
        for item in self.items:
            for _ in range(len(fixes)):  # every step moves to a higher version: no longer than the fixes
                fixed = fixes.get((item.question_id, item.key_version))
                if fixed is None:
                    break
                item.key_version = fixed

    def submit(
        self,
        at: datetime,
        reason: SubmitReason,
        versions: Mapping[tuple[uuid.UUID, int], QuestionVersion],
        matcher: PatternMatcher,
        window: Window,
        late_policy: LatePolicy,
        pass_mark: float | None,
    ) -> bool:
        """Submit and score every item by its ``key_version`` (``versions`` must hold them); False,
        changing nothing, when the attempt is no longer in progress.

        Work counts as done at ``at``, or at the end of time when the submit comes later (in the
        grace, or when the system closes an abandoned attempt): ``late_seconds`` is measured from
        the (extended) due date in ``window`` to that moment."""
        if self.status is not AttemptStatus.IN_PROGRESS:
            return False
        keys = [self._key(item, versions) for item in self.items]  # every key first: no half-scored attempt
        counted = at if self.time_ends_at is None else min(at, self.time_ends_at)
        late = 0
        if window.due_at is not None and counted > window.due_at:
            late = math.ceil((counted - window.due_at).total_seconds())
        for item, key in zip(self.items, keys, strict=True):
            _auto_score(item, key, matcher, may_wait=True)
        self.status = AttemptStatus.SUBMITTED
        self.submitted_at = at
        self.submit_reason = reason
        self.late_seconds = late
        self.late_policy = late_policy
        self.pass_mark_percent = pass_mark
        self.version += 1
        pending = self.pending > 0
        self._record(
            AttemptSubmitted,
            at,
            reason=reason.value,
            late_seconds=late,
            needs_grading=pending,
            items=[_submitted(item, key) for item, key in zip(self.items, keys, strict=True)],
        )
        if not pending:
            self._finish(at)
        return True

    # -- grading --------------------------------------------------------------------------

    def grade_item(
        self,
        question_id: uuid.UUID,
        grade: float | Mapping[str, int],
        feedback: str | None,
        grader: uuid.UUID | None,
        at: datetime,
        *,
        version: QuestionVersion | None = None,
    ) -> None:
        """A person's grade of one item: points (any item, an override), or the rubric level per
        criterion of an essay (``version`` is the item's key version, whose rubric scores it).
        The last pending item grades the attempt; on a graded attempt a changed percent is an
        ``AttemptRegraded`` (reason ``manual``). ``feedback`` None keeps the item's feedback."""
        if self.status is AttemptStatus.IN_PROGRESS:
            raise Conflict("the attempt is still in progress: grade it once it is submitted")
        item = self.item(question_id)
        rubric: dict[str, int] | None = None
        if isinstance(grade, Mapping):
            if version is None or version.kind is not QuestionKind.ESSAY:
                raise ValidationFailed(
                    "only an essay is graded by rubric levels; give points instead",
                    [FieldError("rubric", "this question has no rubric")],
                )
            rubric = dict(grade)
            points = score_rubric(version.body, rubric)
        else:
            points = float(grade)
        if not (math.isfinite(points) and 0 <= points <= item.points):
            raise ValidationFailed(
                f"points must be between 0 and {item.points:g}, what this item is worth",
                [FieldError("points", f"must be between 0 and {item.points:g}")],
            )
        item.rubric = rubric
        item.score = _round(points)
        item.fraction = points / item.points if item.points > 0 else 0.0
        item.needs_grading = False
        item.graded_by, item.graded_at = grader, at
        if feedback is not None:
            item.feedback = feedback.strip() or None
        self.version += 1
        self._after_item_change(at, "manual")

    def rescore_item(
        self,
        question_id: uuid.UUID,
        new_key_version: int,
        version: QuestionVersion,
        matcher: PatternMatcher,
        *,
        at: datetime | None = None,
    ) -> Rescore:
        """Score the item again under a corrected key (``version``, numbered ``new_key_version``).

        A person's grade stands (an essay's rubric levels are scored again by the corrected
        rubric); an item that scored itself is scored again. A scored item never goes back to
        waiting (nor its attempt): if the corrected key cannot score an answer by itself (a
        pattern timed out), the earlier score stands and the item's note says so. A dry run is
        this on an attempt whose unit of work is not committed. A changed percent is an ``AttemptRegraded``
        (reason ``key_fix``) at ``at`` (default: when the corrected version was written)."""
        if self.status is AttemptStatus.IN_PROGRESS:
            raise Conflict("the attempt is in progress: its items are scored by the corrected key when submitted")
        when = at or version.created_at
        item = self.item(question_id)
        before = (item.score, self.percent, self.passed)
        item.key_version = new_key_version
        if version.kind is QuestionKind.ESSAY:
            item.points = max_points_of(version.body, item.points)
            self.max_score = _round(math.fsum(i.points for i in self.items))
        if item.graded_by is not None:
            if item.score is not None and item.score > item.points:
                item.score = item.points  # a corrected rubric made the essay worth less than it was given
                item.fraction = 1.0
            if item.rubric is not None and version.kind is QuestionKind.ESSAY:
                try:
                    points = score_rubric(version.body, item.rubric)
                except ValidationFailed:
                    points = item.score or 0.0  # the levels chosen no longer exist: the person's grade stands
                item.score = _round(min(points, item.points))
                item.fraction = item.score / item.points if item.points > 0 else 0.0
        else:
            _auto_score(item, version, matcher, may_wait=item.score is None)
        self.version += 1
        self._after_item_change(when, "key_fix")
        return Rescore(before[0], item.score, before[1], self.percent, before[2], self.passed)

    def set_feedback(self, feedback: str, at: datetime) -> None:
        """The grader's overall feedback; an empty text removes it. No event: nothing about the grade
        changed (``at`` is kept for the signature's symmetry with the other changes)."""
        if self.status is AttemptStatus.IN_PROGRESS:
            raise Conflict("the attempt is still in progress: give feedback once it is submitted")
        self.feedback = feedback.strip() or None
        self.version += 1

    # -- internals ------------------------------------------------------------------------

    def _key(self, item: AttemptItem, versions: Mapping[tuple[uuid.UUID, int], QuestionVersion]) -> QuestionVersion:
        key = versions.get((item.question_id, item.key_version))
        if key is None:
            raise NotFound("question version", f"{item.question_id} v{item.key_version}")
        return key

    def _after_item_change(self, at: datetime, reason: str) -> None:
        if self.status is AttemptStatus.SUBMITTED:
            if self.pending == 0:
                self._finish(at)
            return
        if self.status is AttemptStatus.GRADED:
            previous = self.percent
            _, percent = self._compute()
            if percent != previous:
                self._record(
                    AttemptRegraded,
                    at,
                    previous_percent=previous,
                    percent=percent,
                    passed=self.passed,
                    reason=reason,
                )

    def _finish(self, at: datetime) -> None:
        self.status = AttemptStatus.GRADED
        self.graded_at = at
        score, percent = self._compute()
        self._record(
            AttemptGraded,
            at,
            score=score,
            max_score=self.max_score,
            percent=percent,
            passed=self.passed,
        )

    def _compute(self) -> tuple[float, float]:
        """Set (and return) the raw score and the percent from the items' scores."""
        score = _round(math.fsum(item.score or 0.0 for item in self.items))
        raw = score / self.max_score * 100 if self.max_score > 0 else 0.0
        final, deduction = apply_late(self.late_policy or LatePolicy(), raw, self.late_seconds)
        percent = round(min(100.0, max(0.0, final)), 4)
        self.score, self.percent = score, percent
        self.penalty_percent = round(max(0.0, deduction), 4)
        self.passed = None if self.pass_mark_percent is None else percent >= self.pass_mark_percent
        return score, percent

    def _record(self, event_type: type[DomainEvent], at: datetime, **data: Any) -> None:
        fields = {"quiz_id": self.quiz_id, "course_id": self.course_id, "user_id": self.user_id, "number": self.number}
        self._events.append(event_type(occurred_at=at, aggregate_id=self.id, **fields, **data))


class AttemptClosed(Conflict):
    """The attempt no longer takes answers: submitted, or its time is over."""


@dataclass(frozen=True, slots=True)
class Rescore:
    """What a corrected key did (or would do) to one attempt."""

    item_before: float | None
    item_after: float | None
    percent_before: float | None
    percent_after: float | None
    passed_before: bool | None
    passed_after: bool | None

    @property
    def changed(self) -> bool:
        return self.item_before != self.item_after or self.percent_before != self.percent_after


def _round(value: float) -> float:
    """Points to 6 decimals: sums of fractional points stay free of float dust (0.1 + 0.2)."""
    return round(value, 6)


def _submitted(item: AttemptItem, key: QuestionVersion) -> SubmittedItem:
    essay = key.kind is QuestionKind.ESSAY
    text = (item.response or {}).get("text") if essay else None
    answered = (isinstance(text, str) and bool(text.strip())) if essay else item.response is not None
    return SubmittedItem(
        question_id=item.question_id,
        version=item.version,
        kind=key.kind.value,
        points=item.points,
        answered=answered,
        response=None if essay or item.response is None else dict(item.response),
        score=None if item.needs_grading else item.score,
    )


def _auto_score(item: AttemptItem, key: QuestionVersion, matcher: PatternMatcher, *, may_wait: bool) -> None:
    """Score the item by ``key``. When a person must grade it, it waits for them if ``may_wait``;
    otherwise (it has a score already) that score stands, with a note saying why."""
    scored = score_response(key.body, item.response, matcher)
    if scored.needs_grading:
        if may_wait:
            item.needs_grading = True
            item.grading_note = scored.note
            item.fraction = item.score = None
        else:
            item.grading_note = (
                f"the corrected key could not score this answer ({scored.note}): the earlier score stands"
            )
        return
    fraction = min(1.0, max(0.0, scored.fraction))
    item.fraction = fraction
    item.score = _round(fraction * item.points)
    item.needs_grading = False
    item.grading_note = None
