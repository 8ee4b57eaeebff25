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

**Magnitude rule.** A number is taken when its exact rational, in lowest terms,
has a numerator and a denominator below ``10**400`` (:data:`MAX_DIGITS`): every
finite float (``5e-324`` .. ``1.8e308``), ``"1e309"``, ``"1e-300"`` and integers of
up to 400 digits work exactly; beyond that (``10**5000``, ``Decimal("1e999999")``)
it is refused like a NaN, with a message saying so. This keeps every later step
exact and bounded (no float overflow, no 4,300-digit ``int`` to ``str`` limit, no
runaway big-integer arithmetic). Texts show numbers through :func:`sig_text` and
:func:`show`, which never go through ``float``.
"""

from __future__ import annotations

import math
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_HALF_EVEN,
    Decimal,
    InvalidOperation,
    localcontext,
)
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

MAX_DIGITS = 400
"""Numerators and denominators (lowest terms) must stay below ``10**MAX_DIGITS``."""

_LIMIT = 10**MAX_DIGITS

NUMBER_RULE = f"finite and >= 0, with at most {MAX_DIGITS} digits before or after the decimal point"
"""How messages state the number rule."""


def to_fraction(value: object) -> Fraction | None:
    """The exact rational of a numeric input, or ``None`` when it is not a finite number
    within the magnitude rule (see the module docstring)."""
    frac = _to_fraction(value)
    if frac is None or abs(frac.numerator) >= _LIMIT or frac.denominator >= _LIMIT:
        return None
    return frac


def _to_fraction(value: object) -> Fraction | None:
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
        exponent = value.as_tuple().exponent
        if value and (
            not isinstance(exponent, int)
            or abs(exponent) > 2 * MAX_DIGITS
            or len(value.as_tuple().digits) > 2 * MAX_DIGITS
        ):
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


def sig_text(value: Fraction | int, places: int = 6) -> str:
    """``value`` with ``places`` significant digits, like ``f"{x:.6g}"`` but exact for any
    rational (no float: ``1e309`` prints as ``1e+309``, never overflows)."""
    frac = Fraction(value)
    if frac == 0:
        return "0"
    sign = "-" if frac < 0 else ""
    frac = abs(frac)
    with localcontext() as ctx:
        ctx.prec = places
        ctx.Emax = MAX_EMAX
        ctx.Emin = MIN_EMIN
        ctx.rounding = ROUND_HALF_EVEN
        rounded = Decimal(frac.numerator) / Decimal(frac.denominator)
        exponent = rounded.adjusted()
        if -4 <= exponent < places:
            text = format(rounded, "f")
            if "." in text:
                text = text.rstrip("0").rstrip(".")
        else:
            mantissa = format(rounded.scaleb(-exponent), "f")
            if "." in mantissa:
                mantissa = mantissa.rstrip("0").rstrip(".")
            text = f"{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
    return sign + text


def show(value: object, limit: int = 48) -> str:
    """A user's input echoed in a message: ``repr`` cut to ``limit`` characters, and
    never an exception (huge integers are described, not printed)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 160:
        digits = int(value.bit_length() * 0.30103) + 1
        return f"{'-' if value < 0 else ''}<an integer of about {digits} digits>"
    if (
        isinstance(value, Fraction)
        and max(abs(value.numerator).bit_length(), value.denominator.bit_length()) > 160
    ):
        return "<a fraction of more than 48 digits>"
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__, a too-long int inside a container
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    """A numeric input as a JSON value: ints (within int64) and finite floats unchanged,
    others as strings (so every JSON encoder and PostgreSQL ``jsonb`` take it; NaN and
    infinities become ``"nan"`` / ``"inf"``, refused again when read as numbers).
    A bool is ``INVALID_INPUT`` (it is never a number here)."""
    if isinstance(value, bool):
        from service.domain.allocation.errors import AllocationErrorCode, AllocationInputError

        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT, "a true/false value is not a number", {}
        )
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return str(value) if value.bit_length() < 4000 else show(value)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, int | float | str):
        return value
    if isinstance(value, Fraction | Decimal):
        frac = _to_fraction(value)
        if frac is not None and max(abs(frac.numerator), frac.denominator).bit_length() > 4000:
            return show(value)
    return show(value, 10**6) if not isinstance(value, Fraction | Decimal) else str(value)


def from_json_number(value: object, what: str) -> Number:
    """A JSON value back to a numeric input (strings stay strings, parsed when used)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal | Fraction):
        raise TypeError(f"{what} must be a number or a decimal string, not {show(value)}")
    return value
