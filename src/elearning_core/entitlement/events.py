"""Entitlement events: the ``elearning.entitlement`` topic's contract.

Other processes drop their cached offers and grants on these (the cache never holds a verdict), and
notifications can tell a learner that access was granted or lost.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from elearning_core.shared.events import DomainEvent


class EntitlementGranted(DomainEvent):
    """A grant was recorded (``aggregate_id`` is the grant's id)."""

    type: ClassVar[str] = "entitlement.granted.v1"
    user_id: uuid.UUID
    course_id: uuid.UUID
    source: str
    status: str
    starts_at: datetime
    ends_at: datetime | None = None
    reference: str = ""


class EntitlementChanged(DomainEvent):
    """A grant's status or end changed: a refund, cancellation, failed renewal, revocation or reactivation."""

    type: ClassVar[str] = "entitlement.changed.v1"
    user_id: uuid.UUID
    course_id: uuid.UUID
    status: str
    previous_status: str
    ends_at: datetime | None = None


class OfferChanged(DomainEvent):
    """How a course is sold changed (``aggregate_id`` is the course's id)."""

    type: ClassVar[str] = "entitlement.offer_changed.v1"
    course_id: uuid.UUID
    paid: bool
    audit_track: bool
    paid_since: datetime | None = None
