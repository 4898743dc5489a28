"""Reconciliation on the fakes: the billing service's ledger against the fake gateway's records, one
test per kind of difference, none when the two agree (partial refunds included), the window and its
lookback, and the paging through the gateway's lists."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from elearning_adapters.payments.fake import FakePaymentGateway, card_token
from elearning_core.billing.commands import RecordPayment, Refund
from elearning_core.billing.model import Invoice
from elearning_core.billing.reconcile import (
    GATEWAY_LOOKBACK,
    Difference,
    DifferenceKind,
    read_since,
)
from elearning_core.billing.service import BillingService
from elearning_core.payment.model import Money, Payment, PaymentRequest, PaymentStatus
from elearning_core.shared.clock import FixedClock
from elearning_core.shared.errors import Conflict, PermissionDenied, ValidationFailed
from elearning_core.shared.ports import Principal
from tests.billing_fakes import BillingStore, a_billing_service
from tests.fakes import ADMIN, T0
from tests.unit.billing.test_billing_service import an_order

SINCE, UNTIL = T0 - timedelta(hours=1), T0 + timedelta(days=1)
GOOD_CARD = card_token("4242424242424242")
DECLINED_ON_CHARGE = card_token("4000000000000341")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def gateway(clock: FixedClock) -> FakePaymentGateway:
    return FakePaymentGateway(clock)


@pytest.fixture
def billing(clock: FixedClock, gateway: FakePaymentGateway) -> BillingService:
    return a_billing_service(BillingStore(), clock, gateway=gateway)


async def an_invoice(billing: BillingService) -> Invoice:
    """An invoice of 69.99 EUR gross (FR consumer, tax included)."""
    return await billing.issue_invoice(ADMIN, an_order(uuid.uuid4(), order=f"order-{uuid.uuid4()}"))


async def charge(gateway: FakePaymentGateway, amount: int, currency: str = "EUR", card: str = GOOD_CARD) -> Payment:
    customer = await gateway.ensure_customer(str(uuid.uuid4()))
    method = await gateway.save_payment_method(customer, card)
    request = PaymentRequest(Money(amount, currency), customer, method.id, idempotency_key=str(uuid.uuid4()))
    return await gateway.create_payment(request)


async def book(billing: BillingService, invoice: Invoice, payment_ref: str, amount: int) -> None:
    await billing.record_payment(ADMIN, RecordPayment(invoice_id=invoice.id, amount=amount, payment_ref=payment_ref))


async def differences(billing: BillingService) -> list[Difference]:
    return (await billing.reconcile(ADMIN, SINCE, UNTIL)).differences


async def a_paid_invoice(billing: BillingService, gateway: FakePaymentGateway) -> tuple[Invoice, Payment]:
    invoice = await an_invoice(billing)
    payment = await charge(gateway, invoice.gross.amount)
    await book(billing, invoice, payment.id, invoice.gross.amount)
    return invoice, payment


async def test_no_differences_when_every_payment_and_partial_refund_is_booked(
    billing: BillingService, gateway: FakePaymentGateway, clock: FixedClock
) -> None:
    invoice, payment = await a_paid_invoice(billing, gateway)
    clock.advance(timedelta(minutes=5))
    for amount in (1000, 499):
        refund = await gateway.refund(payment.id, idempotency_key=str(uuid.uuid4()), amount=Money(amount, "EUR"))
        await billing.refund(
            ADMIN, Refund(invoice_id=invoice.id, amount=amount, reason="partial", refund_ref=refund.id)
        )
    result = await billing.reconcile(ADMIN, SINCE, UNTIL)
    assert result.differences == []
    assert (result.gateway_payments, result.gateway_refunds, result.ledger_movements) == (1, 2, 3)


async def test_a_captured_payment_the_books_do_not_show_is_missing_in_the_ledger(
    billing: BillingService, gateway: FakePaymentGateway
) -> None:
    payment = await charge(gateway, 4900)
    [difference] = await differences(billing)
    assert difference.kind is DifferenceKind.MISSING_IN_LEDGER
    assert (difference.reference, difference.gateway_amount, difference.gateway_currency) == (payment.id, 4900, "EUR")
    assert difference.ledger_amount is None


async def test_a_declined_charge_is_no_difference_but_booking_it_is_missing_at_the_gateway(
    billing: BillingService, gateway: FakePaymentGateway
) -> None:
    declined = await charge(gateway, 6999, card=DECLINED_ON_CHARGE)
    assert declined.status is PaymentStatus.FAILED
    assert await differences(billing) == []
    invoice = await an_invoice(billing)
    await book(billing, invoice, declined.id, 6000)
    await book(billing, invoice, "pay_nowhere", 1)
    found = await differences(billing)
    assert {(d.kind, d.reference) for d in found} == {
        (DifferenceKind.MISSING_AT_GATEWAY, declined.id),
        (DifferenceKind.MISSING_AT_GATEWAY, "pay_nowhere"),
    }
    assert {d.invoice_id for d in found} == {invoice.id}
    assert {d.ledger_amount for d in found} == {6000, 1}


async def test_amounts_and_currencies_that_differ(billing: BillingService, gateway: FakePaymentGateway) -> None:
    invoice = await an_invoice(billing)
    more = await charge(gateway, 5000)
    dollars = await charge(gateway, 1000, currency="USD")
    await book(billing, invoice, more.id, 4000)
    await book(billing, invoice, dollars.id, 1000)
    by_ref = {d.reference: d for d in await differences(billing)}
    assert by_ref[more.id].kind is DifferenceKind.AMOUNT_MISMATCH
    assert (by_ref[more.id].gateway_amount, by_ref[more.id].ledger_amount) == (5000, 4000)
    assert by_ref[dollars.id].kind is DifferenceKind.CURRENCY_MISMATCH
    assert (by_ref[dollars.id].gateway_currency, by_ref[dollars.id].ledger_currency) == ("USD", "EUR")
    assert len(by_ref) == 2


async def test_refund_differences(billing: BillingService, gateway: FakePaymentGateway) -> None:
    invoice, payment = await a_paid_invoice(billing, gateway)
    unbooked = await gateway.refund(payment.id, idempotency_key="r1", amount=Money(700, "EUR"))
    booked_other = await gateway.refund(payment.id, idempotency_key="r2", amount=Money(300, "EUR"))
    await billing.refund(ADMIN, Refund(invoice_id=invoice.id, amount=500, reason="r2", refund_ref=booked_other.id))
    await billing.refund(ADMIN, Refund(invoice_id=invoice.id, amount=200, reason="?", refund_ref="re_nowhere"))
    found = {d.reference: d for d in await differences(billing)}
    assert {ref: d.kind for ref, d in found.items()} == {
        unbooked.id: DifferenceKind.REFUND_MISSING_IN_LEDGER,
        booked_other.id: DifferenceKind.REFUND_AMOUNT_MISMATCH,
        "re_nowhere": DifferenceKind.REFUND_MISSING_AT_GATEWAY,
    }
    assert (found[booked_other.id].gateway_amount, found[booked_other.id].ledger_amount) == (300, 500)
    assert found[unbooked.id].payment_id == payment.id
    assert found["re_nowhere"].ledger_amount == 200


async def test_a_posting_booked_after_the_window_still_matches_its_gateway_record(
    billing: BillingService, gateway: FakePaymentGateway, clock: FixedClock
) -> None:
    invoice = await an_invoice(billing)
    payment = await charge(gateway, invoice.gross.amount)
    clock.advance(timedelta(days=3))  # booked after UNTIL
    await book(billing, invoice, payment.id, invoice.gross.amount)
    assert await differences(billing) == []


async def test_a_late_posting_matches_a_gateway_record_within_the_lookback(
    billing: BillingService, gateway: FakePaymentGateway, clock: FixedClock
) -> None:
    invoice = await an_invoice(billing)
    payment = await charge(gateway, invoice.gross.amount)
    clock.advance(GATEWAY_LOOKBACK - timedelta(minutes=1))
    await book(billing, invoice, payment.id, invoice.gross.amount)
    window = (clock.now() - timedelta(minutes=1), clock.now() + timedelta(minutes=1))
    assert (await billing.reconcile(ADMIN, *window)).differences == []
    too_late = (window[0] + timedelta(days=1), window[1] + timedelta(days=1))
    assert (await billing.reconcile(ADMIN, *too_late)).differences == []  # nothing of either side in it


async def test_records_outside_the_window_are_not_compared(
    billing: BillingService, gateway: FakePaymentGateway, clock: FixedClock
) -> None:
    await charge(gateway, 4900)
    clock.advance(timedelta(days=10))
    assert (await billing.reconcile(ADMIN, clock.now(), clock.now() + timedelta(days=1))).differences == []


async def test_reconciling_needs_billing_rights_and_a_window(billing: BillingService) -> None:
    learner = uuid.uuid4()
    with pytest.raises(PermissionDenied):
        await billing.reconcile(Principal(subject=str(learner), user_id=learner), SINCE, UNTIL)
    with pytest.raises(ValidationFailed):
        await billing.reconcile(ADMIN, UNTIL, SINCE)


async def test_without_a_gateway_reconciling_is_refused(clock: FixedClock) -> None:
    with pytest.raises(Conflict, match="no payment gateway"):
        await a_billing_service(BillingStore(), clock).reconcile(ADMIN, SINCE, UNTIL)


def a_payment(n: int, at: datetime) -> Payment:
    return Payment(f"pay_{n:03d}", Money(100, "EUR"), PaymentStatus.SUCCEEDED, None, None, at)


async def test_paging_reads_every_record_once_even_when_an_instant_spans_pages() -> None:
    records = [a_payment(n, T0 + timedelta(seconds=n // 3)) for n in range(10)]  # three per second
    calls: list[datetime] = []

    async def fetch(since: datetime, limit: int) -> list[Payment]:
        calls.append(since)
        return [r for r in records if r.created_at >= since][:limit]

    seen: list[int] = []
    found = await read_since(fetch, T0, T0 + timedelta(seconds=3), seen.append, page=4)
    assert sorted(p.id for p in found) == [f"pay_{n:03d}" for n in range(9)]
    assert seen[-1] == 9
    assert seen == sorted(seen)
    assert len(calls) >= 3


async def test_a_full_page_of_one_instant_is_refused_rather_than_looped_on() -> None:
    records = [a_payment(n, T0) for n in range(5)]

    async def fetch(since: datetime, limit: int) -> list[Payment]:
        return [r for r in records if r.created_at >= since][:limit]

    with pytest.raises(Conflict, match="more than 4 records"):
        await read_since(fetch, T0, T0 + timedelta(days=1), page=4)
