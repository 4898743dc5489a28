"""The attempt lifecycle under any sequence of saves, clock moves, submits (the learner's and the
system's), manual grades and key fixes: states only move forward, there is one submission and one
grading, scores stay in range, and refused saves change nothing."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from elearning_core.assessment.events import AttemptGraded, AttemptRegraded, AttemptSubmitted
from elearning_core.assessment.model import Attempt, AttemptClosed, AttemptStatus, QuestionVersion, SubmitReason
from elearning_core.shared.errors import Conflict
from tests.fakes import T0, FakePatternMatcher
from tests.unit.assessment.builders import LATE_10_PER_HOUR, by_id, by_ref, essay, fixed_quiz, single, version

M = FakePatternMatcher()
RANK = {AttemptStatus.IN_PROGRESS: 0, AttemptStatus.SUBMITTED: 1, AttemptStatus.GRADED: 2}
CHOICES = st.sampled_from(["a", "b", "c", "d"])


class AttemptLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.choice = version(single(correct="b"), points=2.0)
        self.text = version(essay())
        self.keys: list[QuestionVersion] = [self.choice, self.text]
        self.quiz = fixed_quiz(
            [self.choice, self.text],
            time_limit_seconds=600,
            grace_seconds=30,
            due_at=T0 + timedelta(minutes=8),
            late_policy=LATE_10_PER_HOUR,
            pass_mark_percent=50.0,
        )
        self.window = self.quiz.window_for(None)
        items = self.quiz.assemble(5, by_id(self.keys), {}, {})
        self.attempt = Attempt.start(self.quiz, self.window, uuid.uuid4(), 1, 5, items, T0)
        self.now = T0
        self.highest = 0
        self.submitted_at: datetime | None = None
        self.gradings = 0

    @property
    def deadline(self) -> datetime:
        assert self.attempt.deadline is not None
        return self.attempt.deadline

    def _moved(self, before: AttemptStatus) -> None:
        if before is not AttemptStatus.GRADED and self.attempt.status is AttemptStatus.GRADED:
            self.gradings += 1

    @rule(seconds=st.integers(min_value=0, max_value=400))
    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule(choice=CHOICES)
    def save_choice(self, choice: str) -> None:
        self._save(self.choice.question_id, {"choice": choice})

    @rule(text=st.text(min_size=1, max_size=20))
    def save_essay(self, text: str) -> None:
        self._save(self.text.question_id, {"text": text})

    def _save(self, question_id: uuid.UUID, response: dict[str, object]) -> None:
        before = ([i.response for i in self.attempt.items], self.attempt.version)
        allowed = self.attempt.status is AttemptStatus.IN_PROGRESS and self.now <= self.deadline
        try:
            self.attempt.save_answer(question_id, response, self.now)
        except AttemptClosed:
            assert not allowed
            assert ([i.response for i in self.attempt.items], self.attempt.version) == before
        else:
            assert allowed
            assert self.attempt.item(question_id).response == response

    @rule(by_learner=st.booleans())
    def submit(self, by_learner: bool) -> None:
        was = self.attempt.status
        events = len(self.attempt.pending_events)
        reason = SubmitReason.LEARNER if by_learner else SubmitReason.TIME_UP
        done = self.attempt.submit(
            self.now, reason, by_ref(self.keys), M, self.window, self.quiz.late_policy, self.quiz.pass_mark_percent
        )
        assert done == (was is AttemptStatus.IN_PROGRESS)
        if not done:
            assert len(self.attempt.pending_events) == events
        self._moved(was)

    @rule(quality=st.integers(min_value=0, max_value=2), length=st.integers(min_value=0, max_value=1))
    def grade_essay(self, quality: int, length: int) -> None:
        was = self.attempt.status
        try:
            self.attempt.grade_item(
                self.text.question_id, {"quality": quality, "length": length}, None, None, self.now, version=self.text
            )
        except Conflict:
            assert was is AttemptStatus.IN_PROGRESS
        else:
            assert was is not AttemptStatus.IN_PROGRESS
        self._moved(was)

    @precondition(lambda self: self.attempt.status is not AttemptStatus.IN_PROGRESS)
    @rule(correct=CHOICES)
    def fix_the_key(self, correct: str) -> None:
        was = self.attempt.status
        current = self.keys[0]
        fixed = version(
            single(correct=correct),
            points=2.0,
            question_id=current.question_id,
            number=current.version + 1,
            key_fix_of=current.version,
        )
        self.keys[0] = fixed
        result = self.attempt.rescore_item(fixed.question_id, fixed.version, fixed, M, at=self.now)
        assert self.attempt.item(fixed.question_id).key_version == fixed.version
        assert result.item_after is not None
        self._moved(was)

    @invariant()
    def states_only_move_forward(self) -> None:
        rank = RANK[self.attempt.status]
        assert rank >= self.highest
        self.highest = rank

    @invariant()
    def submitted_once_and_for_all(self) -> None:
        kinds = [type(e) for e in self.attempt.pending_events]
        if self.attempt.status is AttemptStatus.IN_PROGRESS:
            assert self.attempt.submitted_at is None
            assert AttemptSubmitted not in kinds
            return
        assert kinds.count(AttemptSubmitted) == 1
        if self.submitted_at is None:
            self.submitted_at = self.attempt.submitted_at
        assert self.attempt.submitted_at == self.submitted_at

    @invariant()
    def graded_once_per_transition(self) -> None:
        kinds = [type(e) for e in self.attempt.pending_events]
        assert kinds.count(AttemptGraded) == self.gradings <= 1
        if AttemptRegraded in kinds:
            assert self.attempt.status is AttemptStatus.GRADED

    @invariant()
    def scores_stay_in_range(self) -> None:
        attempt = self.attempt
        for item in attempt.items:
            assert item.score is None or 0 <= item.score <= item.points
        if attempt.status is AttemptStatus.GRADED:
            assert attempt.score is not None
            assert attempt.percent is not None
            assert 0 <= attempt.score <= attempt.max_score
            assert 0 <= attempt.percent <= 100
            assert attempt.passed == (attempt.percent >= 50.0)
        else:
            assert attempt.percent is None


AttemptLifecycle.TestCase.settings = settings(
    max_examples=50, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestAttemptLifecycle = AttemptLifecycle.TestCase
