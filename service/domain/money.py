"""Amounts as integer minor units, parsed from and formatted to decimal strings.

Targets are stored as integers: cents for an amount in a currency with two
decimals, yen for JPY, units for a quantity. Only the API edge sees decimal
strings; they are parsed here exactly (``decimal``), never through a float.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from iso4217 import Currency

from service.domain.errors import DomainError

BIGINT_MAX = 2**63 - 1
"""Largest amount in minor units (PostgreSQL ``bigint``)."""

MAX_INPUT_LENGTH = 64


class InvalidAmountError(DomainError):
    """An amount string the service cannot take exactly."""


class UnknownCurrencyError(DomainError):
    """Not an ISO 4217 currency with a minor unit."""


def currency_digits(code: str, field: str = "currency") -> int:
    """Decimal digits (ISO 4217 minor unit) of ``code``: 2 for EUR, 0 for JPY, 3 for KWD.

    Codes without a minor unit (gold ``XAU``, ``XXX``, fund codes) are refused:
    a target must be countable in whole minor units.
    """
    if not isinstance(code, str) or len(code) != 3 or not code.isascii() or not code.isalpha():
        raise UnknownCurrencyError(
            code="UNKNOWN_CURRENCY",
            message=f"{code!r} is not an ISO 4217 currency code (three letters, e.g. EUR)",
            details={"field": field, "currency": code},
        )
    try:
        currency = Currency(code.upper())
    except ValueError:
        raise UnknownCurrencyError(
            code="UNKNOWN_CURRENCY",
            message=f"{code!r} is not an ISO 4217 currency code",
            details={"field": field, "currency": code},
        ) from None
    if currency.exponent is None:
        raise UnknownCurrencyError(
            code="UNKNOWN_CURRENCY",
            message=f"{currency.code} has no minor unit in ISO 4217 and cannot hold a target",
            details={"field": field, "currency": currency.code},
        )
    return int(currency.exponent)


def parse_amount(
    text: str | Decimal | int, digits: int, *, field: str = "amount", allow_zero: bool = True
) -> int:
    """Parse a decimal (a string, or an exact ``Decimal`` or ``int``) into integer minor
    units with ``digits`` decimals.

    Refused, each with its own message: empty strings, anything that is not a
    plain decimal number (``"abc"``, ``"NaN"``, ``"Infinity"``), negative
    amounts, more decimals than the currency has (``"1.005"`` in EUR; trailing
    zeros such as ``"1.500"`` are fine), and amounts beyond the ``bigint`` range
    in minor units. Exponent notation (``"1e6"``) is accepted when it is exact.
    """
    if isinstance(text, bool):
        raise InvalidAmountError(
            code="INVALID_AMOUNT",
            message="the amount is a boolean, not a decimal number",
            details={"field": field},
        )
    if isinstance(text, Decimal | int):
        text = str(text)
    if not isinstance(text, str) or not text.strip():
        raise InvalidAmountError(
            code="INVALID_AMOUNT",
            message="the amount is empty",
            details={"field": field, "value": text},
        )
    raw = text.strip()
    if len(raw) > MAX_INPUT_LENGTH:
        raise InvalidAmountError(
            code="INVALID_AMOUNT",
            message=f"the amount is longer than {MAX_INPUT_LENGTH} characters",
            details={"field": field, "value": raw[:MAX_INPUT_LENGTH] + "..."},
        )
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise InvalidAmountError(
            code="INVALID_AMOUNT",
            message=f"{raw!r} is not a decimal number (write it like 1250000.00)",
            details={"field": field, "value": raw},
        ) from None
    if not value.is_finite():
        raise InvalidAmountError(
            code="INVALID_AMOUNT",
            message=f"{raw!r} is not a finite decimal number",
            details={"field": field, "value": raw},
        )
    if value.is_signed() and value != 0:
        raise InvalidAmountError(
            code="NEGATIVE_AMOUNT",
            message=f"the amount {raw} is negative; targets are zero or more",
            details={"field": field, "value": raw},
        )
    value = abs(value)  # turns "-0" into 0
    # adjusted() is the exponent of the leading digit: beyond 10**19 nothing fits.
    if value != 0 and value.adjusted() + digits > 19:
        raise InvalidAmountError(
            code="AMOUNT_TOO_LARGE",
            message=f"the amount {raw} is larger than the largest target "
            f"({format_amount(BIGINT_MAX, digits)})",
            details={"field": field, "value": raw, "max": format_amount(BIGINT_MAX, digits)},
        )
    scaled = value.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise InvalidAmountError(
            code="TOO_MANY_DECIMALS",
            message=f"the amount {raw} has more than {digits} decimal"
            f"{'s' if digits != 1 else ''}, the precision of its currency or unit",
            details={"field": field, "value": raw, "digits": digits},
        )
    minor = int(scaled)
    if minor > BIGINT_MAX:
        raise InvalidAmountError(
            code="AMOUNT_TOO_LARGE",
            message=f"the amount {raw} is larger than the largest target "
            f"({format_amount(BIGINT_MAX, digits)})",
            details={"field": field, "value": raw, "max": format_amount(BIGINT_MAX, digits)},
        )
    if minor == 0 and not allow_zero:
        raise InvalidAmountError(
            code="INVALID_AMOUNT",
            message="the amount must be above zero",
            details={"field": field, "value": raw},
        )
    return minor


def amount_formatter(digits: int) -> Callable[[int], str]:
    """``format_amount(·, digits)`` as one function, for formatting thousands at once."""
    if digits == 0:
        return str
    scale = 10**digits
    pattern = f"%d.%0{digits}d"

    def format_minor(minor: int) -> str:
        if minor < 0:
            return format_amount(minor, digits)
        text: str = pattern % divmod(minor, scale)
        return text

    return format_minor


def format_amount(minor: int, digits: int) -> str:
    """``123456, 2`` -> ``"1234.56"``; exact for any integer."""
    sign = "-" if minor < 0 else ""
    magnitude = abs(minor)
    if digits == 0:
        return f"{sign}{magnitude}"
    whole, frac = divmod(magnitude, 10**digits)
    return f"{sign}{whole}.{frac:0{digits}d}"
