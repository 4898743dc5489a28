"""What every assessment use case shares: the collaborators, access decisions (who is staff, who
may take a quiz, what is hidden), loading with the right refusal, and the attempt steps several use
cases take (submitting, storing a learner's quiz grade, building the view)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime

from elearning_core.assessment.model import (
    Attempt,
    AttemptStatus,
    FixedSlot,
    PatternMatcher,
    Question,
    QuestionVersion,
    Quiz,
    QuizGrade,
    QuizStatus,
    SubmitReason,
    combine,
)
from elearning_core.assessment.ports import (
    AssessmentUnitOfWork,
    CourseLookup,
    EnrollmentLookup,
)
from elearning_core.assessment.queries import (
    AssessmentQueries,
    AttemptView,
)
from elearning_core.assessment.service._views import attempt_view
from elearning_core.auth.model import Permission, ResourceRef
from elearning_core.auth.ports import ResourceDirectory
from elearning_core.course.gating import ContentGate, PublishedOutlines, require_open
from elearning_core.course.requirements import LearnerFactsReader
from elearning_core.entitlement.ports import AccessCheck
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import (
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import Policy, Principal, require

_PAGE = 100
_PAGES_MAX = 10_000
"""Pages of a quiz's attempts read to recompute its grades (a million attempts): a bound, not a plan."""


class _Base:
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
        cursors: CursorCodec,
        outlines: PublishedOutlines | None = None,
        learner_facts: LearnerFactsReader | None = None,
        access: AccessCheck | None = None,
    ) -> None:
        self._uow, self._queries, self._enrollments, self._courses = uow, queries, enrollments, courses
        self._resources, self._matcher, self._clock, self._policy = resources, matcher, clock, policy
        self._cursors = cursors
        # Who may read and take a quiz is the course's gating decision, by the published lessons that show it.
        # The lessons' requirements gate it too (conditional release), by the learner's facts.
        self._gate = ContentGate(outlines, enrollments, learner_facts, access)

    async def _submit(
        self, uow: AssessmentUnitOfWork, attempt: Attempt, quiz: Quiz, reason: SubmitReason, now: datetime
    ) -> bool:
        """Submit ``attempt`` (locked) and store the learner's quiz grade; False when it was no
        longer in progress."""
        if attempt.status is not AttemptStatus.IN_PROGRESS:
            return False
        window = quiz.window_for(await uow.quizzes.extension(quiz.id, attempt.user_id))
        versions = await self._key_versions(uow, attempt)
        attempt.follow_key_fixes(versions)
        submitted = attempt.submit(
            now, reason, versions, self._matcher, window, quiz.late_policy, quiz.pass_mark_percent
        )
        if submitted:
            await self._put_grade(uow, quiz, attempt.user_id, now, held=[attempt])
        return submitted

    async def _key_versions(
        self, uow: AssessmentUnitOfWork, attempt: Attempt
    ) -> dict[tuple[uuid.UUID, int], QuestionVersion]:
        """The versions that score the attempt's items, with every later version of each question
        (in one read), so corrections written while it was in progress are followed."""
        latest = await uow.questions.current([item.question_id for item in attempt.items])
        refs: set[tuple[uuid.UUID, int]] = set()
        for item in attempt.items:
            refs.add((item.question_id, item.key_version))
            newest = latest.get(item.question_id)
            if newest is not None and newest.version > item.key_version:
                refs.update((item.question_id, n) for n in range(item.key_version + 1, newest.version + 1))
        return await uow.questions.versions(refs)

    async def _put_grade(
        self,
        uow: AssessmentUnitOfWork,
        quiz: Quiz,
        user_id: uuid.UUID,
        now: datetime,
        *,
        held: Iterable[Attempt] = (),
    ) -> QuizGrade:
        """Recompute and store the learner's quiz grade from their attempts (``held``: the ones this
        unit of work changed, which win over whatever the read returns)."""
        attempts = {a.id: a for a in await uow.attempts.of_learner(quiz.id, user_id)}
        attempts.update({a.id: a for a in held})
        ordered = sorted(attempts.values(), key=lambda a: a.number)
        percents = [a.percent for a in ordered if a.status is AttemptStatus.GRADED and a.percent is not None]
        percent = combine(quiz.grading_policy, percents)
        mark = quiz.pass_mark_percent
        grade = QuizGrade(
            quiz_id=quiz.id,
            user_id=user_id,
            course_id=quiz.course_id,
            percent=percent,
            attempts=sum(1 for a in ordered if a.status is not AttemptStatus.IN_PROGRESS),
            pending=sum(1 for a in ordered if a.status is AttemptStatus.SUBMITTED),
            passed=None if percent is None or mark is None else percent >= mark,
            updated_at=now,
        )
        await uow.grades.put(grade)
        return grade

    async def _learners_of(self, quiz_id: uuid.UUID) -> list[uuid.UUID]:
        """Everyone with an attempt at the quiz (read page by page, committed state)."""
        learners: dict[uuid.UUID, None] = {}
        after: uuid.UUID | None = None
        for _ in range(_PAGES_MAX):
            page = await self._queries.attempts(quiz_id, None, after, _PAGE)
            learners.update((a.user_id, None) for a in page)
            if len(page) < _PAGE:
                return list(learners)
            after = page[-1].id
        raise Conflict(f"the quiz has more than {_PAGES_MAX * _PAGE} attempts; its grades cannot be recomputed at once")

    async def _view(self, uow: AssessmentUnitOfWork, attempt: Attempt, quiz: Quiz, *, staff: bool) -> AttemptView:
        window = quiz.window_for(await uow.quizzes.extension(quiz.id, attempt.user_id))
        refs = {(i.question_id, i.version) for i in attempt.items} | {
            (i.question_id, i.key_version) for i in attempt.items
        }
        versions = await uow.questions.versions(refs)
        return attempt_view(attempt, quiz, window, versions, staff=staff, now=self._clock.now())

    @staticmethod
    async def _quiz(uow: AssessmentUnitOfWork, quiz_id: uuid.UUID) -> Quiz:
        quiz = await uow.quizzes.get(quiz_id)
        if quiz is None:
            raise NotFound("quiz", quiz_id)
        return quiz

    @staticmethod
    async def _attempt(uow: AssessmentUnitOfWork, attempt_id: uuid.UUID, *, lock: bool) -> Attempt:
        attempt = await (uow.attempts.lock(attempt_id) if lock else uow.attempts.get(attempt_id))
        if attempt is None:
            raise NotFound("attempt", attempt_id)
        return attempt

    async def _own_attempt(self, uow: AssessmentUnitOfWork, actor: Principal, attempt_id: uuid.UUID) -> Attempt:
        """The caller's attempt, locked. Staff learn it is not theirs to answer; others that it is not found."""
        attempt = await self._attempt(uow, attempt_id, lock=True)
        if actor.user_id == attempt.user_id:
            return attempt
        if self._is_grader(actor, await self._course(attempt.course_id)):
            raise PermissionDenied("attempt.answer", "only the learner who started the attempt may answer or submit it")
        raise NotFound("attempt", attempt_id)

    async def _graded_attempt(self, uow: AssessmentUnitOfWork, actor: Principal, attempt_id: uuid.UUID) -> Attempt:
        """An attempt for its grader (``grade.edit``), locked."""
        attempt = await self._attempt(uow, attempt_id, lock=True)
        ref = await self._course(attempt.course_id)
        if not self._policy.authorize(actor, Permission.GRADE_EDIT, ref).allowed:
            if actor.user_id != attempt.user_id and not self._is_grader(actor, ref):
                raise NotFound("attempt", attempt_id)
            require(self._policy, actor, Permission.GRADE_EDIT, ref)
        return attempt

    async def _authored_question(self, uow: AssessmentUnitOfWork, actor: Principal, question_id: uuid.UUID) -> Question:
        question = await uow.questions.get(question_id)
        if question is None:
            raise NotFound("question", question_id)
        ref = await self._course(question.course_id)
        if not self._allowed(actor, Permission.COURSE_EDIT, ref):
            hidden = not self._is_staff(actor, ref)
            await self._refuse(actor, Permission.COURSE_EDIT, ref, hidden=hidden, kind="question", key=question_id)
        return question

    async def _authored_quiz(self, uow: AssessmentUnitOfWork, actor: Principal, quiz_id: uuid.UUID) -> Quiz:
        quiz = await self._quiz(uow, quiz_id)
        ref = await self._course(quiz.course_id)
        if not self._allowed(actor, Permission.COURSE_EDIT, ref):
            hidden = quiz.status is QuizStatus.DRAFT and not self._is_staff(actor, ref)
            await self._refuse(actor, Permission.COURSE_EDIT, ref, hidden=hidden, kind="quiz", key=quiz_id)
        return quiz

    async def _fixed_versions(self, uow: AssessmentUnitOfWork, quiz: Quiz) -> dict[uuid.UUID, QuestionVersion]:
        """Current versions of the fixed questions of the quiz's course, archived ones included
        (an archived question leaves the draws, not the quizzes that name it)."""
        wanted = quiz.fixed_question_ids()
        found = await uow.questions.current(wanted) if wanted else {}
        for question_id in [q for q in wanted if q not in found]:
            question = await uow.questions.get(question_id)
            if question is not None:
                found[question_id] = question.current
        return {q: v for q, v in found.items() if v.course_id == quiz.course_id}

    @staticmethod
    async def _pools(uow: AssessmentUnitOfWork, quiz: Quiz) -> dict[int, list[uuid.UUID]]:
        """Candidate ids per draw slot (one read per distinct tag set)."""
        by_tags: dict[frozenset[str], list[uuid.UUID]] = {}
        pools: dict[int, list[uuid.UUID]] = {}
        for index, slot in quiz.draw_slots():
            tags = frozenset(slot.tags)
            if tags not in by_tags:
                by_tags[tags] = await uow.questions.tagged(quiz.course_id, sorted(tags))
            pools[index] = by_tags[tags]
        return pools

    async def _check_fixed(self, uow: AssessmentUnitOfWork, quiz: Quiz) -> None:
        fixed = await self._fixed_versions(uow, quiz)
        errors = [
            FieldError(f"slots.{index}.question_id", "is not a question of this course")
            for index, slot in enumerate(quiz.slots)
            if isinstance(slot, FixedSlot) and slot.question_id not in fixed
        ]
        if errors:
            raise ValidationFailed(f"{errors[0].field} {errors[0].message}", errors)

    async def _check_fillable(self, uow: AssessmentUnitOfWork, quiz: Quiz) -> None:
        fixed = await self._fixed_versions(uow, quiz)
        quiz.check_fillable(fixed.keys(), await self._pools(uow, quiz))

    async def _course(self, course_id: uuid.UUID) -> ResourceRef:
        ref = await self._resources.course(course_id)
        if ref is None:
            raise NotFound("course", course_id)
        return ref

    def _allowed(self, actor: Principal, permission: Permission, ref: ResourceRef) -> bool:
        return self._policy.authorize(actor, permission, ref).allowed

    def _is_staff(self, actor: Principal, ref: ResourceRef) -> bool:
        """The course's authors or graders: they see drafts, previews and every attempt."""
        return self._allowed(actor, Permission.COURSE_EDIT, ref) or self._is_grader(actor, ref)

    def _is_grader(self, actor: Principal, ref: ResourceRef) -> bool:
        return self._allowed(actor, Permission.GRADE_VIEW_ALL, ref)

    async def _visible(self, actor: Principal, ref: ResourceRef) -> None:
        """NotFound unless the actor may know the course exists: published, or theirs to see unpublished."""
        if ref.id is None:
            raise NotFound("course", ref)
        if not await self._courses.published(ref.id) and not self._allowed(
            actor, Permission.COURSE_VIEW_UNPUBLISHED, ref
        ):
            raise NotFound("course", ref.id)

    async def _require(self, actor: Principal, permission: Permission, ref: ResourceRef) -> None:
        """``permission`` on the course; 404 rather than 403 where the course is hidden from the actor."""
        if not self._allowed(actor, permission, ref):
            await self._refuse(actor, permission, ref)

    async def _refuse(
        self,
        actor: Principal,
        permission: Permission,
        ref: ResourceRef,
        *,
        hidden: bool = False,
        kind: str = "",
        key: object = None,
    ) -> None:
        """Raise the refusal the actor may learn: Unauthenticated when nobody signed in; NotFound
        for a hidden course (or a ``hidden`` thing of a visible one); else PermissionDenied."""
        if actor.is_anonymous:
            raise Unauthenticated("sign in first")
        await self._visible(actor, ref)
        if hidden:
            raise NotFound(kind, key)
        require(self._policy, actor, permission, ref)

    async def _check_learner(self, actor: Principal, quiz: Quiz) -> None:
        """A learner may see and take the quiz: a published quiz of a published course (a draft or
        archived quiz is not found) that the course's gating opens to them (enrolled, released, or
        shown by a preview lesson); the refusal says why (``ContentLocked``)."""
        user_id = _user_of(actor)
        if not await self._courses.published(quiz.course_id):
            raise NotFound("course", quiz.course_id)
        if quiz.status is not QuizStatus.PUBLISHED:
            raise NotFound("quiz", quiz.id)
        decision = await self._gate.material(
            quiz.course_id, user_id, self._clock.now(), staff=False, assessment_id=quiz.id
        )
        require_open(decision, "quiz")

    async def _check_entitled(self, actor: Principal, course_id: uuid.UUID, ref: ResourceRef) -> None:
        """A learner's attempt under way (an answer saved, a submit) needs access to the course now: a refund,
        a lapsed subscription or the audit track stops it there (the attempt stays, as it was)."""
        if self._is_staff(actor, ref):
            return
        require_open(await self._gate.entitlement(course_id, actor.user_id, graded=True), "quiz")


def _user_of(actor: Principal) -> uuid.UUID:
    if actor.user_id is None:
        raise Unauthenticated("this needs a user's sign-in: a service account takes no quizzes and has no grades")
    return actor.user_id
