"""Quizzes: their settings' checks (with field paths), a learner's window with an extension, and the
deterministic assembly of an attempt (draws, shuffles) from a seed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from elearning_core.assessment.events import QuizPublished
from elearning_core.assessment.model import (
    DRAW_MAX,
    SLOTS_MAX,
    Extension,
    FixedSlot,
    LatePolicy,
    Quiz,
    QuizStatus,
    option_ids,
)
from elearning_core.assessment.model._quiz import ITEMS_MAX, StartRefusal, StartRefused
from elearning_core.shared.errors import Conflict, ValidationFailed
from tests.fakes import T0
from tests.unit.assessment.builders import (
    COURSE,
    a_quiz,
    a_spec,
    by_id,
    draw,
    essay,
    fixed_quiz,
    ordering,
    single,
    version,
)

DAY = timedelta(days=1)


def paths(error: ValidationFailed) -> set[str]:
    return {e.field for e in error.errors}


# -- settings ------------------------------------------------------------------------------------


def test_every_invalid_setting_is_named_by_its_path_at_once() -> None:
    spec = a_spec(
        [FixedSlot(uuid.uuid4(), points=0), draw(["Bad Tag", "ok"], 0)],
        title="   ",
        category="",
        time_limit_seconds=5,
        grace_seconds=-1,
        max_attempts=0,
        opens_at=T0,
        due_at=T0 - DAY,
        closes_at=T0 - 2 * DAY,
        late_policy=LatePolicy(deduction_percent=120.0, floor_percent=-1.0, missing_grade_percent=101.0),
        pass_mark_percent=100.5,
    )
    with pytest.raises(ValidationFailed) as invalid:
        Quiz.create(COURSE, spec, T0)
    assert paths(invalid.value) == {
        "title",
        "category",
        "slots.0.points",
        "slots.1.tags.0",
        "slots.1.count",
        "time_limit_seconds",
        "grace_seconds",
        "max_attempts",
        "due_at",
        "closes_at",
        "late_policy.deduction_percent",
        "late_policy.floor_percent",
        "late_policy.missing_grade_percent",
        "pass_mark_percent",
    }
    assert "title" in invalid.value.detail


@pytest.mark.parametrize(
    ("dates", "path", "message"),
    [
        ({"opens_at": T0, "due_at": T0}, "due_at", "must be after opens_at"),
        ({"opens_at": T0, "closes_at": T0 - DAY}, "closes_at", "must be after opens_at"),
        ({"due_at": T0 + DAY, "closes_at": T0}, "closes_at", "must not be before due_at"),
        ({"due_at": datetime(2026, 1, 1)}, "due_at", "must carry a time zone (e.g. 2026-09-01T00:00:00Z)"),
    ],
)
def test_the_window_must_be_ordered(dates: dict[str, datetime], path: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as invalid:
        a_quiz(**dates)
    assert [(e.field, e.message) for e in invalid.value.errors] == [(path, message)]


def test_a_due_date_may_equal_the_close() -> None:
    quiz = a_quiz(opens_at=T0, due_at=T0 + DAY, closes_at=T0 + DAY)
    assert (quiz.due_at, quiz.closes_at) == (T0 + DAY, T0 + DAY)


def test_a_late_policy_needs_the_dates_it_works_from() -> None:
    with pytest.raises(ValidationFailed) as no_due:
        a_quiz(late_policy=LatePolicy(deduction_percent=5.0))
    assert paths(no_due.value) == {"late_policy.deduction_percent"}
    with pytest.raises(ValidationFailed) as no_close:
        a_quiz(late_policy=LatePolicy(missing_grade_percent=0.0))
    assert paths(no_close.value) == {"late_policy.missing_grade_percent"}
    quiz = a_quiz(due_at=T0, late_policy=LatePolicy(deduction_percent=5.0, missing_grade_percent=0.0))
    assert quiz.late_policy.deduction_percent == 5.0


def test_slot_limits() -> None:
    with pytest.raises(ValidationFailed) as too_many:
        a_quiz([FixedSlot(uuid.uuid4()) for _ in range(SLOTS_MAX + 1)])
    assert paths(too_many.value) == {"slots"}
    with pytest.raises(ValidationFailed) as too_big:
        a_quiz([draw(["t"], DRAW_MAX + 1)])
    assert paths(too_big.value) == {"slots.0.count"}
    with pytest.raises(ValidationFailed) as too_long:
        a_quiz([draw([f"t{i}"], DRAW_MAX) for i in range(ITEMS_MAX // DRAW_MAX + 1)])
    assert paths(too_long.value) == {"slots"}
    repeated = uuid.uuid4()
    with pytest.raises(ValidationFailed) as twice:
        a_quiz([FixedSlot(repeated), FixedSlot(repeated)])
    assert [(e.field, e.message) for e in twice.value.errors] == [
        ("slots.1.question_id", "is already the question of slots.0")
    ]


def test_settings_are_normalised() -> None:
    quiz = a_quiz([draw(["algebra", "algebra", "easy"], 2)], title="  Week 1  ", category=" mid   terms ")
    assert (quiz.title, quiz.category) == ("Week 1", "mid terms")
    assert quiz.slots == (draw(["algebra", "easy"], 2),)
    assert quiz.status is QuizStatus.DRAFT


def test_update_replaces_the_settings_and_archived_quizzes_do_not_change() -> None:
    quiz = a_quiz(title="Old")
    quiz.update(a_spec(title="New", max_attempts=2), T0 + DAY)
    assert (quiz.title, quiz.max_attempts, quiz.updated_at) == ("New", 2, T0 + DAY)
    assert quiz.spec == a_spec(title="New", max_attempts=2)
    with pytest.raises(ValidationFailed):
        quiz.update(a_spec(title=""), T0)
    assert quiz.title == "New"  # a refused update changes nothing
    quiz.archive(T0)
    with pytest.raises(Conflict):
        quiz.update(a_spec(title="Again"), T0)


def test_publish_records_one_event_and_needs_a_slot() -> None:
    empty = a_quiz()
    with pytest.raises(StartRefused) as refused:
        empty.publish(T0)
    assert refused.value.reason is StartRefusal.CANNOT_FILL
    quiz = a_quiz([FixedSlot(uuid.uuid4())])
    assert quiz.publish(T0)
    assert not quiz.publish(T0 + DAY)
    assert [type(e) for e in quiz.pending_events] == [QuizPublished]
    assert (quiz.status, quiz.published_at) == (QuizStatus.PUBLISHED, T0)
    assert quiz.archive(T0)
    assert not quiz.archive(T0)
    with pytest.raises(Conflict):
        quiz.publish(T0)


# -- one learner's window ----------------------------------------------------------------------


def test_the_window_without_an_extension_is_the_quizs() -> None:
    quiz = a_quiz(opens_at=T0, due_at=T0 + DAY, closes_at=T0 + 2 * DAY, time_limit_seconds=600, max_attempts=2)
    window = quiz.window_for(None)
    assert (window.opens_at, window.due_at, window.closes_at) == (T0, T0 + DAY, T0 + 2 * DAY)
    assert (window.time_limit_seconds, window.grace_seconds, window.max_attempts) == (600, 30, 2)


def test_an_extension_moves_the_dates_and_adds_attempts_and_time() -> None:
    quiz = a_quiz(due_at=T0 + DAY, closes_at=T0 + 2 * DAY, time_limit_seconds=600, max_attempts=2)
    user = uuid.uuid4()
    extension = quiz.extension_for(
        user, due_at=T0 + 3 * DAY, closes_at=T0 + 4 * DAY, extra_attempts=1, extra_time_seconds=300
    )
    window = quiz.window_for(extension)
    assert (window.due_at, window.closes_at) == (T0 + 3 * DAY, T0 + 4 * DAY)
    assert (window.time_limit_seconds, window.max_attempts) == (900, 3)


def test_an_extension_never_takes_time_away() -> None:
    quiz = a_quiz(due_at=T0 + 5 * DAY, closes_at=T0 + 6 * DAY)
    stale = Extension(quiz.id, uuid.uuid4(), due_at=T0 + DAY, closes_at=T0 + 2 * DAY, extra_attempts=3)
    window = quiz.window_for(stale)  # the quiz's dates moved past an older extension
    assert (window.due_at, window.closes_at, window.max_attempts) == (T0 + 5 * DAY, T0 + 6 * DAY, None)


@pytest.mark.parametrize(
    ("quiz_settings", "extension", "path"),
    [
        ({"due_at": T0 + DAY}, {"due_at": T0}, "due_at"),
        ({}, {"due_at": T0}, "due_at"),
        ({"closes_at": T0 + DAY}, {"closes_at": T0}, "closes_at"),
        ({}, {"extra_attempts": 1}, "extra_attempts"),
        ({}, {"extra_time_seconds": 60}, "extra_time_seconds"),
        ({"due_at": T0, "closes_at": T0 + DAY}, {"due_at": T0 + 2 * DAY}, "closes_at"),
    ],
)
def test_an_extension_must_extend_something(
    quiz_settings: dict[str, datetime], extension: dict[str, object], path: str
) -> None:
    quiz = a_quiz(**quiz_settings)
    with pytest.raises(ValidationFailed) as invalid:
        quiz.extension_for(uuid.uuid4(), **extension)  # type: ignore[arg-type]
    assert paths(invalid.value) == {path}


def test_starting_needs_the_window_open_and_attempts_left() -> None:
    window = a_quiz(opens_at=T0, closes_at=T0 + DAY, max_attempts=2).window_for(None)
    with pytest.raises(StartRefused) as early:
        window.check_start(T0 - timedelta(seconds=1), used=0)
    assert early.value.reason is StartRefusal.NOT_OPEN
    window.check_start(T0, used=0)
    window.check_start(T0 + DAY, used=1)
    with pytest.raises(StartRefused) as late:
        window.check_start(T0 + DAY + timedelta(seconds=1), used=0)
    assert late.value.reason is StartRefusal.CLOSED
    with pytest.raises(StartRefused) as spent:
        window.check_start(T0, used=2)
    assert spent.value.reason is StartRefusal.NO_ATTEMPTS_LEFT
    assert "2" in spent.value.detail


# -- assembly ----------------------------------------------------------------------------------


def bank(count: int, *tags: str) -> list:  # type: ignore[type-arg]
    return sorted((version(single(), tags=tags) for _ in range(count)), key=lambda v: v.question_id)


def shape(items: list) -> list[tuple[object, ...]]:  # type: ignore[type-arg]
    return [(i.position, i.question_id, i.version, i.key_version, i.points, i.order) for i in items]


def test_the_same_seed_and_bank_give_the_same_attempt() -> None:
    fixed = version(ordering())
    pool = bank(30, "t")
    quiz = a_quiz([FixedSlot(fixed.question_id), draw(["t"], 5)], shuffle_questions=True, shuffle_options=True)
    pools = {1: [v.question_id for v in pool]}
    first = quiz.assemble(1234, by_id([fixed]), pools, by_id(pool))
    again = quiz.assemble(1234, by_id([fixed]), {1: list(reversed(pools[1]))}, by_id(pool))  # any read order
    assert shape(first) == shape(again)
    assert [i.position for i in first] == list(range(6))
    drawn = sorted(i.question_id for i in first if i.question_id != fixed.question_id)
    assert sorted(quiz.draw(1234, pools)) == drawn  # what the service loads before assembling


def test_different_seeds_draw_differently_from_a_large_pool() -> None:
    pool = bank(60, "t")
    quiz = a_quiz([draw(["t"], 10)])
    pools = {0: [v.question_id for v in pool]}
    drawn = {tuple(i.question_id for i in quiz.assemble(seed, {}, pools, by_id(pool))) for seed in range(5)}
    assert len(drawn) == 5  # five seeds, five different draws (a repeat has odds of 1 in 10^13)


def test_the_question_order_is_shuffled_by_the_seed_only_when_asked() -> None:
    questions = bank(12)
    plain = fixed_quiz(questions)
    in_slot_order = [v.question_id for v in questions]
    assert [i.question_id for i in plain.assemble(7, by_id(questions), {}, {})] == in_slot_order
    shuffled = fixed_quiz(questions, shuffle_questions=True)
    orders = {tuple(i.question_id for i in shuffled.assemble(seed, by_id(questions), {}, {})) for seed in range(4)}
    assert len(orders) > 1
    assert all(sorted(order) == sorted(in_slot_order) for order in orders)


def test_draws_never_repeat_a_question_of_the_quiz() -> None:
    pool = bank(8, "t")
    fixed = pool[0]  # also tagged: a draw must leave it out
    quiz = a_quiz([FixedSlot(fixed.question_id), draw(["t"], 3), draw(["t"], 4)])
    ids = [v.question_id for v in pool]
    for seed in range(200):
        items = quiz.assemble(seed, by_id([fixed]), {1: ids, 2: ids}, by_id(pool))
        drawn = [i.question_id for i in items]
        assert len(drawn) == len(set(drawn)) == 8


def test_a_short_pool_is_refused_with_the_slot_named() -> None:
    pool = bank(3, "t")
    ids = [v.question_id for v in pool]
    quiz = a_quiz([draw(["t"], 4)])
    with pytest.raises(StartRefused) as refused:
        quiz.check_fillable(set(), {0: ids})
    assert refused.value.reason is StartRefusal.CANNOT_FILL
    assert "slots.0" in refused.value.detail
    with pytest.raises(StartRefused):
        quiz.assemble(1, {}, {0: ids}, by_id(pool))


def test_fillable_is_decided_on_the_worst_case_of_overlapping_draws() -> None:
    both = bank(2, "a", "b")
    only_b = bank(1, "b")
    a_ids = [v.question_id for v in both]
    b_ids = sorted(a_ids + [v.question_id for v in only_b])
    risky = a_quiz([draw(["a"], 1), draw(["b"], 3)])  # the first draw may take one of b's three
    with pytest.raises(StartRefused) as refused:
        risky.check_fillable(set(), {0: a_ids, 1: b_ids})
    assert "earlier draws may take 1" in refused.value.detail
    safe = a_quiz([draw(["a"], 1), draw(["b"], 2)])
    safe.check_fillable(set(), {0: a_ids, 1: b_ids})
    for seed in range(100):
        assert len(safe.assemble(seed, {}, {0: a_ids, 1: b_ids}, by_id(both + only_b))) == 3


def test_fixed_questions_must_exist() -> None:
    missing = uuid.uuid4()
    quiz = a_quiz([FixedSlot(missing)])
    with pytest.raises(StartRefused) as refused:
        quiz.check_fillable(set(), {})
    assert str(missing) in refused.value.detail
    quiz.check_fillable({missing}, {})


def test_options_shuffle_per_question_when_asked_and_ordering_items_always() -> None:
    choice, order = version(single()), version(ordering())
    keep = fixed_quiz([choice, order], shuffle_options=False)
    key_order = option_ids(order.body)
    for seed in range(50):
        items = keep.assemble(seed, by_id([choice, order]), {}, {})
        assert items[0].order == option_ids(choice.body)
        assert sorted(items[1].order) == sorted(key_order)
        assert items[1].order != key_order  # shown in the key's order it would give the answer away
    shuffle = fixed_quiz([choice, order], shuffle_options=True)
    orders = {shuffle.assemble(seed, by_id([choice, order]), {}, {})[0].order for seed in range(10)}
    assert len(orders) > 1


def test_points_come_from_the_slot_and_essays_keep_their_rubric() -> None:
    plain, weighted, graded = version(single(), points=2.0), version(single()), version(essay(), points=4.0)
    quiz = a_quiz(
        [FixedSlot(plain.question_id), FixedSlot(weighted.question_id, 5.0), FixedSlot(graded.question_id, 9.0)]
    )
    items = quiz.assemble(3, by_id([plain, weighted, graded]), {}, {})
    assert [i.points for i in items] == [2.0, 5.0, 4.0]
    assert all(i.order == () for i in items[2:])


def test_an_unknown_time_zone_is_refused_for_extensions() -> None:
    quiz = a_quiz(due_at=T0)
    with pytest.raises(ValidationFailed) as invalid:
        quiz.extension_for(uuid.uuid4(), due_at=datetime(2026, 2, 1))
    assert paths(invalid.value) == {"due_at"}
    assert quiz.extension_for(uuid.uuid4(), due_at=datetime(2026, 2, 1, tzinfo=UTC)).due_at is not None
