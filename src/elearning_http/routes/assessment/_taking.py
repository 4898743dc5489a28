"""Taking a quiz: start (idempotent), autosave answers, submit (exactly once), read attempts.

Learners act on their own attempts; another learner's attempt is "not found". Course staff
(``grade.view_all``) read anyone's. Starting needs no ``Idempotency-Key``: an attempt in progress
is returned as it is (200) instead of a second one being created (201).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, get, post, put
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from elearning_core.assessment.commands import SaveAnswer
from elearning_core.assessment.queries import AttemptSummary
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_http.openapi import alternative
from elearning_http.pagination import LINK, Paged, paged
from elearning_http.routes.assessment._common import (
    ERRORS,
    REFUSALS,
    AttemptId,
    Caller,
    Cursor,
    Limit,
    QuestionId,
    QuizId,
    Req,
    Service,
)
from elearning_http.routes.assessment._schemas import (
    AttemptOut,
    SubmittedAttemptOut,
    attempt_out,
    submitted_out,
)


class AttemptController(Controller):
    path = "/api/v1"
    tags = ["assessment: attempts"]
    exception_handlers = REFUSALS

    @post(
        "/quizzes/{quiz_id:uuid}/attempts",
        summary="Start an attempt (or get the one in progress)",
        status_code=HTTP_201_CREATED,
        responses={**ERRORS, **alternative(HTTP_200_OK, AttemptOut, "The attempt already in progress")},
        description="Enrolled learners (and staff, for a preview) of a published quiz. 201 with a new attempt; "
        "200 with the attempt already in progress (a double click, a retry, another device). 409 outside the "
        "quiz's window or past the attempt limit.",
    )
    async def start_attempt(
        self, assessment_service: Service, principal: Caller, quiz_id: QuizId
    ) -> Response[AttemptOut]:
        view, created = await assessment_service.start_attempt(principal, quiz_id)
        return Response(attempt_out(view), status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get(
        "/quizzes/{quiz_id:uuid}/attempts",
        summary="Attempts at a quiz",
        responses=ERRORS,
        description="A learner gets their own; staff (grade.view_all) anyone's (`user_id`), or all. "
        "In id order (oldest first); paged.",
        response_headers=LINK,
    )
    async def list_attempts(
        self,
        request: Req,
        assessment_service: Service,
        principal: Caller,
        quiz_id: QuizId,
        user_id: Annotated[uuid.UUID | None, QueryParameter(description="Only this learner's attempts")] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[AttemptSummary]]:
        page = await assessment_service.list_attempts(principal, quiz_id, user_id=user_id, cursor=cursor, limit=limit)
        return paged(request, page)

    @get(
        "/attempts/{attempt_id:uuid}",
        summary="An attempt with its questions and saved answers",
        responses=ERRORS,
        description="The answer key, per-item scores and feedback only once the quiz's `answer_review` allows "
        "(always for staff).",
    )
    async def get_attempt(self, assessment_service: Service, principal: Caller, attempt_id: AttemptId) -> AttemptOut:
        return attempt_out(await assessment_service.view_attempt(principal, attempt_id))

    @put(
        "/attempts/{attempt_id:uuid}/answers/{question_id:uuid}",
        summary="Save the answer to one question (autosave)",
        responses=ERRORS,
        description="Idempotent: the last write per question wins. The response's shape depends on the kind "
        '(e.g. `{"choice": "b"}`, `{"value": 3.14}`); a wrong shape or an unknown id is a 422 naming the field '
        "under `response`. 409 once the attempt is submitted or its time (with grace) is over.",
    )
    async def save_answer(
        self,
        assessment_service: Service,
        principal: Caller,
        attempt_id: AttemptId,
        question_id: QuestionId,
        data: JSONBody[SaveAnswer],
    ) -> AttemptOut:
        return attempt_out(await assessment_service.save_answer(principal, attempt_id, question_id, data))

    @post(
        "/attempts/{attempt_id:uuid}/submit",
        status_code=HTTP_200_OK,
        summary="Submit an attempt (exactly once)",
        responses=ERRORS,
        description="Grades every item that scores itself. Submitting again changes nothing: the same attempt "
        "comes back with `submitted_now: false`.",
    )
    async def submit_attempt(
        self, assessment_service: Service, principal: Caller, attempt_id: AttemptId
    ) -> SubmittedAttemptOut:
        view, submitted_now = await assessment_service.submit_attempt(principal, attempt_id)
        return submitted_out(view, submitted_now)
