"""Enrollment use cases: self-enrollment, staff enrollment, cohorts, the course's rules.

Completion is not decided here: the enrollment follows the progress module's ``progress.course_completed.v1``
and ``progress.reset.v1`` events (``elearning_adapters.enrollment_completion``).

Seats: every use case that changes an enrollment locks the course's settings
row first (``EnrollmentSettingsRepository.lock``), then, when a cohort is
involved, the cohort row, always in that order. So for one course these use
cases run one at a time, each counting the active enrollments after the
previous one committed: a course (or cohort) of N seats never gets N + 1
learners, however many requests arrive at once. Other courses are not held up.

Staff (``enrollment.manage`` on the course) may enroll learners outside the
window, into a course closed to self-enrollment or not yet published, and
without the prerequisites (an explicit decision of the course's staff), but
never beyond a capacity.

Self-enrollment also needs the platform's participation rule
(``require_participation``: a verified email, when the platform requires one).
Staff enrolling a learner do not: they vouch for the account.

Prerequisites are checked through ``PrerequisiteChecker`` before the lock is
taken (it is another module's read, which must not run while a row lock is
held), and the rules read under the lock must not require more than was
checked; if they changed meanwhile the request is refused, to be retried.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from elearning_core.auth.model import Permission, ResourceRef, require_participation
from elearning_core.auth.ports import ResourceDirectory
from elearning_core.enrollment.commands import CreateCohort, EnrollmentSettings, UpdateCohort
from elearning_core.enrollment.model import (
    Cohort,
    Enrollment,
    EnrollmentPolicy,
    EnrollmentRefused,
    EnrollmentSource,
    EnrollmentStatus,
    RefusalReason,
)
from elearning_core.enrollment.ports import (
    CourseLookup,
    EnrollmentUnitOfWork,
    LearnerLookup,
    PrerequisiteChecker,
)
from elearning_core.enrollment.queries import (
    CohortView,
    EnrollmentFilter,
    EnrollmentQueries,
    EnrollmentView,
    LearnerEnrollmentKey,
    LearnerEnrollmentView,
)
from elearning_core.entitlement.access import refusal_detail
from elearning_core.entitlement.ports import AccessCheck
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import Conflict, FieldError, NotFound, Unauthenticated, ValidationFailed
from elearning_core.shared.pagination import (
    DEFAULT_PAGE_SIZE,
    CursorCodec,
    Page,
    check_page_size,
    iso_time,
    scope_of,
    uuid_key,
)
from elearning_core.shared.ports import Policy, Principal, require

RULES_CHANGED = "the course's enrollment rules changed while enrolling; try again"


class EnrollmentService:
    def __init__(
        self,
        uow: Callable[[], EnrollmentUnitOfWork],
        queries: EnrollmentQueries,
        courses: CourseLookup,
        learners: LearnerLookup,
        prerequisites: PrerequisiteChecker,
        resources: ResourceDirectory,
        clock: Clock,
        policy: Policy,
        cursors: CursorCodec,
        access: AccessCheck | None = None,
    ) -> None:
        self._uow, self._queries, self._courses, self._learners = uow, queries, courses, learners
        self._prerequisites, self._resources, self._clock, self._policy = prerequisites, resources, clock, policy
        self._cursors = cursors
        # Self-enrollment in a paid course needs access (a purchase, a subscription, a seat, or the audit
        # track): the entitlement check. Without it (library callers, tests), every course is free.
        self._access = access

    # -- learners ------------------------------------------------------------------------

    async def self_enroll(
        self, actor: Principal, course_id: uuid.UUID, cohort_id: uuid.UUID | None = None
    ) -> tuple[Enrollment, bool]:
        """Enroll the caller; ``(enrollment, created)``. Enrolling again returns the existing enrollment."""
        user_id = _user_of(actor)
        ref = await self._visible(actor, course_id)
        require_participation(self._policy, actor, "enroll")
        staff = self._policy.authorize(actor, Permission.COURSE_VIEW_UNPUBLISHED, ref).allowed
        return await self._enroll_by_rules(user_id, course_id, cohort_id, staff=staff)

    async def enroll_for_path(self, user_id: uuid.UUID, course_id: uuid.UUID) -> tuple[Enrollment, bool]:
        """For the learning path module's event handler: enroll a learner who enrolled in a path into one of
        its courses, under the course's self-enrollment rules (published, open, window, prerequisites, seats).
        The learner's sign-in and participation were checked when they enrolled in the path."""
        return await self._enroll_by_rules(user_id, course_id, None)

    def joined(self, uow: Callable[[], EnrollmentUnitOfWork]) -> EnrollmentService:
        """The same service over another unit-of-work factory (an event handler's own transaction)."""
        return EnrollmentService(
            uow,
            self._queries,
            self._courses,
            self._learners,
            self._prerequisites,
            self._resources,
            self._clock,
            self._policy,
            self._cursors,
            self._access,
        )

    # -- seats held by a checkout --------------------------------------------------------

    async def hold_seat(self, course_id: uuid.UUID, reference: str, user_id: uuid.UUID, until: datetime) -> bool:
        """Hold a seat of a course with a capacity for ``reference`` (an order) until ``until``, if one is left
        (``EnrollmentRefused`` course_full otherwise); False when the course has no capacity (no hold needed)."""
        async with self._uow() as uow:
            locked = await uow.enrollment_settings.lock(course_id)
            if locked.capacity is None:
                return False
            existing = await uow.enrollments.find(course_id, user_id)
            if existing is not None and existing.is_active:
                return False  # already has a seat: paying adds the entitlement only
            taken = await uow.enrollments.count_active(course_id)
            locked.check_seat(
                taken + await uow.seat_holds.count_live(course_id, self._clock.now(), other_than=reference)
            )
            await uow.seat_holds.add(course_id, reference, user_id, until)
            await uow.commit()
        return True

    async def release_seat(self, reference: str) -> bool:
        """Give a held seat back (a failed, expired or refunded order); False when nothing was held."""
        async with self._uow() as uow:
            released = await uow.seat_holds.release(reference)
            await uow.commit()
        return released

    async def enroll_purchased(self, user_id: uuid.UUID, course_id: uuid.UUID, reference: str) -> Enrollment:
        """A paid order's enrollment: the seat held for ``reference`` becomes the enrollment (without a live
        hold, a seat must still be free: ``EnrollmentRefused`` course_full otherwise). The window, openness
        and prerequisites were the buyer's to read before paying; the capacity holds."""
        async with self._uow() as uow:
            locked = await uow.enrollment_settings.lock(course_id)
            existing = await uow.enrollments.find(course_id, user_id)
            if existing is not None and existing.grants_access:
                await uow.seat_holds.release(reference)
                await uow.commit()
                return existing
            enrollment = await self._take_seat(
                uow, locked, user_id, None, EnrollmentSource.PURCHASED, existing, hold=reference
            )
            await uow.seat_holds.release(reference)
            await uow.commit()
        return enrollment

    async def _enroll_by_rules(
        self, user_id: uuid.UUID, course_id: uuid.UUID, cohort_id: uuid.UUID | None, *, staff: bool = False
    ) -> tuple[Enrollment, bool]:
        """A learner's own enrollment under the course's rules; ``(enrollment, created)``. The course's staff
        need no access to a paid course (the entitlement check answers ``staff`` for them)."""
        if not await self._courses.published(course_id):
            raise Conflict("the course is not published: nobody can enroll on their own yet")
        async with self._uow() as uow:
            existing = await uow.enrollments.find(course_id, user_id)
            if existing is not None and existing.grants_access:
                return existing, False
            rules = await uow.enrollment_settings.get(course_id)
        rules.check_self_enrollment(self._clock.now())
        checked = set(rules.prerequisites)
        if checked:
            rules.check_prerequisites(await self._prerequisites.completed(user_id, checked))
        if not staff:
            await self._check_access(user_id, course_id)
        async with self._uow() as uow:
            locked = await uow.enrollment_settings.lock(course_id)
            existing = await uow.enrollments.find(course_id, user_id)
            if existing is not None and existing.grants_access:
                return existing, False
            if not set(locked.prerequisites) <= checked:
                raise Conflict(RULES_CHANGED)
            now = self._clock.now()
            locked.check_self_enrollment(now)
            enrollment = await self._take_seat(uow, locked, user_id, cohort_id, EnrollmentSource.SELF, existing)
            await uow.commit()
        return enrollment, True

    async def _check_access(self, user_id: uuid.UUID, course_id: uuid.UUID) -> None:
        """A paid course takes its own enrollments from learners with access (the full or the audit track);
        the refusal is a 409 naming the reason (``payment-required``, ``subscription-past-due``...). Staff
        enrolling a learner, and checkout enrolling a buyer, do not ask: they vouch for the access."""
        if self._access is None:
            return
        verdict = await self._access.verdict(user_id, course_id, enrolled_at=None)
        if verdict.refusal is not None:
            reason = RefusalReason(verdict.refusal.value.replace("-", "_"))
            raise EnrollmentRefused(reason, refusal_detail(verdict.refusal.value, "course"))

    async def my_enrollments(
        self, actor: Principal, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[LearnerEnrollmentView]:
        """The caller's enrollments, newest first, with each course's title and slug."""
        user_id = _user_of(actor)
        limit = check_page_size(limit)
        listing = scope_of("my-enrollments", user_id)
        after = self._cursors.after(listing, cursor, _time_id_key)
        rows = await self._queries.enrollments_of(user_id, after, limit + 1)
        return self._cursors.page(
            listing, rows, limit, lambda v: [v.enrollment.enrolled_at.isoformat(), str(v.enrollment.id)]
        )

    async def is_enrolled(self, user_id: uuid.UUID, course_id: uuid.UUID) -> bool:
        """For other modules: whether the learner may follow the course (active or completed)."""
        return await self._queries.is_enrolled(user_id, course_id)

    # -- staff and learners --------------------------------------------------------------

    async def unenroll(self, actor: Principal, course_id: uuid.UUID, user_id: uuid.UUID) -> Enrollment:
        """A learner leaves (their own enrollment), or the course's staff remove them."""
        own = actor.user_id is not None and actor.user_id == user_id
        if own:
            await self._visible(actor, course_id)
        else:
            await self._staff(actor, course_id)
        async with self._uow() as uow:
            await uow.enrollment_settings.lock(course_id)
            enrollment = await uow.enrollments.find(course_id, user_id)
            if enrollment is None or enrollment.status is EnrollmentStatus.UNENROLLED:
                raise NotFound("enrollment", f"of user {user_id} in course {course_id}")
            enrollment.unenroll(self._clock.now(), by=EnrollmentSource.SELF if own else EnrollmentSource.STAFF)
            await uow.commit()
        return enrollment

    # -- staff ---------------------------------------------------------------------------

    async def enroll(
        self, actor: Principal, course_id: uuid.UUID, user_id: uuid.UUID, cohort_id: uuid.UUID | None = None
    ) -> tuple[Enrollment, bool]:
        """Staff enroll a learner: the window, openness and prerequisites do not apply; the capacity does."""
        await self._staff(actor, course_id)
        if not await self._learners.active(user_id):
            raise NotFound("user", user_id)
        async with self._uow() as uow:
            locked = await uow.enrollment_settings.lock(course_id)
            existing = await uow.enrollments.find(course_id, user_id)
            if existing is not None and existing.grants_access:
                return existing, False
            enrollment = await self._take_seat(uow, locked, user_id, cohort_id, EnrollmentSource.STAFF, existing)
            await uow.commit()
        return enrollment, True

    async def move(
        self, actor: Principal, course_id: uuid.UUID, user_id: uuid.UUID, cohort_id: uuid.UUID | None
    ) -> Enrollment:
        """Put an active learner in another cohort (or in none); the target cohort's capacity holds."""
        await self._staff(actor, course_id)
        async with self._uow() as uow:
            await uow.enrollment_settings.lock(course_id)
            enrollment = await self._enrollment(uow, course_id, user_id)
            if cohort_id is not None and cohort_id != enrollment.cohort_id:
                cohort = await self._cohort(uow, course_id, cohort_id)
                cohort.check_seat(await uow.enrollments.count_active(course_id, cohort_id))
            if enrollment.move(cohort_id, self._clock.now()):
                await uow.commit()
        return enrollment

    async def list_enrollments(
        self,
        actor: Principal,
        course_id: uuid.UUID,
        where: EnrollmentFilter | None = None,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> Page[EnrollmentView]:
        """The course's learners in id order, for its staff (teaching assistants included: they grade them)."""
        ref = await self._course(course_id)
        if not self._policy.authorize(actor, Permission.GRADE_VIEW_ALL, ref).allowed:
            await self._staff(actor, course_id, ref)
        where = where or EnrollmentFilter()
        limit = check_page_size(limit)
        listing = scope_of("enrollments", course_id, where.status, where.cohort_id)
        after = self._cursors.after(listing, cursor, uuid_key)
        rows = await self._queries.list_enrollments(course_id, where, after, limit + 1)
        return self._cursors.page(listing, rows, limit, lambda e: [str(e.id)])

    # -- the course's rules --------------------------------------------------------------

    async def get_settings(self, actor: Principal, course_id: uuid.UUID) -> EnrollmentPolicy:
        await self._visible(actor, course_id)
        async with self._uow() as uow:
            return await uow.enrollment_settings.get(course_id)

    async def update_settings(
        self, actor: Principal, course_id: uuid.UUID, cmd: EnrollmentSettings
    ) -> EnrollmentPolicy:
        await self._staff(actor, course_id)
        rules = EnrollmentPolicy.make(
            course_id,
            self_enrollment=cmd.self_enrollment,
            capacity=cmd.capacity,
            opens_at=cmd.opens_at,
            closes_at=cmd.closes_at,
            prerequisites=cmd.prerequisites,
        )
        for index, required in enumerate(rules.prerequisites):
            if await self._resources.course(required) is None:
                raise ValidationFailed(
                    f"the required course {required} does not exist",
                    [FieldError(f"prerequisites.{index}", "is not a course")],
                )
        async with self._uow() as uow:
            await uow.enrollment_settings.lock(course_id)
            await uow.enrollment_settings.save(rules)
            await uow.commit()
        return rules

    # -- cohorts -------------------------------------------------------------------------

    async def list_cohorts(
        self, actor: Principal, course_id: uuid.UUID, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[CohortView]:
        """A course's cohorts, oldest first, with their seats taken: anyone who can see the course may
        choose one. A course has a few cohorts (one per intake), read whole and paged here."""
        await self._visible(actor, course_id)
        limit = check_page_size(limit)
        async with self._uow() as uow:
            cohorts = await uow.cohorts.list(course_id)
        listing = scope_of("cohorts", course_id)
        page = self._cursors.slice(listing, cohorts, cursor, limit, lambda c: [iso_time(c.created_at), str(c.id)])
        _, per_cohort = await self._queries.active_counts(course_id)
        return Page([CohortView.of(c, per_cohort.get(c.id, 0)) for c in page.items], page.next_cursor)

    async def create_cohort(self, actor: Principal, course_id: uuid.UUID, cmd: CreateCohort) -> CohortView:
        await self._staff(actor, course_id)
        cohort = Cohort.create(
            course_id, name=cmd.name, capacity=cmd.capacity, starts_at=cmd.starts_at, at=self._clock.now()
        )
        async with self._uow() as uow:
            await uow.enrollment_settings.lock(course_id)
            if await uow.cohorts.name_taken(course_id, cohort.name):
                raise Conflict(f"the course already has a cohort named {cohort.name!r}")
            await uow.cohorts.add(cohort)
            await uow.commit()
        return CohortView.of(cohort, 0)

    async def update_cohort(
        self, actor: Principal, course_id: uuid.UUID, cohort_id: uuid.UUID, cmd: UpdateCohort
    ) -> CohortView:
        await self._staff(actor, course_id)
        async with self._uow() as uow:
            await uow.enrollment_settings.lock(course_id)
            cohort = await self._cohort(uow, course_id, cohort_id, field=None)
            cohort.update(**cmd.changes())
            if await uow.cohorts.name_taken(course_id, cohort.name, other_than=cohort.id):
                raise Conflict(f"the course already has a cohort named {cohort.name!r}")
            await uow.cohorts.save(cohort)
            active = await uow.enrollments.count_active(course_id, cohort_id)
            await uow.commit()
        return CohortView.of(cohort, active)

    async def delete_cohort(self, actor: Principal, course_id: uuid.UUID, cohort_id: uuid.UUID) -> None:
        """Delete an empty cohort (move its active learners first); past enrollments keep no cohort."""
        await self._staff(actor, course_id)
        async with self._uow() as uow:
            await uow.enrollment_settings.lock(course_id)
            await self._cohort(uow, course_id, cohort_id, field=None)
            active = await uow.enrollments.count_active(course_id, cohort_id)
            if active:
                raise Conflict(f"the cohort has {active} active learner(s); move them to another cohort first")
            await uow.cohorts.remove(cohort_id)
            await uow.commit()

    # -- helpers -------------------------------------------------------------------------

    async def _take_seat(
        self,
        uow: EnrollmentUnitOfWork,
        rules: EnrollmentPolicy,
        user_id: uuid.UUID,
        cohort_id: uuid.UUID | None,
        source: EnrollmentSource,
        existing: Enrollment | None,
        *,
        hold: str | None = None,
    ) -> Enrollment:
        """Enroll (or re-enroll) under the course's lock, if a seat is left in the course and the cohort.
        Seats held by checkouts count as taken (but ``hold``, the one this enrollment turns into)."""
        course_id = rules.course_id
        if rules.capacity is not None:  # counting a large course's learners is not free: only when it matters
            taken = await uow.enrollments.count_active(course_id)
            taken += await uow.seat_holds.count_live(course_id, self._clock.now(), other_than=hold)
            rules.check_seat(taken)
        if cohort_id is not None:
            cohort = await self._cohort(uow, course_id, cohort_id)
            if cohort.capacity is not None:
                cohort.check_seat(await uow.enrollments.count_active(course_id, cohort_id))
        now = self._clock.now()
        if existing is not None:
            existing.reactivate(cohort_id=cohort_id, source=source, at=now)
            return existing
        enrollment = Enrollment.enroll(course_id, user_id, cohort_id=cohort_id, source=source, at=now)
        uow.enrollments.add(enrollment)
        return enrollment

    @staticmethod
    async def _cohort(
        uow: EnrollmentUnitOfWork, course_id: uuid.UUID, cohort_id: uuid.UUID, *, field: str | None = "cohort_id"
    ) -> Cohort:
        """The course's cohort, locked; a cohort of another course is no cohort of this one."""
        cohort = await uow.cohorts.lock(cohort_id)
        if cohort is None or cohort.course_id != course_id:
            if field is None:
                raise NotFound("cohort", cohort_id)
            raise ValidationFailed(
                f"cohort {cohort_id} is not a cohort of this course",
                [FieldError(field, "is not a cohort of this course")],
            )
        return cohort

    @staticmethod
    async def _enrollment(
        uow: EnrollmentUnitOfWork, course_id: uuid.UUID, user_id: uuid.UUID, *, active_only: bool = True
    ) -> Enrollment:
        enrollment = await uow.enrollments.find(course_id, user_id)
        if enrollment is None or enrollment.status is EnrollmentStatus.UNENROLLED:
            raise NotFound("enrollment", f"of user {user_id} in course {course_id}")
        if active_only and not enrollment.is_active:
            raise Conflict(f"the enrollment is {enrollment.status.value}, not active")
        return enrollment

    async def _course(self, course_id: uuid.UUID) -> ResourceRef:
        ref = await self._resources.course(course_id)
        if ref is None:
            raise NotFound("course", course_id)
        return ref

    async def _visible(self, actor: Principal, course_id: uuid.UUID) -> ResourceRef:
        """The course, if the actor may know it exists: published, or theirs to see unpublished."""
        ref = await self._course(course_id)
        if (
            not await self._courses.published(course_id)
            and not self._policy.authorize(actor, Permission.COURSE_VIEW_UNPUBLISHED, ref).allowed
        ):
            raise NotFound("course", course_id)
        return ref

    async def _staff(self, actor: Principal, course_id: uuid.UUID, ref: ResourceRef | None = None) -> ResourceRef:
        """``enrollment.manage`` on the course; 404 rather than 403 where the course is hidden from the actor."""
        ref = ref or await self._course(course_id)
        if not self._policy.authorize(actor, Permission.ENROLLMENT_MANAGE, ref).allowed:
            await self._visible(actor, course_id)
            require(self._policy, actor, Permission.ENROLLMENT_MANAGE, ref)
        return ref


def _user_of(actor: Principal) -> uuid.UUID:
    if actor.user_id is None:
        raise Unauthenticated("enrolling needs a user's sign-in (a service account cannot be a learner)")
    return actor.user_id


def _time_id_key(key: list[object]) -> LearnerEnrollmentKey:
    at, enrollment_id = key
    return datetime.fromisoformat(str(at)), uuid.UUID(str(enrollment_id))
