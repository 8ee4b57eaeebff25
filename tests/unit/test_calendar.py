"""Fiscal calendar generation (service.domain.calendar)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.calendar import (
    CalendarSpec,
    PeriodPattern,
    TimeLevel,
    TimeMember,
    YearEnd,
    fiscal_year_bounds,
    generate_calendar,
    member_for_date,
)
from service.domain.errors import DomainError

RETAIL = [PeriodPattern.P445, PeriodPattern.P454, PeriodPattern.P544]
PERIOD_WEEKS = {
    PeriodPattern.P445: (4, 4, 5),
    PeriodPattern.P454: (4, 5, 4),
    PeriodPattern.P544: (5, 4, 4),
}
LEVELS = [TimeLevel.YEAR, TimeLevel.QUARTER, TimeLevel.MONTH, TimeLevel.WEEK]
# Leap years (2000, 2024, 2028), a non-leap century (1900, 2100), the range ends,
# and the NRF 53-week years (fiscal 2012, 2017, 2023 are FY2013, FY2018, FY2024 here).
YEARS = [1900, 1999, 2000, 2013, 2018, 2023, 2024, 2025, 2027, 2028, 2100, 2999]
WEEK_CODE = re.compile(r"^FY\d{4}-W(\d{2})([ab]?)$")


def by_level(members: list[TimeMember]) -> dict[TimeLevel, list[TimeMember]]:
    levels: dict[TimeLevel, list[TimeMember]] = defaultdict(list)
    for member in members:
        levels[member.level].append(member)
    return levels


def check_calendar(spec: CalendarSpec, members: list[TimeMember]) -> None:
    """Every invariant a generated calendar must hold."""
    levels = by_level(members)
    fy = f"FY{spec.fiscal_year}"
    (year,) = levels[TimeLevel.YEAR]
    assert year.code == fy and year.parent_code is None
    assert (year.start, year.end) == fiscal_year_bounds(spec)
    assert len(levels[TimeLevel.QUARTER]) == 4
    assert len(levels[TimeLevel.MONTH]) == 12
    assert bool(levels[TimeLevel.WEEK]) == spec.weeks

    # Level order, parents before children.
    depth = [LEVELS.index(m.level) for m in members]
    assert depth == sorted(depth)
    seen: set[str] = set()
    for member in members:
        assert member.parent_code is None or member.parent_code in seen
        seen.add(member.code)

    codes = [m.code for m in members]
    assert len(codes) == len(set(codes))
    for level, items in levels.items():
        starts = [m.start for m in items]
        assert starts == sorted(starts), level
        assert [m.code for m in items] == sorted(m.code for m in items), level
        for member in items:
            assert member.days > 0
            assert member.start < member.end
            assert member.code.startswith(fy)

    # Children partition each parent exactly; sort_order is 1..n by start.
    children: dict[str, list[TimeMember]] = defaultdict(list)
    for member in members:
        if member.parent_code is not None:
            children[member.parent_code].append(member)
    parents = {m.code: m for m in members}
    for member in members:
        if member.level is TimeLevel.WEEK:
            assert member.code not in children
            continue
        if member.level is TimeLevel.MONTH and not spec.weeks:
            assert member.code not in children
            continue
        kids = sorted(children[member.code], key=lambda m: m.start)
        assert kids, member.code
        assert kids[0].start == member.start
        for left, right in pairwise(kids):
            assert left.end == right.start
        assert kids[-1].end == member.end
        assert [k.sort_order for k in kids] == list(range(1, len(kids) + 1))
        assert all(LEVELS.index(k.level) == LEVELS.index(member.level) + 1 for k in kids)
    for code in children:
        assert code in parents, code

    assert [m.code for m in levels[TimeLevel.QUARTER]] == [f"{fy}-Q{q}" for q in range(1, 5)]
    assert [m.code for m in levels[TimeLevel.MONTH]] == [f"{fy}-M{m:02d}" for m in range(1, 13)]

    if spec.pattern is PeriodPattern.GREGORIAN:
        check_gregorian(spec, levels)
    else:
        check_retail(spec, levels)


def check_gregorian(spec: CalendarSpec, levels: dict[TimeLevel, list[TimeMember]]) -> None:
    (year,) = levels[TimeLevel.YEAR]
    assert year.days in (365, 366)
    assert year.start.day == 1 and year.start.month == spec.start_month
    end_year = spec.fiscal_year + (1 if spec.start_month == 1 else 0)
    assert year.end == date(end_year, spec.start_month, 1)
    for index, month in enumerate(levels[TimeLevel.MONTH]):
        assert month.start.day == 1
        assert month.start.month == (spec.start_month - 1 + index) % 12 + 1
        assert 28 <= month.days <= 31
    for quarter in levels[TimeLevel.QUARTER]:
        assert 89 <= quarter.days <= 92
    if not spec.weeks:
        return
    weeks = levels[TimeLevel.WEEK]
    months = {m.code: m for m in levels[TimeLevel.MONTH]}
    pieces: dict[int, list[TimeMember]] = defaultdict(list)
    for week in weeks:
        match = WEEK_CODE.match(week.code)
        assert match, week.code
        number, suffix = int(match[1]), match[2]
        pieces[number].append(week)
        month = months[week.parent_code or ""]
        assert 1 <= week.days <= 7
        # A (partial) week starts on week_start or where its month starts, and
        # ends on the next week_start or where its month ends.
        assert week.start.weekday() == spec.week_start or week.start == month.start
        assert week.end.weekday() == spec.week_start or week.end == month.end
        if week.days < 7:
            assert week.start == month.start or week.end == month.end
        if suffix:
            assert week.days < 7
    numbers = sorted(pieces)
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) in (53, 54)
    for number, parts in pieces.items():
        assert 1 <= len(parts) <= 2
        total = sum(p.days for p in parts)
        if 1 < number < len(numbers):
            assert total == 7  # only the year's first and last weeks may be short
        if len(parts) == 2:
            assert [p.code[-1] for p in parts] == ["a", "b"]
            assert parts[0].end == parts[1].start
            assert parts[0].parent_code != parts[1].parent_code
        else:
            assert parts[0].code.endswith(f"W{number:02d}")


def check_retail(spec: CalendarSpec, levels: dict[TimeLevel, list[TimeMember]]) -> None:
    (year,) = levels[TimeLevel.YEAR]
    assert year.days in (364, 371)
    long_year = year.days == 371
    # The year ends on the day before week_start, nearest to (or last on or
    # before) the last day of the month before start_month.
    nominal_end = date(spec.fiscal_year + (spec.start_month == 1), spec.start_month, 1)
    last_day = year.end - timedelta(days=1)
    assert last_day.weekday() == (spec.week_start - 1) % 7
    anchor = nominal_end - timedelta(days=1)
    if spec.year_end is YearEnd.NEAREST:
        assert abs((last_day - anchor).days) <= 3
    else:
        assert 0 <= (anchor - last_day).days <= 6
    for member in (m for items in levels.values() for m in items):
        assert member.start.weekday() == spec.week_start
        assert member.days % 7 == 0
    expected = list(PERIOD_WEEKS[spec.pattern] * 4)
    if long_year:
        expected[-1] += 1  # the 53rd week goes to the last period
    assert [m.days // 7 for m in levels[TimeLevel.MONTH]] == expected
    assert [q.days // 7 for q in levels[TimeLevel.QUARTER]] == [13, 13, 13, 14 if long_year else 13]
    if spec.weeks:
        weeks = levels[TimeLevel.WEEK]
        assert len(weeks) == (53 if long_year else 52)
        assert [w.code for w in weeks] == [
            f"FY{spec.fiscal_year}-W{n:02d}" for n in range(1, len(weeks) + 1)
        ]
        assert all(w.days == 7 for w in weeks)


@pytest.mark.parametrize("pattern", list(PeriodPattern))
@pytest.mark.parametrize("start_month", range(1, 13))
def test_every_calendar_partitions_exactly(pattern: PeriodPattern, start_month: int) -> None:
    for fiscal_year in YEARS:
        for weeks in (False, True):
            for week_start in (0, 3, 6):
                for year_end in YearEnd if pattern is not PeriodPattern.GREGORIAN else [None]:
                    extra: dict[str, Any] = {"year_end": year_end} if year_end else {}
                    spec = CalendarSpec(
                        fiscal_year, start_month, pattern, weeks, week_start, **extra
                    )
                    check_calendar(spec, generate_calendar(spec))


@pytest.mark.parametrize("pattern", list(PeriodPattern))
@pytest.mark.parametrize("start_month", range(1, 13))
@pytest.mark.parametrize("year_end", list(YearEnd))
def test_consecutive_years_abut(
    pattern: PeriodPattern, start_month: int, year_end: YearEnd
) -> None:
    previous: date | None = None
    for fiscal_year in range(1990, 2041):
        spec = CalendarSpec(fiscal_year, start_month, pattern, week_start=6, year_end=year_end)
        start, end = fiscal_year_bounds(spec)
        year = generate_calendar(spec)[0]
        assert (year.start, year.end) == (start, end)
        if previous is not None:
            assert start == previous
        previous = end


@pytest.mark.parametrize("start_month", range(1, 13))
@pytest.mark.parametrize("week_start", range(7))
@pytest.mark.parametrize("year_end", list(YearEnd))
def test_53_week_years_occur_every_5_or_6_years(
    start_month: int, week_start: int, year_end: YearEnd
) -> None:
    long_years = []
    for fiscal_year in range(1950, 2101):
        spec = CalendarSpec(
            fiscal_year, start_month, PeriodPattern.P445, True, week_start, year_end
        )
        members = generate_calendar(spec)
        if members[0].days == 371:
            long_years.append(fiscal_year)
            check_calendar(spec, members)
    assert long_years
    gaps = {b - a for a, b in pairwise(long_years)}
    assert gaps <= {5, 6}


def test_gregorian_known_answers() -> None:
    members = generate_calendar(CalendarSpec(2027, 4))
    assert (members[0].start, members[0].end) == (date(2026, 4, 1), date(2027, 4, 1))
    assert members[0].code == "FY2027"
    months = by_level(members)[TimeLevel.MONTH]
    assert (months[0].code, months[0].name) == ("FY2027-M01", "FY2027 M01 (Apr 2026)")
    assert (months[9].start, months[11].end) == (date(2027, 1, 1), date(2027, 4, 1))
    quarters = by_level(members)[TimeLevel.QUARTER]
    assert (quarters[0].name, quarters[0].end) == ("FY2027 Q1", date(2026, 7, 1))

    leap = generate_calendar(CalendarSpec(2024, 1))
    assert (leap[0].start, leap[0].end, leap[0].days) == (date(2024, 1, 1), date(2025, 1, 1), 366)
    assert by_level(leap)[TimeLevel.MONTH][1].days == 29
    march = generate_calendar(CalendarSpec(2024, 3))[0]  # holds 2024-02-29
    assert (march.start, march.end, march.days) == (date(2023, 3, 1), date(2024, 3, 1), 366)
    assert generate_calendar(CalendarSpec(2100, 3))[0].days == 365  # 2100 is not leap


def test_gregorian_partial_weeks_known_answer() -> None:
    # FY2027 from April, weeks from Monday: 2026-04-01 is a Wednesday.
    weeks = by_level(generate_calendar(CalendarSpec(2027, 4, weeks=True)))[TimeLevel.WEEK]
    first = [(w.code, w.start, w.end, w.parent_code) for w in weeks[:6]]
    assert first == [
        ("FY2027-W01", date(2026, 4, 1), date(2026, 4, 6), "FY2027-M01"),
        ("FY2027-W02", date(2026, 4, 6), date(2026, 4, 13), "FY2027-M01"),
        ("FY2027-W03", date(2026, 4, 13), date(2026, 4, 20), "FY2027-M01"),
        ("FY2027-W04", date(2026, 4, 20), date(2026, 4, 27), "FY2027-M01"),
        ("FY2027-W05a", date(2026, 4, 27), date(2026, 5, 1), "FY2027-M01"),
        ("FY2027-W05b", date(2026, 5, 1), date(2026, 5, 4), "FY2027-M02"),
    ]
    assert weeks[4].name == "FY2027 W05a (2026-04-27 to 2026-04-30)"
    assert (weeks[-1].code, weeks[-1].start, weeks[-1].end) == (
        "FY2027-W53",
        date(2027, 3, 29),
        date(2027, 4, 1),
    )


def nrf(fiscal_year: int, **kwargs: Any) -> list[TimeMember]:
    """NRF 4-5-4: February start, weeks Sunday..Saturday, year end nearest Jan 31."""
    return generate_calendar(
        CalendarSpec(fiscal_year, 2, PeriodPattern.P454, week_start=6, **kwargs)
    )


def test_nrf_454_fiscal_2024() -> None:
    # NRF fiscal 2024 (named by its start year by the NRF; FY2025 here, named by
    # its end): Sunday 2024-02-04 .. Saturday 2025-02-01, 52 weeks. 2025-01-31
    # is a Friday, the nearest Saturday is 2025-02-01. Q1 ends Saturday 2024-05-04.
    members = nrf(2025, weeks=True)
    year = members[0]
    assert (year.code, year.start, year.end, year.days) == (
        "FY2025",
        date(2024, 2, 4),
        date(2025, 2, 2),
        364,
    )
    levels = by_level(members)
    assert levels[TimeLevel.QUARTER][0].end == date(2024, 5, 5)
    assert [m.days // 7 for m in levels[TimeLevel.MONTH]] == [4, 5, 4] * 4
    assert levels[TimeLevel.MONTH][0].name == "FY2025 M01 (Feb 2024, 4 weeks)"
    assert len(levels[TimeLevel.WEEK]) == 52


def test_nrf_454_fiscal_2023_has_53_weeks() -> None:
    # NRF fiscal 2023: Sunday 2023-01-29 .. Saturday 2024-02-03 (2024-01-31 is a
    # Wednesday; Saturday 2024-02-03 is 3 days after it, 2024-01-27 is 4 before).
    # The 53rd week goes to the last period (January): 4-5-4 -> 4-5-5, Q4 has 14
    # weeks (2023-10-29 .. 2024-02-03).
    members = nrf(2024, weeks=True)
    year = members[0]
    assert (year.start, year.end, year.days) == (date(2023, 1, 29), date(2024, 2, 4), 371)
    levels = by_level(members)
    q4 = levels[TimeLevel.QUARTER][3]
    assert (q4.start, q4.end, q4.days // 7) == (date(2023, 10, 29), date(2024, 2, 4), 14)
    last = levels[TimeLevel.MONTH][11]
    assert (last.start, last.end, last.days // 7) == (date(2023, 12, 31), date(2024, 2, 4), 5)
    assert levels[TimeLevel.WEEK][-1].code == "FY2024-W53"
    # NRF 53-week years between fiscal 2009 and 2025: 2012, 2017, 2023.
    long_years = [fy for fy in range(2010, 2027) if nrf(fy)[0].days == 371]
    assert long_years == [2013, 2018, 2024]


def test_445_53rd_week_makes_446() -> None:
    spec = CalendarSpec(2024, 2, PeriodPattern.P445, week_start=6)
    months = by_level(generate_calendar(spec))[TimeLevel.MONTH]
    assert [m.days // 7 for m in months] == [4, 4, 5] * 3 + [4, 4, 6]


def test_last_saturday_of_september() -> None:
    # Year ending on the last Saturday of September (Apple's rule): fiscal 2024 is
    # 2023-10-01 .. 2024-09-28 (52 weeks), fiscal 2023 is 2022-09-25 .. 2023-09-30
    # (53 weeks).
    def bounds(fiscal_year: int) -> tuple[date, date]:
        spec = CalendarSpec(
            fiscal_year, 10, PeriodPattern.P445, week_start=6, year_end=YearEnd.LAST
        )
        return fiscal_year_bounds(spec)

    assert bounds(2024) == (date(2023, 10, 1), date(2024, 9, 29))
    assert bounds(2023) == (date(2022, 9, 25), date(2023, 10, 1))


@pytest.mark.parametrize("pattern", RETAIL)
def test_monday_january_nearest_is_iso_8601(pattern: PeriodPattern) -> None:
    for fiscal_year in range(1990, 2041):
        members = generate_calendar(CalendarSpec(fiscal_year, 1, pattern, weeks=True))
        weeks = by_level(members)[TimeLevel.WEEK]
        assert members[0].start == date.fromisocalendar(fiscal_year, 1, 1)
        assert members[0].end == date.fromisocalendar(fiscal_year + 1, 1, 1)
        for number, week in enumerate(weeks, start=1):
            assert week.start == date.fromisocalendar(fiscal_year, number, 1)


def test_spec_coerces_strings() -> None:
    spec = CalendarSpec(2027, 1, "P445", year_end="LAST")  # type: ignore[arg-type]
    assert spec.pattern is PeriodPattern.P445
    assert spec.year_end is YearEnd.LAST
    assert spec.retail
    assert not CalendarSpec(2027, 1).retail


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start_month": 0}, "calendar.startMonth"),
        ({"start_month": 13}, "calendar.startMonth"),
        ({"start_month": "4"}, "calendar.startMonth"),
        ({"fiscal_year": 1899}, "fiscalYear"),
        ({"fiscal_year": 3000}, "fiscalYear"),
        ({"fiscal_year": True}, "fiscalYear"),
        ({"pattern": "P446"}, "calendar.pattern"),
        ({"pattern": None}, "calendar.pattern"),
        ({"week_start": -1}, "calendar.weekStart"),
        ({"week_start": 7}, "calendar.weekStart"),
        ({"weeks": "yes"}, "calendar.weeks"),
        ({"year_end": "FIRST"}, "calendar.yearEnd"),
    ],
)
def test_invalid_spec(kwargs: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {"fiscal_year": 2027, "start_month": 4, **kwargs}
    with pytest.raises(DomainError) as info:
        CalendarSpec(**values)
    assert info.value.code == "INVALID_VALUE"
    assert info.value.details["field"] == field
    assert field in info.value.message


def test_member_for_date_edges() -> None:
    members = generate_calendar(CalendarSpec(2027, 4, weeks=True))
    assert member_for_date(members, date(2026, 3, 31), TimeLevel.YEAR) is None
    assert member_for_date(members, date(2027, 4, 1), TimeLevel.MONTH) is None
    assert member_for_date([], date(2026, 4, 1), TimeLevel.YEAR) is None
    found = member_for_date(members, date(2026, 4, 30), TimeLevel.WEEK)
    assert found is not None and found.code == "FY2027-W05a"
    found = member_for_date(members, date(2026, 5, 1), TimeLevel.WEEK)
    assert found is not None and found.code == "FY2027-W05b"
    found = member_for_date(members, date(2027, 3, 31), TimeLevel.QUARTER)
    assert found is not None and found.code == "FY2027-Q4"
    months = by_level(members)[TimeLevel.MONTH]
    found = member_for_date(months, date(2026, 12, 25), TimeLevel.MONTH)
    assert found is not None and found.code == "FY2027-M09"
    assert member_for_date(months, date(2026, 12, 25), TimeLevel.WEEK) is None


specs = st.builds(
    CalendarSpec,
    fiscal_year=st.integers(1900, 2999),
    start_month=st.integers(1, 12),
    pattern=st.sampled_from(list(PeriodPattern)),
    weeks=st.booleans(),
    week_start=st.integers(0, 6),
    year_end=st.sampled_from(list(YearEnd)),
)


@settings(max_examples=300, deadline=None)
@given(spec=specs, offsets=st.lists(st.integers(-10, 380), min_size=1, max_size=10))
def test_random_calendars(spec: CalendarSpec, offsets: list[int]) -> None:
    members = generate_calendar(spec)
    check_calendar(spec, members)
    for offset in offsets:
        day = members[0].start + timedelta(days=offset)
        for level in LEVELS:
            expected = [m for m in members if m.level is level and m.start <= day < m.end]
            assert len(expected) <= 1
            assert member_for_date(members, day, level) == (expected[0] if expected else None)


def test_codes_sort_across_years() -> None:
    for level in LEVELS:
        codes: list[str] = []
        starts: list[date] = []
        for fiscal_year in (2026, 2027, 2028):
            for member in generate_calendar(CalendarSpec(fiscal_year, 7, weeks=True)):
                if member.level is level:
                    codes.append(member.code)
                    starts.append(member.start)
        assert codes == sorted(codes)
        assert starts == sorted(starts)
        assert Counter(codes).most_common(1)[0][1] == 1
