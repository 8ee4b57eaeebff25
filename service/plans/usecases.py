"""Plans and their target trees: create a plan, split a node."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.auth import Principal
from service.db import repositories as repo
from service.db.engine import Database
from service.db.models import Plan, PlanVersion, TargetNode
from service.domain import tree
from service.domain.money import currency_digits, parse_amount
from service.domain.tree import InvalidInputError, MemberFacts, NodeFacts, VersionState
from service.plans.access import require_planner


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
) -> PlanCreated:
    """A plan, its version 1 as a draft, and the root node holding the whole target."""
    require_planner(principal, "planCreate")
    clean = tree.clean_name(name, "name")
    digits = currency_digits(currency, field="currency")
    tree.check_fiscal_year(fiscal_year)
    amount = parse_amount(target, digits, field="target")
    async with db.session() as session, session.begin():
        plan = await repo.add(
            session,
            Plan(
                name=clean,
                measure=tree.Measure.AMOUNT.value,
                currency=currency.upper(),
                minor_digits=digits,
                fiscal_year=fiscal_year,
                created_by=principal.subject,
            ),
        )
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
            path=f"{key}.",
            depth=0,
            sort_order=0,
            coordinates=[],
            target=amount,
            locked=False,
            kpis={},
        )
        await repo.add_nodes(session, [root])
        await session.refresh(version)
        return PlanCreated(plan=plan, version=version, root=root)


@dataclass(frozen=True, slots=True)
class NodeSplit:
    node: TargetNode
    children: list[TargetNode]
    version: PlanVersion


async def split_node(
    db: Database,
    principal: Principal,
    *,
    version_id: int,
    node_key: int,
    dimension_id: int,
    member_ids: Sequence[int],
    revision: int,
) -> NodeSplit:
    """Split a leaf equally along one dimension, one child per member, exact to the cent."""
    from service.domain.allocation import (
        AllocationMethod,
        AllocationRequest,
        ChildSpec,
        allocate,
    )

    require_planner(principal, "nodeSplit")
    async with db.session() as session, session.begin():
        version = await repo.version_for_update(session, version_id)
        node = await repo.node(session, version_id, node_key) if version else None
        if version is None or node is None:
            raise InvalidInputError("NOT_FOUND", "nodeId is not a known node", "nodeId")
        tree.check_draft(VersionState(version.state), f"version {version.number}")
        check_revision(version, revision)
        (dimension,) = await repo.dimensions_by_ids(session, [dimension_id])
        if dimension is None:
            raise InvalidInputError(
                "NOT_FOUND", "dimensionId is not a known dimension", "dimensionId"
            )
        found = [m for m in await repo.members_by_ids(session, list(set(member_ids))) if m]
        members = tree.check_split_members(
            NodeFacts(
                key=node.key,
                target=node.target,
                split_dimension_id=node.split_dimension_id,
                coordinates={d: m for d, m in node.coordinates},
            ),
            dimension.id,
            dimension.name,
            [
                MemberFacts(
                    id=m.id,
                    dimension_id=m.dimension_id,
                    code=m.code,
                    parent_id=m.parent_id,
                    depth=m.depth,
                    retired=m.retired_at is not None,
                )
                for m in found
            ],
            list(member_ids),
        )
        request = AllocationRequest(
            parent_amount=node.target,
            children=tuple(ChildSpec(key=m.code) for m in members),
            method=AllocationMethod.EQUAL,
        )
        result = allocate(request)
        keys = await repo.new_node_keys(session, len(members))
        children = [
            TargetNode(
                version_id=version_id,
                key=key,
                plan_id=node.plan_id,
                parent_key=node.key,
                path=f"{node.path}{key}.",
                depth=node.depth + 1,
                sort_order=index,
                dimension_id=dimension.id,
                member_id=member.id,
                coordinates=[*node.coordinates, [dimension.id, member.id]],
                target=amount,
                explanation=explanation.to_dict(),
                locked=False,
                kpis={},
            )
            for index, (key, member, amount, explanation) in enumerate(
                zip(keys, members, result.amounts, result.explanations, strict=True)
            )
        ]
        await repo.add_nodes(session, children)
        await repo.set_split(session, node, dimension.id, request.to_dict())
        await repo.bump_revision(session, version)
        await session.refresh(node)
        await session.refresh(version)
        return NodeSplit(node=node, children=children, version=version)


def check_revision(version: PlanVersion, revision: int) -> None:
    if version.revision != revision:
        raise InvalidInputError(
            "CONFLICT",
            f"the version changed since you read it (you sent revision {revision}, it is now "
            f"{version.revision}); reload and apply your change again",
            "revision",
            current_revision=version.revision,
        )
