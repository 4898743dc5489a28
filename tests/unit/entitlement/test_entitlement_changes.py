"""The changes of offers and grants as use cases: who may make them, ``paid_since`` recorded once, each
change with its one event, and repeated changes that change nothing recording none."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from elearning_core.auth.model import Grant as RoleGrant
from elearning_core.auth.model import ResourceRef, Role, RolePolicy, Scope, ScopeKind
from elearning_core.auth.service import user_principal
from elearning_core.entitlement.commands import ChangeGrant, GiveGrant, SetOffer
from elearning_core.entitlement.events import EntitlementChanged, EntitlementGranted, OfferChanged
from elearning_core.entitlement.model import CourseOffer, GrantStatus, Refusal, Source
from elearning_core.entitlement.service import EntitlementService
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.errors import NotFound, PermissionDenied, Unauthenticated
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import ANONYMOUS, SYSTEM
from tests.entitlement_fakes import EntitlementData, InMemoryEntitlementStore, InMemoryEntitlementUnitOfWork

COURSE, OTHER = uuid.UUID(int=1), uuid.UUID(int=2)
ANN, TEACHER = uuid.UUID(int=10), uuid.UUID(int=11)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


class Directory:
    async def course(self, course_id: uuid.UUID) -> ResourceRef | None:
        return ResourceRef(ScopeKind.COURSE, course_id) if course_id in (COURSE, OTHER) else None

    async def organization_exists(self, organization_id: uuid.UUID) -> bool:
        return False

    async def enrolled_since(self, user_id: uuid.UUID, course_id: uuid.UUID) -> datetime | None:
        return None


def service(data: EntitlementData, clock: FixedClock) -> EntitlementService:
    reads = InMemoryEntitlementStore(data)
    directory = Directory()
    return EntitlementService(
        reads,
        reads,
        directory,
        directory,
        RolePolicy(),
        clock,
        uow=lambda: InMemoryEntitlementUnitOfWork(data),
        cursors=CursorCodec(b"0123456789abcdef"),
    )


LEARNER = user_principal(ANN, (RoleGrant(Role.LEARNER),), None)
STAFF = user_principal(TEACHER, (RoleGrant(Role.INSTRUCTOR, Scope.course(COURSE)),), None)


@pytest.fixture
def data() -> EntitlementData:
    return EntitlementData(users={ANN})


async def test_paid_since_is_recorded_the_first_time_and_kept(data: EntitlementData) -> None:
    clock = FixedClock(NOW)
    entitlements = service(data, clock)
    assert await entitlements.offer(STAFF, COURSE) == CourseOffer(COURSE)
    assert (await entitlements.set_offer(STAFF, COURSE, SetOffer(paid=True))).paid_since == NOW
    clock.advance(timedelta(days=1))
    free = await entitlements.set_offer(STAFF, COURSE, SetOffer(paid=False, audit_track=True))
    assert (free.paid, free.paid_since) == (False, NOW)
    clock.advance(timedelta(days=1))
    assert (await entitlements.set_offer(STAFF, COURSE, SetOffer(paid=True))).paid_since == NOW
    await entitlements.set_offer(STAFF, COURSE, SetOffer(paid=True))  # unchanged: no event
    assert [type(e) for e in data.outbox] == [OfferChanged] * 3


async def test_only_course_editors_set_offers_and_only_admins_grant(data: EntitlementData) -> None:
    entitlements = service(data, FixedClock(NOW))
    with pytest.raises(PermissionDenied):
        await entitlements.set_offer(LEARNER, COURSE, SetOffer(paid=True))
    with pytest.raises(PermissionDenied):
        await entitlements.give(STAFF, GiveGrant(user_id=ANN, course_id=COURSE))
    with pytest.raises(NotFound):
        await entitlements.set_offer(SYSTEM, uuid.UUID(int=99), SetOffer(paid=True))
    with pytest.raises(NotFound):
        await entitlements.give(SYSTEM, GiveGrant(user_id=uuid.UUID(int=98), course_id=COURSE))
    assert data.outbox == []
    assert data.grants == {}


async def test_a_grant_then_a_refund_each_record_one_event_and_a_repeat_none(data: EntitlementData) -> None:
    entitlements = service(data, FixedClock(NOW))
    await entitlements.set_offer(SYSTEM, COURSE, SetOffer(paid=True))
    grant = await entitlements.give(SYSTEM, GiveGrant(user_id=ANN, course_id=COURSE, reference="order_1"))
    assert (await entitlements.check(LEARNER, COURSE)).source is Source.PURCHASED
    refund = ChangeGrant(grant_id=grant.id, status=GrantStatus.REFUNDED)
    assert (await entitlements.change(SYSTEM, refund)).status is GrantStatus.REFUNDED
    await entitlements.change(SYSTEM, refund)
    assert (await entitlements.check(LEARNER, COURSE)).refusal is Refusal.REFUNDED
    assert [type(e) for e in data.outbox] == [OfferChanged, EntitlementGranted, EntitlementChanged]
    changed = data.outbox[-1]
    assert isinstance(changed, EntitlementChanged)
    assert (changed.previous_status, changed.status, changed.user_id) == ("active", "refunded", ANN)
    with pytest.raises(NotFound):
        await entitlements.change(SYSTEM, ChangeGrant(grant_id=uuid.uuid4(), status=GrantStatus.ACTIVE))


def test_a_grant_is_of_a_grant_source_and_ends_after_it_starts() -> None:
    with pytest.raises(ValidationError, match="source"):
        GiveGrant(user_id=ANN, course_id=COURSE, source=Source.FREE)
    with pytest.raises(ValidationError, match="ends_at"):
        GiveGrant(user_id=ANN, course_id=COURSE, starts_at=NOW, ends_at=NOW)


async def test_my_entitlements_need_a_user_and_page_by_course(data: EntitlementData) -> None:
    entitlements = service(data, FixedClock(NOW))
    data.enrolled.add((ANN, OTHER))
    await entitlements.set_offer(SYSTEM, COURSE, SetOffer(paid=True))
    await entitlements.give(SYSTEM, GiveGrant(user_id=ANN, course_id=COURSE))
    first = await entitlements.mine(LEARNER, limit=1)
    assert [(r.course_id, r.verdict.source, len(r.grants)) for r in first.items] == [(COURSE, Source.PURCHASED, 1)]
    assert first.next_cursor is not None
    rest = await entitlements.mine(LEARNER, cursor=first.next_cursor, limit=1)
    assert [(r.course_id, r.verdict.source, r.grants) for r in rest.items] == [(OTHER, Source.FREE, [])]
    assert rest.next_cursor is None
    with pytest.raises(Unauthenticated):
        await entitlements.mine(ANONYMOUS)
