"""Analytics reports over HTTP: a course's learners at risk, for its staff and the platform's admins.

Each learner comes with every reason found and its figures (inactive: since when and for how many days;
failing: the course grade against the minimum, the required quizzes lost; behind pace: lessons completed
against the lessons due by the share of the expected duration elapsed). The list pages in user-id order like every list
(docs/pagination.md); the thresholds are query parameters with the settings' defaults.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from elearning_core.analytics.at_risk import DAYS_MAX, AtRiskLearner, RiskReason
from elearning_core.analytics.at_risk_service import AtRiskFilter, AtRiskService
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem_responses
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged

TAGS = ["analytics"]
ERRORS = problem_responses(400, 401, 403, 404, 422)
Req = Request[Any, Any, Any]
Service = NamedDependency[AtRiskService]
Caller = NamedDependency[Principal]
CourseId = FromPath[uuid.UUID]
Reason = Annotated[
    RiskReason | None,
    QueryParameter(description="Only learners with this reason: `inactive`, `failing` or `behind_pace`."),
]
InactiveDays = Annotated[
    int | None,
    QueryParameter(
        ge=1,
        le=DAYS_MAX,
        description="Inactive after this many days without recorded activity "
        "(default: ELEARNING_ANALYTICS_INACTIVE_DAYS, 14).",
    ),
]
ExpectedDays = Annotated[
    int | None,
    QueryParameter(
        ge=1,
        le=DAYS_MAX,
        description="How many days the course is expected to take from the learner's start (their cohort's "
        "start, else their enrollment); nothing in the course stores it (default: "
        "ELEARNING_ANALYTICS_EXPECTED_COURSE_DAYS, 30).",
    ),
]


@dataclass(frozen=True, slots=True)
class InactiveOut:
    last_activity_at: dt.datetime | None
    """The latest lesson view or done mark, heartbeat, attempt or post; null: none since enrolling."""
    since: dt.datetime
    """Where the idle time is counted from: the last activity, the enrollment or the cohort's start."""
    days: int
    threshold_days: int


@dataclass(frozen=True, slots=True)
class LostItemOut:
    quiz_id: str
    title: str
    percent: float | None
    """The quiz grade; null when no attempt was submitted."""
    pass_mark_percent: float
    attempts: int
    attempts_allowed: int | None
    closes_at: dt.datetime | None
    """The close that ended the item for the learner (null when the attempts ran out first)."""


@dataclass(frozen=True, slots=True)
class FailingOut:
    grade_percent: float | None
    """The course grade so far (the gradebook total)."""
    passing_percent: float | None
    """The course's minimum grade (its completion rules); null when it sets none."""
    below_passing: bool
    lost_items: list[LostItemOut]
    """Required quizzes not passed that the learner can no longer attempt."""


@dataclass(frozen=True, slots=True)
class BehindPaceOut:
    required_completed: int
    required_lessons: int
    expected_lessons: int
    """The whole lessons due by now (the learner completed fewer)."""
    completed_percent: float
    expected_percent: float
    """The share of the expected duration elapsed since ``started_at``."""
    started_at: dt.datetime
    start: str
    """`cohort` or `enrollment`."""
    expected_days: int


@dataclass(frozen=True, slots=True)
class AtRiskLearnerOut:
    user_id: str
    display_name: str
    email: str
    enrolled_at: dt.datetime
    cohort_id: str | None
    reasons: list[str]
    inactive: InactiveOut | None
    failing: FailingOut | None
    behind_pace: BehindPaceOut | None


def at_risk_out(x: AtRiskLearner) -> AtRiskLearnerOut:
    inactive = x.inactive
    failing = x.failing
    pace = x.behind_pace
    return AtRiskLearnerOut(
        user_id=str(x.user_id),
        display_name=x.display_name,
        email=x.email,
        enrolled_at=x.enrolled_at,
        cohort_id=str(x.cohort_id) if x.cohort_id else None,
        reasons=[r.value for r in x.reasons],
        inactive=None
        if inactive is None
        else InactiveOut(inactive.last_activity_at, inactive.since, inactive.days, inactive.threshold_days),
        failing=None
        if failing is None
        else FailingOut(
            failing.grade_percent,
            failing.passing_percent,
            failing.below_passing,
            [
                LostItemOut(
                    str(i.quiz_id), i.title, i.percent, i.pass_mark_percent, i.attempts, i.attempts_allowed, i.closes_at
                )
                for i in failing.lost_items
            ],
        ),
        behind_pace=None
        if pace is None
        else BehindPaceOut(
            pace.required_completed,
            pace.required_lessons,
            pace.expected_lessons,
            pace.completed_percent,
            pace.expected_percent,
            pace.started_at,
            pace.start,
            pace.expected_days,
        ),
    )


@get(
    "/api/v1/courses/{course_id:uuid}/analytics/at-risk",
    tags=TAGS,
    summary="The course's learners at risk, with why (staff)",
    description="Learners with an active enrollment who are inactive (no lesson view, heartbeat, attempt or "
    "post for `inactive_days`), failing (the course grade below the course's minimum grade, or a required quiz "
    "not passed with no attempt left or closed) or behind pace (the share of required lessons completed below "
    "the share of `expected_days` elapsed since their cohort's start or their enrollment). Each reason with its "
    "figures; in user-id order; paged. The course's staff, organization admins and platform admins only: 403 "
    "for others who can see the course, 404 for those who cannot.",
    responses=ERRORS,
    response_headers=LINK,
)
async def at_risk_learners(
    request: Req,
    at_risk_service: Service,
    principal: Caller,
    course_id: CourseId,
    reason: Reason = None,
    inactive_days: InactiveDays = None,
    expected_days: ExpectedDays = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response[Paged[AtRiskLearnerOut]]:
    where = AtRiskFilter(reason, inactive_days, expected_days)
    page = await at_risk_service.at_risk(principal, course_id, where, cursor=cursor, limit=limit)
    return paged(request, page, at_risk_out)


ANALYTICS_REPORT_HANDLERS = [at_risk_learners]
