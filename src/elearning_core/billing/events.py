"""Billing events: the ``elearning.billing`` topic's contract (the aggregate is the invoice).

Entitlements (issue 15, point 4) end access on ``billing.credit_note_issued.v1`` with ``full``;
notifications send the invoice on ``billing.invoice_issued.v1``. Amounts are minor units.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from elearning_core.shared.events import DomainEvent


class InvoiceIssued(DomainEvent):
    type: ClassVar[str] = "billing.invoice_issued.v1"
    number: str
    customer_id: uuid.UUID
    order_ref: str
    currency: str
    total: int


class CreditNoteIssued(DomainEvent):
    type: ClassVar[str] = "billing.credit_note_issued.v1"
    number: str
    credit_note_id: uuid.UUID
    customer_id: uuid.UUID
    order_ref: str
    currency: str
    total: int
    full: bool
    """Whether the invoice is credited in full after this note (nothing left creditable)."""
