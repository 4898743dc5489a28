"""What gives a learner access to a course, and the one decision over it.

Access to a course's content comes from exactly one of these, checked in this order:

- ``staff``: the course's staff (and platform staff) always;
- ``free``: the course is free (the default: every course the platform had before commerce is free);
- ``grandfathered``: the learner enrolled before the course became paid (``CourseOffer.paid_since``):
  learners keep what they had when the price arrived;
- a **grant** in force: ``purchased`` (a one-time purchase), ``subscription`` (a plan that includes the
  course) or ``organization_seat`` (a seat an organization admin assigned); a grant has an end (a
  subscription's period end, a seat's term) or none (a purchase), and a status its source keeps current
  (a refund, a cancellation, a failed renewal change it);
- ``audit``: the course offers a free audit track: its content without graded work or a certificate.

Otherwise the refusal names the most telling reason: a grant that lapsed says why
(``subscription-past-due``, ``subscription-canceled``, ``refunded``, ``seat-revoked``,
``entitlement-expired``), else ``payment-required``. The decision compares the grant's end with the clock
on every check (a cached grant never outlives its end). Losing an entitlement ends access, never the
learner's progress: nothing here deletes anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from elearning_core.shared.ids import new_uuid


class Source(StrEnum):
    STAFF = "staff"
    FREE = "free"
    GRANDFATHERED = "grandfathered"
    PURCHASED = "purchased"
    SUBSCRIPTION = "subscription"
    ORGANIZATION_SEAT = "organization_seat"
    AUDIT = "audit"


GRANT_SOURCES = frozenset({Source.PURCHASED, Source.SUBSCRIPTION, Source.ORGANIZATION_SEAT})
"""The sources that are records of their own (``Grant``); the others follow from the course and the user."""


class Track(StrEnum):
    FULL = "full"
    """Everything: content, graded work, the certificate."""
    AUDIT = "audit"
    """Content only: no graded work, no certificate."""


class GrantStatus(StrEnum):
    ACTIVE = "active"
    PAST_DUE = "past_due"
    """A subscription whose renewal failed and is being retried (dunning): no access meanwhile."""
    CANCELED = "canceled"
    REFUNDED = "refunded"
    REVOKED = "revoked"
    """A seat taken back by its organization."""


class Refusal(StrEnum):
    """Why access is refused: the ``reason`` a client shows (and a problem document's ``code``)."""

    PAYMENT_REQUIRED = "payment-required"
    SUBSCRIPTION_PAST_DUE = "subscription-past-due"
    SUBSCRIPTION_CANCELED = "subscription-canceled"
    REFUNDED = "refunded"
    SEAT_REVOKED = "seat-revoked"
    EXPIRED = "entitlement-expired"


@dataclass(frozen=True, slots=True)
class CourseOffer:
    """How a course is sold. A course with no offer recorded is free."""

    course_id: uuid.UUID
    paid: bool = False
    audit_track: bool = False
    """A paid course may offer its content for free, without graded work or a certificate."""
    paid_since: datetime | None = None
    """When the course became paid: learners enrolled before keep their access (grandfathered)."""


@dataclass(frozen=True, slots=True)
class Grant:
    """A purchase, a subscription's coverage or an organization seat, for one user and course."""

    user_id: uuid.UUID
    course_id: uuid.UUID | None
    """None: every course (a subscription plan or an organization seat that includes all courses)."""
    source: Source
    status: GrantStatus
    starts_at: datetime
    ends_at: datetime | None = None
    """None: no end (a purchase). A subscription's coverage ends with its paid period."""
    reference: str = ""
    """What granted it (an order, a subscription, a seat id): for support and the audit trail."""
    id: uuid.UUID = field(default_factory=new_uuid)
    """The grant's identity, so its source can change its status later (a refund names the grant)."""

    def covers(self, course_id: uuid.UUID) -> bool:
        return self.course_id is None or self.course_id == course_id

    def in_force(self, now: datetime) -> bool:
        return (
            self.status is GrantStatus.ACTIVE and self.starts_at <= now and (self.ends_at is None or now < self.ends_at)
        )

    def with_status(self, status: GrantStatus, ends_at: datetime | None) -> Grant:
        return replace(self, status=status, ends_at=ends_at)


def priced(
    current: CourseOffer | None, course_id: uuid.UUID, paid: bool, audit_track: bool, at: datetime
) -> CourseOffer:
    """The course's offer after a change of price: ``paid_since`` is recorded the first time it becomes paid
    and then kept, also while it is free again, so a learner enrolled before the first price stays
    grandfathered, and one who enrolled during a free interval is not (the price had been announced)."""
    paid_since = current.paid_since if current is not None else None
    if paid and paid_since is None:
        paid_since = at
    return CourseOffer(course_id, paid=paid, audit_track=audit_track, paid_since=paid_since)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to "may this user access this course now, and why"."""

    source: Source | None
    track: Track | None
    until: datetime | None = None
    """When this access ends by itself (a grant's end), if it does."""
    refusal: Refusal | None = None

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    @property
    def graded_work(self) -> bool:
        """Quizzes and the certificate: the full track only."""
        return self.track is Track.FULL


def _full(source: Source, until: datetime | None = None) -> Verdict:
    return Verdict(source, Track.FULL, until)


def decide(
    offer: CourseOffer | None,
    grants: Iterable[Grant],
    now: datetime,
    *,
    staff: bool = False,
    enrolled_at: datetime | None = None,
) -> Verdict:
    """The one decision (see the module docstring for the order)."""
    if staff:
        return _full(Source.STAFF)
    if offer is None or not offer.paid:
        return _full(Source.FREE)
    if enrolled_at is not None and offer.paid_since is not None and enrolled_at < offer.paid_since:
        return _full(Source.GRANDFATHERED)
    mine = [g for g in grants if g.covers(offer.course_id) and g.source in GRANT_SOURCES]
    in_force = [g for g in mine if g.in_force(now)]
    if in_force:
        # The one that lasts longest (no end lasts longest), so ``until`` is the real end of access.
        best = max(in_force, key=lambda g: (g.ends_at is None, g.ends_at or now))
        return _full(best.source, best.ends_at)
    if offer.audit_track:
        return Verdict(Source.AUDIT, Track.AUDIT)
    return Verdict(None, None, refusal=_why_not(mine, now))


def _why_not(grants: list[Grant], now: datetime) -> Refusal:
    """The most recent lapsed grant's reason, or payment required when there never was one."""
    started = [g for g in grants if g.starts_at <= now]
    if not started:
        return Refusal.PAYMENT_REQUIRED
    latest = max(started, key=lambda g: (g.ends_at is None, g.ends_at or g.starts_at, g.starts_at))
    return {
        GrantStatus.PAST_DUE: Refusal.SUBSCRIPTION_PAST_DUE,
        GrantStatus.CANCELED: Refusal.SUBSCRIPTION_CANCELED,
        GrantStatus.REFUNDED: Refusal.REFUNDED,
        GrantStatus.REVOKED: Refusal.SEAT_REVOKED,
        GrantStatus.ACTIVE: Refusal.EXPIRED,
    }[latest.status]
