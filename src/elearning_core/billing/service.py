"""The billing use cases: issue an invoice for an order, record a payment, refund through a credit
note, and the reads (a customer's invoices, the export, revenue per month, balances).

Every use case that moves money posts its ledger transaction in the same unit of work as the
document it issues, so the books and the documents cannot disagree. The printable documents are
rendered and stored after the commit, by the ``billing-documents`` subscription to the issue events
(``keep_documents``): a PDF costs tens of milliseconds of CPU, which the issuing request, holding
its series' number until it commits, must not spend. A document asked for before that (or whose
storing failed) is rendered and stored then (``document``).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from elearning_core.billing.commands import Capture, IssueInvoice, RecordPayment, Refund
from elearning_core.billing.ledger import (
    Balance,
    Entry,
    InvoiceAccount,
    LedgerTransaction,
    PostingKind,
    RevenueRow,
    credit_note_entries,
    fee_entries,
    invoice_entries,
    payment_entries,
    refund_entries,
)
from elearning_core.billing.model import (
    CREDIT_NOTE_SERIES,
    CreditNote,
    Invoice,
    check_lines,
    check_series,
)
from elearning_core.billing.money import Money, check_currency
from elearning_core.billing.ports import (
    BillingUnitOfWork,
    Document,
    DocumentPrinter,
    DocumentStore,
    DuplicatePosting,
    InvoiceKey,
    LedgerReports,
    TaxPolicy,
)
from elearning_core.billing.reconcile import Reconciliation, reconcile
from elearning_core.payment.ports import PaymentGateway
from elearning_core.shared.clock import Clock
from elearning_core.shared.errors import Conflict, FieldError, NotFound, Unauthenticated, ValidationFailed
from elearning_core.shared.ids import new_uuid
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE, CursorCodec, Page, check_page_size, iso_time, scope_of
from elearning_core.shared.ports import SYSTEM, Policy, Principal, require

log = logging.getLogger(__name__)

MANAGE = "billing.manage"
EXPORT_LIMIT = 100_000
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class Overpayment(Conflict):
    """A payment larger than what the invoice still has due."""


@dataclass(frozen=True, slots=True)
class BillingConfig:
    seller_country: str
    seller_name: str = "E-learning platform"
    seller_address: str = ""


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    credit_note: CreditNote
    refunded: Money
    """The part of the credit paid back to the customer (what the invoice had been paid, at most)."""


def month_range(month: str) -> tuple[datetime, datetime]:
    """``2026-03`` -> [2026-03-01, 2026-04-01) in UTC; ``ValidationFailed`` for anything else."""
    match = _MONTH.match(month)
    if match is None:
        raise ValidationFailed("month must look like YYYY-MM", [FieldError("month", "YYYY-MM")])
    year, number = int(match.group(1)), int(match.group(2))
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return start, end


def document_key(number: str, kind: Literal["pdf", "html"]) -> str:
    """Where a document is stored: ``billing/<series>/<year>/<number>.<kind>``."""
    series, year, _ = number.split("-")
    return f"billing/{series.lower()}/{year}/{number}.{kind}"


class BillingService:
    def __init__(
        self,
        uow: Callable[[], BillingUnitOfWork],
        reports: LedgerReports,
        tax: TaxPolicy,
        printer: DocumentPrinter,
        store: DocumentStore,
        clock: Clock,
        policy: Policy,
        cursors: CursorCodec,
        config: BillingConfig,
        gateway: PaymentGateway | None = None,
    ) -> None:
        self._uow, self._reports, self._tax, self._printer, self._store = uow, reports, tax, printer, store
        self._clock, self._policy, self._cursors, self.config = clock, policy, cursors, config
        self._gateway = gateway

    # -- money movements -----------------------------------------------------------------------

    async def issue_invoice(self, actor: Principal, cmd: IssueInvoice, payment: Capture | None = None) -> Invoice:
        """Invoice an order once: a repeat for the same order answers with the invoice already issued.

        With ``payment`` (a checkout's or a renewal's invoice, paid before it was issued), the capture is
        booked in the same transaction, as ``record_payment`` would book it: one unit of work, and no
        reading back of the invoice just written."""
        require(self._policy, actor, MANAGE)
        series = check_series(cmd.series)
        currency = _currency(cmd.currency)
        profile = cmd.profile.profile()
        specs = [line.spec() for line in cmd.lines]
        check_lines(specs, cmd.order_ref)
        tax = self._tax.decide(self.config.seller_country, profile)
        async with self._uow() as uow:
            existing = await uow.invoices.by_order(cmd.order_ref)
            if existing is not None:
                if existing.customer_id != cmd.customer_id:
                    raise Conflict(f"order {cmd.order_ref} is invoiced to another customer")
                if payment is not None:
                    await self._pay(uow, existing, payment)
                    await uow.commit()
                return existing
            now = self._clock.now()
            invoice = Invoice.issue(
                id=new_uuid(),
                series=series,
                sequence=await uow.invoice_numbers.next(series, now.year),
                customer_id=cmd.customer_id,
                order_ref=cmd.order_ref,
                currency=currency,
                profile=profile,
                tax=tax,
                tax_inclusive=cmd.tax_inclusive,
                lines=specs,
                at=now,
            )
            await uow.invoices.add(invoice)
            await self._post(uow, f"invoice:{invoice.id}", PostingKind.INVOICE, now, invoice_entries(invoice))
            if payment is not None:
                # Nothing is booked against a new invoice yet: all of it is receivable.
                await self._pay(uow, invoice, payment, InvoiceAccount(currency, invoiced=invoice.gross.amount))
            await uow.commit()
        return invoice

    async def record_payment(self, actor: Principal, cmd: RecordPayment) -> InvoiceAccount:
        """Book a captured payment (and the gateway's fee); a repeat of one ``payment_ref`` books nothing."""
        require(self._policy, actor, MANAGE)
        async with self._uow() as uow:
            invoice = await self._invoice(uow, cmd.invoice_id)
            after = await self._pay(uow, invoice, cmd)
            await uow.commit()
        return after

    async def refund(self, actor: Principal, cmd: Refund) -> RefundOutcome:
        """Credit (part of) an invoice, and pay back what of it the customer had paid."""
        require(self._policy, actor, MANAGE)
        async with self._uow() as uow:
            invoice = await self._invoice(uow, cmd.invoice_id)
            # A refund reference names the credit note's posting too: a repeat is refused even when the
            # invoice was unpaid (nothing paid back, so no ``refund:`` posting to find).
            credit_key = f"credit:{cmd.refund_ref}" if cmd.refund_ref else None
            if credit_key is not None and await uow.ledger.posted(credit_key):
                raise DuplicatePosting(f"refund {cmd.refund_ref} is already recorded")
            earlier = await uow.credit_notes.of_invoice(invoice.id)
            account = await uow.ledger.invoice_account(invoice.id, invoice.currency)
            now = self._clock.now()
            amount = None if cmd.amount is None else Money(cmd.amount, invoice.currency)
            note = CreditNote.against(
                invoice,
                earlier,
                amount,
                id=new_uuid(),
                sequence=await uow.invoice_numbers.next(CREDIT_NOTE_SERIES, now.year),
                reason=cmd.reason,
                at=now,
            )
            await uow.credit_notes.add(note)
            entries = credit_note_entries(note)
            await self._post(uow, credit_key or f"credit:{note.id}", PostingKind.CREDIT_NOTE, now, entries)
            refunded = Money(max(0, min(note.gross.amount, account.paid)), invoice.currency)
            if refunded.amount:
                key = f"refund:{cmd.refund_ref or note.id}"
                await self._post(uow, key, PostingKind.REFUND, now, refund_entries(invoice.id, refunded))
            await uow.commit()
        return RefundOutcome(note, refunded)

    async def keep_documents(self, invoice_id: uuid.UUID, credit_note: str | None = None) -> None:
        """Render and store an issued invoice's (or one of its credit notes') HTML and PDF: the
        ``billing-documents`` subscription's work. Storing again replaces the same bytes, so a
        redelivered event does no harm."""
        if credit_note is None:  # the invoice's own documents: its credit notes are not read
            async with self._uow() as uow:
                invoice = await self._invoice(uow, invoice_id)
            await self._keep(Document(invoice, None, self.config.seller_name, self.config.seller_address))
            return
        invoice, notes = await self.invoice(SYSTEM, invoice_id)
        await self._keep(self._document(invoice, notes, credit_note))

    def joined(self, uow: Callable[[], BillingUnitOfWork]) -> BillingService:
        """The same service over another unit-of-work factory (an event handler's own transaction)."""
        service = copy.copy(self)
        service._uow = uow
        return service

    # -- reads ---------------------------------------------------------------------------------

    async def mine(
        self, actor: Principal, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> Page[Invoice]:
        if actor.user_id is None:
            raise Unauthenticated("invoices belong to a user's sign-in")
        limit = check_page_size(limit)
        listing = scope_of("my-invoices", actor.user_id)
        after = self._cursors.after(listing, cursor, _key)
        async with self._uow() as uow:
            rows = await uow.invoices.of_customer(actor.user_id, after, limit + 1)
        return self._cursors.page(listing, rows, limit, _key_of)

    async def invoice(self, actor: Principal, invoice_id: uuid.UUID) -> tuple[Invoice, list[CreditNote]]:
        """An invoice and its credit notes, for its customer or billing staff (others: not found)."""
        async with self._uow() as uow:
            invoice = await uow.invoices.get(invoice_id)
            if invoice is None or not self._may_read(actor, invoice):
                raise NotFound("invoice", invoice_id)
            return invoice, await uow.credit_notes.of_invoice(invoice_id)

    async def export(self, actor: Principal, since: datetime, until: datetime) -> list[Invoice]:
        require(self._policy, actor, MANAGE)
        if since.tzinfo is None or until.tzinfo is None or since >= until:
            raise ValidationFailed("since must be before until", [FieldError("since", "before until")])
        async with self._uow() as uow:
            return await uow.invoices.issued_between(since, until, EXPORT_LIMIT)

    async def revenue(self, actor: Principal, month: str) -> list[RevenueRow]:
        require(self._policy, actor, MANAGE)
        since, until = month_range(month)
        return await self._reports.revenue(since, until)

    async def balances(self, actor: Principal) -> list[Balance]:
        require(self._policy, actor, MANAGE)
        return await self._reports.balances()

    async def reconcile(
        self,
        actor: Principal,
        since: datetime,
        until: datetime | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Reconciliation:
        """The differences between the gateway's captured payments and refunds and the ledger's postings
        in ``[since, until)`` (until: now); see ``elearning_core.billing.reconcile``. The gateway is
        the payment module's port: billing reads its records, never charges through it."""
        require(self._policy, actor, MANAGE)
        end = self._clock.now() if until is None else until
        if since.tzinfo is None or end.tzinfo is None or since >= end:
            raise ValidationFailed("since must be before until", [FieldError("since", "before until")])
        if self._gateway is None:
            raise Conflict("no payment gateway is configured for billing")
        gateway = self._gateway
        return await reconcile(
            lambda at, limit: gateway.payments_since(at, limit=limit),
            lambda at, limit: gateway.refunds_since(at, limit=limit),
            self._reports,
            since,
            end,
            progress,
        )

    async def document(
        self, actor: Principal, invoice_id: uuid.UUID, kind: Literal["pdf", "html"], credit_note: str | None = None
    ) -> bytes:
        """A stored document (rendered and stored now if it is missing), for its customer or billing staff."""
        invoice, notes = await self.invoice(actor, invoice_id)
        document = self._document(invoice, notes, credit_note)
        stored = await self._store.get(document_key(document.number, kind))
        if stored is not None:
            return stored
        await self._keep(document)
        return await asyncio.to_thread(self._render, document, kind)

    # -- helpers -------------------------------------------------------------------------------

    def _document(self, invoice: Invoice, notes: list[CreditNote], credit_note: str | None) -> Document:
        note = None
        if credit_note is not None:
            note = next((n for n in notes if n.number == credit_note), None)
            if note is None:
                raise NotFound("credit note", credit_note)
        return Document(invoice, note, self.config.seller_name, self.config.seller_address)

    def _may_read(self, actor: Principal, invoice: Invoice) -> bool:
        if actor.user_id is not None and actor.user_id == invoice.customer_id:
            return True
        return self._policy.authorize(actor, MANAGE).allowed

    async def _invoice(self, uow: BillingUnitOfWork, invoice_id: uuid.UUID) -> Invoice:
        invoice = await uow.invoices.get(invoice_id)
        if invoice is None:
            raise NotFound("invoice", invoice_id)
        return invoice

    async def _pay(
        self, uow: BillingUnitOfWork, invoice: Invoice, cmd: Capture, known: InvoiceAccount | None = None
    ) -> InvoiceAccount:
        """Book ``cmd`` against ``invoice`` (``known``: its account when the caller has just written all of
        it); the account after. A capture already booked (its reference's posting exists) books nothing."""
        if cmd.amount <= 0 or cmd.fee < 0 or cmd.fee > cmd.amount:
            raise ValidationFailed(
                "amount must be positive and the fee between 0 and the amount",
                [FieldError("amount", "positive"), FieldError("fee", "from 0 to the amount")],
            )
        key = f"payment:{cmd.payment_ref}"
        account = known
        if account is None:
            if await uow.ledger.posted(key):
                return await uow.ledger.invoice_account(invoice.id, invoice.currency)
            account = await uow.ledger.invoice_account(invoice.id, invoice.currency)
        if cmd.amount > account.receivable:
            due = Money(account.receivable, invoice.currency).format()
            raise Overpayment(f"invoice {invoice.number} has {due} due; a payment of more is refused")
        now = self._clock.now()
        try:
            await self._post(
                uow, key, PostingKind.PAYMENT, now, payment_entries(invoice.id, Money(cmd.amount, invoice.currency))
            )
        except DuplicatePosting:
            if known is None:
                raise  # booked between the check and the posting: the caller's transaction is retried
            return account  # this capture was booked against another invoice: nothing is booked twice
        if cmd.fee:
            fee = Money(cmd.fee, invoice.currency)
            await self._post(uow, f"fee:{cmd.payment_ref}", PostingKind.FEE, now, fee_entries(invoice.id, fee))
        return replace(account, captured=account.captured + cmd.amount)

    async def _post(
        self, uow: BillingUnitOfWork, key: str, kind: PostingKind, at: datetime, entries: list[Entry]
    ) -> None:
        """Post a movement; a movement of nothing (a free order's invoice) posts nothing."""
        if all(entry.amount.is_zero for entry in entries):
            return
        await uow.ledger.post(LedgerTransaction.post(id=new_uuid(), key=key, kind=kind, at=at, entries=entries))

    def _render(self, document: Document, kind: Literal["pdf", "html"]) -> bytes:
        return self._printer.pdf(document) if kind == "pdf" else self._printer.html(document).encode()

    async def _keep(self, document: Document) -> None:
        """Render (in a worker thread: a PDF takes tens of milliseconds of CPU, which would hold up every
        other request of the process) and store both forms; a failure is logged, not raised (the money
        facts are committed)."""
        try:
            for kind in ("html", "pdf"):
                rendered = await asyncio.to_thread(self._render, document, kind)
                await self._store.put(document_key(document.number, kind), rendered)
        except Exception:
            log.exception(
                "could not store the documents of %s; they are rendered again when asked for", document.number
            )


def _currency(code: str) -> str:
    try:
        return check_currency(code)
    except ValueError as exc:
        raise ValidationFailed(str(exc), [FieldError("currency", str(exc))]) from None


def _key(key: list[Any]) -> InvoiceKey:
    at, invoice_id = key
    return datetime.fromisoformat(str(at)), uuid.UUID(str(invoice_id))


def _key_of(invoice: Invoice) -> list[Any]:
    return [iso_time(invoice.issued_at), str(invoice.id)]
