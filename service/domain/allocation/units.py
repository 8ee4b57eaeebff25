"""Display units: how the allocation layer writes amounts in texts.

Amounts are integer minor units everywhere in the domain and in the dicts it
stores (results, explanations, split specs). Only what a person reads (error
messages, explanation sentences, notes) shows them in currency units, through
:class:`Units`: ``Units(digits=2).amount(420000000) == "4200000.00"``, formatted
by :func:`service.domain.money.format_amount`. The default ``Units()`` (0
digits, no label) prints minor units as plain integers.

Fractional amounts (a proportional amount before rounding, in minor units)
print with at least ``digits`` and at most ``digits + 6`` decimals, rounded half
to even: ``Units(2).exact(Fraction(7189, 2)) == "35.945"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from service.domain.allocation.errors import AllocationErrorCode, AllocationInputError
from service.domain.allocation.exact import format_decimal, is_int_amount, show
from service.domain.money import format_amount

MAX_UNIT_DIGITS = 18
"""A bigint amount has 19 digits; more decimals than 18 would print nothing but zeros."""


@dataclass(frozen=True, slots=True)
class Units:
    """How amounts read: ``digits`` decimals of the currency (2 for EUR, 0 for JPY or a
    quantity) and an optional ``label`` written after every amount ("EUR", "units")."""

    digits: int = 0
    label: str | None = None

    def __post_init__(self) -> None:
        if not is_int_amount(self.digits) or not 0 <= self.digits <= MAX_UNIT_DIGITS:
            raise AllocationInputError(
                AllocationErrorCode.INVALID_INPUT,
                f"display digits must be an integer from 0 to {MAX_UNIT_DIGITS}, "
                f"got {show(self.digits)}",
                {"digits": show(self.digits)},
            )
        if self.label is not None and not isinstance(self.label, str):
            raise AllocationInputError(
                AllocationErrorCode.INVALID_INPUT, "the unit label must be a string", {}
            )

    def amount(self, minor: int) -> str:
        """An integer amount in minor units, in currency units: ``"4200000.00"``."""
        return self._labelled(format_amount(minor, self.digits))

    def signed(self, minor: int) -> str:
        """Like :meth:`amount` with an explicit sign: ``"+1.00"``, ``"-0.50"``."""
        return ("+" if minor >= 0 else "") + self.amount(minor)

    def exact(self, minor: Fraction | int) -> str:
        """A possibly fractional amount in minor units, in currency units, exactly enough
        to defend a cent (``digits`` to ``digits + 6`` decimals)."""
        return self._labelled(decimal_units(Fraction(minor), self.digits))

    def signed_exact(self, minor: Fraction | int) -> str:
        """Like :meth:`exact` with an explicit sign."""
        return ("+" if minor >= 0 else "") + self.exact(minor)

    def _labelled(self, text: str) -> str:
        return f"{text} {self.label}" if self.label else text


MINOR = Units()
"""Minor units as plain integers (the default of every function that takes units)."""


def decimal_units(minor: Fraction, digits: int, extra: int = 6) -> str:
    """``minor / 10**digits`` as a decimal string with ``digits`` to ``digits + extra``
    decimals (half to even beyond that); ``-0`` prints as ``0``."""
    text = format_decimal(minor / 10**digits, digits + extra)
    if digits:
        whole, _, frac = text.partition(".")
        text = f"{whole}.{frac.ljust(digits, '0')}"
    return text


def amount_text(value: object, units: Units) -> str:
    """An amount a caller gave, echoed in a message: in units when it is a sane integer,
    else described safely (``show``)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() <= 160:
        return units.amount(value)
    return show(value)
