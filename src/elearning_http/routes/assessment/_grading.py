"""Grading and the gradebook: the queue of items waiting for a person, manual grades, feedback,
the course's grading scheme, the gradebook (JSON and CSV), a learner's own grades, item statistics.

Reading needs ``grade.view_all`` on the course and writing ``grade.edit`` (instructors and teaching
assistants); the grading scheme is authoring (``course.edit``); ``my-grades`` is the caller's own row.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, get, put
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from elearning_core.assessment.commands import AttemptFeedback, GradingSchemeInput, ManualGrade
from elearning_core.assessment.model import GradingScheme, ItemStatistic
from elearning_core.assessment.queries import Gradebook, QueueEntry, gradebook_csv
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_http.pagination import LINK, Paged, paged
from elearning_http.routes.assessment._common import (
    ERRORS,
    AttemptId,
    Caller,
    CourseId,
    Cursor,
    Limit,
    QuestionId,
    QuizId,
    Req,
    Service,
)
from elearning_http.routes.assessment._schemas import (
    AttemptOut,
    attempt_out,
)

CSV = "text/csv"
"""Served as ``text/csv; charset=utf-8`` (Litestar adds the charset of text types)."""


class GradingController(Controller):
    path = "/api/v1"
    tags = ["assessment: grading"]

    @get(
        "/courses/{course_id:uuid}/grading-queue",
        summary="Items waiting for a person's grade, oldest submission first",
        responses=ERRORS,
        description="Essays, and items whose automatic scoring could not decide (a pattern that timed out). "
        "Course staff (grade.view_all). Paged.",
        response_headers=LINK,
    )
    async def grading_queue(
        self,
        request: Req,
        assessment_service: Service,
        principal: Caller,
        course_id: CourseId,
        quiz_id: Annotated[uuid.UUID | None, QueryParameter(description="Only this quiz's items")] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[QueueEntry]]:
        page = await assessment_service.grading_queue(principal, course_id, quiz_id=quiz_id, cursor=cursor, limit=limit)
        return paged(request, page)

    @put(
        "/attempts/{attempt_id:uuid}/items/{question_id:uuid}/grade",
        summary="Grade one item of a submitted attempt",
        responses=ERRORS,
        description="An essay by its rubric (`rubric`: criterion id -> level index), or any item by `points` "
        "(an override). The last item pending grades the attempt; grading an item of a graded attempt again "
        "changes its grade. Course staff (grade.edit).",
    )
    async def grade_item(
        self,
        assessment_service: Service,
        principal: Caller,
        attempt_id: AttemptId,
        question_id: QuestionId,
        data: JSONBody[ManualGrade],
    ) -> AttemptOut:
        return attempt_out(await assessment_service.grade_item(principal, attempt_id, question_id, data))

    @put(
        "/attempts/{attempt_id:uuid}/feedback",
        summary="Set the feedback on a whole attempt",
        responses=ERRORS,
    )
    async def attempt_feedback(
        self, assessment_service: Service, principal: Caller, attempt_id: AttemptId, data: JSONBody[AttemptFeedback]
    ) -> AttemptOut:
        return attempt_out(await assessment_service.attempt_feedback(principal, attempt_id, data))

    @get(
        "/quizzes/{quiz_id:uuid}/statistics",
        summary="Item statistics of a quiz (facility, discrimination)",
        responses=ERRORS,
        description="Per question (in question-id order), over the graded attempts. Course staff "
        "(grade.view_all). Paged.",
        response_headers=LINK,
    )
    async def item_statistics(
        self,
        request: Req,
        assessment_service: Service,
        principal: Caller,
        quiz_id: QuizId,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[ItemStatistic]]:
        return paged(request, await assessment_service.item_statistics(principal, quiz_id, cursor=cursor, limit=limit))


class GradebookController(Controller):
    path = "/api/v1/courses/{course_id:uuid}"
    tags = ["assessment: gradebook"]

    @get("/grading-scheme", summary="The course's gradebook categories and weights", responses=ERRORS)
    async def get_grading_scheme(
        self, assessment_service: Service, principal: Caller, course_id: CourseId
    ) -> GradingScheme:
        return await assessment_service.get_grading_scheme(principal, course_id)

    @put(
        "/grading-scheme",
        summary="Replace the course's gradebook categories",
        responses=ERRORS,
        description="Each category has a relative weight and may drop a learner's lowest grades. A quiz whose "
        "category is not listed counts in a category of weight 1 named after it.",
    )
    async def put_grading_scheme(
        self, assessment_service: Service, principal: Caller, course_id: CourseId, data: JSONBody[GradingSchemeInput]
    ) -> GradingScheme:
        return await assessment_service.set_grading_scheme(principal, course_id, data)

    @get(
        "/gradebook",
        summary="The gradebook: every learner by every published quiz, categories and total",
        responses=ERRORS,
        description="Course staff (grade.view_all). Grades in percent, the late deduction applied.",
    )
    async def gradebook(self, assessment_service: Service, principal: Caller, course_id: CourseId) -> Gradebook:
        return await assessment_service.gradebook(principal, course_id)

    @get(
        "/gradebook.csv",
        summary="The gradebook as CSV",
        media_type=CSV,
        responses=ERRORS,
        description="One row per learner: user id, name, email, a column per quiz, per category, and the total "
        "(2 decimals; blank for no grade). Served as an attachment.",
    )
    async def gradebook_csv(self, assessment_service: Service, principal: Caller, course_id: CourseId) -> Response[str]:
        book = await assessment_service.gradebook(principal, course_id)
        return Response(
            gradebook_csv(book),
            status_code=HTTP_200_OK,
            media_type=CSV,
            headers={"Content-Disposition": f'attachment; filename="gradebook-{course_id}.csv"'},
        )

    @get(
        "/my-grades",
        summary="The caller's own grades in the course",
        responses=ERRORS,
        description="An enrolled learner's row of the gradebook.",
    )
    async def my_grades(self, assessment_service: Service, principal: Caller, course_id: CourseId) -> Gradebook:
        return await assessment_service.my_grades(principal, course_id)
