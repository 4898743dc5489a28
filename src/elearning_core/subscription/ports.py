"""Where plans, subscriptions, seats and saved payment methods are kept, and the narrow reads of other
modules a subscription needs (a path's courses, an organization's members)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from elearning_core.billing.ports import BillingProfiles
from elearning_core.entitlement.ports import EntitlementUnitOfWork
from elearning_core.shared.events import DomainEvent, RecordsEvents
from elearning_core.shared.ports import UnitOfWork
from elearning_core.subscription.model import Plan, PlanStatus, Status, Subscription


class PlanStore(Protocol):
    async def plan(self, code: str) -> Plan | None: ...

    async def plans(self, statuses: frozenset[PlanStatus], after: str | None, limit: int) -> list[Plan]:
        """Plans with one of ``statuses``, in code order, after the code ``after``."""
        ...

    async def save(self, plan: Plan) -> None:
        """Insert the plan, or replace the terms, status and ``updated_at`` of the plan with its code."""
        ...

    def record(self, event: DomainEvent) -> None: ...

    def seen(self) -> list[RecordsEvents]:
        """What holds this unit's recorded events (the unit of work writes them to the outbox)."""
        ...


class PlanUnitOfWork(UnitOfWork, Protocol):
    plans: PlanStore


SubscriptionKey = tuple[datetime, uuid.UUID]
"""The sort key of subscription listings (created_at, id), newest first."""


@dataclass(frozen=True, slots=True)
class SavedMethod:
    """A customer's payment method saved at the gateway for off-session charges (only its reference and
    last four digits are kept: the card itself never reaches the platform)."""

    id: str
    user_id: uuid.UUID
    provider: str
    customer_id: str
    last4: str | None
    is_default: bool
    created_at: datetime


class SubscriptionStore(Protocol):
    """Subscriptions, their seats and their customers' saved payment methods, in a unit of work.

    ``add``/``lock`` register the aggregate so its recorded events reach the outbox at commit."""

    def add(self, subscription: Subscription) -> None: ...

    async def get(self, subscription_id: uuid.UUID) -> Subscription | None: ...

    async def lock(self, subscription_id: uuid.UUID) -> Subscription | None:
        """The subscription, held (row lock on PostgreSQL) until the unit of work ends: every change of
        a subscription, and every seat change, goes through it, so they queue."""
        ...

    async def save(self, subscription: Subscription) -> None: ...

    async def due(
        self, now: datetime, statuses: frozenset[Status], after: uuid.UUID | None, limit: int
    ) -> list[uuid.UUID]:
        """Ids (in id order, after ``after``) of subscriptions in one of ``statuses`` that may have something
        to do at ``now``: a period over, a retry due, a trial to announce, an incomplete one to expire
        (``Subscription.due`` decides; a candidate with nothing to do is left alone)."""
        ...

    async def listing(
        self,
        *,
        user_id: uuid.UUID | None,
        organization_id: uuid.UUID | None,
        status: Status | None,
        after: SubscriptionKey | None,
        limit: int,
    ) -> list[Subscription]:
        """Newest first; ``user_id``/``organization_id`` None means any."""
        ...

    async def seats(
        self, subscription_id: uuid.UUID, *, after: uuid.UUID | None = None, limit: int | None = None
    ) -> list[uuid.UUID]:
        """The users holding a seat, in user id order: after ``after``, at most ``limit`` (None: all)."""
        ...

    async def add_seat(self, subscription_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> bool:
        """False when the user holds a seat already."""
        ...

    async def remove_seat(self, subscription_id: uuid.UUID, user_id: uuid.UUID) -> bool: ...

    async def methods(self, user_id: uuid.UUID) -> list[SavedMethod]:
        """Oldest first."""
        ...

    async def add_method(self, method: SavedMethod) -> None:
        """Store the method; a default one makes the user's others not default."""
        ...

    async def remove_method(self, user_id: uuid.UUID, method_id: str) -> bool: ...

    def seen(self) -> list[RecordsEvents]: ...


class CoursesOfPaths(Protocol):
    """The learning-path module's narrow read: the courses a path holds now (a plan listing paths)."""

    async def courses_of_paths(self, path_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]: ...


class Memberships(Protocol):
    """The identity module's narrow read: whether a user belongs to an organization (a seat's holder must)."""

    async def is_member(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> bool: ...


class SubscriptionUnitOfWork(PlanUnitOfWork, EntitlementUnitOfWork, Protocol):
    """Subscriptions change access: their grants are written in the same transaction."""

    subscriptions: SubscriptionStore
    billing_profiles: BillingProfiles
    """The customers' stored billing profiles (checkout's): a period's invoice is made out to it."""
