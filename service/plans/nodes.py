"""A draft's tree nodes: unsplit, set a target, lock, bounds, strategy and KPIs; and
the reads of a version's nodes (lookups by slice, bulk subtrees).

Every edit runs in a ``DraftEdit`` (the version locked, its state and the client's
revision checked, the revision bumped only when something changed). After each
of them every node's children add up exactly to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from service.db import repositories as repo
from service.db.engine import Database, Session
from service.db.models import PlanVersion, TargetNode
from service.domain.allocation import (
    AllocationRequest,
    TargetMode,
    Units,
    buffer_of,
    retarget,
    subtree_needed,
)
from service.domain.allocation.rebalance import AbsorbRule, TreeNode
from service.domain.audit import AuditAction
from service.domain.kpis import check_kpis, clean_strategy
from service.domain.money import parse_amount
from service.domain.paging import Page, PageRequest
from service.domain.paths import path_ids
from service.domain.tree import InvalidInputError
from service.plans.uow import DraftEdit
from service.plans.usecase import draft_edit

MAX_BULK_NODES = 50_000
"""Most nodes one bulk subtree read returns."""
MAX_SLICE_COORDINATES = 20
"""Most coordinates a lookup by slice may name."""


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

    The arithmetic is :func:`service.domain.allocation.retarget` (its docstring
    has the rules: both modes, bounds and locks, buffers, the cascade below every
    moved node). This loads the nodes it needs, stores the changes it returns and
    records one audit entry per changed node. Setting the target a node already
    has changes nothing.
    """
    session = edit.session
    version_id = edit.version.id
    node = await edit.node(command.key)
    digits = await _digits(edit)
    amount = parse_amount(command.target, digits, field="target")
    if amount == node.target:
        return NodeEdit(node=node, changed=[], version=edit.version)
    mode = command.mode
    above = [(version_id, k) for k in path_ids(node.path)[:-1]]
    ancestors = [a for a in await repo.nodes_by_ids(session, above) if a is not None]
    path = [_tree_node(n, {}) for n in (node, *reversed(ancestors))]
    top_key = int(subtree_needed(mode, path[0], path[1:]))
    top = node if top_key == node.key else next(a for a in ancestors if a.key == top_key)
    rows = {n.key: n for n in ancestors}
    rows.update({n.key: n for n in await repo.subtree(session, top)})
    ordered = sorted(rows.values(), key=lambda n: (n.depth, n.sort_order, n.key))
    member_ids = sorted({n.member_id for n in ordered if n.member_id is not None})
    codes = {m.id: m.code for m in await repo.members_by_ids(session, member_ids) if m}
    original = None
    if command.absorb is AbsorbRule.ORIGINAL_METHOD and node.parent_key is not None:
        parent = rows[node.parent_key]
        if not parent.split_spec or "spec" not in parent.split_spec:
            raise InvalidInputError(
                "INVALID_VALUE",
                "the parent was split as a matrix (or has no stored method); "
                "rebalance PROPORTIONAL",
                "absorb",
            )
        siblings = [n for n in ordered if n.parent_key == parent.key]
        original = _rekey(AllocationRequest.from_dict(parent.split_spec), siblings, codes)
    result = retarget(
        [_tree_node(n, codes) for n in ordered],
        str(node.key),
        amount,
        mode=mode,
        absorb=command.absorb,
        original=original,
        units=Units(digits),
        by=edit.principal.subject,
    )
    if result.is_noop:
        return NodeEdit(node=node, changed=[], version=edit.version)
    await edit.check_scope([rows[int(c.key)] for c in result.changes])
    await repo.update_nodes(
        session,
        [
            {
                "version_id": version_id,
                "key": int(c.key),
                "target": c.new_amount,
                "explanation": c.explanation,
            }
            for c in result.changes
        ],
    )
    for c in result.changes:
        edit.record(
            plan_id=node.plan_id,
            version_id=version_id,
            node_key=int(c.key),
            before={"target": c.old_amount},
            after={"target": c.new_amount},
        )
    changed = [
        n
        for n in await repo.nodes_by_ids(
            session, [(version_id, k) for k in sorted(int(c.key) for c in result.changes)]
        )
        if n is not None
    ]
    return NodeEdit(node=node, changed=changed, version=edit.version)


def _tree_node(n: TargetNode, codes: Mapping[int, str]) -> TreeNode:
    """A stored node as the domain sees it: label (member code), bounds, lock, buffer."""
    label = "the plan" if n.member_id is None else codes.get(n.member_id, str(n.key))
    return TreeNode(
        key=str(n.key),
        parent_key=None if n.parent_key is None else str(n.parent_key),
        amount=n.target,
        locked=n.locked,
        floor=n.floor,
        cap=n.cap,
        label=label,
        buffer=buffer_of(n.split_spec),
        split=n.split_dimension_id is not None,
    )


def _rekey(
    original: AllocationRequest, siblings: list[TargetNode], codes: Mapping[int, str]
) -> AllocationRequest:
    """The stored request keys children by member code; retarget keys them by node key."""
    by_code = {codes.get(s.member_id or 0): s for s in siblings}
    if set(by_code) != {c.key for c in original.children}:
        raise InvalidInputError(
            "INVALID_VALUE",
            "the siblings no longer match the original split; rebalance PROPORTIONAL",
            "absorb",
        )
    children = tuple(
        replace(c, key=str(by_code[c.key].key), label=c.key) for c in original.children
    )
    return replace(original, children=children)


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
    rows: Sequence[Sequence[Any]]
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
    async with db.session() as session:
        return await subtree_on(session, version_id, root_key, max_depth)


async def subtree_on(
    session: Session, version_id: int, root_key: int | None, max_depth: int | None
) -> Subtree:
    """:func:`subtree` on ``session`` (the request's read connection)."""
    if max_depth is not None and not 0 <= max_depth <= MAX_TREE_DEPTH:
        raise InvalidInputError(
            "OUT_OF_RANGE", f"`maxDepth` must be between 0 and {MAX_TREE_DEPTH}", "maxDepth"
        )
    if root_key is None:
        (root,) = await repo.roots_by_version_ids(session, [version_id])
    else:
        root = await repo.node(session, version_id, root_key)
    if root is None:
        raise InvalidInputError("NOT_FOUND", "`rootId` is not a node of this version", "rootId")
    rows = await repo.subtree_rows(session, root, max_depth, MAX_BULK_NODES + 1)
    return Subtree(
        version_id=version_id, rows=rows[:MAX_BULK_NODES], truncated=len(rows) > MAX_BULK_NODES
    )
