"""Attainment rules (pure): target-to-date, forecasts, status boundaries, thresholds."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from service.domain.attainment import (
    DEFAULT_THRESHOLDS,
    History,
    Period,
    Status,
    Thresholds,
    node_attainment,
    round_div,
    status_of,
    target_to_date,
    thresholds_from,
    update_thresholds,
)
from service.domain.attainment_rollup import bounds_for
from service.domain.tree import InvalidInputError

YEAR = Period(date(2027, 1, 1), date(2028, 1, 1))
Q = [
    Period(date(2027, 1, 1), date(2027, 4, 1)),
    Period(date(2027, 4, 1), date(2027, 7, 1)),
    Period(date(2027, 7, 1), date(2027, 10, 1)),
    Period(date(2027, 10, 1), date(2028, 1, 1)),
]


def test_target_to_date_pro_rata_by_days_and_from_a_time_split() -> None:
    assert target_to_date(36500, YEAR, date(2027, 1, 1)) == 100  # the first day counts
    assert target_to_date(36500, YEAR, date(2026, 12, 31)) == 0
    assert target_to_date(36500, YEAR, date(2030, 1, 1)) == 36500
    children = [(1000, Q[0]), (3000, Q[1]), (0, Q[2]), (0, Q[3])]
    # Q1 closed (whole), Q2 10 of 91 days in, pro rata.
    assert target_to_date(4000, YEAR, date(2027, 4, 10), children) == 1000 + Fraction(3000 * 10, 91)


def test_status_boundaries_belong_to_the_better_status() -> None:
    t = Thresholds(on_track=Decimal("0.95"), at_risk=Decimal("0.80"))
    assert status_of(Fraction(95, 100), True, t) is Status.ON_TRACK
    assert status_of(Fraction(9499, 10000), True, t) is Status.AT_RISK
    assert status_of(Fraction(80, 100), True, t) is Status.AT_RISK
    assert status_of(Fraction(7999, 10000), True, t) is Status.BEHIND
    assert status_of(None, True, t) is Status.ON_TRACK
    assert status_of(Fraction(0), False, t) is Status.NOT_STARTED


def test_forecasts_linear_and_seasonal() -> None:
    a = node_attainment(
        target=36500,
        actual=9000,
        period=YEAR,
        as_of=date(2027, 3, 31),  # 90 days
        thresholds=DEFAULT_THRESHOLDS,
        history=[History(to_date=100, total=400), History(to_date=0, total=0)],
    )
    assert a.forecast == 36500  # 9000 * 365 / 90
    assert a.seasonal_forecast == 36000  # a quarter sold by then in the earlier year
    assert a.target_to_date == 9000 and a.pace == 1 and a.status is Status.ON_TRACK
    assert a.gap == 27500 and a.gap_to_date == 0


def test_round_div_is_half_to_even() -> None:
    assert [round_div(n, 2) for n in (1, 3, 5, 7)] == [0, 2, 2, 4]
    assert round_div(-3, 2) == -2


def test_thresholds_are_checked_and_stored_as_strings() -> None:
    t = update_thresholds(DEFAULT_THRESHOLDS, {"onTrackPace": "1", "alertPace": "0.5"})
    assert thresholds_from({"attainment": t.to_json()}) == t
    assert update_thresholds(t, {"onTrackPace": None}).on_track == Decimal("0.95")
    for bad in (
        {"atRiskPace": "0.99", "onTrackPace": "0.9"},
        {"alertPace": "0"},
        {"alertPace": "x"},
        {"nope": "1"},
        {"onTrackPace": "11"},
    ):
        with pytest.raises(InvalidInputError):
            update_thresholds(DEFAULT_THRESHOLDS, bad)


def test_bucket_bounds_cover_periods_asof_and_earlier_years() -> None:
    bounds = bounds_for([YEAR, Q[0]], date(2027, 2, 14), years=1)
    assert date(2027, 2, 15) in bounds and date(2026, 2, 15) in bounds
    assert bounds[0] == date(2026, 1, 1) and bounds[-1] == date(2028, 1, 1)
    assert bounds == sorted(set(bounds))
