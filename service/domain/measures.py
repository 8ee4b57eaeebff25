"""What a plan counts: money in one currency, or a quantity of units.

Every target is an integer of the plan's smallest unit: cents for EUR (2
decimals), yen for JPY (0), mils for KWD (3); for a quantity, the unit itself
or a fraction of it when the plan allows decimals (0.5 licences needs 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from service.domain.money import currency_digits
from service.domain.tree import InvalidInputError, Measure, clean_name

MAX_QUANTITY_DECIMALS = 4
MAX_UNIT_LENGTH = 50


@dataclass(frozen=True, slots=True)
class Units:
    """A plan's measure: currency or unit name, and the decimals of its amounts."""

    measure: Measure
    currency: str | None
    unit: str | None
    digits: int

    @property
    def label(self) -> str:
        """What follows an amount in a message: "EUR", "licences"."""
        return self.currency or self.unit or ""


def plan_units(
    measure: Measure, currency: str | None, unit: str | None, decimals: int | None
) -> Units:
    """Check a plan's measure: an AMOUNT has an ISO 4217 currency (its decimals are the
    currency's) and no unit; a QUANTITY has a unit name and 0 to 4 decimals, no currency."""
    if measure is Measure.AMOUNT:
        if currency is None:
            raise InvalidInputError(
                "REQUIRED", "an AMOUNT plan needs a currency (e.g. EUR)", "currency"
            )
        if unit is not None:
            raise InvalidInputError(
                "INVALID_VALUE", "an AMOUNT plan counts money: leave unit out", "unit"
            )
        digits = currency_digits(currency, field="currency")
        if decimals is not None and decimals != digits:
            raise InvalidInputError(
                "INVALID_VALUE",
                f"{currency.upper()} has {digits} decimals; leave decimals out",
                "decimals",
            )
        return Units(measure, currency.upper(), None, digits)
    if currency is not None:
        raise InvalidInputError(
            "INVALID_VALUE",
            "a QUANTITY plan counts units, not money: leave currency out",
            "currency",
        )
    if unit is None:
        raise InvalidInputError("REQUIRED", 'a QUANTITY plan needs a unit, e.g. "licences"', "unit")
    name = clean_name(unit, "unit", MAX_UNIT_LENGTH)
    digits = 0 if decimals is None else decimals
    if not 0 <= digits <= MAX_QUANTITY_DECIMALS:
        raise InvalidInputError(
            "OUT_OF_RANGE",
            f"decimals must be between 0 and {MAX_QUANTITY_DECIMALS}, got {digits}",
            "decimals",
        )
    return Units(measure, None, name, digits)
