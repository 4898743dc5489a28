"""Learning path use cases: authoring, publishing, enrolling, and the path progress projection.

Who may author paths: a path spans courses of several owners, so it is a
platform-level resource. Authoring (create, edit, publish, archive, delete,
and seeing drafts) needs ``course.create`` on the platform: whoever may
create courses on the platform (platform admins, platform-wide instructors,
service accounts) may build programs of them. An organization's instructor
(``course.create`` on the organization only) may not.

Enrolling in a path records a ``PathEnrollment`` and ``PathEnrolled`` with the
courses to enroll the learner into now: every course of the path they have
not completed yet. The enrollment into each course happens through that
event (see ``elearning_adapters.learning_path_events``), under each course's
own enrollment rules; refusals come back through ``record_course_outcome``.

Path progress is a projection: ``course_completed`` and ``progress_reset``
keep the completion facts, and a path enrollment whose rules become
satisfied is completed once (``PathCompleted``). A completion stays recorded
after a later reset of one of its courses (a credential may rest on it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from datetime import datetime

from elearning_core.auth.model import Permission, require_participation
from elearning_core.learning_path.commands import CreatePath, SetStructure, UpdatePath
from elearning_core.learning_path.model import (
    PREREQUISITES_NOT_MET,
    CourseOutcome,
    CourseOutcomeStatus,
    LearningPath,
    PathEnrollment,
    PathEnrollmentRefused,
    PathPart,
    PathStatus,
    evaluate,
)
from elearning_core.learning_path.ports import CourseBrief, LearningPathUnitOfWork, PathCourses
from elearning_core.learning_path.queries import LearningPathQueries, PathProgressView
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import Conflict, FieldError, NotFound, Unauthenticated, ValidationFailed
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, CursorCodec, Page, check_page_size, scope_of, uuid_key
from elearning_core.shared.ports import Policy, Principal, require

AUTHOR = Permission.COURSE_CREATE
SLUG_TAKEN = "slug is already taken by another learning path"


class LearningPathService:
    def __init__(
        self,
        uow: Callable[[], LearningPathUnitOfWork],
        queries: LearningPathQueries,
        courses: PathCourses,
        clock: Clock,
        policy: Policy,
        cursors: CursorCodec,
    ) -> None:
        self._uow, self._queries, self._courses = uow, queries, courses
        self._clock, self._policy, self._cursors = clock, policy, cursors

    def joined(self, uow: Callable[[], LearningPathUnitOfWork]) -> LearningPathService:
        """The same service over another unit-of-work factory (an event handler's own transaction)."""
        return LearningPathService(uow, self._queries, self._courses, self._clock, self._policy, self._cursors)

    def is_author(self, actor: Principal) -> bool:
        return self._policy.authorize(actor, AUTHOR, None).allowed

    # -- authoring -----------------------------------------------------------------------

    async def create(self, actor: Principal, cmd: CreatePath) -> LearningPath:
        require(self._policy, actor, AUTHOR, None)
        path = LearningPath.create(slug=cmd.slug, title=cmd.title, description=cmd.description, at=self._clock.now())
        async with self._uow() as uow:
            if await uow.learning_paths.slug_taken(path.slug):
                raise Conflict(SLUG_TAKEN)
            uow.learning_paths.add(path)
            await uow.commit()
        return path

    async def update(self, actor: Principal, path_id: uuid.UUID, cmd: UpdatePath) -> LearningPath:
        require(self._policy, actor, AUTHOR, None)
        async with self._uow() as uow:
            path = await self._path(uow, path_id)
            changes = cmd.changes()
            if "slug" in changes and await uow.learning_paths.slug_taken(changes["slug"], other_than=path.id):
                raise Conflict(SLUG_TAKEN)
            path.update(self._clock.now(), **changes)
            await uow.commit()
        return path

    async def set_structure(self, actor: Principal, path_id: uuid.UUID, cmd: SetStructure) -> LearningPath:
        """Replace a draft's parts and prerequisites; every course named must exist."""
        require(self._policy, actor, AUTHOR, None)
        parts = [
            PathPart.make(p.kind, p.course_ids, p.required_count, p.title, where=f"parts.{i}")
            for i, p in enumerate(cmd.parts)
        ]
        named = [c for p in parts for c in p.course_ids] + list(cmd.prerequisites)
        known = await self._courses.courses(named)
        for index, part in enumerate(parts):
            for position, course_id in enumerate(part.course_ids):
                if course_id not in known:
                    raise _not_a_course(f"parts.{index}.course_ids.{position}", course_id)
        for index, course_id in enumerate(cmd.prerequisites):
            if course_id not in known:
                raise _not_a_course(f"prerequisites.{index}", course_id)
        async with self._uow() as uow:
            path = await self._path(uow, path_id)
            path.restructure(parts, cmd.prerequisites, self._clock.now())
            await uow.commit()
        return path

    async def publish(self, actor: Principal, path_id: uuid.UUID) -> LearningPath:
        """Publish a draft: every course of the path and every prerequisite must be published."""
        require(self._policy, actor, AUTHOR, None)
        async with self._uow() as uow:
            path = await self._path(uow, path_id)
            named = [*path.course_ids, *path.prerequisites]
            known = await self._courses.courses(named)
            path.publish(self._clock.now(), {c for c in named if c not in known or not known[c].published})
            await uow.commit()
        return path

    async def archive(self, actor: Principal, path_id: uuid.UUID) -> LearningPath:
        """Close a published path to new enrollments; its learners keep their progress."""
        require(self._policy, actor, AUTHOR, None)
        async with self._uow() as uow:
            path = await self._path(uow, path_id)
            path.archive(self._clock.now())
            await uow.commit()
        return path

    async def delete(self, actor: Principal, path_id: uuid.UUID) -> None:
        """Delete a draft (a published path is archived instead: learners may follow it)."""
        require(self._policy, actor, AUTHOR, None)
        async with self._uow() as uow:
            path = await self._path(uow, path_id)
            if path.status is not PathStatus.DRAFT:
                raise Conflict(f"the path is {path.status.value}: only a draft can be deleted (archive it instead)")
            await uow.learning_paths.remove(path.id)
            await uow.commit()

    # -- reads ---------------------------------------------------------------------------

    async def get(self, actor: Principal, path_id: uuid.UUID) -> LearningPath:
        async with self._uow() as uow:
            path = await uow.learning_paths.get(path_id)
        return self._visible(actor, path, path_id)

    async def get_by_slug(self, actor: Principal, slug: str) -> LearningPath:
        async with self._uow() as uow:
            path = await uow.learning_paths.by_slug(slug)
        return self._visible(actor, path, slug)

    async def list_paths(
        self,
        actor: Principal,
        status: PathStatus | None = None,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[LearningPath]:
        """Published paths for everyone; authors see drafts and archived ones too (or one ``status``)."""
        limit = check_page_size(limit)
        visible = set(PathStatus) if self.is_author(actor) else {PathStatus.PUBLISHED}
        statuses = visible & {status} if status is not None else visible
        listing = scope_of("learning-paths", ",".join(sorted(statuses)))
        after = self._cursors.after(listing, cursor, uuid_key)
        rows = await self._queries.list_paths(statuses, after, limit + 1) if statuses else []
        return self._cursors.page(listing, rows, limit, lambda p: [str(p.id)])

    async def course_briefs(self, course_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, CourseBrief]:
        return await self._courses.courses(course_ids)

    # -- learners ------------------------------------------------------------------------

    async def enroll(self, actor: Principal, path_id: uuid.UUID) -> tuple[PathEnrollment, bool]:
        """Enroll the caller in a published path; ``(enrollment, created)``. Enrolling again returns the
        existing enrollment. The path's prerequisites must be completed first."""
        user_id = _user_of(actor)
        path = await self.get(actor, path_id)
        require_participation(self._policy, actor, "enroll")
        async with self._uow() as uow:
            existing = await uow.path_enrollments.find(path.id, user_id)
            if existing is not None:
                return existing, False
            path = await self._path(uow, path_id)
            completed = await uow.course_completions.completed(user_id, [*path.prerequisites, *path.course_ids])
            missing = [c for c in path.prerequisites if c not in completed]
            if path.is_published and missing:
                raise PathEnrollmentRefused(
                    PREREQUISITES_NOT_MET,
                    f"complete the path's prerequisite course(s) first: {', '.join(map(str, missing))}",
                    missing=missing,
                )
            open_courses = [c for c in path.course_ids if c not in completed]
            enrollment = PathEnrollment.enroll(path, user_id, open_courses=open_courses, at=self._clock.now())
            uow.path_enrollments.add(enrollment)
            await uow.commit()
        return enrollment, True

    async def progress(self, actor: Principal, path_id: uuid.UUID) -> PathProgressView:
        """The caller's progress on the path: per part and course, with refusals and their reasons."""
        user_id = _user_of(actor)
        path = await self.get(actor, path_id)
        async with self._uow() as uow:
            enrollment = await uow.path_enrollments.find(path.id, user_id)
            if enrollment is None:
                raise NotFound("path enrollment", f"of the caller in path {path_id}")
            completed = await uow.course_completions.completed(user_id, path.course_ids)
            outcomes = await uow.path_enrollments.outcomes([enrollment.id])
        courses = await self._courses.courses(path.course_ids)
        return PathProgressView.of(path, enrollment, completed, outcomes, courses)

    async def my_paths(
        self, actor: Principal, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[PathProgressView]:
        """The caller's paths with their progress, oldest enrollment first."""
        user_id = _user_of(actor)
        limit = check_page_size(limit)
        listing = scope_of("my-learning-paths", user_id)
        after = self._cursors.after(listing, cursor, uuid_key)
        page = self._cursors.page(
            listing, await self._queries.enrollments_of(user_id, after, limit + 1), limit, lambda e: [str(e.id)]
        )
        async with self._uow() as uow:
            paths = await uow.learning_paths.get_many({e.path_id for e in page.items})
            every_course = {c for p in paths.values() for c in p.course_ids}
            completed = await uow.course_completions.completed(user_id, every_course)
            outcomes = await uow.path_enrollments.outcomes([e.id for e in page.items])
        courses = await self._courses.courses(every_course)
        views = [
            PathProgressView.of(paths[e.path_id], e, completed, outcomes, courses)
            for e in page.items
            if e.path_id in paths
        ]
        return Page(views, page.next_cursor)

    # -- the projection (event handlers, no actor) ---------------------------------------

    async def record_course_outcome(
        self,
        enrollment_id: uuid.UUID,
        course_id: uuid.UUID,
        status: CourseOutcomeStatus,
        *,
        reason: str | None = None,
        detail: str | None = None,
    ) -> None:
        """What became of enrolling the path's learner into a course; a refusal is also an event."""
        now = self._clock.now()
        async with self._uow() as uow:
            enrollment = await uow.path_enrollments.get(enrollment_id)
            if enrollment is None:
                return
            outcome = CourseOutcome(enrollment_id, course_id, status, reason, detail, now)
            await uow.path_enrollments.save_outcome(outcome)
            if status is CourseOutcomeStatus.REFUSED:
                enrollment.refused(course_id, reason or "refused", detail or "", now)
            await uow.commit()

    async def course_completed(self, user_id: uuid.UUID, course_id: uuid.UUID, at: datetime) -> list[uuid.UUID]:
        """Keep the completion; complete the learner's paths it satisfies. Returns the paths completed now."""
        async with self._uow() as uow:
            await uow.course_completions.record(user_id, course_id, at)
            completed = await self._complete_satisfied(uow, user_id, lambda p: course_id in p.course_ids, at)
            await uow.commit()
        return completed

    async def progress_reset(self, user_id: uuid.UUID, course_id: uuid.UUID) -> None:
        """Forget the course's completion (a path completed before stays completed)."""
        async with self._uow() as uow:
            await uow.course_completions.forget(user_id, course_id)
            await uow.commit()

    async def check_completion(self, enrollment_id: uuid.UUID, at: datetime) -> bool:
        """Complete a new path enrollment whose courses were all completed before (True if it did)."""
        async with self._uow() as uow:
            enrollment = await uow.path_enrollments.get(enrollment_id)
            if enrollment is None:
                return False
            done = await self._complete_satisfied(uow, enrollment.user_id, lambda p: p.id == enrollment.path_id, at)
            await uow.commit()
        return bool(done)

    # -- helpers -------------------------------------------------------------------------

    async def _complete_satisfied(
        self,
        uow: LearningPathUnitOfWork,
        user_id: uuid.UUID,
        concerned: Callable[[LearningPath], bool],
        at: datetime,
    ) -> list[uuid.UUID]:
        completed_now = []
        for enrollment in await uow.path_enrollments.of_learner(user_id):
            if enrollment.is_completed:
                continue
            path = await uow.learning_paths.get(enrollment.path_id)
            if path is None or not concerned(path):
                continue
            done = await uow.course_completions.completed(user_id, path.course_ids)
            if evaluate(path.parts, done).complete and enrollment.complete(at):
                completed_now.append(path.id)
        return completed_now

    @staticmethod
    async def _path(uow: LearningPathUnitOfWork, path_id: uuid.UUID) -> LearningPath:
        path = await uow.learning_paths.get(path_id)
        if path is None:
            raise NotFound("learning path", path_id)
        return path

    def _visible(self, actor: Principal, path: LearningPath | None, key: object) -> LearningPath:
        """The path, if the actor may know it exists: published or archived, or any to its authors."""
        if path is None or (path.status is PathStatus.DRAFT and not self.is_author(actor)):
            raise NotFound("learning path", key)
        return path


def _not_a_course(field: str, course_id: uuid.UUID) -> ValidationFailed:
    return ValidationFailed(f"course {course_id} does not exist", [FieldError(field, "is not a course")])


def _user_of(actor: Principal) -> uuid.UUID:
    if actor.user_id is None:
        raise Unauthenticated("a learning path enrollment needs a user's sign-in (a service account cannot learn)")
    return actor.user_id
