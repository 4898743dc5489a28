"""Money: integer minor units, one currency per operation, splits that lose no minor unit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elearning_core.billing.money import CurrencyMismatch, Money, mul_div_half_up

amounts = st.integers(min_value=-(10**12), max_value=10**12)
weights = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20).filter(any)


@given(amounts, weights)
def test_an_allocation_sums_to_the_whole_and_each_part_is_within_one_unit_of_its_share(
    amount: int, parts: list[int]
) -> None:
    shares = Money(amount, "EUR").allocate(parts)
    assert sum(s.amount for s in shares) == amount
    total = sum(parts)
    for share, weight in zip(shares, parts, strict=True):
        # |share - amount * weight / total| < 1, in integers
        assert abs(share.amount * total - amount * weight) < total
        assert all(isinstance(s.amount, int) for s in shares)


@given(amounts, amounts)
def test_addition_and_subtraction_are_exact_inverses(a: int, b: int) -> None:
    assert (Money(a, "USD") + Money(b, "USD")) - Money(b, "USD") == Money(a, "USD")


@given(amounts, st.integers(min_value=0, max_value=100_000), st.integers(min_value=1, max_value=100_000))
def test_rounding_half_up_is_the_nearest_integer_with_ties_away_from_zero(value: int, num: int, den: int) -> None:
    result = mul_div_half_up(value, num, den)
    exact_twice = 2 * value * num  # compare 2*result*den with the exact value, both doubled
    assert abs(2 * result * den - exact_twice) <= den
    if abs(2 * result * den - exact_twice) == den:  # a tie: away from zero
        assert abs(result * den) > abs(value * num)


def test_currencies_do_not_mix() -> None:
    with pytest.raises(CurrencyMismatch, match="EUR with USD"):
        Money(100, "EUR") + Money(100, "USD")
    with pytest.raises(CurrencyMismatch):
        assert Money(1, "EUR") < Money(2, "GBP")


def test_floats_and_unknown_currencies_are_refused() -> None:
    with pytest.raises(TypeError, match="minor units"):
        Money(1.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(100, "EUR").times(1.2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not supported"):
        Money(1, "XYZ")
    with pytest.raises(ValueError, match="three capital letters"):
        Money(1, "eur")


def test_formatting_uses_the_currency_exponent() -> None:
    assert Money(123456, "EUR").format() == "1234.56 EUR"
    assert Money(-5, "EUR").format() == "-0.05 EUR"
    assert Money(1500, "JPY").format() == "1500 JPY"
    assert Money(1234, "KWD").format() == "1.234 KWD"
