"""The payment stores' contract (webhook inbox, payment records) on the in-memory doubles, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.payment.model import GatewayEvent, Money, PaymentStatus, WebhookKind
from tests.contract.conftest import sql_database
from tests.payment_fakes import InMemoryPaymentUnitOfWork, PaymentStore

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
AMOUNT = Money(4900, "EUR")


def event(event_id: str, kind: WebhookKind = WebhookKind.SUCCEEDED, provider: str = "fake") -> GatewayEvent:
    return GatewayEvent(provider, event_id, str(kind), kind, "pay_1", AMOUNT, {"id": event_id}, {"order_id": "o"})


# Named ``backend`` like the other contract suites' fixture: the package's autouse fixture creates the
# session databases for it outside the event loop.
@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[[], Any]]:
    if request.param == "fake":
        store = PaymentStore()
        yield lambda: InMemoryPaymentUnitOfWork(store)
        return
    db = await sql_database(request, tmp_path)
    try:
        yield lambda: SqlUnitOfWork(db)
    finally:
        await db.dispose()


async def test_an_event_is_stored_once_per_provider(backend: Callable[[], Any]) -> None:
    async with backend() as uow:
        assert await uow.payment_webhooks.add(event("evt_1"), AT)
        assert await uow.payment_webhooks.add(event("evt_1", provider="stripe"), AT)
        await uow.commit()
    async with backend() as uow:
        assert not await uow.payment_webhooks.add(event("evt_1"), AT)


async def test_an_event_not_committed_is_not_stored(backend: Callable[[], Any]) -> None:
    async with backend() as uow:
        assert await uow.payment_webhooks.add(event("evt_2"), AT)
    async with backend() as uow:
        assert await uow.payment_webhooks.add(event("evt_2"), AT)


async def test_a_record_is_created_empty_then_saved_with_its_state(backend: Callable[[], Any]) -> None:
    async with backend() as uow:
        assert await uow.payment_records.get("fake", "pay_1") is None
        record = await uow.payment_records.lock("fake", "pay_1", AMOUNT)
        assert (record.status, record.refunded, record.amount) == (None, 0, AMOUNT)
        assert record.apply(event("evt_1", WebhookKind.FAILED), AT)
        await uow.payment_records.save(record)
        await uow.commit()
    async with backend() as uow:
        again = await uow.payment_records.lock("fake", "pay_1", AMOUNT)
        assert (again.status, again.updated_at) == (PaymentStatus.FAILED, AT)
        refund = GatewayEvent("fake", "evt_r", "r", WebhookKind.REFUNDED, "pay_1", AMOUNT, {}, refunded_total=700)
        assert again.apply(refund, AT)
        await uow.payment_records.save(again)
        await uow.commit()
    async with backend() as uow:
        stored = await uow.payment_records.get("fake", "pay_1")
        assert (stored.status, stored.refunded) == (PaymentStatus.FAILED, 700)
