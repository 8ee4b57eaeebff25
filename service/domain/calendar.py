"""Fiscal calendars: the time dimension of a plan, generated from a few settings.

A calendar is the tree year → quarter → month (or retail period) → week. Every
member has a half-open date range ``[start, end)`` and the children of every
member partition it exactly: the first child starts with its parent, each child
ends where the next one starts and the last ends with the parent.

Fiscal year naming
    ``FYnnnn`` is named after the calendar year of its *nominal last month*, the
    month before ``start_month`` (December when ``start_month == 1``). So with
    ``start_month=1`` FY2027 is calendar 2027, and with ``start_month=4`` FY2027
    is ``[2026-04-01, 2027-04-01)``: the fiscal year that ends in 2027. Retail
    calendars use the same name as the Gregorian calendar with the same start
    month, so switching a plan's pattern never shifts its year by one. This is
    the "named by its end" convention (Walmart, Apple); the NRF names a
    February-start year by the year it starts in, so NRF "fiscal 2024"
    (2024-02-04 .. 2025-02-01) is ``FY2025`` here with ``start_month=2``.

Gregorian calendars (``PeriodPattern.GREGORIAN``)
    Months are calendar months, the year starts on the 1st of ``start_month``,
    a quarter is three months. Years have 365 or 366 days.

Retail calendars (4-4-5, 4-5-4, 5-4-4)
    Years, quarters, periods and weeks are whole weeks starting on
    ``week_start``. The year ends on the weekday before ``week_start`` (Saturday
    when weeks start on Sunday) that is

    * ``YearEnd.NEAREST`` (default, NRF style): nearest to the last day of the
      nominal last month (at most 3 days before or after it);
    * ``YearEnd.LAST``: the last such weekday on or before that day.

    The next year starts the day after. A year therefore has 52 weeks (364
    days), or 53 weeks (371 days) when the rule pushes the end a week further.
    Each quarter has three periods with 4/4/5, 4/5/4 or 5/4/4 weeks (13 weeks).
    **The 53rd week is added to the last period of the year** (period 12, the
    NRF practice): 4-4-5 becomes 4-4-6, 4-5-4 becomes 4-5-5 and 5-4-4 becomes
    5-4-5 in the fourth quarter, which then has 14 weeks. With ``start_month=1``,
    ``week_start=0`` (Monday) and ``NEAREST`` the years and weeks are exactly
    the ISO 8601 week-numbering years and weeks.

Codes
    ``FY2027``, ``FY2027-Q1`` .. ``Q4``, ``FY2027-M01`` .. ``M12`` (fiscal month
    or period number, not the calendar month) and ``FY2027-W01`` .. weeks
    numbered within the fiscal year. Within a level, codes sort
    lexicographically in time order, also across fiscal years (years are four
    digits, 1900..2999).

Weeks
    Weeks start on ``week_start`` (0 = Monday .. 6 = Sunday). Retail weeks are
    always whole (7 days), ``W01`` .. ``W52`` or ``W53``. **Gregorian weeks are
    cut at month boundaries so that they nest under months exactly**: week
    ``n`` is the ``n``-th 7-day span aligned on ``week_start`` that overlaps the
    fiscal year (``W01`` is the one holding the first day of the year, so the
    first and last weeks may be short; a year has 53 or 54 of them). A week that
    crosses a month boundary inside the year becomes two partial weeks, coded
    with the same number and the suffixes ``a`` (the part in the earlier month)
    and ``b`` (the later month), e.g. ``FY2027-W05a`` and ``FY2027-W05b``; a
    week that is not split has no suffix. Codes stay unique and sortable
    (``W05`` never coexists with ``W05a``; ``W05a < W05b < W06``).

Members come from ``generate_calendar`` in level order: the year, the four
quarters, the twelve months, then the weeks, each level sorted by start, so
parents always come before their children. ``sort_order`` is the 1-based
position among siblings (the year has 1).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from service.domain.errors import DomainError

MIN_FISCAL_YEAR = 1900
MAX_FISCAL_YEAR = 2999

_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEK = timedelta(days=7)


class PeriodPattern(StrEnum):
    """How a fiscal year is cut into twelve months or periods."""

    GREGORIAN = "GREGORIAN"
    """Calendar months."""
    P445 = "P445"
    """Retail periods of 4, 4 and 5 weeks in each quarter."""
    P454 = "P454"
    """Retail periods of 4, 5 and 4 weeks in each quarter (NRF)."""
    P544 = "P544"
    """Retail periods of 5, 4 and 4 weeks in each quarter."""


class YearEnd(StrEnum):
    """Which weekday ends a retail year (see the module docstring)."""

    NEAREST = "NEAREST"
    """The week's last weekday nearest to the end of the nominal last month (NRF)."""
    LAST = "LAST"
    """The last such weekday on or before the end of the nominal last month."""


class TimeLevel(StrEnum):
    """The levels of a calendar, from the root down."""

    YEAR = "YEAR"
    QUARTER = "QUARTER"
    MONTH = "MONTH"
    """A calendar month, or a retail period of 4, 5 (or 6) weeks."""
    WEEK = "WEEK"
    """A week; Gregorian weeks are cut at month boundaries (partial weeks)."""


_DEPTH = {TimeLevel.YEAR: 0, TimeLevel.QUARTER: 1, TimeLevel.MONTH: 2, TimeLevel.WEEK: 3}

_PERIOD_WEEKS = {
    PeriodPattern.P445: (4, 4, 5),
    PeriodPattern.P454: (4, 5, 4),
    PeriodPattern.P544: (5, 4, 4),
}


class InvalidCalendarError(DomainError):
    """A calendar setting out of range (code ``INVALID_VALUE``)."""


def _invalid(field: str, message: str, value: Any, **extra: Any) -> InvalidCalendarError:
    details: dict[str, Any] = {"field": field}
    if isinstance(value, (int, str)):
        details["value"] = value
    details.update(extra)
    return InvalidCalendarError("INVALID_VALUE", message, details)


def _check_int(value: object, field: str, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(field, f"{field} must be a whole number, got {value!r}", None)
    if not low <= value <= high:
        raise _invalid(
            field,
            f"{field} must be between {low} and {high}, got {value}",
            value,
            min=low,
            max=high,
        )


@dataclass(frozen=True, slots=True)
class CalendarSpec:
    """The settings a plan's time dimension is generated from.

    ``fiscal_year`` names the year by its nominal last month (module docstring);
    ``start_month`` (1..12) is the first month of the fiscal year; ``weeks``
    adds a week level; ``week_start`` (0 = Monday .. 6 = Sunday) is the first
    day of every week and, for retail patterns, of the year (which ends on the
    day before, chosen by ``year_end``). Invalid values raise
    ``InvalidCalendarError`` (a ``DomainError``, code ``INVALID_VALUE``) whose
    ``details["field"]`` is the GraphQL input path (``fiscalYear``,
    ``calendar.startMonth``, ``calendar.pattern``, ``calendar.weekStart``,
    ``calendar.weeks``, ``calendar.yearEnd``). Strings are accepted for
    ``pattern`` and ``year_end`` and converted to the enums.
    """

    fiscal_year: int
    start_month: int
    pattern: PeriodPattern = PeriodPattern.GREGORIAN
    weeks: bool = False
    week_start: int = 0
    year_end: YearEnd = YearEnd.NEAREST

    def __post_init__(self) -> None:
        _check_int(self.fiscal_year, "fiscalYear", MIN_FISCAL_YEAR, MAX_FISCAL_YEAR)
        _check_int(self.start_month, "calendar.startMonth", 1, 12)
        _check_int(self.week_start, "calendar.weekStart", 0, 6)
        if not isinstance(self.weeks, bool):
            raise _invalid(
                "calendar.weeks", f"calendar.weeks must be true or false, got {self.weeks!r}", None
            )
        try:
            pattern = PeriodPattern(self.pattern)
        except ValueError:
            allowed = [p.value for p in PeriodPattern]
            raise _invalid(
                "calendar.pattern",
                f"calendar.pattern must be one of {', '.join(allowed)}, got {self.pattern!r}",
                self.pattern,
                allowed=allowed,
            ) from None
        try:
            year_end = YearEnd(self.year_end)
        except ValueError:
            allowed = [y.value for y in YearEnd]
            raise _invalid(
                "calendar.yearEnd",
                f"calendar.yearEnd must be one of {', '.join(allowed)}, got {self.year_end!r}",
                self.year_end,
                allowed=allowed,
            ) from None
        object.__setattr__(self, "pattern", pattern)
        object.__setattr__(self, "year_end", year_end)

    @property
    def retail(self) -> bool:
        """True for the 4-4-5, 4-5-4 and 5-4-4 patterns."""
        return self.pattern is not PeriodPattern.GREGORIAN


@dataclass(frozen=True, slots=True)
class TimeMember:
    """One member of a calendar: ``[start, end)``, ``end`` exclusive."""

    code: str
    name: str
    level: TimeLevel
    start: date
    end: date
    parent_code: str | None
    sort_order: int

    @property
    def days(self) -> int:
        """Number of days, ``end - start``."""
        return (self.end - self.start).days

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end


def _add_months(day: date, months: int) -> date:
    """The first of the month ``months`` after ``day``'s month (``day`` is a 1st)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _gregorian_bounds(fiscal_year: int, start_month: int) -> tuple[date, date]:
    end_year = fiscal_year + 1 if start_month == 1 else fiscal_year
    end = date(end_year, start_month, 1)
    return date(end_year - 1, start_month, 1), end


def _retail_end(fiscal_year: int, spec: CalendarSpec) -> date:
    """Exclusive end of retail ``fiscal_year``: the day after its last day."""
    anchor = _gregorian_bounds(fiscal_year, spec.start_month)[1] - timedelta(days=1)
    last_weekday = (spec.week_start - 1) % 7
    if spec.year_end is YearEnd.NEAREST:
        shift = (last_weekday - anchor.weekday() + 3) % 7 - 3  # -3..3
    else:
        shift = -((anchor.weekday() - last_weekday) % 7)  # -6..0
    return anchor + timedelta(days=shift + 1)


def fiscal_year_bounds(spec: CalendarSpec) -> tuple[date, date]:
    """``(start, end)`` of the fiscal year, ``end`` exclusive."""
    if spec.retail:
        return _retail_end(spec.fiscal_year - 1, spec), _retail_end(spec.fiscal_year, spec)
    return _gregorian_bounds(spec.fiscal_year, spec.start_month)


def _fmt_range(start: date, end: date) -> str:
    return f"{start.isoformat()} to {(end - timedelta(days=1)).isoformat()}"


def generate_calendar(spec: CalendarSpec) -> list[TimeMember]:
    """All members of the fiscal year ``spec`` describes, in level order.

    Order: the year, its quarters, its months (retail periods), then its weeks
    if ``spec.weeks``; each level sorted by start, so parents come before
    children. Codes, the 53-week rule and the coding of Gregorian partial weeks
    (weeks cut at month boundaries, ``W05a``/``W05b``) are described in the
    module docstring.
    """
    fy = f"FY{spec.fiscal_year:04d}"
    start, end = fiscal_year_bounds(spec)
    nominal_start = _gregorian_bounds(spec.fiscal_year, spec.start_month)[0]

    if spec.retail:
        weeks_per_period = list(_PERIOD_WEEKS[spec.pattern] * 4)
        year_weeks = (end - start).days // 7
        weeks_per_period[-1] += year_weeks - 52
        edges = [start]
        for count in weeks_per_period:
            edges.append(edges[-1] + count * _WEEK)
    else:
        weeks_per_period = []
        edges = [_add_months(nominal_start, i) for i in range(13)]

    members = [TimeMember(fy, fy, TimeLevel.YEAR, start, end, None, 1)]
    for q in range(4):
        members.append(
            TimeMember(
                f"{fy}-Q{q + 1}",
                f"{fy} Q{q + 1}",
                TimeLevel.QUARTER,
                edges[3 * q],
                edges[3 * q + 3],
                fy,
                q + 1,
            )
        )
    months: list[TimeMember] = []
    for m in range(12):
        nominal = _add_months(nominal_start, m)
        label = f"{_MONTH_ABBR[nominal.month - 1]} {nominal.year}"
        if spec.retail:
            label += f", {weeks_per_period[m]} weeks"
        months.append(
            TimeMember(
                f"{fy}-M{m + 1:02d}",
                f"{fy} M{m + 1:02d} ({label})",
                TimeLevel.MONTH,
                edges[m],
                edges[m + 1],
                f"{fy}-Q{m // 3 + 1}",
                m % 3 + 1,
            )
        )
    members.extend(months)
    if spec.weeks:
        members.extend(
            _retail_weeks(fy, months) if spec.retail else _gregorian_weeks(fy, months, spec)
        )
    return members


def _retail_weeks(fy: str, months: list[TimeMember]) -> list[TimeMember]:
    weeks: list[TimeMember] = []
    for month in months:
        day, position = month.start, 1
        while day < month.end:
            number = len(weeks) + 1
            weeks.append(
                TimeMember(
                    f"{fy}-W{number:02d}",
                    f"{fy} W{number:02d} ({_fmt_range(day, day + _WEEK)})",
                    TimeLevel.WEEK,
                    day,
                    day + _WEEK,
                    month.code,
                    position,
                )
            )
            day += _WEEK
            position += 1
    return weeks


def _gregorian_weeks(fy: str, months: list[TimeMember], spec: CalendarSpec) -> list[TimeMember]:
    year_start = months[0].start
    first_week = year_start - timedelta(days=(year_start.weekday() - spec.week_start) % 7)
    # (week number, start, end, month) for every piece of a week inside one month.
    pieces: list[tuple[int, date, date, TimeMember]] = []
    for month in months:
        day = month.start
        while day < month.end:
            number = (day - first_week).days // 7 + 1
            piece_end = min(first_week + number * _WEEK, month.end)
            pieces.append((number, day, piece_end, month))
            day = piece_end
    split = Counter(number for number, *_ in pieces)
    seen: set[int] = set()
    weeks: list[TimeMember] = []
    position = 0
    for number, start, end, month in pieces:
        suffix = ""
        if split[number] > 1:
            suffix = "b" if number in seen else "a"
        seen.add(number)
        position = 1 if start == month.start else position + 1
        tag = f"W{number:02d}{suffix}"
        weeks.append(
            TimeMember(
                f"{fy}-{tag}",
                f"{fy} {tag} ({_fmt_range(start, end)})",
                TimeLevel.WEEK,
                start,
                end,
                month.code,
                position,
            )
        )
    return weeks


def member_for_date(
    members: Sequence[TimeMember], day: date, level: TimeLevel
) -> TimeMember | None:
    """The member of ``level`` whose ``[start, end)`` holds ``day``, or ``None``.

    Binary search: ``members`` must be sorted by (level depth, start), as the
    output of ``generate_calendar`` is (and so is any one level of it, or a
    level's members of several consecutive years sorted by start).
    """
    target = (_DEPTH[level], day)
    index = bisect_right(members, target, key=lambda m: (_DEPTH[m.level], m.start)) - 1
    if index < 0:
        return None
    candidate = members[index]
    if candidate.level is level and candidate.contains(day):
        return candidate
    return None
