"""Billing tables and repositories: invoices and their lines, credit notes, the gapless number
sequences, the ledger, and the ledger's report queries.

Gapless numbers: ``invoice_sequences`` holds one counter row per (series, year). Taking a number
is one upsert (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``) in the unit of work's
transaction: on PostgreSQL it row-locks the counter until that transaction ends, so concurrent
issues queue on it and a rolled-back issue gives its number back (the next one reuses it); on
SQLite write transactions are serialised already (``BEGIN IMMEDIATE``). The cost is that issues of
one series and year run one at a time: the lock is held only from the number to the commit, which
the use case keeps short (rendering happens after the commit).

Immutability: the repositories have no update path for invoices, credit notes or ledger rows; on
PostgreSQL a trigger (migration 0020) also refuses any UPDATE of them.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    and_,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import Uuid

from elearning_adapters.sql.engine import Database, UtcDateTime, insert_ignoring_duplicates, metadata
from elearning_core.billing.ledger import (
    Account,
    Balance,
    InvoiceAccount,
    LedgerTransaction,
    PostingKind,
    RevenueRow,
    revenue_rows,
)
from elearning_core.billing.model import (
    BillingProfile,
    CountryEvidence,
    CreditLine,
    CreditNote,
    EvidenceKind,
    Invoice,
    InvoiceLine,
    TaxDecision,
    TaxTreatment,
)
from elearning_core.billing.money import Money
from elearning_core.billing.ports import (
    CreditNoteRepository,
    DuplicatePosting,
    InvoiceKey,
    InvoiceNumbers,
    InvoiceRepository,
    Ledger,
    LedgerReports,
)
from elearning_core.billing.reconcile import LedgerMovement
from elearning_core.shared.errors import Conflict

ORDER_INVOICED = "this order is already invoiced"

invoice_sequences = Table(
    "invoice_sequences",
    metadata,
    Column("series", String(10), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("last_number", Integer, nullable=False),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("number", String(30), nullable=False, unique=True),
    Column("series", String(10), nullable=False),
    Column("year", Integer, nullable=False),
    Column("customer_id", Uuid, nullable=False),
    Column("order_ref", String(200), nullable=False, unique=True),
    Column("currency", String(3), nullable=False),
    Column("profile", JSON, nullable=False),
    Column("tax_rate_bp", Integer, nullable=False),
    Column("tax_treatment", String(20), nullable=False),
    Column("tax_note", String(500), nullable=False),
    Column("tax_inclusive", Boolean, nullable=False),
    Column("net", BigInteger, nullable=False),
    Column("tax", BigInteger, nullable=False),
    Column("gross", BigInteger, nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
)
Index("ix_invoices_customer_issued", invoices.c.customer_id, invoices.c.issued_at, invoices.c.id)
Index("ix_invoices_issued", invoices.c.issued_at)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column("invoice_id", Uuid, ForeignKey("invoices.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("description", String(500), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    Column("tax_rate_bp", Integer, nullable=False),
    Column("net", BigInteger, nullable=False),
    Column("tax", BigInteger, nullable=False),
    Column("gross", BigInteger, nullable=False),
    Column("reference", String(200), nullable=False),
)

credit_notes = Table(
    "credit_notes",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("number", String(30), nullable=False, unique=True),
    Column("invoice_id", Uuid, ForeignKey("invoices.id"), nullable=False),
    Column("customer_id", Uuid, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("lines", JSON, nullable=False),  # [{line_index, reference, net, tax, gross}], minor units
    Column("gross", BigInteger, nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
)
Index("ix_credit_notes_invoice", credit_notes.c.invoice_id)

ledger_transactions = Table(
    "ledger_transactions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("key", String(250), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("transaction_id", Uuid, ForeignKey("ledger_transactions.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("account", String(30), nullable=False),
    Column("reference", String(200), nullable=False),
    Column("invoice_id", Uuid, nullable=True),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),  # minor units; debit positive, credit negative
    Column("kind", String(20), nullable=False),  # the transaction's, so per-invoice figures need no join
    Column("occurred_at", UtcDateTime, nullable=False),  # the transaction's, for period reports
)
Index("ix_ledger_entries_invoice", ledger_entries.c.invoice_id, ledger_entries.c.account)
Index("ix_ledger_entries_account_time", ledger_entries.c.account, ledger_entries.c.occurred_at)

BILLING_TABLES = (
    "ledger_entries",
    "ledger_transactions",
    "credit_notes",
    "invoice_lines",
    "invoices",
    "invoice_sequences",
)
"""Children first: the order a test empties them in."""


# -- mapping ---------------------------------------------------------------------------------------


def profile_document(profile: BillingProfile) -> dict[str, Any]:
    return {
        "name": profile.name,
        "address": profile.address,
        "country": profile.country,
        "evidence": [{"kind": e.kind.value, "country": e.country} for e in profile.evidence],
        "tax_id": profile.tax_id,
    }


def profile_of(data: dict[str, Any]) -> BillingProfile:
    evidence = tuple(CountryEvidence(EvidenceKind(e["kind"]), e["country"]) for e in data["evidence"])
    return BillingProfile(data["name"], data["address"], data["country"], evidence, data["tax_id"])


def _invoice(row: Any, lines: list[Any]) -> Invoice:
    currency = row.currency
    return Invoice(
        id=row.id,
        number=row.number,
        series=row.series,
        year=row.year,
        customer_id=row.customer_id,
        order_ref=row.order_ref,
        currency=currency,
        profile=profile_of(row.profile),
        tax=TaxDecision(row.tax_rate_bp, TaxTreatment(row.tax_treatment), row.tax_note),
        tax_inclusive=row.tax_inclusive,
        lines=tuple(
            InvoiceLine(
                description=line.description,
                quantity=line.quantity,
                unit_price=Money(line.unit_price, currency),
                tax_rate_bp=line.tax_rate_bp,
                net=Money(line.net, currency),
                tax=Money(line.tax, currency),
                gross=Money(line.gross, currency),
                reference=line.reference,
            )
            for line in sorted(lines, key=lambda line: line.position)
        ),
        issued_at=row.issued_at,
    )


def _credit_note(row: Any, invoice_number: str) -> CreditNote:
    currency = row.currency
    return CreditNote(
        id=row.id,
        number=row.number,
        invoice_id=row.invoice_id,
        invoice_number=invoice_number,
        customer_id=row.customer_id,
        currency=currency,
        reason=row.reason,
        lines=tuple(
            CreditLine(
                line["line_index"],
                line["reference"],
                Money(line["net"], currency),
                Money(line["tax"], currency),
                Money(line["gross"], currency),
            )
            for line in row.lines
        ),
        issued_at=row.issued_at,
    )


# -- repositories ----------------------------------------------------------------------------------


class SqlInvoiceRepository(InvoiceRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._seen: list[Invoice] = []

    def seen(self) -> list[Invoice]:
        return list(self._seen)

    async def add(self, invoice: Invoice) -> None:
        values = {
            "id": invoice.id,
            "number": invoice.number,
            "series": invoice.series,
            "year": invoice.year,
            "customer_id": invoice.customer_id,
            "order_ref": invoice.order_ref,
            "currency": invoice.currency,
            "profile": profile_document(invoice.profile),
            "tax_rate_bp": invoice.tax.rate_bp,
            "tax_treatment": invoice.tax.treatment.value,
            "tax_note": invoice.tax.note,
            "tax_inclusive": invoice.tax_inclusive,
            "net": invoice.net.amount,
            "tax": invoice.tax_total.amount,
            "gross": invoice.gross.amount,
            "issued_at": invoice.issued_at,
        }
        try:
            async with self._conn.begin_nested():
                await self._conn.execute(insert(invoices).values(values))
        except IntegrityError as exc:
            if "order_ref" in str(exc.orig).lower():
                raise Conflict(ORDER_INVOICED) from None
            raise Conflict(f"invoice number {invoice.number} is already taken") from None
        await self._conn.execute(
            insert(invoice_lines),
            [
                {
                    "invoice_id": invoice.id,
                    "position": position,
                    "description": line.description,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price.amount,
                    "tax_rate_bp": line.tax_rate_bp,
                    "net": line.net.amount,
                    "tax": line.tax.amount,
                    "gross": line.gross.amount,
                    "reference": line.reference,
                }
                for position, line in enumerate(invoice.lines)
            ],
        )
        self._seen.append(invoice)

    async def _load(self, rows: list[Any]) -> list[Invoice]:
        if not rows:
            return []
        ids = [row.id for row in rows]
        lines: dict[uuid.UUID, list[Any]] = defaultdict(list)
        for line in await self._conn.execute(select(invoice_lines).where(invoice_lines.c.invoice_id.in_(ids))):
            lines[line.invoice_id].append(line)
        return [_invoice(row, lines[row.id]) for row in rows]

    async def get(self, invoice_id: uuid.UUID) -> Invoice | None:
        rows = list(await self._conn.execute(select(invoices).where(invoices.c.id == invoice_id)))
        found = await self._load(rows)
        return found[0] if found else None

    async def by_order(self, order_ref: str) -> Invoice | None:
        rows = list(await self._conn.execute(select(invoices).where(invoices.c.order_ref == order_ref)))
        found = await self._load(rows)
        return found[0] if found else None

    async def of_customer(self, customer_id: uuid.UUID, after: InvoiceKey | None, limit: int) -> list[Invoice]:
        query = select(invoices).where(invoices.c.customer_id == customer_id)
        if after is not None:
            at, last = after
            query = query.where(or_(invoices.c.issued_at < at, and_(invoices.c.issued_at == at, invoices.c.id < last)))
        query = query.order_by(invoices.c.issued_at.desc(), invoices.c.id.desc()).limit(limit)
        return await self._load(list(await self._conn.execute(query)))

    async def issued_between(self, since: datetime, until: datetime, limit: int) -> list[Invoice]:
        query = (
            select(invoices)
            .where(invoices.c.issued_at >= since, invoices.c.issued_at < until)
            .order_by(invoices.c.series, invoices.c.number)
            .limit(limit)
        )
        return await self._load(list(await self._conn.execute(query)))


class SqlCreditNoteRepository(CreditNoteRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._seen: list[CreditNote] = []

    def seen(self) -> list[CreditNote]:
        return list(self._seen)

    async def add(self, note: CreditNote) -> None:
        await self._conn.execute(
            insert(credit_notes).values(
                id=note.id,
                number=note.number,
                invoice_id=note.invoice_id,
                customer_id=note.customer_id,
                currency=note.currency,
                reason=note.reason,
                lines=[
                    {
                        "line_index": line.line_index,
                        "reference": line.reference,
                        "net": line.net.amount,
                        "tax": line.tax.amount,
                        "gross": line.gross.amount,
                    }
                    for line in note.lines
                ],
                gross=note.gross.amount,
                issued_at=note.issued_at,
            )
        )
        self._seen.append(note)

    async def of_invoice(self, invoice_id: uuid.UUID) -> list[CreditNote]:
        query = (
            select(credit_notes, invoices.c.number.label("invoice_number"))
            .join(invoices, invoices.c.id == credit_notes.c.invoice_id)
            .where(credit_notes.c.invoice_id == invoice_id)
            .order_by(credit_notes.c.issued_at, credit_notes.c.number)
        )
        return [_credit_note(row, row.invoice_number) for row in await self._conn.execute(query)]


class SqlInvoiceNumbers(InvoiceNumbers):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def next(self, series: str, year: int) -> int:
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(invoice_sequences).values(series=series, year=year, last_number=1)
        statement = statement.on_conflict_do_update(
            index_elements=[invoice_sequences.c.series, invoice_sequences.c.year],
            set_={"last_number": invoice_sequences.c.last_number + 1},
        ).returning(invoice_sequences.c.last_number)
        return int((await self._conn.execute(statement)).scalar_one())


class SqlLedger(Ledger):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def post(self, transaction: LedgerTransaction) -> None:
        # ON CONFLICT DO NOTHING rather than a savepoint around a failing insert: one statement, and the
        # transaction stays usable when the key is taken (a concurrent duplicate waits for the first).
        added = await self._conn.execute(
            insert_ignoring_duplicates(self._conn, ledger_transactions)
            .values(
                id=transaction.id,
                key=transaction.key,
                kind=transaction.kind.value,
                occurred_at=transaction.occurred_at,
            )
            .returning(ledger_transactions.c.id)
        )
        if added.first() is None:
            raise DuplicatePosting(f"{transaction.key} is already posted")
        await self._conn.execute(
            insert(ledger_entries),
            [
                {
                    "transaction_id": transaction.id,
                    "position": position,
                    "account": entry.account.value,
                    "reference": entry.reference,
                    "invoice_id": entry.invoice_id,
                    "currency": entry.amount.currency,
                    "amount": entry.amount.amount,
                    "kind": transaction.kind.value,
                    "occurred_at": transaction.occurred_at,
                }
                for position, entry in enumerate(transaction.entries)
            ],
        )

    async def posted(self, key: str) -> bool:
        query = select(ledger_transactions.c.id).where(ledger_transactions.c.key == key)
        return (await self._conn.execute(query)).first() is not None

    async def invoice_account(self, invoice_id: uuid.UUID, currency: str) -> InvoiceAccount:
        query = (
            select(ledger_entries.c.kind, func.sum(ledger_entries.c.amount))
            .where(
                ledger_entries.c.invoice_id == invoice_id,
                ledger_entries.c.account == Account.RECEIVABLES.value,
                ledger_entries.c.currency == currency,
            )
            .group_by(ledger_entries.c.kind)
        )
        sums = {PostingKind(kind): int(amount) for kind, amount in await self._conn.execute(query)}
        return InvoiceAccount(
            currency,
            invoiced=sums.get(PostingKind.INVOICE, 0),
            captured=-sums.get(PostingKind.PAYMENT, 0),
            credited=-sums.get(PostingKind.CREDIT_NOTE, 0),
            refunded=sums.get(PostingKind.REFUND, 0),
        )


class SqlLedgerReports(LedgerReports):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def balances(self, until: datetime | None = None) -> list[Balance]:
        query = select(ledger_entries.c.account, ledger_entries.c.currency, func.sum(ledger_entries.c.amount))
        if until is not None:
            query = query.where(ledger_entries.c.occurred_at < until)
        query = query.group_by(ledger_entries.c.account, ledger_entries.c.currency).order_by(
            ledger_entries.c.account, ledger_entries.c.currency
        )
        async with self._db.read() as conn:
            rows = list(await conn.execute(query))
        return [Balance(Account(account), currency, int(amount)) for account, currency, amount in rows]

    async def revenue(self, since: datetime, until: datetime) -> list[RevenueRow]:
        query = (
            select(
                ledger_entries.c.reference,
                ledger_entries.c.currency,
                ledger_entries.c.account,
                func.sum(ledger_entries.c.amount),
            )
            .where(
                ledger_entries.c.account.in_([Account.REVENUE.value, Account.REFUNDS.value]),
                ledger_entries.c.occurred_at >= since,
                ledger_entries.c.occurred_at < until,
            )
            .group_by(ledger_entries.c.reference, ledger_entries.c.currency, ledger_entries.c.account)
        )
        async with self._db.read() as conn:
            rows = list(await conn.execute(query))
        return revenue_rows([(ref, currency, Account(account), int(amount)) for ref, currency, account, amount in rows])

    async def gateway_movements(self, since: datetime, until: datetime) -> list[LedgerMovement]:
        window = (ledger_entries.c.occurred_at >= since, ledger_entries.c.occurred_at < until)
        async with self._db.read() as conn:
            return await _movements(conn, *window)

    async def gateway_movements_by_key(self, keys: Sequence[str]) -> list[LedgerMovement]:
        found: list[LedgerMovement] = []
        async with self._db.read() as conn:
            for start in range(0, len(keys), _KEYS_PER_QUERY):
                found += await _movements(conn, ledger_transactions.c.key.in_(keys[start : start + _KEYS_PER_QUERY]))
        return found


_KEYS_PER_QUERY = 500
"""Keys per ``IN`` list: well under SQLite's bound on a statement's parameters."""


async def _movements(conn: AsyncConnection, *where: ColumnElement[bool]) -> list[LedgerMovement]:
    """Payment and refund postings, each by its gateway clearing entry (one per such transaction)."""
    query = (
        select(
            ledger_transactions.c.key,
            ledger_entries.c.kind,
            ledger_entries.c.occurred_at,
            ledger_entries.c.invoice_id,
            ledger_entries.c.amount,
            ledger_entries.c.currency,
        )
        .join(ledger_transactions, ledger_transactions.c.id == ledger_entries.c.transaction_id)
        .where(
            ledger_entries.c.account == Account.GATEWAY_CLEARING.value,
            ledger_entries.c.kind.in_([PostingKind.PAYMENT.value, PostingKind.REFUND.value]),
            *where,
        )
        .order_by(ledger_entries.c.occurred_at, ledger_transactions.c.key)
    )
    return [
        LedgerMovement(key, PostingKind(kind), at, invoice_id, abs(int(amount)), currency)
        for key, kind, at, invoice_id, amount, currency in await conn.execute(query)
    ]
