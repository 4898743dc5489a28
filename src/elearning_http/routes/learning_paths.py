"""``/api/v1/learning-paths``: programs of courses (public reads, authoring, enrollment, the learner's progress).

Reads are public: published (and archived) paths to everyone, drafts only to
authors (anyone else gets a 404). Authoring needs ``course.create`` on the
platform (see ``elearning_core.learning_path.service``). Enrolling answers at
once; the enrollments into the path's courses follow through events, and the
path's progress shows each course as enrolled, refused (with the rule that
refused it), or not yet decided.
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

from elearning_core.learning_path.commands import CreatePath, SetStructure, UpdatePath
from elearning_core.learning_path.model import LearningPath, PathEnrollment, PathEnrollmentRefused, PathStatus
from elearning_core.learning_path.queries import PathProgressView
from elearning_core.learning_path.service import LearningPathService
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem, problem_responses
from elearning_http.openapi import alternative
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged

READ_ERRORS = problem_responses(400, 404, 422)
WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 422)
OPEN = {"public": True}

PathId = FromPath[uuid.UUID]
Req = Request[Any, Any, Any]
Service = NamedDependency[LearningPathService]
Caller = NamedDependency[Principal]


@dataclass(frozen=True, slots=True)
class PartOut:
    kind: str
    title: str
    course_ids: list[str]
    required_count: int
    """How many of the part's courses to complete: all of them for a required part, N of an elective's N-of-M."""


@dataclass(frozen=True, slots=True)
class LearningPathOut:
    id: str
    slug: str
    title: str
    description: str
    status: str
    parts: list[PartOut]
    prerequisites: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    published_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class PathEnrollmentOut:
    id: str
    path_id: str
    user_id: str
    enrolled_at: dt.datetime
    completed_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class PathCourseOut:
    course_id: str
    title: str | None
    completed: bool
    enrollment: str | None
    """``enrolled``, ``refused`` (``refusal_reason`` names the rule), or null while pending."""
    refusal_reason: str | None
    refusal_detail: str | None


@dataclass(frozen=True, slots=True)
class PartProgressOut:
    kind: str
    title: str
    required_count: int
    completed_count: int
    satisfied: bool
    courses: list[PathCourseOut]


@dataclass(frozen=True, slots=True)
class PathProgressOut:
    path_id: str
    path_slug: str
    path_title: str
    enrollment_id: str
    enrolled_at: dt.datetime
    completed: bool
    """Whether the path's completion is recorded (it stays recorded after a later reset of a course)."""
    completed_at: dt.datetime | None
    rules_satisfied: bool
    """Whether the courses completed now satisfy every part."""
    parts_satisfied: int
    parts: list[PartProgressOut]


def path_out(p: LearningPath) -> LearningPathOut:
    return LearningPathOut(
        id=str(p.id),
        slug=p.slug,
        title=p.title,
        description=p.description,
        status=p.status.value,
        parts=[PartOut(x.kind.value, x.title, [str(c) for c in x.course_ids], x.required_count) for x in p.parts],
        prerequisites=[str(c) for c in p.prerequisites],
        created_at=p.created_at,
        updated_at=p.updated_at,
        published_at=p.published_at,
    )


def enrollment_out(e: PathEnrollment) -> PathEnrollmentOut:
    return PathEnrollmentOut(str(e.id), str(e.path_id), str(e.user_id), e.enrolled_at, e.completed_at)


def progress_out(v: PathProgressView) -> PathProgressOut:
    return PathProgressOut(
        path_id=str(v.path_id),
        path_slug=v.path_slug,
        path_title=v.path_title,
        enrollment_id=str(v.enrollment_id),
        enrolled_at=v.enrolled_at,
        completed=v.completed_at is not None,
        completed_at=v.completed_at,
        rules_satisfied=v.rules_satisfied,
        parts_satisfied=v.parts_satisfied,
        parts=[
            PartProgressOut(
                p.kind.value,
                p.title,
                p.required_count,
                p.completed_count,
                p.satisfied,
                [
                    PathCourseOut(
                        str(c.course_id), c.title, c.completed, c.enrollment, c.refusal_reason, c.refusal_detail
                    )
                    for c in p.courses
                ],
            )
            for p in v.parts
        ],
    )


def enrollment_refused(request: Req, exc: PathEnrollmentRefused) -> Response[dict[str, Any]]:
    return problem(
        409,
        exc.detail,
        code=exc.reason.replace("_", "-"),
        request=request,
        reason=exc.reason,
        missing_prerequisites=[str(m) for m in exc.missing],
    )


class LearningPathController(Controller):
    path = "/api/v1/learning-paths"
    tags = ["learning paths"]
    exception_handlers = {PathEnrollmentRefused: enrollment_refused}

    # -- reads -----------------------------------------------------------------------

    @get(
        "/",
        opt=OPEN,
        summary="List learning paths",
        description="Published paths, oldest first; authors also see drafts and archived ones "
        "(or those of one `status`); paged (docs/pagination.md).",
        responses=READ_ERRORS,
        response_headers=LINK,
    )
    async def list_paths(
        self,
        request: Req,
        learning_path_service: Service,
        principal: Caller,
        status: Annotated[PathStatus | None, QueryParameter()] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[LearningPathOut]]:
        page = await learning_path_service.list_paths(principal, status, cursor=cursor, limit=limit)
        return paged(request, page, path_out)

    @get("/{path_id:uuid}", opt=OPEN, summary="Get a learning path", responses=READ_ERRORS)
    async def get_path(self, learning_path_service: Service, principal: Caller, path_id: PathId) -> LearningPathOut:
        return path_out(await learning_path_service.get(principal, path_id))

    @get("/by-slug/{slug:str}", opt=OPEN, summary="Get a learning path by its slug", responses=READ_ERRORS)
    async def get_by_slug(
        self,
        learning_path_service: Service,
        principal: Caller,
        slug: FromPath[str],
    ) -> LearningPathOut:
        return path_out(await learning_path_service.get_by_slug(principal, slug))

    # -- authoring -------------------------------------------------------------------

    @post("/", status_code=HTTP_201_CREATED, summary="Create a draft learning path (authors)", responses=WRITE_ERRORS)
    async def create_path(
        self, learning_path_service: Service, principal: Caller, data: JSONBody[CreatePath]
    ) -> LearningPathOut:
        return path_out(await learning_path_service.create(principal, data))

    @patch("/{path_id:uuid}", summary="Change a path's title, slug or description (authors)", responses=WRITE_ERRORS)
    async def update_path(
        self, learning_path_service: Service, principal: Caller, path_id: PathId, data: JSONBody[UpdatePath]
    ) -> LearningPathOut:
        return path_out(await learning_path_service.update(principal, path_id, data))

    @put(
        "/{path_id:uuid}/structure",
        summary="Replace a draft's parts and prerequisites (authors)",
        description="Parts in order: `required` (every course) or `elective` (any `required_count` of its "
        "courses). A course appears once in a path and is never also its prerequisite; every course must exist. "
        "409 once the path is published.",
        responses=WRITE_ERRORS,
    )
    async def set_structure(
        self, learning_path_service: Service, principal: Caller, path_id: PathId, data: JSONBody[SetStructure]
    ) -> LearningPathOut:
        return path_out(await learning_path_service.set_structure(principal, path_id, data))

    @post(
        "/{path_id:uuid}/publish",
        status_code=HTTP_200_OK,
        summary="Publish a draft path (authors)",
        description="409 when it has no parts, or a course of the path or a prerequisite is not published.",
        responses=WRITE_ERRORS,
    )
    async def publish(self, learning_path_service: Service, principal: Caller, path_id: PathId) -> LearningPathOut:
        return path_out(await learning_path_service.publish(principal, path_id))

    @post(
        "/{path_id:uuid}/archive",
        status_code=HTTP_200_OK,
        summary="Archive a published path (authors): no new enrollments, learners keep their progress",
        responses=WRITE_ERRORS,
    )
    async def archive(self, learning_path_service: Service, principal: Caller, path_id: PathId) -> LearningPathOut:
        return path_out(await learning_path_service.archive(principal, path_id))

    @delete(
        "/{path_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a draft path (authors)",
        responses=WRITE_ERRORS,
    )
    async def delete_path(self, learning_path_service: Service, principal: Caller, path_id: PathId) -> None:
        await learning_path_service.delete(principal, path_id)

    # -- the caller's enrollment -----------------------------------------------------

    @post(
        "/{path_id:uuid}/enrollment",
        summary="Enroll in the path (the caller)",
        description="201 when enrolled, 200 with the existing enrollment when already enrolled; 409 "
        "`path-not-published`, or `path-prerequisites-not-met` with the `missing_prerequisites`. The enrollments into the path's "
        "courses follow through events, each under its course's rules; `GET .../progress` shows them "
        "(and any refusal, with its reason).",
        responses={**WRITE_ERRORS, **alternative(HTTP_200_OK, PathEnrollmentOut, "Already enrolled: the enrollment")},
    )
    async def enroll(
        self, learning_path_service: Service, principal: Caller, path_id: PathId
    ) -> Response[PathEnrollmentOut]:
        enrollment, created = await learning_path_service.enroll(principal, path_id)
        return Response(enrollment_out(enrollment), status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get(
        "/{path_id:uuid}/progress",
        summary="The caller's progress on the path",
        description="Per part: how many courses are completed and whether its rule is satisfied; per course: "
        "completed, and enrolled or refused (with the rule). 404 when the caller is not enrolled.",
        responses=problem_responses(400, 401, 404, 422),
    )
    async def progress(self, learning_path_service: Service, principal: Caller, path_id: PathId) -> PathProgressOut:
        return progress_out(await learning_path_service.progress(principal, path_id))


@get(
    "/api/v1/me/learning-paths",
    tags=["learning paths"],
    summary="The caller's learning paths, with their progress",
    description="Oldest enrollment first; paged.",
    responses=problem_responses(400, 401, 422),
    response_headers=LINK,
)
async def my_learning_paths(
    request: Req,
    learning_path_service: Service,
    principal: Caller,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response[Paged[PathProgressOut]]:
    page = await learning_path_service.my_paths(principal, cursor=cursor, limit=limit)
    return paged(request, page, progress_out)
