"""An in-memory double of the entitlement store, held to the same contract as the SQL adapter
(tests/contract/test_entitlement_store.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Self

from elearning_core.entitlement.model import CourseOffer, Grant
from elearning_core.entitlement.ports import CourseKey, EntitlementStore
from elearning_core.shared.errors import NotFound
from elearning_core.shared.events import DomainEvent, RecordsEvents


@dataclass
class EntitlementData:
    offers: dict[uuid.UUID, CourseOffer] = field(default_factory=dict)
    grants: dict[uuid.UUID, Grant] = field(default_factory=dict)
    users: set[uuid.UUID] = field(default_factory=set)
    enrolled: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)
    """(user, course) pairs with an enrollment."""
    outbox: list[DomainEvent] = field(default_factory=list)

    def copy(self) -> EntitlementData:
        return EntitlementData(dict(self.offers), dict(self.grants), set(self.users), set(self.enrolled))


class _Recorded(RecordsEvents):
    def __init__(self) -> None:
        self._events: list[DomainEvent] = []


class InMemoryEntitlementStore(EntitlementStore):
    def __init__(self, data: EntitlementData) -> None:
        self._data = data
        self._recorded = _Recorded()

    def record(self, event: DomainEvent) -> None:
        self._recorded._events.append(event)

    def seen(self) -> list[RecordsEvents]:
        return [self._recorded]

    async def offer(self, course_id: uuid.UUID) -> CourseOffer | None:
        return self._data.offers.get(course_id)

    async def save_offer(self, offer: CourseOffer, at: datetime) -> None:
        self._data.offers[offer.course_id] = offer

    async def grants(self, user_id: uuid.UUID, course_id: uuid.UUID) -> Sequence[Grant]:
        found = [g for g in self._data.grants.values() if g.user_id == user_id and g.covers(course_id)]
        return sorted(found, key=lambda g: (g.starts_at, g.id))

    async def add_grant(self, grant: Grant, at: datetime) -> None:
        if grant.user_id not in self._data.users:
            raise NotFound("user", grant.user_id)
        self._data.grants[grant.id] = grant

    async def grant(self, grant_id: uuid.UUID) -> Grant | None:
        return self._data.grants.get(grant_id)

    async def save_grant(self, grant: Grant, at: datetime) -> None:
        self._data.grants[grant.id] = grant

    async def grants_of_user(self, user_id: uuid.UUID) -> Sequence[Grant]:
        return sorted(
            (g for g in self._data.grants.values() if g.user_id == user_id), key=lambda g: (g.starts_at, g.id)
        )

    async def courses_of_user(self, user_id: uuid.UUID, after: CourseKey | None, limit: int) -> list[uuid.UUID]:
        courses = {g.course_id for g in self._data.grants.values() if g.user_id == user_id and g.course_id is not None}
        courses |= {c for u, c in self._data.enrolled if u == user_id}
        return sorted(c for c in courses if after is None or c > after)[:limit]


class InMemoryEntitlementUnitOfWork:
    """Works on a copy of the data, put back only on commit (leaving without it changes nothing)."""

    def __init__(self, data: EntitlementData) -> None:
        self._data = data
        self.committed = False

    async def __aenter__(self) -> Self:
        self._work = self._data.copy()
        self.entitlements = InMemoryEntitlementStore(self._work)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def commit(self) -> None:
        self._data.offers, self._data.grants = self._work.offers, self._work.grants
        self._data.outbox.extend(e for r in self.entitlements.seen() for e in r.pull_events())
        self.committed = True

    async def rollback(self) -> None:
        self._work = self._data.copy()
