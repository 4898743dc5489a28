"""The progress model: watched-interval unions, completion rules per lesson kind, course completion."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elearning_core.progress.events import CourseCompleted, LessonCompleted
from elearning_core.progress.model import (
    MAX_INTERVALS,
    CompletionRules,
    CompletionSource,
    CourseProgress,
    LearnerFactsInCourse,
    Override,
    QuizOutcome,
    covered_seconds,
    evaluate,
    merge_intervals,
    standing_override,
)
from elearning_core.shared.errors import ValidationFailed
from tests.fakes import T0
from tests.progress_builders import lessons_of, outline, quiz, text, video

USER = uuid.uuid4()

intervals = st.lists(st.tuples(st.floats(-50, 500, allow_nan=False), st.floats(-50, 500, allow_nan=False)), max_size=40)


# -- intervals -----------------------------------------------------------------------------------


def test_overlapping_and_touching_intervals_merge() -> None:
    assert merge_intervals([(10, 20), (0, 5), (5, 8), (15, 30)]) == ((0, 8), (10, 30))


def test_the_union_is_clamped_to_the_video() -> None:
    assert merge_intervals([(-5, 10), (90, 130)], duration=100) == ((0, 10), (90, 100))


def test_seeking_to_the_end_covers_only_what_was_watched() -> None:
    union = merge_intervals([(0, 10), (95, 100)], duration=100)
    assert covered_seconds(union) == 15


@given(intervals, st.floats(1, 400), st.randoms())
def test_the_union_never_exceeds_the_duration_and_is_order_independent(
    given_intervals: list[tuple[float, float]], duration: float, rnd: object
) -> None:
    union = merge_intervals(given_intervals, duration)
    assert covered_seconds(union) <= duration + 1e-9
    assert all(0 <= start < end <= duration for start, end in union)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(union))  # disjoint, sorted
    shuffled = list(given_intervals)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert merge_intervals(shuffled, duration) == union
    # merging one at a time (what heartbeats do) gives the same union
    stepwise: tuple[tuple[float, float], ...] = ()
    for interval in shuffled:
        stepwise = merge_intervals([*stepwise, interval], duration)
    assert stepwise == union


def test_a_union_of_many_tiny_gaps_stays_small() -> None:
    union = merge_intervals([(i, i + 0.9) for i in range(3 * MAX_INTERVALS)])
    assert len(union) == MAX_INTERVALS
    assert union[0][0] == 0
    assert union[-1][1] == pytest.approx(3 * MAX_INTERVALS - 0.1)


# -- lesson rules --------------------------------------------------------------------------------


def _evaluate(course, facts, rules=None, previous=None, grade=None, override=None):  # type: ignore[no-untyped-def]
    rules = rules or CompletionRules(course.id)
    previous = previous or CourseProgress(course.id, USER)
    return evaluate(previous, course, rules, facts, grade_percent=grade, override=override, now=T0)


def test_a_text_lesson_completes_when_viewed_or_only_when_marked_done_if_the_course_asks() -> None:
    lesson = text()
    course = outline([lesson])
    viewed = LearnerFactsInCourse(viewed=frozenset({lesson.id}))
    assert lesson.id in _evaluate(course, viewed).progress.completed_lesson_ids
    strict = CompletionRules(course.id, text_requires_done=True)
    assert lesson.id not in _evaluate(course, viewed, strict).progress.completed_lesson_ids
    done = LearnerFactsInCourse(done=frozenset({lesson.id}))
    assert lesson.id in _evaluate(course, done, strict).progress.completed_lesson_ids


def test_a_video_lesson_needs_the_rules_share_of_its_duration_watched() -> None:
    lesson = video(seconds=100)
    assert lesson.video_id is not None
    course = outline([lesson])
    almost = LearnerFactsInCourse(watched={lesson.video_id: 89.0})
    assert _evaluate(course, almost).progress.completed_lesson_ids == frozenset()
    enough = LearnerFactsInCourse(watched={lesson.video_id: 90.0})
    assert _evaluate(course, enough).progress.completed_lesson_ids == {lesson.id}
    lenient = CompletionRules(course.id, video_percent=50)
    assert _evaluate(course, LearnerFactsInCourse(watched={lesson.video_id: 50.0}), lenient).progress.completed


def test_an_assessment_lesson_needs_a_pass_or_only_a_submission_per_course() -> None:
    lesson = quiz()
    assert lesson.assessment_id is not None
    course = outline([lesson])
    submitted = LearnerFactsInCourse(quizzes={lesson.assessment_id: QuizOutcome(40.0, passed=False, submitted=True)})
    assert not _evaluate(course, submitted).progress.completed
    assert _evaluate(course, submitted, CompletionRules(course.id, assessment_requires_pass=False)).progress.completed
    passed = LearnerFactsInCourse(quizzes={lesson.assessment_id: QuizOutcome(80.0, passed=True, submitted=True)})
    assert _evaluate(course, passed).progress.completed


def test_optional_lessons_never_block_completion() -> None:
    required, optional = text(), text()
    course = outline([required, optional])
    rules = CompletionRules(course.id, optional_lesson_ids=frozenset({optional.id}))
    result = _evaluate(course, LearnerFactsInCourse(viewed=frozenset({required.id})), rules)
    assert result.progress.completed
    assert result.progress.percent == 100.0
    assert result.progress.required_lessons == 1


def test_course_completion_records_one_event_per_new_completion() -> None:
    first, second = text(), text()
    course = outline([first], [second])
    half = _evaluate(course, LearnerFactsInCourse(viewed=frozenset({first.id})))
    assert [type(e) for e in half.events] == [LessonCompleted]
    assert half.progress.percent == 50.0
    assert not half.progress.completed
    whole = _evaluate(course, LearnerFactsInCourse(viewed=frozenset({first.id, second.id})), previous=half.progress)
    assert [type(e) for e in whole.events] == [LessonCompleted, CourseCompleted]
    completed = whole.events[-1]
    assert isinstance(completed, CourseCompleted)
    assert completed.source == "rules"
    again = _evaluate(course, LearnerFactsInCourse(viewed=frozenset({first.id, second.id})), previous=whole.progress)
    assert again.events == []
    assert again.progress == whole.progress


def test_a_minimum_course_grade_holds_completion_back_until_it_is_met() -> None:
    lesson = text()
    course = outline([lesson])
    rules = CompletionRules(course.id, min_grade_percent=70)
    facts = LearnerFactsInCourse(viewed=frozenset({lesson.id}))
    assert not _evaluate(course, facts, rules, grade=None).progress.completed
    assert not _evaluate(course, facts, rules, grade=69.9).progress.completed
    assert _evaluate(course, facts, rules, grade=70).progress.completed


def test_a_new_version_with_more_required_lessons_keeps_earlier_completions() -> None:
    first = text()
    v1 = outline([first])
    done = _evaluate(v1, LearnerFactsInCourse(viewed=frozenset({first.id})))
    assert done.progress.completed
    added = text()
    v2 = replace(v1, sections=[replace(v1.sections[0], lessons=[*v1.sections[0].lessons, added])], version_number=2)
    recomputed = _evaluate(v2, LearnerFactsInCourse(viewed=frozenset({first.id})), previous=done.progress)
    assert recomputed.events == []
    assert recomputed.progress.completed  # the course completion stands
    assert recomputed.progress.percent == 50.0
    assert recomputed.progress.version_number == 2
    assert first.id in recomputed.progress.completed_lesson_ids


def test_an_override_completes_until_a_reset_follows_it() -> None:
    course = outline([text()])
    by = uuid.uuid4()
    override = Override("override", by, "finished offline", T0)
    result = _evaluate(course, LearnerFactsInCourse(), override=override)
    assert result.progress.completion_source is CompletionSource.OVERRIDE
    assert result.events == []
    reset = Override("reset", by, "redo", T0 + timedelta(minutes=1))
    assert standing_override([override]) == override
    assert standing_override([override, reset]) is None


def test_invalid_rules_are_refused_with_the_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        CompletionRules(uuid.uuid4(), video_percent=0)
    assert caught.value.errors[0].field == "video_percent"


# -- monotone under added facts --------------------------------------------------------------------

LESSONS = [text(), text(), video(seconds=60), video(seconds=120), quiz(), quiz()]
COURSE = outline(LESSONS[:3], LESSONS[3:])


def _fact() -> st.SearchStrategy[tuple[str, int, float, float]]:
    return st.tuples(
        st.sampled_from(["view", "done", "watch", "quiz"]),
        st.integers(0, len(LESSONS) - 1),
        st.floats(0, 130),
        st.floats(0, 100),
    )


def _facts(history: list[tuple[str, int, float, float]]) -> LearnerFactsInCourse:
    viewed, done, quizzes = set(), set(), {}
    spans: dict[uuid.UUID, list[tuple[float, float]]] = {}
    for kind, index, a, b in history:
        lesson = LESSONS[index]
        if kind == "view":
            viewed.add(lesson.id)
        elif kind == "done":
            done.add(lesson.id)
        elif kind == "watch" and lesson.video_id is not None:
            spans.setdefault(lesson.video_id, []).append((a, a + b))
        elif kind == "quiz" and lesson.assessment_id is not None:
            outcome = QuizOutcome(b, passed=b >= 60, submitted=True)
            quizzes[lesson.assessment_id] = quizzes.get(lesson.assessment_id, QuizOutcome()).merged(outcome)
    durations = {lesson.video_id: lesson.duration_seconds for lesson in lessons_of(COURSE) if lesson.video_id}
    watched = {v: covered_seconds(merge_intervals(s, durations[v])) for v, s in spans.items()}
    return LearnerFactsInCourse(frozenset(viewed), frozenset(done), watched, quizzes)


@settings(max_examples=150, deadline=None)
@given(st.lists(_fact(), max_size=30), st.lists(_fact(), max_size=10))
def test_completion_is_monotone_under_added_facts(
    history: list[tuple[str, int, float, float]], more: list[tuple[str, int, float, float]]
) -> None:
    before = _evaluate(COURSE, _facts(history)).progress
    after = _evaluate(COURSE, _facts(history + more)).progress
    assert before.completed_lesson_ids <= after.completed_lesson_ids
    assert before.percent <= after.percent
    assert not before.completed or after.completed
    # and recomputing from the earlier state lands on the same completions as computing afresh
    stepped = _evaluate(COURSE, _facts(history + more), previous=before).progress
    assert stepped.completed_lesson_ids == after.completed_lesson_ids
