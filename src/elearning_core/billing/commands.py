"""Inputs of the billing use cases. Amounts are integers of minor units; never floats."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from elearning_core.billing.model import INVOICE_SERIES, BillingProfile, CountryEvidence, EvidenceKind, LineSpec


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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
    quantity: StrictInt = 1
    unit_price: StrictInt
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


class RecordPayment(_Command):
    invoice_id: uuid.UUID
    amount: StrictInt
    payment_ref: str = Field(min_length=1, max_length=200)
    """The gateway's id of the capture: one posting per reference, however often it is reported."""
    fee: StrictInt = 0


class Refund(_Command):
    invoice_id: uuid.UUID
    amount: StrictInt | None = None
    """Gross minor units to credit; None credits all that remains."""
    reason: str
    refund_ref: str | None = Field(default=None, max_length=200)
    """The gateway's id of the money sent back, when some is (the part of the credit already paid)."""
