"""Rebalance one child; cascade a parent's change down its subtree."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from service.domain.allocation import (
    AbsorbRule,
    AdjustmentKind,
    AllocationError,
    AllocationErrorCode,
    AllocationMethod,
    AllocationRequest,
    AllocationSpec,
    ChildInput,
    CurrentChild,
    InfeasibleAllocationError,
    TreeNode,
    allocate,
    cascade,
    rebalance,
)
from tests.domain.strategies import PROFILE, keys_for

M = AllocationMethod


def test_siblings_absorb_in_proportion_to_current_amounts() -> None:
    children = [CurrentChild("a", 500), CurrentChild("b", 300), CurrentChild("c", 200)]
    # a: 500 -> 401; b and c absorb +99 as 3:2 -> 359.4 / 239.6 -> 359 / 240
    result = rebalance(children, "a", 401)
    assert list(result.amounts) == [401, 359, 240]
    a = result.explanations[0]
    assert a.adjustments[0].kind is AdjustmentKind.SET
    assert a.adjustments[0].detail == "set from 500 to 401"


def test_locked_siblings_do_not_move() -> None:
    children = [CurrentChild("a", 500), CurrentChild("b", 300), CurrentChild("c", 200, locked=True)]
    assert list(rebalance(children, "a", 400).amounts) == [400, 400, 200]


def test_bounds_hold_and_the_range_is_reported() -> None:
    children = [
        CurrentChild("a", 500),
        CurrentChild("b", 300, cap=350),
        CurrentChild("c", 200, cap=250),
    ]
    assert list(rebalance(children, "a", 400).amounts) == [400, 350, 250]
    with pytest.raises(InfeasibleAllocationError) as info:
        rebalance(children, "a", 399)
    assert info.value.code == AllocationErrorCode.REBALANCE_INFEASIBLE
    assert (info.value.details["min"], info.value.details["max"]) == (400, 1000)
    with pytest.raises(InfeasibleAllocationError) as info:
        rebalance([CurrentChild("a", 5), CurrentChild("b", 5, locked=True)], "a", 6)
    assert info.value.details["min"] == info.value.details["max"] == 5


def test_all_absorbing_siblings_at_zero_share_equally() -> None:
    children = [CurrentChild("a", 100), CurrentChild("b", 0), CurrentChild("c", 0)]
    assert list(rebalance(children, "a", 40).amounts) == [40, 30, 30]


def test_original_method_re_splits_by_the_stored_request() -> None:
    original = AllocationRequest(
        1000,
        (ChildInput("a", potential=1), ChildInput("b", potential=1), ChildInput("c", potential=2)),
        AllocationSpec(M.POTENTIAL),
    )
    current = allocate(original)
    assert list(current.amounts) == [250, 250, 500]
    # the planner had moved b by hand; re-absorbing by the method ignores that history
    children = [CurrentChild("a", 250), CurrentChild("b", 400), CurrentChild("c", 350)]
    by_method = rebalance(children, "a", 100, rule=AbsorbRule.ORIGINAL_METHOD, original=original)
    assert list(by_method.amounts) == [100, 300, 600]
    by_current = rebalance(children, "a", 100)
    assert list(by_current.amounts) == [100, 480, 420]
    with pytest.raises(AllocationError):
        rebalance(children, "a", 100, rule=AbsorbRule.ORIGINAL_METHOD)


def test_rebalance_input_errors() -> None:
    children = [CurrentChild("a", 5), CurrentChild("b", 5)]
    for key, amount, code in [
        ("z", 1, AllocationErrorCode.UNKNOWN_KEY),
        ("a", -1, AllocationErrorCode.AMOUNT_OUT_OF_RANGE),
        ("a", 11, AllocationErrorCode.REBALANCE_INFEASIBLE),
    ]:
        with pytest.raises(AllocationError) as info:
            rebalance(children, key, amount)
        assert info.value.code == code
    with pytest.raises(AllocationError) as info:
        rebalance([CurrentChild("a", 5, floor=3), CurrentChild("b", 5)], "a", 2)
    assert info.value.code == AllocationErrorCode.INVALID_BOUNDS


@st.composite
def families(draw: st.DrawFn) -> tuple[list[CurrentChild], str, int]:
    n = draw(st.integers(2, 8))
    children = []
    for key in keys_for(n):
        amount = draw(st.integers(0, 10**9))
        floor = draw(st.one_of(st.none(), st.integers(0, amount)))
        cap = draw(st.one_of(st.none(), st.integers(amount, amount + 10**9)))
        children.append(CurrentChild(key, amount, draw(st.integers(0, 4)) == 0, floor, cap))
    target = draw(st.sampled_from(children))
    total = sum(c.amount for c in children)
    new = draw(st.integers(target.floor or 0, target.cap if target.cap is not None else total))
    return children, target.key, new


@PROFILE
@given(families())
def test_rebalance_properties(case: tuple[list[CurrentChild], str, int]) -> None:
    children, key, new = case
    try:
        result = rebalance(children, key, new)
    except InfeasibleAllocationError as exc:
        assert exc.code == AllocationErrorCode.REBALANCE_INFEASIBLE
        assume(False)
        return
    amounts = result.as_mapping()
    assert sum(amounts.values()) == sum(c.amount for c in children)
    assert amounts[key] == new
    for c in children:
        if c.key != key and c.locked:
            assert amounts[c.key] == c.amount
        assert amounts[c.key] >= (c.floor or 0)
        if c.cap is not None:
            assert amounts[c.key] <= c.cap
    # setting a child to its own amount changes nothing (idempotent)
    same = rebalance(children, key, next(c.amount for c in children if c.key == key))
    assert list(same.amounts) == [c.amount for c in children]
    # and rebalancing the result to the same target is a no-op
    settled = [CurrentChild(c.key, amounts[c.key], c.locked, c.floor, c.cap) for c in children]
    assert rebalance(settled, key, new).as_mapping() == amounts


TREE = [
    TreeNode("root", None, 1000),
    TreeNode("A", "root", 600),
    TreeNode("B", "root", 400, locked=True),
    TreeNode("A1", "A", 300),
    TreeNode("A2", "A", 300),
    TreeNode("B1", "B", 400),
    TreeNode("elsewhere", None, 5),
]


def test_cascade_scales_the_subtree_and_keeps_locked_branches() -> None:
    result = cascade(TREE, "root", 1100)
    assert [(c.key, c.old_amount, c.new_amount) for c in result.changes] == [
        ("root", 1000, 1100),
        ("A", 600, 700),
        ("A1", 300, 350),
        ("A2", 300, 350),
        ("B", 400, 400),
        ("B1", 400, 400),
    ]
    a = result.changes[1].explanation
    assert a is not None and a.adjustments[0].kind is AdjustmentKind.SCALED


def test_cascade_errors() -> None:
    with pytest.raises(AllocationError) as info:
        cascade(TREE, "root", 300)  # B alone is locked at 400
    assert info.value.code == AllocationErrorCode.REBALANCE_INFEASIBLE
    assert info.value.details["node"] == "root"
    broken = [*TREE[:-1], TreeNode("A3", "A", 1)]
    with pytest.raises(AllocationError) as info:
        cascade(broken, "root", 1100)
    assert info.value.code == AllocationErrorCode.TREE_INCONSISTENT
    assert info.value.details["node"] == "A"
    with pytest.raises(AllocationError) as info:
        cascade(TREE, "nope", 1)
    assert info.value.code == AllocationErrorCode.UNKNOWN_KEY
    cyclic = [TreeNode("r", "x", 1), TreeNode("x", "r", 1)]
    with pytest.raises(AllocationError) as info:
        cascade(cyclic, "r", 2)
    assert info.value.code == AllocationErrorCode.TREE_INCONSISTENT


@st.composite
def trees(draw: st.DrawFn) -> list[TreeNode]:
    nodes = [TreeNode("n0", None, draw(st.integers(0, 10**12)))]
    frontier = [nodes[0]]
    counter = 1
    while frontier and counter < 30:
        parent = frontier.pop(0)
        k = draw(st.integers(0, 4))
        if k == 0:
            continue
        weights = draw(st.lists(st.integers(0, 100), min_size=k, max_size=k))
        if not any(weights):
            weights[0] = 1
        from service.domain.allocation import apportion

        for amount in apportion(parent.amount, weights):
            node = TreeNode(f"n{counter}", parent.key, amount, locked=draw(st.integers(0, 6)) == 0)
            counter += 1
            nodes.append(node)
            frontier.append(node)
    return nodes


@PROFILE
@given(trees(), st.integers(0, 10**12))
def test_cascade_keeps_every_node_equal_to_its_children(nodes: list[TreeNode], new: int) -> None:
    try:
        result = cascade(nodes, "n0", new)
    except InfeasibleAllocationError as exc:
        assert exc.code == AllocationErrorCode.REBALANCE_INFEASIBLE
        assume(False)
        return
    amounts = result.amounts()
    assert amounts["n0"] == new
    assert len(amounts) == len(nodes)
    for node in nodes:
        kids = [n for n in nodes if n.parent_key == node.key]
        if kids:
            assert sum(amounts[k.key] for k in kids) == amounts[node.key]
        if node.locked and node.key != "n0":
            assert amounts[node.key] == node.amount
        assert amounts[node.key] >= 0
