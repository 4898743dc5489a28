"""What the entitlement check reads: how a course is sold, a user's grants, and since when they follow it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Protocol

from elearning_core.entitlement.model import CourseOffer, Grant, Verdict
from elearning_core.shared.events import DomainEvent, RecordsEvents
from elearning_core.shared.ports import UnitOfWork


class Offers(Protocol):
    async def offer(self, course_id: uuid.UUID) -> CourseOffer | None:
        """How the course is sold; None when nothing was recorded (a free course)."""
        ...


class Grants(Protocol):
    async def grants(self, user_id: uuid.UUID, course_id: uuid.UUID) -> Sequence[Grant]:
        """Every grant of the user for the course, whatever its status (a lapsed one names the refusal)."""
        ...


class EnrolledSince(Protocol):
    """The enrollment module's narrow read (grandfathering counts from the enrollment's start)."""

    async def enrolled_since(self, user_id: uuid.UUID, course_id: uuid.UUID) -> datetime | None: ...


class Ask(Enum):
    ASK = "ask"


ASK = Ask.ASK
"""``AccessCheck.verdict(enrolled_at=ASK)``: the caller has not read the enrollment; the check reads it if needed."""


class AccessReads(Protocol):
    """What one check reads, together: on a cache hit one round trip (``Cache.get_many``) and no SQL."""

    async def offer_and_grants(
        self, user_id: uuid.UUID | None, course_id: uuid.UUID
    ) -> tuple[CourseOffer | None, Sequence[Grant]]:
        """The course's offer and, when it is paid and ``user_id`` is given, the user's grants for the course
        (any status); for a free course the grants are not read (they cannot change the answer)."""
        ...


class AccessCheck(Protocol):
    """The narrow read the content modules (enrollment, course, video, assessment, certificate) gate through.

    The caller has already decided whether the actor is the course's staff (staff never ask) and read the
    learner's enrollment date for its own gating, which is passed in, so the check reads nothing twice.
    """

    async def verdict(
        self, user_id: uuid.UUID | None, course_id: uuid.UUID, *, enrolled_at: datetime | Ask | None = ASK
    ) -> Verdict:
        """``enrolled_at``: the learner's enrollment start as the caller read it (None: not enrolled), or
        ``ASK``: the check reads it itself, only when it can matter (a paid course, no grant in force)."""
        ...

    async def enrolled_verdict(self, user_id: uuid.UUID, course_id: uuid.UUID) -> tuple[datetime | None, Verdict]:
        """The learner's enrollment start (active or completed; None: not enrolled) and the verdict, read
        together: for a gate that needs both (a lesson read), one cache round trip on a hit."""
        ...


CourseKey = uuid.UUID
"""The sort key of "my entitlements" (one row per course, in course id order)."""


class EntitlementStore(Offers, Grants, Protocol):
    """The write side, in a unit of work: what checkout, subscriptions, seats and admins change.

    Each change is recorded with its event (``record``), which the unit of work writes to the outbox
    in the same transaction, so the other processes' caches follow every committed change.
    """

    async def save_offer(self, offer: CourseOffer, at: datetime) -> None: ...

    async def add_grant(self, grant: Grant, at: datetime) -> None: ...

    async def grant(self, grant_id: uuid.UUID) -> Grant | None:
        """The grant, locked for the rest of the unit of work where the database can (a status change)."""
        ...

    async def save_grant(self, grant: Grant, at: datetime) -> None: ...

    async def grants_of_user(self, user_id: uuid.UUID) -> Sequence[Grant]:
        """Every grant of the user, whatever its status, oldest first."""
        ...

    async def courses_of_user(self, user_id: uuid.UUID, after: CourseKey | None, limit: int) -> list[uuid.UUID]:
        """The courses the user holds a grant or an enrollment in, in id order, after ``after``."""
        ...

    def record(self, event: DomainEvent) -> None: ...

    def seen(self) -> list[RecordsEvents]:
        """What holds this unit's recorded events (the unit of work writes them to the outbox)."""
        ...


class EntitlementUnitOfWork(UnitOfWork, Protocol):
    entitlements: EntitlementStore
