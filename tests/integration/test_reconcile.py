"""Reconciliation through the assembled platform on PostgreSQL: the fake gateway the container picks
(charges and partial refunds made through it) against the ledger the billing service posts in the
database, with the ledger's keyed reads split over several queries."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from elearning_adapters.container import Platform, bootstrap
from elearning_adapters.payments.fake import FakePaymentGateway, card_token
from elearning_adapters.settings import Settings
from elearning_core.billing.commands import EvidenceInput, IssueInvoice, LineInput, ProfileInput, RecordPayment, Refund
from elearning_core.billing.model import EvidenceKind, Invoice
from elearning_core.billing.reconcile import DifferenceKind
from elearning_core.payment.model import Money, Payment, PaymentRequest
from elearning_core.shared.ports import SYSTEM
from tests.conftest import truncate_all

pytestmark = pytest.mark.postgres


@pytest.fixture
async def platform(postgres_url: str, tmp_path: Path) -> AsyncIterator[Platform]:
    settings = Settings(database_url=postgres_url, data_dir=tmp_path)
    async with await bootstrap(settings, run_migrations=False, start_keys=False) as platform:
        await truncate_all(platform.database)
        yield platform


async def an_invoice(platform: Platform, n: int) -> Invoice:
    return await platform.billing.issue_invoice(
        SYSTEM,
        IssueInvoice(
            customer_id=uuid.uuid4(),
            order_ref=f"order-{n}",
            currency="EUR",
            profile=ProfileInput(
                name="Buyer", country="US", evidence=[EvidenceInput(kind=EvidenceKind.BILLING_ADDRESS, country="US")]
            ),
            lines=[LineInput(description="Course", unit_price=10_000, reference="course:intro")],
        ),
    )


async def charge(gateway: FakePaymentGateway, amount: int) -> Payment:
    customer = await gateway.ensure_customer(str(uuid.uuid4()))
    method = await gateway.save_payment_method(customer, card_token("4242424242424242"))
    key = str(uuid.uuid4())
    return await gateway.create_payment(PaymentRequest(Money(amount, "EUR"), customer, method.id, key))


async def test_the_ledger_on_postgresql_against_the_fake_gateway(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("elearning_adapters.sql.billing._KEYS_PER_QUERY", 3)
    gateway = platform.payments.gateway
    assert isinstance(gateway, FakePaymentGateway)  # the embedded default, shared with billing
    booked = []
    for n in range(7):
        invoice = await an_invoice(platform, n)
        payment = await charge(gateway, 10_000)
        amount = 9_000 if n == 3 else 10_000
        await platform.billing.record_payment(
            SYSTEM, RecordPayment(invoice_id=invoice.id, amount=amount, payment_ref=payment.id)
        )
        booked.append((invoice, payment))
    invoice, payment = booked[0]
    for n, amount in enumerate((2_500, 1_000)):
        refund = await gateway.refund(payment.id, idempotency_key=f"refund-{n}", amount=Money(amount, "EUR"))
        await platform.billing.refund(
            SYSTEM, Refund(invoice_id=invoice.id, amount=amount, reason="partial", refund_ref=refund.id)
        )
    unbooked_refund = await gateway.refund(booked[1][1].id, idempotency_key="refund-x", amount=Money(100, "EUR"))
    unbooked_payment = await charge(gateway, 4_200)
    ghost = await an_invoice(platform, 99)
    await platform.billing.record_payment(
        SYSTEM, RecordPayment(invoice_id=ghost.id, amount=500, payment_ref="pay_ghost")
    )

    now = datetime.now(UTC)
    result = await platform.billing.reconcile(SYSTEM, now - timedelta(hours=1), now + timedelta(hours=1))

    assert {(d.kind, d.reference) for d in result.differences} == {
        (DifferenceKind.AMOUNT_MISMATCH, booked[3][1].id),
        (DifferenceKind.REFUND_MISSING_IN_LEDGER, unbooked_refund.id),
        (DifferenceKind.MISSING_IN_LEDGER, unbooked_payment.id),
        (DifferenceKind.MISSING_AT_GATEWAY, "pay_ghost"),
    }
    assert (result.gateway_payments, result.gateway_refunds, result.ledger_movements) == (8, 3, 10)
    mismatch = next(d for d in result.differences if d.kind is DifferenceKind.AMOUNT_MISMATCH)
    assert (mismatch.gateway_amount, mismatch.ledger_amount, mismatch.invoice_id) == (10_000, 9_000, booked[3][0].id)
