"""Authoring: the question bank, quizzes, extensions, and the import/export document."""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from elearning_core.assessment.commands import (
    DocumentFixedSlot,
    DocumentQuestion,
    DocumentQuiz,
    DrawSlotInput,
    ExtensionInput,
    FixedSlotInput,
    LatePolicyInput,
    QuestionInput,
    QuizDocument,
    QuizSettings,
)
from elearning_core.assessment.model import (
    TAG,
    DrawSlot,
    Extension,
    FixedSlot,
    LatePolicy,
    PatternMatcher,
    Question,
    QuestionVersion,
    Quiz,
    QuizSpec,
    QuizStatus,
    Slot,
)
from elearning_core.assessment.queries import (
    QuestionSummary,
    QuizSummary,
)
from elearning_core.assessment.service._base import _Base, _user_of
from elearning_core.auth.model import Permission
from elearning_core.shared.errors import (
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, Page, check_page_size, iso_time, scope_of, uuid_key
from elearning_core.shared.ports import Principal

_DOCUMENT_QUESTIONS_MAX = 2000
_TAG = re.compile(TAG)


class _Authoring(_Base):
    async def create_question(self, actor: Principal, course_id: uuid.UUID, cmd: QuestionInput) -> Question:
        await self._require(actor, Permission.COURSE_EDIT, await self._course(course_id))
        question = _new_question(course_id, cmd, self._matcher, self._clock.now())
        async with self._uow() as uow:
            uow.questions.add(question)
            await uow.commit()
        return question

    async def revise_question(self, actor: Principal, question_id: uuid.UUID, cmd: QuestionInput) -> Question:
        """Write the next version; attempts keep the version they showed."""
        async with self._uow() as uow:
            question = await self._authored_question(uow, actor, question_id)
            question.revise(
                prompt=cmd.prompt,
                points=cmd.points,
                body=cmd.body,
                tags=cmd.tags,
                feedback=cmd.feedback,
                matcher=self._matcher,
                at=self._clock.now(),
            )
            await uow.commit()
        return question

    async def archive_question(self, actor: Principal, question_id: uuid.UUID) -> Question:
        """Leave it out of new draws and listings; existing attempts and fixed slots keep it."""
        async with self._uow() as uow:
            question = await self._authored_question(uow, actor, question_id)
            question.archive(self._clock.now())
            await uow.commit()
        return question

    async def get_question(
        self, actor: Principal, question_id: uuid.UUID, version: int | None = None
    ) -> QuestionVersion:
        """For the course's staff (graders read the questions they grade)."""
        async with self._uow() as uow:
            question = await uow.questions.get(question_id)
            if question is None:
                raise NotFound("question", question_id)
            ref = await self._course(question.course_id)
            if not self._is_staff(actor, ref):
                await self._refuse(actor, Permission.COURSE_EDIT, ref, hidden=True, kind="question", key=question_id)
            if version is None or version == question.current.version:
                return question.current
            found = (await uow.questions.versions([(question_id, version)])).get((question_id, version))
        if found is None:
            raise NotFound("question version", f"{version} of question {question_id}")
        return found

    async def list_questions(
        self,
        actor: Principal,
        course_id: uuid.UUID,
        *,
        tag: str | None = None,
        include_archived: bool = False,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[QuestionSummary]:
        """The course's question bank in id order (oldest first)."""
        await self._require(actor, Permission.COURSE_EDIT, await self._course(course_id))
        if tag is not None and not _TAG.fullmatch(tag):
            raise ValidationFailed(f"tag {tag!r} is not a valid tag", [FieldError("tag", f"must match {TAG}")])
        limit = check_page_size(limit)
        listing = scope_of("questions", course_id, tag, include_archived)
        after = self._cursors.after(listing, cursor, uuid_key)
        rows = await self._queries.questions(course_id, tag, include_archived, after, limit + 1)
        return self._cursors.page(listing, rows, limit, lambda q: [str(q.id)])

    async def create_quiz(self, actor: Principal, course_id: uuid.UUID, cmd: QuizSettings) -> Quiz:
        await self._require(actor, Permission.COURSE_EDIT, await self._course(course_id))
        spec = _spec_of(cmd, _slots_of(cmd.slots))
        quiz = Quiz.create(course_id, spec, self._clock.now())
        async with self._uow() as uow:
            await self._check_fixed(uow, quiz)
            uow.quizzes.add(quiz)
            await uow.commit()
        return quiz

    async def update_quiz(self, actor: Principal, quiz_id: uuid.UUID, cmd: QuizSettings) -> Quiz:
        """Replace the settings. Attempts already started keep their questions and their end of
        time; the due date, late policy and pass mark apply to attempts submitted from now on;
        a changed grading policy or pass mark recomputes every learner's quiz grade (at once, in
        this transaction). A published quiz must still be fillable by the bank."""
        spec = _spec_of(cmd, _slots_of(cmd.slots))
        async with self._uow() as uow:
            quiz = await self._authored_quiz(uow, actor, quiz_id)
            before = quiz.spec
            now = self._clock.now()
            quiz.update(spec, now)
            await self._check_fixed(uow, quiz)
            if quiz.status is QuizStatus.PUBLISHED:
                await self._check_fillable(uow, quiz)
            if (before.grading_policy, before.pass_mark_percent) != (quiz.grading_policy, quiz.pass_mark_percent):
                for user_id in await self._learners_of(quiz.id):
                    await self._put_grade(uow, quiz, user_id, now)
            await uow.commit()
        return quiz

    async def publish_quiz(self, actor: Principal, quiz_id: uuid.UUID) -> Quiz:
        """Check every slot can be filled (fixed questions exist; each draw has enough questions),
        then open the quiz to learners."""
        async with self._uow() as uow:
            quiz = await self._authored_quiz(uow, actor, quiz_id)
            await self._check_fixed(uow, quiz)
            await self._check_fillable(uow, quiz)
            if quiz.publish(self._clock.now()):
                await uow.commit()
        return quiz

    async def archive_quiz(self, actor: Principal, quiz_id: uuid.UUID) -> Quiz:
        """Close the quiz for good: no new attempts, no changes; attempts in progress may still be
        submitted, and every grade stays in the gradebook."""
        async with self._uow() as uow:
            quiz = await self._authored_quiz(uow, actor, quiz_id)
            if quiz.archive(self._clock.now()):
                await uow.commit()
        return quiz

    async def get_quiz(self, actor: Principal, quiz_id: uuid.UUID) -> Quiz:
        """Staff see any quiz of their course; enrolled learners see published ones."""
        async with self._uow() as uow:
            quiz = await self._quiz(uow, quiz_id)
        ref = await self._course(quiz.course_id)
        if not self._is_staff(actor, ref):
            await self._check_learner(actor, quiz)
        return quiz

    async def list_quizzes(
        self, actor: Principal, course_id: uuid.UUID, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[QuizSummary]:
        """Staff see every quiz of the course; its enrolled learners the published ones. Due date
        first (quizzes without one last), then title; a course's quizzes are read whole, paged here."""
        limit = check_page_size(limit)
        ref = await self._course(course_id)
        staff = self._is_staff(actor, ref)
        if not staff:
            user_id = _user_of(actor)
            await self._visible(actor, ref)
            if not await self._enrollments.is_enrolled(user_id, course_id):
                raise PermissionDenied("quiz.take", "enroll in the course to see its quizzes")
        quizzes = await self._queries.quizzes(course_id, not staff)
        return self._cursors.slice(scope_of("quizzes", course_id, staff), quizzes, cursor, limit, _due_order)

    async def set_extension(
        self, actor: Principal, quiz_id: uuid.UUID, user_id: uuid.UUID, cmd: ExtensionInput
    ) -> Extension:
        """A learner's accommodation. It reaches attempts started (time) or submitted (due date,
        attempts) after it is set; an attempt in progress keeps the end of time it started with."""
        async with self._uow() as uow:
            quiz = await self._authored_quiz(uow, actor, quiz_id)
            if not await self._enrollments.is_enrolled(user_id, quiz.course_id):
                raise NotFound("learner", f"{user_id} in course {quiz.course_id}")
            extension = quiz.extension_for(
                user_id,
                due_at=cmd.due_at,
                closes_at=cmd.closes_at,
                extra_attempts=cmd.extra_attempts,
                extra_time_seconds=cmd.extra_time_seconds,
            )
            await uow.quizzes.put_extension(extension)
            await uow.commit()
        return extension

    async def remove_extension(self, actor: Principal, quiz_id: uuid.UUID, user_id: uuid.UUID) -> None:
        async with self._uow() as uow:
            quiz = await self._authored_quiz(uow, actor, quiz_id)
            if not await uow.quizzes.remove_extension(quiz.id, user_id):
                raise NotFound("extension", f"of user {user_id} on quiz {quiz_id}")
            await uow.commit()

    async def export_quiz(self, actor: Principal, quiz_id: uuid.UUID) -> QuizDocument:
        """The quiz and its fixed questions (current versions), plus for each draw slot every
        question it may draw, so the document imports elsewhere with the same pools."""
        async with self._uow() as uow:
            quiz = await self._authored_quiz(uow, actor, quiz_id)
            fixed = await self._fixed_versions(uow, quiz)
            pools = await self._pools(uow, quiz)
            drawable = sorted({q for pool in pools.values() for q in pool} - set(fixed))
            versions = await uow.questions.current(drawable) if drawable else {}
        missing = [q for q in quiz.fixed_question_ids() if q not in fixed]
        if missing:
            raise Conflict(f"question {missing[0]} of a fixed slot is not in the course's bank: fix the quiz first")
        listed = [fixed[q] for q in dict.fromkeys(quiz.fixed_question_ids())]
        listed += [versions[q] for q in drawable if q in versions]
        if len(listed) > _DOCUMENT_QUESTIONS_MAX:
            raise Conflict(f"the quiz uses {len(listed)} questions; a document holds at most {_DOCUMENT_QUESTIONS_MAX}")
        refs = {version.question_id: f"q{index + 1}" for index, version in enumerate(listed)}
        slots: list[DocumentFixedSlot | DrawSlotInput] = [
            DocumentFixedSlot(ref=refs[slot.question_id], points=slot.points)
            if isinstance(slot, FixedSlot)
            else DrawSlotInput(tags=list(slot.tags), count=slot.count, points=slot.points)
            for slot in quiz.slots
        ]
        return QuizDocument(
            quiz=_document_quiz(quiz, slots),
            questions=[
                DocumentQuestion(
                    ref=refs[v.question_id],
                    prompt=v.prompt,
                    points=v.points,
                    body=v.body,
                    tags=list(v.tags),
                    feedback=v.feedback,
                )
                for v in listed
            ],
        )

    async def import_quiz(self, actor: Principal, course_id: uuid.UUID, doc: QuizDocument) -> Quiz:
        """Create the document's questions and the quiz (a draft) in the course, in one transaction:
        all or nothing. Every problem is reported at once, by its path in the document
        (``questions.3.body.correct``, ``quiz.slots.2.ref``)."""
        await self._require(actor, Permission.COURSE_EDIT, await self._course(course_id))
        errors: list[FieldError] = []
        by_ref: dict[str, int] = {}
        for index, entry in enumerate(doc.questions):
            first = by_ref.setdefault(entry.ref, index)
            if first != index:
                errors.append(FieldError(f"questions.{index}.ref", f"repeats questions.{first}.ref"))
        for index, slot in enumerate(doc.quiz.slots):
            if isinstance(slot, DocumentFixedSlot) and slot.ref not in by_ref:
                errors.append(
                    FieldError(f"quiz.slots.{index}.ref", f"names no question of the document ({slot.ref!r})")
                )
        now = self._clock.now()
        questions: list[Question] = []
        for index, entry in enumerate(doc.questions):
            try:
                questions.append(_new_question(course_id, entry, self._matcher, now))
            except ValidationFailed as exc:
                errors += _prefixed(exc.errors, f"questions.{index}.")
        quiz: Quiz | None = None
        if not errors:
            ids = {entry.ref: question.id for entry, question in zip(doc.questions, questions, strict=True)}
            slots = tuple(
                FixedSlot(ids[slot.ref], slot.points)
                if isinstance(slot, DocumentFixedSlot)
                else DrawSlot(tuple(slot.tags), slot.count, slot.points)
                for slot in doc.quiz.slots
            )
            try:
                quiz = Quiz.create(course_id, _spec_of(doc.quiz, slots), now)
            except ValidationFailed as exc:
                # The document names a fixed slot's question by ``ref``: so must the error.
                errors += [
                    FieldError(e.field.removesuffix(".question_id") + ".ref", e.message)
                    if e.field.startswith("quiz.slots.") and e.field.endswith(".question_id")
                    else e
                    for e in _prefixed(exc.errors, "quiz.")
                ]
        if errors or quiz is None:
            raise ValidationFailed(
                f"the document cannot be imported: {errors[0].field} {errors[0].message}"
                + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
                errors,
            )
        async with self._uow() as uow:
            for question in questions:
                uow.questions.add(question)
            uow.quizzes.add(quiz)
            await uow.commit()
        return quiz


def _new_question(course_id: uuid.UUID, cmd: QuestionInput, matcher: PatternMatcher, at: datetime) -> Question:
    return Question.create(
        course_id,
        prompt=cmd.prompt,
        points=cmd.points,
        body=cmd.body,
        tags=cmd.tags,
        feedback=cmd.feedback,
        matcher=matcher,
        at=at,
    )


def _slots_of(slots: Sequence[FixedSlotInput | DrawSlotInput]) -> tuple[Slot, ...]:
    return tuple(
        FixedSlot(slot.question_id, slot.points)
        if isinstance(slot, FixedSlotInput)
        else DrawSlot(tuple(slot.tags), slot.count, slot.points)
        for slot in slots
    )


def _spec_of(cmd: QuizSettings, slots: tuple[Slot, ...]) -> QuizSpec:
    late = cmd.late_policy
    return QuizSpec(
        title=cmd.title,
        description=cmd.description,
        category=cmd.category,
        slots=slots,
        shuffle_questions=cmd.shuffle_questions,
        shuffle_options=cmd.shuffle_options,
        time_limit_seconds=cmd.time_limit_seconds,
        grace_seconds=cmd.grace_seconds,
        max_attempts=cmd.max_attempts,
        opens_at=cmd.opens_at,
        due_at=cmd.due_at,
        closes_at=cmd.closes_at,
        late_policy=LatePolicy(late.deduction_percent, late.per, late.floor_percent, late.missing_grade_percent),
        grading_policy=cmd.grading_policy,
        pass_mark_percent=cmd.pass_mark_percent,
        answer_review=cmd.answer_review,
    )


def quiz_settings(quiz: Quiz) -> QuizSettings:
    """The quiz's settings in the shape ``update_quiz`` takes (the HTTP view and the export reuse it)."""
    late = quiz.late_policy
    return QuizSettings(
        title=quiz.title,
        description=quiz.description,
        category=quiz.category,
        slots=[
            DrawSlotInput(tags=list(slot.tags), count=slot.count, points=slot.points)
            if isinstance(slot, DrawSlot)
            else FixedSlotInput(question_id=slot.question_id, points=slot.points)
            for slot in quiz.slots
        ],
        shuffle_questions=quiz.shuffle_questions,
        shuffle_options=quiz.shuffle_options,
        time_limit_seconds=quiz.time_limit_seconds,
        grace_seconds=quiz.grace_seconds,
        max_attempts=quiz.max_attempts,
        opens_at=quiz.opens_at,
        due_at=quiz.due_at,
        closes_at=quiz.closes_at,
        late_policy=LatePolicyInput(
            deduction_percent=late.deduction_percent,
            per=late.per,
            floor_percent=late.floor_percent,
            missing_grade_percent=late.missing_grade_percent,
        ),
        grading_policy=quiz.grading_policy,
        pass_mark_percent=quiz.pass_mark_percent,
        answer_review=quiz.answer_review,
    )


def _document_quiz(quiz: Quiz, slots: list[DocumentFixedSlot | DrawSlotInput]) -> DocumentQuiz:
    settings = quiz_settings(quiz)
    fields = {name: getattr(settings, name) for name in QuizSettings.model_fields if name != "slots"}
    return DocumentQuiz(slots=slots, **fields)


def _prefixed(errors: Collection[FieldError], prefix: str) -> list[FieldError]:
    return [FieldError(f"{prefix}{e.field}" if e.field else prefix.rstrip("."), e.message) for e in errors]


def _due_order(quiz: QuizSummary) -> list[Any]:
    """The quiz list's order as a cursor key: due date first (none last), then title, then id."""
    return [quiz.due_at is None, iso_time(quiz.due_at) if quiz.due_at else "", quiz.title, str(quiz.id)]
