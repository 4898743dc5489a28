"""In-memory doubles of the payment module's stores, held to the same contract as the SQL adapters
(tests/contract/test_payment_stores.py)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Self

from elearning_core.payment.model import GatewayEvent, Money, PaymentRecord
from elearning_core.shared.events import DomainEvent


@dataclass
class PaymentStore:
    webhooks: dict[tuple[str, str], tuple[str, datetime]] = field(default_factory=dict)
    records: dict[tuple[str, str], PaymentRecord] = field(default_factory=dict)
    outbox: list[DomainEvent] = field(default_factory=list)


class InMemoryWebhookInbox:
    def __init__(self, webhooks: dict[tuple[str, str], tuple[str, datetime]]) -> None:
        self._webhooks = webhooks

    async def add(self, event: GatewayEvent, received_at: datetime) -> bool:
        key = (event.provider, event.event_id)
        if key in self._webhooks:
            return False
        self._webhooks[key] = (event.provider_type, received_at)
        return True


class InMemoryPaymentRecords:
    def __init__(self, records: dict[tuple[str, str], PaymentRecord]) -> None:
        self._records = records
        self.seen: list[PaymentRecord] = []

    async def lock(self, provider: str, payment_id: str, amount: Money) -> PaymentRecord:
        stored = self._records.setdefault((provider, payment_id), PaymentRecord(provider, payment_id, amount))
        return copy.deepcopy(stored)

    async def save(self, record: PaymentRecord) -> None:
        self._records[(record.provider, record.payment_id)] = record
        if all(r is not record for r in self.seen):
            self.seen.append(record)

    async def get(self, provider: str, payment_id: str) -> PaymentRecord | None:
        stored = self._records.get((provider, payment_id))
        return None if stored is None else copy.deepcopy(stored)


class InMemoryPaymentUnitOfWork:
    """Works on a copy of the store, put back only on commit (leaving without it changes nothing)."""

    def __init__(self, store: PaymentStore) -> None:
        self._store = store
        self.committed = False

    async def __aenter__(self) -> Self:
        self._work = PaymentStore(dict(self._store.webhooks), copy.deepcopy(self._store.records))
        self.payment_webhooks = InMemoryWebhookInbox(self._work.webhooks)
        self.payment_records = InMemoryPaymentRecords(self._work.records)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def commit(self) -> None:
        self._store.webhooks.update(self._work.webhooks)
        self._store.records.update(self._work.records)
        self._store.outbox.extend(e for r in self.payment_records.seen for e in r.pull_events())
        self.committed = True

    async def rollback(self) -> None:
        self._work = PaymentStore()
