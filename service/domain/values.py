"""Values from any door, checked and normalised into the one form that is stored.

A value reaches the domain from GraphQL (str, int, float, bool, None, dict,
list, date), from a CSV file (str) or from an Excel workbook through openpyxl
(int, float, bool, str, None, datetime, date, time, timedelta). Every
function here takes any of those, and either returns the single normalised
form that storage keeps and every read can serve, or raises
``InvalidInputError`` naming the field. None of them lets through what
PostgreSQL cannot store: the NUL character and unpaired surrogates in text,
integers past the column's type, non-finite numbers.

Codes used: ``REQUIRED`` (empty), ``TOO_LONG``, ``INVALID_VALUE`` (wrong type,
control character, unparsable), ``OUT_OF_RANGE`` (a number of the right type
outside its bounds), ``TOO_MANY_DECIMALS``.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Context, Decimal, InvalidOperation
from typing import Literal

from service.domain.errors import InvalidInputError

PG_INTEGER_MIN = -(2**31)
PG_INTEGER_MAX = 2**31 - 1
"""Bounds of a PostgreSQL ``integer`` column (sort orders)."""

JSON_SAFE_INTEGER = 2**53 - 1
"""Largest integer every JSON client reads exactly (JavaScript's Number.MAX_SAFE_INTEGER)."""

MAX_NUMBER_TEXT = 100
"""Longest text parsed as a number (no million-digit strings through Decimal)."""

MAX_REASON_LENGTH = 2000

_WIDE = Context(prec=4 * MAX_NUMBER_TEXT)
"""Precision for rounding any number that passed the length check, exactly."""

MULTILINE_CONTROLS = frozenset("\t\n\r")
"""Control characters that multi-line texts (strategy, reason, notes) may keep."""

TextKind = Literal["printable", "line", "text"]
"""What a text field may hold, strictest first.

- ``printable``: names and codes (and tiers, subjects, emails): only characters
  ``str.isprintable`` accepts, so no control, formatting or separator
  character other than the plain space.
- ``line``: one line of free text (an industry, a category, an extra key):
  anything but control characters, unpaired surrogates and line or paragraph
  separators.
- ``text``: multi-line free text (a strategy, a reason, an extra value): as
  ``line``, and tabs and line breaks are kept.

Every kind refuses NUL, which PostgreSQL text cannot store.
"""


# -- text ---------------------------------------------------------------------------


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    code = f"U+{ord(ch):04X}"
    return f"{code} ({name})" if name else code


def check_storable(text: str, field: str, kind: TextKind = "line") -> str:
    """Refuse characters a text field of ``kind`` must not hold; return ``text`` unchanged.

    Each refusal is ``INVALID_VALUE`` naming the field, the character and its
    position (1-based).
    """
    if kind == "printable" and text.isprintable():
        return text  # the common case, checked in C
    for position, ch in enumerate(text, start=1):
        if ch == "\x00":
            raise InvalidInputError(
                "INVALID_VALUE",
                f"{field} contains the NUL character (U+0000) at position {position}, "
                "which cannot be stored; remove it",
                field,
                position=position,
            )
        category = unicodedata.category(ch)
        if category == "Cs":
            raise InvalidInputError(
                "INVALID_VALUE",
                f"{field} contains an unpaired surrogate ({_describe(ch)}) at position "
                f"{position}; it is not valid text",
                field,
                position=position,
            )
        if kind == "printable":
            bad = not ch.isprintable()
        elif kind == "line":
            bad = category in ("Cc", "Zl", "Zp")
        else:
            bad = category == "Cc" and ch not in MULTILINE_CONTROLS
        if bad:
            what = "control character" if category == "Cc" else "character"
            where = "" if kind == "text" else ", which a single line of text may not hold"
            raise InvalidInputError(
                "INVALID_VALUE",
                f"{field} contains the {what} {_describe(ch)} at position {position}{where}",
                field,
                position=position,
            )
    return text


def clean_text(
    value: str, field: str, *, max_length: int, kind: TextKind = "line", required: bool = True
) -> str | None:
    """Strip ``value``, check its characters (see ``TextKind``) and its length.

    Empty after stripping: ``REQUIRED`` when ``required``, else ``None``.
    """
    if not isinstance(value, str):
        raise InvalidInputError("INVALID_VALUE", f"{field} must be text", field)
    cleaned = value.strip()
    if not cleaned:
        if required:
            raise InvalidInputError("REQUIRED", f"{field} must not be empty", field)
        return None
    if len(cleaned) > max_length:
        raise InvalidInputError(
            "TOO_LONG",
            f"{field} has {len(cleaned)} characters; at most {max_length} are allowed",
            field,
            length=len(cleaned),
            max=max_length,
        )
    return check_storable(cleaned, field, kind)


def clean_reason(reason: str | None, field: str = "reason") -> str | None:
    """Why a change was made, for the audit trail: optional, multi-line, at most 2000."""
    if reason is None:
        return None
    return clean_text(reason, field, max_length=MAX_REASON_LENGTH, kind="text", required=False)


def _type_name(raw: object) -> str:
    if isinstance(raw, bool):
        return f"the boolean {'TRUE' if raw else 'FALSE'}"
    if isinstance(raw, datetime):
        return f"the date and time {raw.isoformat(sep=' ')}"
    if isinstance(raw, date):
        return f"the date {raw.isoformat()}"
    if isinstance(raw, time):
        return f"the time of day {raw.isoformat()}"
    if isinstance(raw, timedelta):
        return f"the duration {raw}"
    if isinstance(raw, Mapping):
        return "an object"
    if isinstance(raw, list | tuple):
        return "a list"
    return f"a value of type {type(raw).__name__}"


def _shown(number: int | Decimal) -> str:
    """A number for a message: plain up to 40 digits, scientific beyond (never huge)."""
    if isinstance(number, int):
        if number.bit_length() <= 128:
            return str(number)
        number = Decimal(number)
    if -20 < number.adjusted() < 40:
        return format(number, "f")
    return f"{number:.6E}"


def _float_text(value: float) -> str:
    """A float as Excel shows it in a General cell: at most 15 significant digits."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".15g")


def text_of(raw: object, field: str) -> str:
    """The text of a scalar cell: strings as they are, numbers as written.

    Integers become their digits, floats the shortest text Excel would show
    (``1.0`` is ``"1"``), decimals their plain notation. Booleans, dates,
    times, durations and containers are refused: a column of text takes text,
    and a cell Excel typed otherwise should be formatted as text.
    """
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        raise InvalidInputError(
            "INVALID_VALUE", f"{field}: expected text, got {_type_name(raw)}", field
        )
    if isinstance(raw, int):
        if raw.bit_length() > 128:
            raise InvalidInputError(
                "INVALID_VALUE", f"{field}: expected text, got the number {_shown(raw)}", field
            )
        return str(raw)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise InvalidInputError("INVALID_VALUE", f"{field}: not a finite number", field)
        return _float_text(raw)
    if isinstance(raw, Decimal):
        if not raw.is_finite():
            raise InvalidInputError("INVALID_VALUE", f"{field}: not a finite number", field)
        return format(raw, "f")
    raise InvalidInputError(
        "INVALID_VALUE",
        f"{field}: expected text, got {_type_name(raw)}; format the cell as text",
        field,
    )


# -- numbers ------------------------------------------------------------------------


def _decimal_of(raw: object, field: str, expected: str) -> Decimal:
    """Any numeric scalar (or its text) as a finite Decimal; wrong types are refused."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal | str):
        raise InvalidInputError(
            "INVALID_VALUE", f"{field}: expected {expected}, got {_type_name(raw)}", field
        )
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise InvalidInputError(
                "INVALID_VALUE", f"{field}: expected {expected}, got {raw}", field
            )
        return Decimal(_float_text(raw))
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, str):
        text = raw.strip()
        if len(text) > MAX_NUMBER_TEXT:
            raise InvalidInputError(
                "INVALID_VALUE",
                f"{field}: expected {expected}, got {len(text)} characters of text",
                field,
            )
        check_storable(text, field)
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise InvalidInputError(
                "INVALID_VALUE", f"{field}: expected {expected}, got {text!r}", field
            ) from None
    else:
        value = raw
    if not value.is_finite():
        raise InvalidInputError(
            "INVALID_VALUE", f"{field}: expected {expected}, got {raw!r}", field
        )
    return value


def whole_number(raw: object, field: str, *, minimum: int, maximum: int) -> int:
    """A whole number between ``minimum`` and ``maximum`` inclusive.

    Accepted: ints, integral floats (``90.0``, as Excel stores every number)
    and their text (``"90"``, ``"90.0"``, ``"1e3"``). Refused: fractions,
    booleans, dates and other types (``INVALID_VALUE``), numbers outside the
    bounds (``OUT_OF_RANGE``).
    """
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    else:
        number = _decimal_of(raw, field, "a whole number")
        if number != number.to_integral_value():
            raise InvalidInputError(
                "INVALID_VALUE", f"{field}: expected a whole number, got {raw!r}", field
            )
        if not minimum <= number <= maximum:  # compared before int(): 1e999999 stays cheap
            raise _out_of_range(field, _shown(number), minimum, maximum)
        value = int(number)
    if not minimum <= value <= maximum:
        raise _out_of_range(field, _shown(value), minimum, maximum)
    return value


def _out_of_range(field: str, shown: str, minimum: object, maximum: object) -> InvalidInputError:
    return InvalidInputError(
        "OUT_OF_RANGE",
        f"{field}: {shown} is outside {minimum}..{maximum}",
        field,
        min=str(minimum),
        max=str(maximum),
    )


def decimal_number(
    raw: object,
    field: str,
    *,
    minimum: Decimal | None = None,
    max_integer_digits: int = 30,
    max_decimals: int = 10,
) -> Decimal:
    """A finite decimal, at least ``minimum``, with bounded digits on both sides.

    Floats (Excel's numbers) are read as Excel shows them, at most 15
    significant digits, so a cell holding 0.30000000000000004 reads as 0.3.
    Trailing zeros past ``max_decimals`` are dropped; other digits past it are
    ``TOO_MANY_DECIMALS``. Negative zero is zero.
    """
    value = _decimal_of(raw, field, "a decimal number")
    if value == 0:
        value = abs(value)  # "-0" and "-0.00" are zero
    if minimum is not None and value < minimum:
        raise InvalidInputError(
            "OUT_OF_RANGE",
            f"{field}: must be {minimum} or more, got {_shown(value)}",
            field,
            min=str(minimum),
        )
    if value != 0 and value.adjusted() >= max_integer_digits:
        raise InvalidInputError(
            "OUT_OF_RANGE",
            f"{field}: at most {max_integer_digits} digits before the decimal point",
            field,
        )
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if exponent < -max_decimals:
        rounded = value.quantize(Decimal(1).scaleb(-max_decimals), context=_WIDE)
        if rounded != value:
            raise InvalidInputError(
                "TOO_MANY_DECIMALS",
                f"{field}: at most {max_decimals} digits after the decimal point",
                field,
            )
        value = rounded
    return value


# -- dates --------------------------------------------------------------------------


def calendar_date(raw: object, field: str) -> date:
    """A calendar day.

    Accepted: a date; a datetime at midnight (an Excel date cell is one); the
    text ``YYYY-MM-DD`` (or another ISO 8601 date), or an ISO date and time
    at midnight. A time of day other than midnight is refused: it is not a day.
    """
    if isinstance(raw, datetime):
        return _midnight(raw, field, raw.isoformat(sep=" "))
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        text = raw.strip()
        if len(text) <= 40:
            check_storable(text, field)
            try:
                return date.fromisoformat(text)
            except ValueError:
                pass
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                pass
            else:
                return _midnight(moment, field, text)
        raise InvalidInputError(
            "INVALID_VALUE", f"{field}: {text[:40]!r} is not a date (YYYY-MM-DD)", field
        )
    raise InvalidInputError(
        "INVALID_VALUE", f"{field}: expected a date (YYYY-MM-DD), got {_type_name(raw)}", field
    )


def _midnight(moment: datetime, field: str, shown: str) -> date:
    if moment.time() != time(0):
        raise InvalidInputError(
            "INVALID_VALUE",
            f"{field}: {shown} has a time of day; expected a date (YYYY-MM-DD)",
            field,
        )
    return moment.date()


# -- free-form JSON scalars ---------------------------------------------------------

JsonScalar = str | int | float | bool | None


def json_scalar(raw: object, field: str, *, max_length: int) -> JsonScalar:
    """A free-form value: a string, a number, a boolean or null, as JSON keeps it.

    Strings are stripped and checked as multi-line text of at most
    ``max_length`` characters; numbers lie within ±(2^53 - 1) so that every
    JSON client reads them exactly and jsonb gives back what it was given
    (``OUT_OF_RANGE`` otherwise); floats are finite. Excel's dates and times
    become ISO 8601 text (a midnight datetime is a date). Durations, decimals
    and containers are refused.
    """
    if raw is None or isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        value = raw.strip()
        if len(value) > max_length:
            raise InvalidInputError(
                "TOO_LONG", f"{field}: at most {max_length} characters, got {len(value)}", field
            )
        return check_storable(value, field, "text")
    if isinstance(raw, int):
        if not -JSON_SAFE_INTEGER <= raw <= JSON_SAFE_INTEGER:
            raise _out_of_range(field, _shown(raw), -JSON_SAFE_INTEGER, JSON_SAFE_INTEGER)
        return raw
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise InvalidInputError("INVALID_VALUE", f"{field}: not a finite number", field)
        if abs(raw) > JSON_SAFE_INTEGER:  # PostgreSQL's jsonb would read it back as a huge int
            raise _out_of_range(field, f"{raw:.6E}", -JSON_SAFE_INTEGER, JSON_SAFE_INTEGER)
        return raw
    if isinstance(raw, datetime):
        if raw.time() == time(0) and raw.tzinfo is None:
            return raw.date().isoformat()
        return raw.isoformat()
    if isinstance(raw, date | time):
        return raw.isoformat()
    raise InvalidInputError(
        "INVALID_VALUE",
        f"{field}: values are strings, numbers, booleans or null, not {_type_name(raw)}",
        field,
    )


__all__ = [
    "JSON_SAFE_INTEGER",
    "MAX_REASON_LENGTH",
    "PG_INTEGER_MAX",
    "PG_INTEGER_MIN",
    "JsonScalar",
    "TextKind",
    "calendar_date",
    "check_storable",
    "clean_reason",
    "clean_text",
    "decimal_number",
    "json_scalar",
    "text_of",
    "whole_number",
]
