"""Rebalance one child, or cascade a parent's change down its subtree.

Documented rules
----------------
* **rebalance(children, key, new_amount)**: the parent total (the sum of the
  current amounts) stays the same. ``key`` is set to ``new_amount`` (an explicit
  set overrides that child's own lock); locked siblings keep their amounts; the
  unlocked siblings absorb the difference

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
  children in proportion to their current amounts (same rule as PROPORTIONAL);
  locked nodes keep their amounts, and so does their whole subtree. Each
  internal node's children must add up to it beforehand (``TREE_INCONSISTENT``).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from service.domain.allocation.engine import AllocationResult, allocate
from service.domain.allocation.errors import (
    AllocationErrorCode,
    AllocationInputError,
    InfeasibleAllocationError,
)
from service.domain.allocation.exact import BIGINT_MAX, is_int_amount
from service.domain.allocation.explain import (
    Adjustment,
    AdjustmentKind,
    ChildExplanation,
    sentence,
)
from service.domain.allocation.model import (
    AllocationMethod,
    AllocationRequest,
    AllocationSpec,
    ChildInput,
)

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


@dataclass(frozen=True, slots=True)
class TreeNode:
    """A node of a target tree, flat (``parent_key`` is ``None`` for a plan root)."""

    key: str
    parent_key: str | None
    amount: int
    locked: bool = False
    floor: int | None = None
    cap: int | None = None


@dataclass(frozen=True, slots=True)
class NodeChange:
    """A node of the cascaded subtree: old and new amount and how the new one came about."""

    key: str
    parent_key: str | None
    old_amount: int
    new_amount: int
    explanation: ChildExplanation | None
    """None for the root (set by the caller) and for nodes below an unchanged parent."""

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
) -> AllocationResult:
    """Set ``key`` to ``new_amount``; the unlocked siblings absorb the difference.

    Returns an :class:`AllocationResult` over all children (same order), whose
    total is the unchanged sum of the current amounts.
    """
    keys = [c.key for c in children]
    _check_amounts([(c.key, c.amount) for c in children], "amount")
    if len(set(keys)) != len(keys):
        raise AllocationInputError(
            AllocationErrorCode.DUPLICATE_KEY,
            "child keys must be unique",
            {"children": keys[:_MAX_LISTED]},
        )
    if key not in keys:
        raise AllocationInputError(
            AllocationErrorCode.UNKNOWN_KEY, f"{key!r} is not one of the children", {"key": key}
        )
    _check_amounts([(key, new_amount)], "new amount")
    target = keys.index(key)
    total = sum(c.amount for c in children)
    if total > BIGINT_MAX:
        raise AllocationInputError(
            AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
            f"the children add up to {total}",
            {"total": total},
        )
    current = children[target]
    lo, hi = current.floor or 0, current.cap
    if new_amount < lo or (hi is not None and new_amount > hi):
        raise AllocationInputError(
            AllocationErrorCode.INVALID_BOUNDS,
            f"{key} cannot be set to {new_amount}: its bounds are [{lo}, {hi}]",
            {"children": [key], "new_amount": new_amount, "floor": lo, "cap": hi},
        )
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
        raise InfeasibleAllocationError(
            AllocationErrorCode.REBALANCE_INFEASIBLE,
            f"{key} can only be set between {low} and {high} here: the siblings "
            f"{'cannot' if absorbing else 'are all locked and cannot'} absorb "
            f"{current.amount - new_amount:+d} (locked siblings {locked_sum}, "
            f"floors {floors}, caps {caps if caps is not None else 'none'})",
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
        request = _from_original(children, target, new_amount, total, original)
    else:
        request = _proportional(children, target, new_amount, total, parent_key)
    try:
        result = allocate(request)
    except InfeasibleAllocationError as exc:
        raise InfeasibleAllocationError(
            AllocationErrorCode.REBALANCE_INFEASIBLE,
            f"the siblings cannot absorb setting {key} to {new_amount}: {exc.message}",
            {**exc.details, "cause": exc.code, "new_amount": new_amount},
        ) from None
    except AllocationInputError as exc:
        if exc.code != AllocationErrorCode.ZERO_WEIGHTS:
            raise
        raise InfeasibleAllocationError(
            AllocationErrorCode.REBALANCE_INFEASIBLE,
            f"the siblings cannot absorb setting {key} to {new_amount}: {exc.message}",
            {**exc.details, "cause": exc.code, "new_amount": new_amount},
        ) from None
    return _relabel(result, children, target, rule)


def cascade(nodes: Sequence[TreeNode], root_key: str, new_amount: int) -> CascadeResult:
    """Give ``root_key`` the amount ``new_amount`` and re-split its subtree in proportion."""
    by_key: dict[str, TreeNode] = {}
    for node in nodes:
        if node.key in by_key:
            raise AllocationInputError(
                AllocationErrorCode.DUPLICATE_KEY,
                f"node key {node.key!r} repeats",
                {"key": node.key},
            )
        by_key[node.key] = node
    if root_key not in by_key:
        raise AllocationInputError(
            AllocationErrorCode.UNKNOWN_KEY, f"{root_key!r} is not a node", {"key": root_key}
        )
    _check_amounts([(n.key, n.amount) for n in nodes], "amount")
    _check_amounts([(root_key, new_amount)], "new amount")
    root = by_key[root_key]
    lo, hi = root.floor or 0, root.cap
    if new_amount < lo or (hi is not None and new_amount > hi):
        raise AllocationInputError(
            AllocationErrorCode.INVALID_BOUNDS,
            f"{root_key} cannot take {new_amount}: its bounds are [{lo}, {hi}]",
            {"children": [root_key], "new_amount": new_amount, "floor": lo, "cap": hi},
        )
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
        if children and sum(c.amount for c in children) != by_key[key].amount:
            raise InfeasibleAllocationError(
                AllocationErrorCode.TREE_INCONSISTENT,
                f"the children of {key} add up to {sum(c.amount for c in children)}, "
                f"not to its {by_key[key].amount}",
                {
                    "node": key,
                    "amount": by_key[key].amount,
                    "children_sum": sum(c.amount for c in children),
                    "children": [c.key for c in children][:_MAX_LISTED],
                },
            )
        for child in children:
            if child.key in seen:
                raise InfeasibleAllocationError(
                    AllocationErrorCode.TREE_INCONSISTENT,
                    f"{child.key} is reached twice below {root_key}",
                    {"node": child.key},
                )
            seen.add(child.key)
            queue.append(child.key)

    if root.parent_key is not None and root.parent_key in seen:
        raise InfeasibleAllocationError(
            AllocationErrorCode.TREE_INCONSISTENT,
            f"{root_key} is its own ancestor (through {root.parent_key})",
            {"node": root_key},
        )

    changes: list[NodeChange] = []
    stack: list[tuple[TreeNode, int, ChildExplanation | None]] = [(root, new_amount, None)]
    while stack:
        node, amount, explanation = stack.pop()
        changes.append(NodeChange(node.key, node.parent_key, node.amount, amount, explanation))
        children = kids.get(node.key, [])
        if not children:
            continue
        if amount == node.amount:
            pushed: list[tuple[TreeNode, int, ChildExplanation | None]] = [
                (c, c.amount, None) for c in children
            ]
        else:
            current = [CurrentChild(c.key, c.amount, c.locked, c.floor, c.cap) for c in children]
            try:
                result = allocate(_scaled(current, amount, node.key))
                explained = _scaled_explanations(result, current, node.key, node.amount, amount)
            except (InfeasibleAllocationError, AllocationInputError) as exc:
                raise InfeasibleAllocationError(
                    AllocationErrorCode.REBALANCE_INFEASIBLE,
                    f"cannot cascade {amount} into the children of {node.key}: {exc.message}",
                    {**exc.details, "node": node.key, "cause": exc.code, "new_amount": amount},
                ) from None
            pushed = [
                (c, a, e) for c, a, e in zip(children, result.amounts, explained, strict=True)
            ]
        stack.extend(reversed(pushed))
    return CascadeResult(root_key, tuple(changes))


# ---------------------------------------------------------------------------


def _check_amounts(items: Sequence[tuple[str, object]], what: str) -> None:
    bad = [(k, v) for k, v in items if not (is_int_amount(v) and 0 <= v <= BIGINT_MAX)]  # type: ignore[operator]
    if bad:
        raise AllocationInputError(
            AllocationErrorCode.AMOUNT_OUT_OF_RANGE,
            f"{what} must be an integer between 0 and 2**63-1: "
            + ", ".join(f"{k}={v!r}" for k, v in bad[:_MAX_LISTED]),
            {
                "children": [k for k, _ in bad[:_MAX_LISTED]],
                "values": [repr(v) for _, v in bad[:_MAX_LISTED]],
            },
        )


def _proportional(
    children: Sequence[CurrentChild],
    target: int,
    new_amount: int,
    total: int,
    parent_key: str | None,
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
        )
        for i, c in enumerate(children)
    )
    method = AllocationMethod.EQUAL if equal else AllocationMethod.WEIGHTS
    return AllocationRequest(total, inputs, AllocationSpec(method), parent_key)


def _scaled(children: Sequence[CurrentChild], amount: int, parent_key: str) -> AllocationRequest:
    unlocked = [c for c in children if not c.locked]
    equal = bool(unlocked) and not any(c.amount for c in unlocked)
    inputs = tuple(
        ChildInput(
            key=c.key,
            weight=c.amount,
            locked_amount=c.amount if c.locked else None,
            floor=c.floor,
            cap=c.cap,
        )
        for c in children
    )
    method = AllocationMethod.EQUAL if equal else AllocationMethod.WEIGHTS
    return AllocationRequest(amount, inputs, AllocationSpec(method), parent_key)


def _from_original(
    children: Sequence[CurrentChild],
    target: int,
    new_amount: int,
    total: int,
    original: AllocationRequest | None,
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
            f"(missing {missing}, extra {extra})",
            {"missing": missing[:_MAX_LISTED], "extra": extra[:_MAX_LISTED]},
        )
    inputs = []
    for i, c in enumerate(children):
        locked = new_amount if i == target else (c.amount if c.locked else None)
        inputs.append(replace(by_key[c.key], locked_amount=locked, floor=c.floor, cap=c.cap))
    spec = replace(original.spec, over_assignment=0)
    return AllocationRequest(total, tuple(inputs), spec, original.parent_key)


def _relabel(
    result: AllocationResult, children: Sequence[CurrentChild], target: int, rule: AbsorbRule
) -> AllocationResult:
    """Replace the target's LOCK by a SET adjustment and say what the siblings did."""
    old = children[target].amount
    inner = result.explainer

    def explainer() -> tuple[ChildExplanation, ...]:
        out: list[ChildExplanation] = []
        for i, e in enumerate(inner()):
            if i == target:
                adjustments = (
                    Adjustment(
                        AdjustmentKind.SET, f"set from {old} to {e.final}", str(old), str(e.final)
                    ),
                )
                e = replace(
                    e,
                    adjustments=adjustments,
                    text=sentence(e.key, e.final, result.total, None, "", adjustments),
                )
            out.append(e)
        return tuple(out)

    notes = (
        f"rebalance: {children[target].key} set from {old} to {result.amounts[target]}; "
        f"unlocked siblings absorb {old - result.amounts[target]:+d} "
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
    parent: str,
    old_total: int,
    new_total: int,
) -> list[ChildExplanation]:
    out: list[ChildExplanation] = []
    for child, e in zip(children, result.explanations, strict=True):
        if not child.locked:
            adjustment = Adjustment(
                AdjustmentKind.SCALED,
                f"scaled with {parent} ({old_total} -> {new_total}): {child.amount} -> {e.final}",
                str(child.amount),
                str(e.final),
            )
            e = replace(
                e,
                adjustments=(adjustment, *e.adjustments),
                text=e.text + f"; scaled with {parent} from {child.amount}",
            )
        out.append(e)
    return out
