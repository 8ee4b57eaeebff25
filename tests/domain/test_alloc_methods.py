"""Known answers for every method, checked by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import pytest

from service.domain.allocation import (
    AdjustmentKind,
    AllocationErrorCode,
    AllocationInputError,
    AllocationMethod,
    AllocationRequest,
    AllocationSpec,
    BlendComponent,
    ChildInput,
    HistoryMode,
    HistoryOptions,
    InfeasibleAllocationError,
    ManualOptions,
    NoHistoryRule,
    PotentialOptions,
    ProfileSource,
    SeasonalOptions,
    WeightsOptions,
    allocate,
)

M = AllocationMethod


def split(
    parent: int, children: list[ChildInput], spec: AllocationSpec, parent_key: str | None = None
) -> list[int]:
    result = allocate(AllocationRequest(parent, tuple(children), spec, parent_key))
    assert sum(result.amounts) == result.total
    return list(result.amounts)


# EQUAL ---------------------------------------------------------------------


def test_equal_extra_unit_goes_to_the_smallest_key() -> None:
    # 100 / 3 = 33.33: one unit left, remainders tie, weights tie -> smallest key "a"
    children = [ChildInput("c"), ChildInput("b"), ChildInput("a")]
    assert split(100, children, AllocationSpec(M.EQUAL)) == [33, 33, 34]


# WEIGHTS -------------------------------------------------------------------


def test_weights_proportional() -> None:
    children = [ChildInput(k, weight=w) for k, w in zip("abcd", [1, 2, 3, 4], strict=True)]
    assert split(1000, children, AllocationSpec(M.WEIGHTS)) == [100, 200, 300, 400]


def test_percentages() -> None:
    # quotas of 999: 499.5, 299.7, 199.8 -> floors 997, two units to remainders .8 (c) and .7 (b)
    children = [ChildInput(k, weight=w) for k, w in zip("abc", [50, 30, 20], strict=True)]
    spec = AllocationSpec(M.WEIGHTS, weights=WeightsOptions(percentages=True))
    assert split(999, children, spec) == [499, 300, 200]
    # human decimals that add up to 100 exactly are accepted
    children = [ChildInput(k, weight=w) for k, w in zip("abc", [33.3, 33.3, 33.4], strict=True)]
    assert split(1000, children, spec) == [333, 333, 334]


def test_percentages_not_summing_to_100() -> None:
    children = [ChildInput("a", weight=50), ChildInput("b", weight=30)]
    spec = AllocationSpec(M.WEIGHTS, weights=WeightsOptions(percentages=True))
    with pytest.raises(AllocationInputError) as info:
        split(100, children, spec)
    assert info.value.code == AllocationErrorCode.PERCENTAGES_NOT_100
    assert info.value.details["sum"] == "80"  # exact, never a float
    assert info.value.details["children"] == ["a", "b"]


# HISTORY -------------------------------------------------------------------

HIST = [ChildInput("A", history=(100, 100)), ChildInput("B", history=(100, 300))]


def test_history_average_of_shares() -> None:
    # period shares A: 100/200 = .5, 100/400 = .25 -> mean .375; B .625 -> 300 / 500 of 800
    assert split(800, HIST, AllocationSpec(M.HISTORY)) == [300, 500]


def test_history_share_of_total() -> None:
    # A: 200/600 = 1/3 -> 266.67, B: 533.33 -> floors 799, the unit to A (.67 > .33)
    spec = AllocationSpec(M.HISTORY, history=HistoryOptions(mode=HistoryMode.SHARE_OF_TOTAL))
    assert split(800, HIST, spec) == [267, 533]


def test_history_growth() -> None:
    # A .375 * 1.5 = .5625, B .625 -> A = 800 * 9/19 = 378.95, B = 421.05 -> [379, 421]
    children = [ChildInput("A", history=(100, 100), growth=0.5), HIST[1]]
    result = allocate(AllocationRequest(800, tuple(children), AllocationSpec(M.HISTORY)))
    assert list(result.amounts) == [379, 421]
    assert "growth +50 %" in result.explanations[0].text


def test_history_period_with_zero_total_is_left_out() -> None:
    # period 1 sums to 0 and is skipped: A = 100/400 = .25 -> 200 of 800
    children = [ChildInput("A", history=(0, 100)), ChildInput("B", history=(0, 300))]
    assert split(800, children, AllocationSpec(M.HISTORY)) == [200, 600]


def test_history_missing_values_count_as_zero_and_are_reported() -> None:
    # A period 1 missing (0 of 100), period 2 100/400 = .25 -> mean .125 -> 100 of 800
    children = [ChildInput("A", history=(None, 100)), ChildInput("B", history=(100, 300))]
    result = allocate(AllocationRequest(800, tuple(children), AllocationSpec(M.HISTORY)))
    assert list(result.amounts) == [100, 700]
    kinds = [a.kind for a in result.explanations[0].adjustments]
    assert AdjustmentKind.MISSING_VALUES in kinds


def _no_history(rule: NoHistoryRule, **options: object) -> AllocationSpec:
    return AllocationSpec(M.HISTORY, history=HistoryOptions(no_history=rule, **options))  # type: ignore[arg-type]


def test_no_history_error_is_the_default() -> None:
    children = [*HIST, ChildInput("C")]
    with pytest.raises(AllocationInputError) as info:
        split(800, children, AllocationSpec(M.HISTORY))
    assert info.value.code == AllocationErrorCode.MISSING_HISTORY
    assert info.value.details["children"] == ["C"]


def test_no_history_zero() -> None:
    children = [*HIST, ChildInput("C", history=(None, None))]
    assert split(800, children, _no_history(NoHistoryRule.ZERO)) == [300, 500, 0]


def test_no_history_floor() -> None:
    # C gets its floor 50; A/B share 750 as .375/.625 = 281.25/468.75 -> [281, 469]
    children = [*HIST, ChildInput("C")]
    spec = _no_history(NoHistoryRule.FLOOR, no_history_floor=50)
    assert split(800, children, spec) == [281, 469, 50]


def test_no_history_reserved_share() -> None:
    # C reserved 10 % = 80; A = .9 * .375 * 800 = 270, B = .9 * .625 * 800 = 450
    children = [*HIST, ChildInput("C")]
    spec = _no_history(NoHistoryRule.RESERVED_SHARE, reserved_share="0.1")
    result = allocate(AllocationRequest(800, tuple(children), spec))
    assert list(result.amounts) == [270, 450, 80]
    assert result.explanations[2].adjustments[0].kind is AdjustmentKind.NO_HISTORY


def test_history_lengths_must_match() -> None:
    children = [ChildInput("A", history=(1, 2)), ChildInput("B", history=(1,))]
    with pytest.raises(AllocationInputError) as info:
        split(10, children, AllocationSpec(M.HISTORY))
    assert info.value.code == AllocationErrorCode.INVALID_INPUT


# POTENTIAL -----------------------------------------------------------------


def test_potential_times_penetration() -> None:
    # 100 * .1 = 10 and 300 * .05 = 15 -> .4 / .6 of 1000
    children = [
        ChildInput("A", potential=100, penetration=0.1),
        ChildInput("B", potential=300, penetration=0.05),
    ]
    assert split(1000, children, AllocationSpec(M.POTENTIAL)) == [400, 600]
    # the spec default applies where a child has none
    children = [ChildInput("A", potential=100), ChildInput("B", potential=300, penetration=0.05)]
    spec = AllocationSpec(M.POTENTIAL, potential=PotentialOptions(penetration=0.1))
    assert split(1000, children, spec) == [400, 600]
    # without any rate: proportional to the attribute
    assert split(
        1000,
        [ChildInput("A", potential=1), ChildInput("B", potential=3)],
        AllocationSpec(M.POTENTIAL),
    ) == [250, 750]


def test_potential_missing_attribute_is_named() -> None:
    with pytest.raises(AllocationInputError) as info:
        split(10, [ChildInput("A", potential=1), ChildInput("B")], AllocationSpec(M.POTENTIAL))
    assert info.value.code == AllocationErrorCode.MISSING_INPUT
    assert info.value.details["children"] == ["B"]


# BLEND ---------------------------------------------------------------------


def test_blend_of_history_and_potential_explains_itself() -> None:
    # East: 60 % * .40 + 40 % * .45 = .42 of 1000
    children = [
        ChildInput("East", history=(40,), potential=45),
        ChildInput("West", history=(60,), potential=55),
    ]
    spec = AllocationSpec(
        M.BLEND,
        blend=(BlendComponent(M.HISTORY, 0.6), BlendComponent(M.POTENTIAL, 0.4)),
    )
    result = allocate(AllocationRequest(1000, tuple(children), spec, parent_key="Total"))
    assert list(result.amounts) == [420, 580]
    east = result.explanations[0]
    assert east.share == pytest.approx(0.42)
    assert [(c.method, c.blend_weight, c.share) for c in east.components] == [
        ("HISTORY", pytest.approx(0.6), pytest.approx(0.4)),
        ("POTENTIAL", pytest.approx(0.4), pytest.approx(0.45)),
    ]
    assert east.text == (
        "East: 420 = 42 % of Total: 60 % HISTORY share 0.4000, 40 % POTENTIAL share 0.4500"
    )


def test_blend_rejects_bad_components() -> None:
    children = [ChildInput("A", weight=1)]
    for blend, code in [
        ((), AllocationErrorCode.INVALID_INPUT),
        ((BlendComponent(M.MANUAL, 1),), AllocationErrorCode.INVALID_INPUT),
        ((BlendComponent(M.WEIGHTS, -1),), AllocationErrorCode.INVALID_WEIGHTS),
        ((BlendComponent(M.WEIGHTS, 0),), AllocationErrorCode.ZERO_WEIGHTS),
    ]:
        with pytest.raises(AllocationInputError) as info:
            split(10, children, AllocationSpec(M.BLEND, blend=blend))
        assert info.value.code == code


# SEASONAL ------------------------------------------------------------------

QUARTERS = [
    ChildInput(f"Q{i + 1}", history=(y1, y2))
    for i, (y1, y2) in enumerate([(100, 200), (200, 200), (300, 200), (400, 400)])
]


def test_seasonal_profile_from_history() -> None:
    # year shares .1/.2/.3/.4 and .2/.2/.2/.4 -> profile .15/.2/.25/.4
    assert split(1000, QUARTERS, AllocationSpec(M.SEASONAL)) == [150, 200, 250, 400]


def test_seasonal_lag_moves_the_first_period_to_the_later_ones() -> None:
    # Q1 factor 0; its .15 goes to Q2..Q4 by profile: 1000 * .2/.85 = 235.29,
    # .25/.85 = 294.12, .4/.85 = 470.59 -> floors 999, the unit to Q4 (.59)
    spec = AllocationSpec(M.SEASONAL, seasonal=SeasonalOptions(lag=1))
    result = allocate(AllocationRequest(1000, tuple(QUARTERS), spec))
    assert list(result.amounts) == [0, 235, 294, 471]
    assert any(a.kind is AdjustmentKind.LAG for a in result.explanations[0].adjustments)
    assert any(a.kind is AdjustmentKind.LAG for a in result.explanations[3].adjustments)


def test_seasonal_ramp_halves_the_first_period() -> None:
    # Q1 factor 1/2 -> 75; displaced .075 to Q2..Q4: 217.65, 272.06, 435.29 -> unit to Q2
    spec = AllocationSpec(M.SEASONAL, seasonal=SeasonalOptions(ramp=1))
    assert split(1000, QUARTERS, spec) == [75, 218, 272, 435]
    spec = AllocationSpec(M.SEASONAL, seasonal=SeasonalOptions(ramp_factors=(0.5,)))
    assert split(1000, QUARTERS, spec) == [75, 218, 272, 435]


def test_seasonal_given_profile_and_lag_without_receiver() -> None:
    children = [ChildInput(f"M{i}", weight=1) for i in range(4)]
    spec = AllocationSpec(M.SEASONAL, seasonal=SeasonalOptions(source=ProfileSource.GIVEN))
    assert split(400, children, spec) == [100, 100, 100, 100]
    spec = AllocationSpec(M.SEASONAL, seasonal=SeasonalOptions(source=ProfileSource.GIVEN, lag=4))
    with pytest.raises(InfeasibleAllocationError) as info:
        split(400, children, spec)
    assert info.value.code == AllocationErrorCode.LAG_NO_RECEIVER


# MANUAL --------------------------------------------------------------------


def test_manual_exact_amounts() -> None:
    children = [ChildInput("a", amount=300), ChildInput("b", amount=700)]
    assert split(1000, children, AllocationSpec(M.MANUAL)) == [300, 700]


def test_manual_mismatch_is_an_error_with_the_difference() -> None:
    children = [ChildInput("a", amount=300), ChildInput("b", amount=600)]
    with pytest.raises(InfeasibleAllocationError) as info:
        split(1000, children, AllocationSpec(M.MANUAL))
    assert info.value.code == AllocationErrorCode.MANUAL_MISMATCH
    assert info.value.details["difference"] == 100


def test_manual_missing_amount_without_fallback() -> None:
    children = [ChildInput("a", amount=300), ChildInput("b")]
    with pytest.raises(InfeasibleAllocationError) as info:
        split(1000, children, AllocationSpec(M.MANUAL))
    assert info.value.code == AllocationErrorCode.MANUAL_MISMATCH
    assert info.value.details["children"] == ["b"]


def test_manual_remainder_by_fallback() -> None:
    children = [ChildInput("a", amount=300), ChildInput("b", weight=1), ChildInput("c", weight=3)]
    spec = AllocationSpec(M.MANUAL, manual=ManualOptions(fallback=M.WEIGHTS))
    result = allocate(AllocationRequest(1000, tuple(children), spec))
    assert list(result.amounts) == [300, 175, 525]
    assert result.explanations[0].adjustments[0].kind is AdjustmentKind.MANUAL
    assert result.explanations[1].text.startswith("b: 175 = 17.5 % of the parent: fallback WEIGHTS")


def test_manual_above_total() -> None:
    children = [ChildInput("a", amount=800), ChildInput("b", amount=300)]
    spec = AllocationSpec(M.MANUAL, manual=ManualOptions(fallback=M.EQUAL))
    with pytest.raises(InfeasibleAllocationError) as info:
        split(1000, children, spec)
    assert info.value.code == AllocationErrorCode.LOCKED_EXCEEDS_TOTAL
    assert info.value.details["locked_sum"] == 1100
