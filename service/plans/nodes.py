"""Editing a draft's tree: unsplit, set a target, lock, bounds, strategy and KPIs.

Every use case locks the version row, checks the draft state and the client's
revision, changes the nodes and bumps the revision, in one transaction. After
each of them every node's children add up exactly to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal
from service.db import repositories as repo
from service.db.engine import Database
from service.db.models import PlanVersion, TargetNode
from service.domain import tree
from service.domain.allocation import AllocationRequest
from service.domain.allocation.rebalance import (
    AbsorbRule,
    CurrentChild,
    TreeNode,
    cascade,
    rebalance,
)
from service.domain.kpis import check_kpis, clean_strategy
from service.domain.money import parse_amount
from service.domain.paths import path_ids
from service.domain.tree import InvalidInputError, VersionState
from service.plans.access import require_planner, require_scope
from service.plans.uow import UnitOfWork, transaction


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


async def _open(
    session: AsyncSession, version_id: int, key: int, revision: int, principal: Principal
) -> tuple[PlanVersion, TargetNode]:
    version = await repo.version_for_update(session, version_id)
    node = await repo.node(session, version_id, key) if version else None
    if version is None or node is None:
        raise InvalidInputError("NOT_FOUND", "nodeId is not a known node", "nodeId")
    tree.check_draft(VersionState(version.state), f"version {version.number}")
    if version.revision != revision:
        raise InvalidInputError(
            "CONFLICT",
            f"the version changed since you read it (you sent revision {revision}, it is now "
            f"{version.revision}); reload and apply your change again",
            "revision",
            current_revision=version.revision,
        )
    await require_scope(session, principal, [node])
    return version, node


async def _close(session: AsyncSession, version: PlanVersion, node: TargetNode) -> None:
    await repo.bump_revision(session, version)
    await session.refresh(version)
    await session.refresh(node)


async def _digits(session: AsyncSession, plan_id: int) -> int:
    (plan,) = await repo.plans_by_ids(session, [plan_id])
    assert plan is not None
    return plan.minor_digits


async def unsplit(
    db: Database, principal: Principal, *, version_id: int, key: int, revision: int
) -> NodeEdit:
    """Remove a node's whole subtree; the node becomes a leaf with its target kept."""
    require_planner(principal, "nodeUnsplit")
    async with transaction(db, principal, "nodeUnsplit") as uow:
        session = uow.session
        version, node = await _open(session, version_id, key, revision, principal)
        if node.split_dimension_id is None:
            raise InvalidInputError("NOT_SPLIT", "the node is a leaf already", "nodeId")
        removed = await repo.delete_below(session, node)
        uow.record(
            plan_id=node.plan_id,
            version_id=version_id,
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
        await _close(session, version, node)
        return NodeEdit(node=node, changed=[], version=version)


async def set_target(
    db: Database,
    principal: Principal,
    *,
    version_id: int,
    key: int,
    revision: int,
    target: str,
    mode: TargetMode = TargetMode.REBALANCE_SIBLINGS,
    absorb: AbsorbRule = AbsorbRule.PROPORTIONAL,
) -> NodeEdit:
    """Give a node a new target and keep every sum exact.

    ``REBALANCE_SIBLINGS`` (the default; a root has no siblings, so its change
    is always a new plan total): the unlocked siblings absorb the difference by
    ``absorb`` within their bounds. ``ROLL_UP``: the parent and all ancestors
    change by the same difference (refused when one of them is locked). In both
    modes every node whose target changed re-splits its subtree in proportion
    (locked nodes and their subtrees keep their amounts).
    """
    require_planner(principal, "nodeSetTarget")
    async with transaction(db, principal, "nodeSetTarget") as uow:
        session = uow.session
        version, node = await _open(session, version_id, key, revision, principal)
        digits = await _digits(session, node.plan_id)
        amount = parse_amount(target, digits, field="target")
        new_targets: dict[int, tuple[int, dict[str, Any] | None]] = {
            node.key: (
                amount,
                {
                    "method": "SET",
                    "previous": node.target,
                    "final": amount,
                    "by": principal.subject,
                    "mode": mode.value,
                    "text": f"set by {principal.subject} (was {node.target} minor units)",
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
            for sibling, value, why in zip(
                siblings, result.amounts, result.explanations, strict=True
            ):
                if value != sibling.target:
                    new_targets[sibling.key] = (value, why.to_dict())
        elif node.parent_key is not None:
            delta = amount - node.target
            ancestors = await repo.nodes_by_ids(
                session, [(version_id, k) for k in path_ids(node.path)[:-1]]
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
        await require_scope(session, principal, [n for n in touched if n is not None])
        changed = await _apply(session, node, new_targets, uow)
        await _close(session, version, node)
        return NodeEdit(node=node, changed=changed, version=version)


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
        _with_key(c, str(s.key)) for c, s in zip(original.children, siblings, strict=True)
    )
    return AllocationRequest(
        parent=original.parent,
        children=children,
        spec=original.spec,
        parent_key=original.parent_key,
    )


def _with_key(child: Any, key: str) -> Any:
    return replace(child, key=key)


async def _apply(
    session: AsyncSession,
    edited: TargetNode,
    new_targets: Mapping[int, tuple[int, dict[str, Any] | None]],
    uow: UnitOfWork,
) -> list[TargetNode]:
    """Write new targets and cascade each changed node's subtree in proportion."""
    updates: dict[int, dict[str, Any]] = {}
    version_id = edited.version_id
    nodes = await repo.nodes_by_ids(session, [(version_id, k) for k in new_targets])
    for current in nodes:
        assert current is not None
        amount, explanation = new_targets[current.key]
        if current.split_dimension_id is not None and not _is_ancestor_change(current, edited):
            below = await repo.subtree(session, current)
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
    with_expl = [u for u in updates.values() if "explanation" in u]
    without = [u for u in updates.values() if "explanation" not in u]
    old = {
        n.key: n.target
        for n in await repo.nodes_by_ids(session, [(version_id, k) for k in updates])
        if n
    }
    await repo.update_nodes(session, with_expl)
    await repo.update_nodes(session, without)
    changed = [
        n
        for n in await repo.nodes_by_ids(session, [(version_id, k) for k in sorted(updates)])
        if n is not None
    ]
    for n in changed:
        uow.record(
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


async def set_lock(
    db: Database, principal: Principal, *, version_id: int, key: int, revision: int, locked: bool
) -> NodeEdit:
    require_planner(principal, "nodeLock" if locked else "nodeUnlock")
    async with transaction(db, principal, "nodeLock" if locked else "nodeUnlock") as uow:
        session = uow.session
        version, node = await _open(session, version_id, key, revision, principal)
        was = node.locked
        await repo.update_nodes(session, [{"version_id": version_id, "key": key, "locked": locked}])
        uow.record(
            plan_id=node.plan_id,
            version_id=version_id,
            node_key=key,
            before={"locked": was},
            after={"locked": locked},
        )
        await _close(session, version, node)
        return NodeEdit(node=node, changed=[], version=version)


_UNSET: Any = object()


async def update_node(
    db: Database,
    principal: Principal,
    *,
    version_id: int,
    key: int,
    revision: int,
    floor: str | None = _UNSET,
    cap: str | None = _UNSET,
    strategy: str | None = _UNSET,
    kpis: Mapping[str, Any] | None = None,
) -> NodeEdit:
    """Bounds, execution strategy and KPI targets. A field left out stays; null clears it."""
    require_planner(principal, "nodeUpdate")
    async with transaction(db, principal, "nodeUpdate") as uow:
        session = uow.session
        version, node = await _open(session, version_id, key, revision, principal)
        digits = await _digits(session, node.plan_id)
        row: dict[str, Any] = {"version_id": version_id, "key": key}
        new_floor = node.floor
        new_cap = node.cap
        if floor is not _UNSET:
            new_floor = None if floor is None else parse_amount(floor, digits, field="floor")
            row["floor"] = new_floor
        if cap is not _UNSET:
            new_cap = None if cap is None else parse_amount(cap, digits, field="cap")
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
                "OUT_OF_RANGE",
                "the node's target is above the new cap; lower the target first",
                "cap",
            )
        if strategy is not _UNSET:
            row["strategy"] = clean_strategy(strategy)
        if kpis is not None:
            merged = {**node.kpis, **kpis}
            row["kpis"] = check_kpis(merged, digits)
        fields = [f for f in row if f not in ("version_id", "key")]
        before = {f: getattr(node, f) for f in fields}
        await repo.update_nodes(session, [row])
        uow.record(
            plan_id=node.plan_id,
            version_id=version_id,
            node_key=key,
            before=before,
            after={f: row[f] for f in fields},
        )
        await _close(session, version, node)
        return NodeEdit(node=node, changed=[], version=version)
