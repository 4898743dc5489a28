"""The at-risk rules at their boundaries (inactive, failing, behind pace), and the use case: who may ask,
paging, the reason filter, bad parameters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elearning_core.analytics.at_risk import (
    CourseFacts,
    GradedItem,
    ItemStanding,
    LearnerFacts,
    RiskReason,
    behind_pace,
    inactivity,
    learners_at_risk,
    lost_item,
)
from elearning_core.analytics.at_risk_service import WALK_SECONDS, AtRiskFilter, AtRiskService
from elearning_core.assessment.model import QuizStatus
from elearning_core.assessment.queries import GradebookInputs, GradeCell, Learner, QuizSummary
from elearning_core.auth.model import Grant, Role, RolePolicy, Scope, ScopeKind
from elearning_core.auth.model import ResourceRef as Ref
from elearning_core.course.model import CourseStatus, LessonKind, Level
from elearning_core.course.queries import CourseOutline, LessonView, SectionView
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.errors import NotFound, PermissionDenied, ValidationFailed
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import SYSTEM, Principal
from tests.analytics_risk_fakes import Enrollment, InMemoryAtRiskReads, Quiz, RiskWorld

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
COURSE = uuid.UUID(int=1)


def a_learner(n: int = 1, **changes: object) -> LearnerFacts:
    values: dict[object, object] = {
        "user_id": uuid.UUID(int=100 + n),
        "display_name": f"Learner {n}",
        "email": f"l{n}@example.org",
        "enrolled_at": NOW - 20 * DAY,
    }
    values.update(changes)
    return LearnerFacts(**values)  # type: ignore[arg-type]


# -- inactive -------------------------------------------------------------------------------------


def test_inactive_from_exactly_the_threshold_on() -> None:
    learner = a_learner(last_activity_at=NOW - 14 * DAY)
    found = inactivity(learner, NOW, 14)
    assert found is not None
    assert (found.days, found.since, found.threshold_days) == (14, NOW - 14 * DAY, 14)
    just_inside = a_learner(last_activity_at=NOW - 14 * DAY + timedelta(microseconds=1))
    assert inactivity(just_inside, NOW, 14) is None


def test_never_active_counts_from_the_enrollment_and_a_future_cohort_keeps_the_learner_off() -> None:
    never = inactivity(a_learner(enrolled_at=NOW - 15 * DAY), NOW, 14)
    assert never is not None
    assert (never.last_activity_at, never.days) == (None, 15)
    waiting = a_learner(enrolled_at=NOW - 40 * DAY, cohort_starts_at=NOW + DAY)
    assert inactivity(waiting, NOW, 14) is None
    started = a_learner(enrolled_at=NOW - 40 * DAY, cohort_starts_at=NOW - 20 * DAY, last_activity_at=NOW - 30 * DAY)
    found = inactivity(started, NOW, 14)
    assert found is not None
    assert found.since == NOW - 20 * DAY  # the cohort's start is later than the (early) activity


# -- failing --------------------------------------------------------------------------------------

QUIZ = GradedItem(uuid.UUID(int=7), "Final", pass_mark_percent=60.0, max_attempts=2, closes_at=None)


def test_a_failed_item_is_lost_only_once_no_attempt_is_left() -> None:
    assert lost_item(QUIZ, ItemStanding(percent=59.99, attempts=1), NOW) is None  # one attempt left
    lost = lost_item(QUIZ, ItemStanding(percent=59.99, attempts=2), NOW)
    assert lost is not None
    assert (lost.percent, lost.attempts, lost.attempts_allowed, lost.closes_at) == (59.99, 2, 2, None)
    assert lost_item(QUIZ, ItemStanding(percent=60.0, attempts=2), NOW) is None  # on the mark is a pass
    assert lost_item(QUIZ, ItemStanding(percent=10.0, attempts=2, extra_attempts=1), NOW) is None
    assert lost_item(QUIZ, ItemStanding(percent=10.0, attempts=2, pending=1), NOW) is None  # still to grade


def test_a_closed_item_is_lost_when_not_passed_and_an_extension_moves_the_close() -> None:
    closing = GradedItem(QUIZ.quiz_id, "Final", 60.0, max_attempts=None, closes_at=NOW)
    missed = lost_item(closing, None, NOW)
    assert missed is not None
    assert (missed.percent, missed.attempts, missed.closes_at) == (None, 0, NOW)
    assert lost_item(closing, None, NOW - timedelta(microseconds=1)) is None
    assert lost_item(closing, ItemStanding(extended_closes_at=NOW + DAY), NOW) is None
    assert lost_item(closing, ItemStanding(percent=80.0, attempts=1), NOW) is None


def test_failing_the_course_grade_is_below_the_minimum_and_no_grade_yet_is_not() -> None:
    ada, bob, cy = (a_learner(n, last_activity_at=NOW) for n in (1, 2, 3))
    facts = CourseFacts(
        COURSE,
        [ada, bob, cy],  # cy has no grade yet
        min_grade_percent=50.0,
        grades={ada.user_id: 49.99, bob.user_id: 50.0},
    )
    found = learners_at_risk(facts, NOW)
    assert [x.user_id for x in found] == [ada.user_id]
    failing = found[0].failing
    assert failing is not None
    assert (failing.grade_percent, failing.passing_percent, failing.below_passing) == (49.99, 50.0, True)
    assert found[0].reasons == (RiskReason.FAILING,)


# -- behind pace ----------------------------------------------------------------------------------


def test_behind_pace_compares_the_shares_and_caps_the_elapsed_share() -> None:
    half_time = a_learner(enrolled_at=NOW - 15 * DAY, required_lessons=10, required_completed=4)
    found = behind_pace(half_time, NOW, 30)
    assert found is not None
    assert (found.completed_percent, found.expected_percent, found.start) == (40.0, 50.0, "enrollment")
    assert (
        behind_pace(a_learner(enrolled_at=NOW - 15 * DAY, required_lessons=10, required_completed=5), NOW, 30) is None
    )
    late = behind_pace(a_learner(enrolled_at=NOW - 90 * DAY, required_lessons=10, required_completed=9), NOW, 30)
    assert late is not None
    assert late.expected_percent == 100.0
    assert (
        behind_pace(a_learner(enrolled_at=NOW - 90 * DAY, required_lessons=10, required_completed=10), NOW, 30) is None
    )
    assert behind_pace(a_learner(required_lessons=0), NOW, 30) is None  # nothing required: not judged


def test_a_cohort_paces_from_its_start() -> None:
    learner = a_learner(
        enrolled_at=NOW - 2 * DAY, cohort_starts_at=NOW - 21 * DAY, required_lessons=10, required_completed=6
    )
    found = behind_pace(learner, NOW, 30)
    assert found is not None
    assert (found.start, found.started_at, found.expected_percent) == ("cohort", NOW - 21 * DAY, 70.0)
    assert behind_pace(a_learner(cohort_starts_at=NOW + DAY, required_lessons=10), NOW, 30) is None


@settings(max_examples=200, deadline=None)
@given(
    required=st.integers(1, 300),
    expected_days=st.integers(1, 400),
    completed=st.integers(0, 300),
)
def test_a_learner_exactly_on_pace_is_not_behind_and_one_lesson_less_is(
    required: int, expected_days: int, completed: int
) -> None:
    completed = min(completed, required)
    # The moment the elapsed share equals completed/required exactly (in whole microseconds when it exists).
    expected_us = expected_days * 86_400 * 1_000_000
    if (completed * expected_us) % required:
        return
    elapsed = timedelta(microseconds=completed * expected_us // required)
    on_pace = a_learner(enrolled_at=NOW - elapsed, required_lessons=required, required_completed=completed)
    assert behind_pace(on_pace, NOW, expected_days) is None
    if completed > 0:
        one_less = a_learner(enrolled_at=NOW - elapsed, required_lessons=required, required_completed=completed - 1)
        assert behind_pace(one_less, NOW, expected_days) is not None


@settings(max_examples=200, deadline=None)
@given(
    required=st.integers(1, 200),
    done=st.integers(0, 200),
    elapsed_hours=st.integers(0, 24 * 100),
    expected_days=st.integers(1, 90),
)
def test_behind_exactly_when_fewer_lessons_are_done_than_the_whole_lessons_due(
    required: int, done: int, elapsed_hours: int, expected_days: int
) -> None:
    done = min(done, required)
    learner = a_learner(
        enrolled_at=NOW - timedelta(hours=elapsed_hours), required_lessons=required, required_completed=done
    )
    elapsed_share = Fraction(min(elapsed_hours, expected_days * 24), expected_days * 24)
    found = behind_pace(learner, NOW, expected_days)
    due = int(required * elapsed_share)  # floor: the share is non-negative
    assert (found is not None) == (done < due)
    if found is not None:
        assert Fraction(done, required) < elapsed_share  # never behind unless the shares say so
        assert found.expected_lessons == due


def test_a_learner_who_just_started_is_not_behind_for_a_sliver_of_time() -> None:
    fresh = a_learner(enrolled_at=NOW - timedelta(hours=1), required_lessons=10)
    assert behind_pace(fresh, NOW, 30) is None  # 10 x 1/720 < 1: no lesson due yet
    assert behind_pace(a_learner(enrolled_at=NOW - 3 * DAY, required_lessons=10), NOW, 30) is not None


# -- the use case ---------------------------------------------------------------------------------

ADA, BOB, CY, DEE = (uuid.UUID(int=n) for n in (101, 102, 103, 104))
STAFF = Principal(
    "user:9", frozenset({"learner"}), uuid.UUID(int=9), (Grant(Role.TEACHING_ASSISTANT, Scope.course(COURSE)),)
)
LEARNER = Principal("user:101", frozenset({"learner"}), ADA)
LESSON, OPTIONAL_LESSON = uuid.UUID(int=50), uuid.UUID(int=51)
FINAL, EXTRA = uuid.UUID(int=70), uuid.UUID(int=71)


class Directory:
    def __init__(self, *known: uuid.UUID) -> None:
        self.known = set(known)

    async def course(self, course_id: uuid.UUID) -> Ref | None:
        return Ref(ScopeKind.COURSE, course_id) if course_id in self.known else None

    async def organization_exists(self, organization_id: uuid.UUID) -> bool:
        return False


class Outlines:
    def __init__(self, outline: CourseOutline | None) -> None:
        self.outline = outline

    async def published_outline(self, course_id: uuid.UUID, number: int | None = None) -> CourseOutline | None:
        return self.outline if self.outline is not None and self.outline.id == course_id else None


class Gradebook:
    def __init__(self, inputs: GradebookInputs) -> None:
        self.inputs = inputs
        self.reads = 0

    async def gradebook_inputs(self, course_id: uuid.UUID) -> GradebookInputs:
        self.reads += 1
        return self.inputs


def _outline(status: CourseStatus = CourseStatus.PUBLISHED) -> CourseOutline:
    lessons = [
        LessonView(LESSON, "Final exam", 0, kind=LessonKind.ASSESSMENT, assessment_id=FINAL),
        LessonView(OPTIONAL_LESSON, "Extra quiz", 1, kind=LessonKind.ASSESSMENT, assessment_id=EXTRA),
    ]
    return CourseOutline(
        COURSE, "c", "Course", "", "", "en", Level.BEGINNER, [], None, status, 1, NOW, NOW, NOW,
        [SectionView(uuid.UUID(int=60), "S", 0, lessons)],
    )  # fmt: skip


def _quiz(quiz_id: uuid.UUID, title: str) -> QuizSummary:
    return QuizSummary(quiz_id, COURSE, title, "exams", QuizStatus.PUBLISHED, None, None, NOW - DAY, 3, None, None)


def a_service(status: CourseStatus = CourseStatus.PUBLISHED, *, pass_mark: float | None = 60.0) -> AtRiskService:
    world = RiskWorld(
        users={u: (f"User {u.int}", f"u{u.int}@example.org") for u in (ADA, BOB, CY, DEE)},
        enrollments=[
            Enrollment(COURSE, ADA, NOW - 20 * DAY),
            Enrollment(COURSE, BOB, NOW - 20 * DAY),
            Enrollment(COURSE, CY, NOW - 20 * DAY),
            Enrollment(COURSE, DEE, NOW - 90 * DAY, status="completed"),
        ],
        activity=[(COURSE, BOB, "viewed", NOW - DAY), (COURSE, CY, "post", NOW - DAY)],
        progress={(COURSE, ADA): (10, 0), (COURSE, BOB): (10, 9), (COURSE, CY): (10, 2), (COURSE, DEE): (10, 0)},
        rules={COURSE: (None, frozenset({OPTIONAL_LESSON}))},
        quizzes={
            FINAL: Quiz(COURSE, "Final", pass_mark_percent=pass_mark),
            EXTRA: Quiz(COURSE, "Extra", pass_mark_percent=pass_mark),
        },
    )
    grades = GradebookInputs(
        quizzes=[_quiz(FINAL, "Final"), _quiz(EXTRA, "Extra")],
        learners=[Learner(u, "", "") for u in (ADA, BOB, CY)],
        grades=[GradeCell(BOB, FINAL, 40.0, 3, 0), GradeCell(CY, EXTRA, 10.0, 3, 0), GradeCell(CY, FINAL, 90.0, 1, 0)],
        categories=[],
        extended_closes={},
    )
    return AtRiskService(
        InMemoryAtRiskReads(world),
        Gradebook(grades),  # type: ignore[arg-type]
        Outlines(_outline(status)),
        Directory(COURSE),
        FixedClock(NOW),
        RolePolicy(),
        CursorCodec(b"test-cursor-secret-0123456789"),
        inactive_days=14,
        expected_days=30,
    )


async def test_staff_see_each_learner_at_risk_with_every_reason() -> None:
    found = (await a_service().at_risk(STAFF, COURSE)).items
    by_user = {x.user_id: x for x in found}
    assert list(by_user) == [ADA, BOB, CY]  # DEE completed the course: not judged
    assert by_user[ADA].reasons == (RiskReason.INACTIVE, RiskReason.FAILING, RiskReason.BEHIND_PACE)
    ada_lost = by_user[ADA].failing
    assert ada_lost is not None
    assert [(i.title, i.percent, i.attempts) for i in ada_lost.lost_items] == [("Final", None, 0)]  # missed, closed
    assert by_user[BOB].reasons == (RiskReason.FAILING,)
    bob_lost = by_user[BOB].failing
    assert bob_lost is not None
    assert [(i.title, i.percent, i.attempts_allowed) for i in bob_lost.lost_items] == [("Final", 40.0, 3)]
    assert by_user[CY].reasons == (RiskReason.BEHIND_PACE,)  # the failed quiz is in an optional lesson
    cy_pace = by_user[CY].behind_pace
    assert cy_pace is not None
    assert (cy_pace.completed_percent, cy_pace.expected_percent) == (20.0, 66.6)


async def test_the_gradebook_is_read_only_when_a_rule_needs_it() -> None:
    graded = a_service()
    await graded.at_risk(STAFF, COURSE)
    assert graded._assessment.reads == 1  # type: ignore[attr-defined]
    ungraded = a_service(pass_mark=None)  # no pass marks and no minimum grade: nothing to fail
    found = await ungraded.at_risk(STAFF, COURSE)
    assert ungraded._assessment.reads == 0  # type: ignore[attr-defined]
    assert [x.reasons for x in found.items] == [
        (RiskReason.INACTIVE, RiskReason.BEHIND_PACE),
        (RiskReason.BEHIND_PACE,),
    ]


async def test_the_reason_filter_and_the_thresholds_narrow_the_list() -> None:
    service = a_service()
    failing = await service.at_risk(STAFF, COURSE, AtRiskFilter(RiskReason.FAILING))
    assert [x.user_id for x in failing.items] == [ADA, BOB]
    inactive = await service.at_risk(STAFF, COURSE, AtRiskFilter(RiskReason.INACTIVE, inactive_days=30))
    assert inactive.items == []
    slow = await service.at_risk(STAFF, COURSE, AtRiskFilter(RiskReason.BEHIND_PACE, expected_days=200))
    assert [x.user_id for x in slow.items] == [ADA]  # 10% of the time elapsed: CY's 20% is ahead


async def test_pages_follow_the_user_ids_and_a_cursor_is_bound_to_its_filters() -> None:
    service = a_service()
    first = await service.at_risk(STAFF, COURSE, limit=2)
    assert [x.user_id for x in first.items] == [ADA, BOB]
    assert first.next_cursor is not None
    second = await service.at_risk(STAFF, COURSE, cursor=first.next_cursor, limit=2)
    assert ([x.user_id for x in second.items], second.next_cursor) == ([CY], None)
    with pytest.raises(ValidationFailed, match="different listing"):
        await service.at_risk(STAFF, COURSE, AtRiskFilter(inactive_days=3), cursor=first.next_cursor)


async def test_a_walk_is_judged_at_its_first_page_and_its_next_pages_are_cut_from_it() -> None:
    service = a_service()
    reads = service._reads  # type: ignore[attr-defined]
    gradebook = service._assessment  # type: ignore[attr-defined]
    first = await service.at_risk(STAFF, COURSE, limit=1)
    assert gradebook.reads == 1
    reads.world.enrollments.append(Enrollment(COURSE, uuid.UUID(int=100), NOW - 90 * DAY))  # sorts first
    second = await service.at_risk(STAFF, COURSE, cursor=first.next_cursor, limit=1)
    assert gradebook.reads == 1  # cut from the first page's judgement
    assert [x.user_id for x in (*first.items, *second.items)] == [ADA, BOB]
    with pytest.raises(PermissionDenied):  # access is checked on every page
        await service.at_risk(LEARNER, COURSE, cursor=first.next_cursor, limit=1)
    service._clock.advance(timedelta(seconds=WALK_SECONDS + 1))  # type: ignore[attr-defined]
    third = await service.at_risk(STAFF, COURSE, cursor=second.next_cursor, limit=1)
    assert gradebook.reads == 2  # too old: judged again, the keyset keeps the walk going
    assert [x.user_id for x in third.items] == [CY]
    fresh = await service.at_risk(STAFF, COURSE, limit=1)
    assert gradebook.reads == 3  # a first page always judges afresh
    assert [x.user_id for x in fresh.items] == [uuid.UUID(int=100)]


async def test_learners_are_refused_and_hidden_courses_are_not_found() -> None:
    with pytest.raises(PermissionDenied):
        await a_service().at_risk(LEARNER, COURSE)
    with pytest.raises(NotFound):
        await a_service(CourseStatus.DRAFT).at_risk(LEARNER, COURSE)
    with pytest.raises(NotFound):
        await a_service().at_risk(STAFF, uuid.UUID(int=999))
    assert (await a_service(CourseStatus.DRAFT).at_risk(SYSTEM, COURSE)).items  # a platform admin


@pytest.mark.parametrize(
    ("where", "limit", "field"),
    [
        (AtRiskFilter(inactive_days=0), 20, "inactive_days"),
        (AtRiskFilter(expected_days=3651), 20, "expected_days"),
        (AtRiskFilter(), 0, "limit"),
    ],
)
async def test_bad_parameters_are_refused_with_their_field(where: AtRiskFilter, limit: int, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await a_service().at_risk(STAFF, COURSE, where, limit=limit)
    assert [e.field for e in refused.value.errors] == [field]
