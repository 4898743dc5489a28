"""The progress projection's one step: learners' derived state recomputed from their facts.

``ProgressProjector`` runs when the progress module's events come back through the ``progress``
subscription, in the handler's own transaction: the same code in-process, under Kafka, and in
``progress rebuild``. The commands (``service.ProgressService``) only record the facts it reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from elearning_core.course.gating import PublishedOutlines
from elearning_core.course.model import CourseStatus
from elearning_core.course.queries import CourseOutline, LessonView
from elearning_core.progress.model import CourseProgress, evaluate, lesson_complete, standing_override
from elearning_core.progress.ports import CourseGrades, Pair, ProgressRepository
from elearning_core.shared.clock import Clock
from elearning_core.shared.events import DomainEvent


@dataclass(frozen=True, slots=True)
class Touched:
    """A learner's activity the projection reacts to. A heartbeat names its lesson (``lesson_id``): the state
    changes only if that lesson is now complete, so the recompute may be skipped; any other activity
    (a view, a done mark, an enrollment, a reset) names none and recomputes."""

    course_id: uuid.UUID
    user_id: uuid.UUID
    lesson_id: uuid.UUID | None = None


class ProgressProjector:
    """Recomputes learners' derived state in a course from the facts: the projection's one step.

    Idempotent: run twice on the same facts it writes the same state and records no event the second
    time (completions are records; an event is recorded only when a completion is new). The facts are
    written by the commands before their events come back, so a learner's state depends only on the
    facts at hand, not on which of their events triggered it: many events of one learner are one
    recompute (``project``), which is what makes batches cheap.
    """

    def __init__(self, outlines: PublishedOutlines, grades: CourseGrades | None, clock: Clock) -> None:
        self._outlines, self._grades, self._clock = outlines, grades, clock

    async def _outline(self, course_id: uuid.UUID) -> CourseOutline | None:
        outline = await self._outlines.published_outline(course_id)
        return outline if outline is not None and outline.status is CourseStatus.PUBLISHED else None

    async def recompute(
        self, repo: ProgressRepository, course_id: uuid.UUID, user_id: uuid.UUID, outline: CourseOutline | None = None
    ) -> list[DomainEvent]:
        return await self.project(repo, [Touched(course_id, user_id)], {course_id: outline} if outline else None)

    async def after_watch(
        self, repo: ProgressRepository, course_id: uuid.UUID, user_id: uuid.UUID, lesson_id: uuid.UUID
    ) -> list[DomainEvent]:
        """A heartbeat changes the derived state only by completing its lesson: when the facts do not complete
        it, the full recompute is skipped (two reads instead of seven, on the projection's busiest event)."""
        return await self.project(repo, [Touched(course_id, user_id, lesson_id)])

    async def project(
        self,
        repo: ProgressRepository,
        touched: Sequence[Touched],
        outlines: Mapping[uuid.UUID, CourseOutline | None] | None = None,
    ) -> list[DomainEvent]:
        """The learners ``touched`` names, each recomputed at most once, set-wise: the outline and rules read
        once per course, the facts, states and audit trails of all of them in one read each, the changed
        states in one write. The same result as ``recompute`` (or ``after_watch``) per item in order: the
        first recompute of a learner already sees all their facts, and every later one changes nothing.
        Events in the order of each learner's first item (per learner, the order ``recompute`` gives)."""
        lessons_of: dict[Pair, list[uuid.UUID | None]] = {}
        for item in touched:
            lessons_of.setdefault((item.course_id, item.user_id), []).append(item.lesson_id)
        if not lessons_of:
            return []
        courses = sorted({course_id for course_id, _ in lessons_of})
        given = outlines or {}
        outline_of = {c: given[c] if given.get(c) is not None else await self._outline(c) for c in courses}
        outline_of = {
            c: o if o is not None and o.status is CourseStatus.PUBLISHED else None for c, o in outline_of.items()
        }
        rules_of = {c: await repo.rules(c) for c in courses}
        facts_of = await repo.facts_of(list(lessons_of))
        index = {c: _lessons_by_id(o) for c, o in outline_of.items()}

        def needed(pair: Pair, lessons: list[uuid.UUID | None]) -> bool:
            for lesson_id in lessons:
                lesson = index[pair[0]].get(lesson_id) if lesson_id is not None else None
                if lesson is None or lesson_complete(lesson, rules_of[pair[0]], facts_of[pair]):
                    return True
            return False

        todo = [pair for pair, lessons in lessons_of.items() if needed(pair, lessons)]
        if not todo:
            return []
        stored_of = await repo.progress_of(todo)
        audit_of = await repo.audits_of(todo)
        events: list[DomainEvent] = []
        changed: list[CourseProgress] = []
        now = self._clock.now()
        for course_id, user_id in todo:
            pair = (course_id, user_id)
            rules, stored = rules_of[course_id], stored_of.get(pair)
            previous = stored or CourseProgress(course_id, user_id)
            grade = None
            if rules.min_grade_percent is not None and self._grades is not None and not previous.completed:
                grade = await self._grades.course_grade(course_id, user_id)
            result = evaluate(
                previous,
                outline_of[course_id],
                rules,
                facts_of[pair],
                grade_percent=grade,
                override=standing_override(audit_of.get(pair, [])),
                now=now,
            )
            if stored is None or result.progress != stored:
                changed.append(result.progress)
            events.extend(result.events)
        await repo.save_progress_many(changed)
        return events

    async def recompute_course(
        self, repo: ProgressRepository, course_id: uuid.UUID, *, batch: int = 500, max_learners: int = 1_000_000
    ) -> tuple[int, list[DomainEvent]]:
        """Every learner of the course (bounded), reading the outline once, a page at a time; (learners, events)."""
        outline = await self._outlines.published_outline(course_id)
        events: list[DomainEvent] = []
        after: uuid.UUID | None = None
        seen = 0
        while seen < max_learners:
            page = await repo.learners(course_id, after, batch)
            events.extend(await self.project(repo, [Touched(course_id, u) for u in page], {course_id: outline}))
            seen += len(page)
            if len(page) < batch:
                break
            after = page[-1]
        return seen, events


def _lessons_by_id(outline: CourseOutline | None) -> dict[uuid.UUID | None, LessonView]:
    if outline is None:
        return {}
    return {lesson.id: lesson for section in outline.sections for lesson in section.lessons}
