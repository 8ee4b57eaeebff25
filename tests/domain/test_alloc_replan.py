"""Re-plan the remainder of the year from the actuals of the closed periods."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from service.domain.allocation import (
    AdjustmentKind,
    AllocationError,
    AllocationErrorCode,
    InfeasibleAllocationError,
    OvershootRule,
    PeriodInput,
    replan_remainder,
)
from tests.domain.strategies import PROFILE

Q = [PeriodInput("Q1", 250), PeriodInput("Q2", 250), PeriodInput("Q3", 300), PeriodInput("Q4", 200)]


def closed(period: PeriodInput, actual: int) -> PeriodInput:
    return PeriodInput(period.key, period.target, actual, True, period.weight, period.locked)


def test_gap_is_spread_over_open_periods_by_their_targets() -> None:
    # year 1000; Q1 closed at 150: gap 850 over Q2..Q4 as 250:300:200 -> 283.33/340/226.67
    result = replan_remainder([closed(Q[0], 150), *Q[1:]])
    assert list(result.amounts) == [150, 283, 340, 227]
    assert result.total == result.original_total == 1000
    assert (result.actual_to_date, result.gap, result.overshoot) == (150, 850, False)
    assert result.explanations[0].adjustments[0].kind is AdjustmentKind.CLOSED
    assert not result.total_changed


def test_explicit_weights_and_locked_open_periods() -> None:
    periods = [
        closed(Q[0], 400),
        PeriodInput("Q2", 250, weight=1),
        PeriodInput("Q3", 300, locked=True),
        PeriodInput("Q4", 200, weight=3),
    ]
    # gap 600; Q3 keeps 300; 300 over Q2:Q4 = 1:3
    assert list(replan_remainder(periods).amounts) == [400, 75, 300, 225]


def test_overshoot_rules() -> None:
    periods = [closed(Q[0], 700), closed(Q[1], 400), *Q[2:]]
    with pytest.raises(InfeasibleAllocationError) as info:
        replan_remainder(periods)
    assert info.value.code == AllocationErrorCode.OVERSHOOT
    assert info.value.details["overshoot"] == 100
    zero = replan_remainder(periods, overshoot=OvershootRule.ZERO_OPEN)
    assert list(zero.amounts) == [700, 400, 0, 0]
    assert (zero.total, zero.total_changed, zero.overshoot) == (1100, True, True)
    keep = replan_remainder(periods, overshoot=OvershootRule.KEEP_OPEN_TARGETS)
    assert list(keep.amounts) == [700, 400, 300, 200]
    assert keep.total == 1600
    json.dumps(keep.to_dict())


def test_all_periods_closed() -> None:
    result = replan_remainder([closed(p, 100) for p in Q])
    assert list(result.amounts) == [100] * 4
    assert result.total == 400 and result.total_changed


def test_replan_input_errors() -> None:
    for periods, code in [
        ([PeriodInput("Q1", 10, closed=True)], AllocationErrorCode.MISSING_INPUT),
        ([PeriodInput("Q1", -1)], AllocationErrorCode.AMOUNT_OUT_OF_RANGE),
        ([PeriodInput("Q1", 1), PeriodInput("Q1", 1)], AllocationErrorCode.DUPLICATE_KEY),
        ([PeriodInput("Q1", 1, weight=-1)], AllocationErrorCode.INVALID_WEIGHTS),
        ([], AllocationErrorCode.INVALID_INPUT),
    ]:
        with pytest.raises(AllocationError) as info:
            replan_remainder(periods)
        assert info.value.code == code


@st.composite
def years(draw: st.DrawFn) -> list[PeriodInput]:
    n = draw(st.integers(1, 12))
    k = draw(st.integers(0, n))
    out = []
    for i in range(n):
        target = draw(st.integers(0, 10**9))
        if i < k:
            out.append(
                PeriodInput(f"P{i:02d}", target, draw(st.integers(-(10**6), 2 * 10**9)), True)
            )
        else:
            out.append(PeriodInput(f"P{i:02d}", target, locked=draw(st.integers(0, 6)) == 0))
    return out


@PROFILE
@given(years(), st.sampled_from(list(OvershootRule)))
def test_replan_properties(periods: list[PeriodInput], rule: OvershootRule) -> None:
    try:
        result = replan_remainder(periods, overshoot=rule)
    except InfeasibleAllocationError as exc:
        # overshoot (rule ERROR), or locked open periods that cannot hold the gap
        assert exc.code in {
            AllocationErrorCode.OVERSHOOT,
            AllocationErrorCode.LOCKED_EXCEEDS_TOTAL,
            AllocationErrorCode.NOTHING_TO_ABSORB,
        }
        assume(False)
        return
    assert sum(result.amounts) == result.total
    for p, amount in zip(periods, result.amounts, strict=True):
        if p.closed:
            assert amount == p.actual
        else:
            assert amount >= 0
            if p.locked:
                assert amount == p.target
    if not result.overshoot and any(not p.closed for p in periods):
        assert result.total == result.original_total  # the year's total is kept
    # nothing closed: the plan is unchanged
    if not any(p.closed for p in periods):
        assert list(result.amounts) == [p.target for p in periods]
