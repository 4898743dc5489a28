"""In-memory doubles of the billing ports, held to the same contract as the SQL adapters
(tests/contract/test_billing_repositories.py). A unit of work works on a copy of the store and
writes it back on commit, so a rolled-back unit leaves nothing behind (its invoice numbers included)."""

from __future__ import annotations

import copy
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Self

from elearning_adapters.billing.tax import TableTaxPolicy
from elearning_core.auth.model import RolePolicy
from elearning_core.billing.ledger import (
    Account,
    Balance,
    InvoiceAccount,
    LedgerTransaction,
    PostingKind,
    RevenueRow,
    revenue_rows,
)
from elearning_core.billing.model import CreditNote, Invoice
from elearning_core.billing.ports import BillingUnitOfWork, Document, DocumentPrinter, DuplicatePosting, InvoiceKey
from elearning_core.billing.reconcile import LedgerMovement
from elearning_core.billing.service import BillingConfig, BillingService
from elearning_core.payment.ports import PaymentGateway
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import Conflict
from elearning_core.shared.events import DomainEvent
from elearning_core.shared.pagination import CursorCodec


@dataclass
class BillingStore:
    invoices: dict[uuid.UUID, Invoice] = field(default_factory=dict)
    credit_notes: dict[uuid.UUID, CreditNote] = field(default_factory=dict)
    sequences: dict[tuple[str, int], int] = field(default_factory=dict)
    transactions: dict[str, LedgerTransaction] = field(default_factory=dict)
    outbox: list[DomainEvent] = field(default_factory=list)


class InMemoryInvoices:
    def __init__(self, store: BillingStore) -> None:
        self._store = store
        self._seen: list[Invoice] = []

    def seen(self) -> list[Invoice]:
        return list(self._seen)

    async def add(self, invoice: Invoice) -> None:
        if any(i.order_ref == invoice.order_ref for i in self._store.invoices.values()):
            raise Conflict("this order is already invoiced")
        if any(i.number == invoice.number for i in self._store.invoices.values()):
            raise Conflict(f"invoice number {invoice.number} is already taken")
        self._store.invoices[invoice.id] = invoice
        self._seen.append(invoice)

    async def get(self, invoice_id: uuid.UUID) -> Invoice | None:
        return self._store.invoices.get(invoice_id)

    async def by_order(self, order_ref: str) -> Invoice | None:
        return next((i for i in self._store.invoices.values() if i.order_ref == order_ref), None)

    async def of_customer(self, customer_id: uuid.UUID, after: InvoiceKey | None, limit: int) -> list[Invoice]:
        rows = sorted(
            (i for i in self._store.invoices.values() if i.customer_id == customer_id),
            key=lambda i: (i.issued_at, i.id),
            reverse=True,
        )
        if after is not None:
            rows = [i for i in rows if (i.issued_at, i.id) < after]
        return rows[:limit]

    async def issued_between(self, since: datetime, until: datetime, limit: int) -> list[Invoice]:
        rows = [i for i in self._store.invoices.values() if since <= i.issued_at < until]
        return sorted(rows, key=lambda i: (i.series, i.number))[:limit]


class InMemoryCreditNotes:
    def __init__(self, store: BillingStore) -> None:
        self._store = store
        self._seen: list[CreditNote] = []

    def seen(self) -> list[CreditNote]:
        return list(self._seen)

    async def add(self, note: CreditNote) -> None:
        self._store.credit_notes[note.id] = note
        self._seen.append(note)

    async def of_invoice(self, invoice_id: uuid.UUID) -> list[CreditNote]:
        notes = [n for n in self._store.credit_notes.values() if n.invoice_id == invoice_id]
        return sorted(notes, key=lambda n: (n.issued_at, n.number))


class InMemoryInvoiceNumbers:
    def __init__(self, store: BillingStore) -> None:
        self._store = store

    async def next(self, series: str, year: int) -> int:
        number = self._store.sequences.get((series, year), 0) + 1
        self._store.sequences[(series, year)] = number
        return number


class InMemoryLedger:
    def __init__(self, store: BillingStore) -> None:
        self._store = store

    async def post(self, transaction: LedgerTransaction) -> None:
        if transaction.key in self._store.transactions:
            raise DuplicatePosting(f"{transaction.key} is already posted")
        self._store.transactions[transaction.key] = transaction

    async def posted(self, key: str) -> bool:
        return key in self._store.transactions

    async def invoice_account(self, invoice_id: uuid.UUID, currency: str) -> InvoiceAccount:
        sums: dict[PostingKind, int] = defaultdict(int)
        for tx in self._store.transactions.values():
            for entry in tx.entries:
                if (
                    entry.invoice_id == invoice_id
                    and entry.account is Account.RECEIVABLES
                    and entry.amount.currency == currency
                ):
                    sums[tx.kind] += entry.amount.amount
        return InvoiceAccount(
            currency,
            invoiced=sums[PostingKind.INVOICE],
            captured=-sums[PostingKind.PAYMENT],
            credited=-sums[PostingKind.CREDIT_NOTE],
            refunded=sums[PostingKind.REFUND],
        )


class InMemoryLedgerReports:
    def __init__(self, store: BillingStore) -> None:
        self._store = store

    async def balances(self, until: datetime | None = None) -> list[Balance]:
        sums: dict[tuple[Account, str], int] = defaultdict(int)
        for tx in self._store.transactions.values():
            if until is None or tx.occurred_at < until:
                for entry in tx.entries:
                    sums[(entry.account, entry.amount.currency)] += entry.amount.amount
        return [Balance(a, c, amount) for (a, c), amount in sorted(sums.items())]

    async def revenue(self, since: datetime, until: datetime) -> list[RevenueRow]:
        sums: dict[tuple[str, str, Account], int] = defaultdict(int)
        for tx in self._store.transactions.values():
            if since <= tx.occurred_at < until:
                for entry in tx.entries:
                    sums[(entry.reference, entry.amount.currency, entry.account)] += entry.amount.amount
        return revenue_rows([(ref, cur, account, amount) for (ref, cur, account), amount in sums.items()])

    async def gateway_movements(self, since: datetime, until: datetime) -> list[LedgerMovement]:
        return [m for m in self._movements() if since <= m.occurred_at < until]

    async def gateway_movements_by_key(self, keys: Sequence[str]) -> list[LedgerMovement]:
        wanted = set(keys)
        return [m for m in self._movements() if m.key in wanted]

    def _movements(self) -> list[LedgerMovement]:
        found = [
            LedgerMovement(tx.key, tx.kind, tx.occurred_at, e.invoice_id, abs(e.amount.amount), e.amount.currency)
            for tx in self._store.transactions.values()
            if tx.kind in (PostingKind.PAYMENT, PostingKind.REFUND)
            for e in tx.entries
            if e.account is Account.GATEWAY_CLEARING
        ]
        return sorted(found, key=lambda m: (m.occurred_at, m.key))


class InMemoryDocumentStore:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    async def put(self, key: str, data: bytes) -> None:
        self.files[key] = data

    async def get(self, key: str) -> bytes | None:
        return self.files.get(key)


class FakeBillingUnitOfWork(BillingUnitOfWork):
    def __init__(self, store: BillingStore) -> None:
        self._store = store
        self.committed = False

    async def __aenter__(self) -> Self:
        self._work = copy.copy(self._store)
        self._work.invoices = dict(self._store.invoices)
        self._work.credit_notes = dict(self._store.credit_notes)
        self._work.sequences = dict(self._store.sequences)
        self._work.transactions = dict(self._store.transactions)
        self.invoices = InMemoryInvoices(self._work)
        self.credit_notes = InMemoryCreditNotes(self._work)
        self.invoice_numbers = InMemoryInvoiceNumbers(self._work)
        self.ledger = InMemoryLedger(self._work)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def commit(self) -> None:
        self._store.invoices = self._work.invoices
        self._store.credit_notes = self._work.credit_notes
        self._store.sequences = self._work.sequences
        self._store.transactions = self._work.transactions
        for aggregate in [*self.invoices.seen(), *self.credit_notes.seen()]:
            self._store.outbox.extend(aggregate.pull_events())
        self.committed = True

    async def rollback(self) -> None:
        return None


class TextPrinter(DocumentPrinter):
    """A printer whose documents are plain text naming the number and total (the real one is tested apart)."""

    def html(self, document: Document) -> str:
        note = document.credit_note
        total = document.invoice.gross if note is None else -note.gross
        return f"<p>{document.number} {total.format()}</p>"

    def pdf(self, document: Document) -> bytes:
        return b"%PDF-" + self.html(document).encode()


def a_billing_service(
    store: BillingStore,
    clock: Clock,
    documents: InMemoryDocumentStore | None = None,
    seller: str = "DE",
    gateway: PaymentGateway | None = None,
) -> BillingService:
    """The billing service over the fakes, the real tax table and a text printer."""
    return BillingService(
        lambda: FakeBillingUnitOfWork(store),
        InMemoryLedgerReports(store),
        TableTaxPolicy(),
        TextPrinter(),
        documents if documents is not None else InMemoryDocumentStore(),
        clock,
        RolePolicy(),
        CursorCodec(b"billing-test-secret-0123456789ab"),
        BillingConfig(seller, "Seller GmbH", "1 Platz, Berlin"),
        gateway,
    )
