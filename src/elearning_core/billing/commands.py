"""Inputs of the billing use cases. Amounts are integers of minor units; never floats."""

from __future__ import annotations

import uuid

from pydantic import Field, StrictInt

from elearning_core.billing.model import INVOICE_SERIES, BillingProfile, CountryEvidence, EvidenceKind, LineSpec
from elearning_core.shared.inputs import InputModel

MAX_QUANTITY = 10_000
MAX_UNIT_PRICE = 10**9
"""Minor units (ten million in a two-decimal currency): with MAX_QUANTITY and 100 lines, a total stays
far inside the ledger's 64-bit columns."""
MAX_AMOUNT = 10**15


class _Command(InputModel):
    """The platform's input rules (frozen, unknown fields refused, every string storable text)."""


class EvidenceInput(_Command):
    kind: EvidenceKind
    country: str


class ProfileInput(_Command):
    name: str
    address: str = ""
    country: str
    evidence: list[EvidenceInput] = Field(min_length=1, max_length=10)
    tax_id: str | None = None

    def profile(self) -> BillingProfile:
        evidence = tuple(CountryEvidence(e.kind, e.country) for e in self.evidence)
        return BillingProfile(self.name, self.address, self.country, evidence, self.tax_id)


class LineInput(_Command):
    description: str
    quantity: StrictInt = Field(default=1, ge=1, le=MAX_QUANTITY)
    unit_price: StrictInt = Field(ge=0, le=MAX_UNIT_PRICE)
    """Minor units, tax included or not as the invoice says."""
    reference: str = ""

    def spec(self) -> LineSpec:
        return LineSpec(self.description, self.quantity, self.unit_price, self.reference)


class IssueInvoice(_Command):
    customer_id: uuid.UUID
    order_ref: str
    """The order or subscription period invoiced, opaque to billing; one invoice per order."""
    currency: str
    profile: ProfileInput
    lines: list[LineInput] = Field(min_length=1, max_length=100)
    tax_inclusive: bool = True
    series: str = INVOICE_SERIES


class Capture(_Command):
    """A payment the gateway captured, to book against an invoice."""

    amount: StrictInt = Field(ge=1, le=MAX_AMOUNT)
    payment_ref: str = Field(min_length=1, max_length=200)
    """The gateway's id of the capture: one posting per reference, however often it is reported."""
    fee: StrictInt = Field(default=0, ge=0, le=MAX_AMOUNT)


class RecordPayment(Capture):
    invoice_id: uuid.UUID


class Refund(_Command):
    invoice_id: uuid.UUID
    amount: StrictInt | None = Field(default=None, ge=1, le=MAX_AMOUNT)
    """Gross minor units to credit; None credits all that remains."""
    reason: str
    refund_ref: str | None = Field(default=None, max_length=200)
    """The gateway's id of the money sent back, when some is (the part of the credit already paid)."""
