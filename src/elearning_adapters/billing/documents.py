"""Invoices and credit notes as HTML and PDF, and their store on the platform's blob storage.

The PDF is drawn by fpdf2 (pure Python, already a dependency for certificates) with DejaVu Sans when
the system has it (any script a customer's name may be written in), else Helvetica (Latin-1 only:
other characters print as '?'), like the certificates. The HTML is one self-contained page with
every value escaped.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from pathlib import Path

from fpdf import FPDF

from elearning_core.billing.model import TaxTreatment
from elearning_core.billing.ports import Document, DocumentPrinter, DocumentStore
from elearning_core.shared.storage import ObjectStore

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
_STYLE = (
    "body{font-family:sans-serif;max-width:50rem;margin:2rem auto;color:#1a1a1a}"
    "table{width:100%;border-collapse:collapse}td,th{padding:.3rem;border-bottom:1px solid #ccc;text-align:left}"
    ".num{text-align:right}.totals td{font-weight:bold}"
)


def _rate(bp: int) -> str:
    whole, part = divmod(bp, 100)
    return f"{whole}.{part:02d} %" if part else f"{whole} %"


def _rows(document: Document) -> tuple[str, list[tuple[str, str, str, str, str, str]], list[tuple[str, str]]]:
    """The title, the table rows (description, qty, unit, rate, tax, gross) and the totals, as text."""
    invoice, note = document.invoice, document.credit_note
    if note is None:
        title = f"Invoice {invoice.number}"
        rows = [
            (line.description, str(line.quantity), line.unit_price.format(), _rate(line.tax_rate_bp),
             line.tax.format(), line.gross.format())
            for line in invoice.lines
        ]  # fmt: skip
        totals = [("Net", invoice.net.format()), ("Tax", invoice.tax_total.format()), ("Total", invoice.gross.format())]
    else:
        title = f"Credit note {note.number} for invoice {invoice.number}"
        rows = [
            (invoice.lines[line.line_index].description, "", "", _rate(invoice.lines[line.line_index].tax_rate_bp),
             (-line.tax).format(), (-line.gross).format())
            for line in note.lines
        ]  # fmt: skip
        totals = [("Net", (-note.net).format()), ("Tax", (-note.tax_total).format()), ("Total", (-note.gross).format())]
    return title, rows, totals


_NUMBER_WIDTHS = (15, 30, 20, 25, 30)
"""Millimetres of the quantity, unit price, VAT rate, VAT and amount columns (the description has 70)."""


def _latin1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


class DocumentRenderer(DocumentPrinter):
    def __init__(self, font_dir: Path = DEJAVU, *, compress: bool = True) -> None:
        """``compress=False`` leaves the page streams readable (tests read the text of a core-font PDF)."""
        regular, bold = font_dir / "DejaVuSans.ttf", font_dir / "DejaVuSans-Bold.ttf"
        self._fonts = (regular, bold) if regular.is_file() and bold.is_file() else None
        self._compress = compress

    def html(self, document: Document) -> str:
        invoice, e = document.invoice, html.escape
        title, rows, totals = _rows(document)
        profile = invoice.profile
        issued = (document.credit_note or invoice).issued_at.date().isoformat()
        body_rows = "".join(
            "<tr>" + "".join(f'<td class="{"num" if i else ""}">{e(cell)}</td>' for i, cell in enumerate(row)) + "</tr>"
            for row in rows
        )
        total_rows = "".join(
            f'<tr class="totals"><td colspan="5">{e(k)}</td><td class="num">{e(v)}</td></tr>' for k, v in totals
        )
        note = f"<p>{e(invoice.tax.note)}</p>" if invoice.tax.treatment is not TaxTreatment.STANDARD else ""
        reason = f"<p>Reason: {e(document.credit_note.reason)}</p>" if document.credit_note else ""
        tax_id = f"<br>VAT: {e(profile.tax_id)}" if profile.tax_id else ""
        return (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f"<style>{_STYLE}</style></head><body><h1>{e(title)}</h1>"
            f"<p>{e(document.seller_name)}<br>{e(document.seller_address)}</p>"
            f"<p>Billed to: {e(profile.name)}<br>{e(profile.address)}<br>{e(profile.country)}{tax_id}</p>"
            f"<p>Date: {issued} &middot; Order: {e(invoice.order_ref)} &middot; Currency: {e(invoice.currency)}</p>"
            "<table><thead><tr><th>Description</th><th>Qty</th><th>Unit price</th><th>VAT rate</th><th>VAT</th>"
            f"<th>Amount</th></tr></thead><tbody>{body_rows}{total_rows}</tbody></table>{note}{reason}</body></html>"
        )

    def pdf(self, document: Document) -> bytes:
        title, rows, totals = _rows(document)
        invoice = document.invoice
        pdf = FPDF(format="A4")
        pdf.set_compression(self._compress)
        pdf.set_title(title)
        pdf.set_creator(document.seller_name)
        pdf.add_page()
        profile = invoice.profile
        strings = [title, document.seller_name, document.seller_address, profile.name, profile.address]
        strings += [profile.tax_id or "", invoice.order_ref, invoice.tax.note, *(c for row in rows for c in row)]
        strings += [f"{label}{value}" for label, value in totals]
        strings += [document.credit_note.reason if document.credit_note is not None else ""]
        # DejaVu only when a text needs more than Latin-1: embedding it parses and subsets the font file, most
        # of a PDF's cost (about 25 ms against 3), spent on every invoice a checkout issues.
        unicode = self._fonts is not None and not all(_latin1(value) for value in strings)
        family = "Helvetica"
        if unicode and self._fonts is not None:
            family = "DejaVu"
            pdf.add_font(family, "", str(self._fonts[0]))
            pdf.add_font(family, "B", str(self._fonts[1]))

        def text(value: str) -> str:
            return value if unicode else value.encode("latin-1", "replace").decode("latin-1")

        def line(value: str, height: float) -> None:
            """One line of text, wrapped only when it is too long: a ``multi_cell`` runs fpdf2's line
            breaker, several times the cost of a ``cell``, and most lines fit."""
            if pdf.get_string_width(value) + 2 * pdf.c_margin <= pdf.epw:
                pdf.cell(0, height, value, new_x="LMARGIN", new_y="NEXT")
            else:
                pdf.multi_cell(0, height, value, new_x="LMARGIN", new_y="NEXT")

        pdf.set_font(family, "B", 16)
        pdf.cell(0, 10, text(title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, size=10)
        issued = (document.credit_note or invoice).issued_at.date().isoformat()
        for header_line in (
            document.seller_name,
            document.seller_address,
            "",
            f"Billed to: {profile.name}",
            profile.address,
            profile.country + (f"  VAT: {profile.tax_id}" if profile.tax_id else ""),
            f"Date: {issued}   Order: {invoice.order_ref}   Currency: {invoice.currency}",
            "",
        ):
            line(text(header_line), 5)
        # Plain bordered cells, the description wrapping: fpdf2's table() lays out every cell as a paragraph,
        # several times the cost of the rest of the page, and an invoice is rendered for every sale.
        header = ("Description", "Qty", "Unit price", "VAT rate", "VAT", "Amount")
        for cells in (header, *rows):
            description, *numbers = (text(c) for c in cells)
            fits = pdf.get_string_width(description) + 2 * pdf.c_margin <= 70
            height = 7.0
            if not fits:
                measured = pdf.multi_cell(70, 7, description, align="L", dry_run=True, output="HEIGHT")
                height = max(7.0, measured if isinstance(measured, float | int) else 7.0)
            top = pdf.get_y()
            if top + height > pdf.page_break_trigger:
                pdf.add_page()
                top = pdf.get_y()
            if fits:
                pdf.cell(70, 7, description, border=1, align="L", new_x="RIGHT", new_y="TOP")
            else:
                pdf.multi_cell(70, 7, description, border=1, align="L", new_x="RIGHT", new_y="TOP")
            for width, value in zip(_NUMBER_WIDTHS, numbers, strict=True):
                pdf.cell(width, height, value, border=1, align="R", new_x="RIGHT", new_y="TOP")
            pdf.set_xy(pdf.l_margin, top + height)
        pdf.ln(4)
        pdf.set_font(family, "B", 11)
        for label, value in totals:
            pdf.cell(0, 7, text(f"{label}: {value}"), align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, size=9)
        if invoice.tax.treatment is not TaxTreatment.STANDARD:
            line(text(invoice.tax.note), 5)
        if document.credit_note is not None:
            line(text(f"Reason: {document.credit_note.reason}"), 5)
        return bytes(pdf.output())


class BlobDocumentStore(DocumentStore):
    """Documents kept through the platform's object store (the local directory by default)."""

    def __init__(self, storage: ObjectStore) -> None:
        self._storage = storage

    async def put(self, key: str, data: bytes) -> None:
        async def once() -> AsyncIterator[bytes]:
            yield data

        await self._storage.put(key, once())

    async def get(self, key: str) -> bytes | None:
        if await self._storage.size(key) is None:
            return None
        return b"".join([chunk async for chunk in self._storage.read(key)])
