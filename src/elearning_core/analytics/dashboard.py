"""Course and platform dashboards (issue 18, point 4): key figures and charts over a window of days, built
from the aggregates (``AggregateReads``, never the statements), with every cell that counts fewer than k
learners hidden (point 5).

Who sees what: a course's dashboard is for its staff (grade viewing on the course: its instructors and
teaching assistants, its organization's admins, platform admins; the at-risk list's rule), the platform's
for platform admins. Learners get no dashboard: their own statements are readable through the LRS
(``GET /xapi/statements`` with their own agent) and their progress through the progress module.

The window is a span of whole days in the course organization's time zone (the aggregates' days): by
default the last 30 days to today there; ``since <= until`` and at most 366 days.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from elearning_core.analytics._dashboard_report import HEATMAP_VIDEOS, Window, course_report, platform_report
from elearning_core.analytics.aggregates import AggregateReads
from elearning_core.analytics.aggregating import zone_of
from elearning_core.analytics.at_risk_service import require_course_staff
from elearning_core.analytics.charts import Chart, Report
from elearning_core.analytics.privacy import check_k
from elearning_core.auth.model import Permission
from elearning_core.auth.ports import ResourceDirectory
from elearning_core.course.gating import PublishedOutlines
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from elearning_core.shared.ports import Policy, Principal

DEFAULT_DAYS = 30
MAX_DAYS = 366


def check_window(since: date | None, until: date | None) -> None:
    """What can be refused before the time zone is known: an explicit window backwards or too long."""
    if since is not None and until is not None:
        _check(since, until)


def _check(since: date, until: date) -> None:
    if since > until:
        raise ValidationFailed("since must be on or before until", [FieldError("since", "after until")])
    if (until - since).days + 1 > MAX_DAYS:
        raise ValidationFailed(
            f"the window is at most {MAX_DAYS} days", [FieldError("until", f"more than {MAX_DAYS} days after since")]
        )


def _fetch_span(since: date | None, until: date | None, now: datetime) -> tuple[date, date]:
    """The days to read before the time zone is known: the window, or a day either side of today's UTC date
    for a default end (every zone's today is within it); from the week's and month's first day, so the
    latest week and month and the first month's revenue are read whole."""
    today = now.date()
    hi = until if until is not None else today + timedelta(days=1)
    lo = since if since is not None else hi - timedelta(days=DEFAULT_DAYS + 1)
    return min(lo.replace(day=1), lo - timedelta(days=lo.weekday())), hi


def resolve_window(since: date | None, until: date | None, now: datetime, time_zone: str) -> Window:
    today = now.astimezone(ZoneInfo(time_zone)).date()
    end = until if until is not None else today
    start = since if since is not None else end - timedelta(days=DEFAULT_DAYS - 1)
    _check(start, end)
    return Window(start, end, time_zone)


class DashboardService:
    """``k``: the small-cell threshold (ELEARNING_ANALYTICS_SUPPRESSION_K)."""

    def __init__(
        self,
        aggregates: AggregateReads,
        resources: ResourceDirectory,
        outlines: PublishedOutlines,
        clock: Clock,
        policy: Policy,
        *,
        k: int,
    ) -> None:
        self._aggregates, self._resources, self._outlines = aggregates, resources, outlines
        self._clock, self._policy = clock, policy
        self.k = check_k(k)

    async def course_dashboard(
        self, actor: Principal, course_id: uuid.UUID, since: date | None = None, until: date | None = None
    ) -> Report:
        check_window(since, until)
        await require_course_staff(self._resources, self._outlines, self._policy, actor, course_id)
        now = self._clock.now()
        lo, hi = _fetch_span(since, until, now)
        aggregates = await self._aggregates.course(course_id, lo, hi, videos=HEATMAP_VIDEOS)  # all it draws
        if aggregates is None:
            raise NotFound("course", course_id)
        window = resolve_window(since, until, now, zone_of(aggregates.time_zone).key)
        outline = await self._outlines.published_outline(course_id)
        lessons = [lesson for section in outline.sections for lesson in section.lessons] if outline else []
        return course_report(
            aggregates,
            window,
            self.k,
            now,
            title=f"Course report: {outline.title}" if outline else f"Course report: {course_id}",
            lesson_titles={lesson.id: lesson.title for lesson in lessons},
            quiz_titles={lesson.assessment_id: lesson.title for lesson in lessons if lesson.assessment_id},
        )

    async def platform_dashboard(
        self, actor: Principal, since: date | None = None, until: date | None = None
    ) -> Report:
        check_window(since, until)
        self.require_platform_admin(actor)
        now = self._clock.now()
        lo, hi = _fetch_span(since, until, now)
        aggregates = await self._aggregates.platform(lo, hi)
        window = resolve_window(since, until, now, zone_of(aggregates.time_zone).key)
        titles: dict[uuid.UUID, str] = {}
        for course_id, _ in aggregates.top_courses:
            outline = await self._outlines.published_outline(course_id)  # cached reads, at most 20
            if outline is not None:
                titles[course_id] = outline.title
        return platform_report(aggregates, window, self.k, now, course_titles=titles)

    async def course_chart(
        self, actor: Principal, course_id: uuid.UUID, key: str, since: date | None = None, until: date | None = None
    ) -> Chart:
        return chart_of(await self.course_dashboard(actor, course_id, since, until), key)

    async def platform_chart(
        self, actor: Principal, key: str, since: date | None = None, until: date | None = None
    ) -> Chart:
        return chart_of(await self.platform_dashboard(actor, since, until), key)

    def require_platform_admin(self, actor: Principal) -> None:
        """Platform admins only: organization management on the platform is theirs alone."""
        decision = self._policy.authorize(actor, Permission.ORGANIZATION_MANAGE)
        if not decision.allowed:
            raise PermissionDenied("view the platform dashboard", decision.reason)


def chart_of(report: Report, key: str) -> Chart:
    for chart in report.charts:
        if chart.key == key:
            return chart
    raise NotFound("chart", key)
