"""A draft's tree nodes: unsplit, set a target, lock, bounds, strategy and KPIs; and
the reads of a version's nodes (lookups by slice, bulk subtrees).

Every edit runs in a ``DraftEdit`` (the version locked, its state and the client's
revision checked, the revision bumped only when something changed). After each
of them every node's children add up exactly to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from service.db import repositories as repo
from service.db.engine import Database, Session
from service.db.models import PlanVersion, TargetNode
from service.domain.allocation import AllocationRequest
from service.domain.allocation.rebalance import (
    AbsorbRule,
    CurrentChild,
    TreeNode,
    cascade,
    rebalance,
)
from service.domain.audit import AuditAction
from service.domain.kpis import check_kpis, clean_strategy
from service.domain.money import parse_amount
from service.domain.paging import Page, PageRequest
from service.domain.tree import InvalidInputError
from service.plans.uow import DraftEdit
from service.plans.usecase import draft_edit

MAX_BULK_NODES = 50_000
"""Most nodes one bulk subtree read returns."""
MAX_SLICE_COORDINATES = 20
"""Most coordinates a lookup by slice may name."""


class TargetMode(StrEnum):
    REBALANCE_SIBLINGS = "REBALANCE_SIBLINGS"
    """The parent keeps its total; the unlocked siblings absorb the difference."""
    ROLL_UP = "ROLL_UP"
    """The parent and every ancestor change by the same difference (a bottom-up edit)."""


@dataclass(frozen=True, slots=True)
class NodeEdit:
    node: TargetNode
    changed: list[TargetNode]
    """Every node whose target changed, the edited one included."""
    version: PlanVersion


@dataclass(frozen=True, slots=True)
class NodeCommand:
    """A node of a draft and the revision the client last read."""

    version_id: int
    key: int
    revision: int


async def _digits(edit: DraftEdit) -> int:
    (plan,) = await repo.plans_by_ids(edit.session, [edit.version.plan_id])
    assert plan is not None
    return plan.minor_digits


@draft_edit(AuditAction.NODE_UNSPLIT)
async def unsplit(edit: DraftEdit, command: NodeCommand) -> NodeEdit:
    """Remove a node's whole subtree; the node becomes a leaf with its target kept."""
    session = edit.session
    node = await edit.node(command.key)
    if node.split_dimension_id is None:
        raise InvalidInputError("NOT_SPLIT", "the node is a leaf already", "nodeId")
    removed = await repo.delete_below(session, node)
    edit.record(
        plan_id=node.plan_id,
        version_id=node.version_id,
        node_key=node.key,
        before={"split": node.split_dimension_id, "descendants": removed},
        after={"split": None},
    )
    await repo.update_nodes(
        session,
        [
            {
                "version_id": node.version_id,
                "key": node.key,
                "split_dimension_id": None,
                "split_spec": None,
            }
        ],
    )
    return NodeEdit(node=node, changed=[], version=edit.version)


@dataclass(frozen=True, slots=True)
class SetTarget(NodeCommand):
    target: Decimal
    mode: TargetMode = TargetMode.REBALANCE_SIBLINGS
    absorb: AbsorbRule = AbsorbRule.PROPORTIONAL


@draft_edit(AuditAction.NODE_SET_TARGET)
async def set_target(edit: DraftEdit, command: SetTarget) -> NodeEdit:
    """Give a node a new target and keep every sum exact.

    ``REBALANCE_SIBLINGS`` (the default; a root has no siblings, so its change
    is always a new plan total): the unlocked siblings absorb the difference by
    ``absorb`` within their bounds. ``ROLL_UP``: the parent and all ancestors
    change by the same difference (refused when one of them is locked). In both
    modes every node whose target changed re-splits its subtree in proportion
    (locked nodes and their subtrees keep their amounts). Setting the target a
    node already has changes nothing.
    """
    session = edit.session
    version_id = edit.version.id
    node = await edit.node(command.key)
    amount = parse_amount(command.target, await _digits(edit), field="target")
    if amount == node.target:
        return NodeEdit(node=node, changed=[], version=edit.version)
    mode, absorb = command.mode, command.absorb
    new_targets: dict[int, tuple[int, dict[str, Any] | None]] = {
        node.key: (
            amount,
            {
                "method": "SET",
                "previous": node.target,
                "final": amount,
                "by": edit.principal.subject,
                "mode": mode.value,
                "text": f"set by {edit.principal.subject} (was {node.target} minor units)",
            },
        )
    }
    if node.parent_key is not None and mode is TargetMode.REBALANCE_SIBLINGS:
        (parent,) = await repo.nodes_by_ids(session, [(version_id, node.parent_key)])
        assert parent is not None
        (siblings,) = await repo.children_by_parent_ids(session, [(version_id, parent.key)])
        original = None
        if absorb is AbsorbRule.ORIGINAL_METHOD:
            if not parent.split_spec or "spec" not in parent.split_spec:
                raise InvalidInputError(
                    "INVALID_VALUE",
                    "the parent was split as a matrix (or has no stored method); "
                    "rebalance PROPORTIONAL",
                    "absorb",
                )
            original = AllocationRequest.from_dict(parent.split_spec)
        label = {s.key: str(s.key) for s in siblings}
        result = rebalance(
            [
                CurrentChild(
                    key=label[s.key], amount=s.target, locked=s.locked, floor=s.floor, cap=s.cap
                )
                for s in siblings
            ],
            label[node.key],
            amount,
            rule=absorb,
            original=_rekey(original, siblings) if original else None,
        )
        for sibling, value, why in zip(siblings, result.amounts, result.explanations, strict=True):
            if value != sibling.target:
                new_targets[sibling.key] = (value, why.to_dict())
    elif node.parent_key is not None:
        delta = amount - node.target
        ancestors = await repo.nodes_by_ids(
            session, [(version_id, k) for k in repo.path_keys(node.path)[:-1]]
        )
        for ancestor in ancestors:
            assert ancestor is not None
            if ancestor.locked:
                raise InvalidInputError(
                    "LOCKED",
                    f"rolling up would change a locked ancestor ({ancestor.target} minor "
                    "units); unlock it or rebalance the siblings instead",
                    "mode",
                )
            new_targets[ancestor.key] = (ancestor.target + delta, None)
    touched = await repo.nodes_by_ids(session, [(version_id, k) for k in new_targets])
    await edit.check_scope([n for n in touched if n is not None])
    changed = await _apply(session, node, new_targets, edit)
    return NodeEdit(node=node, changed=changed, version=edit.version)


def _rekey(original: AllocationRequest, siblings: list[TargetNode]) -> AllocationRequest:
    """The stored request keys children by member code in split order; siblings come in
    the same order (sort order = split order), and rebalance keys them by node key."""
    if len(original.children) != len(siblings):
        raise InvalidInputError(
            "INVALID_VALUE",
            "the siblings no longer match the original split; rebalance PROPORTIONAL",
            "absorb",
        )
    children = tuple(
        replace(c, key=str(s.key)) for c, s in zip(original.children, siblings, strict=True)
    )
    return AllocationRequest(
        parent=original.parent,
        children=children,
        spec=original.spec,
        parent_key=original.parent_key,
    )


async def _apply(
    session: Session,
    edited: TargetNode,
    new_targets: Mapping[int, tuple[int, dict[str, Any] | None]],
    edit: DraftEdit,
) -> list[TargetNode]:
    """Write new targets and cascade each changed node's subtree in proportion."""
    updates: dict[int, dict[str, Any]] = {}
    version_id = edited.version_id
    nodes = await repo.nodes_by_ids(session, [(version_id, k) for k in new_targets])
    old: dict[int, int] = {}
    for current in nodes:
        assert current is not None
        amount, explanation = new_targets[current.key]
        old[current.key] = current.target
        if current.split_dimension_id is not None and not _is_ancestor_change(current, edited):
            below = await repo.subtree(session, version_id, current.path)
            old.update({n.key: n.target for n in below})
            result = cascade(
                [
                    TreeNode(
                        key=str(n.key),
                        parent_key=str(n.parent_key) if n.key != current.key else None,
                        amount=n.target,
                        locked=n.locked and n.key != current.key,
                        floor=n.floor,
                        cap=n.cap,
                    )
                    for n in below
                ],
                str(current.key),
                amount,
            )
            for change in result.changes:
                if change.new_amount != change.old_amount and int(change.key) != current.key:
                    updates[int(change.key)] = {
                        "version_id": version_id,
                        "key": int(change.key),
                        "target": change.new_amount,
                        **(
                            {"explanation": change.explanation.to_dict()}
                            if change.explanation
                            else {}
                        ),
                    }
        row: dict[str, Any] = {"version_id": version_id, "key": current.key, "target": amount}
        if explanation is not None:
            row["explanation"] = explanation
        updates[current.key] = row
    # A bulk UPDATE needs the same keys in every row.
    await repo.update_nodes(session, [u for u in updates.values() if "explanation" in u])
    await repo.update_nodes(session, [u for u in updates.values() if "explanation" not in u])
    changed = [
        n
        for n in await repo.nodes_by_ids(session, [(version_id, k) for k in sorted(updates)])
        if n is not None
    ]
    for n in changed:
        edit.record(
            plan_id=n.plan_id,
            version_id=version_id,
            node_key=n.key,
            before={"target": old.get(n.key)},
            after={"target": n.target},
        )
    return changed


def _is_ancestor_change(node: TargetNode, edited: TargetNode) -> bool:
    """Ancestors in a roll-up keep their other children: only their own total moves."""
    return node.key != edited.key and edited.path.startswith(node.path)


async def _set_lock(edit: DraftEdit, command: NodeCommand, locked: bool) -> NodeEdit:
    node = await edit.node(command.key)
    if node.locked != locked:
        await repo.update_nodes(
            edit.session, [{"version_id": node.version_id, "key": node.key, "locked": locked}]
        )
        edit.record(
            plan_id=node.plan_id,
            version_id=node.version_id,
            node_key=node.key,
            before={"locked": not locked},
            after={"locked": locked},
        )
    return NodeEdit(node=node, changed=[], version=edit.version)


@draft_edit(AuditAction.NODE_LOCK)
async def lock(edit: DraftEdit, command: NodeCommand) -> NodeEdit:
    """Lock a node: rebalancing keeps its target. Locking a locked node changes nothing."""
    return await _set_lock(edit, command, True)


@draft_edit(AuditAction.NODE_UNLOCK)
async def unlock(edit: DraftEdit, command: NodeCommand) -> NodeEdit:
    """Unlock a node. Unlocking an unlocked node changes nothing."""
    return await _set_lock(edit, command, False)


UNSET: Any = object()
"""A field of ``NodeUpdate`` the client left out (null clears; left out keeps)."""


@dataclass(frozen=True, slots=True)
class NodeUpdate(NodeCommand):
    floor: Decimal | None = UNSET
    cap: Decimal | None = UNSET
    strategy: str | None = UNSET
    kpis: Mapping[str, Any] | None = None
    """KPI targets to set; a key set to None is cleared."""


@draft_edit(AuditAction.NODE_UPDATE)
async def update(edit: DraftEdit, command: NodeUpdate) -> NodeEdit:
    """Bounds, execution strategy and KPI targets. A field left out stays; null clears it.
    Values equal to the stored ones change nothing."""
    node = await edit.node(command.key)
    digits = await _digits(edit)
    row: dict[str, Any] = {}
    new_floor, new_cap = node.floor, node.cap
    if command.floor is not UNSET:
        new_floor = (
            None if command.floor is None else parse_amount(command.floor, digits, field="floor")
        )
        row["floor"] = new_floor
    if command.cap is not UNSET:
        new_cap = None if command.cap is None else parse_amount(command.cap, digits, field="cap")
        row["cap"] = new_cap
    if new_floor is not None and new_cap is not None and new_floor > new_cap:
        raise InvalidInputError("INVALID_VALUE", "floor is above cap", "floor")
    if new_floor is not None and node.target < new_floor:
        raise InvalidInputError(
            "OUT_OF_RANGE",
            "the node's target is below the new floor; raise the target first",
            "floor",
        )
    if new_cap is not None and node.target > new_cap:
        raise InvalidInputError(
            "OUT_OF_RANGE", "the node's target is above the new cap; lower the target first", "cap"
        )
    if command.strategy is not UNSET:
        row["strategy"] = clean_strategy(command.strategy)
    if command.kpis is not None:
        row["kpis"] = check_kpis({**node.kpis, **command.kpis}, digits)
    changed = {f: v for f, v in row.items() if getattr(node, f) != v}
    if changed:
        before = {f: getattr(node, f) for f in changed}
        await repo.update_nodes(
            edit.session, [{"version_id": node.version_id, "key": node.key, **changed}]
        )
        edit.record(
            plan_id=node.plan_id,
            version_id=node.version_id,
            node_key=node.key,
            before=before,
            after=changed,
        )
    return NodeEdit(node=node, changed=[], version=edit.version)


# --- reads --------------------------------------------------------------------------


async def nodes_page(
    db: Database,
    version_id: int,
    coordinates: list[tuple[int, int]],
    exact: bool,
    request: PageRequest,
) -> Page[TargetNode]:
    """Nodes whose slice contains every coordinate, in tree order (``exact``: only the
    node whose slice is exactly those coordinates)."""
    _check_slice(coordinates)
    async with db.read_session() as session:
        return await repo.nodes_page(session, version_id, coordinates, exact, request)


async def nodes_count(
    db: Database, version_id: int, coordinates: list[tuple[int, int]], exact: bool
) -> int:
    _check_slice(coordinates)
    async with db.read_session() as session:
        return await repo.nodes_count(session, version_id, coordinates, exact)


def _check_slice(coordinates: list[tuple[int, int]]) -> None:
    if len(coordinates) > MAX_SLICE_COORDINATES:
        raise InvalidInputError(
            "TOO_MANY", f"`slice` takes at most {MAX_SLICE_COORDINATES} coordinates", "slice"
        )


@dataclass(frozen=True, slots=True)
class Subtree:
    version_id: int
    rows: list[tuple[Any, ...]]
    """(key, parent key, depth, target, locked, dimension id, member code, member name)
    in tree order."""
    truncated: bool


MAX_TREE_DEPTH = 1000
"""Deepest ``maxDepth`` a subtree read takes (trees are far shallower)."""


async def subtree(
    db: Database, version_id: int, root_key: int | None, max_depth: int | None
) -> Subtree:
    """A whole subtree (the version's root when ``root_key`` is None) as flat rows, at
    most ``MAX_BULK_NODES``, for clients that build the tree themselves."""
    if max_depth is not None and not 0 <= max_depth <= MAX_TREE_DEPTH:
        raise InvalidInputError(
            "OUT_OF_RANGE", f"`maxDepth` must be between 0 and {MAX_TREE_DEPTH}", "maxDepth"
        )
    async with db.session() as session:
        if root_key is None:
            (root,) = await repo.roots_by_version_ids(session, [version_id])
        else:
            root = await repo.node(session, version_id, root_key)
        if root is None:
            raise InvalidInputError("NOT_FOUND", "`rootId` is not a node of this version", "rootId")
        rows = await repo.subtree_rows(
            session, version_id, root.path, max_depth, MAX_BULK_NODES + 1
        )
    return Subtree(
        version_id=version_id, rows=rows[:MAX_BULK_NODES], truncated=len(rows) > MAX_BULK_NODES
    )
