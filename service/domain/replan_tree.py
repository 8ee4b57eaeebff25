"""Re-plan a whole target tree from its actuals: the arithmetic of ``versionReplan``.

``replan_tree(nodes, periods, ...)`` walks a version's tree from the root down and
returns every node whose target moves, with its old and new amount and why. It
never writes; the caller copies the version and stores the changes.

Documented rules
----------------
* **Time splits are re-planned.** A node whose children are periods (time
  members; ``periods`` names each of them, closed or open, with the actual of
  each closed one) keeps its amount; its closed periods take their actuals and
  the gap (the node's amount minus the actuals to date) is spread over the open
  periods by :func:`~service.domain.allocation.replan.replan_remainder`: in
  proportion to their current targets, locked open periods keeping theirs.
  Every sum stays exact and **no total above a time split changes**.
* **Everything below a moved node follows.** A node whose amount moved (a
  period re-planned, or a node below one) re-splits its children in proportion
  (:func:`~service.domain.allocation.rebalance.cascade`: locks, floors, caps and
  quota buffers kept); when those children are periods themselves they are
  first re-split in proportion, then re-planned as above.
* **A split with no open period** (every period closed: it lies inside a
  closed period) takes its actuals when they add up exactly to the node's new
  amount (always the case for the months of a closed quarter that was frozen at
  its actual: the same slice, the same days); otherwise the periods are re-split
  in proportion, not frozen, and a note reports the difference (a node that is
  not itself a period, e.g. a region inside a closed quarter, keeps its share of
  the quarter, so its months cannot all equal their actuals).
* **Overshoot** (the actuals to date above the node's amount) is refused
  (``OVERSHOOT``, with the numbers): a re-plan keeps every total; raise the
  node's target first. A negative actual (net returns) is refused too
  (``AMOUNT_OUT_OF_RANGE``): targets are zero or more.
* Closed periods take their actuals even when locked or outside their floor or
  cap: an actual is a fact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from service.domain.allocation.errors import (
    AllocationErrorCode,
    AllocationInputError,
    InfeasibleAllocationError,
)
from service.domain.allocation.rebalance import TreeNode, cascade
from service.domain.allocation.replan import PeriodInput, replan_remainder
from service.domain.allocation.units import MINOR, Units


@dataclass(frozen=True, slots=True)
class PeriodState:
    """A node that is a period of its parent's time split: closed or open, and the
    actual of its slice when closed."""

    closed: bool
    actual: int | None = None


@dataclass(frozen=True, slots=True)
class ReplannedNode:
    key: str
    old_amount: int
    new_amount: int
    explanation: dict[str, Any]


@dataclass(frozen=True)
class TreeReplan:
    changes: tuple[ReplannedNode, ...]
    """Every node whose target moved, parents before children."""
    frozen: tuple[str, ...]
    """Keys of the closed periods now at their actuals."""
    notes: tuple[str, ...]


def replan_tree(
    nodes: Sequence[TreeNode],
    periods: Mapping[str, PeriodState],
    *,
    as_of: str,
    units: Units = MINOR,
) -> TreeReplan:
    """Re-plan the tree of ``nodes`` (all of a version's nodes, any order, one root);
    see the module docstring. ``as_of`` (an ISO date) only appears in texts."""
    kids: dict[str, list[TreeNode]] = defaultdict(list)
    roots = []
    for node in nodes:
        if node.parent_key is None:
            roots.append(node)
        else:
            kids[node.parent_key].append(node)
    if len(roots) != 1:
        raise AllocationInputError(
            AllocationErrorCode.TREE_INCONSISTENT, "a version has exactly one root", {}
        )
    new: dict[str, int] = {roots[0].key: roots[0].amount}
    why: dict[str, dict[str, Any]] = {}
    frozen: list[str] = []
    notes: list[str] = []
    order: list[TreeNode] = []
    stack = [roots[0]]
    while stack:
        node = stack.pop()
        order.append(node)
        children = kids.get(node.key, [])
        if not children:
            continue
        amount = new[node.key]
        base = [c.amount for c in children]
        base_why: dict[str, dict[str, Any]] = {}
        if amount != node.amount:
            shallow = [replace(c, split=False) for c in children]
            result = cascade([replace(node, split=True), *shallow], node.key, amount, units=units)
            moved = result.amounts()
            base = [moved[c.key] for c in children]
            base_why = {
                c.key: c.explanation.to_dict() for c in result.changes if c.explanation is not None
            }
        states = [periods[c.key] for c in children if c.key in periods]
        if len(states) == len(children):
            amounts, explained = _replan_periods(
                node,
                children,
                base,
                states,
                as_of,
                units,
                notes,
                frozen,
            )
            base_why.update(explained)
        else:
            amounts = base
        for child, value in zip(children, amounts, strict=True):
            new[child.key] = value
            if value != child.amount and child.key in base_why:
                why[child.key] = base_why[child.key]
        stack.extend(reversed(children))
    changes = tuple(
        ReplannedNode(n.key, n.amount, new[n.key], why.get(n.key, {}))
        for n in order
        if new[n.key] != n.amount
    )
    return TreeReplan(changes=changes, frozen=tuple(frozen), notes=tuple(notes))


def _replan_periods(
    node: TreeNode,
    children: Sequence[TreeNode],
    base: Sequence[int],
    states: Sequence[PeriodState],
    as_of: str,
    units: Units,
    notes: list[str],
    frozen: list[str],
) -> tuple[list[int], dict[str, dict[str, Any]]]:
    negative = [
        c.name for c, s in zip(children, states, strict=True) if s.closed and (s.actual or 0) < 0
    ]
    if negative:
        raise AllocationInputError(
            AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
            f"the actuals of {', '.join(negative[:20])} (below {node.name}) are negative as of "
            f"{as_of}; a target cannot be",
            {"children": negative[:20], "field": "asOf"},
        )
    closed = [s.actual or 0 for s in states if s.closed]
    total = sum(base)
    if len(closed) == len(states) and sum(closed) != total:
        notes.append(
            f"every period of {node.name} is closed but their actuals "
            f"({units.amount(sum(closed))}) differ from its {units.amount(total)}: "
            "re-split in proportion, not frozen"
        )
        return list(base), {}
    inputs = [
        PeriodInput(
            key=c.key,
            target=b,
            actual=s.actual if s.closed else None,
            closed=s.closed,
            locked=c.locked and not s.closed,
            label=c.label,
        )
        for c, b, s in zip(children, base, states, strict=True)
    ]
    try:
        result = replan_remainder(inputs, parent_key=node.name, units=units)
    except InfeasibleAllocationError as exc:
        if exc.code == AllocationErrorCode.OVERSHOOT:
            raise InfeasibleAllocationError(
                AllocationErrorCode.OVERSHOOT,
                f"{node.name}: actuals to date "
                f"{units.amount(exc.details['actual_to_date'])} already exceed its target "
                f"{units.amount(exc.details['total'])}; a re-plan keeps every total, so raise "
                f"{node.name}'s target first",
                {**exc.details, "node": node.key, "field": "asOf"},
            ) from None
        raise
    assert result.total == total
    context = (
        f"re-planned as of {as_of}: {node.name} {units.amount(total)}, actuals to date "
        f"{units.amount(result.actual_to_date)}, gap {units.amount(result.gap)} over the open "
        "periods"
    )
    explained = {
        c.key: {**e.to_dict(), "replan": {"asOf": as_of, "text": context}}
        for c, e in zip(children, result.explanations, strict=True)
    }
    frozen.extend(c.key for c, s in zip(children, states, strict=True) if s.closed)
    return list(result.amounts), explained
