"""The aggregates' reference computation (``elearning_core.analytics.aggregating``): days, weeks (from Monday)
and months in the course's and the platform's time zones, the funnel, the latest grade of an attempt whatever
the order, the video heatmap and drop-off, the time estimate; and the in-memory read port over the fake store."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from elearning_core.analytics import vocabulary as v
from elearning_core.analytics.aggregate_figures import course_aggregates, platform_aggregates
from elearning_core.analytics.aggregates import FunnelStage, Grain, PeriodCount
from elearning_core.analytics.aggregating import QUIZ_SECONDS_CAP, Zones, collect, period_start, score_bin
from elearning_core.analytics.model import Statement, StatementRef, Verb
from tests.analytics_fakes import InMemoryAggregateReads, InMemoryStatementStore
from tests.analytics_history import COURSES, LESSON_COUNT, MAPPER, QUIZ, SINCE, UNTIL, ZONES, build, statements_of
from tests.fakes import T0, FixedClock

C0, C1 = COURSES


def figures(*events: object, course: uuid.UUID = C0):  # type: ignore[no-untyped-def]
    delta = collect(statements_of(list(events)), ZONES)  # type: ignore[arg-type]
    return (
        course_aggregates(delta, course, SINCE, UNTIL, zones=ZONES, lesson_count=LESSON_COUNT),
        platform_aggregates(delta, SINCE, UNTIL, zones=ZONES),
    )


def days(*pairs: tuple[str, int]) -> list[PeriodCount]:
    return [PeriodCount(date.fromisoformat(d), n) for d, n in pairs]


def test_weeks_start_on_monday_and_months_on_the_first() -> None:
    assert period_start(date(2026, 3, 1), Grain.WEEK) == date(2026, 2, 23)  # a Sunday
    assert period_start(date(2026, 3, 2), Grain.WEEK) == date(2026, 3, 2)  # a Monday
    assert period_start(date(2026, 3, 31), Grain.MONTH) == date(2026, 3, 1)
    assert period_start(date(2026, 3, 31), Grain.DAY) == date(2026, 3, 31)


def test_days_are_the_course_organizations_and_the_platforms_across_midnight() -> None:
    # 03:30 UTC on 1 March: 16:30 on 1 March in Auckland (the course), 22:30 on 28 February in New York (the
    # platform); 12:30 UTC: 01:30 on Monday 2 March in Auckland, 07:30 on Sunday 1 March in New York.
    course, platform = figures(build("viewed", 0, 0, 0, 1, 0, 0), build("viewed", 1, 0, 9 * 60, 1, 0, 0))
    assert course.time_zone == "Pacific/Auckland"
    assert platform.time_zone == "America/New_York"
    assert course.active_learners[Grain.DAY] == days(("2026-03-01", 1), ("2026-03-02", 1))
    assert course.active_learners[Grain.WEEK] == days(("2026-02-23", 1), ("2026-03-02", 1))
    assert course.active_learners[Grain.MONTH] == days(("2026-03-01", 2))
    assert platform.active_learners[Grain.DAY] == days(("2026-02-28", 1), ("2026-03-01", 1))
    assert platform.active_learners[Grain.WEEK] == days(("2026-02-23", 2))
    assert platform.active_learners[Grain.MONTH] == days(("2026-02-01", 1), ("2026-03-01", 1))
    # A course without an organization has the platform's days.
    other, _ = figures(build("viewed", 0, 1, 0, 1, 0, 0), course=C1)
    assert other.time_zone == "America/New_York"
    assert other.active_learners[Grain.DAY] == days(("2026-02-28", 1))


def test_a_learner_active_many_times_in_a_period_counts_once() -> None:
    course, _ = figures(*(build("viewed", 0, 0, minute, 1, 0, 0) for minute in (0, 5, 60)))
    assert course.active_learners[Grain.DAY] == days(("2026-03-01", 1))


def test_the_funnel_counts_each_enrolled_learner_up_to_their_furthest_stage() -> None:
    course, platform = figures(
        build("enrolled", 0, 0, 0, 1, 0, 0),
        build("lesson", 0, 0, 10, 1, 0, 0),
        build("lesson", 0, 0, 20, 1, 0, 1),
        build("lesson", 0, 0, 30, 1, 0, 1),  # the same lesson again: 2 of 4 lessons, 50 %
        build("enrolled", 1, 0, 0, 1, 0, 0),
        build("course", 1, 0, 40, 1, 0, 0),  # completed: every stage
        build("viewed", 1, 1, 0, 1, 0, 0),  # in the other course, not enrolled: not in its funnel
    )
    assert course.funnel == {
        FunnelStage.ENROLLED: 2,
        FunnelStage.STARTED: 2,
        FunnelStage.QUARTER: 2,
        FunnelStage.HALF: 2,
        FunnelStage.THREE_QUARTERS: 1,
        FunnelStage.COMPLETED: 1,
    }
    assert course.enrollments == days(("2026-03-01", 2))
    assert course.completions == days(("2026-03-01", 1))
    assert platform.enrollments == days(("2026-02-28", 2))
    assert platform.top_courses == [(C0, 2)]
    other, _ = figures(build("viewed", 1, 1, 0, 1, 0, 0), course=C1)
    assert set(other.funnel.values()) == {0}


def test_enrolled_only_is_the_first_stage_and_any_other_statement_starts() -> None:
    course, _ = figures(
        build("enrolled", 0, 0, 0, 1, 0, 0), build("enrolled", 1, 0, 0, 1, 0, 0), build("post", 1, 0, 90, 1, 0, 0)
    )
    assert [course.funnel[s] for s in FunnelStage] == [2, 1, 0, 0, 0, 0]


@pytest.mark.parametrize("reverse", [False, True])
def test_an_attempt_counts_once_at_its_latest_grade_whatever_the_order(reverse: bool) -> None:
    events = [
        build("graded", 0, 0, 100, 1, 0.95, 0),
        build("regraded", 0, 0, 50, 1, 0.1, 0),
        build("graded", 1, 0, 10, 1, 0.3, 0),
    ]
    course, _ = figures(*(reversed(events) if reverse else events))
    (quiz,) = course.assessments
    assert quiz.quiz_id == QUIZ
    assert quiz.bins == [0, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    assert (quiz.passed, quiz.failed, quiz.learners) == (1, 1, 2)


def test_score_bins_put_one_in_the_last() -> None:
    assert [score_bin(x) for x in (0.0, 0.0999, 0.1, 0.5, 0.99, 1.0, None)] == [0, 0, 1, 5, 9, 9, None]


def test_video_heatmap_and_drop_off_per_second() -> None:
    # Ann watches 10..17 s (seconds 10 to 16), Bob 5..11 s (seconds 5 to 10); the video is 60 s long.
    course, _ = figures(build("video", 0, 0, 0, 7, 0.2, 1), build("video", 1, 0, 0, 6, 0.1, 1))
    (video,) = course.videos
    assert video.length_seconds == 60
    assert len(video.watched) == len(video.reached) == 60
    assert video.watched[4:18] == [0, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 0]
    assert video.reached[0] == 2
    assert video.reached[10] == 2
    assert video.reached[11] == 1
    assert video.reached[17] == 0


def test_time_spent_is_video_watched_plus_quiz_attempts_capped() -> None:
    course, _ = figures(
        build("video", 0, 0, 0, 7, 0.2, 1),  # 7 s
        build("attempted", 0, 0, 0, 4, 0, 0),
        build("submitted", 0, 0, 30, 4, 0, 0),  # 30 min
        build("attempted", 1, 0, 0, 5, 0, 0),
        build("submitted", 1, 0, 400, 5, 0, 0),  # 6 h 40: capped at 2 h
        build("attempted", 1, 0, 0, 6, 0, 0),  # never submitted: nothing
    )
    assert course.time_spent_seconds == days(("2026-03-01", 7 + 1800 + QUIZ_SECONDS_CAP))


def test_posts_and_posters_per_day_and_registrations_on_the_platform() -> None:
    course, platform = figures(
        build("post", 0, 0, 0, 1, 0, 0),
        build("post", 0, 0, 5, 2, 0, 0),
        build("post", 1, 0, 5, 3, 0, 0),
        build("registered", 0, 0, 0, 1, 0, 0),
    )
    assert [(d.start, d.posts, d.posters) for d in course.discussion] == [(date(2026, 3, 1), 3, 2)]
    assert platform.registrations == days(("2026-02-28", 1))


async def test_the_in_memory_reads_leave_out_voided_and_lrs_statements() -> None:
    store = InMemoryStatementStore(FixedClock(T0))
    enrolled = [
        Statement.from_json(s)
        for s in statements_of([build("enrolled", 0, 0, 0, 1, 0, 0), build("enrolled", 1, 0, 0, 1, 0, 0)])
    ]
    await store.append(enrolled[:1])
    org = uuid.uuid4()
    await store.append(enrolled[1:], organization=org)  # an LRS client's: not the platform's
    voiding = Statement(
        id=uuid.uuid4(),
        actor=enrolled[1].actor,
        verb=Verb.of(v.VOIDED),
        object=StatementRef(id=enrolled[1].id),
        timestamp=T0,
    )
    await store.append([voiding], organization=org)
    reads = InMemoryAggregateReads(store, ZONES, {C0: LESSON_COUNT})
    course = await reads.course(C0, SINCE, UNTIL)
    assert course is not None
    assert course.funnel[FunnelStage.ENROLLED] == 1
    assert await reads.course(uuid.uuid4(), SINCE, UNTIL) is None
    assert (await reads.platform(SINCE, UNTIL)).enrollments == days(("2026-02-28", 1))
    assert Zones().of(None) == "UTC"
    assert MAPPER is not None
