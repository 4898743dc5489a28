"""``/api/v1/plans``: the subscription plans on offer (public), with their prices per currency in minor
units and what each includes. Staff with billing.manage also see drafts and archived plans (or those of
one ``status``); to everyone else a plan that is not active does not exist."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_core.shared.ports import Principal
from elearning_core.subscription.model import Plan, PlanStatus
from elearning_core.subscription.service import PlanService
from elearning_http.errors import problem_responses
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged

ERRORS = problem_responses(400, 403, 404, 422)
TAGS = ["plans"]
OPEN = {"public": True}

Req = Request[Any, Any, Any]
Service = NamedDependency[PlanService]
Caller = NamedDependency[Principal]


@dataclass(frozen=True, slots=True)
class PriceOut:
    currency: str
    amount: int
    """Minor units (cents for EUR, yen for JPY): never a float."""


@dataclass(frozen=True, slots=True)
class IncludesOut:
    all_courses: bool
    course_ids: list[str]
    path_ids: list[str]


@dataclass(frozen=True, slots=True)
class PlanOut:
    code: str
    name: str
    description: str
    interval: str
    """month or year."""
    interval_count: int
    trial_days: int
    prices: list[PriceOut]
    tax_inclusive: bool
    includes: IncludesOut
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime


def plan_out(plan: Plan) -> PlanOut:
    inc = plan.includes
    return PlanOut(
        plan.code,
        plan.name,
        plan.description,
        plan.interval.value,
        plan.interval_count,
        plan.trial_days,
        [PriceOut(p.currency, p.amount) for p in plan.prices],
        plan.tax_inclusive,
        IncludesOut(inc.all_courses, [str(c) for c in inc.course_ids], [str(p) for p in inc.path_ids]),
        plan.status.value,
        plan.created_at,
        plan.updated_at,
    )


@get(
    "/api/v1/plans",
    tags=TAGS,
    opt=OPEN,
    summary="List the subscription plans on offer",
    description="Active plans in code order, with prices per currency (minor units) and what each includes; "
    "staff with billing.manage also see drafts and archived plans, or those of one `status`; paged "
    "(docs/pagination.md).",
    responses=ERRORS,
    response_headers=LINK,
)
async def list_plans(
    request: Req,
    plan_service: Service,
    principal: Caller,
    status: Annotated[PlanStatus | None, QueryParameter()] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response[Paged[PlanOut]]:
    page = await plan_service.plans(principal, status=status, cursor=cursor, limit=limit)
    return paged(request, page, plan_out)


@get(
    "/api/v1/plans/{code:str}",
    tags=TAGS,
    opt=OPEN,
    summary="Get a subscription plan by its code",
    description="404 for an unknown plan, and for a draft or archived one unless the caller has billing.manage.",
    responses=ERRORS,
)
async def get_plan(plan_service: Service, principal: Caller, code: FromPath[str]) -> PlanOut:
    return plan_out(await plan_service.plan(principal, code))


PLAN_HANDLERS = [list_plans, get_plan]
