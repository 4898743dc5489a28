"""What the assessment controllers share: dependencies, path parameters, the documented errors."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.types import ExceptionHandlersMap

# Not re-exported by ``elearning_core.assessment.model`` (yet): the service imports them from here too.
from elearning_core.assessment.model import AttemptClosed, StartRefused
from elearning_core.assessment.service import AssessmentService
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem, problem_responses
from elearning_http.pagination import Cursor, Limit

__all__ = ["Cursor", "Limit"]  # the shared paging parameters, re-exported for the controllers

ERRORS = problem_responses(400, 401, 403, 404, 409, 422)

Service = NamedDependency[AssessmentService]
Caller = NamedDependency[Principal]
CourseId = FromPath[uuid.UUID]
QuestionId = FromPath[uuid.UUID]
QuizId = FromPath[uuid.UUID]
AttemptId = FromPath[uuid.UUID]
UserId = FromPath[uuid.UUID]
Req = Request[Any, Any, Any]


def start_refused(request: Request[Any, Any, Any], exc: StartRefused) -> Response[dict[str, Any]]:
    """A 409 whose ``type`` names the rule: ``quiz-not-open-yet``, ``quiz-closed``, ``no-attempts-left``,
    ``quiz-not-available``, ``quiz-cannot-be-filled`` (also when publishing)."""
    reason = exc.reason.value
    return problem(409, exc.detail, code=reason.replace("_", "-"), request=request, reason=reason)


def attempt_closed(request: Request[Any, Any, Any], exc: AttemptClosed) -> Response[dict[str, Any]]:
    """A 409 ``attempt-closed``: the attempt takes no more answers (submitted, or its time is over)."""
    return problem(409, exc.detail, code="attempt-closed", request=request)


REFUSALS: ExceptionHandlersMap = {StartRefused: start_refused, AttemptClosed: attempt_closed}
"""The assessment rules' refusals, mapped to problem types of their own (``exception_handlers``)."""
