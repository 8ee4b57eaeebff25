"""Attainment rules (pure): target-to-date, forecasts, status boundaries, thresholds."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from service.domain.attainment import (
    DEFAULT_THRESHOLDS,
    Attainment,
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
from service.domain.attainment_rollup import Groups, RollNode, bounds_for, every_node, link, roll_up
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


def _reference(
    target: int,
    actual: int,
    period: Period,
    as_of: date,
    thresholds: Thresholds,
    time_children: list[tuple[int, Period]],
    history: list[History],
) -> Attainment:
    """The numbers as the rules define them, in fractions throughout (the previous
    implementation, kept as the reference for the integer one)."""
    elapsed = period.elapsed(as_of)
    ttd = target_to_date(target, period, as_of, time_children)
    seasonal = None
    if elapsed:
        years = [h for h in history if h.total != 0]
        to_date = sum(h.to_date for h in years)
        total = sum(h.total for h in years)
        if years and total > 0 and to_date > 0:
            seasonal = round_div(actual * total, to_date)
    pace = None if ttd == 0 else actual / ttd
    return Attainment(
        as_of=as_of,
        period=period,
        target=target,
        actual=actual,
        target_to_date=round(ttd),
        attainment=None if target == 0 else Fraction(actual, target),
        pace=pace,
        forecast=None if elapsed == 0 else round_div(actual * period.days, elapsed),
        seasonal_forecast=seasonal,
        status=status_of(pace, as_of >= period.start, thresholds),
    )


def test_integer_numbers_equal_the_fraction_reference_on_random_nodes() -> None:
    rnd = random.Random(7)
    for _ in range(3000):
        period = rnd.choice([YEAR, *Q])
        as_of = date(2026, 12, 1) + timedelta(days=rnd.randint(0, 430))
        target = rnd.choice([0, rnd.randint(1, 10**9), -rnd.randint(1, 1000)])
        actual = rnd.choice([0, rnd.randint(-1000, 10**9)])
        children = (
            [(rnd.randint(0, 10**6), q) for q in Q] if period == YEAR and rnd.random() < 0.3 else []
        )
        history = [
            History(to_date=rnd.randint(-50, 500), total=rnd.choice([0, rnd.randint(-100, 1000)]))
            for _ in range(rnd.randint(0, 3))
        ]
        at_risk = Decimal(rnd.randint(1, 100)) / 100
        thresholds = Thresholds(
            on_track=at_risk + Decimal(rnd.randint(0, 50)) / 100, at_risk=at_risk
        )
        got = node_attainment(
            target=target,
            actual=actual,
            period=period,
            as_of=as_of,
            thresholds=thresholds,
            time_children=children,
            history=history,
        )
        assert got == _reference(target, actual, period, as_of, thresholds, children, history)


def test_every_node_in_one_pass_equals_node_by_node() -> None:
    """The vector pass over a version's nodes gives each node what ``node_attainment``
    gives it from the node's own actual and history."""
    rnd = random.Random(3)
    as_of = date(2027, 5, 10)
    nodes = [RollNode(key=1, parent_key=None, member_id=None, time=False, period=YEAR, target=900)]
    nodes += [
        RollNode(key=10 + i, parent_key=1, member_id=100 + i, time=False, period=YEAR, target=t)
        for i, t in enumerate((500, 400, 0))
    ]
    nodes += [
        RollNode(key=20 + i, parent_key=10, member_id=None, time=True, period=q, target=125)
        for i, q in enumerate(Q)
    ]
    link(nodes)
    bounds = bounds_for({n.period for n in nodes}, as_of)
    combos = [[100], [101], [102], [100, 7], [103]]
    amounts = np.zeros((len(combos), len(bounds) + 1), dtype=np.int64)
    amounts[:, 1 : len(bounds)] = [
        [rnd.randint(-5, 300) for _ in range(len(bounds) - 1)] for _ in combos
    ]
    groups = Groups(bounds=bounds, ancestry=[frozenset(c) for c in combos], amounts=amounts)
    rolled = roll_up(nodes, groups)
    for thresholds in (DEFAULT_THRESHOLDS, Thresholds(on_track=Decimal("2"), at_risk=Decimal("1"))):
        every = every_node(nodes, rolled, as_of, thresholds)
        assert list(every) == [n.key for n in nodes]
        for n in nodes:
            one = node_attainment(
                target=n.target,
                actual=rolled.actual(n.key, n.period, as_of),
                period=n.period,
                as_of=as_of,
                thresholds=thresholds,
                time_children=n.time_children,
                history=rolled.history(n.key, n.period, as_of),
            )
            assert every[n.key] == one
    first, cut = bounds.index(YEAR.start), bounds.index(date(2027, 5, 11))
    assert rolled.actual(1, YEAR, as_of) == int(amounts[:, first + 1 : cut + 1].sum())
