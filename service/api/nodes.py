"""Target nodes: the node type and its slice, bulk subtree tables, and node edits."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Self, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from service.api import attainment as attainment_api
from service.api import diagnostics as diagnostics_api
from service.api import ids
from service.api.attainment import AsOf, Attainment, KpiActuals
from service.api.audit import AuditEntryConnection, audit_trail
from service.api.context import Context
from service.api.dimensions import Dimension, Member
from service.api.errors import UserError
from service.api.loaders import cached
from service.api.mutation import INPUT, Payload, errors_field, mutate
from service.api.pagination import After, Before, Connection, First, Last
from service.api.prefetch import (
    MaybeAwaitable,
    money,
    money_later,
    optional_money,
    selected_here,
)
from service.api.reviews import ReviewConnection, reviews_connection
from service.api.scalars import Amount, BigIntID, describe_enum
from service.api.wrap import wrap, wrap_optional, wraps
from service.db.models import TargetNode as NodeRow
from service.domain.allocation import AbsorbRule, TargetMode
from service.domain.allocation.display import display_explanation, display_split_spec
from service.domain.money import amount_formatter
from service.domain.paths import path_ids
from service.domain.tree import MAX_SPLIT_MEMBERS, InvalidInputError, share
from service.plans import nodes as usecases
from service.plans.audit import AuditScope
from service.plans.nodes import MAX_BULK_NODES

if TYPE_CHECKING:
    from service.api.owners import Owner
    from service.api.versions import PlanVersion

describe_enum(
    TargetMode,
    "Who absorbs a node's new target.",
    {
        "REBALANCE_SIBLINGS": "The parent keeps its total; the unlocked siblings absorb the "
        "difference within their bounds.",
        "ROLL_UP": "The parent and every ancestor move by the same difference.",
    },
)
describe_enum(
    AbsorbRule,
    "How siblings absorb a change.",
    {
        "PROPORTIONAL": "In proportion to their current targets.",
        "ORIGINAL_METHOD": "By re-running the method the parent was split with.",
    },
)


@strawberry.type(
    description="KPI targets of a node (null where not set), and the actuals beside them "
    "(`actual(asOf:)`)."
)
class NodeKpis:
    version_id: strawberry.Private[int]
    key: strawberry.Private[int]
    new_customers: int | None = strawberry.field(description="New customers to win.")
    win_rate: Decimal | None = strawberry.field(description="Win rate, a fraction from 0 to 1.")
    repeat_purchase_rate: Decimal | None = strawberry.field(
        description="Repeat-purchase rate, a fraction from 0 to 1."
    )
    market_share: Decimal | None = strawberry.field(
        description="Market share, a fraction from 0 to 1."
    )
    average_order_value: Amount | None = strawberry.field(
        description="Average order value in the plan's currency or unit."
    )

    @strawberry.field(
        description="The actual KPIs of the node's slice over its period up to asOf, to read "
        "against the targets above."
    )
    async def actual(self, info: Info[Context, None], as_of: AsOf = None) -> KpiActuals:
        return await attainment_api.node_kpis(info, self.version_id, self.key, as_of)


@strawberry.input(description="One coordinate of a slice: a dimension and one of its members.")
class SliceInput:
    dimension_id: strawberry.ID = strawberry.field(description="The dimension.")
    member_id: strawberry.ID = strawberry.field(description="The member.")


def slice_pairs(coordinates: Sequence[SliceInput] | None) -> list[tuple[int, int]]:
    return [
        (
            ids.decode(c.dimension_id, "Dimension", f"slice.{i}.dimensionId"),
            ids.decode(c.member_id, "Member", f"slice.{i}.memberId"),
        )
        for i, c in enumerate(coordinates or [])
    ]


@strawberry.type(
    description="A subtree as columns: `columns` is a JSON object of equal-length arrays, one "
    "entry per node in tree order (parents before children): id (global TargetNode id), "
    "key (the node's stable key, as TargetNode.key: the same node in every version copied "
    "from this one), parentId (null for the subtree's root), depth (0 = the plan's root), "
    "target (exact decimal string), locked, dimensionId (global id of the node's own coordinate's "
    "dimension; null at the root), memberCode, memberName. Columnar JSON keeps 10,000 nodes "
    "one fast field instead of 80,000 typed ones."
)
class NodeTable:
    count: int = strawberry.field(description="Number of nodes (rows).")
    truncated: bool = strawberry.field(
        description=f"True when the subtree has more than {MAX_BULK_NODES} nodes."
    )
    columns: JSON = strawberry.field(description="The columns, see the type's description.")

    @classmethod
    def of(cls, subtree: usecases.Subtree, digits: int) -> NodeTable:
        # Columns transposed by zip, ids and amounts by prebuilt functions (no call per
        # cell through the general ones): the bulk read spends its time here.
        rows = subtree.rows
        node_key, parents, depth, targets, locked, dims, code, name = (
            (list(column) for column in zip(*rows, strict=True)) if rows else ([] for _ in range(8))
        )
        node_id = ids.encoder("TargetNode", subtree.version_id)
        node_ids = [node_id(k) for k in node_key]
        keys = [str(k) for k in node_key]
        known = dict(zip(node_key, node_ids, strict=True))
        parent_ids = [known.get(p) for p in parents]
        if rows:
            parent_ids[0] = None  # the subtree's root (its parent is outside)
        dimension_ids = {d: ids.encode("Dimension", d) for d in set(dims) if d is not None}
        dimension = [dimension_ids.get(d) for d in dims]
        amount = amount_formatter(digits)
        target = [amount(t) for t in targets]
        return cls(
            count=len(rows),
            truncated=subtree.truncated,
            columns=cast(
                "JSON",
                {
                    "id": node_ids,
                    "key": keys,
                    "parentId": parent_ids,
                    "depth": depth,
                    "target": target,
                    "locked": locked,
                    "dimensionId": dimension,
                    "memberCode": code,
                    "memberName": name,
                },
            ),
        )


@strawberry.type(description="One coordinate of a node's slice: a dimension and its member.")
class SliceCoordinate:
    dimension_row: strawberry.Private[Any]
    member_row: strawberry.Private[Any]

    @strawberry.field(description="The dimension.")
    def dimension(self) -> Dimension:
        return Dimension(row=self.dimension_row)

    @strawberry.field(description="The member on that dimension.")
    def member(self) -> Member:
        return Member(row=self.member_row)


def _coordinates(
    info: Info[Context, None], pairs: Sequence[Sequence[int]]
) -> MaybeAwaitable[list[SliceCoordinate]]:
    loaders = info.context.loaders
    out: list[SliceCoordinate] = []
    for d, m in pairs:
        dimension = cached(loaders.dimension_by_id, d)
        member = cached(loaders.member_by_id, m)
        if dimension is None or member is None:
            return _coordinates_later(info, pairs)
        out.append(SliceCoordinate(dimension_row=dimension, member_row=member))
    return out


async def _coordinates_later(
    info: Info[Context, None], pairs: Sequence[Sequence[int]]
) -> list[SliceCoordinate]:
    loaders = info.context.loaders
    members = await loaders.member_by_id.load_many([m for _, m in pairs])  # their dimensions too
    dimensions = await loaders.dimension_by_id.load_many([d for d, _ in pairs])
    out: list[SliceCoordinate] = []
    for dimension, member in zip(dimensions, members, strict=True):
        if dimension is None or member is None:  # foreign keys forbid it
            raise RuntimeError("a node's slice names a dimension or member that is gone")
        out.append(SliceCoordinate(dimension_row=dimension, member_row=member))
    return out


async def _first(coordinates: Awaitable[list[SliceCoordinate]]) -> SliceCoordinate:
    return (await coordinates)[0]


async def _digits(info: Info[Context, None], plan_id: int) -> int:
    plan = await info.context.loaders.plan_by_id.load(plan_id)
    assert plan is not None
    return plan.minor_digits


@wraps(NodeRow)
@strawberry.type(
    description="One slice of a version's target. Its children add up exactly to its target "
    "(plus the quota buffer its split may carry)."
)
class TargetNode(relay.Node):
    row: strawberry.Private[NodeRow]

    @classmethod
    def resolve_id(cls, root: Self, *, info: Info[Context, None]) -> str:
        return f"{root.row.version_id}:{root.row.key}"

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        keys: list[tuple[int, int]] = []
        for raw in node_ids:
            version, _, key = raw.partition(":")
            keys.append((int(version), int(key)))
        loaders = info.context.loaders
        here = selected_here(info)
        if "children" in here:  # the nodes, their children and what those show: one read
            below = selected_here(info, "children")
            slices = bool({"slice", "coordinate"} & (here | below))
            rows = await loaders.node_families(keys, slices)
        else:
            rows = await loaders.node_by_id.load_many(keys)
        return [cls(row=r) if r else None for r in rows]

    @strawberry.field(
        description="Stable key: the same node keeps it in every version copied from this one."
    )
    def key(self) -> BigIntID:
        return BigIntID(str(self.row.key))

    @strawberry.field(description="0 at the root, 1 for its children, and so on.")
    def depth(self) -> int:
        return self.row.depth

    @strawberry.field(
        description="The target, exact, in the plan's currency or unit.", graphql_type=Amount
    )
    def target(self, info: Info[Context, None]) -> MaybeAwaitable[Amount]:
        return money(info, self.row.plan_id, self.row.target)

    @strawberry.field(description="The node's owner (a person or a team); null when none.")
    async def owner(
        self, info: Info[Context, None]
    ) -> Annotated[Owner, strawberry.lazy("service.api.owners")] | None:
        if self.row.owner_id is None:
            return None
        owner = await info.context.loaders.owner_by_id.load(self.row.owner_id)
        return cast("Owner | None", wrap_optional(owner))

    @strawberry.field(
        description="Who answers for this node: its own owner, else the nearest ancestor's "
        "(an owner holds a node's whole subtree); null when no node on its path has one."
    )
    async def accountable_owner(
        self, info: Info[Context, None]
    ) -> Annotated[Owner, strawberry.lazy("service.api.owners")] | None:
        owner_id = self.row.owner_id
        if owner_id is None:
            keys = path_ids(self.row.path)[:-1]
            rows = await info.context.loaders.node_by_id.load_many(
                [(self.row.version_id, k) for k in keys]
            )
            owner_id = next((r.owner_id for r in reversed(rows) if r and r.owner_id), None)
        if owner_id is None:
            return None
        owner = await info.context.loaders.owner_by_id.load(owner_id)
        return cast("Owner | None", wrap_optional(owner))

    @strawberry.field(description="Locked targets are kept when siblings are rebalanced.")
    def locked(self) -> bool:
        return self.row.locked

    @strawberry.field(
        description="Lowest target rebalancing may give this node.", graphql_type=Amount | None
    )
    def floor(self, info: Info[Context, None]) -> MaybeAwaitable[Amount | None]:
        return optional_money(info, self.row.plan_id, self.row.floor)

    @strawberry.field(
        description="Highest target rebalancing may give this node.", graphql_type=Amount | None
    )
    def cap(self, info: Info[Context, None]) -> MaybeAwaitable[Amount | None]:
        return optional_money(info, self.row.plan_id, self.row.cap)

    @strawberry.field(description="How the target is to be reached (execution strategy).")
    def strategy(self) -> str | None:
        return self.row.strategy

    @strawberry.field(
        description="Diagnostic findings on this node and, unless `subtree` is false, on every "
        "node below it (tree order). See the README's 'Diagnostics'."
    )
    async def diagnostics(
        self,
        info: Info[Context, None],
        as_of: diagnostics_api.AsOf = None,
        subtree: Annotated[
            bool, strawberry.argument(description="Include the findings below the node.")
        ] = True,
        severities: diagnostics_api.Severities = None,
        codes: diagnostics_api.Codes = None,
        first: diagnostics_api.First = None,
    ) -> list[diagnostics_api.Finding]:
        found = await diagnostics_api.version_diagnostics(info, self.row.version_id, as_of)
        keys = found.subtree(self.row.key) if subtree else {self.row.key}
        return diagnostics_api.findings(
            found, keys=keys, severities=severities, codes=codes, first=first
        )

    @strawberry.field(description="KPI targets besides the amount.")
    async def kpis(self, info: Info[Context, None]) -> NodeKpis:
        values = self.row.kpis or {}
        aov = values.get("averageOrderValue")

        def rate(name: str) -> Decimal | None:
            raw = values.get(name)
            return None if raw is None else Decimal(str(raw))

        return NodeKpis(
            version_id=self.row.version_id,
            key=self.row.key,
            new_customers=values.get("newCustomers"),
            win_rate=rate("winRate"),
            repeat_purchase_rate=rate("repeatPurchaseRate"),
            market_share=rate("marketShare"),
            average_order_value=await money_later(info, self.row.plan_id, aov)
            if aov is not None
            else None,
        )

    @strawberry.field(
        description="Target, actual, target-to-date, pace, forecasts, gap and status as of a "
        "date: every sale in the node's slice (members or their descendants) and period."
    )
    async def attainment(self, info: Info[Context, None], as_of: AsOf = None) -> Attainment:
        return await attainment_api.node_attainment(info, self.row.version_id, self.row.key, as_of)

    @strawberry.field(
        description="This node's share of its parent's target, 0 to 1 (null on the root or "
        "under a zero parent). A ratio for display; amounts are exact strings.",
        graphql_type=float | None,
    )
    def share(self, info: Info[Context, None]) -> MaybeAwaitable[float | None]:
        if self.row.parent_key is None:
            return None
        key = (self.row.version_id, self.row.parent_key)
        parent = cached(info.context.loaders.node_by_id, key)
        if parent is not None:
            return share(self.row.target, parent.target)
        return self._share_later(info, key)

    async def _share_later(self, info: Info[Context, None], key: tuple[int, int]) -> float | None:
        parent = await info.context.loaders.node_by_id.load(key)
        return None if parent is None else share(self.row.target, parent.target)

    @strawberry.field(
        description="Recorded changes of this node in this version, oldest first (entries of "
        "the versions it was copied from stay with those versions)."
    )
    async def audit_trail(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> AuditEntryConnection:
        scope = AuditScope(version_id=self.row.version_id, node_key=self.row.key)
        return await audit_trail(info, scope, first, after, last, before)

    @strawberry.field(description="Reviews (复盘) of this node, in the order they were recorded.")
    async def reviews(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> ReviewConnection:
        return await reviews_connection(
            info, self.row.version_id, self.row.key, first, after, last, before
        )

    @strawberry.field(description="The ancestors, root first (at most the tree's depth).")
    async def ancestors(self, info: Info[Context, None]) -> list[TargetNode]:
        keys = path_ids(self.row.path)[:-1]
        rows = await info.context.loaders.node_by_id.load_many(
            [(self.row.version_id, k) for k in keys]
        )
        return await prepare_nodes(info, [r for r in rows if r])

    @strawberry.field(description="The version this node belongs to.")
    async def version(
        self, info: Info[Context, None]
    ) -> Annotated[PlanVersion, strawberry.lazy("service.api.versions")]:
        row = await info.context.loaders.version_by_id.load(self.row.version_id)
        assert row is not None
        return cast("PlanVersion", wrap(row))

    @strawberry.field(description="The parent node; null at the root.")
    async def parent(self, info: Info[Context, None]) -> TargetNode | None:
        if self.row.parent_key is None:
            return None
        row = await info.context.loaders.node_by_id.load((self.row.version_id, self.row.parent_key))
        return TargetNode(row=row) if row else None

    @strawberry.field(
        description=f"The children, in split order (at most {MAX_SPLIT_MEMBERS}, the most one "
        "split makes); empty on a leaf."
    )
    async def children(self, info: Info[Context, None]) -> list[TargetNode]:
        if self.row.split_dimension_id is None:
            return []
        info.context.loaders.node_by_id.prime((self.row.version_id, self.row.key), self.row)
        rows = await info.context.loaders.children_by_node_id.load(
            (self.row.version_id, self.row.key)
        )
        return await prepare_nodes(info, rows)

    @strawberry.field(
        description="The slice, root to node: East › Shanghai › FY2027-Q1 › Direct. "
        "A dimension appears more than once when it was split again further down.",
        graphql_type=list[SliceCoordinate],
    )
    def slice(self, info: Info[Context, None]) -> MaybeAwaitable[list[SliceCoordinate]]:
        return _coordinates(info, self.row.coordinates)

    @strawberry.field(
        description="The coordinate this node adds to its parent's slice; null on the root.",
        graphql_type=SliceCoordinate | None,
    )
    def coordinate(self, info: Info[Context, None]) -> MaybeAwaitable[SliceCoordinate | None]:
        if self.row.dimension_id is None or self.row.member_id is None:
            return None
        found = _coordinates(info, [(self.row.dimension_id, self.row.member_id)])
        if isinstance(found, list):
            return found[0]
        return _first(found)

    @strawberry.field(description="The dimension the children split along; null on a leaf.")
    async def split_dimension(self, info: Info[Context, None]) -> Dimension | None:
        if self.row.split_dimension_id is None:
            return None
        row = await info.context.loaders.dimension_by_id.load(self.row.split_dimension_id)
        return Dimension(row=row) if row else None

    @strawberry.field(
        description="How the split made this node's amount (method, inputs, share, "
        "adjustments and a sentence), amounts as decimal strings in the plan's units; null on "
        "the root."
    )
    async def explanation(self, info: Info[Context, None]) -> JSON | None:
        if self.row.explanation is None:
            return None
        digits = await _digits(info, self.row.plan_id)
        return cast("JSON", display_explanation(self.row.explanation, digits))

    @strawberry.field(
        description="The method and inputs of this node's split, amounts as decimal strings "
        "in the plan's units; null on a leaf."
    )
    async def split_spec(self, info: Info[Context, None]) -> JSON | None:
        if self.row.split_spec is None:
            return None
        digits = await _digits(info, self.row.plan_id)
        return cast("JSON", display_split_spec(self.row.split_spec, digits))


@strawberry.type(description="A page of nodes, in tree order.")
class TargetNodeConnection(Connection[TargetNode]):
    pass


async def prepare_nodes(
    info: Info[Context, None], rows: Sequence[NodeRow], *paths: Sequence[str]
) -> list[TargetNode]:
    """TargetNode objects for ``rows``, with what their cheap fields read loaded first.

    The plan (amounts' digits) always; the rows themselves are primed for their
    children's ``share``; the dimensions and members of their slices when the
    query selects ``slice`` or ``coordinate`` at one of ``paths`` below the current
    field (the current field's own selection when no path is given).
    Those fields then resolve without a task each (see ``service.api.prefetch``).
    """
    loaders = info.context.loaders
    waits: list[Awaitable[Any]] = []
    plans = [p for p in {r.plan_id for r in rows} if cached(loaders.plan_by_id, p) is None]
    if plans:  # usually read with the parent already (see ``node_records_with_plans``)
        waits.append(loaders.plan_by_id.load_many(plans))
    for row in rows:
        loaders.node_by_id.prime((row.version_id, row.key), row)
    wanted: set[str] = set()
    for path in (paths or ((),)) if rows else ():
        wanted |= selected_here(info, *path)
    coordinates: set[tuple[int, int]] = set()
    if "slice" in wanted:
        coordinates = {(d, m) for r in rows for d, m in r.coordinates}
    elif "coordinate" in wanted:
        coordinates = {
            (r.dimension_id, r.member_id)
            for r in rows
            if r.dimension_id is not None and r.member_id is not None
        }
    members = [m for m in {m for _, m in coordinates} if cached(loaders.member_by_id, m) is None]
    if members:  # the members first: their dimensions come with them
        waits.append(loaders.member_by_id.load_many(members))
    for wait in waits:
        await wait
    dimensions = [
        d for d in {d for d, _ in coordinates} if cached(loaders.dimension_by_id, d) is None
    ]
    if dimensions:
        await loaders.dimension_by_id.load_many(dimensions)
    return [TargetNode(row=r) for r in rows]


# --- mutations -----------------------------------------------------------------------


def _node(node_id: str) -> tuple[int, int]:
    return ids.decode_node(node_id, "nodeId")


@strawberry.input(description="A node of a draft and the revision you last read.")
class NodeInput:
    node_id: strawberry.ID = strawberry.field(description="The node.")
    revision: int = strawberry.field(
        description="The version's revision you last read; a stale one is a CONFLICT."
    )
    reason: str | None = strawberry.field(
        default=None, description="Why, for the audit trail (up to 2000 characters)."
    )

    def command(self) -> usecases.NodeCommand:
        version_id, key = _node(self.node_id)
        return usecases.NodeCommand(version_id=version_id, key=key, revision=self.revision)


@strawberry.input(description="A new target for a node; every sum stays exact.")
class NodeSetTargetInput:
    node_id: strawberry.ID = strawberry.field(description="The node.")
    revision: int = strawberry.field(description="The version's revision you last read.")
    target: Decimal = strawberry.field(description="The new target in the plan's currency or unit.")
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

    def command(self) -> usecases.SetTarget:
        version_id, key = _node(self.node_id)
        return usecases.SetTarget(
            version_id=version_id,
            key=key,
            revision=self.revision,
            target=self.target,
            mode=self.mode,
            absorb=self.absorb,
        )


@strawberry.input(
    description="Bounds, execution strategy and KPI targets of a node. Fields left out stay; "
    "null clears."
)
class NodeUpdateInput:
    node_id: strawberry.ID = strawberry.field(description="The node.")
    revision: int = strawberry.field(description="The version's revision you last read.")
    floor: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description="Lowest target rebalancing may give it."
    )
    cap: Decimal | None = strawberry.field(
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

    def command(self) -> usecases.NodeUpdate:
        version_id, key = _node(self.node_id)
        if self.kpis is not None and not isinstance(self.kpis, dict):
            raise InvalidInputError("INVALID_VALUE", "kpis must be an object", "kpis")

        def given(value: Any) -> Any:
            return usecases.UNSET if value is strawberry.UNSET else value

        return usecases.NodeUpdate(
            version_id=version_id,
            key=key,
            revision=self.revision,
            floor=given(self.floor),
            cap=given(self.cap),
            strategy=given(self.strategy),
            kpis=self.kpis,
        )


@strawberry.type(description="Result of a node edit.")
class NodePayload(Payload[usecases.NodeEdit]):
    node: TargetNode | None = strawberry.field(description="The node, as changed.")
    changed: list[TargetNode] | None = strawberry.field(
        description="Every node whose target changed (siblings, subtree, ancestors); empty "
        "when the edit changed no target."
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
    def of(cls, done: usecases.NodeEdit) -> NodePayload:
        node = done.node
        around = node.parent_key if node.parent_key is not None else node.key
        return cls(
            node=TargetNode(row=node),
            changed=[TargetNode(row=n) for n in done.changed],
            version=wrap(done.version),
            user_errors=[],
            touched=(node.version_id, (around,), tuple(n.key for n in done.changed)),
        )


@strawberry.type
class NodeMutations:
    @strawberry.mutation(description="Remove a node's subtree; it becomes a leaf again.")
    async def node_unsplit(
        self, info: Info[Context, None], input: Annotated[NodeInput, INPUT]
    ) -> NodePayload:
        return await mutate(info, usecases.unsplit, input.command, NodePayload, reason=input.reason)

    @strawberry.mutation(
        description="Set a node's target; siblings rebalance (or ancestors roll up) and "
        "subtrees follow, so every parent still adds up exactly. Its current target again "
        "changes nothing."
    )
    async def node_set_target(
        self, info: Info[Context, None], input: Annotated[NodeSetTargetInput, INPUT]
    ) -> NodePayload:
        return await mutate(
            info,
            usecases.set_target,
            input.command,
            NodePayload,
            reason=input.reason,
        )

    @strawberry.mutation(description="Lock a node: rebalancing keeps its target.")
    async def node_lock(
        self, info: Info[Context, None], input: Annotated[NodeInput, INPUT]
    ) -> NodePayload:
        return await mutate(info, usecases.lock, input.command, NodePayload, reason=input.reason)

    @strawberry.mutation(description="Unlock a node.")
    async def node_unlock(
        self, info: Info[Context, None], input: Annotated[NodeInput, INPUT]
    ) -> NodePayload:
        return await mutate(info, usecases.unlock, input.command, NodePayload, reason=input.reason)

    @strawberry.mutation(description="Set a node's bounds, execution strategy and KPI targets.")
    async def node_update(
        self, info: Info[Context, None], input: Annotated[NodeUpdateInput, INPUT]
    ) -> NodePayload:
        return await mutate(info, usecases.update, input.command, NodePayload, reason=input.reason)
