"""The check the content modules gate through (``EntitlementCheck``), the cached read it makes
(``CachedEntitlementReads.offer_and_grants``: one round trip on a hit, grants unread for a free course), and
how gating turns its answer into decisions (a refusal with its reason; quizzes refused on the audit track)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from elearning_adapters.cache import InMemoryCache
from elearning_adapters.entitlement_cache import CachedEntitlementReads
from elearning_adapters.sql.entitlement import SqlEntitlementReads
from elearning_core.auth.model import ResourceRef
from elearning_core.course.gating import ContentGate, Viewer, decide, entitled, require_open
from elearning_core.course.model import Access, SectionRelease
from elearning_core.entitlement.access import AUDIT_TRACK, EntitlementCheck, EveryCourseFree, graded_refusal
from elearning_core.entitlement.model import CourseOffer, Grant, GrantStatus, Refusal, Source, Track, Verdict
from elearning_core.entitlement.ports import ASK
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.errors import ContentLocked

COURSE = uuid.UUID(int=1)
ANN = uuid.UUID(int=10)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=100)
PAID = CourseOffer(COURSE, paid=True, paid_since=T0 + timedelta(days=50))
AUDIT = CourseOffer(COURSE, paid=True, audit_track=True, paid_since=T0 + timedelta(days=50))


def purchase(status: GrantStatus = GrantStatus.ACTIVE) -> Grant:
    return Grant(ANN, COURSE, Source.PURCHASED, status, T0)


@dataclass
class Reads:
    """Offers and grants held in memory, counting what the check reads."""

    offer: CourseOffer | None = None
    grants: list[Grant] = field(default_factory=list)
    enrolled_at: datetime | None = None
    enrollment_reads: int = 0
    grants_reads: int = 0
    offer_reads: int = 0

    async def offer_and_grants(
        self, user_id: uuid.UUID | None, course_id: uuid.UUID
    ) -> tuple[CourseOffer | None, Sequence[Grant]]:
        return self.offer, self.grants if self.offer is not None and self.offer.paid else []

    async def enrolled_since(self, user_id: uuid.UUID, course_id: uuid.UUID) -> datetime | None:
        self.enrollment_reads += 1
        return self.enrolled_at

    # The SQL reads' shape, for the cache under test.
    async def offer_of(self, course_id: uuid.UUID) -> CourseOffer | None:
        self.offer_reads += 1
        return self.offer

    async def grants_of_user(self, user_id: uuid.UUID) -> Sequence[Grant]:
        self.grants_reads += 1
        return self.grants


def check(reads: Reads) -> EntitlementCheck:
    return EntitlementCheck(reads, reads, FixedClock(NOW))


async def test_a_check_reads_the_enrollment_only_when_grandfathering_can_matter() -> None:
    reads = Reads(PAID, [purchase()], enrolled_at=T0)
    assert (await check(reads).verdict(ANN, COURSE)).source is Source.PURCHASED
    assert reads.enrollment_reads == 0  # a grant in force: the enrollment cannot change the answer
    reads = Reads(None, enrolled_at=T0)
    assert (await check(reads).verdict(ANN, COURSE)).source is Source.FREE
    assert reads.enrollment_reads == 0
    reads = Reads(PAID, [purchase(GrantStatus.REFUNDED)], enrolled_at=T0)
    assert (await check(reads).verdict(ANN, COURSE)).source is Source.GRANDFATHERED
    assert reads.enrollment_reads == 1
    reads = Reads(AUDIT, enrolled_at=NOW)  # enrolled after the price: the audit track, after one read
    assert (await check(reads).verdict(ANN, COURSE)).track is Track.AUDIT
    assert reads.enrollment_reads == 1


async def test_a_check_given_the_enrollment_date_reads_no_enrollment() -> None:
    reads = Reads(PAID, [], enrolled_at=T0)
    verdict = await check(reads).verdict(ANN, COURSE, enrolled_at=None)
    assert verdict.refusal is Refusal.PAYMENT_REQUIRED
    assert (await check(reads).verdict(ANN, COURSE, enrolled_at=T0)).source is Source.GRANDFATHERED
    assert reads.enrollment_reads == 0
    assert (await EveryCourseFree(reads).verdict(ANN, COURSE, enrolled_at=ASK)).source is Source.FREE
    assert await EveryCourseFree(reads).enrolled_verdict(ANN, COURSE) == (T0, Verdict(Source.FREE, Track.FULL))


def test_graded_work_is_refused_on_the_audit_track_and_without_access() -> None:
    assert graded_refusal(Verdict(Source.PURCHASED, Track.FULL)) is None
    assert graded_refusal(Verdict(Source.AUDIT, Track.AUDIT)) == AUDIT_TRACK
    assert graded_refusal(Verdict(None, None, refusal=Refusal.REFUNDED)) == "refunded"


class _Inner:
    """``SqlEntitlementReads``' two reads the cache fills from, counted."""

    def __init__(self, reads: Reads) -> None:
        self._reads = reads

    async def offer(self, course_id: uuid.UUID) -> CourseOffer | None:
        return await self._reads.offer_of(course_id)

    async def grants_of_user(self, user_id: uuid.UUID) -> Sequence[Grant]:
        return await self._reads.grants_of_user(user_id)


class _Resources:
    async def course(self, course_id: uuid.UUID) -> ResourceRef | None:
        return None

    async def organization_exists(self, organization_id: uuid.UUID) -> bool:
        return False


class _CountingCache(InMemoryCache):
    def __init__(self) -> None:
        super().__init__()
        self.trips: list[str] = []

    async def get(self, key: str) -> bytes | None:
        self.trips.append("get")
        return await super().get(key)

    async def get_many(self, *keys: str) -> list[bytes | None]:
        self.trips.append("get_many")
        return await super().get_many(*keys)


def cached(reads: Reads) -> tuple[CachedEntitlementReads, _CountingCache]:
    cache = _CountingCache()
    inner = cast(SqlEntitlementReads, _Inner(reads))
    return CachedEntitlementReads(inner, _Resources(), cache, 60), cache


async def test_a_cached_hit_is_one_round_trip_and_a_free_course_never_reads_grants() -> None:
    reads = Reads(PAID, [purchase()])
    cache_reads, cache = cached(reads)
    assert await cache_reads.offer_and_grants(ANN, COURSE) == (PAID, reads.grants)
    assert (reads.offer_reads, reads.grants_reads) == (1, 1)
    cache.trips.clear()
    assert (await cache_reads.offer_and_grants(ANN, COURSE))[0] == PAID
    assert cache.trips == ["get_many"]
    assert (reads.offer_reads, reads.grants_reads) == (1, 1)  # no database read on a hit

    free = Reads(None, [purchase()])
    cache_reads, cache = cached(free)
    assert await cache_reads.offer_and_grants(ANN, COURSE) == (None, ())
    assert await cache_reads.offer_and_grants(ANN, COURSE) == (None, ())
    assert (free.offer_reads, free.grants_reads) == (1, 0)


def test_gating_refuses_an_enrolled_learner_without_access_with_the_reason() -> None:
    viewer = Viewer(enrolled_at=T0, refusal="subscription-past-due")
    decision = decide(viewer, preview=False, release=SectionRelease(), now=NOW)
    assert (decision.access, decision.refusal) == (Access.ENTITLEMENT_REQUIRED, "subscription-past-due")
    assert decide(viewer, preview=True, release=SectionRelease(), now=NOW).allowed  # a preview stays open
    assert decide(Viewer(), preview=False, release=SectionRelease(), now=NOW).access is Access.ENROLLMENT_REQUIRED
    with pytest.raises(ContentLocked) as refused:
        require_open(decision)
    assert refused.value.reason == "subscription-past-due"
    assert "payment" in refused.value.detail


async def test_a_viewer_takes_the_checks_answer_and_a_quiz_refuses_the_audit_track() -> None:
    viewer = Viewer(enrolled_at=NOW)
    assert await entitled(viewer, None, ANN, COURSE) == viewer
    audit = await entitled(viewer, check(Reads(AUDIT)), ANN, COURSE)
    assert (audit.audit, audit.refusal) == (True, None)
    refused = await entitled(viewer, check(Reads(PAID)), ANN, COURSE)
    assert refused.refusal == "payment-required"

    class _Enrolled:
        async def enrolled_since(self, user_id: uuid.UUID, course_id: uuid.UUID) -> datetime | None:
            return NOW

    # The gate reads the enrollment with the check (one round trip where cached): the check's read answers.
    gate = ContentGate(None, _Enrolled(), None, check(Reads(AUDIT, enrolled_at=NOW)))
    video = await gate.material(COURSE, ANN, NOW, staff=False, video_id=uuid.UUID(int=5))
    assert video.allowed  # content is open on the audit track
    quiz = await gate.material(COURSE, ANN, NOW, staff=False, assessment_id=uuid.UUID(int=6))
    assert (quiz.access, quiz.refusal) == (Access.ENTITLEMENT_REQUIRED, AUDIT_TRACK)
    assert (await gate.entitlement(COURSE, ANN, graded=True)).refusal == AUDIT_TRACK
    assert (await gate.entitlement(COURSE, ANN, graded=False)).allowed
    assert (await gate.material(COURSE, ANN, NOW, staff=True, assessment_id=uuid.UUID(int=6))).allowed
