"""Currency units in texts, and stored explanations / split specs shown to clients.

Issue: "messages speak in currency units and member names, not minor units and
internal keys". Stored dicts keep integer minor units; ``display_*`` turns them
into decimal strings in currency units; ``buffer_of`` reads a stored split's
quota buffer whatever its shape.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.allocation import (
    AllocationError,
    AllocationMethod,
    AllocationRequest,
    AllocationSpec,
    ChildInput,
    HistoryOptions,
    MatrixRequest,
    NoHistoryRule,
    ProfileSource,
    SeasonalOptions,
    Units,
    allocate,
    buffer_of,
    display_explanation,
    display_split_spec,
    split_matrix,
)
from service.domain.allocation.errors import AllocationErrorCode, AllocationInputError
from service.domain.allocation.units import decimal_units
from tests.domain.strategies import PROFILE

M = AllocationMethod


def test_units_format_amounts() -> None:
    eur, jpy, kwd = Units(2), Units(0), Units(3, "KWD")
    assert eur.amount(420000000) == "4200000.00"
    assert eur.amount(5) == "0.05"
    assert eur.signed(-150) == "-1.50" and eur.signed(150) == "+1.50"
    assert jpy.amount(420) == "420"
    assert kwd.amount(1234) == "1.234 KWD"
    assert eur.exact(Fraction(7189, 2)) == "35.945"
    assert eur.exact(Fraction(1, 3)) == "0.00333333"
    assert eur.exact(100) == "1.00"
    assert jpy.exact(Fraction(5, 2)) == "2.5"
    with pytest.raises(AllocationInputError):
        Units(19)
    with pytest.raises(AllocationInputError):
        Units(True)  # type: ignore[arg-type]


@PROFILE
@given(st.integers(-(10**30), 10**30), st.integers(0, 18))
def test_decimal_units_are_exact(minor: int, digits: int) -> None:
    text = Units(digits).amount(minor)
    assert Fraction(Decimal(text)) == Fraction(minor, 10**digits)
    assert decimal_units(Fraction(minor), digits) == text


def test_engine_messages_speak_in_units_and_labels() -> None:
    children = (
        ChildInput("EAST", floor=80000, label="East"),
        ChildInput("WEST", floor=30000, label="West"),
    )
    with pytest.raises(AllocationError) as info:
        allocate(AllocationRequest(100000, children, AllocationSpec(M.EQUAL), "the plan", Units(2)))
    assert info.value.message == (
        "floors add up to 1100.00, above the 1000.00 to split: East >= 800.00, West >= 300.00"
    )
    assert info.value.details["children"] == ["EAST", "WEST"]  # keys stay in the details
    locked = (ChildInput("EAST", locked_amount=200000, label="East"), ChildInput("WEST"))
    with pytest.raises(AllocationError) as info:
        allocate(AllocationRequest(100000, locked, AllocationSpec(M.EQUAL), None, Units(2)))
    assert info.value.message == (
        "locked amounts add up to 2000.00, above the 1000.00 to split: East 2000.00"
    )


def test_method_notes_speak_in_units_too() -> None:
    children = (ChildInput("EAST", history=(5,)), ChildInput("NEW", history=(), label="New"))
    spec = AllocationSpec(
        M.HISTORY, history=HistoryOptions(no_history=NoHistoryRule.FLOOR, no_history_floor=2500)
    )
    new = allocate(AllocationRequest(100000, children, spec, "the plan", Units(2))).explanations[1]
    assert new.text == (
        "New: 25.00 = 2.5 % of the plan: no history; no history: rule FLOOR, floor 25.00; "
        "held by its floor 25.00 (proportional 0.00)"
    )


def weighted(units: Units = Units(2)) -> AllocationRequest:
    return AllocationRequest(
        100001,
        (
            ChildInput("EAST", weight=1, cap=40000, label="East"),
            ChildInput("WEST", weight=1, label="West"),
            ChildInput("NORTH", weight=1, locked_amount=20000, label="North"),
        ),
        AllocationSpec(M.WEIGHTS, over_assignment=10),
        "the plan",
        units,
    )


def test_display_explanation_turns_amounts_into_currency_units() -> None:
    result = allocate(weighted())
    east, west, north = (e.to_dict() for e in result.explanations)
    assert east["final"] == 40000 and east["proportional"] == "45000.5"  # stored: minor units
    shown = display_explanation(east, 2)
    assert shown is not None
    assert shown["final"] == "400.00"
    assert shown["proportional"] == "450.005"
    assert shown["unrounded"] == "400.00"
    assert shown["buffer"] == {"over_assignment": "10", "parent": "1000.01", "total": "1100.01"}
    cap = shown["adjustments"][0]
    assert (cap["kind"], cap["before"], cap["after"]) == ("CAP", "450.005", "400.00")
    assert shown["text"] == east["text"]
    assert east["text"].startswith(
        "East: 400.00 = 40 % of the plan (36.36 % of 1100.01, the plan plus its 10 % buffer)"
    )
    assert display_explanation(west, 2)["final"] == "500.01"  # type: ignore[index]
    assert display_explanation(north, 0)["final"] == "20000"  # type: ignore[index]
    assert east["final"] == 40000  # the stored dict is not touched
    assert display_explanation(None, 2) is None
    json.dumps(shown, allow_nan=False)


def test_display_keeps_shares_of_lag_adjustments() -> None:
    request = AllocationRequest(
        1000,
        tuple(ChildInput(f"Q{i}", weight=1) for i in range(1, 5)),
        AllocationSpec(M.SEASONAL, seasonal=SeasonalOptions(source=ProfileSource.GIVEN, lag=1)),
    )
    q1 = allocate(request).explanations[0].to_dict()
    lag = q1["adjustments"][0]
    assert lag["kind"] == "LAG" and lag["before"] == "0.2500"
    shown = display_explanation(q1, 2)
    assert shown is not None
    assert shown["adjustments"][0]["before"] == "0.2500"  # a share, left alone
    assert shown["final"] == "0.00"


def test_display_of_older_and_other_explanation_shapes() -> None:
    old_set = {"method": "SET", "previous": 30000, "final": 50000, "by": "a", "text": "x"}
    assert display_explanation(old_set, 2) == {**old_set, "previous": "300.00", "final": "500.00"}
    cell = {"method": "MATRIX", "row": "r", "col": "c", "seed": 3.0, "fitted": "1234.5",
            "final": 1235, "rounding": "UP", "text": "t"}  # fmt: skip
    shown = display_explanation(cell, 2)
    assert shown is not None
    assert (shown["fitted"], shown["final"], shown["seed"]) == ("12.345", "12.35", 3.0)
    odd = {"final": "not a number", "inputs": {"weight": 5, "current": 1000}}
    assert display_explanation(odd, 2) == {
        "final": "not a number",
        "inputs": {"weight": 5, "current": "10.00"},
    }


def test_display_split_spec_of_a_one_dimension_split() -> None:
    request = AllocationRequest(
        100001,
        (
            ChildInput("EAST", weight="1.5", cap=40000, floor=100, locked_amount=None),
            ChildInput("WEST", amount=2500, history=(1000, None)),
        ),
        AllocationSpec(
            M.WEIGHTS, step=100, history=HistoryOptions(no_history_floor=700), over_assignment=10
        ),
        "the plan",
    )
    stored = request.to_dict()
    shown = display_split_spec(stored, 2)
    assert shown is not None
    assert shown["parent"] == "1000.01"
    east, west = shown["children"]
    assert (east["cap"], east["floor"], east["weight"]) == ("400.00", "1.00", "1.5")
    assert west["amount"] == "25.00" and west["history"] == [1000, None]
    assert shown["spec"]["step"] == "1.00"
    assert shown["spec"]["history"]["no_history_floor"] == "7.00"
    assert shown["spec"]["over_assignment"] == 10  # a percentage, not an amount
    assert stored["parent"] == 100001  # untouched
    assert display_split_spec(None, 2) is None


def test_display_split_spec_of_a_matrix() -> None:
    rows = AllocationRequest(1000, (ChildInput("A"), ChildInput("B")), AllocationSpec(M.EQUAL))
    matrix = MatrixRequest(("A", "B"), ("X", "Y"), (500, 500), (300, 700), ((1, 1), (1, 1)))
    result = split_matrix(matrix)
    stored = {
        "matrix": matrix.to_dict(),
        "rows": rows.to_dict(),
        "columns": rows.to_dict(),
        "iterations": result.iterations,
        "max_residual": 1.5,
    }
    shown = display_split_spec(stored, 2)
    assert shown is not None
    assert shown["matrix"]["row_targets"] == ["5.00", "5.00"]
    assert shown["matrix"]["seed"] == [[1, 1], [1, 1]]
    assert shown["rows"]["parent"] == "10.00" and shown["columns"]["parent"] == "10.00"
    assert shown["max_residual"] == "0.015"
    row = display_split_spec({"matrix_row": True, "columns": rows.to_dict()}, 0)
    assert row is not None and row["columns"]["parent"] == "1000"


def test_buffer_of_every_stored_shape() -> None:
    buffered = AllocationRequest(
        1000, (ChildInput("A"),), AllocationSpec(M.EQUAL, over_assignment="12.5")
    ).to_dict()
    plain = AllocationRequest(1000, (ChildInput("A"),), AllocationSpec(M.EQUAL)).to_dict()
    assert buffer_of(buffered) == Fraction(25, 2)
    assert buffer_of(plain) == 0
    assert buffer_of(None) == 0 and buffer_of({}) == 0
    assert buffer_of({"matrix": {}, "rows": buffered, "columns": buffered}) == Fraction(25, 2)
    assert buffer_of({"matrix_row": True, "columns": buffered}) == 0
    for bad in ({"spec": {"over_assignment": "-1"}}, {"spec": {"over_assignment": True}}):
        with pytest.raises(AllocationInputError) as info:
            buffer_of(bad)
        assert info.value.code == AllocationErrorCode.INVALID_INPUT


@PROFILE
@given(st.integers(0, 10**12), st.sampled_from([0, "10", "2.5", "1/3", 100]), st.integers(0, 4))
def test_display_round_trips_every_amount_of_a_split(parent: int, pct: str, digits: int) -> None:
    request = AllocationRequest(
        parent,
        tuple(ChildInput(k, weight=i + 1) for i, k in enumerate("abc")),
        AllocationSpec(M.WEIGHTS, over_assignment=pct),
        "the plan",
        Units(digits),
    )
    result = allocate(request)
    for amount, explanation in zip(result.amounts, result.explanations, strict=True):
        shown = display_explanation(explanation.to_dict(), digits)
        assert shown is not None
        assert Decimal(shown["final"]) == Decimal(amount).scaleb(-digits)
        assert shown["final"] in explanation.text
    spec = display_split_spec(request.to_dict(), digits)
    assert spec is not None and Decimal(spec["parent"]) == Decimal(parent).scaleb(-digits)
