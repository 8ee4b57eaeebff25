"""Set one node's target: the arithmetic of ``nodeSetTarget`` as a pure function.

``retarget(nodes, key, new_amount, mode=..., absorb=...)`` returns every node
whose target changes (old amount, new amount, explanation), or raises a
:class:`~service.domain.errors.DomainError` naming the node, the bound and the
amounts. It never writes anything; the caller stores the changes.

Documented rules
----------------
* **No-op.** A new amount equal to the current one returns no change at all
  (``RetargetResult.changes == ()``): the caller writes nothing, bumps nothing.
* **The edited node** must stay within its own floor and cap in every mode
  (``INVALID_BOUNDS``). Setting it explicitly overrides its own lock (a lock
  protects a node from moves caused by *other* edits).
* **REBALANCE_SIBLINGS** (a root has no siblings: its change is a new plan
  total). The parent keeps its amount; the unlocked siblings absorb the
  difference by ``absorb`` (see :func:`~.rebalance.rebalance`) within their
  floors and caps; locked siblings keep theirs. When the parent's split carries
  a quota buffer the siblings keep adding up to the parent plus its buffer.
* **ROLL_UP** (a bottom-up edit). Each ancestor, nearest first, takes the change
  of its child on the path: an ancestor ``A`` whose children add up to
  ``S = buffered_total(A, p)`` (``p`` its buffer percentage, 0 for none) sees
  them add up to ``S' = S + delta``. Without a buffer ``A' = S'``. With one,
  ``buffered_total`` skips values, so the rule is: **A' is the largest amount
  whose buffered total does not exceed S'** (:func:`~.constraints.unbuffered`),
  and the remainder ``r = S' - buffered_total(A', p)`` (``0 <= r <= ceil(p / 100)``
  units, e.g. at most one cent for a buffer up to 100 %) is given back by A's
  *other* unlocked children, in proportion to their amounts and within their
  bounds (the PROPORTIONAL rule). So every sum stays exact, the buffer keeps its
  percentage, and the edited node keeps exactly the amount asked for. ``A``
  then moves by ``A' - A`` to its own parent, and so on; the roll-up stops at
  the first ancestor that does not move. A locked ancestor that would move is
  ``LOCKED``; an ancestor pushed outside its floor or cap is ``INVALID_BOUNDS``;
  past the largest storable amount is ``AMOUNT_OUT_OF_RANGE``; other children
  unable to give back ``r`` is ``REBALANCE_INFEASIBLE``.
* **Cascade.** Every node that moved, except the ancestors of a roll-up (their
  other children stay as they are), re-splits its subtree in proportion
  (:func:`~.rebalance.cascade`): descendants keep their floors and caps, locked
  descendants and their subtrees keep their amounts, buffered nodes keep their
  buffer percentage.
* Every amount returned lies in ``0 .. 2**63 - 1``.

What to pass
------------
``nodes`` is a flat list of :class:`~.rebalance.TreeNode` (``label`` for texts,
``buffer`` the over-assignment percentage of the node's own split, ``split``
when it has children) holding the edited node, its ancestors up to the root,
and the whole subtree of the node named by :func:`subtree_needed` (the parent
for REBALANCE_SIBLINGS; for ROLL_UP the highest buffered ancestor, else the
edited node). Siblings keep the order they are given in. A split node that
must re-split but whose children are missing is refused (``TREE_INCONSISTENT``),
never treated as a leaf. ``original`` is the parent's stored request keyed by
node keys (``ORIGINAL_METHOD`` only). Texts use labels and ``units``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from fractions import Fraction
from typing import Any

from service.domain.allocation.constraints import (
    buffer_percentage,
    buffered_total,
    buffered_total_exact,
    unbuffered,
)
from service.domain.allocation.errors import (
    AllocationError,
    AllocationErrorCode,
    AllocationInputError,
    InfeasibleAllocationError,
)
from service.domain.allocation.exact import BIGINT_MAX, show, sig_text
from service.domain.allocation.explain import (
    Adjustment,
    AdjustmentKind,
    ChildExplanation,
    buffer_info,
    sentence,
)
from service.domain.allocation.model import AllocationRequest
from service.domain.allocation.rebalance import (
    AbsorbRule,
    CurrentChild,
    TreeNode,
    cascade,
    check_bounds,
    check_children_sum,
    rebalance,
)
from service.domain.allocation.units import MINOR, Units, amount_text

_MAX_LISTED = 20


class TargetMode(StrEnum):
    """Who pays for a node's new target (values equal names)."""

    REBALANCE_SIBLINGS = "REBALANCE_SIBLINGS"
    """The parent keeps its total; the unlocked siblings absorb the difference."""
    ROLL_UP = "ROLL_UP"
    """The parent and every ancestor change with it (a bottom-up edit)."""


@dataclass(frozen=True, slots=True)
class TargetChange:
    """One node whose target changes."""

    key: str
    label: str
    parent_key: str | None
    old_amount: int
    new_amount: int
    explanation: dict[str, Any]
    """JSON-ready explanation (minor units inside, texts in currency units)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "parent_key": self.parent_key,
            "old_amount": self.old_amount,
            "new_amount": self.new_amount,
            "explanation": dict(self.explanation),
        }


@dataclass(frozen=True)
class RetargetResult:
    """Every node whose target changes: the edited one first, then the siblings or
    ancestors that moved with it, then their subtrees (parents before children)."""

    key: str
    old_amount: int
    new_amount: int
    mode: TargetMode
    changes: tuple[TargetChange, ...]
    notes: tuple[str, ...] = ()

    @property
    def is_noop(self) -> bool:
        """True when nothing changes (the new amount equals the current one)."""
        return not self.changes

    def amounts(self) -> dict[str, int]:
        """``{key: new amount}`` of the nodes that change."""
        return {c.key: c.new_amount for c in self.changes}


def subtree_needed(mode: TargetMode, node: TreeNode, ancestors: Sequence[TreeNode]) -> str:
    """The key of the node whose whole subtree :func:`retarget` needs (besides the
    ancestors): the parent for REBALANCE_SIBLINGS (the node itself for a root); for
    ROLL_UP the highest ancestor with a buffer, else the node itself.
    ``ancestors`` go nearest first."""
    if mode is TargetMode.REBALANCE_SIBLINGS:
        return ancestors[0].key if ancestors else node.key
    top = node.key
    for ancestor in ancestors:
        if buffer_percentage(ancestor.buffer):
            top = ancestor.key
    return top


def retarget(
    nodes: Sequence[TreeNode],
    key: str,
    new_amount: int,
    *,
    mode: TargetMode = TargetMode.REBALANCE_SIBLINGS,
    absorb: AbsorbRule = AbsorbRule.PROPORTIONAL,
    original: AllocationRequest | None = None,
    units: Units = MINOR,
    by: str | None = None,
) -> RetargetResult:
    """Give node ``key`` the target ``new_amount`` (see the module docstring)."""
    try:
        return _retarget(nodes, key, new_amount, mode, absorb, original, units, by)
    except AllocationError as exc:
        exc.details.setdefault("field", "target")
        raise


def _retarget(
    nodes: Sequence[TreeNode],
    key: str,
    new_amount: int,
    mode: TargetMode,
    absorb: AbsorbRule,
    original: AllocationRequest | None,
    units: Units,
    by: str | None,
) -> RetargetResult:
    if not isinstance(mode, TargetMode):
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT, f"unknown mode {show(mode)}", {"field": "mode"}
        )
    index: dict[str, TreeNode] = {}
    for n in nodes:
        if n.key in index:
            raise AllocationInputError(
                AllocationErrorCode.DUPLICATE_KEY,
                f"node {n.name} is given twice",
                {"key": show(n.key)},
            )
        index[n.key] = n
    if key not in index:
        raise AllocationInputError(
            AllocationErrorCode.UNKNOWN_KEY, f"{show(key)} is not a node", {"key": show(key)}
        )
    node = index[key]
    bad = [n for n in nodes if not _in_range(n.amount)]
    if bad:
        raise AllocationInputError(
            AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
            "stored targets must be whole amounts from 0 to "
            f"{units.amount(BIGINT_MAX)}: "
            + ", ".join(f"{n.name} {amount_text(n.amount, units)}" for n in bad[:_MAX_LISTED]),
            {"children": [n.key for n in bad[:_MAX_LISTED]]},
        )
    if not _in_range(new_amount):
        raise AllocationInputError(
            AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
            f"the new target of {node.name} must be a whole amount from 0 to "
            f"{units.amount(BIGINT_MAX)}, got {amount_text(new_amount, units)}",
            {"children": [key], "field": "target"},
        )
    check_bounds(node.name, new_amount, node.floor, node.cap, units, field="target")
    if new_amount == node.amount:
        return RetargetResult(key, node.amount, new_amount, mode, ())

    kids: dict[str, list[TreeNode]] = defaultdict(list)
    for n in nodes:
        if n.parent_key is not None:
            kids[n.parent_key].append(n)
    path = _ancestors(index, node)
    parent = path[0] if path else None
    if node.parent_key is not None and parent is None:
        raise AllocationInputError(
            AllocationErrorCode.TREE_INCONSISTENT,
            f"the parent of {node.name} was not given",
            {"node": key},
        )

    moved: dict[str, tuple[int, ChildExplanation | None]] = {key: (new_amount, None)}
    rolled: list[tuple[TreeNode, int, TreeNode, int, int]] = []
    """(ancestor, its new amount, its child on the path, that child's move, remainder)"""
    notes: list[str] = []
    if parent is not None and mode is TargetMode.REBALANCE_SIBLINGS:
        siblings = kids[parent.key]
        check_children_sum(parent, siblings, units)
        result = rebalance(
            [CurrentChild(s.key, s.amount, s.locked, s.floor, s.cap, s.label) for s in siblings],
            key,
            new_amount,
            rule=absorb,
            original=original,
            parent_key=parent.name,
            units=units,
            parent_amount=parent.amount,
            over_assignment=parent.buffer,
        )
        notes.extend(result.notes)
        for sibling, value, why in zip(siblings, result.amounts, result.explanations, strict=True):
            if sibling.key != key and value != sibling.amount:
                moved[sibling.key] = (value, why)
    elif parent is not None:
        _roll_up(index, kids, node, new_amount, path, units, moved, rolled)

    changes = _frame_changes(index, node, new_amount, parent, moved, rolled, mode, units, by)
    below: list[TargetChange] = []
    rolled_keys = {a.key for a, *_ in rolled}
    for change in changes:
        if change.key in rolled_keys:
            continue  # an ancestor of a roll-up keeps its other children
        below.extend(_cascade(index, kids, change.key, change.new_amount, units))
    out = (*changes, *below)
    wrong = [c for c in out if not _in_range(c.new_amount)]
    if wrong:  # pragma: no cover - every step checks its own range
        raise AllocationInputError(
            AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
            f"{wrong[0].label} would get {amount_text(wrong[0].new_amount, units)}",
            {"children": [c.key for c in wrong[:_MAX_LISTED]]},
        )
    return RetargetResult(key, node.amount, new_amount, mode, out, tuple(notes))


def _in_range(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= BIGINT_MAX


def _ancestors(index: dict[str, TreeNode], node: TreeNode) -> list[TreeNode]:
    """The given ancestors of ``node``, nearest first (stops where one is missing)."""
    out: list[TreeNode] = []
    seen = {node.key}
    current = node
    while current.parent_key is not None and current.parent_key in index:
        if current.parent_key in seen:
            raise InfeasibleAllocationError(
                AllocationErrorCode.TREE_INCONSISTENT,
                f"{node.name} is its own ancestor",
                {"node": node.key},
            )
        current = index[current.parent_key]
        seen.add(current.key)
        out.append(current)
    return out


def _roll_up(
    index: dict[str, TreeNode],
    kids: dict[str, list[TreeNode]],
    node: TreeNode,
    new_amount: int,
    path: list[TreeNode],
    units: Units,
    moved: dict[str, tuple[int, ChildExplanation | None]],
    rolled: list[tuple[TreeNode, int, TreeNode, int, int]],
) -> None:
    child, child_new = node, new_amount
    depth = 0
    while True:
        delta = child_new - child.amount
        if delta == 0 or child.parent_key is None:
            return
        if depth >= len(path):
            raise AllocationInputError(
                AllocationErrorCode.TREE_INCONSISTENT,
                f"the parent of {child.name} was not given",
                {"node": child.key},
            )
        ancestor = path[depth]
        depth += 1
        if ancestor.locked:
            raise InfeasibleAllocationError(
                AllocationErrorCode.LOCKED,
                f"rolling up would change {ancestor.name}, which is locked at "
                f"{units.amount(ancestor.amount)}; unlock it or rebalance the siblings instead",
                {"node": ancestor.key, "field": "mode"},
            )
        pct = buffer_percentage(ancestor.buffer)
        before = buffered_total_exact(ancestor.amount, pct)
        after = before + delta
        if after < 0:
            raise InfeasibleAllocationError(
                AllocationErrorCode.TREE_INCONSISTENT,
                f"the children of {ancestor.name} would add up to less than 0",
                {"node": ancestor.key},
            )
        new = unbuffered(after, pct) if pct else after
        if new > BIGINT_MAX:
            raise AllocationInputError(
                AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
                f"rolling up would take {ancestor.name} to {amount_text(new, units)}, above "
                f"the largest target {units.amount(BIGINT_MAX)}",
                {"node": ancestor.key, "new_amount": show(new)},
            )
        check_bounds(ancestor.name, new, ancestor.floor, ancestor.cap, units, "roll up to")
        remainder = after - buffered_total_exact(new, pct)
        if remainder:
            _give_back(kids, ancestor, child, child_new, new, pct, remainder, units, moved)
        if new == ancestor.amount:
            return  # the other children gave back the whole move: nothing above changes
        moved[ancestor.key] = (new, None)
        rolled.append((ancestor, new, child, delta, remainder))
        child, child_new = ancestor, new


def _give_back(
    kids: dict[str, list[TreeNode]],
    ancestor: TreeNode,
    child: TreeNode,
    child_new: int,
    ancestor_new: int,
    pct: Fraction,
    remainder: int,
    units: Units,
    moved: dict[str, tuple[int, ChildExplanation | None]],
) -> None:
    """The other children of a buffered ancestor give back the roll-up's remainder."""
    siblings = kids.get(ancestor.key, [])
    if all(s.key != child.key for s in siblings):
        raise AllocationInputError(
            AllocationErrorCode.TREE_INCONSISTENT,
            f"rolling up through {ancestor.name} needs its children, which were not given",
            {"node": ancestor.key},
        )
    check_children_sum(ancestor, siblings, units)
    current = [CurrentChild(s.key, s.amount, s.locked, s.floor, s.cap, s.label) for s in siblings]
    try:
        result = rebalance(
            current,
            child.key,
            child_new,
            parent_key=ancestor.name,
            units=units,
            parent_amount=ancestor_new,
            over_assignment=pct,
        )
    except InfeasibleAllocationError as exc:
        raise InfeasibleAllocationError(
            AllocationErrorCode.REBALANCE_INFEASIBLE,
            f"rolling up through {ancestor.name} (a {sig_text(pct)} % buffer) needs its other "
            f"children to give back {units.amount(remainder)} so that every sum stays exact, "
            f"but they cannot: {exc.message}",
            {**exc.details, "node": ancestor.key, "remainder": remainder},
        ) from None
    total = buffered_total_exact(ancestor_new, pct)
    for sibling, value, why in zip(siblings, result.amounts, result.explanations, strict=True):
        if sibling.key == child.key or value == sibling.amount:
            continue
        adjustment = Adjustment(
            AdjustmentKind.BUFFER,
            f"gives back {units.amount(sibling.amount - value)} of the roll-up so that the "
            f"children of {ancestor.name} add up exactly to {units.amount(total)}, "
            f"{ancestor.name} plus its {sig_text(pct)} % buffer",
            str(sibling.amount),
            str(value),
        )
        moved[sibling.key] = (
            value,
            replace(
                why,
                adjustments=(*why.adjustments, adjustment),
                text=f"{why.text}; {adjustment.detail}",
            ),
        )


def _frame_changes(
    index: dict[str, TreeNode],
    node: TreeNode,
    new_amount: int,
    parent: TreeNode | None,
    moved: dict[str, tuple[int, ChildExplanation | None]],
    rolled: list[tuple[TreeNode, int, TreeNode, int, int]],
    mode: TargetMode,
    units: Units,
    by: str | None,
) -> list[TargetChange]:
    """The edited node, the siblings and ancestors that moved, with their explanations."""
    new_of = {k: v for k, (v, _) in moved.items()}

    def amount_of(n: TreeNode | None) -> int | None:
        return None if n is None else new_of.get(n.key, n.amount)

    def share_text(n: TreeNode, final: int, basis: str, adjustments: tuple[Adjustment, ...]) -> str:
        up = index.get(n.parent_key) if n.parent_key is not None else None
        up_amount = amount_of(up)
        if up is None or up_amount is None:
            text = f"{n.name}: {units.amount(final)}"
            if basis:
                text += f": {basis}"
            return text + "".join(f"; {a.detail}" for a in adjustments)
        pct = buffer_percentage(up.buffer)
        return sentence(
            n.name,
            final,
            up_amount,
            up.name,
            basis,
            adjustments,
            units=units,
            total=buffered_total(up_amount, pct, units=units, label=up.name),
            over_assignment=pct,
        )

    def buffer_of(n: TreeNode) -> dict[str, Any] | None:
        up = index.get(n.parent_key) if n.parent_key is not None else None
        up_amount = amount_of(up)
        if up is None or up_amount is None:
            return None
        pct = buffer_percentage(up.buffer)
        return buffer_info(up_amount, buffered_total_exact(up_amount, pct), pct)

    old = node.amount
    how = {
        TargetMode.REBALANCE_SIBLINGS: "the siblings absorb the difference"
        if parent is not None
        else "a new plan total",
        TargetMode.ROLL_UP: "the ancestors roll up" if parent is not None else "a new plan total",
    }[mode]
    set_adjustment = Adjustment(
        AdjustmentKind.SET,
        f"set from {units.amount(old)} to {units.amount(new_amount)}"
        + (f" by {by}" if by else "")
        + f" ({how})",
        str(old),
        str(new_amount),
    )
    edited = ChildExplanation(
        key=node.key,
        method="SET",
        inputs={"previous": old},
        share=None,
        proportional=None,
        unrounded=str(new_amount),
        final=new_amount,
        adjustments=(set_adjustment,),
        text=share_text(node, new_amount, "", (set_adjustment,)),
        buffer=buffer_of(node),
    )
    extra = {"previous": old, "by": by, "mode": mode.value}
    out = [
        TargetChange(
            node.key,
            node.name,
            node.parent_key,
            old,
            new_amount,
            {**edited.to_dict(), **extra},
        )
    ]
    rolled_by_key = {a.key: (a, new, c, d, r) for a, new, c, d, r in rolled}
    for k, (value, why) in moved.items():
        if k == node.key:
            continue
        n = index[k]
        if k in rolled_by_key:
            _, new, child, delta, remainder = rolled_by_key[k]
            pct = buffer_percentage(n.buffer)
            detail = (
                f"rolled up from {units.amount(n.amount)} to {units.amount(new)}: "
                f"{child.name} moved {units.signed(delta)}"
            )
            if pct:
                detail += (
                    f"; with its {sig_text(pct)} % buffer its children add up to "
                    f"{units.amount(buffered_total_exact(new, pct))}"
                )
                if remainder:
                    detail += f" (its other children gave back {units.amount(remainder)})"
            adjustment = Adjustment(AdjustmentKind.ROLL_UP, detail, str(n.amount), str(new))
            why = ChildExplanation(
                key=k,
                method="ROLL_UP",
                inputs={"previous": n.amount},
                share=None,
                proportional=None,
                unrounded=str(new),
                final=new,
                adjustments=(adjustment,),
                text=share_text(n, new, "", (adjustment,)),
                buffer=buffer_of(n),
            )
        assert why is not None
        out.append(TargetChange(k, n.name, n.parent_key, n.amount, value, why.to_dict()))
    return out


def _cascade(
    index: dict[str, TreeNode],
    kids: dict[str, list[TreeNode]],
    key: str,
    amount: int,
    units: Units,
) -> list[TargetChange]:
    """The descendants of a moved node that change when it re-splits."""
    root = index[key]
    if not kids.get(key):
        if root.split:
            raise AllocationInputError(
                AllocationErrorCode.TREE_INCONSISTENT,
                f"{root.name} is split but its children were not given",
                {"node": key},
            )
        return []
    subtree = [replace(root, parent_key=None, locked=False)]
    stack = [key]
    while stack:
        for child in kids.get(stack.pop(), []):
            subtree.append(child)
            stack.append(child.key)
    result = cascade(subtree, key, amount, units=units)
    return [
        TargetChange(
            c.key,
            index[c.key].name,
            c.parent_key,
            c.old_amount,
            c.new_amount,
            c.explanation.to_dict() if c.explanation is not None else {},
        )
        for c in result.changes[1:]
        if c.new_amount != c.old_amount
    ]
