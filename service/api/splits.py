"""Splitting a leaf: nodeSplit (one dimension) and nodeSplitMatrix (two at once).

The inputs convert straight into the domain's split spec (``service.domain.splits``):
member ids decoded, numbers exact ``Decimal``; the domain parses amounts in the
plan's units and builds the engine's request.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from service.api import diagnostics as diagnostics_api
from service.api import ids
from service.api.context import Context
from service.api.errors import UserError
from service.api.mutation import INPUT, Payload, errors_field, mutate
from service.api.nodes import TargetNode
from service.api.scalars import describe_enum
from service.api.wrap import wrap
from service.domain.allocation import AllocationMethod, HistoryMode, NoHistoryRule, ProfileSource
from service.domain.calendar import TimeLevel
from service.domain.history import MAX_HISTORY_YEARS
from service.domain.splits import BlendPart, ChildValues, HistoryFrom, SplitOptions, SplitSpec
from service.domain.tree import MAX_SPLIT_MEMBERS
from service.plans import splits as usecases

if TYPE_CHECKING:
    from service.api.versions import PlanVersion

describe_enum(
    AllocationMethod,
    "How a node's target is shared among the children of a split.",
    {
        "EQUAL": "Equal shares.",
        "WEIGHTS": "In proportion to given weights (or percentages summing to 100).",
        "HISTORY": "From past periods of each child (average of shares or share of the total).",
        "POTENTIAL": "In proportion to a potential (by default the member's marketPotential), "
        "times an optional penetration rate.",
        "BLEND": "A convex mix of other methods, e.g. 0.6 HISTORY + 0.4 POTENTIAL.",
        "SEASONAL": "Time children: a seasonal profile with a sales-cycle lag and ramp.",
        "MANUAL": "Explicit amounts, with an optional fallback method for the rest.",
    },
)
describe_enum(
    HistoryMode,
    "How HISTORY turns past periods into shares (the two top-down methods of Gross and Sohl).",
    {
        "AVERAGE_OF_SHARES": "Each period's shares, averaged over the periods.",
        "SHARE_OF_TOTAL": "Each child's share of the summed history.",
    },
)
describe_enum(
    NoHistoryRule,
    "What a child without history gets under HISTORY.",
    {
        "ERROR": "Refuse the split, naming the children (the default).",
        "ZERO": "Nothing (or its own floor).",
        "FLOOR": "The amount of options.noHistoryFloor.",
        "RESERVED_SHARE": "An equal part of options.reservedShare of the amount.",
    },
)
describe_enum(
    ProfileSource,
    "Where a SEASONAL profile comes from.",
    {
        "HISTORY": "From each period's history (children's history values).",
        "GIVEN": "From the children's weights.",
    },
)


describe_enum(
    TimeLevel,
    "A level of a fiscal calendar.",
    {
        "YEAR": "The fiscal year.",
        "QUARTER": "A quarter.",
        "MONTH": "A month (or retail period).",
        "WEEK": "A week.",
    },
)


@strawberry.input(
    description="Read the children's history from the stored actuals of past fiscal years "
    "instead of giving it inline. Along a dimension: the node's slice plus each child, in the "
    "node's period moved to each year (the whole year when the node has none). Along time: "
    "the node's slice in each child period moved to each year."
)
class HistoryFromInput:
    fiscal_years: list[int] = strawberry.field(
        description=f"Past fiscal years to read, before the plan's (at most "
        f"{MAX_HISTORY_YEARS}); they become the history's periods, oldest first."
    )
    profile_level: TimeLevel | None = strawberry.field(
        default=None,
        description="SEASONAL along time: read this finer level (MONTH for a quarterly "
        "split); each period gets the sum of its finer periods.",
    )

    def value(self) -> HistoryFrom:
        return HistoryFrom(tuple(self.fiscal_years), self.profile_level)


@strawberry.input(description="The inputs of one child of a split, by member.")
class SplitChildInput:
    member_id: strawberry.ID = strawberry.field(description="One of the split's members.")
    weight: Decimal | None = strawberry.field(
        default=None, description="WEIGHTS: weight or percentage; SEASONAL (GIVEN): profile."
    )
    history: list[Decimal | None] | None = strawberry.field(
        default=None,
        description="HISTORY / SEASONAL: one value per past period, oldest first (null = no "
        "value for that period; at most 60).",
    )
    growth: Decimal | None = strawberry.field(
        default=None, description='HISTORY: growth applied to the share, e.g. "0.1" = +10 %.'
    )
    potential: Decimal | None = strawberry.field(
        default=None,
        description="POTENTIAL: the child's potential; defaults to the member's "
        "marketPotential attribute.",
    )
    penetration: Decimal | None = strawberry.field(
        default=None, description="POTENTIAL: target penetration rate of this child."
    )
    amount: Decimal | None = strawberry.field(
        default=None, description="MANUAL: the amount, in the plan's currency or unit."
    )
    locked_amount: Decimal | None = strawberry.field(
        default=None, description="Lock the child at exactly this amount."
    )
    floor: Decimal | None = strawberry.field(default=None, description="Lowest amount allowed.")
    cap: Decimal | None = strawberry.field(default=None, description="Highest amount allowed.")

    def values(self, field: str) -> ChildValues:
        return ChildValues(
            member_id=ids.decode(self.member_id, "Member", f"{field}.memberId"),
            weight=self.weight,
            history=tuple(self.history) if self.history is not None else None,
            growth=self.growth,
            potential=self.potential,
            penetration=self.penetration,
            amount=self.amount,
            locked_amount=self.locked_amount,
            floor=self.floor,
            cap=self.cap,
        )


@strawberry.input(description="One component of a BLEND.")
class BlendComponentInput:
    method: AllocationMethod = strawberry.field(description="EQUAL, WEIGHTS, HISTORY or POTENTIAL.")
    weight: Decimal = strawberry.field(description='Its weight in the mix, e.g. "0.6".')


@strawberry.input(description="Options of a split's method and its constraints.")
class SplitOptionsInput:
    percentages: bool = strawberry.field(
        default=False, description="WEIGHTS: the weights are percentages that must sum to 100."
    )
    history_mode: HistoryMode = strawberry.field(
        default=HistoryMode.AVERAGE_OF_SHARES, description="HISTORY: which top-down method."
    )
    no_history: NoHistoryRule = strawberry.field(
        default=NoHistoryRule.ERROR, description="HISTORY: what a child without history gets."
    )
    no_history_floor: Decimal | None = strawberry.field(
        default=None, description="HISTORY, FLOOR rule: the amount such a child gets."
    )
    reserved_share: Decimal | None = strawberry.field(
        default=None, description="HISTORY, RESERVED_SHARE rule: a fraction from 0 to 1."
    )
    penetration: Decimal | None = strawberry.field(
        default=None, description="POTENTIAL: default penetration rate."
    )
    blend: list[BlendComponentInput] | None = strawberry.field(
        default=None, description="BLEND: the components, e.g. 0.6 HISTORY + 0.4 POTENTIAL."
    )
    profile: ProfileSource = strawberry.field(
        default=ProfileSource.HISTORY, description="SEASONAL: where the profile comes from."
    )
    lag: int = strawberry.field(
        default=0,
        description="SEASONAL: first periods (in time order) the pipeline cannot reach; "
        "their target moves to later periods. 0 to 1000.",
    )
    ramp: int = strawberry.field(
        default=0, description="SEASONAL: periods after the lag that ramp up linearly."
    )
    manual_fallback: AllocationMethod | None = strawberry.field(
        default=None,
        description="MANUAL: spread what the given amounts leave over the children without "
        "one by this method; null means the amounts must add up exactly.",
    )
    step: Decimal | None = strawberry.field(
        default=None,
        description='Round children to multiples of this amount (e.g. "1000"); the sum '
        "stays exact, the leftover goes to the largest child within its cap.",
    )
    over_assignment: Decimal | None = strawberry.field(
        default=None,
        description="Quota buffer in percent: the children add up to the parent plus this.",
    )
    history_from: HistoryFromInput | None = strawberry.field(
        default=None,
        description="HISTORY, BLEND (with HISTORY) and SEASONAL: read the history from the "
        "stored actuals; an error together with inline children.history.",
    )

    def options(self) -> SplitOptions:
        return SplitOptions(
            percentages=self.percentages,
            history_mode=self.history_mode,
            no_history=self.no_history,
            no_history_floor=self.no_history_floor,
            reserved_share=self.reserved_share,
            penetration=self.penetration,
            blend=tuple(BlendPart(c.method, c.weight) for c in self.blend or ()),
            profile=self.profile,
            lag=self.lag,
            ramp=self.ramp,
            manual_fallback=self.manual_fallback,
            step=self.step,
            over_assignment=self.over_assignment,
            history_from=None if self.history_from is None else self.history_from.value(),
        )


def _spec(
    method: AllocationMethod,
    children: list[SplitChildInput] | None,
    options: SplitOptionsInput | None,
    prefix: str = "",
) -> SplitSpec:
    return SplitSpec(
        method=method,
        children=[c.values(f"{prefix}children.{i}") for i, c in enumerate(children or [])],
        options=options.options() if options else SplitOptions(),
    )


def _members(member_ids: list[strawberry.ID], field: str) -> list[int]:
    return [ids.decode(m, "Member", f"{field}.{i}") for i, m in enumerate(member_ids)]


@strawberry.input(
    description="Split a leaf of a draft along one dimension, one child per member. "
    f"At most {MAX_SPLIT_MEMBERS} members."
)
class NodeSplitInput:
    node_id: strawberry.ID = strawberry.field(description="The node to split (a leaf).")
    revision: int = strawberry.field(
        description="The version's revision you last read; a stale one is a CONFLICT."
    )
    dimension_id: strawberry.ID = strawberry.field(description="The dimension to split along.")
    member_ids: list[strawberry.ID] = strawberry.field(
        description="The members, one child each; all at one level of the hierarchy and "
        "inside the member the node already holds on this dimension (for the plan's time "
        "dimension, inside the fiscal year). Children come in this order, time members in "
        "time order."
    )
    method: AllocationMethod = strawberry.field(
        default=AllocationMethod.EQUAL, description="How the node's target is shared."
    )
    children: list[SplitChildInput] | None = strawberry.field(
        default=None, description="Per-member inputs of the method and constraints."
    )
    options: SplitOptionsInput | None = strawberry.field(
        default=None, description="Options of the method, rounding step and quota buffer."
    )
    reason: str | None = strawberry.field(
        default=None, description="Why, for the audit trail (up to 2000 characters)."
    )

    def command(self) -> usecases.Split:
        version_id, key = ids.decode_node(self.node_id, "nodeId")
        return usecases.Split(
            version_id=version_id,
            key=key,
            revision=self.revision,
            dimension_id=ids.decode(self.dimension_id, "Dimension", "dimensionId"),
            member_ids=_members(self.member_ids, "memberIds"),
            spec=_spec(self.method, self.children, self.options),
        )


@strawberry.type(description="Result of nodeSplit.")
class NodeSplitPayload(Payload[usecases.NodeSplit]):
    node: TargetNode | None = strawberry.field(description="The split node.")
    children: list[TargetNode] | None = strawberry.field(description="Its new children.")
    version: Annotated[PlanVersion, strawberry.lazy("service.api.versions")] | None = (
        strawberry.field(description="The version, with its new revision.")
    )
    user_errors: list[UserError] = errors_field()
    touched: strawberry.Private[diagnostics_api.Touched | None] = None

    @strawberry.field(description=diagnostics_api.PAYLOAD_DIAGNOSTICS)
    async def diagnostics(
        self,
        info: Info[Context, None],
        severities: diagnostics_api.Severities = None,
        codes: diagnostics_api.Codes = None,
        first: diagnostics_api.First = None,
    ) -> list[diagnostics_api.Finding] | None:
        return await diagnostics_api.payload_findings(info, self.touched, severities, codes, first)

    @classmethod
    def of(cls, done: usecases.NodeSplit) -> NodeSplitPayload:
        return cls(
            node=TargetNode(row=done.node),
            children=[TargetNode(row=c) for c in done.children],
            version=wrap(done.version),
            user_errors=[],
            touched=(done.node.version_id, (done.node.key,), ()),
        )


@strawberry.input(
    description="One axis of a two-way split: a dimension, its members and how its margin "
    "(the axis's share of the node) is computed."
)
class MatrixAxisInput:
    dimension_id: strawberry.ID = strawberry.field(description="The dimension.")
    member_ids: list[strawberry.ID] = strawberry.field(description="Its members, in order.")
    method: AllocationMethod = strawberry.field(
        default=AllocationMethod.EQUAL,
        description="How the margin is computed; MANUAL with amounts gives explicit targets.",
    )
    children: list[SplitChildInput] | None = strawberry.field(
        default=None, description="Per-member inputs of the method."
    )
    options: SplitOptionsInput | None = strawberry.field(
        default=None, description="Options of the method."
    )

    def axis(self, prefix: str) -> usecases.MatrixAxis:
        return usecases.MatrixAxis(
            dimension_id=ids.decode(self.dimension_id, "Dimension", f"{prefix}.dimensionId"),
            member_ids=_members(self.member_ids, f"{prefix}.memberIds"),
            spec=_spec(self.method, self.children, self.options, f"{prefix}."),
        )


@strawberry.input(description="One cell of a two-way split, by its row and column members.")
class MatrixCellInput:
    row_member_id: strawberry.ID = strawberry.field(description="The row member.")
    column_member_id: strawberry.ID = strawberry.field(description="The column member.")


@strawberry.input(
    description="Split a leaf along two dimensions at once: a child per row member, under each "
    "a grandchild per column member, fitted to both margins by iterative proportional fitting "
    "from a seed table and rounded so that every row and column total is exact."
)
class NodeSplitMatrixInput:
    node_id: strawberry.ID = strawberry.field(description="The node to split (a leaf).")
    revision: int = strawberry.field(description="The version's revision you last read.")
    rows: MatrixAxisInput = strawberry.field(description="The first dimension (children).")
    columns: MatrixAxisInput = strawberry.field(description="The second (grandchildren).")
    seed: list[list[Decimal]] | None = strawberry.field(
        default=None,
        description="Rows x columns of history, e.g. last year's sales per region and "
        "product; all equal when left out. An empty cell (0) gets a small prior; use "
        "structuralZeros for cells that must stay 0.",
    )
    structural_zeros: list[MatrixCellInput] | None = strawberry.field(
        default=None, description="Cells that must be 0 (a product not sold in a region)."
    )
    reason: str | None = strawberry.field(
        default=None, description="Why, for the audit trail (up to 2000 characters)."
    )

    def command(self) -> usecases.MatrixSplitCommand:
        version_id, key = ids.decode_node(self.node_id, "nodeId")
        return usecases.MatrixSplitCommand(
            version_id=version_id,
            key=key,
            revision=self.revision,
            rows=self.rows.axis("rows"),
            columns=self.columns.axis("columns"),
            seed=self.seed,
            structural_zeros=[
                (
                    ids.decode(z.row_member_id, "Member", f"structuralZeros.{i}.rowMemberId"),
                    ids.decode(z.column_member_id, "Member", f"structuralZeros.{i}.columnMemberId"),
                )
                for i, z in enumerate(self.structural_zeros or [])
            ],
        )


@strawberry.type(description="Result of nodeSplitMatrix.")
class NodeSplitMatrixPayload(Payload[usecases.MatrixSplit]):
    node: TargetNode | None = strawberry.field(description="The split node.")
    rows: list[TargetNode] | None = strawberry.field(description="Its children (row members).")
    cells: list[TargetNode] | None = strawberry.field(description="The grandchildren, row by row.")
    iterations: int | None = strawberry.field(description="Iterations the fit took.")
    max_residual: float | None = strawberry.field(
        description="Largest margin residual of the fit before rounding, in the plan's units."
    )
    version: Annotated[PlanVersion, strawberry.lazy("service.api.versions")] | None = (
        strawberry.field(description="The version, with its new revision.")
    )
    user_errors: list[UserError] = errors_field()
    touched: strawberry.Private[diagnostics_api.Touched | None] = None

    @strawberry.field(description=diagnostics_api.PAYLOAD_DIAGNOSTICS)
    async def diagnostics(
        self,
        info: Info[Context, None],
        severities: diagnostics_api.Severities = None,
        codes: diagnostics_api.Codes = None,
        first: diagnostics_api.First = None,
    ) -> list[diagnostics_api.Finding] | None:
        return await diagnostics_api.payload_findings(info, self.touched, severities, codes, first)

    @classmethod
    def of(cls, done: usecases.MatrixSplit) -> NodeSplitMatrixPayload:
        return cls(
            node=TargetNode(row=done.node),
            rows=[TargetNode(row=r) for r in done.rows],
            cells=[TargetNode(row=c) for c in done.cells],
            iterations=done.iterations,
            max_residual=done.max_residual,
            version=wrap(done.version),
            user_errors=[],
            touched=(done.node.version_id, (done.node.key,), ()),
        )


@strawberry.type
class SplitMutations:
    @strawberry.mutation(
        description="Split a leaf along a dimension by any allocation method; the children add "
        "up exactly."
    )
    async def node_split(
        self, info: Info[Context, None], input: Annotated[NodeSplitInput, INPUT]
    ) -> NodeSplitPayload:
        return await mutate(
            info, usecases.split_node, input.command, NodeSplitPayload, reason=input.reason
        )

    @strawberry.mutation(
        description="Split a leaf along two dimensions at once (region x product), both "
        "margins exact."
    )
    async def node_split_matrix(
        self, info: Info[Context, None], input: Annotated[NodeSplitMatrixInput, INPUT]
    ) -> NodeSplitMatrixPayload:
        return await mutate(
            info,
            usecases.split_node_matrix,
            input.command,
            NodeSplitMatrixPayload,
            reason=input.reason,
        )
