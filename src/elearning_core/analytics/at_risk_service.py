"""The at-risk list for a course's staff: the read port it needs, and the use case (policy, paging).

What the rules judge (``at_risk.CourseFacts``) comes from three narrow reads, each a few set-based queries
for the whole course, never one per learner: ``AtRiskReads`` (this module's port: the active learners
with their enrollment, cohort start, last activity and progress counts, the completion rules, the quizzes'
pass marks and the extensions' extra attempts), the assessment module's ``AssessmentQueries.gradebook_inputs``
(the gradebook, so the course grade is the one the gradebook shows), and the course's published outline
(which lessons are required and which quiz each assessment lesson holds).
"""

from __future__ import annotations

import bisect
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from elearning_core.analytics.at_risk import (
    AtRiskLearner,
    CourseFacts,
    GradedItem,
    ItemStanding,
    LearnerFacts,
    RiskReason,
    check_days,
    learners_at_risk,
)
from elearning_core.assessment.queries import AssessmentQueries, GradebookInputs, build_gradebook
from elearning_core.auth.model import Permission, ResourceRef
from elearning_core.auth.ports import ResourceDirectory
from elearning_core.course.gating import PublishedOutlines
from elearning_core.course.queries import CourseOutline
from elearning_core.course.values import CourseStatus, LessonKind
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import NotFound, PermissionDenied
from elearning_core.shared.pagination import (
    DEFAULT_PAGE_SIZE,
    CursorCodec,
    Page,
    check_page_size,
    scope_of,
    uuid_key,
)
from elearning_core.shared.ports import Policy, Principal


@dataclass(frozen=True, slots=True)
class RiskReadings:
    """What ``AtRiskReads`` gives for one course."""

    learners: list[LearnerFacts]
    """The learners with an active enrollment, in user-id order."""
    min_grade_percent: float | None = None
    """The completion rules' minimum course grade (None: the course sets none)."""
    optional_lesson_ids: frozenset[uuid.UUID] = frozenset()
    pass_marks: Mapping[uuid.UUID, float] = field(default_factory=dict)
    """Published quiz id -> its pass mark (quizzes without one are left out)."""
    extra_attempts: Mapping[tuple[uuid.UUID, uuid.UUID], int] = field(default_factory=dict)
    """(user id, quiz id) -> the attempts an extension adds (pairs without an extension are left out)."""


@dataclass(frozen=True, slots=True)
class AtRiskFilter:
    """Which learners to list: those with ``reason`` only (None: any), under these thresholds (None: the
    settings')."""

    reason: RiskReason | None = None
    inactive_days: int | None = None
    expected_days: int | None = None


class AtRiskReads(Protocol):
    async def readings(self, course_id: uuid.UUID) -> RiskReadings:
        """The course's learners and rules, in a few set-based queries (none per learner)."""
        ...


def required_quizzes(outline: CourseOutline | None, readings: RiskReadings) -> list[uuid.UUID]:
    """The required graded items: the published quiz (with a pass mark) of each required assessment lesson
    of the published outline, in outline order."""
    required: list[uuid.UUID] = []
    for section in outline.sections if outline is not None else ():
        for lesson in section.lessons:
            quiz_id = lesson.assessment_id
            if (
                lesson.kind is LessonKind.ASSESSMENT
                and quiz_id is not None
                and lesson.id not in readings.optional_lesson_ids
                and quiz_id in readings.pass_marks
                and quiz_id not in required
            ):
                required.append(quiz_id)
    return required


def course_facts(
    course_id: uuid.UUID,
    readings: RiskReadings,
    gradebook: GradebookInputs,
    outline: CourseOutline | None,
    now: datetime,
) -> CourseFacts:
    """The rules' input from the three reads: the course grade per learner from the gradebook, and the
    required graded items with each learner's standing on them."""
    totals = {row.user_id: row.total for row in build_gradebook(course_id, gradebook, now).rows}
    quizzes = {quiz.id: quiz for quiz in gradebook.quizzes}
    required = [q for q in required_quizzes(outline, readings) if q in quizzes]
    items = [
        GradedItem(q, quizzes[q].title, readings.pass_marks[q], quizzes[q].max_attempts, quizzes[q].closes_at)
        for q in required
    ]
    standings: dict[tuple[uuid.UUID, uuid.UUID], ItemStanding] = {}
    wanted = set(required)
    for cell in gradebook.grades:
        if cell.quiz_id in wanted:
            key = (cell.user_id, cell.quiz_id)
            standings[key] = ItemStanding(cell.percent, cell.attempts, cell.pending)
    for (user_id, quiz_id), extra in readings.extra_attempts.items():
        if quiz_id in wanted:
            standing = standings.get((user_id, quiz_id), ItemStanding())
            standings[(user_id, quiz_id)] = replace(standing, extra_attempts=extra)
    for (quiz_id, user_id), closes_at in gradebook.extended_closes.items():
        if quiz_id in wanted and closes_at is not None:
            standing = standings.get((user_id, quiz_id), ItemStanding())
            standings[(user_id, quiz_id)] = replace(standing, extended_closes_at=closes_at)
    return CourseFacts(
        course_id=course_id,
        learners=readings.learners,
        min_grade_percent=readings.min_grade_percent,
        grades=totals,
        items=items,
        standings=standings,
    )


WALK_SECONDS = 120
"""How long a walk's next pages are cut from the judgement made at its first page."""
WALKS_KEPT = 16
LEARNERS_KEPT = 100_000

_NO_GRADES = GradebookInputs(quizzes=[], learners=[], grades=[], categories=[], extended_closes={})


class AtRiskService:
    """``inactive_days``/``expected_days``: the defaults a caller may override per request (settings)."""

    def __init__(
        self,
        reads: AtRiskReads,
        assessment: AssessmentQueries,
        outlines: PublishedOutlines,
        resources: ResourceDirectory,
        clock: Clock,
        policy: Policy,
        cursors: CursorCodec,
        *,
        inactive_days: int,
        expected_days: int,
    ) -> None:
        self._reads, self._assessment, self._outlines = reads, assessment, outlines
        self._resources, self._clock, self._policy, self._cursors = resources, clock, policy, cursors
        self.inactive_days = check_days(inactive_days, "inactive_days")
        self.expected_days = check_days(expected_days, "expected_days")
        self._walks: OrderedDict[str, tuple[datetime, list[AtRiskLearner]]] = OrderedDict()

    def thresholds(self, where: AtRiskFilter) -> tuple[int, int]:
        """``(inactive_days, expected_days)`` for ``where``: its own, else the settings', checked."""
        inactive = self.inactive_days if where.inactive_days is None else where.inactive_days
        expected = self.expected_days if where.expected_days is None else where.expected_days
        return check_days(inactive, "inactive_days"), check_days(expected, "expected_days")

    async def at_risk(
        self,
        actor: Principal,
        course_id: uuid.UUID,
        where: AtRiskFilter | None = None,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[AtRiskLearner]:
        """A page of the course's learners at risk, in user-id order (the course's staff and admins).

        The list is judged whole at the first page (no cursor), and the walk's next pages are cut from that
        judgement while it is at most ``WALK_SECONDS`` old (this process's memo): a large course costs one
        judgement per walk, not one per page. Access is checked on every page; a first page always judges
        afresh, and a next page past the memo judges again (the keyset order keeps the walk whole)."""
        where = where or AtRiskFilter()
        limit = check_page_size(limit)
        inactive, expected = self.thresholds(where)
        listing = scope_of("at-risk", course_id, where.reason, inactive, expected)
        after = self._cursors.after(listing, cursor, uuid_key)  # a bad cursor is refused before the work
        await self._staff(actor, course_id)
        now = self._clock.now()
        kept = self._walks.get(listing) if cursor else None
        if kept is not None and timedelta(0) <= now - kept[0] <= timedelta(seconds=WALK_SECONDS):
            learners = kept[1]
        else:
            learners = await self._judge(course_id, where)
            self._remember(listing, now, learners)
        # In user-id order already: the page starts after the cursor's learner (a search, not a sort).
        start = 0 if after is None else bisect.bisect_right(learners, after, key=lambda x: x.user_id)
        return self._cursors.page(listing, learners[start : start + limit + 1], limit, lambda x: [str(x.user_id)])

    async def all_at_risk(
        self, actor: Principal, course_id: uuid.UUID, where: AtRiskFilter | None = None
    ) -> list[AtRiskLearner]:
        """Every learner at risk, in user-id order (the CLI's whole list), judged now."""
        where = where or AtRiskFilter()
        self.thresholds(where)  # bad thresholds are refused before the work
        await self._staff(actor, course_id)
        return await self._judge(course_id, where)

    async def _judge(self, course_id: uuid.UUID, where: AtRiskFilter) -> list[AtRiskLearner]:
        inactive, expected = self.thresholds(where)
        readings = await self._reads.readings(course_id)
        outline = await self._outlines.published_outline(course_id)
        # The gradebook (the costly read of a large course) only when a rule needs it.
        graded = readings.min_grade_percent is not None or required_quizzes(outline, readings)
        gradebook = await self._assessment.gradebook_inputs(course_id) if graded else _NO_GRADES
        now = self._clock.now()
        facts = course_facts(course_id, readings, gradebook, outline, now)
        return learners_at_risk(facts, now, inactive_days=inactive, expected_days=expected, reason=where.reason)

    def _remember(self, listing: str, at: datetime, learners: list[AtRiskLearner]) -> None:
        """Keep a walk's judgement; past ``WALKS_KEPT`` walks or ``LEARNERS_KEPT`` learners in all, the
        oldest walks are dropped."""
        self._walks.pop(listing, None)
        self._walks[listing] = (at, learners)
        while len(self._walks) > WALKS_KEPT or sum(len(kept) for _, kept in self._walks.values()) > LEARNERS_KEPT:
            self._walks.popitem(last=False)

    async def _staff(self, actor: Principal, course_id: uuid.UUID) -> ResourceRef:
        return await require_course_staff(self._resources, self._outlines, self._policy, actor, course_id)


async def require_course_staff(
    resources: ResourceDirectory, outlines: PublishedOutlines, policy: Policy, actor: Principal, course_id: uuid.UUID
) -> ResourceRef:
    """Grade viewing on the course (its staff, organization and platform admins); a caller who may not
    see the course at all gets 404, one who may see it 403 (as the other staff lists). The at-risk list and
    the course dashboard share it."""
    ref = await resources.course(course_id)
    if ref is None:
        raise NotFound("course", course_id)
    decision = policy.authorize(actor, Permission.GRADE_VIEW_ALL, ref)
    if decision.allowed:
        return ref
    if not policy.authorize(actor, Permission.COURSE_VIEW_UNPUBLISHED, ref).allowed:
        outline = await outlines.published_outline(course_id)
        if outline is None or outline.status is not CourseStatus.PUBLISHED:
            raise NotFound("course", course_id)
    raise PermissionDenied(Permission.GRADE_VIEW_ALL.value, decision.reason)


def reasons_of(learners: Sequence[AtRiskLearner]) -> dict[RiskReason, int]:
    """How many of ``learners`` have each reason (a learner may count under several)."""
    counts = dict.fromkeys(RiskReason, 0)
    for learner in learners:
        for reason in learner.reasons:
            counts[reason] += 1
    return counts
