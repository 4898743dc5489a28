"""The double-entry ledger: the one source of the platform's money figures.

Every money movement is a ``LedgerTransaction`` of entries whose signed amounts (debit positive,
credit negative) sum to zero in each currency; ``LedgerTransaction.post`` refuses any other. An
entry names an account, an optional reference (the course or path of a revenue line) and the
invoice it belongs to, so per-invoice receivables and revenue per course are sums of entries.

The postings (see docs/modules/billing.md for the table):

=================  ==========================================  ==========================================
operation          debit                                        credit
=================  ==========================================  ==========================================
issue invoice      receivables (gross)                          revenue per reference (net), tax_payable
payment captured   gateway_clearing                             receivables
credit note        refunds per reference (net), tax_payable    receivables (gross)
refund paid out    receivables                                  gateway_clearing
gateway fee        gateway_fees                                 gateway_clearing
=================  ==========================================  ==========================================

So, per invoice, receivables = invoiced - captured - credited + refunded: "paid" in the rule
*receivable = invoiced - paid - credited* is captured minus refunded.
"""

from __future__ import annotations

import enum
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from elearning_core.billing.model import CreditNote, Invoice
from elearning_core.billing.money import Money


class Account(enum.StrEnum):
    RECEIVABLES = "receivables"
    REVENUE = "revenue"
    TAX_PAYABLE = "tax_payable"
    GATEWAY_CLEARING = "gateway_clearing"
    REFUNDS = "refunds"
    """Contra-revenue: what credit notes took back, per reference (revenue reports net it)."""
    GATEWAY_FEES = "gateway_fees"


class PostingKind(enum.StrEnum):
    INVOICE = "invoice"
    PAYMENT = "payment"
    CREDIT_NOTE = "credit_note"
    REFUND = "refund"
    FEE = "fee"


class UnbalancedTransaction(ValueError):
    """Entries whose debits and credits differ in some currency: never posted."""


@dataclass(frozen=True, slots=True)
class Entry:
    account: Account
    amount: Money
    """Signed: a debit is positive, a credit negative."""
    reference: str = ""
    invoice_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class LedgerTransaction:
    id: uuid.UUID
    key: str
    """Unique per movement (``payment:<gateway ref>``): a repeated post of one movement is refused, so a
    replayed webhook or a retried use case cannot book it twice."""
    kind: PostingKind
    occurred_at: datetime
    entries: tuple[Entry, ...]

    @classmethod
    def post(
        cls, *, id: uuid.UUID, key: str, kind: PostingKind, at: datetime, entries: Sequence[Entry]
    ) -> LedgerTransaction:
        kept = tuple(e for e in entries if not e.amount.is_zero)
        if not kept:
            raise UnbalancedTransaction(f"{kind.value} {key}: a transaction needs at least one non-zero entry")
        sums: dict[str, int] = defaultdict(int)
        for entry in kept:
            sums[entry.amount.currency] += entry.amount.amount
        off = {currency: amount for currency, amount in sums.items() if amount != 0}
        if off:
            raise UnbalancedTransaction(f"{kind.value} {key} does not balance: {off}")
        return cls(id=id, key=key, kind=kind, occurred_at=at, entries=kept)


def invoice_entries(invoice: Invoice) -> list[Entry]:
    entries = [Entry(Account.RECEIVABLES, invoice.gross, invoice_id=invoice.id)]
    for line in invoice.lines:
        entries.append(Entry(Account.REVENUE, -line.net, line.reference, invoice.id))
    entries.append(Entry(Account.TAX_PAYABLE, -invoice.tax_total, invoice_id=invoice.id))
    return entries


def credit_note_entries(note: CreditNote) -> list[Entry]:
    entries = [Entry(Account.REFUNDS, line.net, line.reference, note.invoice_id) for line in note.lines]
    entries.append(Entry(Account.TAX_PAYABLE, note.tax_total, invoice_id=note.invoice_id))
    entries.append(Entry(Account.RECEIVABLES, -note.gross, invoice_id=note.invoice_id))
    return entries


def payment_entries(invoice_id: uuid.UUID, amount: Money) -> list[Entry]:
    return [
        Entry(Account.GATEWAY_CLEARING, amount, invoice_id=invoice_id),
        Entry(Account.RECEIVABLES, -amount, invoice_id=invoice_id),
    ]


def refund_entries(invoice_id: uuid.UUID, amount: Money) -> list[Entry]:
    return [
        Entry(Account.RECEIVABLES, amount, invoice_id=invoice_id),
        Entry(Account.GATEWAY_CLEARING, -amount, invoice_id=invoice_id),
    ]


def fee_entries(invoice_id: uuid.UUID, amount: Money) -> list[Entry]:
    return [
        Entry(Account.GATEWAY_FEES, amount, invoice_id=invoice_id),
        Entry(Account.GATEWAY_CLEARING, -amount, invoice_id=invoice_id),
    ]


@dataclass(frozen=True, slots=True)
class InvoiceAccount:
    """What the ledger says about one invoice: the figures the use cases check before posting."""

    currency: str
    invoiced: int = 0
    captured: int = 0
    credited: int = 0
    refunded: int = 0

    @property
    def receivable(self) -> int:
        return self.invoiced - self.captured - self.credited + self.refunded

    @property
    def paid(self) -> int:
        """Captured minus refunded: what the platform holds of the customer's money for this invoice."""
        return self.captured - self.refunded


@dataclass(frozen=True, slots=True)
class Balance:
    account: Account
    currency: str
    amount: int
    """Debits minus credits, in minor units (revenue and tax payable are therefore negative)."""


@dataclass(frozen=True, slots=True)
class RevenueRow:
    reference: str
    currency: str
    revenue: int
    """Net revenue booked by invoices in the period (positive)."""
    refunds: int
    """Net revenue taken back by credit notes in the period (positive)."""

    @property
    def net(self) -> int:
        return self.revenue - self.refunds


def revenue_rows(sums: Iterable[tuple[str, str, Account, int]]) -> list[RevenueRow]:
    """Revenue rows from (reference, currency, account, sum of entries) of the revenue and refunds
    accounts, sorted by reference and currency (revenue is booked as credits, so its sign flips)."""
    table: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for reference, currency, account, amount in sums:
        if account is Account.REVENUE:
            table[(reference, currency)][0] -= amount
        elif account is Account.REFUNDS:
            table[(reference, currency)][1] += amount
    return [RevenueRow(ref, cur, revenue, refunds) for (ref, cur), (revenue, refunds) in sorted(table.items())]
