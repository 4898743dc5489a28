"""Billing routes: the caller's invoices (with their credit notes), and an invoice's PDF for its
customer or billing staff (anyone else: 404, they learn nothing of it). Amounts are integers of the
currency's minor units, as everywhere in the API; ``*_display`` fields are for people."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from elearning_core.billing.model import Invoice
from elearning_core.billing.service import BillingService
from elearning_core.shared.pagination import DEFAULT_PAGE_SIZE
from elearning_core.shared.ports import Principal
from elearning_http.errors import problem_responses
from elearning_http.pagination import LINK, Cursor, Limit, Paged, paged

ERRORS = problem_responses(400, 401, 403, 404, 422)
TAGS = ["billing"]
PDF = "application/pdf"

Req = Request[Any, Any, Any]
Service = NamedDependency[BillingService]
Caller = NamedDependency[Principal]


@dataclass(frozen=True, slots=True)
class InvoiceLineOut:
    description: str
    quantity: int
    unit_price: int
    tax_rate_bp: int
    net: int
    tax: int
    gross: int
    reference: str


@dataclass(frozen=True, slots=True)
class InvoiceOut:
    id: str
    number: str
    issued_at: dt.datetime
    order_ref: str
    currency: str
    billed_to: str
    country: str
    tax_treatment: str
    tax_inclusive: bool
    net: int
    tax: int
    gross: int
    gross_display: str
    lines: list[InvoiceLineOut]
    pdf_url: str


def _out(invoice: Invoice) -> InvoiceOut:
    return InvoiceOut(
        id=str(invoice.id),
        number=invoice.number,
        issued_at=invoice.issued_at,
        order_ref=invoice.order_ref,
        currency=invoice.currency,
        billed_to=invoice.profile.name,
        country=invoice.profile.country,
        tax_treatment=invoice.tax.treatment.value,
        tax_inclusive=invoice.tax_inclusive,
        net=invoice.net.amount,
        tax=invoice.tax_total.amount,
        gross=invoice.gross.amount,
        gross_display=invoice.gross.format(),
        lines=[
            InvoiceLineOut(
                line.description,
                line.quantity,
                line.unit_price.amount,
                line.tax_rate_bp,
                line.net.amount,
                line.tax.amount,
                line.gross.amount,
                line.reference,
            )
            for line in invoice.lines
        ],
        pdf_url=f"/api/v1/invoices/{invoice.id}/pdf",
    )


@get(
    "/api/v1/me/invoices",
    tags=TAGS,
    summary="The caller's invoices",
    description="Newest first; paged. Amounts in minor units of the invoice's currency.",
    responses=ERRORS,
    response_headers=LINK,
)
async def my_invoices(
    request: Req, billing_service: Service, principal: Caller, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
) -> Response[Paged[InvoiceOut]]:
    page = await billing_service.mine(principal, cursor=cursor, limit=limit)
    return paged(request, page, _out)


@get(
    "/api/v1/invoices/{invoice_id:uuid}/pdf",
    tags=TAGS,
    media_type=PDF,
    summary="An invoice as a PDF",
    description="For the invoice's customer and billing staff.",
    responses={
        **ERRORS,
        200: ResponseSpec(data_container=bytes, media_type=PDF, description="The PDF", generate_examples=False),
    },
)
async def invoice_pdf(billing_service: Service, principal: Caller, invoice_id: FromPath[uuid.UUID]) -> Response[bytes]:
    document = await billing_service.document(principal, invoice_id, "pdf")
    return Response(
        document, media_type=PDF, headers={"Content-Disposition": f'inline; filename="invoice-{invoice_id}.pdf"'}
    )


BILLING_HANDLERS = [my_invoices, invoice_pdf]
