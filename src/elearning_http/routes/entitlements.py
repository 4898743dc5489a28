"""Entitlement routes: the caller's entitlements, the caller's verdict for one course, and a course's offer
(how it is sold), which its staff read and set.

A refusal is an answer here, not an error: ``GET .../entitlement`` says 200 with the reason
(``payment-required``, ``subscription-past-due``, ...), which is what a client shows beside its buy button.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from elearning_core.entitlement.commands import SetOffer
from elearning_core.entitlement.model import CourseOffer, Grant, Verdict
from elearning_core.entitlement.service import CourseEntitlement, EntitlementService
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem_responses
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged

ERRORS = problem_responses(400, 401, 403, 404, 422)
TAGS = ["entitlements"]

Req = Request[Any, Any, Any]
Service = NamedDependency[EntitlementService]
Caller = NamedDependency[Principal]


@dataclass(frozen=True, slots=True)
class VerdictOut:
    """May the caller access the course now, and why (``refusal`` null when allowed)."""

    course_id: str
    allowed: bool
    source: str | None
    """staff, free, grandfathered, purchased, subscription, organization_seat or audit."""
    track: str | None
    """full (content, graded work, certificate) or audit (content only)."""
    until: dt.datetime | None
    refusal: str | None


@dataclass(frozen=True, slots=True)
class GrantOut:
    id: str
    course_id: str
    source: str
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    reference: str


@dataclass(frozen=True, slots=True)
class CourseEntitlementOut:
    course_id: str
    verdict: VerdictOut
    grants: list[GrantOut]


@dataclass(frozen=True, slots=True)
class OfferOut:
    course_id: str
    paid: bool
    audit_track: bool
    paid_since: dt.datetime | None
    """When the course first became paid: learners enrolled before keep their access."""


def _verdict(course_id: uuid.UUID, v: Verdict) -> VerdictOut:
    return VerdictOut(
        str(course_id),
        v.allowed,
        v.source.value if v.source else None,
        v.track.value if v.track else None,
        v.until,
        v.refusal.value if v.refusal else None,
    )


def _grant(g: Grant) -> GrantOut:
    return GrantOut(str(g.id), str(g.course_id), g.source.value, g.status.value, g.starts_at, g.ends_at, g.reference)


def _course_entitlement(row: CourseEntitlement) -> CourseEntitlementOut:
    return CourseEntitlementOut(
        str(row.course_id), _verdict(row.course_id, row.verdict), [_grant(g) for g in row.grants]
    )


def _offer(o: CourseOffer) -> OfferOut:
    return OfferOut(str(o.course_id), o.paid, o.audit_track, o.paid_since)


@get(
    "/api/v1/me/entitlements",
    tags=TAGS,
    summary="The caller's entitlements",
    description="One item per course the caller holds a grant or an enrollment in (course id order): the verdict "
    "now and the grants behind it, lapsed ones included; paged.",
    responses=ERRORS,
    response_headers=LINK,
)
async def my_entitlements(
    request: Req,
    entitlement_service: Service,
    principal: Caller,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response[Paged[CourseEntitlementOut]]:
    page = await entitlement_service.mine(principal, cursor=cursor, limit=limit)
    return paged(request, page, _course_entitlement)


@get(
    "/api/v1/courses/{course_id:uuid}/entitlement",
    tags=TAGS,
    summary="May the caller access this course now, and why",
    description="Allowed: the source (staff, free, grandfathered, purchased, subscription, organization_seat, "
    "audit), the track and when it ends. Refused: the reason (payment-required, subscription-past-due, "
    "subscription-canceled, refunded, seat-revoked, entitlement-expired).",
    responses=ERRORS,
)
async def course_entitlement(
    entitlement_service: Service, principal: Caller, course_id: FromPath[uuid.UUID]
) -> VerdictOut:
    return _verdict(course_id, await entitlement_service.check(principal, course_id))


@get(
    "/api/v1/courses/{course_id:uuid}/offer",
    tags=TAGS,
    summary="How the course is sold (staff with course.edit, admins)",
    description="A course with no offer recorded is free.",
    responses=ERRORS,
)
async def get_course_offer(entitlement_service: Service, principal: Caller, course_id: FromPath[uuid.UUID]) -> OfferOut:
    return _offer(await entitlement_service.offer(principal, course_id))


@put(
    "/api/v1/courses/{course_id:uuid}/offer",
    tags=TAGS,
    summary="Set how the course is sold (staff with course.edit, admins)",
    description="Making a course paid records `paid_since` the first time; it is kept when the course is free "
    "again, so learners enrolled before the first price stay grandfathered (docs/modules/entitlement.md).",
    responses=ERRORS,
)
async def put_course_offer(
    entitlement_service: Service, principal: Caller, course_id: FromPath[uuid.UUID], data: JSONBody[SetOffer]
) -> OfferOut:
    return _offer(await entitlement_service.set_offer(principal, course_id, data))


ENTITLEMENT_HANDLERS = [my_entitlements, course_entitlement, get_course_offer, put_course_offer]
