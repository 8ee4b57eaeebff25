"""Key metrics of a sub-target besides its amount (the article's fourth step).

Each node may carry targets for: new customers (a count), win rate,
repeat-purchase rate and market share (fractions between 0 and 1, given as
decimal strings such as "0.35"), and average order value (an amount in the
plan's currency). Stored as JSON with exact decimal strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from service.domain.errors import InvalidInputError
from service.domain.money import parse_amount
from service.domain.values import (
    check_storable,
    clean_text,
    decimal_number,
    text_of,
    whole_number,
)

RATES = ("winRate", "repeatPurchaseRate", "marketShare")
MAX_STRATEGY_LENGTH = 4000
MAX_NEW_CUSTOMERS = 10**9


def check_kpis(values: Mapping[str, Any], digits: int, field: str = "kpis") -> dict[str, Any]:
    """Validated KPI targets; keys with None are dropped (cleared)."""
    out: dict[str, Any] = {}
    for key, raw in values.items():
        if raw is None:
            continue
        where = f"{field}.{key}"
        if key == "newCustomers":
            out[key] = whole_number(raw, where, minimum=0, maximum=MAX_NEW_CUSTOMERS)
        elif key in RATES:
            rate = _rate(raw, where)
            out[key] = format(rate.normalize(), "f")
        elif key == "averageOrderValue":
            out[key] = parse_amount(text_of(raw, where), digits, field=where)
        else:
            check_storable(str(key), where)
            raise InvalidInputError("INVALID_VALUE", f"{where}: unknown KPI", where)
    return out


def _rate(raw: Any, where: str) -> Decimal:
    hint = 'a fraction from 0 to 1 with at most 6 decimals, e.g. "0.35"'
    try:
        rate = decimal_number(raw, where, max_decimals=6)
    except InvalidInputError as exc:
        raise InvalidInputError(exc.code, f"{exc.message}; {hint}", where) from None
    if not 0 <= rate <= 1:
        raise InvalidInputError("OUT_OF_RANGE", f"{where}: {hint}, got {rate}", where)
    return rate


def clean_strategy(text: str | None) -> str | None:
    """How a sub-target is to be reached: optional, multi-line, at most 4000 characters."""
    if text is None:
        return None
    return clean_text(text, "strategy", max_length=MAX_STRATEGY_LENGTH, kind="text", required=False)
