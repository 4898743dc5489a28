"""Progress use cases: learners record activity (facts), staff override, reset and set the rules; reads.

Activity commands only record facts and their events, in one small transaction (the heartbeat path
must stay lean). Derived state (lesson and course completion, percentages) is the projection
``projector.ProgressProjector`` computes when the events come back through the ``progress`` subscription, in
the handler's own transaction: the same code in-process, under Kafka, and in ``progress rebuild``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from elearning_core.auth.model import Permission, ResourceRef
from elearning_core.auth.ports import ResourceDirectory
from elearning_core.course.gating import (
    Decision,
    GatedLesson,
    PublishedOutlines,
    Viewer,
    decide,
    find_lesson,
    locks_for,
    require_open,
    with_verdict,
)
from elearning_core.course.model import CourseStatus
from elearning_core.course.queries import CourseOutline
from elearning_core.course.requirements import LearnerFacts, has_requirements
from elearning_core.course.values import LessonKind
from elearning_core.entitlement.ports import AccessCheck
from elearning_core.progress.commands import Heartbeat, SetCompletionRules, StaffDecision
from elearning_core.progress.events import (
    CompletionRulesChanged,
    CourseCompleted,
    LessonMarkedDone,
    LessonViewed,
    ProgressReset,
    VideoWatched,
    progress_key,
)
from elearning_core.progress.model import (
    CompletionRules,
    CompletionSource,
    CourseProgress,
    LastActivity,
    LessonState,
    Override,
    Watch,
    lesson_complete,
    lesson_started,
    percent_of,
)
from elearning_core.progress.ports import (
    EnrolledCourses,
    ProgressUnitOfWork,
)
from elearning_core.progress.projector import ProgressProjector
from elearning_core.progress.queries import (
    ContinuePointer,
    CourseProgressView,
    LearnerCourseRead,
    LearnerProgressRow,
    LessonProgressView,
    ProgressFilter,
    ProgressQueries,
    SectionProgressView,
)
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import Conflict, ContentLocked, NotFound, PermissionDenied, Unauthenticated
from elearning_core.shared.group_commit import GroupCommit
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, CursorCodec, Page, check_page_size, scope_of, uuid_key
from elearning_core.shared.ports import Policy, Principal
from elearning_core.video.model import PlaybackPosition

OVERRIDE = "override"
RESET = "reset"
HEARTBEAT_LINGER_SECONDS = 0.005
"""Under load, a group of heartbeats waits this long for more before it is written (see ``GroupCommit``):
a few milliseconds on a heartbeat's answer for several times fewer transactions."""


@dataclass(frozen=True, slots=True)
class _Opened:
    user_id: uuid.UUID
    outline: CourseOutline
    gated: GatedLesson


@dataclass(frozen=True, slots=True)
class _Beat:
    """One heartbeat's writes: the watched interval, the last activity (with the position) and the event."""

    watch: Watch
    last: LastActivity
    event: VideoWatched


class ProgressService:
    def __init__(
        self,
        uow: Callable[[], ProgressUnitOfWork],
        queries: ProgressQueries,
        outlines: PublishedOutlines,
        enrollments: EnrolledCourses,
        resources: ResourceDirectory,
        clock: Clock,
        policy: Policy,
        cursors: CursorCodec,
        projector: ProgressProjector,
        access: AccessCheck | None = None,
    ) -> None:
        # ``access``: the entitlement check. A learner who lost access (a refund, a lapsed subscription) keeps
        # the progress made, but records no more until access is back; None (library callers): every course free.
        self._access = access
        self._uow, self._queries, self._outlines, self._enrollments = uow, queries, outlines, enrollments
        self._resources, self._clock, self._policy, self._cursors = resources, clock, policy, cursors
        self.projector = projector
        self.heartbeat_writer: GroupCommit[_Beat] = GroupCommit(self._write_heartbeats, linger=HEARTBEAT_LINGER_SECONDS)

    # -- learner activity (facts) ---------------------------------------------------------------

    async def view(self, actor: Principal, course_id: uuid.UUID, lesson_id: uuid.UUID) -> None:
        await self._mark(actor, course_id, lesson_id, done=False)

    async def mark_done(self, actor: Principal, course_id: uuid.UUID, lesson_id: uuid.UUID) -> None:
        await self._mark(actor, course_id, lesson_id, done=True)

    async def _mark(self, actor: Principal, course_id: uuid.UUID, lesson_id: uuid.UUID, *, done: bool) -> None:
        opened = await self._open(actor, course_id, lesson_id)
        now, user_id = self._clock.now(), opened.user_id
        event = LessonMarkedDone if done else LessonViewed
        async with self._uow() as uow:
            if done:
                await uow.progress.mark_done(course_id, user_id, lesson_id, now)
            else:
                await uow.progress.mark_viewed(course_id, user_id, lesson_id, now)
            await uow.progress.touch(course_id, user_id, LastActivity(lesson_id, now))
            key = progress_key(course_id, user_id)
            uow.progress.record(
                [event(occurred_at=now, aggregate_id=key, course_id=course_id, user_id=user_id, lesson_id=lesson_id)]
            )
            await uow.commit()

    async def heartbeat(self, actor: Principal, course_id: uuid.UUID, lesson_id: uuid.UUID, beat: Heartbeat) -> None:
        """The merged watched union, the last activity, the video module's saved position (the same row
        ``PUT /videos/{id}/position`` writes) and the event, committed before this returns. Heartbeats
        arriving together share one transaction (``GroupCommit``): the hot path of thousands of viewers."""
        opened = await self._open(actor, course_id, lesson_id)
        lesson = opened.gated.lesson
        if lesson.kind is not LessonKind.VIDEO or lesson.video_id is None:
            raise Conflict("heartbeats are for video lessons; this lesson has no video")
        duration = float(lesson.duration_seconds) if lesson.duration_seconds else None
        position = beat.position if duration is None else min(beat.position, duration)
        now = self._clock.now()
        user_id, video_id = opened.user_id, lesson.video_id
        await self.heartbeat_writer.submit(
            _Beat(
                Watch(course_id, user_id, video_id, (beat.start, beat.end), duration, now),
                LastActivity(lesson_id, now, video_id, position),
                VideoWatched(
                    occurred_at=now,
                    aggregate_id=progress_key(course_id, user_id),
                    course_id=course_id,
                    user_id=user_id,
                    lesson_id=lesson_id,
                    video_id=video_id,
                    start_seconds=beat.start,
                    end_seconds=beat.end,
                    position_seconds=position,
                    state=beat.state,
                    playback_rate=beat.playback_rate,
                    player_session_id=beat.player_session_id,
                    duration_seconds=duration,
                ),
            )
        )

    async def _write_heartbeats(self, beats: Sequence[_Beat]) -> None:
        """One transaction for a group of heartbeats (all or nothing; each fact idempotent)."""
        async with self._uow() as uow:
            covered = await uow.progress.add_watched_many([b.watch for b in beats])
            await uow.progress.touch_many([(b.watch.course_id, b.watch.user_id, b.last) for b in beats])
            await uow.playback_positions.keep(
                [
                    PlaybackPosition(b.watch.user_id, b.watch.video_id, b.last.position_seconds or 0.0, b.last.at)
                    for b in beats
                ]
            )
            # Each event says how much of its video the learner has watched now (analytics' video progress).
            uow.progress.record(
                [b.event.model_copy(update={"watched_seconds": covered.get(b.watch.key)}) for b in beats]
            )
            await uow.commit()

    # -- staff -----------------------------------------------------------------------------

    async def override_completion(
        self, actor: Principal, course_id: uuid.UUID, user_id: uuid.UUID, decision: StaffDecision
    ) -> CourseProgress:
        """Staff mark the learner's course complete, with who and why (the audit trail keeps both)."""
        await self._staff(actor, course_id)
        if await self._enrollments.enrolled_since(user_id, course_id) is None:
            raise NotFound("enrollment", user_id)
        now = self._clock.now()
        async with self._uow() as uow:
            current = await uow.progress.progress(course_id, user_id) or CourseProgress(course_id, user_id)
            if current.completed:
                return current
            await uow.progress.add_audit(course_id, user_id, Override(OVERRIDE, actor.user_id, decision.reason, now))
            uow.progress.record(
                [
                    CourseCompleted(
                        occurred_at=now,
                        aggregate_id=progress_key(course_id, user_id),
                        course_id=course_id,
                        user_id=user_id,
                        version_number=current.version_number,
                        source=CompletionSource.OVERRIDE.value,
                        by=actor.user_id,
                        reason=decision.reason,
                    )
                ]
            )
            # The override is a decision, not a derivation: the state says so at once.
            updated = replace(current, completed_at=now, completion_source=CompletionSource.OVERRIDE)
            await uow.progress.save_progress(updated)
            await uow.commit()
        return updated

    async def reset(self, actor: Principal, course_id: uuid.UUID, user_id: uuid.UUID, decision: StaffDecision) -> None:
        """Forget the learner's progress in the course (facts and completions); the audit trail stays."""
        await self._staff(actor, course_id)
        if await self._enrollments.enrolled_since(user_id, course_id) is None:
            raise NotFound("enrollment", user_id)
        now = self._clock.now()
        async with self._uow() as uow:
            await uow.progress.clear_facts(course_id, user_id)
            await uow.progress.add_audit(course_id, user_id, Override(RESET, actor.user_id, decision.reason, now))
            await uow.progress.save_progress(CourseProgress(course_id, user_id))
            uow.progress.record(
                [
                    ProgressReset(
                        occurred_at=now,
                        aggregate_id=progress_key(course_id, user_id),
                        course_id=course_id,
                        user_id=user_id,
                        by=actor.user_id,
                        reason=decision.reason,
                    )
                ]
            )
            await uow.commit()

    async def get_rules(self, actor: Principal, course_id: uuid.UUID) -> CompletionRules:
        await self._visible(actor, course_id)
        async with self._uow() as uow:
            return await uow.progress.rules(course_id)

    async def set_rules(self, actor: Principal, course_id: uuid.UUID, cmd: SetCompletionRules) -> CompletionRules:
        """New rules apply to every learner (their event recomputes the course); recorded completions stand."""
        await self._staff(actor, course_id, Permission.COURSE_EDIT)
        rules = CompletionRules(
            course_id,
            text_requires_done=cmd.text_requires_done,
            video_percent=cmd.video_percent,
            assessment_requires_pass=cmd.assessment_requires_pass,
            min_grade_percent=cmd.min_grade_percent,
            optional_lesson_ids=frozenset(cmd.optional_lesson_ids),
        )
        async with self._uow() as uow:
            await uow.progress.save_rules(rules)
            uow.progress.record(
                [
                    CompletionRulesChanged(
                        occurred_at=self._clock.now(), aggregate_id=course_id, course_id=course_id, by=actor.user_id
                    )
                ]
            )
            await uow.commit()
        return rules

    # -- reads -----------------------------------------------------------------------------

    async def course_progress(self, actor: Principal, course_id: uuid.UUID) -> CourseProgressView:
        """The published outline with the caller's progress: the cached outline plus one query."""
        user_id = _user_of(actor)
        outline = await self._published(course_id)
        enrolled_at = await self._enrollments.enrolled_since(user_id, course_id)
        if enrolled_at is None:
            raise NotFound("enrollment", course_id)
        read = await self._queries.course_state(course_id, user_id)
        return build_view(outline, read, Viewer(enrolled_at=enrolled_at), self._clock.now())

    async def my_progress(
        self, actor: Principal, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[LearnerProgressRow]:
        user_id = _user_of(actor)
        limit = check_page_size(limit)
        listing = scope_of("my-progress", user_id)
        after = self._cursors.after(listing, cursor, uuid_key)
        rows = await self._queries.my_courses(user_id, after, limit + 1)
        return self._cursors.page(listing, rows, limit, lambda r: [str(r.course_id)])

    async def learners(
        self,
        actor: Principal,
        course_id: uuid.UUID,
        where: ProgressFilter | None = None,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[LearnerProgressRow]:
        await self._staff(actor, course_id, Permission.GRADE_VIEW_ALL)
        where = where or ProgressFilter()
        limit = check_page_size(limit)
        listing = scope_of("course-progress", course_id, where.completed)
        after = self._cursors.after(listing, cursor, uuid_key)
        rows = await self._queries.learners(course_id, where, after, limit + 1)
        return self._cursors.page(listing, rows, limit, lambda r: [str(r.user_id)])

    async def all_learners(
        self, actor: Principal, course_id: uuid.UUID, where: ProgressFilter | None = None, max_rows: int = 100_000
    ) -> list[LearnerProgressRow]:
        """Every learner's row (the CSV export), read in pages, bounded."""
        await self._staff(actor, course_id, Permission.GRADE_VIEW_ALL)
        where = where or ProgressFilter()
        rows: list[LearnerProgressRow] = []
        after: uuid.UUID | None = None
        while len(rows) < max_rows:
            page = await self._queries.learners(course_id, where, after, 1000)
            rows.extend(page)
            if len(page) < 1000:
                break
            after = page[-1].user_id
        return rows[:max_rows]

    async def lesson_counts(self, actor: Principal, course_id: uuid.UUID) -> dict[uuid.UUID, int]:
        await self._staff(actor, course_id, Permission.GRADE_VIEW_ALL)
        return await self._queries.lesson_counts(course_id)

    async def learner_progress(self, actor: Principal, course_id: uuid.UUID, user_id: uuid.UUID) -> CourseProgress:
        """One learner's derived state (staff, or the learner)."""
        if actor.user_id != user_id:
            await self._staff(actor, course_id, Permission.GRADE_VIEW_ALL)
        read = await self._queries.course_state(course_id, user_id)
        if read.progress is None:
            raise NotFound("progress", user_id)
        return read.progress

    async def audit_trail(self, actor: Principal, course_id: uuid.UUID, user_id: uuid.UUID) -> list[Override]:
        """The staff decisions on the learner's progress in the course, oldest first: completion overrides and
        resets, each with who and why (staff only: the reasons are theirs)."""
        await self._staff(actor, course_id, Permission.GRADE_VIEW_ALL)
        async with self._uow() as uow:
            return await uow.progress.audit(course_id, user_id)

    # -- helpers ---------------------------------------------------------------------------

    async def _published(self, course_id: uuid.UUID) -> CourseOutline:
        outline = await self._outlines.published_outline(course_id)
        if outline is None or outline.status is not CourseStatus.PUBLISHED:
            raise NotFound("course", course_id)
        return outline

    async def _open(self, actor: Principal, course_id: uuid.UUID, lesson_id: uuid.UUID) -> _Opened:
        """The lesson, if the caller is a learner who may open it now (gating); progress needs an enrollment."""
        user_id = _user_of(actor)
        outline = await self._published(course_id)
        gated = find_lesson(outline, lesson_id)
        if self._access is None:
            enrolled_at = await self._enrollments.enrolled_since(user_id, course_id)
            viewer = Viewer(enrolled_at=enrolled_at)
        else:  # the enrollment and the entitlement in one read (one cache round trip on a hit)
            enrolled_at, verdict = await self._access.enrolled_verdict(user_id, course_id)
            viewer = with_verdict(Viewer(enrolled_at=enrolled_at), verdict) if enrolled_at else Viewer()
        if enrolled_at is not None and has_requirements(outline):
            # Conditional release: only a course with requirements pays the read of the learner's facts.
            viewer = replace(viewer, facts=learner_facts(await self._queries.course_state(course_id, user_id)))
            gated = replace(gated, unmet=tuple(locks_for(outline, viewer).get(lesson_id, ())))
        require_open(gated.decision(viewer, self._clock.now()))
        if enrolled_at is None:  # a preview lesson opens to everyone, but only learners have progress
            raise Conflict("enroll in the course to record progress in it")
        return _Opened(user_id, outline, gated)

    async def _course(self, course_id: uuid.UUID) -> ResourceRef:
        ref = await self._resources.course(course_id)
        if ref is None:
            raise NotFound("course", course_id)
        return ref

    async def _visible(self, actor: Principal, course_id: uuid.UUID) -> ResourceRef:
        ref = await self._course(course_id)
        if self._policy.authorize(actor, Permission.COURSE_VIEW_UNPUBLISHED, ref).allowed:
            return ref
        await self._published(course_id)
        return ref

    async def _staff(
        self, actor: Principal, course_id: uuid.UUID, permission: Permission = Permission.ENROLLMENT_MANAGE
    ) -> ResourceRef:
        """``permission`` on the course; 404 rather than 403 where the course is hidden from the actor."""
        ref = await self._course(course_id)
        if not self._policy.authorize(actor, permission, ref).allowed:
            await self._visible(actor, course_id)
            raise PermissionDenied(permission.value, self._policy.authorize(actor, permission, ref).reason)
        return ref


def build_view(outline: CourseOutline, read: LearnerCourseRead, viewer: Viewer, now: datetime) -> CourseProgressView:
    """The outline with the learner's per-lesson state, lock reasons (release dates and conditional release,
    judged on the facts of this same read), percentages and where to continue."""
    viewer = replace(viewer, facts=learner_facts(read))
    locks = locks_for(outline, viewer)
    rules, facts, state, last = read.rules, read.facts, read.progress, read.last
    completed = state.completed_lesson_ids if state else frozenset()
    sections = []
    continue_at: ContinuePointer | None = None
    required_total = required_done = 0
    for section in outline.sections:
        lessons = []
        section_required = section_done = 0
        for lesson in section.lessons:
            decision = decide(
                viewer, preview=lesson.preview, release=section.release, now=now, unmet=locks.get(lesson.id, ())
            )
            done = lesson.id in completed or lesson_complete(lesson, rules, facts)
            optional = lesson.id in rules.optional_lesson_ids
            if done:
                lesson_state = LessonState.COMPLETED
            elif lesson_started(lesson, facts):
                lesson_state = LessonState.IN_PROGRESS
            else:
                lesson_state = LessonState.NOT_STARTED
            if not optional:
                section_required += 1
                section_done += done
                if continue_at is None and not done and decision.allowed:
                    continue_at = ContinuePointer(lesson.id, section.id, lesson.title)
            lessons.append(
                LessonProgressView(
                    id=lesson.id,
                    title=lesson.title,
                    kind=lesson.kind.value,
                    optional=optional,
                    state=lesson_state,
                    access=decision.access,
                    available_at=decision.available_at,
                    lock_reason=None if decision.allowed else _refusal(decision),
                )
            )
        required_total += section_required
        required_done += section_done
        sections.append(
            SectionProgressView(section.id, section.title, percent_of(section_done, section_required), lessons)
        )
    return CourseProgressView(
        course_id=outline.id,
        title=outline.title,
        version_number=outline.version_number,
        percent=percent_of(required_done, required_total),
        completed=bool(state and state.completed),
        completed_at=state.completed_at if state else None,
        completion_source=state.completion_source.value if state and state.completion_source else None,
        sections=sections,
        last=last,
        continue_at=continue_at,
    )


def _user_of(actor: Principal) -> uuid.UUID:
    if actor.user_id is None:
        raise Unauthenticated("progress is a learner's: it needs a user's sign-in")
    return actor.user_id


def learner_facts(read: LearnerCourseRead) -> LearnerFacts:
    """What conditional release needs, from a read of the learner's progress (no second query)."""
    quizzes = read.facts.quizzes
    return LearnerFacts(
        completed_lesson_ids=read.progress.completed_lesson_ids if read.progress else frozenset(),
        best_quiz_percent={q: o.best_percent for q, o in quizzes.items() if o.best_percent is not None},
        passed_quiz_ids=frozenset(q for q, o in quizzes.items() if o.passed),
    )


def _refusal(decision: Decision) -> str:
    """Why the caller may not open the lesson, in the words of gating's own refusal."""
    try:
        require_open(decision)
    except ContentLocked as refused:
        return refused.detail
    return "locked"
