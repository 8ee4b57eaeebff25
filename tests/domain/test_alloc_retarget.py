"""Setting one node's target (``retarget``): bounds, locks and buffers hold in both modes.

Issues covered: a cap enforced when siblings rebalance but not on ROLL_UP; an
edit to the current value that still changed things; buffered nodes that could
no longer be edited ("the children of 21 add up to 110000000, not to its
100000000"); a roll-up past the largest storable amount; messages in minor
units and node keys.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from service.domain.allocation import (
    BIGINT_MAX,
    AbsorbRule,
    AllocationErrorCode,
    AllocationMethod,
    AllocationRequest,
    AllocationSpec,
    ChildInput,
    TargetMode,
    TreeNode,
    Units,
    allocate,
    apportion,
    buffered_total,
    cascade,
    retarget,
    subtree_needed,
    unbuffered,
)
from service.domain.errors import DomainError
from tests.domain.strategies import PROFILE

EUR = Units(2)
REBALANCE, ROLL_UP = TargetMode.REBALANCE_SIBLINGS, TargetMode.ROLL_UP


def tree(*rows: tuple[str, str | None, int], **extra: dict[str, object]) -> list[TreeNode]:
    """Nodes keyed by label; ``extra[label]`` overrides fields (locked, floor, cap, buffer)."""
    parents = {p for _, p, _ in rows if p}
    return [
        TreeNode(
            key=k,
            parent_key=p,
            amount=a,
            label=k,
            split=k in parents,
            **extra.get(k, {}),  # type: ignore[arg-type]
        )
        for k, p, a in rows
    ]


PLAN = tree(
    ("plan", None, 100000),
    ("East", "plan", 60000),
    ("West", "plan", 40000),
    ("E1", "East", 30000),
    ("E2", "East", 30000),
    ("W1", "West", 40000),
)


def amounts_after(nodes: list[TreeNode], key: str, new: int, **kw: object) -> dict[str, int]:
    result = retarget(nodes, key, new, units=EUR, **kw)  # type: ignore[arg-type]
    return {n.key: n.amount for n in nodes} | result.amounts()


# --- issue: bounds in every mode ----------------------------------------------------------


def test_a_cap_holds_on_roll_up_as_it_does_on_rebalance() -> None:
    capped = [replace(n, cap=65000) if n.key == "East" else n for n in PLAN]
    with pytest.raises(DomainError) as info:
        retarget(capped, "E1", 40000, mode=ROLL_UP, units=EUR)
    assert info.value.code == AllocationErrorCode.INVALID_BOUNDS
    assert info.value.message == "East cannot roll up to 700.00: that is above its cap 650.00"
    assert info.value.details["field"] == "target"
    # below the cap the roll-up goes through, and the cap is still there for rebalancing
    assert amounts_after(capped, "E1", 35000, mode=ROLL_UP)["East"] == 65000
    with pytest.raises(DomainError) as info:
        retarget(capped, "West", 30000, units=EUR)  # East would have to take 700.00
    assert info.value.code == AllocationErrorCode.REBALANCE_INFEASIBLE


def test_a_floor_holds_on_roll_up() -> None:
    floored = [replace(n, floor=55000) if n.key == "East" else n for n in PLAN]
    with pytest.raises(DomainError) as info:
        retarget(floored, "E2", 10000, mode=ROLL_UP, units=EUR)
    assert info.value.message == "East cannot roll up to 400.00: that is below its floor 550.00"


@pytest.mark.parametrize("mode", list(TargetMode))
def test_the_edited_node_keeps_its_own_bounds_in_both_modes(mode: TargetMode) -> None:
    bounded = [replace(n, floor=20000, cap=50000) if n.key == "E1" else n for n in PLAN]
    for new, word in ((50001, "above its cap 500.00"), (19999, "below its floor 200.00")):
        with pytest.raises(DomainError) as info:
            retarget(bounded, "E1", new, mode=mode, units=EUR)
        assert info.value.code == AllocationErrorCode.INVALID_BOUNDS
        assert info.value.message.startswith("E1 cannot be set to ")
        assert word in info.value.message


def test_a_locked_ancestor_refuses_a_roll_up() -> None:
    locked = [replace(n, locked=True) if n.key == "plan" else n for n in PLAN]
    with pytest.raises(DomainError) as info:
        retarget(locked, "E1", 31000, mode=ROLL_UP, units=EUR)
    assert info.value.code == AllocationErrorCode.LOCKED
    assert info.value.details["field"] == "mode"
    assert info.value.message == (
        "rolling up would change plan, which is locked at 1000.00; unlock it or rebalance the "
        "siblings instead"
    )


def test_descendants_keep_their_floors_and_caps_in_a_cascade() -> None:
    nodes = [
        replace(n, floor=28000) if n.key == "E1" else replace(n, cap=31000) if n.key == "E2" else n
        for n in PLAN
    ]
    after = amounts_after(nodes, "East", 50000)
    assert (after["E1"], after["E2"]) == (28000, 22000)
    after = amounts_after(nodes, "East", 70000)
    assert (after["E1"], after["E2"]) == (39000, 31000)
    with pytest.raises(DomainError) as info:
        retarget(nodes, "East", 20000, units=EUR)
    assert info.value.code == AllocationErrorCode.REBALANCE_INFEASIBLE
    assert "floors add up to 280.00, above the 200.00 to split: E1 >= 280.00" in info.value.message


def test_a_roll_up_past_the_largest_amount_is_out_of_range() -> None:
    nodes = tree(("plan", None, BIGINT_MAX - 10), ("a", "plan", BIGINT_MAX - 20), ("b", "plan", 10))
    with pytest.raises(DomainError) as info:
        retarget(nodes, "a", BIGINT_MAX, mode=ROLL_UP, units=EUR)
    assert info.value.code == AllocationErrorCode.AMOUNT_OUT_OF_RANGE
    assert info.value.message == (
        "rolling up would take plan to 92233720368547758.17, above the largest target "
        "92233720368547758.07"
    )
    with pytest.raises(DomainError) as info:
        retarget(nodes, "a", BIGINT_MAX + 1, units=EUR)
    assert info.value.code == AllocationErrorCode.AMOUNT_OUT_OF_RANGE
    assert "got 92233720368547758.08" in info.value.message


# --- issue: edits that are not edits --------------------------------------------------------


@pytest.mark.parametrize("mode", list(TargetMode))
@pytest.mark.parametrize("key", ["plan", "East", "E1", "W1"])
def test_setting_the_current_value_changes_nothing(mode: TargetMode, key: str) -> None:
    current = next(n.amount for n in PLAN if n.key == key)
    result = retarget(PLAN, key, current, mode=mode, units=EUR)
    assert result.changes == () and result.is_noop


# --- issue: buffers that lock the tree ---------------------------------------------------------


def buffered_plan() -> list[TreeNode]:
    """The plan (1,000,000.00) split equally over three regions with a 10 % buffer."""
    split = allocate(
        AllocationRequest(
            100000000,
            tuple(ChildInput(k) for k in ("East", "West", "North")),
            AllocationSpec(AllocationMethod.EQUAL, over_assignment=10),
            "the plan",
            EUR,
        )
    )
    assert split.amounts == (36666667, 36666666, 36666667)  # ties: the smaller key first
    east, *_ = split.explanations
    assert east.text == (
        "East: 366666.67 = 36.67 % of the plan (33.33 % of 1100000.00, the plan plus its 10 % "
        "buffer): equal share 1/3; rounded up (largest remainder) from 366666.66666667 to "
        "366666.67"
    )
    assert east.buffer == {"over_assignment": "10", "parent": 100000000, "total": 110000000}
    return [
        TreeNode("21", None, 100000000, label="the plan", buffer="10", split=True),
        *(
            TreeNode(str(22 + i), "21", a, label=k)
            for i, (k, a) in enumerate(zip(("East", "West", "North"), split.amounts, strict=True))
        ),
    ]


def test_retargeting_a_buffered_node_keeps_the_buffer_percentage() -> None:
    nodes = buffered_plan()
    result = retarget(nodes, "21", 200000000, units=EUR, by="alice")
    after = {n.key: n.amount for n in nodes} | result.amounts()
    assert after["21"] == 200000000
    assert after["22"] + after["23"] + after["24"] == 220000000  # still +10 %
    first = result.changes[1].explanation
    assert first["method"] == "CASCADE"
    assert first["text"].startswith(
        "East: 733333.34 = 36.67 % of the plan (33.33 % of 2200000.00, the plan plus its 10 % "
        "buffer)"
    )


def test_rebalancing_siblings_under_a_buffered_parent_works() -> None:
    nodes = buffered_plan()
    after = amounts_after(nodes, "22", 40000000)
    assert after["22"] + after["23"] + after["24"] == 110000000
    assert after["21"] == 100000000


def test_roll_up_through_a_buffer_keeps_every_sum_exact() -> None:
    """``buffered_total`` skips values: with 10 %, parents 1000000.04 and 1000000.05 give
    children totals 1100000.04 and 1100000.06. A child moving by +0.05 makes the
    children add up to 1100000.05, so the parent becomes 1000000.04 (the largest whose
    buffered total fits) and the other children give back 0.01."""
    nodes = buffered_plan()
    result = retarget(nodes, "22", 36666672, mode=ROLL_UP, units=EUR, by="alice")
    after = {n.key: n.amount for n in nodes} | result.amounts()
    assert after["22"] == 36666672  # exactly what was asked
    assert after["21"] == 100000004
    assert after["22"] + after["23"] + after["24"] == buffered_total(100000004, 10)
    assert (after["23"], after["24"]) == (36666666, 36666666)  # North gave back one cent
    plan = next(c for c in result.changes if c.key == "21").explanation
    assert plan["method"] == "ROLL_UP"
    assert plan["text"] == (
        "the plan: 1000000.04; rolled up from 1000000.00 to 1000000.04: East moved +0.05; "
        "with its 10 % buffer its children add up to 1100000.04 (its other children gave "
        "back 0.01)"
    )
    north = next(c for c in result.changes if c.key == "24").explanation
    assert north["adjustments"][-1]["kind"] == "BUFFER"
    assert north["text"].endswith(
        "gives back 0.01 of the roll-up so that the children of the plan add up exactly to "
        "1100000.04, the plan plus its 10 % buffer"
    )


def test_the_tree_inconsistent_message_speaks_in_units_and_labels() -> None:
    nodes = [replace(n, buffer=0) if n.key == "21" else n for n in buffered_plan()]
    with pytest.raises(DomainError) as info:
        retarget(nodes, "22", 1, units=EUR)
    assert info.value.code == AllocationErrorCode.TREE_INCONSISTENT
    assert info.value.message == (
        "the children of the plan add up to 1100000.00, not to its 1000000.00"
    )
    nodes = [replace(n, buffer=5) if n.key == "21" else n for n in buffered_plan()]
    with pytest.raises(DomainError) as info:
        retarget(nodes, "21", 1, units=EUR)
    assert info.value.message == (
        "the children of the plan add up to 1100000.00, not to its 1000000.00 plus its "
        "5 % buffer (1050000.00)"
    )


def test_explanations_speak_in_currency_units_and_member_names() -> None:
    request = AllocationRequest(
        1000000000,
        (ChildInput("EAST", weight=42, label="East"), ChildInput("WEST", weight=58, label="West")),
        AllocationSpec(AllocationMethod.WEIGHTS),
        "the plan",
        EUR,
    )
    east, _ = allocate(request).explanations
    assert east.text == "East: 4200000.00 = 42 % of the plan: weight 42 of 100"
    nodes = tree(
        ("plan", None, 1000000000), ("EAST", "plan", 420000000), ("WEST", "plan", 580000000)
    )
    result = retarget(
        [
            replace(n, label={"EAST": "East", "WEST": "West", "plan": "the plan"}[n.key])
            for n in nodes
        ],
        "EAST",
        500000000,
        units=EUR,
        by="alice",
    )
    edited, west = result.changes
    assert edited.explanation["text"] == (
        "East: 5000000.00 = 50 % of the plan; set from 4200000.00 to 5000000.00 by alice (the "
        "siblings absorb the difference)"
    )
    assert (edited.explanation["previous"], edited.explanation["by"]) == (420000000, "alice")
    assert west.explanation["text"] == (
        "West: 5000000.00 = 50 % of the plan: was 5800000.00; absorbs -800000.00 in proportion "
        "to its current amount"
    )


def test_a_split_node_without_its_children_is_refused_not_treated_as_a_leaf() -> None:
    nodes = [n for n in PLAN if n.parent_key != "East"]
    with pytest.raises(DomainError) as info:
        retarget(nodes, "East", 50000, units=EUR)
    assert info.value.code == AllocationErrorCode.TREE_INCONSISTENT
    assert info.value.message == "East is split but its children were not given"


def test_subtree_needed() -> None:
    east, plan = PLAN[1], PLAN[0]
    assert subtree_needed(REBALANCE, east, [plan]) == "plan"
    assert subtree_needed(REBALANCE, plan, []) == "plan"
    assert subtree_needed(ROLL_UP, east, [plan]) == "East"
    assert subtree_needed(ROLL_UP, PLAN[3], [east, replace(plan, buffer=10)]) == "plan"


def test_original_method_absorbs_by_the_stored_request() -> None:
    nodes = tree(("p", None, 1000), ("a", "p", 250), ("b", "p", 400), ("c", "p", 350))
    original = AllocationRequest(
        1000,
        (ChildInput("a", potential=1), ChildInput("b", potential=1), ChildInput("c", potential=2)),
        AllocationSpec(AllocationMethod.POTENTIAL),
    )
    after = amounts_after(nodes, "a", 100, absorb=AbsorbRule.ORIGINAL_METHOD, original=original)
    assert (after["b"], after["c"]) == (300, 600)


# --- properties ------------------------------------------------------------------------------

BUFFERS = st.sampled_from([0, 0, 0, "10", "2.5", "1/3", 100, "0.01"])


@st.composite
def trees(draw: st.DrawFn) -> list[TreeNode]:
    """A consistent tree: each node's children add up to it plus its buffer; random
    locks, floors and caps that the current amounts respect."""
    big = draw(st.booleans())
    root = draw(st.integers(0, 10**17 if big else 10**7))
    pending: list[tuple[str, str | None, int, int]] = [("n0", None, root, 0)]
    nodes: list[TreeNode] = []
    count = 1
    while pending:
        key, parent, amount, depth = pending.pop(0)
        k = draw(st.integers(0, 4)) if depth < 3 and count < 24 else 0
        buffer = draw(BUFFERS) if k else 0
        floor = draw(st.one_of(st.none(), st.none(), st.integers(0, amount)))
        cap = draw(st.one_of(st.none(), st.none(), st.integers(amount, amount * 2 + 100)))
        locked = parent is not None and draw(st.integers(0, 6)) == 0
        nodes.append(
            TreeNode(key, parent, amount, locked, floor, cap, f"L{key}", buffer, split=k > 0)
        )
        if k:
            weights = draw(st.lists(st.integers(0, 100), min_size=k, max_size=k))
            if not any(weights):
                weights[0] = 1
            for part in apportion(buffered_total(amount, buffer), weights):
                pending.append((f"n{count}", key, part, depth + 1))
                count += 1
    return nodes


EXPECTED_REFUSALS = {
    AllocationErrorCode.REBALANCE_INFEASIBLE,
    AllocationErrorCode.INVALID_BOUNDS,
    AllocationErrorCode.LOCKED,
    AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
}


@PROFILE
@given(trees(), st.data())
def test_retarget_keeps_sums_bounds_locks_and_buffers(
    nodes: list[TreeNode], data: st.DataObject
) -> None:
    node = data.draw(st.sampled_from(nodes))
    mode = data.draw(st.sampled_from(list(TargetMode)))
    new = data.draw(
        st.one_of(
            st.just(node.amount),
            st.integers(max(0, node.amount - node.amount // 2 - 5), node.amount * 3 // 2 + 5),
            st.integers(0, BIGINT_MAX),
        )
    )
    try:
        result = retarget(nodes, node.key, new, mode=mode, units=EUR, by="prop")
    except DomainError as exc:
        assert exc.code in EXPECTED_REFUSALS, exc
        assert exc.message and "\n" not in exc.message
        event(f"refused {exc.code}")
        return
    event(f"{mode.value} ok")
    index = {n.key: n for n in nodes}
    after = {n.key: n.amount for n in nodes} | result.amounts()
    assert after[node.key] == new
    if new == node.amount:
        assert result.changes == ()
    keys = [c.key for c in result.changes]
    assert len(keys) == len(set(keys))
    for change in result.changes:
        before = index[change.key]
        assert change.old_amount == before.amount != change.new_amount
        assert 0 <= change.new_amount <= BIGINT_MAX
        assert before.floor is None or change.new_amount >= before.floor
        assert before.cap is None or change.new_amount <= before.cap
        assert not before.locked or change.key == node.key  # locks hold
        assert change.explanation["text"]
    for n in nodes:  # every sum exact, every buffer kept at its percentage
        kids = [after[c.key] for c in nodes if c.parent_key == n.key]
        if kids:
            assert sum(kids) == buffered_total(after[n.key], n.buffer), n.key
    if mode is REBALANCE and node.parent_key is not None:
        assert after[node.parent_key] == index[node.parent_key].amount


@PROFILE
@given(trees(), st.integers(0, 10**17))
def test_cascade_respects_every_descendant_bound_and_buffer(
    nodes: list[TreeNode], new: int
) -> None:
    root = nodes[0]
    assume(root.floor is None or new >= root.floor)
    assume(root.cap is None or new <= root.cap)
    try:
        result = cascade(nodes, root.key, new, units=EUR)
    except DomainError as exc:
        assert exc.code in EXPECTED_REFUSALS, exc
        return
    after = result.amounts()
    for n in nodes:
        kids = [after[c.key] for c in nodes if c.parent_key == n.key]
        if kids:
            assert sum(kids) == buffered_total(after[n.key], n.buffer)
        if n.key != root.key:
            assert n.floor is None or after[n.key] >= n.floor
            assert n.cap is None or after[n.key] <= n.cap
            if n.locked:
                assert after[n.key] == n.amount


@PROFILE
@given(
    st.integers(0, BIGINT_MAX),
    st.one_of(
        st.integers(0, 300),
        st.fractions(min_value=0, max_value=1000, max_denominator=10**6),
        st.sampled_from(["10", "2.5", "1e-300", "1e300"]),
    ),
)
def test_unbuffered_is_the_inverse_rounded_down(total: int, pct: object) -> None:
    parent = unbuffered(total, pct)  # type: ignore[arg-type]
    rate = Fraction(str(pct)) if not isinstance(pct, Fraction) else pct

    def f(p: int) -> int:
        return p + int((p * rate / 100 + Fraction(1, 2)).__floor__())

    assert f(parent) <= total < f(parent + 1)
    assert total - f(parent) <= -(-rate // 100)  # the remainder a roll-up hands back
