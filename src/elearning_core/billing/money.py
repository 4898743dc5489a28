"""Money as an integer count of a currency's minor units: no floats anywhere.

Arithmetic is defined within one currency only (adding euros to dollars is a bug, so it raises).
Amounts are split with ``allocate`` (largest remainder), so the parts always sum to the whole and
no minor unit is created or lost by a split. Rounding of a product by a rate (tax) is done once,
by ``mul_div_half_up``, half away from zero, on integers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MINOR_UNITS: dict[str, int] = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "HUF": 2,
    "RON": 2, "BGN": 2, "CAD": 2, "AUD": 2, "NZD": 2, "INR": 2, "BRL": 2, "MXN": 2, "ZAR": 2, "SGD": 2,
    "JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "KWD": 3, "BHD": 3, "JOD": 3, "TND": 3,
}  # fmt: skip
"""The ISO 4217 currencies the platform prices in, with their minor-unit exponent."""

_CODE = re.compile(r"^[A-Z]{3}$")


class CurrencyMismatch(ValueError):
    """Two amounts of different currencies were combined: a programming error, never rounded away."""


def check_currency(code: str) -> str:
    """The code when it is a supported ISO 4217 currency; ``ValueError`` saying why otherwise."""
    if not _CODE.match(code):
        raise ValueError(f"currency must be an ISO 4217 code of three capital letters, not {code!r}")
    if code not in MINOR_UNITS:
        raise ValueError(f"currency {code} is not supported (supported: {', '.join(sorted(MINOR_UNITS))})")
    return code


def mul_div_half_up(value: int, numerator: int, denominator: int) -> int:
    """``value * numerator / denominator`` rounded half away from zero, on integers only."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    product = value * numerator
    sign = -1 if product < 0 else 1
    quotient, remainder = divmod(abs(product), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return sign * quotient


@dataclass(frozen=True, slots=True, order=False)
class Money:
    amount: int
    """Minor units (cents for EUR, yen for JPY)."""
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError(f"Money amount must be an int of minor units, not {type(self.amount).__name__}")
        check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def times(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError("Money is multiplied by whole numbers only (a rate goes through mul_div_half_up)")
        return Money(self.amount * factor, self.currency)

    @property
    def is_zero(self) -> bool:
        return self.amount == 0

    def allocate(self, weights: Sequence[int]) -> list[Money]:
        """Split this amount in proportion to ``weights`` (non-negative ints, not all zero) by the largest
        remainder method: the parts sum to exactly this amount, and each part is within one minor unit
        of its exact share (ties go to the earlier weight, so the split is deterministic)."""
        if not weights:
            raise ValueError("allocate needs at least one weight")
        if any(isinstance(w, bool) or not isinstance(w, int) or w < 0 for w in weights):
            raise ValueError("weights must be non-negative integers")
        total = sum(weights)
        if total == 0:
            raise ValueError("weights must not all be zero")
        sign = -1 if self.amount < 0 else 1
        whole = abs(self.amount)
        parts = [whole * w // total for w in weights]
        remainders = [whole * w % total for w in weights]
        left = whole - sum(parts)
        for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
            parts[index] += 1
        return [Money(sign * p, self.currency) for p in parts]

    def decimal(self) -> str:
        """``12.34``: the amount in major units as exact decimal text (exports, documents)."""
        exponent = MINOR_UNITS[self.currency]
        sign = "-" if self.amount < 0 else ""
        whole, minor = divmod(abs(self.amount), 10**exponent)
        return f"{sign}{whole}.{minor:0{exponent}d}" if exponent else f"{sign}{whole}"

    def format(self) -> str:
        """``12.34 EUR``: the amount in major units with its currency, for documents and tables."""
        return f"{self.decimal()} {self.currency}"


def total(amounts: Sequence[Money], currency: str) -> Money:
    """The sum of ``amounts`` (all in ``currency``); zero for none."""
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result
