"""Progress use cases: learners record activity (facts), staff override, reset and set the rules; reads.

Activity commands only record facts and their events, in one small transaction (the heartbeat path
must stay lean). Derived state (lesson and course completion, percentages) is the projection
``ProgressProjector`` computes when the events come back through the ``progress`` subscription, in
the handler's own transaction: the same code in-process, under Kafka, and in ``progress rebuild``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
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
from elearning_core.course.queries import CourseOutline, LessonView
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
    evaluate,
    lesson_complete,
    lesson_started,
    percent_of,
    standing_override,
)
from elearning_core.progress.ports import (
    CourseGrades,
    EnrolledCourses,
    Pair,
    ProgressRepository,
    ProgressUnitOfWork,
)
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
from elearning_core.shared.events import DomainEvent
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
