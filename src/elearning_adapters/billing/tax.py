"""``TaxPolicy`` from a table in code: EU standard VAT rates by country (basis points).

The rules (EU VAT on electronically supplied services, simplified to what the platform sells):
- a customer outside the EU pays no VAT (outside the scope of EU VAT);
- a business in the EU with a valid-looking VAT number of its own country, in another member state
  than the seller's, is reverse-charged: 0 % on the invoice and the legal mention;
- everyone else in the EU (consumers, and businesses in the seller's country or without a
  valid-looking number) pays the VAT of the customer's country (the OSS rule for B2C).

"Valid-looking" is a format check only (the country prefix, then 8 to 12 letters or digits): a
VIES lookup is a later adapter behind the same port. The rates are the standard rates in force
in 2026 as the table below states them; reduced rates for e-books and courses are not applied.
"""

from __future__ import annotations

import re

from elearning_core.billing.model import BillingProfile, TaxDecision, TaxTreatment
from elearning_core.billing.ports import TaxPolicy

EU_STANDARD_RATES_BP: dict[str, int] = {
    "AT": 2000, "BE": 2100, "BG": 2000, "CY": 1900, "CZ": 2100, "DE": 1900, "DK": 2500, "EE": 2400,
    "ES": 2100, "FI": 2550, "FR": 2000, "GR": 2400, "HR": 2500, "HU": 2700, "IE": 2300, "IT": 2200,
    "LT": 2100, "LU": 1700, "LV": 2100, "MT": 1800, "NL": 2100, "PL": 2300, "PT": 2300, "RO": 2100,
    "SE": 2500, "SI": 2200, "SK": 2300,
}  # fmt: skip
VAT_PREFIX = {"GR": "EL"}
"""Greece's VAT numbers start with EL, not its ISO code."""
REVERSE_CHARGE_NOTE = "Reverse charge: VAT to be accounted for by the customer (Article 196, Directive 2006/112/EC)"
_VAT_BODY = re.compile(r"^[0-9A-Z]{8,12}$")


def vat_id_looks_valid(tax_id: str, country: str) -> bool:
    """Whether ``tax_id`` has the shape of an EU VAT number of ``country`` (spaces and dots ignored)."""
    compact = re.sub(r"[\s.\-]", "", tax_id.upper())
    prefix = VAT_PREFIX.get(country, country)
    return compact.startswith(prefix) and bool(_VAT_BODY.match(compact[len(prefix) :]))


class TableTaxPolicy(TaxPolicy):
    def __init__(self, rates: dict[str, int] | None = None) -> None:
        self._rates = dict(EU_STANDARD_RATES_BP if rates is None else rates)

    def decide(self, seller_country: str, profile: BillingProfile) -> TaxDecision:
        rate = self._rates.get(profile.country)
        if rate is None:
            return TaxDecision(0, TaxTreatment.OUTSIDE_SCOPE, "VAT not applicable: customer outside the EU")
        business = profile.tax_id is not None and vat_id_looks_valid(profile.tax_id, profile.country)
        if business and profile.country != seller_country:
            return TaxDecision(0, TaxTreatment.REVERSE_CHARGE, REVERSE_CHARGE_NOTE)
        return TaxDecision(rate, TaxTreatment.STANDARD)
