"""The books balance after any sequence of issues, payments, fees, partial refunds and credit notes,
and each invoice's receivable is what was invoiced minus what was paid (captured less refunded)
minus what was credited."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elearning_core.billing.commands import (
    EvidenceInput,
    IssueInvoice,
    LineInput,
    ProfileInput,
    RecordPayment,
    Refund,
)
from elearning_core.billing.ledger import Account
from elearning_core.billing.model import EvidenceKind, OverCredit
from elearning_core.billing.service import Overpayment
from elearning_core.shared.clock import FixedClock
from tests.billing_fakes import BillingStore, a_billing_service
from tests.fakes import ADMIN, T0

COUNTRIES = ["DE", "FR", "HU", "US", "JP"]
line = st.tuples(st.integers(min_value=1, max_value=5), st.integers(min_value=0, max_value=100_000), st.integers(0, 3))
issue = st.tuples(
    st.just("issue"),
    st.sampled_from(["EUR", "USD", "JPY"]),
    st.sampled_from(COUNTRIES),
    st.booleans(),
    st.lists(line, min_size=1, max_size=4),
)
pay = st.tuples(st.just("pay"), st.integers(0, 20), st.integers(1, 100), st.integers(0, 5))
refund = st.tuples(st.just("refund"), st.integers(0, 20), st.one_of(st.none(), st.integers(1, 100)))
operations = st.lists(st.one_of(issue, pay, refund), min_size=1, max_size=25)


async def run(ops: list[tuple[object, ...]]) -> None:
    store, clock = BillingStore(), FixedClock(T0)
    service = a_billing_service(store, clock)
    invoices: list[uuid.UUID] = []
    paid: dict[uuid.UUID, int] = defaultdict(int)
    for step, op in enumerate(ops):
        clock.advance(timedelta(days=3))
        if op[0] == "issue":
            _, currency, country, inclusive, lines = op
            invoice = await service.issue_invoice(
                ADMIN,
                IssueInvoice(
                    customer_id=uuid.uuid4(),
                    order_ref=f"order-{step}",
                    currency=str(currency),
                    profile=ProfileInput(
                        name="Buyer",
                        country=str(country),
                        evidence=[EvidenceInput(kind=EvidenceKind.IP_ADDRESS, country=str(country))],
                    ),
                    lines=[
                        LineInput(description="item", quantity=q, unit_price=p, reference=f"course:{r}")
                        for q, p, r in lines  # type: ignore[attr-defined]
                    ],
                    tax_inclusive=bool(inclusive),
                ),
            )
            invoices.append(invoice.id)
        elif not invoices:
            continue
        elif op[0] == "pay":
            _, which, percent, fee_percent = op
            invoice_id = invoices[int(which) % len(invoices)]  # type: ignore[call-overload]
            account = (await service.invoice(ADMIN, invoice_id))[0]
            due = (await _account(store, invoice_id, account.currency)).receivable
            amount = max(1, due * int(percent) // 100)  # type: ignore[call-overload]
            try:
                await service.record_payment(
                    ADMIN,
                    RecordPayment(
                        invoice_id=invoice_id,
                        amount=amount,
                        payment_ref=f"pi-{step}",
                        fee=amount * int(fee_percent) // 100,  # type: ignore[call-overload]
                    ),
                )
                paid[invoice_id] += amount
            except Overpayment:
                assert amount > due
        else:
            _, which, percent = op
            invoice_id = invoices[int(which) % len(invoices)]  # type: ignore[call-overload]
            invoice, notes = await service.invoice(ADMIN, invoice_id)
            left = invoice.gross.amount - sum(n.gross.amount for n in notes)
            amount = None if percent is None else max(1, left * int(percent) // 100)  # type: ignore[call-overload]
            try:
                outcome = await service.refund(ADMIN, Refund(invoice_id=invoice_id, amount=amount, reason="r"))
                paid[invoice_id] -= outcome.refunded.amount
                assert outcome.refunded.amount >= 0
            except OverCredit:
                assert left == 0
        await check_books(store, invoices, paid)


async def _account(store: BillingStore, invoice_id: uuid.UUID, currency: str):  # type: ignore[no-untyped-def]
    from tests.billing_fakes import InMemoryLedger

    return await InMemoryLedger(store).invoice_account(invoice_id, currency)


async def check_books(store: BillingStore, invoices: list[uuid.UUID], paid: dict[uuid.UUID, int]) -> None:
    sums: dict[str, int] = defaultdict(int)
    receivable: dict[uuid.UUID, int] = defaultdict(int)
    tax_payable: dict[str, int] = defaultdict(int)
    for tx in store.transactions.values():
        assert sum(e.amount.amount for e in tx.entries if e.amount.currency == tx.entries[0].amount.currency) == 0
        for entry in tx.entries:
            sums[entry.amount.currency] += entry.amount.amount
            if entry.account is Account.RECEIVABLES:
                assert entry.invoice_id is not None
                receivable[entry.invoice_id] += entry.amount.amount
            if entry.account is Account.TAX_PAYABLE:
                tax_payable[entry.amount.currency] += entry.amount.amount
    assert all(total == 0 for total in sums.values()), sums
    expected_tax: dict[str, int] = defaultdict(int)
    for invoice_id in invoices:
        invoice = store.invoices[invoice_id]
        notes = [n for n in store.credit_notes.values() if n.invoice_id == invoice_id]
        credited = sum(n.gross.amount for n in notes)
        assert 0 <= credited <= invoice.gross.amount
        assert receivable[invoice_id] == invoice.gross.amount - paid[invoice_id] - credited
        expected_tax[invoice.currency] -= invoice.tax_total.amount - sum(n.tax_total.amount for n in notes)
    assert {c: v for c, v in tax_payable.items() if v} == {c: v for c, v in expected_tax.items() if v}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_the_books_balance_after_any_sequence_of_operations(ops: list[tuple[object, ...]]) -> None:
    asyncio.run(run(ops))
