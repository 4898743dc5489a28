"""The entitlement check as the content modules ask it: a narrow read, not the entitlement service.

Enrollment (self-enrollment), the course's lesson reads, video playback and quiz taking hold an
``AccessCheck`` and ask it after their own gating has found the caller is not the course's staff and has
read the learner's enrollment date, which they pass in, so a check reads only the course's offer and the
learner's grants: on a cache hit one round trip and no SQL statement (``AccessReads``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from elearning_core.entitlement.model import Source, Track, Verdict, decide
from elearning_core.entitlement.ports import ASK, AccessCheck, AccessReads, Ask, EnrolledSince
from elearning_core.shared.clock import Clock

AUDIT_TRACK = "audit-track"
"""The refusal of graded work (quizzes, certificates) to a learner on a course's audit track."""
FREE_ACCESS = Verdict(Source.FREE, Track.FULL)


class EntitlementCheck(AccessCheck):
    """``decide`` over the course's offer and the learner's grants, read together, and the learner's
    enrollment date when the caller did not pass it and it can matter (a paid course, no grant in force:
    grandfathering). When a grant and grandfathering both apply, the answer names the grant."""

    def __init__(self, reads: AccessReads, enrollments: EnrolledSince, clock: Clock) -> None:
        self._reads, self._enrollments, self._clock = reads, enrollments, clock

    async def verdict(
        self, user_id: uuid.UUID | None, course_id: uuid.UUID, *, enrolled_at: datetime | Ask | None = ASK
    ) -> Verdict:
        offer, grants = await self._reads.offer_and_grants(user_id, course_id)
        now = self._clock.now()
        if enrolled_at is not ASK:
            return decide(offer, grants, now, enrolled_at=enrolled_at)
        verdict = decide(offer, grants, now)
        if verdict.graded_work or user_id is None or offer is None or offer.paid_since is None:
            return verdict
        since = await self._enrollments.enrolled_since(user_id, course_id)
        return verdict if since is None else decide(offer, grants, now, enrolled_at=since)

    async def enrolled_verdict(self, user_id: uuid.UUID, course_id: uuid.UUID) -> tuple[datetime | None, Verdict]:
        enrolled_at = await self._enrollments.enrolled_since(user_id, course_id)
        return enrolled_at, await self.verdict(user_id, course_id, enrolled_at=enrolled_at)


class EveryCourseFree(AccessCheck):
    """No commerce: every course is free (a benchmark's baseline; tests that want the check out of the way)."""

    def __init__(self, enrollments: EnrolledSince) -> None:
        self._enrollments = enrollments

    async def verdict(
        self, user_id: uuid.UUID | None, course_id: uuid.UUID, *, enrolled_at: datetime | Ask | None = ASK
    ) -> Verdict:
        return FREE_ACCESS

    async def enrolled_verdict(self, user_id: uuid.UUID, course_id: uuid.UUID) -> tuple[datetime | None, Verdict]:
        return await self._enrollments.enrolled_since(user_id, course_id), FREE_ACCESS


_DETAILS = {
    "payment-required": "this course is paid: buy it or subscribe to open this {what}",
    "subscription-past-due": "your subscription's last payment failed: update your payment method to open this {what}",
    "subscription-canceled": "your subscription has ended: subscribe again to open this {what}",
    "refunded": "your purchase of this course was refunded: buy it again to open this {what}",
    "seat-revoked": "your organization took back your seat in this course: ask its admin to open this {what}",
    "entitlement-expired": "your access to this course has ended: renew it to open this {what}",
    AUDIT_TRACK: "you follow this course's free audit track: this {what} needs the full track (buy or subscribe)",
}


def refusal_detail(reason: str, what: str) -> str:
    """The one-line explanation of a refusal ``reason`` (a ``Refusal`` value or ``audit-track``)."""
    return _DETAILS.get(reason, "you have no access to this course: {what} refused").format(what=what)


def graded_refusal(verdict: Verdict) -> str | None:
    """Why graded work (a quiz, a certificate) is refused under ``verdict``, or None when it is not."""
    if verdict.refusal is not None:
        return verdict.refusal.value
    return None if verdict.graded_work else AUDIT_TRACK
