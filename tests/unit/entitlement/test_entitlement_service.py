"""The entitlement check as a use case: staff by the role policy, learners by offer, grants and enrollment."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from elearning_core.auth.model import Grant as RoleGrant
from elearning_core.auth.model import ResourceRef, Role, RolePolicy, Scope, ScopeKind
from elearning_core.auth.service import user_principal
from elearning_core.entitlement.model import CourseOffer, Grant, GrantStatus, Refusal, Source, Track
from elearning_core.entitlement.service import EntitlementService
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.errors import NotFound
from elearning_core.shared.ports import ANONYMOUS

COURSE = uuid.UUID(int=1)
ANN, TEACHER = uuid.UUID(int=10), uuid.UUID(int=11)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


class Catalog:
    def __init__(self) -> None:
        self.offers: dict[uuid.UUID, CourseOffer] = {}
        self.given: list[Grant] = []
        self.enrolled: dict[tuple[uuid.UUID, uuid.UUID], datetime] = {}

    async def offer(self, course_id: uuid.UUID) -> CourseOffer | None:
        return self.offers.get(course_id)

    async def grants(self, user_id: uuid.UUID, course_id: uuid.UUID) -> Sequence[Grant]:
        return [g for g in self.given if (g.user_id, g.course_id) == (user_id, course_id)]

    async def enrolled_since(self, user_id: uuid.UUID, course_id: uuid.UUID) -> datetime | None:
        return self.enrolled.get((user_id, course_id))

    async def course(self, course_id: uuid.UUID) -> ResourceRef | None:
        return ResourceRef(ScopeKind.COURSE, course_id) if course_id == COURSE else None

    async def organization_exists(self, organization_id: uuid.UUID) -> bool:
        return False


@pytest.fixture
def catalog() -> Catalog:
    return Catalog()


def service(catalog: Catalog) -> EntitlementService:
    return EntitlementService(catalog, catalog, catalog, catalog, RolePolicy(), FixedClock(NOW))


LEARNER = user_principal(ANN, (RoleGrant(Role.LEARNER),), None)
STAFF = user_principal(TEACHER, (RoleGrant(Role.INSTRUCTOR, Scope.course(COURSE)),), None)


async def test_a_course_without_an_offer_is_free_to_everyone(catalog: Catalog) -> None:
    for who in (LEARNER, ANONYMOUS):
        verdict = await service(catalog).check(who, COURSE)
        assert (verdict.source, verdict.track) == (Source.FREE, Track.FULL)


async def test_a_paid_course_needs_a_grant_except_for_its_staff(catalog: Catalog) -> None:
    catalog.offers[COURSE] = CourseOffer(COURSE, paid=True, paid_since=NOW - timedelta(days=30))
    assert (await service(catalog).check(LEARNER, COURSE)).refusal is Refusal.PAYMENT_REQUIRED
    assert (await service(catalog).check(ANONYMOUS, COURSE)).refusal is Refusal.PAYMENT_REQUIRED
    assert (await service(catalog).check(STAFF, COURSE)).source is Source.STAFF
    catalog.given.append(Grant(ANN, COURSE, Source.PURCHASED, GrantStatus.ACTIVE, NOW - timedelta(days=1)))
    assert (await service(catalog).check(LEARNER, COURSE)).source is Source.PURCHASED


async def test_a_learner_enrolled_before_the_price_keeps_the_course(catalog: Catalog) -> None:
    catalog.offers[COURSE] = CourseOffer(COURSE, paid=True, paid_since=NOW - timedelta(days=30))
    catalog.enrolled[(ANN, COURSE)] = NOW - timedelta(days=31)
    assert (await service(catalog).check(LEARNER, COURSE)).source is Source.GRANDFATHERED


async def test_an_unknown_course_is_not_found(catalog: Catalog) -> None:
    with pytest.raises(NotFound):
        await service(catalog).check(LEARNER, uuid.uuid4())
