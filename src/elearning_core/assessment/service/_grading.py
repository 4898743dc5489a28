"""Grading: the queue, manual grades and feedback, regrades under a corrected key, the grading
scheme, the gradebook and item statistics."""

from __future__ import annotations

import uuid
from datetime import datetime

from elearning_core.assessment.commands import (
    AttemptFeedback,
    GradingSchemeInput,
    ManualGrade,
    Regrade,
)
from elearning_core.assessment.model import (
    Attempt,
    Category,
    GradingScheme,
    ItemStatistic,
    Quiz,
    SubmitReason,
    item_statistics,
)
from elearning_core.assessment.queries import (
    AttemptView,
    Gradebook,
    QueueEntry,
    RegradeChange,
    RegradeReport,
    build_gradebook,
)
from elearning_core.assessment.service._base import _Base, _user_of
from elearning_core.auth.model import Permission
from elearning_core.shared.errors import (
    FieldError,
    PermissionDenied,
    ValidationFailed,
)
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, Page, check_page_size, scope_of
from elearning_core.shared.ports import Principal


class _Grading(_Base):
    async def grading_queue(
        self,
        actor: Principal,
        course_id: uuid.UUID,
        *,
        quiz_id: uuid.UUID | None = None,
        cursor: str | None = None,
        limit: int = 20,
    ) -> Page[QueueEntry]:
        """Items waiting for a person, oldest submission first; ``cursor`` is the previous page's
        ``next_cursor`` (signed, and bound to this course and quiz filter)."""
        await self._require(actor, Permission.GRADE_VIEW_ALL, await self._course(course_id))
        limit = check_page_size(limit)
        scope = f"grading-queue:{course_id}:{quiz_id or ''}"
        after = self._cursors.after(scope, cursor, _queue_key)
        rows = await self._queries.grading_queue(course_id, quiz_id, after, limit + 1)
        return self._cursors.page(
            scope, rows, limit, lambda last: [last.submitted_at.isoformat(), str(last.attempt_id), last.position]
        )

    async def grade_item(
        self, actor: Principal, attempt_id: uuid.UUID, question_id: uuid.UUID, cmd: ManualGrade
    ) -> AttemptView:
        """A person's grade for one item; the last one pending grades the attempt. Grading an item
        of a graded attempt again changes its grade (an ``attempt_regraded`` event)."""
        if (cmd.rubric is None) == (cmd.points is None):
            raise ValidationFailed(
                "give either the points or the rubric level per criterion (exactly one of them)",
                [FieldError("points" if cmd.rubric is None else "rubric", "give exactly one of points and rubric")],
            )
        async with self._uow() as uow:
            attempt = await self._graded_attempt(uow, actor, attempt_id)
            quiz = await self._quiz(uow, attempt.quiz_id)
            now = self._clock.now()
            if attempt.expired(now):
                await self._submit(uow, attempt, quiz, SubmitReason.TIME_UP, now)
            item = attempt.item(question_id)
            key = (await uow.questions.versions([(question_id, item.key_version)])).get((question_id, item.key_version))
            grade: float | dict[str, int] = cmd.rubric if cmd.rubric is not None else float(cmd.points or 0.0)
            attempt.grade_item(question_id, grade, cmd.feedback, actor.user_id, now, version=key)
            await self._put_grade(uow, quiz, attempt.user_id, now, held=[attempt])
            view = await self._view(uow, attempt, quiz, staff=True)
            await uow.commit()
        return view

    async def attempt_feedback(self, actor: Principal, attempt_id: uuid.UUID, cmd: AttemptFeedback) -> AttemptView:
        async with self._uow() as uow:
            attempt = await self._graded_attempt(uow, actor, attempt_id)
            quiz = await self._quiz(uow, attempt.quiz_id)
            now = self._clock.now()
            if attempt.expired(now):
                await self._submit(uow, attempt, quiz, SubmitReason.TIME_UP, now)
            attempt.set_feedback(cmd.feedback, now)
            view = await self._view(uow, attempt, quiz, staff=True)
            await uow.commit()
        return view

    async def regrade_question(self, actor: Principal, question_id: uuid.UUID, cmd: Regrade) -> RegradeReport:
        """Rescore every submitted attempt with this question under a corrected key. A dry run
        (the default) changes nothing and reports every score that would change; otherwise a key-fix
        version is written and the attempts, their grades and events follow in one transaction.

        A dry run is the very same work in a unit of work that is not committed, so what it reports
        is what the commit does (as long as nobody submits or grades in between). The corrected key
        applies to the items scored by the question's current version; attempts that showed an
        earlier version with another key are looked at and left alone. Attempts still in progress
        pick the correction up when they are submitted."""
        async with self._uow() as uow:
            question = await self._authored_question(uow, actor, question_id)
            now = self._clock.now()
            corrected = question.current.version
            fix = question.fix_key(cmd.body, self._matcher, now)
            attempts = await uow.attempts.using_question(question_id)
            changes: list[RegradeChange] = []
            held: dict[tuple[uuid.UUID, uuid.UUID], list[Attempt]] = {}
            for attempt in attempts:
                if attempt.item(question_id).key_version != corrected:
                    continue
                result = attempt.rescore_item(question_id, fix.version, fix, self._matcher, at=now)
                held.setdefault((attempt.quiz_id, attempt.user_id), []).append(attempt)
                if result.item_after is not None and result.item_before != result.item_after:
                    changes.append(
                        RegradeChange(
                            attempt_id=attempt.id,
                            user_id=attempt.user_id,
                            number=attempt.number,
                            item_before=result.item_before,
                            item_after=result.item_after,
                            percent_before=result.percent_before,
                            percent_after=result.percent_after,
                            passed_before=result.passed_before,
                            passed_after=result.passed_after,
                        )
                    )
            if not cmd.dry_run:
                quizzes: dict[uuid.UUID, Quiz] = {}
                for (quiz_id, user_id), mine in held.items():
                    quiz = quizzes.get(quiz_id) or await self._quiz(uow, quiz_id)
                    quizzes[quiz_id] = quiz
                    await self._put_grade(uow, quiz, user_id, now, held=mine)
                await uow.commit()
        return RegradeReport(
            question_id=question_id,
            dry_run=cmd.dry_run,
            new_version=None if cmd.dry_run else fix.version,
            attempts=len(attempts),
            changes=sorted(changes, key=lambda c: c.attempt_id),
        )

    async def get_grading_scheme(self, actor: Principal, course_id: uuid.UUID) -> GradingScheme:
        """For the course's staff and its learners (who are graded by it)."""
        ref = await self._course(course_id)
        if not self._is_staff(actor, ref):
            user_id = _user_of(actor)
            await self._visible(actor, ref)
            if not await self._enrollments.is_enrolled(user_id, course_id):
                raise PermissionDenied("grade.view", "enroll in the course to see how it is graded")
        async with self._uow() as uow:
            return await uow.grades.scheme(course_id)

    async def set_grading_scheme(
        self, actor: Principal, course_id: uuid.UUID, cmd: GradingSchemeInput
    ) -> GradingScheme:
        await self._require(actor, Permission.COURSE_EDIT, await self._course(course_id))
        seen: dict[str, int] = {}
        errors: list[FieldError] = []
        categories: list[Category] = []
        for index, category in enumerate(cmd.categories):
            name = " ".join(category.name.split())
            first = seen.setdefault(name.casefold(), index)
            if not name:
                errors.append(FieldError(f"categories.{index}.name", "must not be blank"))
            elif first != index:
                errors.append(FieldError(f"categories.{index}.name", f"repeats categories.{first}.name"))
            categories.append(Category(name, category.weight, category.drop_lowest))
        if errors:
            raise ValidationFailed(f"the grading scheme is invalid: {errors[0].field} {errors[0].message}", errors)
        scheme = GradingScheme(course_id, tuple(categories))
        async with self._uow() as uow:
            await uow.grades.save_scheme(scheme)
            await uow.commit()
        return scheme

    async def gradebook(self, actor: Principal, course_id: uuid.UUID) -> Gradebook:
        await self._require(actor, Permission.GRADE_VIEW_ALL, await self._course(course_id))
        inputs = await self._queries.gradebook_inputs(course_id)
        return build_gradebook(course_id, inputs, self._clock.now())

    async def my_grades(self, actor: Principal, course_id: uuid.UUID) -> Gradebook:
        """The caller's own row of the gradebook (an enrolled learner)."""
        user_id = _user_of(actor)
        ref = await self._course(course_id)
        if not self._is_staff(actor, ref):
            await self._visible(actor, ref)
            if not await self._enrollments.is_enrolled(user_id, course_id):
                raise PermissionDenied("grade.view", "enroll in the course to have grades in it")
        inputs = await self._queries.learner_grades(course_id, user_id)
        return build_gradebook(course_id, inputs, self._clock.now())

    async def item_statistics(
        self, actor: Principal, quiz_id: uuid.UUID, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[ItemStatistic]:
        """Per question of the quiz, in question-id order: computed over every graded attempt, then paged."""
        limit = check_page_size(limit)
        async with self._uow() as uow:
            quiz = await self._quiz(uow, quiz_id)
        await self._require(actor, Permission.GRADE_VIEW_ALL, await self._course(quiz.course_id))
        listing = scope_of("item-statistics", quiz_id)
        self._cursors.after(listing, cursor, list)  # a bad cursor is refused before the work
        scores = await self._queries.item_scores(quiz_id)
        statistics = item_statistics((s.attempt_id, s.question_id, s.score, s.points) for s in scores)
        return self._cursors.slice(listing, statistics, cursor, limit, lambda s: [str(s.question_id)])


def _queue_key(key: list[object]) -> tuple[datetime, uuid.UUID, int]:
    """The queue's sort key from a verified cursor (signed by us, so only a malformed one fails)."""
    try:
        at, attempt, position = key
        return datetime.fromisoformat(str(at)), uuid.UUID(str(attempt)), int(str(position))
    except (TypeError, ValueError):
        raise ValidationFailed("cursor is invalid", [FieldError("cursor", "invalid cursor")]) from None
