"""Explanations and the stored form of requests (to_dict / from_dict)."""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

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
    ManualOptions,
    NoHistoryRule,
    PotentialOptions,
    ProfileSource,
    SeasonalOptions,
    WeightsOptions,
    allocate,
)
from service.domain.allocation.exact import format_decimal, to_fraction

M = AllocationMethod


def test_explanation_lists_inputs_shares_amounts_and_adjustments() -> None:
    children = (
        ChildInput("a", weight=5, cap=300),
        ChildInput("b", weight=3),
        ChildInput("c", weight=2, locked_amount=100),
    )
    result = allocate(AllocationRequest(1001, children, AllocationSpec(M.WEIGHTS), "North"))
    a, b, c = result.explanations
    assert list(result.amounts) == [300, 601, 100]
    # a: share 5/8 of 901 = 563.125, capped at 300
    assert a.inputs == {"weight": 5}
    assert a.share == pytest.approx(5 / 8)
    assert a.proportional == "563.125"
    assert a.unrounded == "300"
    assert [adj.kind for adj in a.adjustments] == [AdjustmentKind.CAP]
    # b: 337.875 proportional, receives the rest by water-filling
    assert b.proportional == "337.875"
    assert b.unrounded == "601"
    assert [adj.kind for adj in b.adjustments] == [AdjustmentKind.REDISTRIBUTION]
    # c: locked, no share
    assert c.share is None
    assert c.adjustments[0].kind is AdjustmentKind.LOCK
    assert c.text == "c: 100 = 9.99 % of North; locked at 100"
    assert a.text.startswith("a: 300 = 29.97 % of North: weight 5 of 8; held by its cap 300")


def test_rounding_adjustment_says_up_or_down() -> None:
    result = allocate(
        AllocationRequest(10, tuple(ChildInput(k) for k in "abc"), AllocationSpec(M.EQUAL))
    )
    a, b, _ = result.explanations
    assert a.adjustments[-1].kind is AdjustmentKind.ROUNDING
    assert a.adjustments[-1].detail == "rounded up (largest remainder) from 3.333333 to 4"
    assert b.adjustments[-1].detail == "rounded down from 3.333333 to 3"


def test_vectorised_result_explains_with_the_exact_path() -> None:
    children = tuple(ChildInput(f"k{i}", weight=float(i % 7) + 0.25) for i in range(500))
    result = allocate(AllocationRequest(10**9 + 7, children, AllocationSpec(M.WEIGHTS)))
    assert [e.final for e in result.explanations] == list(result.amounts)
    assert result.explanations is result.explanations  # computed once


def test_result_to_dict_is_json() -> None:
    spec = AllocationSpec(
        M.BLEND, blend=(BlendComponent(M.HISTORY, 0.6), BlendComponent(M.POTENTIAL, 0.4))
    )
    children = (
        ChildInput("East", history=(40, None), potential=45),
        ChildInput("West", history=(60, 10), potential=55),
    )
    data = allocate(AllocationRequest(1000, children, spec)).to_dict()
    text = json.dumps(data)
    assert json.loads(text)["children"][0]["explanation"]["components"][0]["method"] == "HISTORY"


FULL_SPEC = AllocationSpec(
    M.MANUAL,
    weights=WeightsOptions(percentages=True),
    history=HistoryOptions(
        mode=HistoryMode.SHARE_OF_TOTAL,
        no_history=NoHistoryRule.RESERVED_SHARE,
        no_history_floor=7,
        reserved_share=Decimal("0.05"),
    ),
    potential=PotentialOptions(penetration="0.02"),
    blend=(BlendComponent(M.HISTORY, 3), BlendComponent(M.POTENTIAL, Fraction(1, 3))),
    seasonal=SeasonalOptions(source=ProfileSource.GIVEN, lag=1, ramp=2, ramp_factors=(0, 0.5)),
    manual=ManualOptions(fallback=M.BLEND),
    step=100,
    over_assignment=7.5,
)


def test_request_round_trip_through_json() -> None:
    children = (
        ChildInput("a", weight=1.5, history=(1, None, "2.5"), growth=0.1, amount=100),
        ChildInput("b", potential=Decimal("1e6"), penetration=Fraction(1, 3), floor=1, cap=9000),
        ChildInput("c", locked_amount=42),
    )
    request = AllocationRequest(12_345, children, FULL_SPEC, parent_key="P")
    stored = json.loads(json.dumps(request.to_dict()))
    again = AllocationRequest.from_dict(stored)
    assert again.to_dict() == request.to_dict()
    # numbers keep their exact value (Decimal and Fraction come back as strings)
    assert to_fraction(again.children[1].penetration) == Fraction(1, 3)
    assert to_fraction(again.spec.history.reserved_share) == Fraction(1, 20)
    assert again.spec.method is M.MANUAL and again.spec.manual.fallback is M.BLEND


@pytest.mark.parametrize(
    "data",
    [
        {"parent": 1, "children": [], "spec": {"method": "NOPE"}},
        {"parent": True, "children": [], "spec": {"method": "EQUAL"}},
        {"parent": 1, "children": [{"key": 3}], "spec": {"method": "EQUAL"}},
        {"parent": 1, "children": [{"key": "a", "colour": 1}], "spec": {"method": "EQUAL"}},
        {"parent": 1, "children": [{"key": "a", "weight": [1]}], "spec": {"method": "EQUAL"}},
        {"parent": 1, "children": "a", "spec": {"method": "EQUAL"}},
        {"parent": 1, "children": [], "spec": {"method": "EQUAL", "step": "10"}},
        {"parent": 1, "children": [], "spec": {"method": "EQUAL", "blend": [{"method": "X"}]}},
        {"parent": 1, "children": []},
    ],
)
def test_malformed_stored_requests_are_domain_errors(data: dict[str, object]) -> None:
    with pytest.raises(AllocationInputError) as info:
        AllocationRequest.from_dict(data)
    assert info.value.code == AllocationErrorCode.INVALID_INPUT


def test_number_reading_and_display() -> None:
    assert to_fraction(0.1) == Fraction(1, 10)
    assert to_fraction("1/3") == Fraction(1, 3)
    assert to_fraction("  2.50 ") == Fraction(5, 2)
    assert to_fraction(Decimal("1e-3")) == Fraction(1, 1000)
    for bad in (True, float("nan"), float("inf"), "nan", "1e999999", "", "1/0", None, [1]):
        assert to_fraction(bad) is None
    assert format_decimal(Fraction(1, 3)) == "0.333333"
    assert format_decimal(Fraction(2, 3)) == "0.666667"
    assert format_decimal(Fraction(5, 2)) == "2.5"
    assert format_decimal(Fraction(-1, 8), 2) == "-0.12"  # half-even
    assert format_decimal(Fraction(2**63 - 1)) == str(2**63 - 1)
