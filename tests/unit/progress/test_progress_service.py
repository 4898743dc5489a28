"""The progress use cases over the fakes: activity records facts and events; the projector derives."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from elearning_core.auth.model import ResourceRef, RolePolicy, ScopeKind
from elearning_core.course.queries import CourseOutline
from elearning_core.progress.commands import Heartbeat, SetCompletionRules, StaffDecision
from elearning_core.progress.events import CourseCompleted, LessonCompleted, LessonViewed, ProgressReset, VideoWatched
from elearning_core.progress.model import CompletionSource, LessonState
from elearning_core.progress.projector import ProgressProjector
from elearning_core.progress.service import ProgressService
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.errors import Conflict, ContentLocked, NotFound, PermissionDenied, Unauthenticated
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import SYSTEM, Principal
from tests.fakes import T0
from tests.fakes_progress import (
    FixedGrades,
    FixedOutlines,
    InMemoryProgressQueries,
    InMemoryProgressRepository,
    ProgressStore,
    StoreEnrollments,
    uow_factory,
)
from tests.progress_builders import outline, text, video

LEARNER = uuid.uuid4()
ACTOR = Principal(subject=str(LEARNER), roles=frozenset({"learner"}), user_id=LEARNER, email_verified=True)


class Directory:
    async def course(self, course_id: uuid.UUID) -> ResourceRef | None:
        return ResourceRef(ScopeKind.COURSE, course_id)

    async def organization_exists(self, organization_id: uuid.UUID) -> bool:
        return False


class World:
    def __init__(self, course: CourseOutline) -> None:
        self.course = course
        self.store = ProgressStore()
        self.outlines = FixedOutlines()
        self.outlines.outlines[course.id] = course
        self.clock = FixedClock(T0)
        self.projector = ProgressProjector(self.outlines, FixedGrades(), self.clock)
        self.service = ProgressService(
            uow_factory(self.store),
            InMemoryProgressQueries(self.store),
            self.outlines,
            StoreEnrollments(self.store),
            Directory(),
            self.clock,
            RolePolicy(),
            CursorCodec(b"0123456789abcdef0123"),
            self.projector,
        )

    def enroll(self, user_id: uuid.UUID = LEARNER) -> None:
        self.store.enrolled[(self.course.id, user_id)] = T0

    async def project(self) -> list[str]:
        """What the subscription does with the outbox: recompute the learners it names."""
        types = []
        for event in list(self.store.outbox):
            repo = InMemoryProgressRepository(self.store)
            user_id = getattr(event, "user_id", None)
            if user_id is not None:
                types += [e.type for e in await self.projector.recompute(repo, self.course.id, user_id)]
        return types


async def test_viewing_records_a_fact_and_the_projection_completes_the_course() -> None:
    lesson = text()
    world = World(outline([lesson]))
    world.enroll()
    await world.service.view(ACTOR, world.course.id, lesson.id)
    assert [type(e) for e in world.store.outbox] == [LessonViewed]
    assert await world.project() == [LessonCompleted.type, CourseCompleted.type]
    assert await world.project() == []  # replaying changes nothing
    view = await world.service.course_progress(ACTOR, world.course.id)
    assert view.completed
    assert view.percent == 100.0
    assert view.sections[0].lessons[0].state is LessonState.COMPLETED
    assert view.last is not None
    assert view.last.lesson_id == lesson.id
    assert view.continue_at is None


async def test_heartbeats_merge_intervals_and_feed_the_video_position() -> None:
    clip = video(seconds=100)
    world = World(outline([clip, text()]))
    world.enroll()
    for start in range(0, 100, 25):
        await world.service.heartbeat(
            ACTOR,
            world.course.id,
            clip.id,
            Heartbeat(start=start, end=start + 25, position=start + 25, player_session_id="p"),
        )
        world.clock.advance(timedelta(seconds=25))
    assert [type(e) for e in world.store.outbox] == [VideoWatched] * 4
    assert clip.video_id is not None
    assert world.store.positions[(LEARNER, clip.video_id)].position_seconds == 100
    facts = await InMemoryProgressRepository(world.store).facts(world.course.id, LEARNER)
    assert facts.watched == {clip.video_id: 100.0}
    await world.project()
    view = await world.service.course_progress(ACTOR, world.course.id)
    assert view.percent == 50.0
    assert view.continue_at is not None
    assert view.continue_at.lesson_id == world.course.sections[0].lessons[1].id


async def test_heartbeat_events_carry_the_video_length_and_the_seconds_watched_so_far() -> None:
    """What analytics' video progress reads: the union watched after each heartbeat, and the length."""
    clip = video(seconds=100)
    world = World(outline([clip]))
    world.enroll()
    for start, end in [(0, 30), (20, 40), (0, 10)]:
        await world.service.heartbeat(
            ACTOR, world.course.id, clip.id, Heartbeat(start=start, end=end, position=end, player_session_id="p")
        )
    beats = [e for e in world.store.outbox if isinstance(e, VideoWatched)]
    assert [(e.duration_seconds, e.watched_seconds) for e in beats] == [(100.0, 30.0), (100.0, 40.0), (100.0, 40.0)]


async def test_seeking_to_the_end_does_not_complete_a_video() -> None:
    clip = video(seconds=100)
    world = World(outline([clip]))
    world.enroll()
    for start, end in [(0, 5), (95, 100)]:
        await world.service.heartbeat(
            ACTOR, world.course.id, clip.id, Heartbeat(start=start, end=end, position=end, player_session_id="p")
        )
    assert await world.project() == []


async def test_heartbeats_need_a_video_lesson_and_an_enrollment() -> None:
    reading = text()
    world = World(outline([reading]))
    beat = Heartbeat(start=0, end=5, position=5, player_session_id="p")
    with pytest.raises(ContentLocked):
        await world.service.heartbeat(ACTOR, world.course.id, reading.id, beat)
    world.enroll()
    with pytest.raises(Conflict):
        await world.service.heartbeat(ACTOR, world.course.id, reading.id, beat)
    with pytest.raises(NotFound):
        await world.service.view(ACTOR, world.course.id, uuid.uuid4())
    with pytest.raises(Unauthenticated):
        await world.service.view(Principal(subject="anonymous"), world.course.id, reading.id)


def test_a_heartbeat_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="end must not be before start"):
        Heartbeat(start=10, end=5, position=5, player_session_id="p")


async def test_staff_override_and_reset_leave_an_audit_trail() -> None:
    lesson = text()
    world = World(outline([lesson]))
    world.enroll()
    state = await world.service.override_completion(SYSTEM, world.course.id, LEARNER, StaffDecision(reason="offline"))
    assert state.completion_source is CompletionSource.OVERRIDE
    completed = world.store.outbox[-1]
    assert isinstance(completed, CourseCompleted)
    assert completed.source == "override"
    assert completed.reason == "offline"
    assert await world.project() == []
    assert (await world.service.learner_progress(SYSTEM, world.course.id, LEARNER)).completed
    await world.service.reset(SYSTEM, world.course.id, LEARNER, StaffDecision(reason="retake"))
    assert isinstance(world.store.outbox[-1], ProgressReset)
    await world.project()
    assert not (await world.service.learner_progress(SYSTEM, world.course.id, LEARNER)).completed
    trail = await world.service.audit_trail(SYSTEM, world.course.id, LEARNER)
    assert [(a.kind, a.reason, a.by) for a in trail] == [("override", "offline", None), ("reset", "retake", None)]


async def test_learners_may_not_override_change_rules_or_read_the_audit_trail() -> None:
    world = World(outline([text()]))
    world.enroll()
    with pytest.raises(PermissionDenied):
        await world.service.override_completion(ACTOR, world.course.id, LEARNER, StaffDecision(reason="me"))
    with pytest.raises(PermissionDenied):
        await world.service.set_rules(ACTOR, world.course.id, SetCompletionRules())
    with pytest.raises(PermissionDenied):  # the audit trail's reasons are the staff's
        await world.service.audit_trail(ACTOR, world.course.id, LEARNER)


async def test_rules_set_by_staff_drive_the_projection() -> None:
    lesson = text()
    world = World(outline([lesson]))
    world.enroll()
    await world.service.set_rules(SYSTEM, world.course.id, SetCompletionRules(text_requires_done=True))
    await world.service.view(ACTOR, world.course.id, lesson.id)
    assert await world.project() == []
    await world.service.mark_done(ACTOR, world.course.id, lesson.id)
    assert CourseCompleted.type in await world.project()


async def test_my_progress_pages_over_courses() -> None:
    world = World(outline([text()]))
    world.enroll()
    await world.project()
    for _ in range(3):
        repo = InMemoryProgressRepository(world.store)
        other = uuid.uuid4()
        await world.projector.recompute(repo, other, LEARNER)
    first = await world.service.my_progress(ACTOR, limit=2)
    assert len(first.items) == 2
    assert first.next_cursor is not None
    rest = await world.service.my_progress(ACTOR, cursor=first.next_cursor, limit=2)
    assert len(rest.items) == 1
    assert rest.next_cursor is None


async def test_a_heartbeat_that_completes_nothing_skips_the_recompute() -> None:
    clip = video(seconds=100)
    world = World(outline([clip]))
    world.enroll()
    repo = InMemoryProgressRepository(world.store)
    beat = Heartbeat(start=0, end=50, position=50, player_session_id="p")
    await world.service.heartbeat(ACTOR, world.course.id, clip.id, beat)
    assert await world.projector.after_watch(repo, world.course.id, LEARNER, clip.id) == []
    assert world.store.progress == {}  # nothing derived was even written
    beat = Heartbeat(start=50, end=100, position=100, player_session_id="p")
    await world.service.heartbeat(ACTOR, world.course.id, clip.id, beat)
    completed = await world.projector.after_watch(repo, world.course.id, LEARNER, clip.id)
    assert [e.type for e in completed] == [LessonCompleted.type, CourseCompleted.type]


async def test_the_outline_says_why_a_lesson_is_locked_and_continue_skips_it() -> None:
    later, now = text("Later"), text("Now")
    course = outline([later], [now])
    dated = replace(course.sections[0], release_at=T0 + timedelta(days=3))
    world = World(replace(course, sections=[dated, course.sections[1]]))
    world.enroll()
    view = await world.service.course_progress(ACTOR, world.course.id)
    locked, open_ = view.sections[0].lessons[0], view.sections[1].lessons[0]
    assert locked.access.value == "not_yet_released"
    assert locked.available_at == T0 + timedelta(days=3)
    assert locked.lock_reason == "this lesson opens at 2026-01-08T09:30:00+00:00"
    assert open_.lock_reason is None
    assert view.continue_at is not None
    assert view.continue_at.lesson_id == now.id
