"""Plans and their target trees: create a plan, split a node."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.auth import Principal
from service.db import repositories as repo
from service.db.engine import Database
from service.db.models import Dimension, Member, Plan, PlanVersion, TargetNode
from service.domain import tree
from service.domain.allocation import allocate
from service.domain.calendar import CalendarSpec, TimeLevel, TimeMember, generate_calendar
from service.domain.money import currency_digits, parse_amount
from service.domain.tree import InvalidInputError, MemberFacts, NodeFacts, VersionState
from service.plans.access import require_planner
from service.plans.splits import SplitRequest, build_allocation


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
    async with db.session() as session, session.begin():
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
    split: SplitRequest | None = None,
) -> NodeSplit:
    """Split a leaf along one dimension, one child per member, by any method of the
    allocation engine; the children add up exactly to the node (plus any buffer).

    The request (method, inputs, options) is stored on the node, so the split can
    be recomputed and explained; each child stores its own explanation.
    """
    split = split or SplitRequest()
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
        implicit = None
        if dimension.plan_id is not None:
            if dimension.plan_id != node.plan_id:
                raise InvalidInputError(
                    "WRONG_DIMENSION",
                    "dimensionId is another plan's calendar; split along this plan's timeDimension",
                    "dimensionId",
                )
            (year,) = await repo.dimension_roots(session, [(dimension.id, None, 1)])
            implicit = _facts(year[0]) if year else None
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
        (plan,) = await repo.plans_by_ids(session, [node.plan_id])
        assert plan is not None
        label = "the plan"
        if node.member_id is not None:
            (own,) = await repo.members_by_ids(session, [node.member_id])
            label = own.code if own else label
        request = build_allocation(
            node.target,
            label,
            members,
            {m.id: m.attributes for m in found},
            split,
            plan.minor_digits,
        )
        result = allocate(request)
        by_code = {c.key: c for c in request.children}
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
                locked=by_code[member.code].locked_amount is not None,
                floor=by_code[member.code].floor,
                cap=by_code[member.code].cap,
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


def _facts(member: Member) -> MemberFacts:
    return MemberFacts(
        id=member.id,
        dimension_id=member.dimension_id,
        code=member.code,
        parent_id=member.parent_id,
        depth=member.depth,
        retired=member.retired_at is not None,
        ancestor_ids=tuple(int(p) for p in member.path.split(".") if p)[:-1],
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
