"""Key metrics of a sub-target besides its amount (the article's fourth step).

Each node may carry targets for: new customers (a count), win rate,
repeat-purchase rate and market share (fractions between 0 and 1, given as
decimal strings such as "0.35"), and average order value (an amount in the
plan's currency). Stored as JSON with exact decimal strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from service.domain.money import parse_amount
from service.domain.tree import InvalidInputError

RATES = ("winRate", "repeatPurchaseRate", "marketShare")
MAX_STRATEGY_LENGTH = 4000


def check_kpis(values: Mapping[str, Any], digits: int, field: str = "kpis") -> dict[str, Any]:
    """Validated KPI targets; keys with None are dropped (cleared)."""
    out: dict[str, Any] = {}
    for key, raw in values.items():
        if raw is None:
            continue
        where = f"{field}.{key}"
        if key == "newCustomers":
            if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 10**9:
                raise InvalidInputError(
                    "INVALID_VALUE", f"{where}: a whole number from 0 to 10^9", where
                )
            out[key] = raw
        elif key in RATES:
            try:
                rate = Decimal(str(raw).strip())
            except InvalidOperation:
                rate = Decimal("NaN")
            if not rate.is_finite() or not 0 <= rate <= 1 or rate.as_tuple().exponent < -6:  # type: ignore[operator]
                raise InvalidInputError(
                    "INVALID_VALUE",
                    f'{where}: a fraction from 0 to 1 with at most 6 decimals, e.g. "0.35"',
                    where,
                )
            out[key] = format(rate.normalize(), "f")
        elif key == "averageOrderValue":
            out[key] = parse_amount(str(raw), digits, field=where)
        else:
            raise InvalidInputError("INVALID_VALUE", f"{where}: unknown KPI", where)
    return out


def clean_strategy(text: str | None) -> str | None:
    if text is None:
        return None
    cleaned = text.strip()
    if len(cleaned) > MAX_STRATEGY_LENGTH:
        raise InvalidInputError(
            "TOO_LONG",
            f"strategy has {len(cleaned)} characters; at most {MAX_STRATEGY_LENGTH}",
            "strategy",
        )
    return cleaned or None
