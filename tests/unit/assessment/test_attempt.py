"""Attempts: the end of time and the grace, late work, exactly-once submission, manual grading of
essays, and rescoring under a corrected key."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from elearning_core.assessment.events import AttemptGraded, AttemptRegraded, AttemptStarted, AttemptSubmitted
from elearning_core.assessment.model import (
    Attempt,
    AttemptClosed,
    AttemptItem,
    AttemptStatus,
    LatePolicy,
    QuestionVersion,
    Quiz,
    SubmitReason,
    Window,
)
from elearning_core.shared.errors import Conflict, NotFound, ValidationFailed
from tests.fakes import T0, FakePatternMatcher
from tests.unit.assessment.builders import (
    LATE_10_PER_HOUR,
    at,
    by_id,
    by_ref,
    essay,
    fixed_quiz,
    single,
    version,
)

M = FakePatternMatcher()
LEARNER = uuid.UUID(int=7)
GRADER = uuid.UUID(int=8)


def started(versions: list[QuestionVersion], **settings: object) -> tuple[Attempt, Quiz, Window]:
    quiz = fixed_quiz(versions, **settings)
    window = quiz.window_for(None)
    items = quiz.assemble(99, by_id(versions), {}, {})
    return Attempt.start(quiz, window, LEARNER, 1, 99, items, T0), quiz, window


def submit(
    attempt: Attempt,
    quiz: Quiz,
    window: Window,
    versions: list[QuestionVersion],
    when: object,
    reason: SubmitReason = SubmitReason.LEARNER,
) -> bool:
    return attempt.submit(when, reason, by_ref(versions), M, window, quiz.late_policy, quiz.pass_mark_percent)  # type: ignore[arg-type]


def kinds(attempt: Attempt) -> list[type]:
    return [type(e) for e in attempt.pending_events]


# -- starting and the end of time ---------------------------------------------------------------


def test_start_records_the_attempt_and_its_end_of_time() -> None:
    questions = [version(single(), points=2.0), version(essay())]
    attempt, _, _ = started(questions, time_limit_seconds=600)
    assert attempt.status is AttemptStatus.IN_PROGRESS
    assert (attempt.time_ends_at, attempt.grace_seconds, attempt.max_score) == (at(10), 30, 6.0)
    assert kinds(attempt) == [AttemptStarted]
    event = attempt.pending_events[0]
    assert isinstance(event, AttemptStarted)
    assert (event.aggregate_id, event.user_id, event.number) == (attempt.id, LEARNER, 1)


@pytest.mark.parametrize(
    ("settings", "ends"),
    [
        ({"time_limit_seconds": 600, "closes_at": at(5)}, at(5)),
        ({"time_limit_seconds": 600, "closes_at": at(60)}, at(10)),
        ({"closes_at": at(60)}, at(60)),
        ({}, None),
    ],
)
def test_time_ends_at_the_limit_or_the_close_whichever_first(settings: dict[str, object], ends: object) -> None:
    attempt, _, _ = started([version(single())], **settings)
    assert attempt.time_ends_at == ends


def test_the_grace_is_honoured_to_the_second() -> None:
    question = version(single())
    attempt, _, _ = started([question], time_limit_seconds=600, grace_seconds=30)
    attempt.save_answer(question.question_id, {"choice": "a"}, at(10, 29))
    attempt.save_answer(question.question_id, {"choice": "b"}, at(10, 30))  # the last second of grace
    saved = attempt.version
    with pytest.raises(AttemptClosed) as closed:
        attempt.save_answer(question.question_id, {"choice": "c"}, at(10, 31))
    assert "time is up" in closed.value.detail
    assert attempt.items[0].response == {"choice": "b"}
    assert (attempt.items[0].saved_at, attempt.version) == (at(10, 30), saved)
    assert attempt.expired(at(10, 31))
    assert not attempt.expired(at(10, 30))


def test_saving_keeps_the_last_write_and_refuses_unknown_questions() -> None:
    question = version(single())
    attempt, _, _ = started([question])
    attempt.save_answer(question.question_id, {"choice": "a"}, at(1))
    attempt.save_answer(question.question_id, {"choice": "c"}, at(2))
    assert (attempt.items[0].response, attempt.items[0].saved_at) == ({"choice": "c"}, at(2))
    with pytest.raises(NotFound):
        attempt.save_answer(uuid.uuid4(), {"choice": "a"}, at(3))
    assert attempt.version == 3


# -- submitting ---------------------------------------------------------------------------------


def test_late_work_loses_the_deduction_per_started_hour() -> None:
    question = version(single())
    attempt, quiz, window = started([question], due_at=at(60), late_policy=LATE_10_PER_HOUR)
    attempt.save_answer(question.question_id, {"choice": "b"}, at(61))
    assert submit(attempt, quiz, window, [question], at(60 + 90))
    assert attempt.status is AttemptStatus.GRADED
    assert (attempt.late_seconds, attempt.score, attempt.percent, attempt.penalty_percent) == (5400, 1.0, 80.0, 20.0)
    submitted, graded = attempt.pending_events[1:]
    assert isinstance(submitted, AttemptSubmitted)
    assert (submitted.late_seconds, submitted.needs_grading, submitted.reason) == (5400, False, "learner")
    assert isinstance(graded, AttemptGraded)
    assert (graded.score, graded.max_score, graded.percent) == (1.0, 1.0, 80.0)


def test_a_submit_in_the_grace_counts_at_the_end_of_time() -> None:
    question = version(single())
    attempt, quiz, window = started(
        [question], time_limit_seconds=600, due_at=at(10), closes_at=at(10), late_policy=LATE_10_PER_HOUR
    )
    assert submit(attempt, quiz, window, [question], at(10, 20))
    assert (attempt.late_seconds, attempt.submitted_at) == (0, at(10, 20))
    swept, quiz, window = started([question], time_limit_seconds=600, due_at=at(5), late_policy=LATE_10_PER_HOUR)
    assert submit(swept, quiz, window, [question], at(600), SubmitReason.TIME_UP)  # closed by the sweep much later
    assert swept.late_seconds == 300  # counted at the end of time, not when the sweep came by
    assert swept.submit_reason is SubmitReason.TIME_UP


def test_submitting_twice_is_one_submission() -> None:
    question = version(single())
    attempt, quiz, window = started([question], pass_mark_percent=50.0)
    assert submit(attempt, quiz, window, [question], at(1))
    events, state = attempt.pending_events, (attempt.version, attempt.submitted_at, attempt.percent)
    assert not submit(attempt, quiz, window, [question], at(2))
    assert not submit(attempt, quiz, window, [question], at(3), SubmitReason.TIME_UP)
    assert attempt.pending_events == events
    assert (attempt.version, attempt.submitted_at, attempt.percent) == state
    assert kinds(attempt) == [AttemptStarted, AttemptSubmitted, AttemptGraded]
    assert (attempt.percent, attempt.passed) == (0.0, False)


def test_a_missing_key_version_changes_nothing() -> None:
    question = version(single())
    attempt, quiz, window = started([question])
    with pytest.raises(NotFound):
        submit(attempt, quiz, window, [], at(1))
    assert attempt.status is AttemptStatus.IN_PROGRESS
    assert kinds(attempt) == [AttemptStarted]


def test_an_attempt_worth_nothing_grades_to_zero_without_dividing_by_it() -> None:
    question = version(single())
    quiz = fixed_quiz([question])
    item = AttemptItem(position=0, question_id=question.question_id, version=1, key_version=1, points=0.0, order=())
    attempt = Attempt.start(quiz, quiz.window_for(None), LEARNER, 1, 1, [item], T0)
    assert attempt.submit(at(1), SubmitReason.LEARNER, by_ref([question]), M, quiz.window_for(None), LatePolicy(), None)
    assert (attempt.max_score, attempt.score, attempt.percent, attempt.passed) == (0.0, 0.0, 0.0, None)


def test_the_submitted_event_carries_each_item_as_answered_and_scored() -> None:
    """What analytics' per-item "answered" statements read; an essay's text stays in the attempt."""
    choice, text, skipped = version(single(), points=4.0), version(essay()), version(single())
    attempt, quiz, window = started([choice, text, skipped])
    attempt.save_answer(choice.question_id, {"choice": "b"}, at(1))
    attempt.save_answer(text.question_id, {"text": "An answer."}, at(2))
    assert submit(attempt, quiz, window, [choice, text, skipped], at(3))
    submitted = attempt.pending_events[-1]
    assert isinstance(submitted, AttemptSubmitted)
    by_question = {item.question_id: item for item in submitted.items}
    assert [item.question_id for item in submitted.items] == [item.question_id for item in attempt.items]
    first = by_question[choice.question_id]
    assert (first.kind, first.points, first.answered, first.response, first.score) == (
        "single_choice",
        4.0,
        True,
        {"choice": "b"},
        4.0,
    )
    essay_item = by_question[text.question_id]
    assert (essay_item.kind, essay_item.answered, essay_item.response, essay_item.score) == ("essay", True, None, None)
    unanswered = by_question[skipped.question_id]
    assert (unanswered.answered, unanswered.response, unanswered.score) == (False, None, 0.0)


# -- grading by a person ---------------------------------------------------------------------------


def test_an_essay_waits_for_a_person_then_the_rubric_grades_the_attempt() -> None:
    choice, text = version(single(), points=4.0), version(essay())
    attempt, quiz, window = started([choice, text], pass_mark_percent=60.0)
    attempt.save_answer(choice.question_id, {"choice": "b"}, at(1))
    attempt.save_answer(text.question_id, {"text": "An answer."}, at(2))
    assert submit(attempt, quiz, window, [choice, text], at(3))
    assert attempt.status is AttemptStatus.SUBMITTED
    assert (attempt.score, attempt.percent, attempt.pending) == (None, None, 1)
    submitted = attempt.pending_events[-1]
    assert isinstance(submitted, AttemptSubmitted)
    assert submitted.needs_grading
    assert AttemptGraded not in kinds(attempt)

    attempt.grade_item(text.question_id, {"quality": 1, "length": 1}, " Fair. ", GRADER, at(30), version=text)
    item = attempt.items[1]
    assert (item.score, item.rubric, item.feedback, item.graded_by, item.needs_grading) == (
        2.0,
        {"quality": 1, "length": 1},
        "Fair.",
        GRADER,
        False,
    )
    assert attempt.status is AttemptStatus.GRADED
    assert (attempt.score, attempt.max_score, attempt.percent, attempt.passed) == (6.0, 8.0, 75.0, True)
    assert kinds(attempt).count(AttemptGraded) == 1


def test_grading_again_regrades_only_when_the_percent_changes() -> None:
    choice, text = version(single(), points=4.0), version(essay())
    attempt, quiz, window = started([choice, text])
    attempt.save_answer(text.question_id, {"text": "An answer."}, at(2))
    submit(attempt, quiz, window, [choice, text], at(3))
    attempt.grade_item(text.question_id, {"quality": 2, "length": 1}, None, GRADER, at(30), version=text)
    assert attempt.percent == 50.0
    attempt.grade_item(text.question_id, 4.0, "Same mark, by points.", GRADER, at(31), version=text)
    assert AttemptRegraded not in kinds(attempt)
    attempt.grade_item(text.question_id, 2.0, None, GRADER, at(32), version=text)
    regraded = attempt.pending_events[-1]
    assert isinstance(regraded, AttemptRegraded)
    assert (regraded.previous_percent, regraded.percent, regraded.reason) == (50.0, 25.0, "manual")
    assert attempt.items[1].feedback == "Same mark, by points."  # None keeps the feedback
    assert kinds(attempt).count(AttemptGraded) == 1


def test_manual_grades_are_checked() -> None:
    choice, text = version(single(), points=4.0), version(essay())
    attempt, quiz, window = started([choice, text])
    with pytest.raises(Conflict):
        attempt.grade_item(choice.question_id, 1.0, None, GRADER, at(1))
    submit(attempt, quiz, window, [choice, text], at(3))
    with pytest.raises(ValidationFailed) as too_many:
        attempt.grade_item(choice.question_id, 4.5, None, GRADER, at(4))
    assert [e.field for e in too_many.value.errors] == ["points"]
    with pytest.raises(ValidationFailed) as no_rubric:
        attempt.grade_item(choice.question_id, {"quality": 1}, None, GRADER, at(4), version=choice)
    assert [e.field for e in no_rubric.value.errors] == ["rubric"]
    with pytest.raises(ValidationFailed):
        attempt.grade_item(text.question_id, {"quality": 9, "length": 0}, None, GRADER, at(4), version=text)
    with pytest.raises(NotFound):
        attempt.grade_item(uuid.uuid4(), 1.0, None, GRADER, at(4))
    assert attempt.items[0].graded_by is None
    attempt.set_feedback("  Good start. ", at(5))
    assert attempt.feedback == "Good start."


# -- regrades -----------------------------------------------------------------------------------------


def test_a_key_fix_rescores_and_keeps_the_late_rule_of_the_submission() -> None:
    wrong, other = version(single(correct="b")), version(single(correct="a"))
    attempt, quiz, window = started([wrong, other], due_at=at(60), late_policy=LATE_10_PER_HOUR)
    attempt.save_answer(wrong.question_id, {"choice": "c"}, at(1))
    attempt.save_answer(other.question_id, {"choice": "a"}, at(1))
    submit(attempt, quiz, window, [wrong, other], at(61))  # one started hour late
    assert (attempt.percent, attempt.penalty_percent) == (40.0, 10.0)
    fixed = version(single(correct="c"), question_id=wrong.question_id, number=2, key_fix_of=1)
    result = attempt.rescore_item(wrong.question_id, 2, fixed, M, at=at(120))
    assert (result.item_before, result.item_after, result.percent_before, result.percent_after) == (
        0.0,
        1.0,
        40.0,
        90.0,
    )
    assert attempt.items[0].key_version == 2
    assert (attempt.score, attempt.percent, attempt.penalty_percent) == (2.0, 90.0, 10.0)
    regraded = attempt.pending_events[-1]
    assert isinstance(regraded, AttemptRegraded)
    assert (regraded.previous_percent, regraded.percent, regraded.reason, regraded.occurred_at) == (
        40.0,
        90.0,
        "key_fix",
        at(120),
    )
    again = attempt.rescore_item(wrong.question_id, 2, fixed, M, at=at(121))
    assert not again.changed
    assert kinds(attempt).count(AttemptRegraded) == 1


def test_a_persons_grade_stands_through_a_key_fix() -> None:
    question = version(single(correct="b"))
    attempt, quiz, window = started([question])
    attempt.save_answer(question.question_id, {"choice": "c"}, at(1))
    submit(attempt, quiz, window, [question], at(2))
    attempt.grade_item(question.question_id, 0.5, "Half credit.", GRADER, at(3))
    fixed = version(single(correct="c"), question_id=question.question_id, number=2, key_fix_of=1)
    result = attempt.rescore_item(question.question_id, 2, fixed, M)
    assert (result.item_before, result.item_after, attempt.percent) == (0.5, 0.5, 50.0)


def test_a_key_fix_cannot_reach_an_attempt_in_progress_but_its_submit_follows_it() -> None:
    question = version(single(correct="b"))
    attempt, quiz, window = started([question])
    attempt.save_answer(question.question_id, {"choice": "c"}, at(1))
    fix = version(single(correct="c"), question_id=question.question_id, number=2, key_fix_of=1)
    revision = version(single(correct="a"), question_id=question.question_id, number=3)
    refix = version(single(correct="c"), question_id=question.question_id, number=4, key_fix_of=3)
    with pytest.raises(Conflict):
        attempt.rescore_item(question.question_id, 2, fix, M)
    versions = by_ref([question, fix, revision, refix])
    attempt.follow_key_fixes(versions)
    assert attempt.items[0].key_version == 2  # a fix of what it showed; not the revision, nor the fix of that
    assert attempt.submit(at(2), SubmitReason.LEARNER, versions, M, window, quiz.late_policy, None)
    assert attempt.percent == 100.0


def test_expired_needs_an_end_of_time() -> None:
    attempt, _, _ = started([version(single())])
    assert attempt.deadline is None
    assert not attempt.expired(T0 + timedelta(days=365))
