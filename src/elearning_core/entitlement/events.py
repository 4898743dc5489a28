"""Entitlement events: the ``elearning.entitlement`` topic's contract.

Other processes drop their cached offers and grants on these (the cache never holds a verdict), and
notifications can tell a learner that access was granted or lost.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from elearning_core.entitlement.model import CourseOffer, Grant
from elearning_core.shared.events import DomainEvent


class EntitlementGranted(DomainEvent):
    """A grant was recorded (``aggregate_id`` is the grant's id)."""

    type: ClassVar[str] = "entitlement.granted.v1"
    user_id: uuid.UUID
    course_id: uuid.UUID | None
    """None: a grant of every course."""
    source: str
    status: str
    starts_at: datetime
    ends_at: datetime | None = None
    reference: str = ""

    @classmethod
    def of(cls, grant: Grant, at: datetime) -> EntitlementGranted:
        return cls(
            occurred_at=at,
            aggregate_id=grant.id,
            user_id=grant.user_id,
            course_id=grant.course_id,
            source=grant.source.value,
            status=grant.status.value,
            starts_at=grant.starts_at,
            ends_at=grant.ends_at,
            reference=grant.reference,
        )


class EntitlementChanged(DomainEvent):
    """A grant's status or end changed: a refund, cancellation, failed renewal, revocation or reactivation."""

    type: ClassVar[str] = "entitlement.changed.v1"
    user_id: uuid.UUID
    course_id: uuid.UUID | None
    """None: a grant of every course."""
    status: str
    previous_status: str
    ends_at: datetime | None = None

    @classmethod
    def of(cls, before: Grant, after: Grant, at: datetime) -> EntitlementChanged:
        return cls(
            occurred_at=at,
            aggregate_id=after.id,
            user_id=after.user_id,
            course_id=after.course_id,
            status=after.status.value,
            previous_status=before.status.value,
            ends_at=after.ends_at,
        )


class OfferChanged(DomainEvent):
    """How a course is sold changed (``aggregate_id`` is the course's id)."""

    type: ClassVar[str] = "entitlement.offer_changed.v1"
    course_id: uuid.UUID
    paid: bool
    audit_track: bool
    paid_since: datetime | None = None

    @classmethod
    def of(cls, offer: CourseOffer, at: datetime) -> OfferChanged:
        return cls(
            occurred_at=at,
            aggregate_id=offer.course_id,
            course_id=offer.course_id,
            paid=offer.paid,
            audit_track=offer.audit_track,
            paid_since=offer.paid_since,
        )
