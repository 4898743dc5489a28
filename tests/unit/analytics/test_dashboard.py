"""The dashboards' use case over in-memory aggregates: the window (defaults in the course's time zone, the
checks with their field paths), gaps filled with 0, every kind of cell's suppression (with its complement
where a total is published), the threshold from the setting, and who may see which dashboard."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from elearning_core.analytics._dashboard_cells import nested
from elearning_core.analytics.aggregates import (
    CourseAggregates,
    DiscussionDay,
    FunnelStage,
    Grain,
    PeriodCount,
    PlatformAggregates,
    RevenueMonth,
    ScoreDistribution,
    VideoEngagement,
)
from elearning_core.analytics.charts import Chart, Report
from elearning_core.analytics.dashboard import DashboardService
from elearning_core.auth.model import Grant, ResourceRef, Role, RolePolicy, Scope, ScopeKind
from elearning_core.course.model import CourseStatus, Level
from elearning_core.course.queries import CourseOutline
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.errors import NotFound, PermissionDenied, ValidationFailed
from elearning_core.shared.ports import ANONYMOUS, SYSTEM, Principal
from tests.analytics_dashboard_fakes import COURSE_CHART_KEYS, InMemoryAggregateReads, sample_course, sample_platform

NOW = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)  # already 2 June in Paris
PARIS_TODAY = date(2026, 6, 2)
COURSE, OTHER, ORG = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)
STAFF = Principal(
    "user:9", frozenset({"learner"}), uuid.UUID(int=9), (Grant(Role.TEACHING_ASSISTANT, Scope.course(COURSE)),)
)
OTHER_STAFF = Principal(
    "user:8", frozenset({"learner"}), uuid.UUID(int=8), (Grant(Role.INSTRUCTOR, Scope.course(OTHER)),)
)
OTHER_ORG_ADMIN = Principal(
    "user:7",
    frozenset({"learner"}),
    uuid.UUID(int=7),
    (Grant(Role.ORGANIZATION_ADMIN, Scope.organization(uuid.UUID(int=99))),),
)
ORG_ADMIN = Principal(
    "user:6", frozenset({"learner"}), uuid.UUID(int=6), (Grant(Role.ORGANIZATION_ADMIN, Scope.organization(ORG)),)
)
PLATFORM_ADMIN = Principal("user:5", frozenset({"learner"}), uuid.UUID(int=5), (Grant(Role.PLATFORM_ADMIN),))
LEARNER = Principal("user:101", frozenset({"learner"}), uuid.UUID(int=101))


class Directory:
    async def course(self, course_id: uuid.UUID) -> ResourceRef | None:
        known = course_id in (COURSE, OTHER)
        return ResourceRef(ScopeKind.COURSE, course_id, organization_id=ORG) if known else None

    async def organization_exists(self, organization_id: uuid.UUID) -> bool:
        return organization_id == ORG


class Outlines:
    def __init__(self, status: CourseStatus = CourseStatus.PUBLISHED) -> None:
        self.status = status

    async def published_outline(self, course_id: uuid.UUID, number: int | None = None) -> CourseOutline | None:
        if course_id != COURSE:
            return None
        return CourseOutline(
            COURSE, "stats", "Statistics", "", "", "en", Level.BEGINNER, [], None, self.status, 1, NOW, NOW, NOW, []
        )  # fmt: skip


def empty_course(**changes: object) -> CourseAggregates:
    figures = CourseAggregates(COURSE, "Europe/Paris", {}, [], [], {}, [])
    return replace(figures, **changes)  # type: ignore[arg-type]


def service(
    course: CourseAggregates | None = None,
    *,
    k: int = 5,
    status: CourseStatus = CourseStatus.PUBLISHED,
    platform: PlatformAggregates | None = None,
) -> tuple[DashboardService, InMemoryAggregateReads]:
    reads = InMemoryAggregateReads({COURSE: course or empty_course()}, platform)
    return DashboardService(reads, Directory(), Outlines(status), FixedClock(NOW), RolePolicy(), k=k), reads


def chart(report: Report, key: str) -> Chart:
    return next(c for c in report.charts if c.key == key)


def values(report: Report, key: str, series: str | None = None) -> list[float | None]:
    found = chart(report, key)
    chosen = found.series[0] if series is None else next(s for s in found.series if s.name == series)
    return [point.value for point in chosen.points]


def figure(report: Report, label: str) -> float | None:
    return next(f.value for f in report.figures if f.label == label)


def days(*counts: int, until: date = PARIS_TODAY) -> list[PeriodCount]:
    return [PeriodCount(until - timedelta(days=len(counts) - 1 - i), n) for i, n in enumerate(counts)]


# -- the window --------------------------------------------------------------------------------------------


async def test_the_default_window_is_the_last_30_days_in_the_course_time_zone() -> None:
    dashboards, reads = service()
    report = await dashboards.course_dashboard(STAFF, COURSE)
    assert (report.period_start, report.period_end) == (PARIS_TODAY - timedelta(days=29), PARIS_TODAY)
    assert report.time_zone == "Europe/Paris"
    assert report.title == "Course report: Statistics"
    (_, since, until), *_ = reads.reads
    assert since <= PARIS_TODAY - timedelta(days=29)
    assert until >= PARIS_TODAY
    assert [p.x for p in chart(report, "active-learners").series[0].points][-1] == PARIS_TODAY


async def test_gaps_are_filled_with_zero_over_the_window() -> None:
    enrollments = [PeriodCount(date(2026, 5, 3), 7), PeriodCount(date(2026, 5, 5), 9)]
    dashboards, _ = service(empty_course(enrollments=enrollments))
    report = await dashboards.course_dashboard(STAFF, COURSE, date(2026, 5, 2), date(2026, 5, 6))
    assert values(report, "enrollments-completions", "Enrollments") == [0, 7, 0, 9, 0]
    assert values(report, "enrollments-completions", "Completions") == [0, 0, 0, 0, 0]
    assert figure(report, "Enrollments") == 16


@pytest.mark.parametrize(
    ("since", "until", "field"),
    [
        (date(2026, 5, 10), date(2026, 5, 9), "since"),
        (date(2025, 5, 1), date(2026, 5, 2), "until"),  # 367 days
        (date(2026, 6, 10), None, "since"),  # after today there
    ],
)
async def test_a_bad_window_is_refused_naming_the_field(since: date, until: date | None, field: str) -> None:
    dashboards, _ = service()
    with pytest.raises(ValidationFailed) as refused:
        await dashboards.course_dashboard(STAFF, COURSE, since, until)
    assert [e.field for e in refused.value.errors] == [field]
    with pytest.raises(ValidationFailed):
        await dashboards.platform_dashboard(SYSTEM, since, until)


async def test_a_window_of_366_days_is_accepted() -> None:
    dashboards, _ = service()
    report = await dashboards.course_dashboard(STAFF, COURSE, date(2025, 5, 2), date(2026, 5, 2))
    assert len(chart(report, "active-learners").series[0].points) == 366


# -- suppression, cell kind by cell kind -------------------------------------------------------------------


async def test_a_small_day_is_hidden_with_a_complement_and_the_total_stays() -> None:
    dashboards, _ = service(empty_course(enrollments=days(40, 3, 20, 0, 12)))
    report = await dashboards.course_dashboard(STAFF, COURSE, PARIS_TODAY - timedelta(days=4), PARIS_TODAY)
    # 3 is under k; alone it would be the total (75) less the others, so the smallest other count goes too.
    assert values(report, "enrollments-completions", "Enrollments") == [40, None, 20, 0, None]
    assert figure(report, "Enrollments") == 75
    assert chart(report, "enrollments-completions").privacy_note == (
        "2 values counting fewer than 5 learners are hidden to protect privacy."
    )


async def test_two_small_days_need_no_complement_and_a_small_total_is_hidden() -> None:
    dashboards, _ = service(empty_course(completions=days(1, 2, 0)))
    report = await dashboards.course_dashboard(STAFF, COURSE, PARIS_TODAY - timedelta(days=2), PARIS_TODAY)
    assert values(report, "enrollments-completions", "Completions") == [None, None, 0]
    assert figure(report, "Completions") is None


async def test_active_learners_and_the_time_they_spent_are_hidden_together() -> None:
    active = {Grain.DAY: days(30, 2, 25), Grain.WEEK: [PeriodCount(date(2026, 6, 1), 3)], Grain.MONTH: []}
    spent = days(36_000, 1_800, 30_000)
    dashboards, _ = service(empty_course(active_learners=active, time_spent_seconds=spent))
    report = await dashboards.course_dashboard(STAFF, COURSE, PARIS_TODAY - timedelta(days=2), PARIS_TODAY)
    assert values(report, "active-learners") == [30, None, None]
    assert values(report, "time-spent") == [10.0, None, None]  # the same cells: 2 learners' time is not shown
    assert figure(report, "Time spent") == round(67_800 / 3600, 2)
    assert figure(report, "Active learners, busiest day") == 30
    assert figure(report, "Active learners, latest week") is None  # 3 learners
    assert figure(report, "Active learners, latest month") == 0


def test_nested_stages_hide_what_subtraction_would_give_away() -> None:
    # 2 learners enrolled and never started (100 - 98): the stopped-at counts are [2, 38, 10, 10, 10, 30].
    assert nested([100, 98, 60, 50, 40, 30], 5) == [100, None, None, 50, 40, 30]
    assert nested([100, 90, 80, 70, 60, 50], 5) == [100, 90, 80, 70, 60, 50]
    assert nested([4, 3, 0, 0, 0, 0], 5) == [None, None, 0, 0, 0, 0]
    assert nested([10, 12, 3], 5) == [10, 10, None]  # read as non-increasing


async def test_the_funnel_and_the_completion_rate() -> None:
    stages = dict(zip(FunnelStage, [100, 98, 60, 50, 40, 30], strict=True))
    dashboards, _ = service(empty_course(funnel=stages))
    report = await dashboards.course_dashboard(STAFF, COURSE)
    assert values(report, "funnel") == [100, None, None, 50, 40, 30]
    assert figure(report, "Completion rate (all time)") == 30.0
    hidden = dict(zip(FunnelStage, [100, 98, 60, 50, 40, 2], strict=True))
    dashboards, _ = service(empty_course(funnel=hidden))
    report = await dashboards.course_dashboard(STAFF, COURSE)
    assert values(report, "funnel")[-1] is None
    assert figure(report, "Completion rate (all time)") is None  # it would give the 2 completions away


async def test_posts_are_hidden_where_their_posters_are() -> None:
    day = PARIS_TODAY
    discussion = [DiscussionDay(day - timedelta(days=1), 40, 9), DiscussionDay(day, 7, 1)]
    dashboards, _ = service(empty_course(discussion=discussion))
    report = await dashboards.course_dashboard(STAFF, COURSE, day - timedelta(days=2), day)
    # The one poster is hidden, and the other day (not a zero: a hidden zero beside a small count would pin it)
    # so that the posts' total, still published, does not give that poster's posts away.
    assert values(report, "discussion", "Posters") == [0, None, None]
    assert values(report, "discussion", "Posts") == [0, None, None]
    assert figure(report, "Posts") == 47


async def test_revenue_months_with_few_purchasers_are_hidden_with_a_complement() -> None:
    revenue = [
        RevenueMonth(date(2026, 3, 1), "EUR", 4 * 4900, 4),
        RevenueMonth(date(2026, 4, 1), "EUR", 50 * 4900, 50),
        RevenueMonth(date(2026, 5, 1), "EUR", 20 * 4900, 20),
        RevenueMonth(date(2026, 5, 1), "JPY", 9 * 5000, 9),
    ]
    dashboards, _ = service(empty_course(revenue=revenue))
    report = await dashboards.course_dashboard(STAFF, COURSE, date(2026, 3, 15), date(2026, 5, 31))
    assert values(report, "revenue", "EUR") == [None, 2450.0, None]
    assert values(report, "revenue", "JPY") == [0, 0, 45000.0]  # no minor unit
    assert figure(report, "Revenue (EUR)") == 74 * 49.0
    assert figure(report, "Revenue (JPY)") == 45000.0


async def test_scores_quizzes_and_videos() -> None:
    quizzes = [
        ScoreDistribution(uuid.UUID(int=70), [0, 0, 2, 10, 20, 30, 40, 30, 20, 8], 100, 60, 150),
        ScoreDistribution(uuid.UUID(int=71), [0, 0, 0, 0, 0, 5, 10, 10, 3, 0], 25, 3, 25),
    ]
    reached = [9] * 100 + [3] * 100
    video = VideoEngagement(uuid.UUID(int=80), None, 200, [12] * 100 + [3] * 100, reached)
    dashboards, _ = service(empty_course(assessments=quizzes, videos=[video]))
    report = await dashboards.course_dashboard(STAFF, COURSE)
    bins = values(report, "score-histogram")
    assert bins[2] is None
    assert bins[9] is None
    assert bins.count(None) == 2
    assert chart(report, "score-histogram").bin_width == 10.0
    outcomes = chart(report, "quiz-outcomes")
    failed = [p.value for p in outcomes.series[1].points]
    assert failed[1] is None  # 3 failed attempts
    assert sum(p.value is None for _, p in outcomes.points) >= 2  # and what would give them away
    heat = values(report, "video-heatmap")
    assert heat[:50] == [12] * 50
    assert set(heat[50:]) == {None}
    assert chart(report, "video-heatmap").bin_width == 2.0  # 200 s in at most 120 cells
    assert values(report, "video-drop-off") == [9, 9, 9, 9, 9, None, None, None, None, None, None]


async def test_a_long_video_is_drawn_in_cells_of_several_seconds() -> None:
    video = VideoEngagement(uuid.UUID(int=81), None, 7200, [50] * 7200, [50] * 7200)
    dashboards, _ = service(empty_course(videos=[video]))
    heat = chart(await dashboards.course_dashboard(STAFF, COURSE), "video-heatmap")
    assert heat.bin_width == 60.0
    assert len(heat.points) == 120


async def test_only_the_ten_most_viewed_videos_are_read_and_drawn() -> None:
    """Ties by id; a video nobody watched is drawn after the watched ones when its length is known, never
    when it is not; the read is asked for those ten only."""

    def video(n: int, viewers: int, length: int = 60) -> VideoEngagement:
        return VideoEngagement(uuid.UUID(int=(0xA0 + n) << 96), None, length, [viewers] * length, [viewers] * length)

    videos = [video(n, 20 + n) for n in range(8)] + [video(8, 40), video(9, 0, 0), video(10, 0), video(11, 0)]
    dashboards, reads = service(empty_course(videos=sorted(videos, key=lambda v: str(v.video_id))))
    report = await dashboards.course_dashboard(STAFF, COURSE)
    assert reads.video_limits == [10]
    rows = [s.name for s in chart(report, "video-heatmap").series]
    drawn = [8, 7, 6, 5, 4, 3, 2, 1, 0, 10]  # 40 viewers, then 27 down to 20, then the first unwatched by id
    assert rows == [f"Video {str(uuid.UUID(int=(0xA0 + n) << 96))[:8]}" for n in drawn]
    assert [s.name for s in chart(report, "video-drop-off").series] == rows[:5]


async def test_the_threshold_comes_from_the_setting() -> None:
    figures = empty_course(enrollments=days(40, 3, 20, 7, 12))
    lenient, _ = service(figures, k=1)
    strict, _ = service(figures, k=10)
    window = (PARIS_TODAY - timedelta(days=4), PARIS_TODAY)
    assert values(await lenient.course_dashboard(STAFF, COURSE, *window), "enrollments-completions") == [
        40,
        3,
        20,
        7,
        12,
    ]
    assert values(await strict.course_dashboard(STAFF, COURSE, *window), "enrollments-completions") == [
        40,
        None,
        20,
        None,
        12,
    ]
    with pytest.raises(ValidationFailed):
        service(figures, k=0)


async def test_the_sample_course_has_every_chart() -> None:
    dashboards, _ = service(sample_course(COURSE, until=PARIS_TODAY))
    report = await dashboards.course_dashboard(STAFF, COURSE)
    assert [c.key for c in report.charts] == COURSE_CHART_KEYS
    assert report.suppression_threshold == 5
    assert report.privacy_note
    assert all(c.suppression_threshold == 5 for c in report.charts)


async def test_the_platform_dashboard() -> None:
    top = [uuid.UUID(int=1), uuid.UUID(int=2)]
    dashboards, _ = service(platform=sample_platform(until=NOW.date(), top=top))
    report = await dashboards.platform_dashboard(PLATFORM_ADMIN)
    assert (report.period_end, report.time_zone) == (NOW.date(), "UTC")  # the platform's day, not Paris's
    assert [c.key for c in report.charts] == [
        "active-learners",
        "registrations",
        "enrollments-completions",
        "top-courses",
        "revenue",
    ]
    courses = chart(report, "top-courses")
    assert next(p.x for _, p in courses.points) == "Statistics"  # the published course's title
    assert [p.value for _, p in courses.points][-1] is None  # 2 enrollments
    assert figure(report, "Registrations") is not None


# -- who may see what --------------------------------------------------------------------------------------


async def test_course_staff_and_admins_see_the_course_dashboard() -> None:
    dashboards, _ = service()
    for who in (STAFF, ORG_ADMIN, PLATFORM_ADMIN, SYSTEM):
        assert (await dashboards.course_dashboard(who, COURSE)).charts


@pytest.mark.parametrize("who", [LEARNER, OTHER_STAFF, OTHER_ORG_ADMIN, ANONYMOUS])
async def test_others_are_refused_a_published_course_and_told_nothing_of_a_draft(who: Principal) -> None:
    dashboards, _ = service()
    with pytest.raises(PermissionDenied):
        await dashboards.course_dashboard(who, COURSE)
    with pytest.raises(PermissionDenied):
        await dashboards.course_chart(who, COURSE, "funnel")
    drafts, _ = service(status=CourseStatus.DRAFT)
    with pytest.raises(NotFound):
        await drafts.course_dashboard(who, COURSE)


async def test_an_unknown_course_or_chart_is_not_found() -> None:
    dashboards, _ = service()
    with pytest.raises(NotFound):
        await dashboards.course_dashboard(STAFF, uuid.UUID(int=404))
    with pytest.raises(NotFound):
        await dashboards.course_chart(STAFF, COURSE, "pie")
    assert (await dashboards.course_chart(STAFF, COURSE, "funnel")).key == "funnel"


@pytest.mark.parametrize("who", [STAFF, ORG_ADMIN, LEARNER, ANONYMOUS])
async def test_only_platform_admins_see_the_platform_dashboard(who: Principal) -> None:
    dashboards, _ = service()
    with pytest.raises(PermissionDenied):
        await dashboards.platform_dashboard(who)
    assert (await dashboards.platform_chart(PLATFORM_ADMIN, "registrations")).key == "registrations"
