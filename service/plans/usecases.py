"""Plans and their target trees: create a plan, split a node."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import Principal
from service.db import repositories as repo
from service.db.engine import Database
from service.db.models import Dimension, Member, Plan, PlanVersion, TargetNode
from service.domain import paths, tree
from service.domain.allocation import MatrixRequest, allocate, split_matrix
from service.domain.calendar import CalendarSpec, TimeLevel, TimeMember, generate_calendar
from service.domain.money import currency_digits, parse_amount
from service.domain.tree import InvalidInputError, MemberFacts, NodeFacts, VersionState
from service.plans.access import require_planner, require_scope
from service.plans.splits import SplitRequest, build_allocation
from service.plans.uow import transaction


@dataclass(frozen=True, slots=True)
class PlanCreated:
    plan: Plan
    version: PlanVersion
    root: TargetNode


async def create_plan(
    db: Database,
    principal: Principal,
    *,
    name: str,
    currency: str,
    fiscal_year: int,
    target: str,
    calendar: CalendarSpec | None = None,
) -> PlanCreated:
    """A plan, its calendar, its version 1 as a draft, and the root holding the target.

    The calendar (``calendar``, Gregorian from January by default) becomes the
    plan's own TIME dimension: year, quarters, months or retail periods and
    optionally weeks, each with its date range.
    """
    require_planner(principal, "planCreate")
    clean = tree.clean_name(name, "name")
    digits = currency_digits(currency, field="currency")
    tree.check_fiscal_year(fiscal_year)
    amount = parse_amount(target, digits, field="target")
    spec = calendar or CalendarSpec(fiscal_year=fiscal_year, start_month=1)
    if spec.fiscal_year != fiscal_year:
        raise InvalidInputError(
            "INVALID_VALUE", "the calendar's fiscal year differs from the plan's", "fiscalYear"
        )
    periods = generate_calendar(spec)
    async with transaction(db, principal, "planCreate") as uow:
        session = uow.session
        plan = await repo.add(
            session,
            Plan(
                name=clean,
                measure=tree.Measure.AMOUNT.value,
                currency=currency.upper(),
                minor_digits=digits,
                fiscal_year=fiscal_year,
                calendar=calendar_to_json(spec),
                created_by=principal.subject,
            ),
        )
        time_dimension = await repo.add(
            session,
            Dimension(
                kind=tree.DimensionKind.TIME.value,
                name=f"{periods[0].code} calendar",
                plan_id=plan.id,
                config={},
            ),
        )
        await _insert_calendar(session, time_dimension.id, periods)
        plan.time_dimension_id = time_dimension.id
        version = await repo.add(
            session,
            PlanVersion(
                plan_id=plan.id,
                number=1,
                name="Version 1",
                state=VersionState.DRAFT.value,
                created_by=principal.subject,
            ),
        )
        (key,) = await repo.new_node_keys(session, 1)
        root = TargetNode(
            version_id=version.id,
            key=key,
            plan_id=plan.id,
            parent_key=None,
            path=paths.child_path(None, key),
            sort_path=paths.node_sort_path(None, 0, key),
            depth=0,
            sort_order=0,
            coordinates=[],
            target=amount,
            locked=False,
            kpis={},
        )
        await repo.add_nodes(session, [root])
        uow.record(
            plan_id=plan.id,
            version_id=version.id,
            node_key=root.key,
            after={
                "plan": clean,
                "currency": plan.currency,
                "fiscalYear": fiscal_year,
                "target": amount,
                "calendar": plan.calendar,
            },
        )
        await session.refresh(version)
        return PlanCreated(plan=plan, version=version, root=root)


@dataclass(frozen=True, slots=True)
class NodeSplit:
    node: TargetNode
    children: list[TargetNode]
    version: PlanVersion


@dataclass(frozen=True, slots=True)
class _Axis:
    dimension: Dimension
    members: list[MemberFacts]
    attributes: dict[int, dict[str, Any]]


async def _open_leaf(
    session: AsyncSession, version_id: int, node_key: int, revision: int, principal: Principal
) -> tuple[PlanVersion, TargetNode, Plan]:
    version = await repo.version_for_update(session, version_id)
    node = await repo.node(session, version_id, node_key) if version else None
    if version is None or node is None:
        raise InvalidInputError("NOT_FOUND", "nodeId is not a known node", "nodeId")
    tree.check_draft(VersionState(version.state), f"version {version.number}")
    check_revision(version, revision)
    await require_scope(session, principal, [node])
    (plan,) = await repo.plans_by_ids(session, [node.plan_id])
    assert plan is not None
    return version, node, plan


async def _axis(
    session: AsyncSession,
    node: TargetNode,
    dimension_id: int,
    member_ids: Sequence[int],
    prefix: str = "",
) -> _Axis:
    """Check one split axis (dimension and members) against the node's slice."""
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
        (year,) = await repo.dimension_roots(session, [(dimension.id, None, 1)])
        implicit = _facts(year[0]) if year else None
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


async def _label(session: AsyncSession, node: TargetNode) -> str:
    if node.member_id is None:
        return "the plan"
    (own,) = await repo.members_by_ids(session, [node.member_id])
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


async def split_node(
    db: Database,
    principal: Principal,
    *,
    version_id: int,
    node_key: int,
    dimension_id: int,
    member_ids: Sequence[int],
    revision: int,
    split: SplitRequest | None = None,
) -> NodeSplit:
    """Split a leaf along one dimension, one child per member, by any method of the
    allocation engine; the children add up exactly to the node (plus any buffer).

    The request (method, inputs, options) is stored on the node, so the split can
    be recomputed and explained; each child stores its own explanation.
    """
    split = split or SplitRequest()
    require_planner(principal, "nodeSplit")
    async with transaction(db, principal, "nodeSplit") as uow:
        session = uow.session
        version, node, plan = await _open_leaf(session, version_id, node_key, revision, principal)
        axis = await _axis(session, node, dimension_id, member_ids)
        request = build_allocation(
            node.target,
            await _label(session, node),
            axis.members,
            axis.attributes,
            split,
            plan.minor_digits,
        )
        result = allocate(request)
        keys = await repo.new_node_keys(session, len(axis.members))
        children = [
            _child(node, key, i, axis.dimension.id, m.id, amount, why.to_dict(), spec)
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
        await repo.set_split(session, node, axis.dimension.id, request.to_dict())
        uow.record(
            plan_id=node.plan_id,
            version_id=version_id,
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
        await repo.bump_revision(session, version)
        await session.refresh(node)
        await session.refresh(version)
        return NodeSplit(node=node, children=children, version=version)


@dataclass(frozen=True, slots=True)
class MatrixAxis:
    dimension_id: int
    member_ids: Sequence[int]
    split: SplitRequest


@dataclass(frozen=True, slots=True)
class MatrixSplit:
    node: TargetNode
    rows: list[TargetNode]
    cells: list[TargetNode]
    version: PlanVersion
    iterations: int
    max_residual: float
    converged: bool


async def split_node_matrix(
    db: Database,
    principal: Principal,
    *,
    version_id: int,
    node_key: int,
    revision: int,
    rows: MatrixAxis,
    columns: MatrixAxis,
    seed: Sequence[Sequence[str]] | None = None,
    structural_zeros: Sequence[tuple[int, int]] = (),
) -> MatrixSplit:
    """Split a leaf along two dimensions at once (region x product).

    Each axis's margin is computed by any method of the engine from the node's
    target (MANUAL gives explicit margins). The cells are fitted to both margins
    from ``seed`` (history, rows x columns; all ones when not given, which gives
    the product of the shares) by iterative proportional fitting and rounded so
    that every row and column total is exact. The node gets one child per row
    member, and each of them one child per column member.
    """
    require_planner(principal, "nodeSplitMatrix")
    async with transaction(db, principal, "nodeSplitMatrix") as uow:
        session = uow.session
        version, node, plan = await _open_leaf(session, version_id, node_key, revision, principal)
        row_axis = await _axis(session, node, rows.dimension_id, rows.member_ids, "rows.")
        col_axis = await _axis(session, node, columns.dimension_id, columns.member_ids, "columns.")
        if row_axis.dimension.id == col_axis.dimension.id:
            raise InvalidInputError(
                "INVALID_VALUE", "rows and columns need two different dimensions", "columns"
            )
        label = await _label(session, node)
        row_request = build_allocation(
            node.target, label, row_axis.members, row_axis.attributes, rows.split, plan.minor_digits
        )
        col_request = build_allocation(
            node.target,
            label,
            col_axis.members,
            col_axis.attributes,
            columns.split,
            plan.minor_digits,
        )
        row_result = allocate(row_request)
        col_result = allocate(col_request)
        m, n = len(row_axis.members), len(col_axis.members)
        if seed is None:
            table: tuple[tuple[Any, ...], ...] = tuple((1,) * n for _ in range(m))
        else:
            if len(seed) != m or any(len(r) != n for r in seed):
                raise InvalidInputError(
                    "INVALID_VALUE", f"seed must be {m} rows of {n} values", "seed"
                )
            table = tuple(tuple(r) for r in seed)
        codes_r = {mf.id: mf.code for mf in row_axis.members}
        codes_c = {mf.id: mf.code for mf in col_axis.members}
        zeros = []
        for index, (r, c) in enumerate(structural_zeros):
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
        uow.record(
            plan_id=node.plan_id,
            version_id=version_id,
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
        await repo.bump_revision(session, version)
        await session.refresh(node)
        await session.refresh(version)
        return MatrixSplit(
            node=node,
            rows=row_nodes,
            cells=cells,
            version=version,
            iterations=result.iterations,
            max_residual=result.max_residual,
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
    )


def calendar_to_json(spec: CalendarSpec) -> dict[str, Any]:
    return {
        "fiscalYear": spec.fiscal_year,
        "startMonth": spec.start_month,
        "pattern": spec.pattern.value,
        "weeks": spec.weeks,
        "weekStart": spec.week_start,
        "yearEnd": spec.year_end.value,
    }


async def _insert_calendar(session: Any, dimension_id: int, periods: list[TimeMember]) -> None:
    """The calendar's members, level by level (parents first), then their paths."""
    ids: dict[str, int] = {}
    for level in TimeLevel:
        rows = [p for p in periods if p.level is level]
        if not rows:
            continue
        ids.update(
            await repo.insert_members(
                session,
                [
                    {
                        "dimension_id": dimension_id,
                        "code": p.code,
                        "name": p.name,
                        "parent_id": ids[p.parent_code] if p.parent_code else None,
                        "sort_order": p.sort_order,
                        "attributes": {"timeLevel": p.level.value},
                        "starts_on": p.start,
                        "ends_on": p.end,
                    }
                    for p in rows
                ],
            )
        )
    await repo.recompute_member_paths(session, dimension_id)


def check_revision(version: PlanVersion, revision: int) -> None:
    if version.revision != revision:
        raise InvalidInputError(
            "CONFLICT",
            f"the version changed since you read it (you sent revision {revision}, it is now "
            f"{version.revision}); reload and apply your change again",
            "revision",
            current_revision=version.revision,
        )
