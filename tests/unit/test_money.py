"""Exact parsing and formatting of amounts (service.domain.money)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.money import (
    BIGINT_MAX,
    InvalidAmountError,
    UnknownCurrencyError,
    amount_formatter,
    currency_digits,
    format_amount,
    parse_amount,
)


@pytest.mark.parametrize(
    ("code", "digits"), [("EUR", 2), ("usd", 2), ("JPY", 0), ("KWD", 3), ("CLF", 4)]
)
def test_currency_digits(code: str, digits: int) -> None:
    assert currency_digits(code) == digits


@pytest.mark.parametrize("code", ["", "EU", "EURO", "ABC", "XAU", "XXX", "12$"])
def test_unknown_currency(code: str) -> None:
    with pytest.raises(UnknownCurrencyError) as info:
        currency_digits(code)
    assert info.value.code == "UNKNOWN_CURRENCY"


@pytest.mark.parametrize(
    ("text", "digits", "minor"),
    [
        ("0", 2, 0),
        ("-0", 2, 0),
        ("1", 2, 100),
        ("1.5", 2, 150),
        ("1.50", 2, 150),
        ("1.500", 2, 150),
        (" 12.34 ", 2, 1234),
        ("1e3", 2, 100000),
        ("1E-2", 2, 1),
        ("92233720368547758.07", 2, BIGINT_MAX),
        ("9223372036854775807", 0, BIGINT_MAX),
    ],
)
def test_parse_amount(text: str, digits: int, minor: int) -> None:
    assert parse_amount(text, digits) == minor


@pytest.mark.parametrize(
    ("text", "digits", "code"),
    [
        ("", 2, "INVALID_AMOUNT"),
        ("abc", 2, "INVALID_AMOUNT"),
        ("NaN", 2, "INVALID_AMOUNT"),
        ("sNaN", 2, "INVALID_AMOUNT"),
        ("-Infinity", 2, "INVALID_AMOUNT"),
        ("1,000.00", 2, "INVALID_AMOUNT"),
        ("0x10", 2, "INVALID_AMOUNT"),
        ("-0.01", 2, "NEGATIVE_AMOUNT"),
        ("1.001", 2, "TOO_MANY_DECIMALS"),
        ("0.5", 0, "TOO_MANY_DECIMALS"),
        ("1e400", 2, "AMOUNT_TOO_LARGE"),
        ("1e-400", 2, "TOO_MANY_DECIMALS"),
        ("92233720368547758.08", 2, "AMOUNT_TOO_LARGE"),
        ("9223372036854775808", 0, "AMOUNT_TOO_LARGE"),
        ("9" * 70, 2, "INVALID_AMOUNT"),
    ],
)
def test_parse_amount_refuses(text: str, digits: int, code: str) -> None:
    with pytest.raises(InvalidAmountError) as info:
        parse_amount(text, digits, field="target")
    assert info.value.code == code
    assert info.value.details["field"] == "target"


def test_zero_can_be_refused() -> None:
    with pytest.raises(InvalidAmountError):
        parse_amount("0.00", 2, allow_zero=False)


@given(st.integers(min_value=0, max_value=BIGINT_MAX), st.integers(min_value=0, max_value=4))
def test_format_then_parse_round_trips(minor: int, digits: int) -> None:
    text = format_amount(minor, digits)
    assert parse_amount(text, digits) == minor
    assert Decimal(text) == Decimal(minor).scaleb(-digits)


def test_format_negative_and_zero_digits() -> None:
    assert format_amount(-5, 2) == "-0.05"
    assert format_amount(1234, 0) == "1234"
    assert format_amount(7, 3) == "0.007"


@given(st.integers(min_value=-BIGINT_MAX, max_value=BIGINT_MAX), st.integers(0, 6))
def test_the_bulk_formatter_formats_as_format_amount(minor: int, digits: int) -> None:
    assert amount_formatter(digits)(minor) == format_amount(minor, digits)
