"""What the billing module needs from outside: its stores, the invoice number sequences, the ledger,
a tax policy, a document printer and a place to keep the documents."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from elearning_core.billing.ledger import Balance, InvoiceAccount, LedgerTransaction, RevenueRow
from elearning_core.billing.model import BillingProfile, CreditNote, Invoice, TaxDecision
from elearning_core.billing.reconcile import MovementReader
from elearning_core.shared.errors import Conflict
from elearning_core.shared.ports import UnitOfWork

InvoiceKey = tuple[datetime, uuid.UUID]
"""The sort key of invoice listings (issued_at, id)."""


class DuplicatePosting(Conflict):
    """A ledger transaction with this key is already posted (a retried or replayed movement)."""


class InvoiceRepository(Protocol):
    """Issued invoices: added once, never updated (a correction is a credit note)."""

    async def add(self, invoice: Invoice) -> None: ...

    async def get(self, invoice_id: uuid.UUID) -> Invoice | None: ...

    async def by_order(self, order_ref: str) -> Invoice | None:
        """The invoice of an order (an order is invoiced once; the store refuses a second)."""
        ...

    async def of_customer(self, customer_id: uuid.UUID, after: InvoiceKey | None, limit: int) -> list[Invoice]:
        """Newest first."""
        ...

    async def issued_between(self, since: datetime, until: datetime, limit: int) -> list[Invoice]:
        """Invoices issued in ``[since, until)``, in number order."""
        ...

    def seen(self) -> list[Invoice]:
        """The invoices added in this unit of work (their events go to the outbox)."""
        ...


class CreditNoteRepository(Protocol):
    async def add(self, note: CreditNote) -> None: ...

    async def of_invoice(self, invoice_id: uuid.UUID) -> list[CreditNote]:
        """In number order."""
        ...

    def seen(self) -> list[CreditNote]: ...


class InvoiceNumbers(Protocol):
    """Gapless sequences per (series, year).

    ``next`` takes the next number in the unit of work's transaction and holds the sequence until that
    transaction ends: a rolled-back transaction gives its number back, so issued numbers have no gaps
    and no duplicates however many issue at once (the SQL adapter locks a counter row)."""

    async def next(self, series: str, year: int) -> int: ...


class Ledger(Protocol):
    async def post(self, transaction: LedgerTransaction) -> None:
        """Record a balanced transaction; ``DuplicatePosting`` when its key is already posted."""
        ...

    async def posted(self, key: str) -> bool: ...

    async def invoice_account(self, invoice_id: uuid.UUID, currency: str) -> InvoiceAccount:
        """The invoice's figures from its entries (zeros when none)."""
        ...


class LedgerReports(MovementReader, Protocol):
    """The read port every money report reads (analytics included): sums of ledger entries, and the
    payment and refund postings reconciliation matches against the gateway's records."""

    async def balances(self, until: datetime | None = None) -> list[Balance]:
        """Each account's balance per currency, of the entries before ``until`` (all when None)."""
        ...

    async def revenue(self, since: datetime, until: datetime) -> list[RevenueRow]:
        """Revenue and refunds per reference and currency booked in ``[since, until)``."""
        ...


class BillingProfiles(Protocol):
    """The customers' stored billing profiles (one per user): checkout and subscription invoices are made
    out to them."""

    async def get(self, user_id: uuid.UUID) -> BillingProfile | None: ...

    async def save(self, user_id: uuid.UUID, profile: BillingProfile, at: datetime) -> None: ...


class TaxPolicy(Protocol):
    """Decides the VAT of a sale from the seller's country and the customer's billing profile."""

    def decide(self, seller_country: str, profile: BillingProfile) -> TaxDecision: ...


@dataclass(frozen=True, slots=True)
class Document:
    """A printable invoice or credit note: the invoice, and the credit note when it is one."""

    invoice: Invoice
    credit_note: CreditNote | None = None
    seller_name: str = ""
    seller_address: str = ""

    @property
    def number(self) -> str:
        return self.invoice.number if self.credit_note is None else self.credit_note.number


class DocumentPrinter(Protocol):
    def html(self, document: Document) -> str: ...

    def pdf(self, document: Document) -> bytes: ...


class DocumentStore(Protocol):
    """Where rendered documents are kept (the platform's storage port)."""

    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes | None: ...


class BillingUnitOfWork(UnitOfWork, Protocol):
    invoices: InvoiceRepository
    credit_notes: CreditNoteRepository
    invoice_numbers: InvoiceNumbers
    ledger: Ledger
