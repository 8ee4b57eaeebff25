"""Splitting a draft's leaf: along one dimension, or along two at once (a matrix)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from service.db import repositories as repo
from service.db.models import Dimension, Member, Plan, PlanVersion, TargetNode
from service.domain import paths, tree
from service.domain.allocation import (
    AllocationError,
    AllocationRequest,
    AllocationResult,
    MatrixRequest,
    Units,
    allocate,
    split_matrix,
)
from service.domain.audit import AuditAction
from service.domain.paging import PageRequest
from service.domain.splits import SplitSpec, build_allocation, name_engine_field
from service.domain.tree import InvalidInputError, MemberFacts, NodeFacts
from service.plans.history import fill_split_history, history_text
from service.plans.uow import DraftEdit
from service.plans.usecase import draft_edit

_FIRST = PageRequest(size=1)


@dataclass(frozen=True, slots=True)
class NodeSplit:
    node: TargetNode
    children: list[TargetNode]
    version: PlanVersion


@dataclass(frozen=True, slots=True)
class Split:
    """Split a leaf along one dimension, one child per member."""

    version_id: int
    key: int
    revision: int
    dimension_id: int
    member_ids: Sequence[int]
    spec: SplitSpec = field(default_factory=SplitSpec)


@dataclass(frozen=True, slots=True)
class _Axis:
    dimension: Dimension
    members: list[MemberFacts]
    attributes: dict[int, dict[str, Any]]


async def _leaf(edit: DraftEdit, key: int) -> tuple[TargetNode, Plan]:
    node = await edit.node(key)
    (plan,) = await repo.plans_by_ids(edit.session, [node.plan_id])
    assert plan is not None
    return node, plan


async def _axis(
    edit: DraftEdit,
    node: TargetNode,
    dimension_id: int,
    member_ids: Sequence[int],
    prefix: str = "",
) -> _Axis:
    """Check one split axis (dimension and members) against the node's slice."""
    session = edit.session
    (dimension,) = await repo.dimensions_by_ids(session, [dimension_id])
    if dimension is None:
        raise InvalidInputError(
            "NOT_FOUND", f"{prefix}dimensionId is not a known dimension", f"{prefix}dimensionId"
        )
    found = [m for m in await repo.members_by_ids(session, list(set(member_ids))) if m]
    implicit = None
    if dimension.plan_id is not None:
        if dimension.plan_id != node.plan_id:
            raise InvalidInputError(
                "WRONG_DIMENSION",
                f"{prefix}dimensionId is another plan's calendar; split along this plan's "
                "timeDimension",
                f"{prefix}dimensionId",
            )
        (year,) = await repo.dimension_roots(session, [(dimension.id, _FIRST)])
        implicit = _facts(year.items[0]) if year.items else None
    try:
        members = tree.check_split_members(
            NodeFacts(
                key=node.key,
                target=node.target,
                split_dimension_id=node.split_dimension_id,
                coordinates={d: m for d, m in node.coordinates},
            ),
            dimension.id,
            dimension.name,
            [_facts(m) for m in found],
            list(member_ids),
            implicit_member=implicit,
        )
    except InvalidInputError as exc:
        if prefix and exc.field and exc.field.startswith("memberIds"):
            exc.field = prefix + exc.field
            exc.details["field"] = exc.field
        raise
    return _Axis(dimension, members, {m.id: m.attributes for m in found})


async def _label(edit: DraftEdit, node: TargetNode) -> str:
    if node.member_id is None:
        return "the plan"
    (own,) = await repo.members_by_ids(edit.session, [node.member_id])
    return own.code if own else "the node"


def _child(
    parent: TargetNode,
    key: int,
    index: int,
    dimension_id: int,
    member_id: int,
    amount: int,
    explanation: dict[str, Any],
    child: Any = None,
) -> TargetNode:
    return TargetNode(
        version_id=parent.version_id,
        key=key,
        plan_id=parent.plan_id,
        parent_key=parent.key,
        path=paths.child_path(parent.path, key),
        sort_path=paths.node_sort_path(parent.sort_path, index, key),
        depth=parent.depth + 1,
        sort_order=index,
        dimension_id=dimension_id,
        member_id=member_id,
        coordinates=[*parent.coordinates, [dimension_id, member_id]],
        target=amount,
        explanation=explanation,
        locked=child is not None and child.locked_amount is not None,
        floor=child.floor if child is not None else None,
        cap=child.cap if child is not None else None,
        kpis={},
    )


@draft_edit(AuditAction.NODE_SPLIT)
async def split_node(edit: DraftEdit, command: Split) -> NodeSplit:
    """Split a leaf along one dimension, one child per member, by any method of the
    allocation engine; the children add up exactly to the node (plus any buffer).

    The request (method, inputs, options) is stored on the node, so the split can
    be recomputed and explained; each child stores its own explanation.
    """
    session = edit.session
    node, plan = await _leaf(edit, command.key)
    axis = await _axis(edit, node, command.dimension_id, command.member_ids)
    spec = command.spec
    filled = await fill_split_history(
        session, plan, node, axis.dimension.id, axis.members, command.spec
    )
    if filled is not None:
        spec = filled.spec
    request = build_allocation(
        node.target,
        await _label(edit, node),
        axis.members,
        axis.attributes,
        spec,
        plan.minor_digits,
    )
    result = _allocate(request, spec)
    keys = await repo.new_node_keys(session, len(axis.members))

    def explained(member: MemberFacts, why: Any) -> dict[str, Any]:
        if filled is None:
            return dict(why.to_dict())
        read = filled.read["children"][member.code]
        return {
            **why.to_dict(),
            "history_from": {"text": history_text(filled.read, member.code), **read},
        }

    children = [
        _child(node, key, i, axis.dimension.id, m.id, amount, explained(m, why), spec)
        for i, (key, m, amount, why, spec) in enumerate(
            zip(
                keys,
                axis.members,
                result.amounts,
                result.explanations,
                request.children,
                strict=True,
            )
        )
    ]
    await repo.add_nodes(session, children)
    stored = request.to_dict()
    if filled is not None:
        stored["history_from"] = filled.read
    await repo.set_split(session, node, axis.dimension.id, stored)
    edit.record(
        plan_id=node.plan_id,
        version_id=node.version_id,
        node_key=node.key,
        before={"split": None, "target": node.target},
        after={
            "split": axis.dimension.name,
            "method": request.spec.method.value,
            "children": [
                {"key": c.key, "member": m.code, "target": c.target}
                for c, m in zip(children, axis.members, strict=True)
            ],
        },
    )
    await session.refresh(node)
    return NodeSplit(node=node, children=children, version=edit.version)


@dataclass(frozen=True, slots=True)
class MatrixAxis:
    dimension_id: int
    member_ids: Sequence[int]
    spec: SplitSpec = field(default_factory=SplitSpec)


@dataclass(frozen=True, slots=True)
class MatrixSplitCommand:
    """Split a leaf along two dimensions at once."""

    version_id: int
    key: int
    revision: int
    rows: MatrixAxis
    columns: MatrixAxis
    seed: Sequence[Sequence[Decimal]] | None = None
    structural_zeros: Sequence[tuple[int, int]] = ()


@dataclass(frozen=True, slots=True)
class MatrixSplit:
    node: TargetNode
    rows: list[TargetNode]
    cells: list[TargetNode]
    version: PlanVersion
    iterations: int
    max_residual: float
    """Largest margin residual of the fit before rounding, in the plan's units."""
    converged: bool


@draft_edit(AuditAction.NODE_SPLIT_MATRIX)
async def split_node_matrix(edit: DraftEdit, command: MatrixSplitCommand) -> MatrixSplit:
    """Split a leaf along two dimensions at once (region x product).

    Each axis's margin is computed by any method of the engine from the node's
    target (MANUAL gives explicit margins). The cells are fitted to both margins
    from ``seed`` (history, rows x columns; all ones when not given, which gives
    the product of the shares) by iterative proportional fitting and rounded so
    that every row and column total is exact. The node gets one child per row
    member, and each of them one child per column member.
    """
    session = edit.session
    rows, columns = command.rows, command.columns
    for axis_name, axis_spec in (("rows", rows.spec), ("columns", columns.spec)):
        if axis_spec.options.history_from is not None:
            raise InvalidInputError(
                "INVALID_VALUE",
                "historyFrom feeds nodeSplit; give a two-way split's history inline "
                "(children.history, seed)",
                f"{axis_name}.options.historyFrom",
            )
    node, plan = await _leaf(edit, command.key)
    row_axis = await _axis(edit, node, rows.dimension_id, rows.member_ids, "rows.")
    col_axis = await _axis(edit, node, columns.dimension_id, columns.member_ids, "columns.")
    if row_axis.dimension.id == col_axis.dimension.id:
        raise InvalidInputError(
            "INVALID_VALUE", "rows and columns need two different dimensions", "columns"
        )
    label = await _label(edit, node)
    digits = plan.minor_digits
    row_request = build_allocation(
        node.target, label, row_axis.members, row_axis.attributes, rows.spec, digits, "rows."
    )
    col_request = build_allocation(
        node.target, label, col_axis.members, col_axis.attributes, columns.spec, digits, "columns."
    )
    row_result = _allocate(row_request, rows.spec, "rows.")
    col_result = _allocate(col_request, columns.spec, "columns.")
    m, n = len(row_axis.members), len(col_axis.members)
    if command.seed is None:
        table: tuple[tuple[Any, ...], ...] = tuple((1,) * n for _ in range(m))
    else:
        if len(command.seed) != m or any(len(r) != n for r in command.seed):
            raise InvalidInputError("INVALID_VALUE", f"seed must be {m} rows of {n} values", "seed")
        table = tuple(tuple(r) for r in command.seed)
    codes_r = {mf.id: mf.code for mf in row_axis.members}
    codes_c = {mf.id: mf.code for mf in col_axis.members}
    zeros = []
    for index, (r, c) in enumerate(command.structural_zeros):
        if r not in codes_r or c not in codes_c:
            raise InvalidInputError(
                "INVALID_VALUE",
                f"structuralZeros.{index} names a member outside the rows or columns",
                f"structuralZeros.{index}",
            )
        zeros.append((codes_r[r], codes_c[c]))
    matrix = MatrixRequest(
        row_keys=tuple(mf.code for mf in row_axis.members),
        col_keys=tuple(mf.code for mf in col_axis.members),
        row_targets=row_result.amounts,
        col_targets=col_result.amounts,
        seed=table,
        structural_zeros=tuple(zeros),
        units=Units(plan.minor_digits),
    )
    result = split_matrix(matrix)
    keys = await repo.new_node_keys(session, m + m * n)
    row_nodes = [
        _child(node, keys[i], i, row_axis.dimension.id, mf.id, amount, why.to_dict(), spec)
        for i, (mf, amount, why, spec) in enumerate(
            zip(
                row_axis.members,
                row_result.amounts,
                row_result.explanations,
                row_request.children,
                strict=True,
            )
        )
    ]
    cell_why = result.explanations
    cells: list[TargetNode] = []
    for r, row_node in enumerate(row_nodes):
        for c, mf in enumerate(col_axis.members):
            cells.append(
                _child(
                    row_node,
                    keys[m + r * n + c],
                    c,
                    col_axis.dimension.id,
                    mf.id,
                    result.cells[r][c],
                    {"method": "MATRIX", **cell_why[r * n + c].to_dict()},
                )
            )
    for row_node in row_nodes:
        row_node.split_dimension_id = col_axis.dimension.id
        row_node.split_spec = {"matrix_row": True, "columns": col_request.to_dict()}
    await repo.add_nodes(session, [*row_nodes, *cells])
    edit.record(
        plan_id=node.plan_id,
        version_id=node.version_id,
        node_key=node.key,
        before={"split": None, "target": node.target},
        after={
            "split": f"{row_axis.dimension.name} x {col_axis.dimension.name}",
            "rows": dict(zip(matrix.row_keys, row_result.amounts, strict=True)),
            "columns": dict(zip(matrix.col_keys, col_result.amounts, strict=True)),
            "cells": len(cells),
        },
    )
    await repo.set_split(
        session,
        node,
        row_axis.dimension.id,
        {
            "matrix": matrix.to_dict(),
            "rows": row_request.to_dict(),
            "columns": col_request.to_dict(),
            "iterations": result.iterations,
            "max_residual": result.max_residual,
        },
    )
    await session.refresh(node)
    return MatrixSplit(
        node=node,
        rows=row_nodes,
        cells=cells,
        version=edit.version,
        iterations=result.iterations,
        max_residual=result.max_residual / 10**digits,
        converged=result.converged,
    )


def _facts(member: Member) -> MemberFacts:
    return MemberFacts(
        id=member.id,
        dimension_id=member.dimension_id,
        code=member.code,
        parent_id=member.parent_id,
        depth=member.depth,
        retired=member.retired_at is not None,
        ancestor_ids=tuple(paths.path_ids(member.path))[:-1],
        starts_on=member.starts_on,
    )


def _allocate(request: AllocationRequest, spec: SplitSpec, prefix: str = "") -> AllocationResult:
    """The engine's split; its errors name the input field they are about."""
    try:
        return allocate(request)
    except AllocationError as exc:
        name_engine_field(exc, spec, prefix)
        raise
