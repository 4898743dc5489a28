"""The webhook use case on the in-memory stores: stored once, applied when it moves the payment forward."""

from __future__ import annotations

from datetime import UTC, datetime

from elearning_adapters.payments.fake import FakePaymentGateway
from elearning_core.payment.events import PaymentFailed, PaymentSucceeded
from elearning_core.payment.model import GatewayEvent, Money, PaymentStatus, WebhookKind
from elearning_core.payment.service import PaymentService, WebhookOutcome
from elearning_core.shared.clock import FixedClock
from tests.payment_fakes import InMemoryPaymentUnitOfWork, PaymentStore

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def service(store: PaymentStore) -> PaymentService:
    return PaymentService(lambda: InMemoryPaymentUnitOfWork(store), FakePaymentGateway(), FixedClock(AT))


def webhook(event_id: str, kind: WebhookKind | None, payment_id: str = "pay_1") -> GatewayEvent:
    return GatewayEvent("fake", event_id, str(kind), kind, payment_id, Money(4900, "EUR"), {}, {"order_id": "o1"})


async def test_a_new_event_is_stored_applied_and_published_once() -> None:
    store = PaymentStore()
    payments = service(store)
    assert await payments.record_webhook(webhook("evt_1", WebhookKind.SUCCEEDED)) is WebhookOutcome.APPLIED
    assert await payments.record_webhook(webhook("evt_1", WebhookKind.SUCCEEDED)) is WebhookOutcome.DUPLICATE
    assert [type(e) for e in store.outbox] == [PaymentSucceeded]
    assert store.outbox[0].metadata == {"order_id": "o1"}
    record = await payments.record_of("fake", "pay_1")
    assert record is not None
    assert record.status is PaymentStatus.SUCCEEDED


async def test_a_stale_event_is_stored_without_effect() -> None:
    store = PaymentStore()
    payments = service(store)
    await payments.record_webhook(webhook("evt_1", WebhookKind.SUCCEEDED))
    assert await payments.record_webhook(webhook("evt_0", WebhookKind.FAILED)) is WebhookOutcome.NO_EFFECT
    assert set(store.webhooks) == {("fake", "evt_1"), ("fake", "evt_0")}
    assert [type(e) for e in store.outbox] == [PaymentSucceeded]


async def test_an_event_the_platform_does_not_act_on_creates_no_record() -> None:
    store = PaymentStore()
    outcome = await service(store).record_webhook(
        GatewayEvent("fake", "evt_x", "customer.created", None, None, None, {})
    )
    assert outcome is WebhookOutcome.NO_EFFECT
    assert store.records == {}
    assert ("fake", "evt_x") in store.webhooks


async def test_failure_then_success_publishes_both() -> None:
    store = PaymentStore()
    payments = service(store)
    await payments.record_webhook(webhook("evt_1", WebhookKind.FAILED))
    await payments.record_webhook(webhook("evt_2", WebhookKind.SUCCEEDED))
    assert [type(e) for e in store.outbox] == [PaymentFailed, PaymentSucceeded]
