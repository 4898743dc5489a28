"""The table tax policy (EU VAT, reverse charge, outside the EU) and the line rounding rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elearning_adapters.billing.tax import TableTaxPolicy, vat_id_looks_valid
from elearning_core.billing.model import (
    BillingProfile,
    CountryEvidence,
    EvidenceKind,
    TaxTreatment,
    price_line,
)
from elearning_core.billing.money import Money
from elearning_core.shared.errors import ValidationFailed

POLICY = TableTaxPolicy()


def profile(country: str, tax_id: str | None = None) -> BillingProfile:
    return BillingProfile("Ada", "1 Road", country, (CountryEvidence(EvidenceKind.BILLING_ADDRESS, country),), tax_id)


def test_a_consumer_in_the_eu_pays_the_vat_of_their_country() -> None:
    decision = POLICY.decide("DE", profile("FR"))
    assert (decision.rate_bp, decision.treatment) == (2000, TaxTreatment.STANDARD)
    assert POLICY.decide("DE", profile("FI")).rate_bp == 2550


def test_an_eu_business_in_another_member_state_is_reverse_charged() -> None:
    decision = POLICY.decide("DE", profile("FR", "FR 12 345678901"))
    assert (decision.rate_bp, decision.treatment) == (0, TaxTreatment.REVERSE_CHARGE)
    assert "Reverse charge" in decision.note
    greek = POLICY.decide("DE", profile("GR", "EL123456789"))
    assert greek.treatment is TaxTreatment.REVERSE_CHARGE


def test_a_business_in_the_sellers_country_or_with_a_malformed_number_pays_vat() -> None:
    assert POLICY.decide("DE", profile("DE", "DE123456789")).rate_bp == 1900
    assert POLICY.decide("DE", profile("FR", "DE123456789")).rate_bp == 2000  # another country's number
    assert POLICY.decide("DE", profile("FR", "FR12")).rate_bp == 2000


def test_outside_the_eu_there_is_no_vat() -> None:
    decision = POLICY.decide("DE", profile("US", "12-3456789"))
    assert (decision.rate_bp, decision.treatment) == (0, TaxTreatment.OUTSIDE_SCOPE)


def test_vat_numbers_are_checked_by_shape() -> None:
    assert vat_id_looks_valid("ATU12345678", "AT")
    assert not vat_id_looks_valid("AT-U1", "AT")
    assert not vat_id_looks_valid("GR123456789", "GR")


def test_a_profile_needs_evidence_for_its_country() -> None:
    with pytest.raises(ValidationFailed, match="no evidence names the country FR"):
        BillingProfile("Ada", "", "FR", (CountryEvidence(EvidenceKind.IP_ADDRESS, "DE"),))
    with pytest.raises(ValidationFailed, match="alpha-2"):
        BillingProfile("Ada", "", "fr", ())


def test_line_rounding_examples() -> None:
    exclusive = price_line(Money(999, "EUR"), 3, 1900, tax_inclusive=False)
    assert (exclusive.net.amount, exclusive.tax.amount, exclusive.gross.amount) == (2997, 569, 3566)  # 569.43
    inclusive = price_line(Money(1000, "EUR"), 1, 1900, tax_inclusive=True)
    assert (inclusive.net.amount, inclusive.tax.amount, inclusive.gross.amount) == (840, 160, 1000)  # 159.66


@given(
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=1, max_value=1000),
    st.integers(min_value=0, max_value=3000),
    st.booleans(),
)
def test_a_line_is_net_plus_tax_and_the_tax_is_the_rounded_rate(unit: int, qty: int, bp: int, inclusive: bool) -> None:
    line = price_line(Money(unit, "EUR"), qty, bp, tax_inclusive=inclusive)
    assert line.net + line.tax == line.gross
    assert (line.gross if inclusive else line.net).amount == unit * qty
    # the tax is within half a unit of the exact rate of the net (inclusive: of gross / (1 + rate))
    exact_twice = 2 * line.net.amount * bp if not inclusive else 2 * line.gross.amount * bp
    den = 10_000 if not inclusive else 10_000 + bp
    assert abs(2 * line.tax.amount * den - exact_twice) <= den
