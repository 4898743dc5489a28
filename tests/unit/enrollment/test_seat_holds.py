"""Seats held by checkouts: counted by the capacity rule under the course lock until they expire or are
released; the held seat becomes the purchase's enrollment."""

from __future__ import annotations

from datetime import timedelta

import pytest

from elearning_core.enrollment.commands import EnrollmentSettings
from elearning_core.enrollment.model import EnrollmentRefused, EnrollmentSource, RefusalReason
from elearning_core.shared.ports import SYSTEM
from tests.fakes import T0, EnrollmentStore, SettableClock, an_enrollment_service


async def test_a_held_seat_is_taken_for_others_and_becomes_the_buyers_enrollment() -> None:
    store, clock = EnrollmentStore(), SettableClock(T0)
    service = an_enrollment_service(store, clock=clock)
    course, buyer, other = store.add_course(), store.add_user(), store.add_user()
    await service.update_settings(SYSTEM, course, EnrollmentSettings(capacity=1))
    assert await service.hold_seat(course, "order-1", buyer, T0 + timedelta(minutes=15))
    with pytest.raises(EnrollmentRefused) as full:
        await service.enroll_for_path(other, course)
    assert full.value.reason is RefusalReason.COURSE_FULL
    with pytest.raises(EnrollmentRefused):
        await service.hold_seat(course, "order-2", other, T0 + timedelta(minutes=15))
    enrollment = await service.enroll_purchased(buyer, course, "order-1")
    assert enrollment.source is EnrollmentSource.PURCHASED
    assert store.holds == {}


async def test_an_expired_or_released_hold_no_longer_counts() -> None:
    store, clock = EnrollmentStore(), SettableClock(T0)
    service = an_enrollment_service(store, clock=clock)
    course = store.add_course()
    await service.update_settings(SYSTEM, course, EnrollmentSettings(capacity=1))
    await service.hold_seat(course, "order-1", store.add_user(), T0 + timedelta(minutes=15))
    clock.advance(timedelta(minutes=15))
    late, created = await service.enroll_for_path(store.add_user(), course)
    assert created
    assert late.is_active
    assert await service.release_seat("order-1")
    assert not await service.release_seat("order-1")


async def test_a_course_without_capacity_holds_nothing() -> None:
    store = EnrollmentStore()
    service = an_enrollment_service(store)
    assert not await service.hold_seat(store.add_course(), "order-1", store.add_user(), T0 + timedelta(minutes=1))
    assert store.holds == {}
