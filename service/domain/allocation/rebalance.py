"""Rebalance one child, or cascade a parent's change down its subtree.

Documented rules
----------------
* **rebalance(children, key, new_amount)**: ``key`` is set to ``new_amount``
  (an explicit set overrides that child's own lock, never its floor or cap);
  locked siblings keep their amounts; the unlocked siblings absorb the
  difference so that the children add up to the *total*: the sum of their
  current amounts, or, when ``parent_amount`` is given,
  ``buffered_total(parent_amount, over_assignment)`` (the parent's new amount
  plus its quota buffer). The unlocked siblings absorb

  - ``PROPORTIONAL`` (default): in proportion to their current amounts, within
    their floors and caps (water-filling, then Hamilton rounding, exactly as
    :func:`~service.domain.allocation.allocate` with WEIGHTS = current amounts).
    A sibling at 0 stays at 0 (zero share) unless *every* absorbing sibling is
    at 0, in which case they share the difference equally.
  - ``ORIGINAL_METHOD``: by re-running the node's original request (its method
    and inputs) over the absorbing siblings, with the set child and the locked
    siblings locked and the current floors and caps.

  The feasible range of ``new_amount`` is reported when it is exceeded
  (``REBALANCE_INFEASIBLE`` with ``min`` and ``max``).
* **cascade(nodes, root_key, new_amount)**: the root takes ``new_amount`` and
  every internal node of its subtree re-splits its (new) amount over its
  children in proportion to their current amounts (same rule as PROPORTIONAL),
  within each child's floor and cap; locked nodes keep their amounts, and so
  does their whole subtree. **Buffers**: a node whose split carries a quota
  buffer (``TreeNode.buffer``, a percentage) has children adding up to
  ``buffered_total(amount, buffer)``; a re-split keeps that percentage, so its
  children then add up to ``buffered_total(new amount, buffer)``. Each internal
  node's children must add up to that total beforehand (``TREE_INCONSISTENT``).

Texts (messages, explanation sentences, notes) name children and nodes by
their ``label`` (default: the key) and print amounts in ``units``
(:mod:`.units`); keys and minor units stay in ``details`` and stored fields.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from fractions import Fraction
from typing import Any

from service.domain.allocation.constraints import buffer_percentage, buffered_total
from service.domain.allocation.engine import AllocationResult, allocate
from service.domain.allocation.errors import (
    AllocationErrorCode,
    AllocationInputError,
    InfeasibleAllocationError,
)
from service.domain.allocation.exact import BIGINT_MAX, Number, is_int_amount, show, sig_text
from service.domain.allocation.explain import (
    Adjustment,
    AdjustmentKind,
    ChildExplanation,
    buffer_info,
    sentence,
)
from service.domain.allocation.model import (
    AllocationMethod,
    AllocationRequest,
    AllocationSpec,
    ChildInput,
)
from service.domain.allocation.units import MINOR, Units, amount_text

_MAX_LISTED = 20


class AbsorbRule(StrEnum):
    """How the unlocked siblings absorb a rebalance."""

    PROPORTIONAL = "PROPORTIONAL"
    """In proportion to their current amounts."""
    ORIGINAL_METHOD = "ORIGINAL_METHOD"
    """By the node's original allocation request."""


@dataclass(frozen=True, slots=True)
class CurrentChild:
    """A child as it stands: its amount, lock and bounds."""

    key: str
    amount: int
    locked: bool = False
    floor: int | None = None
    cap: int | None = None
    label: str | None = field(default=None, compare=False)
    """How texts name the child (default: the key)."""

    @property
    def name(self) -> str:
        return self.label if self.label is not None else self.key


@dataclass(frozen=True, slots=True)
class TreeNode:
    """A node of a target tree, flat (``parent_key`` is ``None`` for a plan root)."""

    key: str
    parent_key: str | None
    amount: int
    locked: bool = False
    floor: int | None = None
    cap: int | None = None
    label: str | None = field(default=None, compare=False)
    """How texts name the node (a member code, "the plan"); default: the key."""
    buffer: Number = 0
    """The over-assignment percentage of this node's own split (0 for none, or a leaf):
    its children add up to ``buffered_total(amount, buffer)``."""
    split: bool = False
    """The node has children. A split node whose children are not among the nodes
    given is refused when it has to be re-split (never silently treated as a leaf)."""

    @property
    def name(self) -> str:
        return self.label if self.label is not None else self.key


@dataclass(frozen=True, slots=True)
class NodeChange:
    """A node of the cascaded subtree: old and new amount and how the new one came about."""

    key: str
    parent_key: str | None
    old_amount: int
    new_amount: int
    explanation: ChildExplanation | None
    """None for the root (set by the caller) and for nodes below an unchanged parent."""
    label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "parent_key": self.parent_key,
            "old_amount": self.old_amount,
            "new_amount": self.new_amount,
            "explanation": None if self.explanation is None else self.explanation.to_dict(),
        }


@dataclass(frozen=True)
class CascadeResult:
    """The subtree in pre-order (parents before children), unchanged nodes included."""

    root_key: str
    changes: tuple[NodeChange, ...]

    def amounts(self) -> dict[str, int]:
        return {c.key: c.new_amount for c in self.changes}

    def to_dict(self) -> dict[str, Any]:
        return {"root_key": self.root_key, "changes": [c.to_dict() for c in self.changes]}


def rebalance(
    children: Sequence[CurrentChild],
    key: str,
    new_amount: int,
    *,
    rule: AbsorbRule = AbsorbRule.PROPORTIONAL,
    original: AllocationRequest | None = None,
    parent_key: str | None = None,
    units: Units = MINOR,
    parent_amount: int | None = None,
    over_assignment: Number = 0,
) -> AllocationResult:
    """Set ``key`` to ``new_amount``; the unlocked siblings absorb the difference.

    Returns an :class:`AllocationResult` over all children (same order). Its
    total is the sum of the current amounts, or ``buffered_total(parent_amount,
    over_assignment)`` when ``parent_amount`` is given (see the module docstring).
    ``parent_key`` is the parent's label in texts.
    """
    keys = [c.key for c in children]
    names = {c.key: c.name for c in children}
    _check_amounts([(c.name, c.amount) for c in children], "amount", units)
    if len(set(keys)) != len(keys):
        raise AllocationInputError(
            AllocationErrorCode.DUPLICATE_KEY,
            "child keys must be unique",
            {"children": keys[:_MAX_LISTED]},
        )
    if key not in keys:
        raise AllocationInputError(
            AllocationErrorCode.UNKNOWN_KEY,
            f"{show(key)} is not one of the children",
            {"key": show(key)},
        )
    name = names[key]
    _check_amounts([(name, new_amount)], "new amount", units)
    target = keys.index(key)
    current_sum = sum(c.amount for c in children)
    pct = buffer_percentage(over_assignment)
    if parent_amount is None:
        if pct:
            raise AllocationInputError(
                AllocationErrorCode.INVALID_INPUT,
                "a buffer (over_assignment) needs the parent's amount (parent_amount)",
                {},
            )
        parent = total = current_sum
        if total > BIGINT_MAX:
            raise AllocationInputError(
                AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
                f"the children add up to {units.amount(total)}, above the largest target "
                f"{units.amount(BIGINT_MAX)}",
                {"total": show(total)},
            )
    else:
        _check_amounts([(parent_key or "the parent", parent_amount)], "parent amount", units)
        parent = parent_amount
        total = buffered_total(parent, pct, units=units, label=parent_key)
    current = children[target]
    check_bounds(name, new_amount, current.floor, current.cap, units)
    absorbing = [c for i, c in enumerate(children) if i != target and not c.locked]
    locked_sum = sum(c.amount for i, c in enumerate(children) if i != target and c.locked)
    floors = sum(c.floor or 0 for c in absorbing)
    caps: int | None = None
    if absorbing and all(c.cap is not None for c in absorbing):
        caps = sum(c.cap for c in absorbing if c.cap is not None)
    low = max(0, total - locked_sum - (caps if caps is not None else total))
    if not absorbing:
        low = total - locked_sum
    high = total - locked_sum - floors
    if not low <= new_amount <= high:
        others = total - new_amount - locked_sum
        raise InfeasibleAllocationError(
            AllocationErrorCode.REBALANCE_INFEASIBLE,
            f"{name} can only be set between {units.amount(max(low, 0))} and "
            f"{units.amount(max(high, 0))} here: the "
            + (
                "siblings cannot absorb"
                if absorbing
                else "siblings are all locked and cannot absorb"
            )
            + f" {units.signed(current.amount - new_amount)} (they would need to add up to "
            f"{units.amount(others) if others >= 0 else 'less than 0'}; locked siblings "
            f"{units.amount(locked_sum)}, floors {units.amount(floors)}, caps "
            f"{units.amount(caps) if caps is not None else 'none'})",
            {
                "children": [key],
                "new_amount": new_amount,
                "min": low,
                "max": high,
                "locked_sum": locked_sum,
                "absorbing": [c.key for c in absorbing][:_MAX_LISTED],
            },
        )

    if rule is AbsorbRule.ORIGINAL_METHOD:
        request = _from_original(
            children, target, new_amount, parent, pct, original, parent_key, units
        )
    else:
        request = _proportional(children, target, new_amount, parent, pct, parent_key, units)
    try:
        result = allocate(request)
    except InfeasibleAllocationError as exc:
        raise InfeasibleAllocationError(
            AllocationErrorCode.REBALANCE_INFEASIBLE,
            f"the siblings cannot absorb setting {name} to {units.amount(new_amount)}: "
            f"{exc.message}",
            {**exc.details, "cause": exc.code, "new_amount": new_amount},
        ) from None
    except AllocationInputError as exc:
        if exc.code != AllocationErrorCode.ZERO_WEIGHTS:
            raise
        raise InfeasibleAllocationError(
            AllocationErrorCode.REBALANCE_INFEASIBLE,
            f"the siblings cannot absorb setting {name} to {units.amount(new_amount)}: "
            f"{exc.message}",
            {**exc.details, "cause": exc.code, "new_amount": new_amount},
        ) from None
    return _relabel(result, children, target, rule, request)


def check_bounds(
    name: str,
    amount: int,
    floor: int | None,
    cap: int | None,
    units: Units,
    what: str = "be set to",
    field: str | None = None,
) -> None:
    """``INVALID_BOUNDS`` naming the bound when ``amount`` leaves ``[floor, cap]``."""
    problem = None
    if floor is not None and amount < floor:
        problem = f"below its floor {units.amount(floor)}"
    elif cap is not None and amount > cap:
        problem = f"above its cap {units.amount(cap)}"
    if problem is not None:
        details: dict[str, Any] = {
            "children": [name],
            "new_amount": amount,
            "floor": floor,
            "cap": cap,
        }
        if field is not None:
            details["field"] = field
        raise AllocationInputError(
            AllocationErrorCode.INVALID_BOUNDS,
            f"{name} cannot {what} {units.amount(amount)}: that is {problem}",
            details,
        )


def cascade(
    nodes: Sequence[TreeNode], root_key: str, new_amount: int, *, units: Units = MINOR
) -> CascadeResult:
    """Give ``root_key`` the amount ``new_amount`` and re-split its subtree in proportion."""
    by_key: dict[str, TreeNode] = {}
    for node in nodes:
        if node.key in by_key:
            raise AllocationInputError(
                AllocationErrorCode.DUPLICATE_KEY,
                f"node {node.name} ({show(node.key)}) repeats",
                {"key": show(node.key)},
            )
        by_key[node.key] = node
    if root_key not in by_key:
        raise AllocationInputError(
            AllocationErrorCode.UNKNOWN_KEY,
            f"{show(root_key)} is not a node",
            {"key": show(root_key)},
        )
    _check_amounts([(n.name, n.amount) for n in nodes], "amount", units)
    root = by_key[root_key]
    _check_amounts([(root.name, new_amount)], "new amount", units)
    check_bounds(root.name, new_amount, root.floor, root.cap, units, "take")
    kids: dict[str, list[TreeNode]] = defaultdict(list)
    for node in nodes:
        if node.parent_key is not None and node.key != root_key:
            kids[node.parent_key].append(node)
    # validate the subtree: no cycle back to the root, children add up to their parent
    seen = {root_key}
    queue = deque([root_key])
    while queue:
        key = queue.popleft()
        children = kids.get(key, [])
        check_children_sum(by_key[key], children, units)
        for child in children:
            if child.key in seen:
                raise InfeasibleAllocationError(
                    AllocationErrorCode.TREE_INCONSISTENT,
                    f"{child.name} is reached twice below {root.name}",
                    {"node": child.key},
                )
            seen.add(child.key)
            queue.append(child.key)

    if root.parent_key is not None and root.parent_key in seen:
        raise InfeasibleAllocationError(
            AllocationErrorCode.TREE_INCONSISTENT,
            f"{root.name} is its own ancestor (through {by_key[root.parent_key].name})",
            {"node": root_key},
        )

    changes: list[NodeChange] = []
    stack: list[tuple[TreeNode, int, ChildExplanation | None]] = [(root, new_amount, None)]
    while stack:
        node, amount, explanation = stack.pop()
        changes.append(
            NodeChange(node.key, node.parent_key, node.amount, amount, explanation, node.name)
        )
        children = kids.get(node.key, [])
        if not children:
            continue
        if amount == node.amount:
            pushed: list[tuple[TreeNode, int, ChildExplanation | None]] = [
                (c, c.amount, None) for c in children
            ]
        else:
            current = [
                CurrentChild(c.key, c.amount, c.locked, c.floor, c.cap, c.label) for c in children
            ]
            request = _scaled(current, amount, node, units)
            try:
                result = allocate(request)
                explained = _scaled_explanations(result, current, node, request)
            except (InfeasibleAllocationError, AllocationInputError) as exc:
                if exc.code == AllocationErrorCode.AMOUNT_OUT_OF_RANGE:
                    raise
                raise InfeasibleAllocationError(
                    AllocationErrorCode.REBALANCE_INFEASIBLE,
                    f"cannot re-split {units.amount(amount)} over the children of {node.name}: "
                    f"{exc.message}",
                    {**exc.details, "node": node.key, "cause": exc.code, "new_amount": amount},
                ) from None
            pushed = [
                (c, a, e) for c, a, e in zip(children, result.amounts, explained, strict=True)
            ]
        stack.extend(reversed(pushed))
    return CascadeResult(root_key, tuple(changes))


def check_children_sum(node: TreeNode, children: Sequence[TreeNode], units: Units) -> None:
    """``TREE_INCONSISTENT`` unless the children add up to the node plus its buffer; a
    split node with no children given is refused too (its subtree is missing)."""
    if not children:
        if node.split:
            raise AllocationInputError(
                AllocationErrorCode.TREE_INCONSISTENT,
                f"{node.name} is split but its children were not given",
                {"node": node.key},
            )
        return
    pct = buffer_percentage(node.buffer)
    expected = (
        buffered_total(node.amount, pct, units=units, label=node.name) if pct else node.amount
    )
    got = sum(c.amount for c in children)
    if got != expected:
        its = f"its {units.amount(node.amount)}"
        if pct:
            its += f" plus its {sig_text(pct)} % buffer ({units.amount(expected)})"
        raise InfeasibleAllocationError(
            AllocationErrorCode.TREE_INCONSISTENT,
            f"the children of {node.name} add up to {units.amount(got)}, not to {its}",
            {
                "node": node.key,
                "amount": node.amount,
                "expected": expected,
                "children_sum": got,
                "children": [c.key for c in children][:_MAX_LISTED],
            },
        )


# ---------------------------------------------------------------------------


def _check_amounts(items: Sequence[tuple[str, object]], what: str, units: Units) -> None:
    bad = [(k, v) for k, v in items if not (is_int_amount(v) and 0 <= v <= BIGINT_MAX)]  # type: ignore[operator]
    if bad:
        raise AllocationInputError(
            AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
            f"{what} must be a whole amount from 0 to {units.amount(BIGINT_MAX)}: "
            + ", ".join(f"{k} {amount_text(v, units)}" for k, v in bad[:_MAX_LISTED]),
            {
                "children": [k for k, _ in bad[:_MAX_LISTED]],
                "values": [show(v) for _, v in bad[:_MAX_LISTED]],
            },
        )


def _proportional(
    children: Sequence[CurrentChild],
    target: int,
    new_amount: int,
    parent: int,
    pct: Fraction,
    parent_key: str | None,
    units: Units,
) -> AllocationRequest:
    absorbing = [c for i, c in enumerate(children) if i != target and not c.locked]
    equal = bool(absorbing) and not any(c.amount for c in absorbing)
    inputs = tuple(
        ChildInput(
            key=c.key,
            weight=c.amount,
            locked_amount=new_amount if i == target else (c.amount if c.locked else None),
            floor=c.floor,
            cap=c.cap,
            label=c.label,
        )
        for i, c in enumerate(children)
    )
    method = AllocationMethod.EQUAL if equal else AllocationMethod.WEIGHTS
    spec = AllocationSpec(method, over_assignment=pct)
    return AllocationRequest(parent, inputs, spec, parent_key, units)


def _scaled(
    children: Sequence[CurrentChild], amount: int, parent: TreeNode, units: Units
) -> AllocationRequest:
    unlocked = [c for c in children if not c.locked]
    equal = bool(unlocked) and not any(c.amount for c in unlocked)
    inputs = tuple(
        ChildInput(
            key=c.key,
            weight=c.amount,
            locked_amount=c.amount if c.locked else None,
            floor=c.floor,
            cap=c.cap,
            label=c.label,
        )
        for c in children
    )
    method = AllocationMethod.EQUAL if equal else AllocationMethod.WEIGHTS
    spec = AllocationSpec(method, over_assignment=buffer_percentage(parent.buffer))
    return AllocationRequest(amount, inputs, spec, parent.name, units)


def _from_original(
    children: Sequence[CurrentChild],
    target: int,
    new_amount: int,
    parent: int,
    pct: Fraction,
    original: AllocationRequest | None,
    parent_key: str | None,
    units: Units,
) -> AllocationRequest:
    if original is None:
        raise AllocationInputError(
            AllocationErrorCode.INVALID_INPUT,
            "ORIGINAL_METHOD needs the node's original allocation request",
            {},
        )
    by_key = {c.key: c for c in original.children}
    keys = [c.key for c in children]
    if set(by_key) != set(keys):
        missing = sorted(set(keys) - set(by_key))
        extra = sorted(set(by_key) - set(keys))
        raise AllocationInputError(
            AllocationErrorCode.UNKNOWN_KEY,
            "the original request does not have the same children "
            f"(missing {missing[:_MAX_LISTED]}, extra {extra[:_MAX_LISTED]})",
            {"missing": missing[:_MAX_LISTED], "extra": extra[:_MAX_LISTED]},
        )
    inputs = []
    for i, c in enumerate(children):
        locked = new_amount if i == target else (c.amount if c.locked else None)
        inputs.append(
            replace(
                by_key[c.key],
                locked_amount=locked,
                floor=c.floor,
                cap=c.cap,
                label=c.label if c.label is not None else by_key[c.key].label,
            )
        )
    spec = replace(original.spec, over_assignment=pct)
    return AllocationRequest(parent, tuple(inputs), spec, parent_key or original.parent_key, units)


def _relabel(
    result: AllocationResult,
    children: Sequence[CurrentChild],
    target: int,
    rule: AbsorbRule,
    request: AllocationRequest,
) -> AllocationResult:
    """Replace the target's LOCK by a SET adjustment and say what the siblings did."""
    old = children[target].amount
    units = request.units
    pct = buffer_percentage(request.spec.over_assignment)
    inner = result.explainer

    def text(i: int, final: int, basis: str, adjustments: tuple[Adjustment, ...]) -> str:
        return sentence(
            children[i].name,
            final,
            request.parent,
            request.parent_key,
            basis,
            adjustments,
            units=units,
            total=result.total,
            over_assignment=pct,
        )

    def explainer() -> tuple[ChildExplanation, ...]:
        out: list[ChildExplanation] = []
        for i, e in enumerate(inner()):
            child = children[i]
            if i == target:
                adjustments: tuple[Adjustment, ...] = (
                    Adjustment(
                        AdjustmentKind.SET,
                        f"set from {units.amount(old)} to {units.amount(e.final)}",
                        str(old),
                        str(e.final),
                    ),
                )
                e = replace(
                    e,
                    method="SET",
                    inputs={"previous": old},
                    adjustments=adjustments,
                    text=text(i, e.final, "", adjustments),
                )
            elif not child.locked and rule is AbsorbRule.PROPORTIONAL:
                moved = e.final - child.amount
                basis = f"was {units.amount(child.amount)}; " + (
                    f"absorbs {units.signed(moved)} in proportion to its current amount"
                    if moved
                    else "unchanged"
                )
                e = replace(
                    e,
                    method="REBALANCE",
                    inputs={"current": child.amount},
                    text=text(i, e.final, basis, e.adjustments),
                )
            out.append(e)
        return tuple(out)

    new = result.amounts[target]
    notes = (
        f"rebalance: {children[target].name} set from {units.amount(old)} to "
        f"{units.amount(new)}; unlocked siblings absorb {units.signed(old - new)} "
        + (
            "in proportion to their current amounts"
            if rule is AbsorbRule.PROPORTIONAL
            else "by the original method"
        ),
        *result.notes,
    )
    return replace(result, notes=notes, explainer=explainer)


def _scaled_explanations(
    result: AllocationResult,
    children: Sequence[CurrentChild],
    parent: TreeNode,
    request: AllocationRequest,
) -> list[ChildExplanation]:
    units = request.units
    pct = buffer_percentage(request.spec.over_assignment)
    old_total, new_total = parent.amount, request.parent
    out: list[ChildExplanation] = []
    for child, e in zip(children, result.explanations, strict=True):
        if not child.locked:
            adjustment = Adjustment(
                AdjustmentKind.SCALED,
                f"scaled with {parent.name} ({units.amount(old_total)} -> "
                f"{units.amount(new_total)}): {units.amount(child.amount)} -> "
                f"{units.amount(e.final)}",
                str(child.amount),
                str(e.final),
            )
            adjustments = (adjustment, *e.adjustments)
            e = replace(
                e,
                method="CASCADE",
                inputs={"current": child.amount},
                adjustments=adjustments,
                text=sentence(
                    child.name,
                    e.final,
                    new_total,
                    parent.name,
                    f"was {units.amount(child.amount)}, in proportion to its current amount",
                    adjustments,
                    units=units,
                    total=result.total,
                    over_assignment=pct,
                ),
                buffer=buffer_info(new_total, result.total, pct),
            )
        out.append(e)
    return out
