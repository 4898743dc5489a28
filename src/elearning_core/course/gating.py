"""Content gating: the one decision of who may open a lesson's content, and what an outline shows them.

Every content route of every module asks ``decide`` (directly, or through the
helpers below), so they all gate the same way:

- staff (``course.view_unpublished`` on the course) open everything, released or not;
- a ``preview`` lesson is open to everyone, signed in or not, enrolled or not, whatever its
  section's release date (the author chose to show it);
- anyone else needs an enrollment (active or completed): without one, ``enrollment_required``;
- an enrolled learner waits for the section's release: an absolute ``release_at``, or
  ``release_after_days`` counted from their enrollment; before it, ``not_yet_released`` with
  the time it opens (``available_at``);
- an enrolled learner of a paid course needs access now (the entitlement check: a purchase, a
  subscription, a seat, grandfathering or the audit track): without it, ``entitlement_required``
  with the check's reason (``payment-required``, ``subscription-past-due``, ``refunded``...); graded
  work (quizzes) also needs the full track (``audit-track``). The enrollment, progress and attempts
  stay: access comes back with the entitlement;
- once released, an enrolled learner still waits for the lesson's and its section's
  requirements (conditional release, ``elearning_core.course.requirements``): until met,
  ``locked`` with the requirements not met (``unmet``), evaluated from the learner's facts.

What a caller may not open is still listed (title, kind, duration, preview flag), with the
reason and the date, never its body, video, assessment or attachments. Drafts and unknown
content are not this module's business: they are a 404 before gating is asked.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from elearning_core.course.model import Access, CourseStatus, SectionRelease
from elearning_core.course.queries import CourseOutline, LessonView, SectionView
from elearning_core.course.requirements import (
    NO_FACTS,
    LearnerFacts,
    LearnerFactsReader,
    RequirementKind,
    UnmetRequirement,
    evaluate,
    has_requirements,
)
from elearning_core.entitlement.access import AUDIT_TRACK, graded_refusal, refusal_detail
from elearning_core.entitlement.model import Verdict
from elearning_core.entitlement.ports import AccessCheck
from elearning_core.shared.errors import ContentLocked, NotFound


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who reads, as far as gating cares: staff, or a learner enrolled since a time, or neither."""

    staff: bool = False
    enrolled_at: datetime | None = None
    """When the caller's enrollment (active or completed) started; None when not enrolled."""
    facts: LearnerFacts = NO_FACTS
    """What the learner has done in the course, for conditional release (read only when the course has
    requirements)."""
    refusal: str | None = None
    """Why the entitlement check refuses this enrolled learner the course now (None: access, or not asked)."""
    audit: bool = False
    """On the course's audit track: content, no graded work."""

    @property
    def enrolled(self) -> bool:
        return self.enrolled_at is not None


NO_RELEASE = SectionRelease()
STAFF = Viewer(staff=True)
OUTSIDER = Viewer()
"""Anonymous, or signed in without an enrollment."""


@dataclass(frozen=True, slots=True)
class Decision:
    access: Access
    available_at: datetime | None = None
    """When a ``not_yet_released`` lesson opens for this viewer."""
    unmet: tuple[UnmetRequirement, ...] = ()
    """Why a ``locked`` lesson is locked: the requirements the viewer does not meet yet."""
    refusal: str | None = None
    """Why an ``entitlement_required`` decision refuses: the entitlement check's reason."""

    @property
    def allowed(self) -> bool:
        return self.access is Access.OPEN


OPEN = Decision(Access.OPEN)
ENROLLMENT_REQUIRED = Decision(Access.ENROLLMENT_REQUIRED)


Locks = Mapping[uuid.UUID, Sequence[UnmetRequirement]]
"""Per lesson id, the requirements the viewer does not meet (``requirements.evaluate``); absent or empty: none."""


def decide(
    viewer: Viewer,
    *,
    preview: bool,
    release: SectionRelease,
    now: datetime,
    unmet: Sequence[UnmetRequirement] = (),
) -> Decision:
    """Whether ``viewer`` may open a lesson (``preview`` or not) of a section released as ``release``,
    whose requirements ``viewer`` does not meet as ``unmet`` says."""
    if viewer.staff or preview:
        return OPEN
    if viewer.enrolled_at is None:
        return ENROLLMENT_REQUIRED
    if viewer.refusal is not None:
        return Decision(Access.ENTITLEMENT_REQUIRED, refusal=viewer.refusal)
    available_at = release.available_at(viewer.enrolled_at)
    if available_at is not None and available_at > now:
        return Decision(Access.NOT_YET_RELEASED, available_at)
    if unmet:
        return Decision(Access.LOCKED, unmet=tuple(unmet))
    return OPEN


def locks_for(outline: CourseOutline, viewer: Viewer) -> Locks:
    """What locks each lesson for ``viewer`` (nothing for staff, outsiders, or a course without requirements)."""
    if viewer.staff or not viewer.enrolled or viewer.refusal is not None or not has_requirements(outline):
        return {}
    return evaluate(outline, viewer.facts)


def require_open(decision: Decision, what: str = "lesson") -> None:
    """Raise the 403 refusal that says why, unless the decision opens the content."""
    if decision.access is Access.ENROLLMENT_REQUIRED:
        raise ContentLocked("enrollment-required", f"enroll in the course to open this {what}")
    if decision.access is Access.NOT_YET_RELEASED:
        assert decision.available_at is not None
        raise ContentLocked(
            "not-yet-released",
            f"this {what} opens at {decision.available_at.isoformat()}",
            available_at=decision.available_at,
        )
    if decision.access is Access.ENTITLEMENT_REQUIRED:
        reason = decision.refusal or "payment-required"
        raise ContentLocked(reason, refusal_detail(reason, what))
    if decision.access is Access.LOCKED:
        raise ContentLocked(
            "locked-by-requirement",
            f"this {what} opens once its requirements are met: " + "; ".join(_said(u) for u in decision.unmet),
            unmet_requirements=[u.to_json() for u in decision.unmet],
        )


def _said(unmet: UnmetRequirement) -> str:
    if unmet.kind is RequirementKind.QUIZ:
        score = f" with at least {unmet.min_percent:g}%" if unmet.min_percent is not None else ""
        return f"pass the quiz of {unmet.title!r}{score}"
    if unmet.section_id is not None:
        return f"complete the section {unmet.title!r}"
    return f"complete the lesson {unmet.title!r}"


def _locked(lesson: LessonView, decision: Decision) -> LessonView:
    """A lesson the caller may not open: title, kind, duration and the reason; no content.

    Built field by field rather than by ``dataclasses.replace``, which costs three times as much: an
    outline of 200 lessons behind requirements locks most of them on every read of a new learner.
    """
    return LessonView(
        id=lesson.id,
        title=lesson.title,
        position=lesson.position,
        kind=lesson.kind,
        duration_seconds=lesson.duration_seconds,
        preview=lesson.preview,
        access=decision.access,
        available_at=decision.available_at,
        requirements=lesson.requirements,
        unmet_requirements=list(decision.unmet),
        refusal=decision.refusal,
    )


def gate_section(section: SectionView, viewer: Viewer, now: datetime, locks: Locks | None = None) -> SectionView:
    """The section as ``viewer`` may see it (``locks``: what ``locks_for`` says of the viewer's outline)."""
    if viewer.staff:
        return section
    locks = locks or {}
    release = section.release
    available_at = release.available_at(viewer.enrolled_at)
    released = available_at is None or available_at <= now
    section_open = viewer.enrolled and viewer.refusal is None and released
    if section_open and (not locks or not any(locks.get(lesson.id) for lesson in section.lessons)):
        return section  # the common case of an enrolled learner: nothing to copy
    lessons = []
    for lesson in section.lessons:
        decision = decide(viewer, preview=lesson.preview, release=release, now=now, unmet=locks.get(lesson.id, ()))
        lessons.append(lesson if decision.allowed else _locked(lesson, decision))
    return replace(section, lessons=lessons, available_at=available_at if viewer.enrolled and not released else None)


def gate_outline(outline: CourseOutline, viewer: Viewer, now: datetime) -> CourseOutline:
    """The outline as ``viewer`` may see it: every title, and the content of what they may open."""
    if viewer.staff:
        return outline
    locks = locks_for(outline, viewer)
    sections = [gate_section(section, viewer, now, locks) for section in outline.sections]
    if all(new is old for new, old in zip(sections, outline.sections, strict=True)):
        return outline
    return replace(outline, sections=sections)


@dataclass(frozen=True, slots=True)
class GatedLesson:
    """One lesson of a published version, with what gating needs to know about it."""

    lesson: LessonView
    section: SectionView
    unmet: tuple[UnmetRequirement, ...] = ()
    """The requirements of the lesson the viewer does not meet (``lessons_with`` given ``locks``)."""

    def decision(self, viewer: Viewer, now: datetime) -> Decision:
        return decide(viewer, preview=self.lesson.preview, release=self.section.release, now=now, unmet=self.unmet)


def find_lesson(outline: CourseOutline, lesson_id: uuid.UUID) -> GatedLesson:
    for section in outline.sections:
        for lesson in section.lessons:
            if lesson.id == lesson_id:
                return GatedLesson(lesson, section)
    raise NotFound("lesson", lesson_id)


def lessons_with(
    outline: CourseOutline,
    *,
    video_id: uuid.UUID | None = None,
    assessment_id: uuid.UUID | None = None,
    locks: Locks | None = None,
) -> list[GatedLesson]:
    """The lessons of ``outline`` that show this video or this assessment (with their ``locks``)."""
    locks = locks or {}
    return [
        GatedLesson(lesson, section, tuple(locks.get(lesson.id, ())))
        for section in outline.sections
        for lesson in section.lessons
        if (video_id is not None and lesson.video_id == video_id)
        or (assessment_id is not None and lesson.assessment_id == assessment_id)
    ]


def decide_any(lessons: list[GatedLesson], viewer: Viewer, now: datetime) -> Decision:
    """The most open decision over the lessons that show one thing (a video in two lessons opens with either).

    Material no published lesson shows (a quiz or a video of the course that no lesson embeds) is
    course material like any other: open to staff and enrolled learners, with no preview and no
    release date.
    """
    if not lessons:
        return decide(viewer, preview=False, release=NO_RELEASE, now=now)
    decisions = [gated.decision(viewer, now) for gated in lessons]
    for decision in decisions:
        if decision.allowed:
            return decision
    refused = [d for d in decisions if d.access is Access.ENTITLEMENT_REQUIRED]
    if refused:
        return refused[0]  # the viewer's, the same for every lesson
    dated = [d for d in decisions if d.access is Access.NOT_YET_RELEASED and d.available_at is not None]
    if dated:
        return min(dated, key=lambda d: d.available_at or now)
    locked = [d for d in decisions if d.access is Access.LOCKED]
    if locked:
        return min(locked, key=lambda d: len(d.unmet))  # the lesson closest to opening says what is left
    return ENROLLMENT_REQUIRED


# -- the narrow read other modules gate their content through ------------------------------------


class PublishedOutlines(Protocol):
    """The latest published version of a course (``CatalogQueries`` is one, cached where configured)."""

    async def published_outline(self, course_id: uuid.UUID, number: int | None = None) -> CourseOutline | None: ...


class EnrollmentDates(Protocol):
    """A narrow read of the enrollment module."""

    async def enrolled_since(self, user_id: uuid.UUID, course_id: uuid.UUID) -> datetime | None:
        """When the learner's active or completed enrollment in the course started; None when there is none."""
        ...


class ContentGate:
    """Gates another module's material (a video, a quiz) by the published lessons that show it.

    Not a service: a read over two narrow ports and ``decide``. The video and assessment services
    hold one, so their routes gate exactly as the course's own lesson reads do.
    """

    def __init__(
        self,
        outlines: PublishedOutlines | None,
        enrollments: EnrollmentDates,
        facts: LearnerFactsReader | None = None,
        access: AccessCheck | None = None,
    ) -> None:
        # None (library callers, unit tests without the course reads): no lesson shows anything, and
        # whether the course is published is left to the caller. Without ``facts`` a learner has done
        # nothing yet: material shown only by lessons behind requirements stays locked. Without ``access``
        # (library callers, tests) every course is free.
        self._outlines, self._enrollments, self._facts, self._access = outlines, enrollments, facts, access

    async def viewer(self, user_id: uuid.UUID | None, course_id: uuid.UUID, *, graded: bool = False) -> Viewer:
        """A non-staff caller: enrolled since a time (with the entitlement check's answer), or an outsider
        (anonymous callers cost no query). ``graded``: the check is asked of a signed-in outsider too (graded
        work shown by a preview lesson still needs the full track)."""
        if user_id is None:
            return OUTSIDER
        if self._access is None:
            return Viewer(enrolled_at=await self._enrollments.enrolled_since(user_id, course_id))
        enrolled_at, verdict = await self._access.enrolled_verdict(user_id, course_id)
        viewer = Viewer(enrolled_at=enrolled_at)
        return with_verdict(viewer, verdict) if viewer.enrolled or graded else viewer

    async def material(
        self,
        course_id: uuid.UUID,
        user_id: uuid.UUID | None,
        now: datetime,
        *,
        staff: bool,
        video_id: uuid.UUID | None = None,
        assessment_id: uuid.UUID | None = None,
    ) -> Decision:
        """Whether the caller may open this video or quiz of the course (``require_open`` raises the refusal).

        NotFound for everyone but staff while the course is not published: its material is a draft to them.
        """
        if staff:
            return OPEN
        graded = assessment_id is not None  # a quiz is graded work: the audit track does not open it
        outline = None
        if self._outlines is not None:
            outline = await self._outlines.published_outline(course_id)
            if outline is None or outline.status is not CourseStatus.PUBLISHED:
                raise NotFound("video", video_id) if video_id is not None else NotFound("quiz", assessment_id)
        lessons = lessons_with(outline, video_id=video_id, assessment_id=assessment_id) if outline else []
        preview = any(gated.lesson.preview for gated in lessons)
        if preview and not graded:
            return OPEN
        viewer = await self.viewer(user_id, course_id, graded=graded and preview)
        if preview:
            return _graded(viewer, OPEN)
        if lessons and outline is not None and user_id is not None and viewer.enrolled and has_requirements(outline):
            # The lessons that show the material are gated by their requirements as the course's own reads are.
            if self._facts is not None:
                viewer = replace(viewer, facts=await self._facts.learner_facts(user_id, course_id))
            lessons = lessons_with(
                outline, video_id=video_id, assessment_id=assessment_id, locks=locks_for(outline, viewer)
            )
        decision = decide_any(lessons, viewer, now)
        return _graded(viewer, decision) if graded else decision

    async def lesson(
        self, course_id: uuid.UUID, lesson_id: uuid.UUID, user_id: uuid.UUID | None, now: datetime
    ) -> Decision:
        """Whether a non-staff caller may open this lesson of the latest published version, as the course's own
        lesson read decides (its attachments go with it); NotFound when no published version holds it."""
        outline = await self._outlines.published_outline(course_id) if self._outlines is not None else None
        if outline is None or outline.status is not CourseStatus.PUBLISHED:
            raise NotFound("lesson", lesson_id)
        gated = find_lesson(outline, lesson_id)
        if gated.lesson.preview:
            return OPEN
        viewer = await self.viewer(user_id, course_id)
        if user_id is not None and viewer.enrolled and self._facts is not None and has_requirements(outline):
            viewer = replace(viewer, facts=await self._facts.learner_facts(user_id, course_id))
            gated = replace(gated, unmet=tuple(locks_for(outline, viewer).get(lesson_id, ())))
        return gated.decision(viewer, now)

    async def entitlement(self, course_id: uuid.UUID, user_id: uuid.UUID | None, *, graded: bool) -> Decision:
        """The entitlement check alone, for work under way (saving or submitting a quiz attempt already
        started): refused when the learner lost access since, or, for ``graded`` work, is on the audit track."""
        if user_id is None or self._access is None:
            return OPEN
        viewer = await self.viewer(user_id, course_id, graded=True)
        if graded:
            return _graded(viewer, OPEN)
        return OPEN if viewer.refusal is None else Decision(Access.ENTITLEMENT_REQUIRED, refusal=viewer.refusal)


def _graded(viewer: Viewer, decision: Decision) -> Decision:
    """Graded work open to the viewer only on the full track (the audit track opens content, not quizzes)."""
    if decision.allowed and viewer.refusal is not None:
        return Decision(Access.ENTITLEMENT_REQUIRED, refusal=viewer.refusal)
    if decision.allowed and viewer.audit:
        return Decision(Access.ENTITLEMENT_REQUIRED, refusal=AUDIT_TRACK)
    return decision


async def entitled(viewer: Viewer, access: AccessCheck | None, user_id: uuid.UUID, course_id: uuid.UUID) -> Viewer:
    """``viewer`` with the entitlement check's answer for the course (a learner's grandfathering counts from
    ``viewer.enrolled_at``, read already); unchanged without a check (every course free)."""
    if access is None:
        return viewer
    return with_verdict(viewer, await access.verdict(user_id, course_id, enrolled_at=viewer.enrolled_at))


def with_verdict(viewer: Viewer, verdict: Verdict) -> Viewer:
    """``viewer`` refused (with the reason) or on the audit track as the entitlement check's ``verdict`` says."""
    if verdict.refusal is not None:
        return replace(viewer, refusal=verdict.refusal.value)
    if graded_refusal(verdict) is not None:
        return replace(viewer, audit=True)
    return viewer
