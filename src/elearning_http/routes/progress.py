"""Progress over HTTP: learner activity (views, done marks, video heartbeats), the course outline with the
caller's progress, ``/me/progress``, and the staff views, rules, completion overrides and resets.

Activity answers 204 once the fact is recorded; completion follows asynchronously (the ``progress``
projection), usually within milliseconds.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from elearning_core.progress.commands import Heartbeat, SetCompletionRules, StaffDecision
from elearning_core.progress.model import CompletionRules, CourseProgress, Override
from elearning_core.progress.queries import (
    CourseProgressView,
    LearnerProgressRow,
    ProgressFilter,
    learners_csv,
)
from elearning_core.progress.service import ProgressService
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem_responses
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged

ERRORS = problem_responses(400, 401, 403, 404, 409, 422)
CSV = "text/csv"

CourseId = FromPath[uuid.UUID]
LessonId = FromPath[uuid.UUID]
UserId = FromPath[uuid.UUID]
Req = Request[Any, Any, Any]
Service = NamedDependency[ProgressService]
Caller = NamedDependency[Principal]
Completed = Annotated[
    bool | None, QueryParameter(description="Only learners who completed the course (true) or not (false)")
]


@dataclass(frozen=True, slots=True)
class LessonProgressOut:
    id: str
    title: str
    kind: str
    optional: bool
    state: str
    """not_started, in_progress or completed"""
    access: str
    available_at: dt.datetime | None
    lock_reason: str | None


@dataclass(frozen=True, slots=True)
class SectionProgressOut:
    id: str
    title: str
    percent: float
    lessons: list[LessonProgressOut]


@dataclass(frozen=True, slots=True)
class LastActivityOut:
    lesson_id: str
    at: dt.datetime
    video_id: str | None
    position_seconds: float | None


@dataclass(frozen=True, slots=True)
class ContinueOut:
    lesson_id: str
    section_id: str
    title: str


@dataclass(frozen=True, slots=True)
class CourseProgressOut:
    course_id: str
    title: str
    version_number: int | None
    percent: float
    completed: bool
    completed_at: dt.datetime | None
    completion_source: str | None
    sections: list[SectionProgressOut]
    last: LastActivityOut | None
    continue_at: ContinueOut | None
    """The next incomplete required lesson the learner may open (null when none is left)."""


@dataclass(frozen=True, slots=True)
class LearnerProgressOut:
    course_id: str
    user_id: str
    percent: float
    required_lessons: int
    required_completed: int
    completed_at: dt.datetime | None
    completion_source: str | None
    last_lesson_id: str | None
    last_activity_at: dt.datetime | None
    course_title: str
    """On /me/progress (empty on the staff list)."""
    display_name: str
    """On the staff list (empty on /me/progress)."""
    email: str


@dataclass(frozen=True, slots=True)
class LearnerStateOut:
    course_id: str
    user_id: str
    percent: float
    required_lessons: int
    required_completed: int
    completed_at: dt.datetime | None
    completion_source: str | None
    completed_lesson_ids: list[str]


@dataclass(frozen=True, slots=True)
class LessonCountOut:
    lesson_id: str
    completed: int


@dataclass(frozen=True, slots=True)
class LessonCountsOut:
    course_id: str
    lessons: list[LessonCountOut]


@dataclass(frozen=True, slots=True)
class RulesOut:
    course_id: str
    text_requires_done: bool
    video_percent: int
    assessment_requires_pass: bool
    min_grade_percent: float | None
    optional_lesson_ids: list[str]


@dataclass(frozen=True, slots=True)
class AuditEntryOut:
    kind: str
    """``override`` (the course completed by staff) or ``reset`` (the learner's progress forgotten)."""
    by_user_id: str | None
    """Who decided (null for the platform's admin token or a system job)."""
    reason: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class AuditTrailOut:
    course_id: str
    user_id: str
    entries: list[AuditEntryOut]
    """Oldest first."""


def audit_entry_out(o: Override) -> AuditEntryOut:
    return AuditEntryOut(o.kind, str(o.by) if o.by else None, o.reason, o.at)


def course_progress_out(v: CourseProgressView) -> CourseProgressOut:
    last = v.last
    return CourseProgressOut(
        course_id=str(v.course_id),
        title=v.title,
        version_number=v.version_number,
        percent=v.percent,
        completed=v.completed,
        completed_at=v.completed_at,
        completion_source=v.completion_source,
        sections=[
            SectionProgressOut(
                str(s.id),
                s.title,
                s.percent,
                [
                    LessonProgressOut(
                        str(x.id),
                        x.title,
                        x.kind,
                        x.optional,
                        x.state.value,
                        x.access.value,
                        x.available_at,
                        x.lock_reason,
                    )
                    for x in s.lessons
                ],
            )
            for s in v.sections
        ],
        last=None
        if last is None
        else LastActivityOut(
            str(last.lesson_id), last.at, str(last.video_id) if last.video_id else None, last.position_seconds
        ),
        continue_at=None
        if v.continue_at is None
        else ContinueOut(str(v.continue_at.lesson_id), str(v.continue_at.section_id), v.continue_at.title),
    )


def learner_progress_out(r: LearnerProgressRow) -> LearnerProgressOut:
    return LearnerProgressOut(
        str(r.course_id),
        str(r.user_id),
        r.percent,
        r.required_lessons,
        r.required_completed,
        r.completed_at,
        r.completion_source,
        str(r.last_lesson_id) if r.last_lesson_id else None,
        r.last_activity_at,
        r.course_title,
        r.display_name,
        r.email,
    )


def learner_state_out(p: CourseProgress) -> LearnerStateOut:
    return LearnerStateOut(
        str(p.course_id),
        str(p.user_id),
        p.percent,
        p.required_lessons,
        p.required_completed,
        p.completed_at,
        p.completion_source.value if p.completion_source else None,
        sorted(str(i) for i in p.completed_lesson_ids),
    )


def rules_out(r: CompletionRules) -> RulesOut:
    return RulesOut(
        str(r.course_id),
        r.text_requires_done,
        r.video_percent,
        r.assessment_requires_pass,
        r.min_grade_percent,
        sorted(str(i) for i in r.optional_lesson_ids),
    )


class ProgressController(Controller):
    path = "/api/v1/courses/{course_id:uuid}"
    tags = ["progress"]

    # -- learner activity ------------------------------------------------------------

    @post(
        "/lessons/{lesson_id:uuid}/view",
        status_code=HTTP_204_NO_CONTENT,
        summary="Record that the caller viewed the lesson",
        description="An enrolled learner, on a lesson they may open (gating). Completion follows asynchronously.",
        responses=ERRORS,
    )
    async def view(
        self, progress_service: Service, principal: Caller, course_id: CourseId, lesson_id: LessonId
    ) -> None:
        await progress_service.view(principal, course_id, lesson_id)

    @post(
        "/lessons/{lesson_id:uuid}/done",
        status_code=HTTP_204_NO_CONTENT,
        summary="Mark the lesson done (the caller)",
        responses=ERRORS,
    )
    async def done(
        self, progress_service: Service, principal: Caller, course_id: CourseId, lesson_id: LessonId
    ) -> None:
        await progress_service.mark_done(principal, course_id, lesson_id)

    @post(
        "/lessons/{lesson_id:uuid}/heartbeats",
        status_code=HTTP_204_NO_CONTENT,
        summary="A video player's heartbeat: the interval watched since the previous one",
        description="On a video lesson the caller may open. Merged into the caller's watched intervals; the "
        "position is the video's saved playback position (`GET /videos/{id}/position` reads it).",
        responses=ERRORS,
    )
    async def heartbeat(
        self,
        progress_service: Service,
        principal: Caller,
        course_id: CourseId,
        lesson_id: LessonId,
        data: JSONBody[Heartbeat],
    ) -> None:
        await progress_service.heartbeat(principal, course_id, lesson_id, data)

    @get(
        "/progress",
        summary="The course outline with the caller's progress",
        description="Per-lesson state and lock reason, percentages per section and course, the last lesson and "
        "video position, and where to continue. For an enrolled learner.",
        responses=ERRORS,
    )
    async def course_progress(
        self, progress_service: Service, principal: Caller, course_id: CourseId
    ) -> CourseProgressOut:
        return course_progress_out(await progress_service.course_progress(principal, course_id))

    # -- staff -----------------------------------------------------------------------

    @get(
        "/progress/learners",
        summary="Every learner's progress in the course (staff)",
        description="In user-id order; paged; `completed` filters.",
        responses=ERRORS,
        response_headers=LINK,
    )
    async def learners(
        self,
        request: Req,
        progress_service: Service,
        principal: Caller,
        course_id: CourseId,
        completed: Completed = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> Response[Paged[LearnerProgressOut]]:
        page = await progress_service.learners(
            principal, course_id, ProgressFilter(completed=completed), cursor=cursor, limit=limit
        )
        return paged(request, page, learner_progress_out)

    @get(
        "/progress/learners.csv",
        summary="Every learner's progress as CSV (staff)",
        media_type=CSV,
        responses=ERRORS,
        description="One row per learner: user id, name, email, percent, lessons completed of required, "
        "completed at. Served as an attachment.",
    )
    async def learners_csv(
        self, progress_service: Service, principal: Caller, course_id: CourseId, completed: Completed = None
    ) -> Response[str]:
        rows = await progress_service.all_learners(principal, course_id, ProgressFilter(completed=completed))
        return Response(
            learners_csv(rows),
            status_code=HTTP_200_OK,
            media_type=CSV,
            headers={"Content-Disposition": f'attachment; filename="progress-{course_id}.csv"'},
        )

    @get(
        "/progress/learners/{user_id:uuid}", summary="One learner's progress (staff, or the learner)", responses=ERRORS
    )
    async def learner(
        self, progress_service: Service, principal: Caller, course_id: CourseId, user_id: UserId
    ) -> LearnerStateOut:
        return learner_state_out(await progress_service.learner_progress(principal, course_id, user_id))

    @get(
        "/progress/learners/{user_id:uuid}/audit",
        summary="The staff decisions on the learner's progress: completion overrides and resets (staff)",
        description="Each with who, why and when, oldest first; a reset keeps the trail.",
        responses=ERRORS,
    )
    async def audit(
        self, progress_service: Service, principal: Caller, course_id: CourseId, user_id: UserId
    ) -> AuditTrailOut:
        entries = await progress_service.audit_trail(principal, course_id, user_id)
        return AuditTrailOut(str(course_id), str(user_id), [audit_entry_out(e) for e in entries])

    @post(
        "/progress/learners/{user_id:uuid}/reset",
        status_code=HTTP_204_NO_CONTENT,
        summary="Reset the learner's progress in the course (staff; recorded with who and why)",
        description="Forgets the learner's activity and completions in the course; a completed enrollment reopens.",
        responses=ERRORS,
    )
    async def reset(
        self,
        progress_service: Service,
        principal: Caller,
        course_id: CourseId,
        user_id: UserId,
        data: JSONBody[StaffDecision],
    ) -> None:
        await progress_service.reset(principal, course_id, user_id, data)

    @post(
        "/enrollments/{user_id:uuid}/complete",
        status_code=HTTP_200_OK,
        summary="Complete the course for the learner: a completion override (staff; recorded with who and why)",
        description="The enrollment follows asynchronously (`enrollment.completed.v1`).",
        responses=ERRORS,
    )
    async def complete(
        self,
        progress_service: Service,
        principal: Caller,
        course_id: CourseId,
        user_id: UserId,
        data: JSONBody[StaffDecision],
    ) -> LearnerStateOut:
        return learner_state_out(await progress_service.override_completion(principal, course_id, user_id, data))

    @get("/progress/lessons", summary="How many learners completed each lesson (staff)", responses=ERRORS)
    async def lesson_counts(self, progress_service: Service, principal: Caller, course_id: CourseId) -> LessonCountsOut:
        counts = await progress_service.lesson_counts(principal, course_id)
        return LessonCountsOut(
            str(course_id), [LessonCountOut(str(lesson), n) for lesson, n in sorted(counts.items(), key=str)]
        )

    @get("/completion-rules", summary="The course's completion rules", responses=ERRORS)
    async def get_rules(self, progress_service: Service, principal: Caller, course_id: CourseId) -> RulesOut:
        return rules_out(await progress_service.get_rules(principal, course_id))

    @put("/completion-rules", summary="Replace the course's completion rules (staff)", responses=ERRORS)
    async def put_rules(
        self, progress_service: Service, principal: Caller, course_id: CourseId, data: JSONBody[SetCompletionRules]
    ) -> RulesOut:
        return rules_out(await progress_service.set_rules(principal, course_id, data))


@get(
    "/api/v1/me/progress",
    tags=["progress"],
    summary="The caller's progress in every course",
    description="In course-id order; paged.",
    responses=ERRORS,
    response_headers=LINK,
)
async def my_progress(
    request: Req, progress_service: Service, principal: Caller, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
) -> Response[Paged[LearnerProgressOut]]:
    page = await progress_service.my_progress(principal, cursor=cursor, limit=limit)
    return paged(request, page, learner_progress_out)
