"""Recommendation routes: a course's similar and co-taken courses (public, published courses only), and the
caller's "next for you" list. Each item says why it is there (``reason``, ``because``, ``explanation``).
The lists are short (50 at most) and ranked; they page like every list (docs/pagination.md)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from elearning_core.recommendation.service import RecommendationService, Suggestion
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem_responses
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged

TAGS = ["recommendations"]
OPEN = {"public": True}
"""Anyone may ask what is like a published course (a credential, when sent, must still be valid)."""
READ_ERRORS = problem_responses(400, 404, 422)
MY_ERRORS = problem_responses(400, 401, 422)
Req = Request[Any, Any, Any]
Service = NamedDependency[RecommendationService]
Caller = NamedDependency[Principal]
CourseId = FromPath[uuid.UUID]


@dataclass(frozen=True, slots=True)
class CourseRef:
    id: str
    title: str


@dataclass(frozen=True, slots=True)
class RecommendationOut:
    id: str
    """The recommended course."""
    title: str
    score: float
    """The blend's score (0 for a popular pick): comparable within one list only."""
    reason: str
    """``also_taken`` (co-enrolled), ``similar`` (tags and text) or ``popular``."""
    because: CourseRef | None
    """The course this one is recommended for (one of the caller's, or the course asked about)."""
    explanation: str


def _out(s: Suggestion) -> RecommendationOut:
    because = CourseRef(str(s.because_id), s.because_title) if s.because_id and s.because_title else None
    return RecommendationOut(str(s.course_id), s.title, s.score, s.reason.value, because, s.explanation)


def _course_out(s: Suggestion) -> RecommendationOut:
    """On a course's own lists the explanation speaks of that course, not of the caller."""
    out = _out(s)
    if s.reason.value == "also_taken" and s.because_title is not None:
        explanation = f"learners who took {s.because_title} also took this"
        return RecommendationOut(out.id, out.title, out.score, out.reason, out.because, explanation)
    return out


@get(
    "/api/v1/courses/{course_id:uuid}/similar",
    tags=TAGS,
    opt=OPEN,
    summary="Courses similar to this one",
    description="Published courses most like this one by their tags and text (TF-IDF), best first; paged. "
    "From the trained read model (`recommendations.train`): empty before the first training.",
    responses=READ_ERRORS,
    response_headers=LINK,
)
async def similar_courses(
    request: Req,
    recommendation_service: Service,
    course_id: CourseId,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response[Paged[RecommendationOut]]:
    page = await recommendation_service.similar(course_id, cursor=cursor, limit=limit)
    return paged(request, page, _course_out)


@get(
    "/api/v1/courses/{course_id:uuid}/also-taken",
    tags=TAGS,
    opt=OPEN,
    summary="Learners who took this course also took",
    description="Published courses most often taken by the learners of this one (item-item cosine over "
    "enrollments, shrunk for rare pairs), best first; paged. Empty before the first training.",
    responses=READ_ERRORS,
    response_headers=LINK,
)
async def also_taken(
    request: Req,
    recommendation_service: Service,
    course_id: CourseId,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response[Paged[RecommendationOut]]:
    page = await recommendation_service.also_taken(course_id, cursor=cursor, limit=limit)
    return paged(request, page, _course_out)


@get(
    "/api/v1/me/recommendations",
    tags=TAGS,
    summary="Courses for the caller to take next",
    description="Co-taken and similar courses of the caller's own, then popular ones; never a course the "
    "caller is or was enrolled in, nor one they cannot enroll in now (closed, outside its window, full, "
    "prerequisites missing, paid without access). Each with its explanation; paged.",
    responses=MY_ERRORS,
    response_headers=LINK,
)
async def my_recommendations(
    request: Req,
    recommendation_service: Service,
    principal: Caller,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Response[Paged[RecommendationOut]]:
    page = await recommendation_service.mine(principal, cursor=cursor, limit=limit)
    return paged(request, page, _out)


RECOMMENDATION_HANDLERS = [similar_courses, also_taken, my_recommendations]
