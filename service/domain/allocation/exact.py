"""Exact numbers: how user inputs become rationals, and how rationals are shown.

**Number rule.** Every numeric input (weight, history value, attribute, rate,
percentage) may be an ``int``, a ``float``, a decimal ``str`` (``"12.5"``, also
``"1/3"``), a ``Decimal`` or a ``Fraction``. It is read as an exact rational:

* ``int``, ``Decimal``, ``Fraction`` and strings exactly as written;
* a ``float`` as **the decimal number it prints as** (its shortest ``repr``), so
  ``0.1`` means one tenth, not the binary double nearest to it. Planners type
  decimals; reading them as decimals makes ``[0.1, 0.2, 0.3, 0.4]`` tie exactly
  where a human expects a tie, and makes the result independent of float noise.

``bool`` is refused (it is an ``int`` subclass in Python, never a number here),
as are NaN and infinities. numpy scalars are read like the Python numbers they
stand for. All arithmetic that decides cents is done on these
rationals (or on a vectorised path proven to give the same answer).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import TypeAlias

import numpy as np

Number: TypeAlias = int | float | str | Decimal | Fraction
"""A numeric input: read exactly, see the module docstring."""

JsonNumber: TypeAlias = int | float | str
"""A number as stored in JSON: ints and floats as such, anything else as a string."""

BIGINT_MAX = 2**63 - 1
"""Largest amount in minor units (PostgreSQL ``bigint``)."""

MAX_DENOMINATOR_DIGITS = 60
"""Strings with more significant digits than this are refused (a DoS guard)."""


def to_fraction(value: object) -> Fraction | None:
    """The exact rational of a numeric input, or ``None`` when it is not a finite number."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | np.integer):
        return Fraction(int(value))
    if isinstance(value, float | np.floating):
        as_float = float(value)
        if not math.isfinite(as_float):
            return None
        return Fraction(repr(as_float))
    if isinstance(value, Fraction):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return Fraction(value)
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > MAX_DENOMINATOR_DIGITS + 8:
            return None
        if "/" in text:
            try:
                return Fraction(text)
            except (ValueError, ZeroDivisionError):
                return None
        try:
            dec = Decimal(text)
        except InvalidOperation:
            return None
        if not dec.is_finite():
            return None
        exponent = dec.as_tuple().exponent
        if isinstance(exponent, int) and abs(exponent) > 400:
            return None
        return Fraction(dec)
    return None


def is_int_amount(value: object) -> bool:
    """True for a Python ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def to_float(value: Fraction) -> float:
    """A rational as the nearest float (for display only, never for cents)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def format_decimal(value: Fraction, places: int = 6) -> str:
    """A rational as a decimal string rounded half-even to ``places`` decimals.

    Trailing zeros are stripped (``"1250"``, ``"33.333333"``, ``"0.5"``). Used for
    the unrounded amounts of explanations: exact enough to defend a cent.
    """
    scale = 10**places
    scaled = value * scale
    q, r = divmod(scaled.numerator, scaled.denominator)
    twice = 2 * r
    if twice > scaled.denominator or (twice == scaled.denominator and q % 2 == 1):
        q += 1
    negative = q < 0
    q = abs(q)
    whole, frac = divmod(q, scale)
    text = str(whole)
    if places and frac:
        text += "." + str(frac).rjust(places, "0").rstrip("0")
    return "-" + text if negative and (whole or frac) else text


def json_number(value: Number) -> JsonNumber:
    """A numeric input as a JSON value: ints and floats unchanged, others as strings."""
    if isinstance(value, bool):
        raise TypeError("a bool is not a number")
    if isinstance(value, int | float | str):
        return value
    return str(value)


def from_json_number(value: object, what: str) -> Number:
    """A JSON value back to a numeric input (strings stay strings, parsed when used)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal | Fraction):
        raise TypeError(f"{what} must be a number or a decimal string, not {value!r}")
    return value
