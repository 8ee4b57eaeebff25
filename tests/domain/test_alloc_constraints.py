"""Locks, floors, caps (water-filling), step rounding, quota buffer, infeasible input."""

from __future__ import annotations

import pytest

from service.domain.allocation import (
    AdjustmentKind,
    AllocationError,
    AllocationErrorCode,
    AllocationMethod,
    AllocationRequest,
    AllocationSpec,
    ChildInput,
    allocate,
    buffered_total,
)

M = AllocationMethod


def run(parent: int, children: list[ChildInput], **spec: object) -> list[int]:
    method = spec.pop("method", M.WEIGHTS)
    result = allocate(AllocationRequest(parent, tuple(children), AllocationSpec(method, **spec)))  # type: ignore[arg-type]
    assert sum(result.amounts) == result.total
    return list(result.amounts)


def w(key: str, weight: object = 1, **kw: object) -> ChildInput:
    return ChildInput(key, weight=weight, **kw)  # type: ignore[arg-type]


def test_lock_keeps_its_amount() -> None:
    assert run(1000, [w("a", locked_amount=100), w("b"), w("c"), w("d")]) == [100, 300, 300, 300]


def test_cap_excess_is_redistributed() -> None:
    result = allocate(
        AllocationRequest(
            1000, (w("a", cap=100), w("b"), w("c"), w("d")), AllocationSpec(M.WEIGHTS)
        )
    )
    assert list(result.amounts) == [100, 300, 300, 300]
    assert result.explanations[0].adjustments[0].kind is AdjustmentKind.CAP
    assert result.explanations[1].adjustments[0].kind is AdjustmentKind.REDISTRIBUTION


def test_water_filling_cascades_over_several_caps() -> None:
    # 400/300/200/100 -> a capped at 300; 700 over b,c,d (3:2:1) gives b 350 > 280,
    # so b capped at 280; 420 over c,d (2:1) -> 280, 140
    children = [w("a", 4, cap=300), w("b", 3, cap=280), w("c", 2), w("d", 1)]
    assert run(1000, children) == [300, 280, 280, 140]


def test_floor_takes_from_the_others() -> None:
    assert run(1000, [w("a"), w("b"), w("c"), w("d", floor=400)]) == [200, 200, 200, 400]


def test_floors_and_caps_together() -> None:
    # level 20: a = max(20, 30) = 30, b = 20, c = min(160, 50) = 50
    children = [w("a", 1, floor=30), w("b", 1), w("c", 8, cap=50)]
    assert run(100, children) == [30, 20, 50]


def test_zero_share_child_gets_only_its_floor() -> None:
    assert run(100, [w("a", 0, floor=10), w("b", 1)]) == [10, 90]


def test_step_rounding_and_leftover() -> None:
    # 10,000 / 3 in hundreds: 34/33/33 units; 10,050: the 50 go to the largest (a)
    assert run(10_000, [ChildInput(k) for k in "abc"], method=M.EQUAL, step=100) == [
        3400,
        3300,
        3300,
    ]
    result = allocate(
        AllocationRequest(
            10_050, tuple(ChildInput(k) for k in "abc"), AllocationSpec(M.EQUAL, step=100)
        )
    )
    assert list(result.amounts) == [3450, 3300, 3300]
    assert any(a.kind is AdjustmentKind.LEFTOVER for a in result.explanations[0].adjustments)


def test_step_leftover_respects_caps() -> None:
    # a would be the largest but its cap leaves no room for the 50
    children = [w("a", 2, cap=600), w("b", 1)]
    assert run(1050, children, step=100) == [600, 450]


def test_step_with_bounds_that_hold_no_multiple() -> None:
    with pytest.raises(AllocationError) as info:
        run(1000, [w("a", floor=150, cap=199), w("b")], step=100)
    assert info.value.code == AllocationErrorCode.STEP_INFEASIBLE
    assert info.value.details["children"] == ["a"]


def test_over_assignment_buffer() -> None:
    assert buffered_total(1000, 10) == 1100
    assert buffered_total(1001, 12.5) == 1126  # 125.125 -> 125
    assert buffered_total(1, 50) == 2  # 0.5 rounds half up
    result = allocate(
        AllocationRequest(1000, (w("a"), w("b")), AllocationSpec(M.WEIGHTS, over_assignment=10))
    )
    assert result.total == 1100
    assert list(result.amounts) == [550, 550]
    assert any("over-assignment" in n for n in result.notes)


@pytest.mark.parametrize(
    ("parent", "children", "spec", "code", "named"),
    [
        (
            1000,
            [w("a", locked_amount=600), w("b", locked_amount=500), w("c")],
            {},
            "LOCKED_EXCEEDS_TOTAL",
            ["a", "b"],
        ),
        (
            1000,
            [w("a", locked_amount=600), w("b", locked_amount=300)],
            {},
            "NOTHING_TO_ABSORB",
            ["a", "b"],
        ),
        (1000, [w("a", floor=600), w("b", floor=500)], {}, "FLOORS_EXCEED_TOTAL", ["a", "b"]),
        (1000, [w("a", cap=300), w("b", cap=500)], {}, "CAPS_BELOW_TOTAL", ["a", "b"]),
        (100, [w("a", 0), w("b", 1, cap=10)], {}, "CAPS_BELOW_TOTAL", ["a", "b"]),
        (1000, [w("a", 0), w("b", 0)], {}, "ZERO_WEIGHTS", ["a", "b"]),
        (1000, [w("a", -1), w("b")], {}, "INVALID_WEIGHTS", ["a"]),
        (1000, [w("a", float("nan")), w("b")], {}, "INVALID_WEIGHTS", ["a"]),
        (1000, [w("a", "12,5"), w("b")], {}, "INVALID_WEIGHTS", ["a"]),
        (1000, [w("a"), ChildInput("b")], {}, "MISSING_INPUT", ["b"]),
        (1000, [w("a"), w("a")], {}, "DUPLICATE_KEY", ["a"]),
        (1000, [w("a", floor=10, cap=5), w("b")], {}, "INVALID_BOUNDS", None),
        (1000, [w("a", locked_amount=50, cap=10), w("b")], {}, "INVALID_BOUNDS", None),
        (1000, [w("a", floor=-1), w("b")], {}, "AMOUNT_OUT_OF_RANGE", ["a"]),
        (1000, [w("a", cap=2**63), w("b")], {}, "AMOUNT_OUT_OF_RANGE", ["a"]),
        (1000, [w("a", locked_amount=True), w("b")], {}, "AMOUNT_OUT_OF_RANGE", ["a"]),
        (-1, [w("a")], {}, "AMOUNT_OUT_OF_RANGE", None),
        (2**63, [w("a")], {}, "AMOUNT_OUT_OF_RANGE", None),
        (2**63 - 1, [w("a")], {"over_assignment": 1}, "AMOUNT_OUT_OF_RANGE", None),
        (1000, [w("a")], {"step": 0}, "INVALID_INPUT", None),
        (1000, [w("a")], {"over_assignment": -5}, "INVALID_INPUT", None),
        (1000, [], {}, "INVALID_INPUT", None),
        (1000, [w("")], {}, "INVALID_INPUT", None),
    ],
)
def test_infeasible_or_invalid_input_is_a_typed_error(
    parent: int,
    children: list[ChildInput],
    spec: dict[str, object],
    code: str,
    named: list[str] | None,
) -> None:
    with pytest.raises(AllocationError) as info:
        run(parent, children, **spec)
    assert info.value.code == code
    assert info.value.message
    if named is not None:
        assert info.value.details["children"] == named


def test_error_details_carry_the_numbers() -> None:
    with pytest.raises(AllocationError) as info:
        run(1000, [w("a", locked_amount=600), w("b", locked_amount=500), w("c")])
    assert info.value.details == {
        "children": ["a", "b"],
        "amounts": [600, 500],
        "locked_sum": 1100,
        "total": 1000,
    }
    assert info.value.to_dict()["code"] == "LOCKED_EXCEEDS_TOTAL"
    with pytest.raises(AllocationError) as info:
        run(1000, [w("a", cap=300), w("b", cap=500)])
    assert info.value.details["cap_sum"] == 800
    assert info.value.details["amount"] == 1000
