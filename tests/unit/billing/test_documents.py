"""The printable invoice and credit note: HTML with every value escaped, and a PDF whose text holds
the number, the lines and the totals."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from elearning_adapters.billing.documents import DEJAVU, DocumentRenderer
from elearning_adapters.billing.tax import REVERSE_CHARGE_NOTE
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
from elearning_core.billing.ports import Document
from tests.fakes import T0


def an_invoice(name: str = "Ada <script>", tax: TaxDecision | None = None) -> Invoice:
    profile = BillingProfile(
        name, "1 Road", "FR", (CountryEvidence(EvidenceKind.BILLING_ADDRESS, "FR"),), "FR12345678901"
    )
    return Invoice.issue(
        id=uuid.uuid4(),
        series="INV",
        sequence=42,
        customer_id=uuid.uuid4(),
        order_ref="order-42",
        currency="EUR",
        profile=profile,
        tax=tax or TaxDecision(2000, TaxTreatment.STANDARD),
        tax_inclusive=True,
        lines=[LineSpec("Intro to Python", 2, 6000, "course:py")],
        at=T0,
    )


def test_the_html_names_the_number_the_lines_and_the_totals_and_escapes_values() -> None:
    html = DocumentRenderer().html(Document(an_invoice(), None, "Seller GmbH", "Berlin"))
    assert "Invoice INV-2026-000042" in html
    assert "Intro to Python" in html
    assert "120.00 EUR" in html
    assert "20.00 EUR" in html
    assert "100.00 EUR" in html
    assert "<script>" not in html
    assert "Ada &lt;script&gt;" in html


def test_a_reverse_charged_invoice_carries_the_legal_mention() -> None:
    invoice = an_invoice(tax=TaxDecision(0, TaxTreatment.REVERSE_CHARGE, REVERSE_CHARGE_NOTE))
    assert "Article 196" in DocumentRenderer().html(Document(invoice))


def test_the_pdf_holds_the_number_and_the_totals(tmp_path: Path) -> None:
    # The core font without compression: the page's text is readable in the stream.
    pdf = DocumentRenderer(tmp_path / "no-fonts", compress=False).pdf(Document(an_invoice("Ada"), None, "Seller"))
    assert pdf.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type /Page\b", pdf)) == 1
    for text in (b"Invoice INV-2026-000042", b"Total: 120.00 EUR", b"Tax: 20.00 EUR", b"Intro to Python"):
        assert text in pdf, text


def test_a_credit_note_prints_negative_amounts_and_its_invoice() -> None:
    invoice = an_invoice("Ada")
    note = CreditNote.against(invoice, [], Money(3000, "EUR"), id=uuid.uuid4(), sequence=7, reason="partial", at=T0)
    document = Document(invoice, note, "Seller")
    html = DocumentRenderer().html(document)
    assert "Credit note CRN-2026-000007 for invoice INV-2026-000042" in html
    assert "-30.00 EUR" in html
    assert "Reason: partial" in html
    assert DocumentRenderer().pdf(document).startswith(b"%PDF-")


@pytest.mark.skipif(not (DEJAVU / "DejaVuSans.ttf").is_file(), reason="fonts-dejavu-core is not installed")
def test_dejavu_is_embedded_only_for_text_beyond_latin_1() -> None:
    """Embedding a TrueType font costs far more than the rest of a PDF: a Latin-1 invoice uses the core font."""
    renderer = DocumentRenderer()
    latin = renderer.pdf(Document(an_invoice("Zoë Müller"), None, "Seller"))
    cyrillic = renderer.pdf(Document(an_invoice("Ада Лавлейс"), None, "Seller"))
    assert b"/FontFile2" not in latin
    assert b"Helvetica" in latin
    assert b"/FontFile2" in cyrillic
    assert b"DejaVu" in cyrillic


def test_long_lines_wrap_and_short_ones_stay_single_cells(tmp_path: Path) -> None:
    """Lines that fit are plain cells (cheap); a description or address too long for its column wraps
    instead of running off the page, and every word of it is printed."""
    long_title = " ".join(["Advanced"] * 30)
    invoice = an_invoice("Ada")
    wide = Invoice.issue(
        id=uuid.uuid4(),
        series="INV",
        sequence=43,
        customer_id=invoice.customer_id,
        order_ref="order-43",
        currency="EUR",
        profile=BillingProfile("Ada", "9 " + " ".join(["Boulevard"] * 30), "FR", invoice.profile.evidence),
        tax=TaxDecision(2000, TaxTreatment.STANDARD),
        tax_inclusive=True,
        lines=[LineSpec(long_title, 1, 6000, "course:adv")],
        at=T0,
    )
    renderer = DocumentRenderer(tmp_path / "no-fonts", compress=False)
    short = renderer.pdf(Document(invoice, None, "Seller"))
    long = renderer.pdf(Document(wide, None, "Seller"))
    # Each text line is one text object (BT ... ET); the wrapped ones take several.
    assert short.count(b"BT ") < long.count(b"BT ")
    assert long.count(b"Advanced") == 30
    assert long.count(b"Boulevard") == 30
    assert b"Intro to Python" in short
