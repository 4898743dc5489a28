"""Billing profiles, tax decisions, invoices and credit notes.

Rounding, stated once: tax is computed per line on integers, half away from zero
(``mul_div_half_up``); an invoice's totals are the sums of its lines, never recomputed from a
total. Tax-exclusive prices: ``net = quantity * unit``, ``tax = round(net * rate)``,
``gross = net + tax``. Tax-inclusive prices: ``gross = quantity * unit``,
``tax = round(gross * rate / (1 + rate))``, ``net = gross - tax``. Rates are basis points
(2000 = 20 %), so no rate is ever a float.

An invoice is immutable once issued: nothing here changes one, and the store has no update path.
A correction is a credit note against it, numbered in its own series; the credit notes of an
invoice never credit more than its total. A partial credit is spread over the invoice's lines in
proportion to what remains creditable on each (``Money.allocate``), and each line's tax share is
taken cumulatively (``round(tax * credited_gross / gross)`` after minus before), so crediting an
invoice in several parts reverses exactly its tax and its revenue per line, to the minor unit.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from elearning_core.billing.events import CreditNoteIssued, InvoiceIssued
from elearning_core.billing.money import Money, mul_div_half_up, total
from elearning_core.shared.errors import Conflict, FieldError, ValidationFailed
from elearning_core.shared.events import DomainEvent, RecordsEvents

BASIS_POINTS = 10_000
INVOICE_SERIES = "INV"
CREDIT_NOTE_SERIES = "CRN"
_SERIES = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def document_number(series: str, year: int, sequence: int) -> str:
    """``INV-2026-000123``: the series, the year, and the gapless sequence within both."""
    return f"{series}-{year}-{sequence:06d}"


def check_series(series: str) -> str:
    if not _SERIES.match(series):
        raise ValidationFailed(
            f"series must be 2-10 capital letters or digits starting with a letter, not {series!r}",
            [FieldError("series", "2-10 capital letters or digits, starting with a letter")],
        )
    return series


class EvidenceKind(enum.StrEnum):
    """What the customer's country was decided from (EU VAT rules for digital services ask for it)."""

    BILLING_ADDRESS = "billing_address"
    IP_ADDRESS = "ip_address"
    CARD_COUNTRY = "card_country"
    DECLARED = "declared"


@dataclass(frozen=True, slots=True)
class CountryEvidence:
    kind: EvidenceKind
    country: str


@dataclass(frozen=True, slots=True)
class BillingProfile:
    """Who is billed, as printed on the invoice (the invoice keeps a snapshot: a later edit of the
    customer's profile changes no issued invoice)."""

    name: str
    address: str
    country: str
    evidence: tuple[CountryEvidence, ...]
    tax_id: str | None = None
    """A business's VAT or tax number; None for a consumer."""

    def __post_init__(self) -> None:
        errors = []
        if not self.name.strip() or len(self.name) > 200:
            errors.append(FieldError("name", "required, at most 200 characters"))
        if len(self.address) > 1000:
            errors.append(FieldError("address", "at most 1000 characters"))
        if not _COUNTRY.match(self.country):
            errors.append(FieldError("country", "an ISO 3166-1 alpha-2 code in capitals (DE, FR, US)"))
        elif not any(e.country == self.country for e in self.evidence):
            errors.append(FieldError("evidence", f"no evidence names the country {self.country}"))
        if self.tax_id is not None and not (1 <= len(self.tax_id) <= 20):
            errors.append(FieldError("tax_id", "1 to 20 characters"))
        if errors:
            raise ValidationFailed("invalid billing profile: " + "; ".join(e.message for e in errors), errors)

    @property
    def is_business(self) -> bool:
        return self.tax_id is not None


class TaxTreatment(enum.StrEnum):
    STANDARD = "standard"
    """VAT at the customer's country's rate."""
    REVERSE_CHARGE = "reverse_charge"
    """An EU business in another member state accounts for the VAT itself: 0 % on the invoice, with a note."""
    OUTSIDE_SCOPE = "outside_scope"
    """No VAT: the customer is outside the EU."""


@dataclass(frozen=True, slots=True)
class TaxDecision:
    rate_bp: int
    treatment: TaxTreatment
    note: str = ""
    """Printed on the invoice (the legal mention of a reverse charge)."""


@dataclass(frozen=True, slots=True)
class LinePrice:
    net: Money
    tax: Money
    gross: Money


def price_line(unit_price: Money, quantity: int, rate_bp: int, *, tax_inclusive: bool) -> LinePrice:
    """A line's net, tax and gross from its unit price, by the rounding rule of this module."""
    amount = unit_price.times(quantity)
    if tax_inclusive:
        tax = Money(mul_div_half_up(amount.amount, rate_bp, BASIS_POINTS + rate_bp), amount.currency)
        return LinePrice(amount - tax, tax, amount)
    tax = Money(mul_div_half_up(amount.amount, rate_bp, BASIS_POINTS), amount.currency)
    return LinePrice(amount, tax, amount + tax)


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    description: str
    quantity: int
    unit_price: Money
    tax_rate_bp: int
    net: Money
    tax: Money
    gross: Money
    reference: str = ""
    """What was sold, for revenue reports (``course:<id>``, ``path:<id>``, ``plan:<code>``); opaque here."""


@dataclass(frozen=True, slots=True)
class LineSpec:
    """A line as a use case asks for it: the tax is decided and the amounts computed at issue."""

    description: str
    quantity: int
    unit_price: int
    reference: str = ""


class _Priced(Protocol):
    @property
    def net(self) -> Money: ...

    @property
    def tax(self) -> Money: ...

    @property
    def gross(self) -> Money: ...


class Totals:
    """The totals of a document (an invoice, a credit note): always the sums of its lines."""

    currency: str
    lines: Sequence[_Priced]

    @property
    def net(self) -> Money:
        return total([line.net for line in self.lines], self.currency)

    @property
    def tax_total(self) -> Money:
        return total([line.tax for line in self.lines], self.currency)

    @property
    def gross(self) -> Money:
        return total([line.gross for line in self.lines], self.currency)


@dataclass
class Invoice(Totals, RecordsEvents):
    id: uuid.UUID
    number: str
    series: str
    year: int
    customer_id: uuid.UUID
    order_ref: str
    currency: str
    profile: BillingProfile
    tax: TaxDecision
    tax_inclusive: bool
    lines: tuple[InvoiceLine, ...]
    issued_at: datetime
    _events: list[DomainEvent] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def issue(
        cls,
        *,
        id: uuid.UUID,
        series: str,
        sequence: int,
        customer_id: uuid.UUID,
        order_ref: str,
        currency: str,
        profile: BillingProfile,
        tax: TaxDecision,
        tax_inclusive: bool,
        lines: Sequence[LineSpec],
        at: datetime,
    ) -> Invoice:
        check_lines(lines, order_ref)
        priced = []
        for spec in lines:
            price = price_line(
                Money(spec.unit_price, currency), spec.quantity, tax.rate_bp, tax_inclusive=tax_inclusive
            )
            priced.append(
                InvoiceLine(
                    description=spec.description,
                    quantity=spec.quantity,
                    unit_price=Money(spec.unit_price, currency),
                    tax_rate_bp=tax.rate_bp,
                    net=price.net,
                    tax=price.tax,
                    gross=price.gross,
                    reference=spec.reference,
                )
            )
        invoice = cls(
            id=id,
            number=document_number(series, at.year, sequence),
            series=series,
            year=at.year,
            customer_id=customer_id,
            order_ref=order_ref,
            currency=currency,
            profile=profile,
            tax=tax,
            tax_inclusive=tax_inclusive,
            lines=tuple(priced),
            issued_at=at,
        )
        invoice._events.append(
            InvoiceIssued(
                occurred_at=at,
                aggregate_id=id,
                number=invoice.number,
                customer_id=customer_id,
                order_ref=order_ref,
                currency=currency,
                total=invoice.gross.amount,
            )
        )
        return invoice


def check_lines(lines: Sequence[LineSpec], order_ref: str) -> None:
    errors = []
    if not order_ref or len(order_ref) > 200:
        errors.append(FieldError("order_ref", "required, at most 200 characters"))
    if not 1 <= len(lines) <= 100:
        errors.append(FieldError("lines", "an invoice has 1 to 100 lines"))
    for i, spec in enumerate(lines):
        if not spec.description.strip() or len(spec.description) > 500:
            errors.append(FieldError(f"lines[{i}].description", "required, at most 500 characters"))
        if not 1 <= spec.quantity <= 100_000:
            errors.append(FieldError(f"lines[{i}].quantity", "a whole number from 1 to 100000"))
        if not 0 <= spec.unit_price <= 10**12:
            errors.append(FieldError(f"lines[{i}].unit_price", "minor units from 0 to 10^12"))
        if len(spec.reference) > 200:
            errors.append(FieldError(f"lines[{i}].reference", "at most 200 characters"))
    if errors:
        raise ValidationFailed("invalid invoice: " + "; ".join(f"{e.field}: {e.message}" for e in errors), errors)


@dataclass(frozen=True, slots=True)
class CreditLine:
    """The part of one invoice line a credit note takes back."""

    line_index: int
    reference: str
    net: Money
    tax: Money
    gross: Money


class OverCredit(Conflict):
    """A credit note for more than what remains creditable on its invoice."""


@dataclass
class CreditNote(Totals, RecordsEvents):
    id: uuid.UUID
    number: str
    invoice_id: uuid.UUID
    invoice_number: str
    customer_id: uuid.UUID
    currency: str
    reason: str
    lines: tuple[CreditLine, ...]
    issued_at: datetime
    _events: list[DomainEvent] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def against(
        cls,
        invoice: Invoice,
        earlier: Sequence[CreditNote],
        amount: Money | None,
        *,
        id: uuid.UUID,
        sequence: int,
        reason: str,
        at: datetime,
    ) -> CreditNote:
        """Credit ``amount`` (gross; None: all that remains) of ``invoice``, given its ``earlier`` notes."""
        if not reason.strip() or len(reason) > 500:
            raise ValidationFailed("reason: required, at most 500 characters", [FieldError("reason", "required")])
        credited = [Money.zero(invoice.currency) for _ in invoice.lines]
        for note in earlier:
            for part in note.lines:
                credited[part.line_index] = credited[part.line_index] + part.gross
        remaining = [line.gross - done for line, done in zip(invoice.lines, credited, strict=True)]
        left = total(remaining, invoice.currency)
        wanted = left if amount is None else amount
        if wanted.currency != invoice.currency:
            raise ValidationFailed(
                f"the credit is in {wanted.currency}, the invoice in {invoice.currency}",
                [FieldError("amount", f"must be in {invoice.currency}")],
            )
        if wanted.amount <= 0:
            if amount is None:
                raise OverCredit(f"invoice {invoice.number} is already credited in full")
            raise ValidationFailed("amount: must be positive", [FieldError("amount", "must be positive")])
        if wanted > left:
            raise OverCredit(
                f"invoice {invoice.number} has {left.format()} left to credit; {wanted.format()} is too much"
            )
        shares = wanted.allocate([r.amount for r in remaining])
        lines: list[CreditLine] = []
        for index, (line, before, share) in enumerate(zip(invoice.lines, credited, shares, strict=True)):
            if share.is_zero:
                continue
            after = before + share
            tax_after = _tax_share(line, after)
            tax = tax_after - _tax_share(line, before)
            lines.append(CreditLine(index, line.reference, share - tax, tax, share))
        note = cls(
            id=id,
            number=document_number(CREDIT_NOTE_SERIES, at.year, sequence),
            invoice_id=invoice.id,
            invoice_number=invoice.number,
            customer_id=invoice.customer_id,
            currency=invoice.currency,
            reason=reason,
            lines=tuple(lines),
            issued_at=at,
        )
        note._events.append(
            CreditNoteIssued(
                occurred_at=at,
                aggregate_id=invoice.id,
                number=note.number,
                credit_note_id=id,
                customer_id=invoice.customer_id,
                order_ref=invoice.order_ref,
                currency=invoice.currency,
                total=wanted.amount,
                full=wanted == left,
            )
        )
        return note


def _tax_share(line: InvoiceLine, credited_gross: Money) -> Money:
    """The tax of ``credited_gross`` of ``line``, taken cumulatively so that all of it is all the tax."""
    if line.gross.is_zero:
        return Money.zero(line.gross.currency)
    return Money(mul_div_half_up(line.tax.amount, credited_gross.amount, line.gross.amount), line.gross.currency)


def remaining_creditable(invoice: Invoice, notes: Sequence[CreditNote]) -> Money:
    return invoice.gross - total([n.gross for n in notes], invoice.currency)
