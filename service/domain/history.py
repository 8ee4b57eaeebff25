"""History from the stored actuals: which past periods to read, and what they say.

The plan's calendar is stored as its settings (``Plan.calendar``); a past fiscal
year is the same settings with another ``fiscal_year`` (:func:`calendar_of`), so
"the same quarter two years ago" is the member with the same position
(:func:`same_period`: ``FY2027-Q2`` becomes ``FY2025-Q2``).

Actuals are stored in minor units of the plan's currency (``amount``), or as a
quantity with up to 4 decimals; :func:`actual_of` gives the plan's integer units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

from service.domain.calendar import (
    CalendarSpec,
    TimeLevel,
    TimeMember,
    fiscal_year_bounds,
    generate_calendar,
)
from service.domain.tree import InvalidInputError, Measure

MAX_HISTORY_YEARS = 10
"""Most past fiscal years one request may read."""


def calendar_of(settings: Mapping[str, Any] | None, fiscal_year: int) -> CalendarSpec:
    """The plan's calendar settings for ``fiscal_year`` (Gregorian from January when the
    plan stored none)."""
    if not settings:
        return CalendarSpec(fiscal_year=fiscal_year, start_month=1)
    return CalendarSpec(
        fiscal_year=fiscal_year,
        start_month=int(settings.get("startMonth", 1)),
        pattern=settings.get("pattern", "GREGORIAN"),
        weeks=bool(settings.get("weeks", False)),
        week_start=int(settings.get("weekStart", 0)),
        year_end=settings.get("yearEnd", "NEAREST"),
    )


def year_bounds(settings: Mapping[str, Any] | None, fiscal_year: int) -> tuple[date, date]:
    """``[start, end)`` of ``fiscal_year`` in the plan's calendar."""
    return fiscal_year_bounds(calendar_of(settings, fiscal_year))


def position(code: str) -> str:
    """A time member's position within its year: ``FY2027-Q2`` -> ``Q2`` (``""`` for the
    year itself)."""
    _, _, rest = code.partition("-")
    return rest


def same_period(
    settings: Mapping[str, Any] | None, code: str, fiscal_year: int
) -> TimeMember | None:
    """The member of ``fiscal_year`` at the position of ``code`` (None when that year has
    no such member, e.g. a 53rd week)."""
    wanted = position(code)
    for member in generate_calendar(calendar_of(settings, fiscal_year)):
        if position(member.code) == wanted:
            return member
    return None


def finer_periods(
    settings: Mapping[str, Any] | None, code: str, fiscal_year: int, level: TimeLevel
) -> list[TimeMember]:
    """The members of ``level`` inside the member at ``code``'s position in ``fiscal_year``
    (the months of a quarter), in time order."""
    outer = same_period(settings, code, fiscal_year)
    if outer is None:
        return []
    return [
        m
        for m in generate_calendar(calendar_of(settings, fiscal_year))
        if m.level is level and outer.start <= m.start and m.end <= outer.end
    ]


def actual_of(measure: Measure, digits: int, amount: int, quantity: Decimal) -> int:
    """A slice's actual in the plan's integer units: the amount (minor units) for money,
    the quantity times ``10**digits`` (half-even) for a quantity plan."""
    if measure is Measure.AMOUNT:
        return amount
    scaled = (quantity * (Decimal(10) ** digits)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return int(scaled)


def check_years(years: Sequence[int], plan_year: int, field: str) -> list[int]:
    """Past fiscal years to read: at least one, at most ``MAX_HISTORY_YEARS``, each before
    the plan's own year, no repeats; returned oldest first."""
    if not years:
        raise InvalidInputError("EMPTY_SET", f"{field} needs at least one fiscal year", field)
    if len(years) > MAX_HISTORY_YEARS:
        raise InvalidInputError(
            "TOO_MANY", f"{field} takes at most {MAX_HISTORY_YEARS} fiscal years", field
        )
    if len(set(years)) != len(years):
        raise InvalidInputError("DUPLICATE", f"{field} repeats a fiscal year", field)
    late = [y for y in years if y >= plan_year]
    if late:
        raise InvalidInputError(
            "OUT_OF_RANGE",
            f"{field} must name fiscal years before the plan's FY{plan_year}, got "
            + ", ".join(f"FY{y}" for y in late),
            field,
        )
    return sorted(years)


@dataclass(frozen=True, slots=True)
class YearTotal:
    fiscal_year: int
    total: int


@dataclass(frozen=True)
class TargetFromHistory:
    """A plan's overall target computed from past years' actuals, and how."""

    target: int
    method: str
    years: tuple[YearTotal, ...]
    growth: Decimal | None
    explanation: str


def target_from_history(
    totals: Sequence[YearTotal],
    plan_year: int,
    *,
    growth: Decimal | None,
    trend: bool,
    amount_text: Any,
) -> TargetFromHistory:
    """The target of ``plan_year`` from the actuals of past years (oldest first).

    * **Growth** (``growth`` given, one or more years: the latest is used): last
      year's actuals times ``1 + growth``, rounded half-up to whole minor units.
    * **Trend** (``trend``, at least two years): the least-squares line through
      (year, actual) extended to ``plan_year``, rounded half-up; a negative
      extrapolation is refused (``OUT_OF_RANGE``).

    ``amount_text`` formats an amount in minor units for the explanation.
    """
    if not totals:
        raise InvalidInputError("EMPTY_SET", "no past year to take the target from", "fromHistory")
    if all(t.total == 0 for t in totals):
        raise InvalidInputError(
            "NO_HISTORY",
            "no actuals are stored for "
            + ", ".join(f"FY{t.fiscal_year}" for t in totals)
            + "; import them first or give the target",
            "fromHistory",
        )
    listed = ", ".join(f"FY{t.fiscal_year} {amount_text(t.total)}" for t in totals)
    if trend:
        if len(totals) < 2:
            raise InvalidInputError(
                "INVALID_VALUE",
                "a trend needs at least two fiscal years",
                "fromHistory.fiscalYears",
            )
        xs = [Fraction(t.fiscal_year) for t in totals]
        ys = [Fraction(t.total) for t in totals]
        n = Fraction(len(xs))
        mx, my = sum(xs, Fraction(0)) / n, sum(ys, Fraction(0)) / n
        slope = sum(((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)), Fraction(0)) / sum(
            ((x - mx) ** 2 for x in xs), Fraction(0)
        )
        value = my + slope * (plan_year - mx)
        target = _half_up(value)
        if target < 0:
            raise InvalidInputError(
                "OUT_OF_RANGE",
                f"the linear trend of {listed} falls below zero by FY{plan_year}",
                "fromHistory",
            )
        explanation = (
            f"linear trend of the actuals {listed}: {amount_text(_half_up(slope))} a year, "
            f"extended to FY{plan_year}: {amount_text(target)}"
        )
        return TargetFromHistory(target, "TREND", tuple(totals), None, explanation)
    rate = growth if growth is not None else Decimal(0)
    if rate < -1:
        raise InvalidInputError(
            "OUT_OF_RANGE", "growth must be -1 (-100 %) or more", "fromHistory.growth"
        )
    last = totals[-1]
    target = _half_up(Fraction(last.total) * (1 + Fraction(rate)))
    explanation = (
        f"FY{last.fiscal_year} actuals {amount_text(last.total)} x (1 + {rate}) = "
        f"{amount_text(target)} for FY{plan_year}"
    )
    if len(totals) > 1:
        explanation += f" (actuals read: {listed})"
    return TargetFromHistory(target, "GROWTH", tuple(totals), rate, explanation)


def _half_up(value: Fraction) -> int:
    floor = value.numerator // value.denominator
    return floor + (1 if value - floor >= Fraction(1, 2) else 0)
