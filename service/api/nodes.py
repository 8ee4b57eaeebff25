"""Mutations that edit a draft's tree nodes."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from service.api import ids
from service.api.change import change
from service.api.context import Context
from service.api.errors import UserError, user_error
from service.api.types import PlanVersion, TargetNode
from service.domain.allocation.rebalance import AbsorbRule
from service.domain.errors import DomainError
from service.plans import nodes as usecases
from service.plans.nodes import TargetMode

strawberry.enum(
    TargetMode,
    description="REBALANCE_SIBLINGS: the parent keeps its total and the unlocked siblings "
    "absorb the change. ROLL_UP: the parent and every ancestor move by the same difference.",
)
strawberry.enum(
    AbsorbRule,
    description="How siblings absorb a change: PROPORTIONAL to their current targets, or by "
    "re-running the parent's ORIGINAL_METHOD.",
)


@strawberry.input(description="Identifies a node of a draft and the revision you last read.")
class NodeInput:
    node_id: strawberry.ID = strawberry.field(description="The node.")
    revision: int = strawberry.field(
        description="The version's revision you last read; a stale one is a CONFLICT."
    )
    reason: str | None = strawberry.field(
        default=None, description="Why, for the audit trail (up to 2000 characters)."
    )


@strawberry.input(description="A new target for a node; every sum stays exact.")
class NodeSetTargetInput:
    node_id: strawberry.ID = strawberry.field(description="The node.")
    revision: int = strawberry.field(description="The version's revision you last read.")
    target: str = strawberry.field(description="The new target, a decimal string.")
    mode: TargetMode = strawberry.field(
        default=TargetMode.REBALANCE_SIBLINGS,
        description="Who absorbs the change; in every mode the node's own subtree follows in "
        "proportion (locked nodes keep theirs).",
    )
    absorb: AbsorbRule = strawberry.field(
        default=AbsorbRule.PROPORTIONAL, description="REBALANCE_SIBLINGS: how."
    )
    reason: str | None = strawberry.field(
        default=None, description="Why, for the audit trail (up to 2000 characters)."
    )


@strawberry.input(
    description="Bounds, execution strategy and KPI targets of a node. Fields left out stay; "
    "null clears."
)
class NodeUpdateInput:
    node_id: strawberry.ID = strawberry.field(description="The node.")
    revision: int = strawberry.field(description="The version's revision you last read.")
    floor: str | None = strawberry.field(
        default=strawberry.UNSET, description="Lowest target rebalancing may give it."
    )
    cap: str | None = strawberry.field(
        default=strawberry.UNSET, description="Highest target rebalancing may give it."
    )
    strategy: str | None = strawberry.field(
        default=strawberry.UNSET,
        description='How the target is to be reached, e.g. "tier-1 cities: more visits to '
        'high-end accounts" (up to 4000 characters).',
    )
    kpis: JSON | None = strawberry.field(
        default=None,
        description="KPI targets to set: newCustomers (count), winRate, repeatPurchaseRate, "
        'marketShare (fractions as strings, "0.35"), averageOrderValue (an amount). A key '
        "set to null is cleared.",
    )
    reason: str | None = strawberry.field(
        default=None, description="Why, for the audit trail (up to 2000 characters)."
    )


@strawberry.type(description="Result of a node edit.")
class NodePayload:
    node: TargetNode | None = strawberry.field(description="The node, as changed.")
    changed: list[TargetNode] | None = strawberry.field(
        description="Every node whose target changed (siblings, subtree, ancestors)."
    )
    version: PlanVersion | None = strawberry.field(description="The version, new revision.")
    user_errors: list[UserError] = strawberry.field(description="Empty on success.")


def _payload(done: usecases.NodeEdit) -> NodePayload:
    return NodePayload(
        node=TargetNode(row=done.node),
        changed=[TargetNode(row=n) for n in done.changed],
        version=PlanVersion(row=done.version),
        user_errors=[],
    )


def _failed(exc: DomainError) -> NodePayload:
    return NodePayload(node=None, changed=None, version=None, user_errors=[user_error(exc)])


def _unset(value: Any) -> Any:
    return usecases._UNSET if value is strawberry.UNSET else value


@strawberry.type
class NodeMutations:
    @strawberry.mutation(description="Remove a node's subtree; it becomes a leaf again.")
    async def node_unsplit(self, info: Info[Context, None], input: NodeInput) -> NodePayload:
        try:
            version_id, key = ids.decode_node(input.node_id, "nodeId")
            with change(input.reason):
                done = await usecases.unsplit(
                    info.context.db,
                    info.context.caller,
                    version_id=version_id,
                    key=key,
                    revision=input.revision,
                )
        except DomainError as exc:
            return _failed(exc)
        return _payload(done)

    @strawberry.mutation(
        description="Set a node's target; siblings rebalance (or ancestors roll up) and "
        "subtrees follow, so every parent still adds up exactly."
    )
    async def node_set_target(
        self, info: Info[Context, None], input: NodeSetTargetInput
    ) -> NodePayload:
        try:
            version_id, key = ids.decode_node(input.node_id, "nodeId")
            with change(input.reason):
                done = await usecases.set_target(
                    info.context.db,
                    info.context.caller,
                    version_id=version_id,
                    key=key,
                    revision=input.revision,
                    target=input.target,
                    mode=input.mode,
                    absorb=input.absorb,
                )
        except DomainError as exc:
            return _failed(exc)
        return _payload(done)

    @strawberry.mutation(description="Lock a node: rebalancing keeps its target.")
    async def node_lock(self, info: Info[Context, None], input: NodeInput) -> NodePayload:
        return await _lock(info, input, True)

    @strawberry.mutation(description="Unlock a node.")
    async def node_unlock(self, info: Info[Context, None], input: NodeInput) -> NodePayload:
        return await _lock(info, input, False)

    @strawberry.mutation(description="Set a node's bounds, execution strategy and KPI targets.")
    async def node_update(self, info: Info[Context, None], input: NodeUpdateInput) -> NodePayload:
        try:
            version_id, key = ids.decode_node(input.node_id, "nodeId")
            kpis = input.kpis
            if kpis is not None and not isinstance(kpis, dict):
                from service.domain.tree import InvalidInputError

                raise InvalidInputError("INVALID_VALUE", "kpis must be an object", "kpis")
            with change(input.reason):
                done = await usecases.update_node(
                    info.context.db,
                    info.context.caller,
                    version_id=version_id,
                    key=key,
                    revision=input.revision,
                    floor=_unset(input.floor),
                    cap=_unset(input.cap),
                    strategy=_unset(input.strategy),
                    kpis=kpis,
                )
        except DomainError as exc:
            return _failed(exc)
        return _payload(done)


async def _lock(info: Info[Context, None], input: NodeInput, locked: bool) -> NodePayload:
    try:
        version_id, key = ids.decode_node(input.node_id, "nodeId")
        with change(input.reason):
            done = await usecases.set_lock(
                info.context.db,
                info.context.caller,
                version_id=version_id,
                key=key,
                revision=input.revision,
                locked=locked,
            )
    except DomainError as exc:
        return _failed(exc)
    return _payload(done)
