"""Authoring: the question bank, quizzes, per-learner extensions, regrades, import and export.

Everything here needs ``course.edit`` on the course (its instructors), except reading quizzes:
enrolled learners list and read the published ones. The permission is checked by the use cases.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, post, put
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from elearning_core.assessment.commands import ExtensionInput, QuestionInput, QuizDocument, QuizSettings, Regrade
from elearning_core.assessment.model import TAG, Extension
from elearning_core.assessment.queries import QuestionSummary, QuizSummary, RegradeReport
from elearning_core.shared.inputs import INT32_MAX
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_http.pagination import LINK, Paged, paged
from elearning_http.routes.assessment._common import (
    ERRORS,
    REFUSALS,
    Caller,
    CourseId,
    Cursor,
    Limit,
    QuestionId,
    QuizId,
    Req,
    Service,
    UserId,
)
from elearning_http.routes.assessment._schemas import QuestionOut, QuizOut, question_out, quiz_out


class QuestionController(Controller):
    path = "/api/v1"
    tags = ["assessment: questions"]

    @post(
        "/courses/{course_id:uuid}/questions",
        status_code=HTTP_201_CREATED,
        summary="Add a question to the course's bank",
        responses=ERRORS,
        description="Course instructors (course.edit). `body` is the kind-specific answer key, "
        "a union on `kind`; an inconsistent key (a correct id that is no option, a bad pattern) is a 422 "
        "naming the field under `body.`.",
    )
    async def create_question(
        self, assessment_service: Service, principal: Caller, course_id: CourseId, data: JSONBody[QuestionInput]
    ) -> QuestionOut:
        question = await assessment_service.create_question(principal, course_id, data)
        return question_out(question.current, question.archived)

    @get(
        "/courses/{course_id:uuid}/questions",
        summary="The course's question bank",
        description="In id order (oldest first); paged.",
        responses=ERRORS,
        response_headers=LINK,
    )
    async def list_questions(
        self,
        request: Req,
        assessment_service: Service,
        principal: Caller,
        course_id: CourseId,
        tag: Annotated[str | None, QueryParameter(pattern=TAG, description="Only questions with this tag")] = None,
        include_archived: Annotated[bool, QueryParameter()] = False,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[QuestionSummary]]:
        page = await assessment_service.list_questions(
            principal, course_id, tag=tag, include_archived=include_archived, cursor=cursor, limit=limit
        )
        return paged(request, page)

    @get(
        "/questions/{question_id:uuid}",
        summary="A question with its answer key (the current version, or ?version=N)",
        responses=ERRORS,
    )
    async def get_question(
        self,
        assessment_service: Service,
        principal: Caller,
        question_id: QuestionId,
        version: Annotated[int | None, QueryParameter(ge=1, le=INT32_MAX, description="A past version")] = None,
    ) -> QuestionOut:
        return question_out(await assessment_service.get_question(principal, question_id, version))

    @put(
        "/questions/{question_id:uuid}",
        summary="Revise a question (writes its next version)",
        responses=ERRORS,
        description="Attempts keep the version they showed. To correct the key of attempts already "
        "submitted, regrade instead.",
    )
    async def revise_question(
        self, assessment_service: Service, principal: Caller, question_id: QuestionId, data: JSONBody[QuestionInput]
    ) -> QuestionOut:
        question = await assessment_service.revise_question(principal, question_id, data)
        return question_out(question.current, question.archived)

    @delete(
        "/questions/{question_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Archive a question",
        responses=ERRORS,
        description="Left out of new draws and of the listing; existing attempts and fixed slots keep it.",
    )
    async def archive_question(self, assessment_service: Service, principal: Caller, question_id: QuestionId) -> None:
        await assessment_service.archive_question(principal, question_id)

    @post(
        "/questions/{question_id:uuid}/regrade",
        status_code=HTTP_200_OK,
        summary="Rescore submitted attempts under a corrected answer key",
        responses=ERRORS,
        description="`dry_run` (the default) changes nothing and reports every item score that would change. "
        "Otherwise a key-fix version is written and the attempts and grades follow, in one transaction. "
        "The new key must keep the question's kind and ids, so stored responses mean the same (422 otherwise).",
    )
    async def regrade(
        self, assessment_service: Service, principal: Caller, question_id: QuestionId, data: JSONBody[Regrade]
    ) -> RegradeReport:
        return await assessment_service.regrade_question(principal, question_id, data)


class QuizController(Controller):
    path = "/api/v1"
    tags = ["assessment: quizzes"]
    exception_handlers = REFUSALS

    @post(
        "/courses/{course_id:uuid}/quizzes",
        status_code=HTTP_201_CREATED,
        summary="Create a quiz (a draft)",
        responses=ERRORS,
        description="Course instructors. Slots are fixed questions (`question_id`) or random draws "
        "(`tags`, `count`) from the bank.",
    )
    async def create_quiz(
        self, assessment_service: Service, principal: Caller, course_id: CourseId, data: JSONBody[QuizSettings]
    ) -> QuizOut:
        return quiz_out(await assessment_service.create_quiz(principal, course_id, data))

    @get(
        "/courses/{course_id:uuid}/quizzes",
        summary="The course's quizzes",
        responses=ERRORS,
        description="Staff see every quiz; enrolled learners the published ones. Due date first (none last), "
        "then title; paged.",
        response_headers=LINK,
    )
    async def list_quizzes(
        self,
        request: Req,
        assessment_service: Service,
        principal: Caller,
        course_id: CourseId,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[QuizSummary]]:
        return paged(request, await assessment_service.list_quizzes(principal, course_id, cursor=cursor, limit=limit))

    @post(
        "/courses/{course_id:uuid}/quizzes/import",
        status_code=HTTP_201_CREATED,
        summary="Import a quiz document (elearning.quiz.v1) into the course",
        responses=ERRORS,
        description="Creates the document's questions and the quiz, as a draft, in one transaction: "
        "all or nothing. The format is what `GET /quizzes/{id}/export` gives.",
    )
    async def import_quiz(
        self, assessment_service: Service, principal: Caller, course_id: CourseId, data: JSONBody[QuizDocument]
    ) -> QuizOut:
        return quiz_out(await assessment_service.import_quiz(principal, course_id, data))

    @get(
        "/quizzes/{quiz_id:uuid}",
        summary="A quiz and its settings",
        responses=ERRORS,
        description="Staff of the course; enrolled learners when it is published.",
    )
    async def get_quiz(self, assessment_service: Service, principal: Caller, quiz_id: QuizId) -> QuizOut:
        return quiz_out(await assessment_service.get_quiz(principal, quiz_id))

    @put(
        "/quizzes/{quiz_id:uuid}",
        summary="Replace a quiz's settings",
        responses=ERRORS,
        description="Omitted fields take their defaults. Attempts already started keep their questions; "
        "timing, late and grading rules apply to them as changed.",
    )
    async def update_quiz(
        self, assessment_service: Service, principal: Caller, quiz_id: QuizId, data: JSONBody[QuizSettings]
    ) -> QuizOut:
        return quiz_out(await assessment_service.update_quiz(principal, quiz_id, data))

    @post(
        "/quizzes/{quiz_id:uuid}/publish",
        status_code=HTTP_200_OK,
        summary="Publish a quiz to the course's learners",
        responses=ERRORS,
        description="409 when a slot cannot be filled (a missing fixed question, a draw with too few questions).",
    )
    async def publish_quiz(self, assessment_service: Service, principal: Caller, quiz_id: QuizId) -> QuizOut:
        return quiz_out(await assessment_service.publish_quiz(principal, quiz_id))

    @put(
        "/quizzes/{quiz_id:uuid}/extensions/{user_id:uuid}",
        summary="Give one learner an extension (dates, attempts, time)",
        responses=ERRORS,
    )
    async def set_extension(
        self,
        assessment_service: Service,
        principal: Caller,
        quiz_id: QuizId,
        user_id: UserId,
        data: JSONBody[ExtensionInput],
    ) -> Extension:
        return await assessment_service.set_extension(principal, quiz_id, user_id, data)

    @delete(
        "/quizzes/{quiz_id:uuid}/extensions/{user_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove a learner's extension",
        responses=ERRORS,
    )
    async def remove_extension(
        self, assessment_service: Service, principal: Caller, quiz_id: QuizId, user_id: UserId
    ) -> None:
        await assessment_service.remove_extension(principal, quiz_id, user_id)

    @get(
        "/quizzes/{quiz_id:uuid}/export",
        summary="Export a quiz with its questions (elearning.quiz.v1)",
        responses=ERRORS,
        description="The quiz, its fixed questions and every question its draws may pick, keyed by "
        "document-local `ref`s: import it into any course with `POST /courses/{id}/quizzes/import`.",
    )
    async def export_quiz(self, assessment_service: Service, principal: Caller, quiz_id: QuizId) -> QuizDocument:
        return await assessment_service.export_quiz(principal, quiz_id)
