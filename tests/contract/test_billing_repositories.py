"""The billing ports' contract (invoices once per order, credit notes, gapless numbers that a
rollback gives back, the ledger with its one posting per key, the report queries and the outbox),
run on the fakes, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from elearning_adapters.sql.billing import SqlLedgerReports
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.billing.ledger import (
    Account,
    LedgerTransaction,
    PostingKind,
    credit_note_entries,
    fee_entries,
    invoice_entries,
    payment_entries,
    refund_entries,
)
from elearning_core.billing.model import (
    BillingProfile,
    CountryEvidence,
    CreditNote,
    EvidenceKind,
    Invoice,
    LineSpec,
    TaxDecision,
    TaxTreatment,
)
from elearning_core.billing.money import Money
from elearning_core.billing.ports import BillingUnitOfWork, DuplicatePosting, LedgerReports
from elearning_core.billing.reconcile import LedgerMovement
from elearning_core.shared.errors import Conflict
from tests.billing_fakes import BillingStore, FakeBillingUnitOfWork, InMemoryLedgerReports
from tests.contract.conftest import outbox_reader, sql_database
from tests.fakes import T0

PROFILE = BillingProfile(
    "Ada GmbH", "Str. 1", "DE", (CountryEvidence(EvidenceKind.BILLING_ADDRESS, "DE"),), "DE123456789"
)
VAT = TaxDecision(1900, TaxTreatment.STANDARD)


@dataclass(frozen=True)
class Backend:
    name: str
    uow: Callable[[], BillingUnitOfWork]
    reports: LedgerReports
    outbox_types: Callable[[], Awaitable[list[str]]]


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "fake":
        store = BillingStore()

        async def fake_outbox() -> list[str]:
            return [e.type for e in store.outbox]

        yield Backend("fake", lambda: FakeBillingUnitOfWork(store), InMemoryLedgerReports(store), fake_outbox)
        return
    db = await sql_database(request, tmp_path)
    try:
        yield Backend(request.param, lambda: SqlUnitOfWork(db), SqlLedgerReports(db), outbox_reader(db))
    finally:
        await db.dispose()


def an_invoice(sequence: int, *, customer: uuid.UUID | None = None, order: str | None = None, days: int = 0) -> Invoice:
    return Invoice.issue(
        id=uuid.uuid4(),
        series="INV",
        sequence=sequence,
        customer_id=customer or uuid.uuid4(),
        order_ref=order or f"order-{uuid.uuid4()}",
        currency="EUR",
        profile=PROFILE,
        tax=VAT,
        tax_inclusive=False,
        lines=[LineSpec("Course A", 1, 10_000, "course:a"), LineSpec("Course B", 3, 333, "course:b")],
        at=T0 + timedelta(days=days),
    )


def posting(key: str, kind: PostingKind, entries: list, days: int = 0) -> LedgerTransaction:  # type: ignore[type-arg]
    return LedgerTransaction.post(id=uuid.uuid4(), key=key, kind=kind, at=T0 + timedelta(days=days), entries=entries)


async def test_numbers_are_consecutive_per_series_and_year_and_a_rollback_gives_one_back(backend: Backend) -> None:
    async with backend.uow() as uow:
        assert [await uow.invoice_numbers.next("INV", 2026) for _ in range(3)] == [1, 2, 3]
        assert await uow.invoice_numbers.next("CRN", 2026) == 1
        assert await uow.invoice_numbers.next("INV", 2027) == 1
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.invoice_numbers.next("INV", 2026) == 4
        await uow.rollback()
    async with backend.uow() as uow:
        assert await uow.invoice_numbers.next("INV", 2026) == 4  # left without committing: given back
    async with backend.uow() as uow:
        assert await uow.invoice_numbers.next("INV", 2026) == 4
        await uow.commit()


async def test_an_invoice_reads_back_as_issued_and_is_listed(backend: Backend) -> None:
    customer = uuid.uuid4()
    invoices = [an_invoice(n, customer=customer, days=n) for n in (1, 2, 3)]
    async with backend.uow() as uow:
        for invoice in invoices:
            await uow.invoices.add(invoice)
        await uow.invoices.add(an_invoice(4, days=10))
        await uow.commit()
    async with backend.uow() as uow:
        loaded = await uow.invoices.get(invoices[0].id)
        assert loaded == invoices[0]
        assert loaded is not None
        assert loaded.lines == invoices[0].lines
        assert loaded.profile == PROFILE
        assert loaded.gross.amount == 10_000 + 999 + 1900 + 190
        assert await uow.invoices.by_order(invoices[1].order_ref) == invoices[1]
        assert await uow.invoices.get(uuid.uuid4()) is None
        first = await uow.invoices.of_customer(customer, None, 2)
        assert [i.number for i in first] == ["INV-2026-000003", "INV-2026-000002"]
        rest = await uow.invoices.of_customer(customer, (first[-1].issued_at, first[-1].id), 2)
        assert [i.number for i in rest] == ["INV-2026-000001"]
        window = await uow.invoices.issued_between(T0 + timedelta(days=2), T0 + timedelta(days=11), 100)
        assert [i.number for i in window] == ["INV-2026-000002", "INV-2026-000003", "INV-2026-000004"]
    assert await backend.outbox_types() == ["billing.invoice_issued.v1"] * 4


async def test_an_order_is_invoiced_once(backend: Backend) -> None:
    async with backend.uow() as uow:
        await uow.invoices.add(an_invoice(1, order="order-x"))
        await uow.commit()
    async with backend.uow() as uow:
        with pytest.raises(Conflict, match="already invoiced"):
            await uow.invoices.add(an_invoice(2, order="order-x"))


async def test_credit_notes_read_back_in_order(backend: Backend) -> None:
    invoice = an_invoice(1)
    first = CreditNote.against(invoice, [], Money(5000, "EUR"), id=uuid.uuid4(), sequence=1, reason="a", at=T0)
    second = CreditNote.against(invoice, [first], None, id=uuid.uuid4(), sequence=2, reason="b", at=T0 + timedelta(1))
    async with backend.uow() as uow:
        await uow.invoices.add(invoice)
        await uow.credit_notes.add(first)
        await uow.credit_notes.add(second)
        await uow.commit()
    async with backend.uow() as uow:
        notes = await uow.credit_notes.of_invoice(invoice.id)
    assert notes == [first, second]
    assert [n.lines for n in notes] == [first.lines, second.lines]
    assert sum(n.gross.amount for n in notes) == invoice.gross.amount
    assert (await backend.outbox_types())[-2:] == ["billing.credit_note_issued.v1"] * 2


async def test_the_ledger_posts_once_per_key_and_sums_an_invoices_account(backend: Backend) -> None:
    invoice = an_invoice(1)
    note = CreditNote.against(invoice, [], Money(1190, "EUR"), id=uuid.uuid4(), sequence=1, reason="r", at=T0)
    async with backend.uow() as uow:
        await uow.invoices.add(invoice)
        await uow.ledger.post(posting(f"invoice:{invoice.id}", PostingKind.INVOICE, invoice_entries(invoice)))
        await uow.ledger.post(
            posting("payment:pi_1", PostingKind.PAYMENT, payment_entries(invoice.id, Money(5000, "EUR")))
        )
        await uow.credit_notes.add(note)
        await uow.ledger.post(posting(f"credit:{note.id}", PostingKind.CREDIT_NOTE, credit_note_entries(note)))
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.ledger.posted("payment:pi_1")
        assert not await uow.ledger.posted("payment:pi_2")
        with pytest.raises(DuplicatePosting):
            await uow.ledger.post(
                posting("payment:pi_1", PostingKind.PAYMENT, payment_entries(invoice.id, Money(1, "EUR")))
            )
        account = await uow.ledger.invoice_account(invoice.id, "EUR")
        assert (account.invoiced, account.captured, account.credited, account.refunded) == (13_089, 5000, 1190, 0)
        assert account.receivable == 13_089 - 5000 - 1190
        assert (await uow.ledger.invoice_account(uuid.uuid4(), "EUR")).receivable == 0


async def test_reports_sum_balances_and_revenue_per_reference_and_period(backend: Backend) -> None:
    january, february = an_invoice(1), an_invoice(2, days=31)
    async with backend.uow() as uow:
        for invoice, days in ((january, 0), (february, 31)):
            await uow.invoices.add(invoice)
            await uow.ledger.post(posting(f"i:{invoice.id}", PostingKind.INVOICE, invoice_entries(invoice), days))
        await uow.commit()
    balances = {(b.account, b.currency): b.amount for b in await backend.reports.balances()}
    assert balances[(Account.RECEIVABLES, "EUR")] == 2 * 13_089
    assert sum(balances.values()) == 0
    before = {b.account: b.amount for b in await backend.reports.balances(T0 + timedelta(days=1))}
    assert before[Account.RECEIVABLES] == 13_089
    rows = await backend.reports.revenue(T0, T0 + timedelta(days=1))
    assert [(r.reference, r.revenue, r.refunds) for r in rows] == [("course:a", 10_000, 0), ("course:b", 999, 0)]


async def test_gateway_movements_are_the_payment_and_refund_postings_by_window_or_key(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("elearning_adapters.sql.billing._KEYS_PER_QUERY", 2)  # several IN lists
    invoice = an_invoice(1)
    eur = lambda amount: Money(amount, "EUR")  # noqa: E731
    async with backend.uow() as uow:
        await uow.invoices.add(invoice)
        await uow.ledger.post(posting(f"invoice:{invoice.id}", PostingKind.INVOICE, invoice_entries(invoice)))
        for n, days in ((1, 0), (2, 1), (3, 5)):
            entries = payment_entries(invoice.id, eur(1000 * n))
            await uow.ledger.post(posting(f"payment:pi_{n}", PostingKind.PAYMENT, entries, days))
        await uow.ledger.post(posting("fee:pi_1", PostingKind.FEE, fee_entries(invoice.id, eur(30))))
        await uow.ledger.post(posting("refund:re_1", PostingKind.REFUND, refund_entries(invoice.id, eur(400)), 1))
        await uow.commit()
    in_window = await backend.reports.gateway_movements(T0 + timedelta(days=1), T0 + timedelta(days=2))
    assert in_window == [
        LedgerMovement("payment:pi_2", PostingKind.PAYMENT, T0 + timedelta(days=1), invoice.id, 2000, "EUR"),
        LedgerMovement("refund:re_1", PostingKind.REFUND, T0 + timedelta(days=1), invoice.id, 400, "EUR"),
    ]
    keyed = await backend.reports.gateway_movements_by_key(
        ["payment:pi_1", "payment:pi_3", "refund:re_1", "payment:pi_9", "fee:pi_1", f"invoice:{invoice.id}"]
    )
    assert sorted((m.key, m.amount) for m in keyed) == [
        ("payment:pi_1", 1000),
        ("payment:pi_3", 3000),
        ("refund:re_1", 400),
    ]
    assert await backend.reports.gateway_movements_by_key([]) == []
