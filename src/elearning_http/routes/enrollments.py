"""Enrollment routes: learners enroll themselves, course staff manage enrollments, cohorts and the rules.

Every refusal is a problem document. An enrollment refused by a rule of the
course is a 409 whose ``type`` names the rule (``course-full``,
``cohort-full``, ``enrollment-closed``, ``enrollment-not-open-yet``,
``enrollment-window-ended``, ``prerequisites-not-met``) and whose
``missing_prerequisites`` lists the courses still to complete.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from pydantic import ConfigDict

from elearning_core.enrollment.commands import CreateCohort, EnrollmentSettings, UpdateCohort
from elearning_core.enrollment.model import Enrollment, EnrollmentPolicy, EnrollmentRefused, EnrollmentStatus
from elearning_core.enrollment.queries import CohortView, EnrollmentFilter, EnrollmentView, LearnerEnrollmentView
from elearning_core.enrollment.service import EnrollmentService
from elearning_core.shared.errors import Unauthenticated
from elearning_core.shared.inputs import InputModel
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem, problem_responses
from elearning_http.idempotency import IDEMPOTENCY_RESPONSES, REPLAYED_HEADER, IdempotencyKey, IdempotencyMiddleware
from elearning_http.openapi import alternative
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged

ERRORS = problem_responses(400, 401, 403, 404, 409, 422)


class _Body(InputModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CohortChoice(_Body):
    cohort_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class EnrollmentOut:
    id: str
    course_id: str
    user_id: str
    cohort_id: str | None
    status: str
    source: str
    enrolled_at: dt.datetime
    completed_at: dt.datetime | None
    unenrolled_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class MyEnrollmentOut:
    """One of the caller's enrollments, with the course's title and slug."""

    id: str
    course_id: str
    course_title: str
    course_slug: str
    user_id: str
    cohort_id: str | None
    status: str
    source: str
    enrolled_at: dt.datetime
    completed_at: dt.datetime | None
    unenrolled_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class SettingsOut:
    course_id: str
    self_enrollment: bool
    capacity: int | None
    opens_at: dt.datetime | None
    closes_at: dt.datetime | None
    prerequisites: list[str]


@dataclass(frozen=True, slots=True)
class CohortOut:
    id: str
    course_id: str
    name: str
    capacity: int | None
    starts_at: dt.datetime | None
    created_at: dt.datetime
    active: int


def enrollment_out(e: Enrollment | EnrollmentView) -> EnrollmentOut:
    return EnrollmentOut(
        id=str(e.id),
        course_id=str(e.course_id),
        user_id=str(e.user_id),
        cohort_id=str(e.cohort_id) if e.cohort_id else None,
        status=e.status.value,
        source=e.source.value,
        enrolled_at=e.enrolled_at,
        completed_at=e.completed_at,
        unenrolled_at=e.unenrolled_at,
    )


def my_enrollment_out(v: LearnerEnrollmentView) -> MyEnrollmentOut:
    e = enrollment_out(v.enrollment)
    return MyEnrollmentOut(
        e.id,
        e.course_id,
        v.course_title,
        v.course_slug,
        e.user_id,
        e.cohort_id,
        e.status,
        e.source,
        e.enrolled_at,
        e.completed_at,
        e.unenrolled_at,
    )


def settings_out(p: EnrollmentPolicy) -> SettingsOut:
    return SettingsOut(
        str(p.course_id), p.self_enrollment, p.capacity, p.opens_at, p.closes_at, [str(c) for c in p.prerequisites]
    )


def cohort_out(c: CohortView) -> CohortOut:
    return CohortOut(str(c.id), str(c.course_id), c.name, c.capacity, c.starts_at, c.created_at, c.active)


def _created(enrollment: Enrollment, created: bool) -> Response[EnrollmentOut]:
    return Response(enrollment_out(enrollment), status_code=HTTP_201_CREATED if created else HTTP_200_OK)


def enrollment_refused(request: Request[Any, Any, Any], exc: EnrollmentRefused) -> Response[dict[str, Any]]:
    return problem(
        409,
        exc.detail,
        code=exc.reason.value.replace("_", "-"),
        request=request,
        reason=exc.reason.value,
        missing_prerequisites=[str(m) for m in exc.missing],
    )


CourseId = FromPath[uuid.UUID]
UserId = FromPath[uuid.UUID]
Req = Request[Any, Any, Any]
Service = NamedDependency[EnrollmentService]
Caller = NamedDependency[Principal]


class EnrollmentController(Controller):
    path = "/api/v1/courses/{course_id:uuid}"
    tags = ["enrollments"]
    exception_handlers = {EnrollmentRefused: enrollment_refused}

    # -- the caller's own enrollment -------------------------------------------------

    @post(
        "/enrollments",
        summary="Enroll (the caller)",
        responses={
            **ERRORS,
            **IDEMPOTENCY_RESPONSES,
            **alternative(HTTP_200_OK, EnrollmentOut, "Already enrolled: the enrollment"),
        },
        description="201 when enrolled, 200 with the existing enrollment when already enrolled. "
        "409 names the rule that refused it (full, closed, window, prerequisites, or for a paid course the "
        "entitlement check's reason: `payment-required`, `subscription-past-due`, `refunded`...). "
        "Takes an `Idempotency-Key` (docs/idempotency.md).",
        middleware=[IdempotencyMiddleware],
        response_headers=[REPLAYED_HEADER],
    )
    async def self_enroll(
        self,
        enrollment_service: Service,
        principal: Caller,
        course_id: CourseId,
        data: JSONBody[CohortChoice | None] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[EnrollmentOut]:
        del idempotency_key  # handled by IdempotencyMiddleware; declared for validation and the schema
        enrollment, created = await enrollment_service.self_enroll(
            principal, course_id, data.cohort_id if data else None
        )
        return _created(enrollment, created)

    @delete("/enrollments/me", status_code=HTTP_204_NO_CONTENT, summary="Leave the course", responses=ERRORS)
    async def leave(self, enrollment_service: Service, principal: Caller, course_id: CourseId) -> None:
        if principal.user_id is None:
            raise Unauthenticated("leaving a course needs a user's sign-in")
        await enrollment_service.unenroll(principal, course_id, principal.user_id)

    # -- staff -----------------------------------------------------------------------

    @get(
        "/enrollments",
        summary="The course's enrollments (staff)",
        description="In id order (oldest first); paged.",
        responses=ERRORS,
        response_headers=LINK,
    )
    async def list_enrollments(
        self,
        request: Req,
        enrollment_service: Service,
        principal: Caller,
        course_id: CourseId,
        status: Annotated[EnrollmentStatus | None, QueryParameter()] = None,
        cohort_id: Annotated[uuid.UUID | None, QueryParameter()] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[EnrollmentOut]]:
        where = EnrollmentFilter(status=status, cohort_id=cohort_id)
        page = await enrollment_service.list_enrollments(principal, course_id, where, cursor=cursor, limit=limit)
        return paged(request, page, enrollment_out)

    @put(
        "/enrollments/{user_id:uuid}",
        summary="Enroll a learner (staff)",
        responses={**ERRORS, **IDEMPOTENCY_RESPONSES, **alternative(HTTP_201_CREATED, EnrollmentOut, "Enrolled")},
        description="201 when enrolled, 200 when already enrolled. Staff bypass the window, openness and "
        "prerequisites, never the capacity. Takes an `Idempotency-Key` (docs/idempotency.md).",
        middleware=[IdempotencyMiddleware],
        response_headers=[REPLAYED_HEADER],
    )
    async def enroll(
        self,
        enrollment_service: Service,
        principal: Caller,
        course_id: CourseId,
        user_id: UserId,
        data: JSONBody[CohortChoice | None] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[EnrollmentOut]:
        del idempotency_key  # handled by IdempotencyMiddleware; declared for validation and the schema
        enrollment, created = await enrollment_service.enroll(
            principal, course_id, user_id, data.cohort_id if data else None
        )
        return _created(enrollment, created)

    @delete(
        "/enrollments/{user_id:uuid}", status_code=HTTP_204_NO_CONTENT, summary="Unenroll a learner", responses=ERRORS
    )
    async def unenroll(
        self, enrollment_service: Service, principal: Caller, course_id: CourseId, user_id: UserId
    ) -> None:
        await enrollment_service.unenroll(principal, course_id, user_id)

    @post(
        "/enrollments/{user_id:uuid}/move",
        status_code=HTTP_200_OK,
        summary="Move a learner to another cohort (null: none)",
        responses=ERRORS,
    )
    async def move(
        self,
        enrollment_service: Service,
        principal: Caller,
        course_id: CourseId,
        user_id: UserId,
        data: JSONBody[CohortChoice],
    ) -> EnrollmentOut:
        return enrollment_out(await enrollment_service.move(principal, course_id, user_id, data.cohort_id))

    # -- rules -----------------------------------------------------------------------

    @get("/enrollment-settings", summary="The course's enrollment rules", responses=ERRORS)
    async def get_settings(self, enrollment_service: Service, principal: Caller, course_id: CourseId) -> SettingsOut:
        return settings_out(await enrollment_service.get_settings(principal, course_id))

    @put("/enrollment-settings", summary="Replace the course's enrollment rules (staff)", responses=ERRORS)
    async def put_settings(
        self, enrollment_service: Service, principal: Caller, course_id: CourseId, data: JSONBody[EnrollmentSettings]
    ) -> SettingsOut:
        return settings_out(await enrollment_service.update_settings(principal, course_id, data))

    # -- cohorts ---------------------------------------------------------------------

    @get(
        "/cohorts",
        summary="The course's cohorts, with seats taken",
        description="Oldest first; paged.",
        responses=ERRORS,
        response_headers=LINK,
    )
    async def list_cohorts(
        self,
        request: Req,
        enrollment_service: Service,
        principal: Caller,
        course_id: CourseId,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[CohortOut]]:
        page = await enrollment_service.list_cohorts(principal, course_id, cursor=cursor, limit=limit)
        return paged(request, page, cohort_out)

    @post("/cohorts", status_code=HTTP_201_CREATED, summary="Create a cohort (staff)", responses=ERRORS)
    async def create_cohort(
        self, enrollment_service: Service, principal: Caller, course_id: CourseId, data: JSONBody[CreateCohort]
    ) -> CohortOut:
        return cohort_out(await enrollment_service.create_cohort(principal, course_id, data))

    @patch("/cohorts/{cohort_id:uuid}", summary="Change a cohort (staff)", responses=ERRORS)
    async def update_cohort(
        self,
        enrollment_service: Service,
        principal: Caller,
        course_id: CourseId,
        cohort_id: FromPath[uuid.UUID],
        data: JSONBody[UpdateCohort],
    ) -> CohortOut:
        return cohort_out(await enrollment_service.update_cohort(principal, course_id, cohort_id, data))

    @delete(
        "/cohorts/{cohort_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete an empty cohort (staff)",
        responses=ERRORS,
    )
    async def delete_cohort(
        self, enrollment_service: Service, principal: Caller, course_id: CourseId, cohort_id: FromPath[uuid.UUID]
    ) -> None:
        await enrollment_service.delete_cohort(principal, course_id, cohort_id)


@get(
    "/api/v1/me/enrollments",
    tags=["enrollments"],
    summary="The caller's enrollments",
    description="Newest first, each with its course's title and slug; paged.",
    responses=ERRORS,
    response_headers=LINK,
)
async def my_enrollments(
    request: Req,
    enrollment_service: Service,
    principal: Caller,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response[Paged[MyEnrollmentOut]]:
    page = await enrollment_service.my_enrollments(principal, cursor=cursor, limit=limit)
    return paged(request, page, my_enrollment_out)
