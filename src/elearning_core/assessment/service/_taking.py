"""Taking a quiz: starting (idempotent, race-safe), answering, submitting exactly once, and the sweep
that submits abandoned attempts."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace
from datetime import datetime

from elearning_core.assessment.commands import (
    SaveAnswer,
)
from elearning_core.assessment.model import (
    Attempt,
    AttemptClosed,
    AttemptStatus,
    Quiz,
    QuizStatus,
    StartRefusal,
    StartRefused,
    SubmitReason,
    Window,
    check_response,
)
from elearning_core.assessment.ports import (
    AssessmentUnitOfWork,
    AttemptExists,
)
from elearning_core.assessment.queries import (
    AttemptSummary,
    AttemptView,
)
from elearning_core.assessment.service._base import _Base, _user_of
from elearning_core.shared.errors import (
    Conflict,
    DomainError,
    FieldError,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, Page, check_page_size, scope_of, uuid_key
from elearning_core.shared.ports import Principal

SWEEP_MAX = 10_000
"""The most expired attempts one ``close_expired`` run submits."""


class _Taking(_Base):
    async def start_attempt(self, actor: Principal, quiz_id: uuid.UUID) -> tuple[AttemptView, bool]:
        """``(attempt, created)``. An attempt in progress is returned as it is (a double click, a
        retry, a second device): never two at once. Refused (409) outside the window or past the
        attempt limit.

        An attempt in progress whose time is over is submitted first (``time_up``); a new one
        starts only if the rules allow it. When two starts race, the unique (quiz, learner,
        number) key lets one commit; the other returns the winner's attempt."""
        user_id = _user_of(actor)
        try:
            return await self._start(actor, user_id, quiz_id)
        except AttemptExists:
            pass
        async with self._uow() as uow:
            quiz = await self._quiz(uow, quiz_id)
            ref = await self._course(quiz.course_id)
            for attempt in reversed(await uow.attempts.of_learner(quiz_id, user_id)):
                if attempt.status is AttemptStatus.IN_PROGRESS:
                    return await self._view(uow, attempt, quiz, staff=self._is_grader(actor, ref)), False
        raise Conflict("another attempt at this quiz was started at the same moment; try again")

    async def view_attempt(self, actor: Principal, attempt_id: uuid.UUID) -> AttemptView:
        """The attempt as its reader may see it; one whose time is over is submitted first."""
        if actor.is_anonymous:
            raise Unauthenticated("reading an attempt needs a sign-in")
        async with self._uow() as uow:
            attempt = await self._attempt(uow, attempt_id, lock=False)
            ref = await self._course(attempt.course_id)
            staff = self._is_grader(actor, ref)
            if not staff and actor.user_id != attempt.user_id:
                raise NotFound("attempt", attempt_id)
            quiz = await self._quiz(uow, attempt.quiz_id)
            now = self._clock.now()
            closed = False
            if attempt.expired(now):
                attempt = await self._attempt(uow, attempt_id, lock=True)
                closed = await self._submit(uow, attempt, quiz, SubmitReason.TIME_UP, now)
            view = await self._view(uow, attempt, quiz, staff=staff)
            if closed:
                await uow.commit()
        return view

    async def save_answer(
        self, actor: Principal, attempt_id: uuid.UUID, question_id: uuid.UUID, cmd: SaveAnswer
    ) -> AttemptView:
        """Autosave one answer: idempotent, the last write per question wins. Refused (409) once the
        attempt is submitted or its time (with grace) is over; in the latter case the attempt is
        submitted then, with what was saved in time."""
        _user_of(actor)
        async with self._uow() as uow:
            attempt = await self._own_attempt(uow, actor, attempt_id)
            quiz = await self._quiz(uow, attempt.quiz_id)
            ref = await self._course(attempt.course_id)
            await self._check_entitled(actor, attempt.course_id, ref)
            now = self._clock.now()
            if attempt.expired(now):
                await self._submit(uow, attempt, quiz, SubmitReason.TIME_UP, now)
                await uow.commit()
                raise AttemptClosed(
                    "time is up: the attempt was submitted with the answers saved in time"
                    if attempt.deadline is None
                    else f"time is up: answers were accepted until {attempt.deadline.isoformat()}; "
                    "the attempt was submitted with the answers saved in time"
                )
            item = attempt.item(question_id)
            shown = (await uow.questions.versions([(question_id, item.version)])).get((question_id, item.version))
            if shown is None:
                raise NotFound("question version", f"{item.version} of question {question_id}")
            response = check_response(shown.body, cmd.response)
            attempt.save_answer(question_id, response, now)
            view = await self._view(uow, attempt, quiz, staff=self._is_grader(actor, ref))
            await uow.commit()
        return view

    async def submit_attempt(self, actor: Principal, attempt_id: uuid.UUID) -> tuple[AttemptView, bool]:
        """``(attempt, submitted_now)``: exactly once. Grades every item that scores itself; the
        attempt is graded at once unless an item waits for a person. A submit after the time (and
        grace) is over counts as the system's (``time_up``), with the work counted at the end of
        time."""
        _user_of(actor)
        async with self._uow() as uow:
            attempt = await self._own_attempt(uow, actor, attempt_id)
            quiz = await self._quiz(uow, attempt.quiz_id)
            ref = await self._course(attempt.course_id)
            await self._check_entitled(actor, attempt.course_id, ref)
            now = self._clock.now()
            reason = SubmitReason.TIME_UP if attempt.expired(now) else SubmitReason.LEARNER
            submitted = await self._submit(uow, attempt, quiz, reason, now)
            view = await self._view(uow, attempt, quiz, staff=self._is_grader(actor, ref))
            if submitted:
                await uow.commit()
        return view, submitted

    async def list_attempts(
        self,
        actor: Principal,
        quiz_id: uuid.UUID,
        *,
        user_id: uuid.UUID | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[AttemptSummary]:
        """A learner's own attempts; staff (``grade.view_all``) anyone's, or all; in id order."""
        limit = check_page_size(limit)
        async with self._uow() as uow:
            quiz = await self._quiz(uow, quiz_id)
        ref = await self._course(quiz.course_id)
        if not self._is_grader(actor, ref):
            me = _user_of(actor)
            if quiz.status is QuizStatus.DRAFT and not self._is_staff(actor, ref):
                raise NotFound("quiz", quiz_id)
            if user_id is not None and user_id != me:
                raise NotFound("attempts", f"of user {user_id} on quiz {quiz_id}")
            user_id = me
        listing = scope_of("attempts", quiz_id, user_id)
        after = self._cursors.after(listing, cursor, uuid_key)
        rows = await self._queries.attempts(quiz_id, user_id, after, limit + 1)
        return self._cursors.page(listing, rows, limit, lambda a: [str(a.id)])

    async def close_expired(self, limit: int = 500) -> int:
        """Submit (reason ``time_up``) in-progress attempts whose time or window is over; how many.

        Each attempt is submitted in a unit of work of its own, so one that cannot be (its
        question versions are missing) does not hold back the others; those are named in a
        ``Conflict`` raised after the rest are done."""
        if not 1 <= limit <= SWEEP_MAX:
            raise ValidationFailed(
                f"limit must be between 1 and {SWEEP_MAX}", [FieldError("limit", f"must be 1 to {SWEEP_MAX}")]
            )
        now = self._clock.now()
        async with self._uow() as uow:
            expired = await uow.attempts.expired(None, limit, now)
        closed, failed = 0, []
        for attempt_id in expired[:limit]:
            try:
                async with self._uow() as uow:
                    attempt = await uow.attempts.lock(attempt_id)
                    if attempt is None or not attempt.expired(now):
                        continue  # submitted meanwhile (by its learner, or another sweep)
                    quiz = await self._quiz(uow, attempt.quiz_id)
                    if await self._submit(uow, attempt, quiz, SubmitReason.TIME_UP, now):
                        await uow.commit()
                        closed += 1
            except DomainError as exc:
                failed.append(f"{attempt_id} ({exc.detail})")
        if failed:
            raise Conflict(f"{closed} expired attempt(s) submitted; {len(failed)} could not be: {'; '.join(failed)}")
        return closed

    async def _start(self, actor: Principal, user_id: uuid.UUID, quiz_id: uuid.UUID) -> tuple[AttemptView, bool]:
        async with self._uow() as uow:
            quiz = await self._quiz(uow, quiz_id)
            ref = await self._course(quiz.course_id)
            staff = self._is_staff(actor, ref)
            if not staff:
                await self._check_learner(actor, quiz)
            grader = self._is_grader(actor, ref)
            if quiz.status is QuizStatus.ARCHIVED:
                raise StartRefused(StartRefusal.NOT_AVAILABLE, "the quiz is archived: it takes no new attempts")
            now = self._clock.now()
            previous = await uow.attempts.of_learner(quiz.id, user_id)
            closed_one = False
            for attempt in [a for a in previous if a.status is AttemptStatus.IN_PROGRESS]:
                if not attempt.expired(now):
                    return await self._view(uow, attempt, quiz, staff=grader), False
                locked = await self._attempt(uow, attempt.id, lock=True)
                closed_one = await self._submit(uow, locked, quiz, SubmitReason.TIME_UP, now) or closed_one
            window = quiz.window_for(await uow.quizzes.extension(quiz.id, user_id))
            if staff:
                window = replace(window, opens_at=None, closes_at=None, max_attempts=None)
            try:
                window.check_start(now, used=len(previous))
                number = max((a.number for a in previous), default=0) + 1
                attempt = await self._new_attempt(uow, quiz, window, user_id, number, now)
            except StartRefused:
                if closed_one:
                    await uow.commit()  # the expired attempt's submission stands, though no new one starts
                raise
            uow.attempts.add(attempt)
            view = await self._view(uow, attempt, quiz, staff=grader)
            await uow.commit()
        return view, True

    async def _new_attempt(
        self, uow: AssessmentUnitOfWork, quiz: Quiz, window: Window, user_id: uuid.UUID, number: int, now: datetime
    ) -> Attempt:
        fixed = await self._fixed_versions(uow, quiz)
        pools = await self._pools(uow, quiz)
        quiz.check_fillable(fixed.keys(), pools)
        seed = secrets.randbits(63)
        drawn = quiz.draw(seed, pools)
        versions = await uow.questions.current(drawn) if drawn else {}
        items = quiz.assemble(seed, fixed, pools, versions)
        return Attempt.start(quiz, window, user_id, number, seed, items, now)
