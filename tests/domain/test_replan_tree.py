"""replan_tree: the pure arithmetic of versionReplan."""

from __future__ import annotations

import pytest

from service.domain.allocation.errors import AllocationError
from service.domain.allocation.rebalance import TreeNode
from service.domain.replan_tree import PeriodState, replan_tree


def _node(key: str, parent: str | None, amount: int, **extra: object) -> TreeNode:
    return TreeNode(key=key, parent_key=parent, amount=amount, label=key, **extra)  # type: ignore[arg-type]


def test_locked_open_period_keeps_its_target() -> None:
    nodes = [
        _node("Y", None, 1200, split=True),
        _node("Q1", "Y", 300),
        _node("Q2", "Y", 300, locked=True),
        _node("Q3", "Y", 300),
        _node("Q4", "Y", 300),
    ]
    periods = {
        "Q1": PeriodState(True, 120),
        "Q2": PeriodState(False),
        "Q3": PeriodState(False),
        "Q4": PeriodState(False),
    }
    result = replan_tree(nodes, periods, as_of="2027-03-31")
    moved = {c.key: c.new_amount for c in result.changes}
    assert moved == {"Q1": 120, "Q3": 390, "Q4": 390}
    assert result.frozen == ("Q1",)


def test_closed_split_whose_actuals_do_not_add_up_is_rescaled_and_noted() -> None:
    nodes = [
        _node("Y", None, 1000, split=True),
        _node("Q1", "Y", 500, split=True),
        _node("Q2", "Y", 500),
        _node("R1", "Q1", 250, split=True),
        _node("R2", "Q1", 250),
        _node("M1", "R1", 125),
        _node("M2", "R1", 125),
    ]
    periods = {
        "Q1": PeriodState(True, 400),
        "Q2": PeriodState(False),
        "M1": PeriodState(True, 10),
        "M2": PeriodState(True, 20),
    }
    result = replan_tree(nodes, periods, as_of="2027-06-29")
    moved = {c.key: c.new_amount for c in result.changes}
    assert moved == {"Q1": 400, "Q2": 600, "R1": 200, "R2": 200, "M1": 100, "M2": 100}
    assert result.frozen == ("Q1",)
    (note,) = result.notes
    assert note.startswith("every period of R1 is closed")


def test_overshoot_is_refused() -> None:
    nodes = [_node("Y", None, 100, split=True), _node("A", "Y", 50), _node("B", "Y", 50)]
    with pytest.raises(AllocationError) as caught:
        replan_tree(
            nodes, {"A": PeriodState(True, 150), "B": PeriodState(False)}, as_of="2027-06-30"
        )
    assert caught.value.code == "OVERSHOOT"
    assert caught.value.details["field"] == "asOf"
    # It names the numbers and the one way out a re-plan offers (no engine-only options).
    message = str(caught.value)
    assert "already exceed its target" in message and "raise Y's target first" in message
    assert "ZERO_OPEN" not in message
