"""Assessment use cases: the bank, quizzes, attempts, grading, regrading and the gradebook.

Access:
- authoring (questions, quizzes, extensions, the grading scheme, regrades)
  needs ``course.edit`` on the quiz's course: the course's instructors;
- grading (the queue, manual grades, feedback), the gradebook, every
  learner's attempts and item statistics need ``grade.view_all`` (reading) or
  ``grade.edit`` (writing) on the course: instructors and teaching assistants;
- taking a quiz needs an enrollment in the course (``EnrollmentLookup``) and
  a published quiz; learners read only their own attempts, and the answer key
  only when the quiz's ``answer_review`` allows it. Staff may also take a
  quiz (a preview attempt counts like any other).
A course the actor may not see is "not found", as in the other modules; so is
another learner's attempt (no hint that it exists).

Times come from the ``Clock``. Expired in-progress attempts are submitted
(reason ``time_up``) by ``close_expired`` (run by the worker and the CLI), and
lazily whenever one is touched, so a learner who walks away still gets a
grade for what they saved.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from elearning_core.assessment.commands import (
    AttemptFeedback,
    ExtensionInput,
    GradingSchemeInput,
    ManualGrade,
    QuestionInput,
    QuizDocument,
    QuizSettings,
    Regrade,
    SaveAnswer,
)
from elearning_core.assessment.model import (
    Attempt,
    Extension,
    GradingScheme,
    ItemStatistic,
    PatternMatcher,
    Question,
    QuestionVersion,
    Quiz,
)
from elearning_core.assessment.ports import AssessmentUnitOfWork, CourseLookup, EnrollmentLookup
from elearning_core.assessment.queries import (
    AssessmentQueries,
    AttemptSummary,
    AttemptView,
    Gradebook,
    QuestionSummary,
    QueueEntry,
    QuizSummary,
    RegradeReport,
)
from elearning_core.auth.ports import ResourceDirectory
from elearning_core.shared.clock import Clock
from elearning_core.shared.ports import Policy, Principal


class AssessmentService:
    def __init__(
        self,
        uow: Callable[[], AssessmentUnitOfWork],
        queries: AssessmentQueries,
        enrollments: EnrollmentLookup,
        courses: CourseLookup,
        resources: ResourceDirectory,
        matcher: PatternMatcher,
        clock: Clock,
        policy: Policy,
    ) -> None:
        self._uow, self._queries, self._enrollments, self._courses = uow, queries, enrollments, courses
        self._resources, self._matcher, self._clock, self._policy = resources, matcher, clock, policy

    # -- the question bank (course.edit) -------------------------------------------------

    async def create_question(self, actor: Principal, course_id: uuid.UUID, cmd: QuestionInput) -> Question:
        raise NotImplementedError

    async def revise_question(self, actor: Principal, question_id: uuid.UUID, cmd: QuestionInput) -> Question:
        """Write the next version; attempts keep the version they showed."""
        raise NotImplementedError

    async def archive_question(self, actor: Principal, question_id: uuid.UUID) -> Question:
        """Leave it out of new draws and listings; existing attempts and fixed slots keep it."""
        raise NotImplementedError

    async def get_question(
        self, actor: Principal, question_id: uuid.UUID, version: int | None = None
    ) -> QuestionVersion:
        raise NotImplementedError

    async def list_questions(
        self,
        actor: Principal,
        course_id: uuid.UUID,
        *,
        tag: str | None = None,
        include_archived: bool = False,
        after: uuid.UUID | None = None,
        limit: int = 20,
    ) -> list[QuestionSummary]:
        raise NotImplementedError

    # -- quizzes (course.edit; learners read published ones) ----------------------------

    async def create_quiz(self, actor: Principal, course_id: uuid.UUID, cmd: QuizSettings) -> Quiz:
        raise NotImplementedError

    async def update_quiz(self, actor: Principal, quiz_id: uuid.UUID, cmd: QuizSettings) -> Quiz:
        """Replace the settings. Attempts already started keep their questions; timing, late and
        grading rules apply to them as changed (and the learners' grades are recomputed)."""
        raise NotImplementedError

    async def publish_quiz(self, actor: Principal, quiz_id: uuid.UUID) -> Quiz:
        """Check every slot can be filled (fixed questions exist; each draw has enough questions),
        then open the quiz to learners."""
        raise NotImplementedError

    async def get_quiz(self, actor: Principal, quiz_id: uuid.UUID) -> Quiz:
        """Staff see any quiz of their course; enrolled learners see published ones."""
        raise NotImplementedError

    async def list_quizzes(self, actor: Principal, course_id: uuid.UUID) -> list[QuizSummary]:
        raise NotImplementedError

    async def set_extension(
        self, actor: Principal, quiz_id: uuid.UUID, user_id: uuid.UUID, cmd: ExtensionInput
    ) -> Extension:
        raise NotImplementedError

    async def remove_extension(self, actor: Principal, quiz_id: uuid.UUID, user_id: uuid.UUID) -> None:
        raise NotImplementedError

    # -- taking a quiz (the learner) ----------------------------------------------------

    async def start_attempt(self, actor: Principal, quiz_id: uuid.UUID) -> tuple[AttemptView, bool]:
        """``(attempt, created)``. An attempt in progress is returned as it is (a double click, a
        retry, a second device): never two at once. Refused (409) outside the window or past the
        attempt limit."""
        raise NotImplementedError

    async def view_attempt(self, actor: Principal, attempt_id: uuid.UUID) -> AttemptView:
        raise NotImplementedError

    async def save_answer(
        self, actor: Principal, attempt_id: uuid.UUID, question_id: uuid.UUID, cmd: SaveAnswer
    ) -> AttemptView:
        """Autosave one answer: idempotent, the last write per question wins. Refused (409) once the
        attempt is submitted or its time (with grace) is over."""
        raise NotImplementedError

    async def submit_attempt(self, actor: Principal, attempt_id: uuid.UUID) -> tuple[AttemptView, bool]:
        """``(attempt, submitted_now)``: exactly once. Grades every item that scores itself; the
        attempt is graded at once unless an item waits for a person."""
        raise NotImplementedError

    async def list_attempts(
        self,
        actor: Principal,
        quiz_id: uuid.UUID,
        *,
        user_id: uuid.UUID | None = None,
        after: uuid.UUID | None = None,
        limit: int = 20,
    ) -> list[AttemptSummary]:
        """A learner's own attempts; staff (``grade.view_all``) anyone's, or all."""
        raise NotImplementedError

    async def close_expired(self, limit: int = 500) -> int:
        """Submit (reason ``time_up``) in-progress attempts whose time or window is over; how many."""
        raise NotImplementedError

    # -- grading (grade.view_all / grade.edit) ------------------------------------------

    async def grading_queue(
        self,
        actor: Principal,
        course_id: uuid.UUID,
        *,
        quiz_id: uuid.UUID | None = None,
        after: tuple[datetime, uuid.UUID, int] | None = None,
        limit: int = 20,
    ) -> list[QueueEntry]:
        raise NotImplementedError

    async def grade_item(
        self, actor: Principal, attempt_id: uuid.UUID, question_id: uuid.UUID, cmd: ManualGrade
    ) -> AttemptView:
        """A person's grade for one item; the last one pending grades the attempt. Grading an item
        of a graded attempt again changes its grade (an ``attempt_regraded`` event)."""
        raise NotImplementedError

    async def attempt_feedback(self, actor: Principal, attempt_id: uuid.UUID, cmd: AttemptFeedback) -> AttemptView:
        raise NotImplementedError

    async def regrade_question(self, actor: Principal, question_id: uuid.UUID, cmd: Regrade) -> RegradeReport:
        """Rescore every submitted attempt with this question under a corrected key. A dry run
        (the default) changes nothing and reports every score that would change; otherwise a key-fix
        version is written and the attempts, their grades and events follow in one transaction."""
        raise NotImplementedError

    # -- the gradebook --------------------------------------------------------------------

    async def get_grading_scheme(self, actor: Principal, course_id: uuid.UUID) -> GradingScheme:
        raise NotImplementedError

    async def set_grading_scheme(
        self, actor: Principal, course_id: uuid.UUID, cmd: GradingSchemeInput
    ) -> GradingScheme:
        raise NotImplementedError

    async def gradebook(self, actor: Principal, course_id: uuid.UUID) -> Gradebook:
        raise NotImplementedError

    async def my_grades(self, actor: Principal, course_id: uuid.UUID) -> Gradebook:
        """The caller's own row of the gradebook (an enrolled learner)."""
        raise NotImplementedError

    async def item_statistics(self, actor: Principal, quiz_id: uuid.UUID) -> list[ItemStatistic]:
        raise NotImplementedError

    # -- import and export (course.edit) ------------------------------------------------

    async def export_quiz(self, actor: Principal, quiz_id: uuid.UUID) -> QuizDocument:
        """The quiz and its fixed questions (current versions), plus for each draw slot every
        question it may draw, so the document imports elsewhere with the same pools."""
        raise NotImplementedError

    async def import_quiz(self, actor: Principal, course_id: uuid.UUID, doc: QuizDocument) -> Quiz:
        """Create the document's questions and the quiz (a draft) in the course, in one transaction:
        all or nothing."""
        raise NotImplementedError


_ = Attempt  # the service's aggregates (kept for readers of this signature list)
