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
from service.domain.allocation import AllocationRequest, Units, buffer_of, retarget, subtree_needed
from service.domain.allocation import TargetMode as DomainTargetMode
from service.domain.allocation.rebalance import AbsorbRule, TreeNode
from service.domain.kpis import check_kpis, clean_strategy
from service.domain.money import parse_amount
from service.domain.tree import InvalidInputError, VersionState
from service.plans.access import require_planner, require_scope
from service.plans.uow import transaction


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

    The arithmetic is :func:`service.domain.allocation.retarget` (its docstring
    has the rules: both modes, bounds, locks, buffers, cascade). This loads the
    nodes it needs, stores the changes it returns and writes one audit entry per
    changed node. A target equal to the current one changes nothing: no write,
    no audit entry, no new revision.
    """
    require_planner(principal, "nodeSetTarget")
    async with transaction(db, principal, "nodeSetTarget") as uow:
        session = uow.session
        version, node = await _open(session, version_id, key, revision, principal)
        digits = await _digits(session, node.plan_id)
        amount = parse_amount(target, digits, field="target")
        if amount == node.target:
            return NodeEdit(node=node, changed=[], version=version)
        domain_mode = DomainTargetMode(mode.value)
        ancestor_keys = [int(k) for k in node.path.split(".")[:-2]]
        ancestors = [
            a
            for a in await repo.nodes_by_ids(session, [(version_id, k) for k in ancestor_keys])
            if a
        ]
        path = [_tree_node(n, {}) for n in (node, *reversed(ancestors))]
        top_key = int(subtree_needed(domain_mode, path[0], path[1:]))
        top = node if top_key == node.key else next(a for a in ancestors if a.key == top_key)
        rows = {n.key: n for n in ancestors}
        rows.update({n.key: n for n in await repo.subtree(session, version_id, top.path)})
        ordered = sorted(rows.values(), key=lambda n: (n.depth, n.sort_order, n.key))
        member_ids = sorted({n.member_id for n in ordered if n.member_id is not None})
        codes = {m.id: m.code for m in await repo.members_by_ids(session, member_ids) if m}
        original = None
        if absorb is AbsorbRule.ORIGINAL_METHOD and node.parent_key is not None:
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
            mode=domain_mode,
            absorb=absorb,
            original=original,
            units=Units(digits),
            by=principal.subject,
        )
        if result.is_noop:
            return NodeEdit(node=node, changed=[], version=version)
        moved = [rows[int(c.key)] for c in result.changes if int(c.key) in rows]
        await require_scope(session, principal, moved)
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
            uow.record(
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
        await _close(session, version, node)
        return NodeEdit(node=node, changed=changed, version=version)


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
    """The stored request keys children by member code; rebalance keys them by node key."""
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
