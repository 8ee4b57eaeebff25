"""The GraphQL schema: queries, mutations, limits and error handling."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, cast

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry import relay
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, Info

from service.api import ids
from service.api.change import change
from service.api.context import Context
from service.api.dimensions import DimensionMutations
from service.api.errors import RequestIdMaskErrors, UserError, log_errors, user_error
from service.api.nodes import NodeMutations
from service.api.owners import Owner, OwnerMutations, me
from service.api.pagination import decode_int_cursor, encode_cursor, page_info, page_size
from service.api.split_inputs import SplitChildInput, SplitOptionsInput, child_values
from service.api.types import (
    SCALARS,
    Dimension,
    Member,
    Plan,
    PlanVersion,
    TargetNode,
)
from service.api.versions import VersionDiff, VersionMutations, version_diff
from service.db import repositories as repo
from service.domain import tree
from service.domain.allocation import AllocationMethod
from service.domain.calendar import CalendarSpec, PeriodPattern, YearEnd
from service.domain.errors import DomainError
from service.plans import usecases
from service.plans.splits import SplitOptions, SplitRequest
from service.settings import Settings

NODE_TYPES: dict[str, type[relay.Node]] = {
    "Plan": Plan,
    "PlanVersion": PlanVersion,
    "TargetNode": TargetNode,
    "Dimension": Dimension,
    "Member": Member,
    "Owner": Owner,
}


# --- connections --------------------------------------------------------------------


@strawberry.type(description="A page of plans, oldest first.")
class PlanConnection(relay.Connection[Plan]):
    total_count: int = strawberry.field(description="Number of plans in all.")


@strawberry.type(description="A page of dimensions, oldest first.")
class DimensionConnection(relay.Connection[Dimension]):
    total_count: int | None = strawberry.field(
        description="Not computed for dimensions yet.", default=None
    )


# --- queries --------------------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.field(description="Any object by its global id; null when there is none.")
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> relay.Node | None:
        from strawberry.relay import GlobalID, GlobalIDValueError

        from service.api.errors import PublicError

        try:
            gid = GlobalID.from_id(id)
        except (GlobalIDValueError, ValueError):
            raise PublicError(f"{id!r} is not a valid id") from None
        cls = NODE_TYPES.get(gid.type_name)
        if cls is None:
            return None
        parts = gid.node_id.split(":")
        if not all(p.isdigit() and len(p) <= 18 for p in parts):
            return None
        if cls is TargetNode and len(parts) != 2:
            return None
        if cls is not TargetNode and len(parts) != 1:
            return None
        resolved = cast(
            "Awaitable[list[relay.Node | None]]",
            cls.resolve_nodes(info=info, node_ids=[gid.node_id]),
        )
        (found,) = await resolved
        return found

    @strawberry.field(description="Plans, oldest first (Relay connection).")
    async def plans(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> PlanConnection:
        limit = page_size(first)
        after_id = decode_int_cursor(after, "plan")
        async with info.context.db.session() as session:
            rows = await repo.plans_page(session, after_id, limit + 1)
            total = await repo.plans_count(session)
        page = rows[:limit]
        for row in page:
            info.context.loaders.plan_by_id.prime(row.id, row)
        edges = [relay.Edge(node=Plan(row=r), cursor=encode_cursor("plan", r.id)) for r in page]
        return PlanConnection(
            edges=edges,
            page_info=page_info([e.cursor for e in edges], len(rows) > limit, after_id),
            total_count=total,
        )

    @strawberry.field(description="One plan by id; null when unknown.")
    async def plan(self, info: Info[Context, None], id: strawberry.ID) -> Plan | None:
        local = _local_id(id, "Plan")
        if local is None:
            return None
        row = await info.context.loaders.plan_by_id.load(local)
        return Plan(row=row) if row else None

    @strawberry.field(description="One plan version by id; null when unknown.")
    async def plan_version(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> PlanVersion | None:
        local = _local_id(id, "PlanVersion")
        if local is None:
            return None
        row = await info.context.loaders.version_by_id.load(local)
        return PlanVersion(row=row) if row else None

    @strawberry.field(
        description="Nodes added, removed and changed between two versions of one plan, "
        "matched by their stable keys, with old and new targets."
    )
    async def version_diff(
        self, info: Info[Context, None], base: strawberry.ID, other: strawberry.ID
    ) -> VersionDiff:
        return await version_diff(info, base, other)

    @strawberry.field(
        description="The owner whose subject is this token's `sub`: what I own (quota) and "
        "my teams; null when no owner has this subject."
    )
    async def me(self, info: Info[Context, None]) -> Owner | None:
        return await me(info)

    @strawberry.field(description="Dimensions, oldest first (Relay connection).")
    async def dimensions(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> DimensionConnection:
        limit = page_size(first)
        after_id = decode_int_cursor(after, "dimension")
        async with info.context.db.session() as session:
            rows = await repo.dimensions_page(session, after_id, limit + 1)
        page = rows[:limit]
        edges = [
            relay.Edge(node=Dimension(row=r), cursor=encode_cursor("dimension", r.id)) for r in page
        ]
        return DimensionConnection(
            edges=edges,
            page_info=page_info([e.cursor for e in edges], len(rows) > limit, after_id),
        )

    @strawberry.field(description="One dimension by id; null when unknown.")
    async def dimension(self, info: Info[Context, None], id: strawberry.ID) -> Dimension | None:
        local = _local_id(id, "Dimension")
        if local is None:
            return None
        row = await info.context.loaders.dimension_by_id.load(local)
        return Dimension(row=row) if row else None


def _local_id(value: str, type_name: str) -> int | None:
    """The local id of a well-formed global id of ``type_name``; a public error otherwise."""
    from service.api.errors import PublicError

    try:
        return ids.decode(value, type_name, "id")
    except DomainError as exc:
        raise PublicError(exc.message, code="INVALID_ID") from None


# --- mutations ------------------------------------------------------------------------


@strawberry.input(
    description="How to generate a plan's calendar: year → quarter → month (or retail period) "
    "→ week, each member with a half-open [startsOn, endsOn) range. FY2027 is the fiscal year "
    "whose last nominal month falls in 2027 (startMonth 4: 2026-04-01 to 2027-04-01). Retail "
    "years are whole weeks ending on the day before `weekStart`, nearest to (or last before) "
    "the end of the month before `startMonth`; a 53rd week goes into period 12. Gregorian "
    "weeks are cut at month boundaries into partial weeks (W05a, W05b) so they nest in months."
)
class CalendarInput:
    start_month: int = strawberry.field(default=1, description="First month, 1 to 12.")
    pattern: PeriodPattern = strawberry.field(
        default=PeriodPattern.GREGORIAN,
        description="GREGORIAN months or P445, P454, P544 retail periods.",
    )
    weeks: bool = strawberry.field(default=False, description="Also make a week level.")
    week_start: int = strawberry.field(
        default=0, description="First day of a week: 0 Monday ... 6 Sunday."
    )
    year_end: YearEnd = strawberry.field(
        default=YearEnd.NEAREST,
        description="Retail only: the year ends on the week's last day NEAREST to, or LAST "
        "before, the end of the month before startMonth.",
    )


@strawberry.input(description="A new plan: its version 1 is a draft whose root holds `target`.")
class PlanCreateInput:
    name: str = strawberry.field(description="Display name, 1 to 200 characters.")
    currency: str = strawberry.field(description="ISO 4217 code, e.g. EUR, JPY, KWD.")
    fiscal_year: int = strawberry.field(description="The fiscal year, 1900 to 2999.")
    target: str = strawberry.field(
        description="The whole target as a decimal string in the currency, e.g. "
        '"120000000.00"; at most the currency\'s decimals, zero or more.'
    )
    calendar: CalendarInput | None = strawberry.field(
        default=None,
        description="The fiscal calendar the plan's time dimension is generated from; "
        "Gregorian months from January when left out.",
    )
    reason: str | None = strawberry.field(
        default=None, description="Why, for the audit trail (up to 2000 characters)."
    )


@strawberry.type(description="Result of planCreate.")
class PlanCreatePayload:
    plan: Plan | None = strawberry.field(description="The new plan.")
    version: PlanVersion | None = strawberry.field(description="Its version 1, a draft.")
    root: TargetNode | None = strawberry.field(description="The root node.")
    user_errors: list[UserError] = strawberry.field(description="Empty on success.")


@strawberry.input(
    description="Split a leaf of a draft along one dimension, one child per member. "
    f"At most {tree.MAX_SPLIT_MEMBERS} members."
)
class NodeSplitInput:
    node_id: strawberry.ID = strawberry.field(description="The node to split (a leaf).")
    revision: int = strawberry.field(
        description="The version's revision you last read; a stale one is a CONFLICT."
    )
    dimension_id: strawberry.ID = strawberry.field(description="The dimension to split along.")
    member_ids: list[strawberry.ID] = strawberry.field(
        description="The members, one child each, in this order; all at one level of the "
        "hierarchy and inside the member the node already holds on this dimension (for "
        "the plan's time dimension, inside the fiscal year)."
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


@strawberry.type(description="Result of nodeSplit.")
class NodeSplitPayload:
    node: TargetNode | None = strawberry.field(description="The split node.")
    children: list[TargetNode] | None = strawberry.field(description="Its new children.")
    version: PlanVersion | None = strawberry.field(description="The version, new revision.")
    user_errors: list[UserError] = strawberry.field(description="Empty on success.")


@strawberry.input(
    description="One axis of a two-way split: a dimension, its members and "
    "how its margin (the axis's share of the node) is computed."
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
    seed: list[list[str]] | None = strawberry.field(
        default=None,
        description="Rows x columns of history (decimal strings), e.g. last year's sales per "
        "region and product; all equal when left out. An empty cell (0) gets a small prior; "
        "use structuralZeros for cells that must stay 0.",
    )
    structural_zeros: list[MatrixCellInput] | None = strawberry.field(
        default=None, description="Cells that must be 0 (a product not sold in a region)."
    )
    reason: str | None = strawberry.field(
        default=None, description="Why, for the audit trail (up to 2000 characters)."
    )


@strawberry.type(description="Result of nodeSplitMatrix.")
class NodeSplitMatrixPayload:
    node: TargetNode | None = strawberry.field(description="The split node.")
    rows: list[TargetNode] | None = strawberry.field(description="Its children (row members).")
    cells: list[TargetNode] | None = strawberry.field(description="The grandchildren, row by row.")
    iterations: int | None = strawberry.field(description="IPF iterations used.")
    max_residual: float | None = strawberry.field(
        description="Largest margin residual of the fit before rounding (in minor units)."
    )
    version: PlanVersion | None = strawberry.field(description="The version, new revision.")
    user_errors: list[UserError] = strawberry.field(description="Empty on success.")


def _axis_input(axis: MatrixAxisInput, prefix: str) -> usecases.MatrixAxis:
    return usecases.MatrixAxis(
        dimension_id=ids.decode(axis.dimension_id, "Dimension", f"{prefix}.dimensionId"),
        member_ids=[
            ids.decode(m, "Member", f"{prefix}.memberIds.{i}")
            for i, m in enumerate(axis.member_ids)
        ],
        split=SplitRequest(
            method=axis.method,
            children=[
                child_values(
                    c, ids.decode(c.member_id, "Member", f"{prefix}.children.{i}.memberId")
                )
                for i, c in enumerate(axis.children or [])
            ],
            options=axis.options.to_options() if axis.options else SplitOptions(),
        ),
    )


@strawberry.type
class Mutation(DimensionMutations, VersionMutations, NodeMutations, OwnerMutations):
    @strawberry.mutation(description="Create a plan with its version 1 (draft) and root node.")
    async def plan_create(
        self, info: Info[Context, None], input: PlanCreateInput
    ) -> PlanCreatePayload:
        try:
            with change(input.reason):
                created = await usecases.create_plan(
                    info.context.db,
                    info.context.caller,
                    name=input.name,
                    currency=input.currency,
                    fiscal_year=input.fiscal_year,
                    target=input.target,
                    calendar=_calendar(input),
                )
        except DomainError as exc:
            return PlanCreatePayload(
                plan=None, version=None, root=None, user_errors=[user_error(exc)]
            )
        return PlanCreatePayload(
            plan=Plan(row=created.plan),
            version=PlanVersion(row=created.version),
            root=TargetNode(row=created.root),
            user_errors=[],
        )

    @strawberry.mutation(
        description="Split a leaf along two dimensions at once (region x product), both "
        "margins exact."
    )
    async def node_split_matrix(
        self, info: Info[Context, None], input: NodeSplitMatrixInput
    ) -> NodeSplitMatrixPayload:
        try:
            version_id, key = ids.decode_node(input.node_id, "nodeId")
            with change(input.reason):
                done = await usecases.split_node_matrix(
                    info.context.db,
                    info.context.caller,
                    version_id=version_id,
                    node_key=key,
                    revision=input.revision,
                    rows=_axis_input(input.rows, "rows"),
                    columns=_axis_input(input.columns, "columns"),
                    seed=input.seed,
                    structural_zeros=[
                        (
                            ids.decode(z.row_member_id, "Member", f"structuralZeros.{i}"),
                            ids.decode(z.column_member_id, "Member", f"structuralZeros.{i}"),
                        )
                        for i, z in enumerate(input.structural_zeros or [])
                    ],
                )
        except DomainError as exc:
            return NodeSplitMatrixPayload(
                node=None,
                rows=None,
                cells=None,
                iterations=None,
                max_residual=None,
                version=None,
                user_errors=[user_error(exc)],
            )
        return NodeSplitMatrixPayload(
            node=TargetNode(row=done.node),
            rows=[TargetNode(row=r) for r in done.rows],
            cells=[TargetNode(row=c) for c in done.cells],
            iterations=done.iterations,
            max_residual=done.max_residual,
            version=PlanVersion(row=done.version),
            user_errors=[],
        )

    @strawberry.mutation(
        description="Split a leaf along a dimension by any allocation method; the children add "
        "up exactly."
    )
    async def node_split(
        self, info: Info[Context, None], input: NodeSplitInput
    ) -> NodeSplitPayload:
        try:
            version_id, key = ids.decode_node(input.node_id, "nodeId")
            with change(input.reason):
                done = await usecases.split_node(
                    info.context.db,
                    info.context.caller,
                    version_id=version_id,
                    node_key=key,
                    dimension_id=ids.decode(input.dimension_id, "Dimension", "dimensionId"),
                    member_ids=[
                        ids.decode(m, "Member", f"memberIds.{i}")
                        for i, m in enumerate(input.member_ids)
                    ],
                    revision=input.revision,
                    split=SplitRequest(
                        method=input.method,
                        children=[
                            child_values(
                                c, ids.decode(c.member_id, "Member", f"children.{i}.memberId")
                            )
                            for i, c in enumerate(input.children or [])
                        ],
                        options=input.options.to_options() if input.options else SplitOptions(),
                    ),
                )
        except DomainError as exc:
            return NodeSplitPayload(
                node=None, children=None, version=None, user_errors=[user_error(exc)]
            )
        return NodeSplitPayload(
            node=TargetNode(row=done.node),
            children=[TargetNode(row=c) for c in done.children],
            version=PlanVersion(row=done.version),
            user_errors=[],
        )


def _calendar(input: PlanCreateInput) -> CalendarSpec | None:
    if input.calendar is None:
        return None
    return CalendarSpec(
        fiscal_year=input.fiscal_year,
        start_month=input.calendar.start_month,
        pattern=input.calendar.pattern,
        weeks=input.calendar.weeks,
        week_start=input.calendar.week_start,
        year_end=input.calendar.year_end,
    )


# --- schema ---------------------------------------------------------------------------


class QuotatreeSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors)


def build_schema(settings: Settings) -> strawberry.Schema:
    """The schema with every limit on.

    The depth and alias rules are built once, here: the validation cache keys on
    the rule classes, so a fresh class per request (what ``QueryDepthLimiter()``
    does) would never hit it. With fixed classes the verdict for a document is
    computed once and cached with the rest of its validation.
    """
    rules = [
        depth_rule(settings.max_query_depth, None, None),
        alias_rule(settings.max_aliases),
    ]
    extensions: list[Any] = [
        lambda: AddValidationRules(cast("list[type[ASTValidationRule]]", rules)),
        lambda: MaxTokensLimiter(settings.max_tokens),
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
        RequestIdMaskErrors,
    ]
    if settings.production:
        from strawberry.extensions import DisableIntrospection

        extensions.append(DisableIntrospection)
    return QuotatreeSchema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        types=[Plan, PlanVersion, TargetNode, Dimension, Member],
        config=StrawberryConfig(disable_field_suggestions=settings.production, scalar_map=SCALARS),
    )
