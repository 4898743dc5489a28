"""``EnrollmentService.enroll_for_path``: a path's learner enrolled under the course's self-enrollment rules."""

from __future__ import annotations

import pytest

from elearning_core.enrollment.commands import EnrollmentSettings
from elearning_core.enrollment.events import Enrolled
from elearning_core.enrollment.model import EnrollmentRefused, RefusalReason
from elearning_core.shared.errors import Conflict
from elearning_core.shared.ports import SYSTEM
from tests.fakes import EnrollmentStore, FakeEnrollmentUnitOfWork, an_enrollment_service


async def test_enrolls_once_as_a_self_enrollment() -> None:
    store = EnrollmentStore()
    service = an_enrollment_service(store)
    course, user = store.add_course(), store.add_user()
    first, created = await service.enroll_for_path(user, course)
    again, created_again = await service.enroll_for_path(user, course)
    assert created
    assert not created_again
    assert again.id == first.id
    events = [e for e in store.outbox if isinstance(e, Enrolled)]
    assert [(e.user_id, e.source) for e in events] == [(user, "self")]


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        (EnrollmentSettings(capacity=0), RefusalReason.COURSE_FULL),
        (EnrollmentSettings(self_enrollment=False), RefusalReason.CLOSED),
    ],
)
async def test_the_course_rules_refuse(settings: EnrollmentSettings, reason: RefusalReason) -> None:
    store = EnrollmentStore()
    service = an_enrollment_service(store)
    course = store.add_course()
    await service.update_settings(SYSTEM, course, settings)
    with pytest.raises(EnrollmentRefused) as refused:
        await service.enroll_for_path(store.add_user(), course)
    assert refused.value.reason is reason
    assert not [e for e in store.outbox if isinstance(e, Enrolled)]


async def test_an_unpublished_course_is_refused() -> None:
    store = EnrollmentStore()
    service = an_enrollment_service(store)
    with pytest.raises(Conflict, match="not published"):
        await service.enroll_for_path(store.add_user(), store.add_course(published=False))


async def test_a_joined_service_uses_the_given_units_of_work() -> None:
    store, other = EnrollmentStore(), EnrollmentStore()
    course = other.add_course()
    store.courses.update(other.courses)  # the course read answers from ``store``
    joined = an_enrollment_service(store).joined(lambda: FakeEnrollmentUnitOfWork(other))
    await joined.enroll_for_path(store.add_user(), course)
    assert [type(e) for e in other.outbox] == [Enrolled]
    assert store.outbox == []
