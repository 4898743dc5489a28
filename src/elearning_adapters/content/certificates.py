"""A certificate's printable page (HTML) and its PDF, both from the award's template.

The PDF is drawn by fpdf2 (pure Python, from PyPI: no browser, no system library) from the
same HTML body as the page, through its small HTML subset (paragraphs, bold, links). The
text font is DejaVu Sans when the system has it (any script a name may be written in);
without it, the core Helvetica font, whose Latin-1 range cannot show every name: characters
outside it print as '?'. Nothing is stored: a PDF is rendered on request, so no file
outlives a revocation or a reissue.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from fpdf import FPDF

from elearning_core.certificate.model import CredentialState
from elearning_core.certificate.service import CertificatePrinter, PrintablePage

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
CSP_HEADER = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
)
_STYLE = (
    "body{font-family:Georgia,serif;max-width:48rem;margin:3rem auto;padding:2rem;border:6px double #345;"
    "text-align:center;color:#1a1a1a}.name{font-size:2rem;font-weight:bold}.title{font-size:1.5rem}"
    ".kicker,.date,.verify{color:#444}.banner{background:#a00;color:#fff;padding:.5rem}"
    "@media print{.verify a{color:#000}}"
)
_BANNERS = {
    CredentialState.REVOKED: "This certificate has been revoked.",
    CredentialState.EXPIRED: "This certificate has expired.",
    CredentialState.NOT_YET_VALID: "This certificate is not valid yet.",
}


class CertificateDocuments(CertificatePrinter):
    def __init__(self, font_dir: Path = DEJAVU) -> None:
        regular, bold = font_dir / "DejaVuSans.ttf", font_dir / "DejaVuSans-Bold.ttf"
        self._fonts = (regular, bold) if regular.is_file() and bold.is_file() else None

    def html(self, page: PrintablePage) -> str:
        banner = _BANNERS.get(page.state)
        banner_html = f'<p class="banner">{html.escape(banner)}</p>' if banner else ""
        title = html.escape(f"{page.credential.subject_title}: {page.credential.learner_name}")
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{title}</title><style>{_STYLE}</style></head>"
            f"<body>{banner_html}{page.body_html}</body></html>"
        )

    def pdf(self, page: PrintablePage) -> bytes:
        pdf = FPDF(orientation="landscape", format="A4")
        pdf.set_title(f"{page.credential.subject_title}: {page.credential.learner_name}")
        pdf.set_creator(page.issuer_name)
        pdf.add_page()
        family = "Helvetica"
        body = page.body_html
        banner = _BANNERS.get(page.state)
        if banner:
            body = f"<p><b>{html.escape(banner)}</b></p>{body}"
        if self._fonts is not None:
            family = "DejaVu"
            pdf.add_font(family, "", str(self._fonts[0]))
            pdf.add_font(family, "B", str(self._fonts[1]))
        else:
            body = body.encode("latin-1", "replace").decode("latin-1")
        pdf.set_font(family, size=16)
        pdf.set_line_width(1.2)
        pdf.rect(10, 10, pdf.w - 20, pdf.h - 20)
        pdf.set_y(35)
        # The subset fpdf2 draws: centred paragraphs; classes (the page's styling) mean nothing to it.
        centred = re.sub(r"<p(\s[^>]*)?>", '<p align="center">', body)
        pdf.write_html(centred, font_family=family)
        return bytes(pdf.output())
