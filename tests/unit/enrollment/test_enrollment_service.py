"""Enrollment use cases on the fakes: the rules, the staff's powers, the events, and seats under concurrency."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from elearning_core.auth.model import Grant, Role, RolePolicy, Scope
from elearning_core.auth.service import user_principal
from elearning_core.enrollment.commands import CreateCohort, EnrollmentSettings, UpdateCohort
from elearning_core.enrollment.events import CohortChanged, Enrolled, Unenrolled
from elearning_core.enrollment.model import EnrollmentRefused, EnrollmentStatus, RefusalReason
from elearning_core.enrollment.service import EnrollmentService
from elearning_core.shared.errors import (
    Conflict,
    EmailVerificationRequired,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from elearning_core.shared.ports import SYSTEM, Principal
from tests.fakes import T0, EnrollmentStore, SettableClock, an_enrollment_service


def learner(store: EnrollmentStore, *, verified: bool = True) -> Principal:
    """A signed-in learner; verified by default (the platform's rule for self-enrollment)."""
    return user_principal(store.add_user(), (), None, email_verified=verified)


def instructor_of(store: EnrollmentStore, course_id: uuid.UUID) -> Principal:
    return user_principal(store.add_user(), (Grant(Role.INSTRUCTOR, Scope.course(course_id)),), None)


@pytest.fixture
def store() -> EnrollmentStore:
    return EnrollmentStore()


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(T0)


@pytest.fixture
def service(store: EnrollmentStore, clock: SettableClock) -> EnrollmentService:
    return an_enrollment_service(store, clock=clock)


async def test_self_enrollment_records_one_event_and_is_idempotent(
    store: EnrollmentStore, service: EnrollmentService
) -> None:
    course = store.add_course()
    ada = learner(store)
    first, created = await service.self_enroll(ada, course)
    again, created_again = await service.self_enroll(ada, course)
    assert created
    assert not created_again
    assert again.id == first.id
    assert [type(e) for e in store.outbox] == [Enrolled]
    assert await service.is_enrolled(ada.user_id, course)  # type: ignore[arg-type]


async def test_an_unverified_learner_may_not_enroll_on_their_own_but_staff_may_enroll_them(
    store: EnrollmentStore, service: EnrollmentService
) -> None:
    course = store.add_course()
    unverified = learner(store, verified=False)
    with pytest.raises(EmailVerificationRequired, match="confirm your email address"):
        await service.self_enroll(unverified, course)
    assert store.outbox == []
    _, created = await service.enroll(SYSTEM, course, unverified.user_id)  # type: ignore[arg-type]
    assert created


async def test_with_the_rule_off_an_unverified_learner_enrolls(store: EnrollmentStore, clock: SettableClock) -> None:
    course = store.add_course()
    relaxed = an_enrollment_service(store, clock=clock, policy=RolePolicy(require_verified_email=False))
    _, created = await relaxed.self_enroll(learner(store, verified=False), course)
    assert created
    assert [type(e) for e in store.outbox] == [Enrolled]


async def test_a_closed_course_refuses_learners_but_not_staff(
    store: EnrollmentStore, service: EnrollmentService
) -> None:
    course = store.add_course()
    await service.update_settings(SYSTEM, course, EnrollmentSettings(self_enrollment=False))
    ada = learner(store)
    with pytest.raises(EnrollmentRefused) as refused:
        await service.self_enroll(ada, course)
    assert refused.value.reason is RefusalReason.CLOSED
    enrollment, created = await service.enroll(instructor_of(store, course), course, ada.user_id)  # type: ignore[arg-type]
    assert created
    assert enrollment.source.value == "staff"


async def test_the_window_holds_for_learners_and_not_for_staff(
    store: EnrollmentStore, service: EnrollmentService, clock: SettableClock
) -> None:
    course = store.add_course()
    opens, closes = T0 + timedelta(days=1), T0 + timedelta(days=2)
    await service.update_settings(SYSTEM, course, EnrollmentSettings(opens_at=opens, closes_at=closes))
    ada, bob = learner(store), learner(store)
    with pytest.raises(EnrollmentRefused) as early:
        await service.self_enroll(ada, course)
    assert early.value.reason is RefusalReason.NOT_YET_OPEN
    clock.set(opens)
    await service.self_enroll(ada, course)
    clock.set(closes)
    with pytest.raises(EnrollmentRefused) as late:
        await service.self_enroll(bob, course)
    assert late.value.reason is RefusalReason.WINDOW_ENDED
    _, created = await service.enroll(SYSTEM, course, bob.user_id)  # type: ignore[arg-type]
    assert created


async def test_staff_never_bypass_the_capacity(store: EnrollmentStore, service: EnrollmentService) -> None:
    course = store.add_course()
    await service.update_settings(SYSTEM, course, EnrollmentSettings(capacity=1, self_enrollment=False))
    await service.enroll(SYSTEM, course, store.add_user())
    with pytest.raises(EnrollmentRefused) as full:
        await service.enroll(SYSTEM, course, store.add_user())
    assert full.value.reason is RefusalReason.COURSE_FULL


async def test_prerequisites_refuse_until_completed(store: EnrollmentStore, service: EnrollmentService) -> None:
    course_a, course_b = store.add_course(), store.add_course()
    await service.update_settings(SYSTEM, course_b, EnrollmentSettings(prerequisites=[course_a]))
    ada = learner(store)
    with pytest.raises(EnrollmentRefused) as refused:
        await service.self_enroll(ada, course_b)
    assert refused.value.reason is RefusalReason.PREREQUISITES
    assert refused.value.missing == [course_a]
    await service.self_enroll(ada, course_a)
    with pytest.raises(EnrollmentRefused):
        await service.self_enroll(ada, course_b)  # enrolled in A is not completing it
    # What the enrollment-completion subscription does on the progress module's course completion:
    [followed] = [e for e in store.enrollments.values() if (e.course_id, e.user_id) == (course_a, ada.user_id)]
    assert followed.complete(T0)
    enrollment, created = await service.self_enroll(ada, course_b)
    assert created
    assert enrollment.is_active


async def test_unknown_prerequisites_and_self_reference_are_invalid(
    store: EnrollmentStore, service: EnrollmentService
) -> None:
    course = store.add_course()
    with pytest.raises(ValidationFailed):
        await service.update_settings(SYSTEM, course, EnrollmentSettings(prerequisites=[uuid.uuid4()]))
    with pytest.raises(ValidationFailed):
        await service.update_settings(SYSTEM, course, EnrollmentSettings(prerequisites=[course]))
    with pytest.raises(ValidationFailed):
        await service.update_settings(
            SYSTEM, course, EnrollmentSettings(opens_at=T0, closes_at=T0 - timedelta(seconds=1))
        )


async def test_learners_cannot_manage_others(store: EnrollmentStore, service: EnrollmentService) -> None:
    course = store.add_course()
    ada, bob = learner(store), learner(store)
    await service.self_enroll(bob, course)
    for attempt in (
        service.enroll(ada, course, bob.user_id),  # type: ignore[arg-type]
        service.unenroll(ada, course, bob.user_id),  # type: ignore[arg-type]
        service.list_enrollments(ada, course),
        service.update_settings(ada, course, EnrollmentSettings(capacity=1)),
        service.create_cohort(ada, course, CreateCohort(name="Autumn")),
    ):
        with pytest.raises(PermissionDenied):
            await attempt


async def test_a_draft_course_is_hidden_from_learners(store: EnrollmentStore, service: EnrollmentService) -> None:
    draft = store.add_course(published=False)
    with pytest.raises(NotFound):
        await service.self_enroll(learner(store), draft)
    with pytest.raises(NotFound):
        await service.enroll(learner(store), draft, store.add_user())
    _, created = await service.enroll(instructor_of(store, draft), draft, store.add_user())
    assert created  # staff may enroll ahead of publication


async def test_service_accounts_cannot_self_enroll(store: EnrollmentStore, service: EnrollmentService) -> None:
    with pytest.raises(Unauthenticated):
        await service.self_enroll(SYSTEM, store.add_course())


async def test_unenroll_then_enroll_again_reuses_the_row(store: EnrollmentStore, service: EnrollmentService) -> None:
    course = store.add_course()
    ada = learner(store)
    first, _ = await service.self_enroll(ada, course)
    left = await service.unenroll(ada, course, ada.user_id)  # type: ignore[arg-type]
    assert left.status is EnrollmentStatus.UNENROLLED
    assert not await service.is_enrolled(ada.user_id, course)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await service.unenroll(ada, course, ada.user_id)  # type: ignore[arg-type]
    again, created = await service.self_enroll(ada, course)
    assert created
    assert again.id == first.id
    assert again.is_active
    assert [type(e) for e in store.outbox] == [Enrolled, Unenrolled, Enrolled]


async def test_cohorts_have_seats_and_moves_respect_them(store: EnrollmentStore, service: EnrollmentService) -> None:
    course = store.add_course()
    small = await service.create_cohort(SYSTEM, course, CreateCohort(name="Small", capacity=1))
    big = await service.create_cohort(SYSTEM, course, CreateCohort(name="Big"))
    with pytest.raises(Conflict):
        await service.create_cohort(SYSTEM, course, CreateCohort(name="Small"))
    ada, bob = learner(store), learner(store)
    await service.self_enroll(ada, course, small.id)
    with pytest.raises(EnrollmentRefused) as full:
        await service.self_enroll(bob, course, small.id)
    assert full.value.reason is RefusalReason.COHORT_FULL
    await service.self_enroll(bob, course, big.id)
    with pytest.raises(EnrollmentRefused):
        await service.move(SYSTEM, course, bob.user_id, small.id)  # type: ignore[arg-type]
    moved = await service.move(SYSTEM, course, ada.user_id, big.id)  # type: ignore[arg-type]
    assert moved.cohort_id == big.id
    assert CohortChanged in [type(e) for e in store.outbox]
    await service.move(SYSTEM, course, bob.user_id, small.id)  # type: ignore[arg-type]
    counts = {c.name: c.active for c in (await service.list_cohorts(ada, course)).items}
    assert counts == {"Small": 1, "Big": 1}
    with pytest.raises(Conflict):
        await service.delete_cohort(SYSTEM, course, small.id)
    updated = await service.update_cohort(SYSTEM, course, big.id, UpdateCohort(capacity=None, name="Large"))
    assert updated.name == "Large"
    assert updated.capacity is None


async def test_a_cohort_of_another_course_is_refused(store: EnrollmentStore, service: EnrollmentService) -> None:
    course, other = store.add_course(), store.add_course()
    cohort = await service.create_cohort(SYSTEM, other, CreateCohort(name="Elsewhere"))
    with pytest.raises(ValidationFailed):
        await service.self_enroll(learner(store), course, cohort.id)


async def test_concurrent_self_enrollments_never_overbook(store: EnrollmentStore, service: EnrollmentService) -> None:
    course = store.add_course()
    await service.update_settings(SYSTEM, course, EnrollmentSettings(capacity=10))
    results = await asyncio.gather(
        *(service.self_enroll(learner(store), course) for _ in range(100)), return_exceptions=True
    )
    assert sum(1 for r in results if isinstance(r, tuple)) == 10
    assert all(isinstance(r, EnrollmentRefused) for r in results if not isinstance(r, tuple))
    assert (await service._queries.active_counts(course))[0] == 10
