"""GraphQL object types. Thin: data from rows, relationships through DataLoaders."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, NewType, Self, TypeAlias, TypeVar, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection
from strawberry.types.scalar import ScalarDefinition

from service.api import ids
from service.api.context import Context

if TYPE_CHECKING:
    from service.api.owners import Owner, VersionOwners
from service.api.errors import PublicError
from service.api.ids import encode as encode_id
from service.api.loaders import cached
from service.api.pagination import (
    MAX_PAGE,
    decode_cursor,
    decode_int_cursor,
    encode_cursor,
    page_info,
    page_size,
)
from service.db import models
from service.db import repositories as repo
from service.domain import calendar, members, tree
from service.domain.errors import DomainError
from service.domain.money import format_amount
from service.domain.paths import path_ids

Amount = NewType("Amount", str)
BigIntID = NewType("BigIntID", str)

SCALARS: dict[object, ScalarDefinition] = {
    Amount: strawberry.scalar(
        name="Amount",
        description='An exact decimal amount as a string, e.g. "1250000.00", in the plan\'s '
        "currency (or unit of quantity). Never a float.",
        serialize=str,
        parse_value=str,
    ),
    BigIntID: strawberry.scalar(
        name="BigIntID",
        description="A 64-bit integer as a decimal string (beyond GraphQL Int's 32 bits).",
        serialize=str,
        parse_value=str,
    ),
}

MAX_BULK_NODES = 50_000
"""Most nodes one bulk subtree read returns."""

# The domain's enums, registered as GraphQL enums (strawberry.enum returns the same class).
DimensionKind = tree.DimensionKind
VersionState = tree.VersionState
Measure = tree.Measure
strawberry.enum(DimensionKind, description="Built-in axes, or CUSTOM.")
strawberry.enum(
    VersionState,
    description="DRAFT → SUBMITTED → APPROVED → PUBLISHED → ARCHIVED; only drafts change.",
)
strawberry.enum(Measure, description="What a plan counts: money or units.")
strawberry.enum(
    calendar.PeriodPattern, description="GREGORIAN months or 4-4-5/4-5-4/5-4-4 periods."
)
strawberry.enum(calendar.YearEnd, description="Retail year-end rule: NEAREST or LAST.")


def _with_plan(info: Info[Context, None], plan_id: int) -> Any:
    return info.context.loaders.plan_by_id.load(plan_id)


@strawberry.type(
    description="One recorded change: who, when, where, what it was before and after, and why. "
    "The trail is append-only."
)
class AuditEntry(relay.Node):
    row: strawberry.Private[models.AuditEntry]

    @classmethod
    def resolve_id(cls, root: Self, *, info: Info[Context, None]) -> str:
        return str(root.row.id)

    @strawberry.field(description="Sequence number (increasing).")
    def sequence(self) -> BigIntID:
        return BigIntID(str(self.row.id))

    @strawberry.field(description="When.")
    def at(self) -> datetime:
        return self.row.at

    @strawberry.field(description="Token subject of who changed it.")
    def actor(self) -> str:
        return self.row.actor

    @strawberry.field(description="The mutation, e.g. nodeSetTarget.")
    def action(self) -> str:
        return self.row.action

    @strawberry.field(description="Key of the node changed, when a node was.")
    def node_key(self) -> BigIntID | None:
        return None if self.row.node_key is None else BigIntID(str(self.row.node_key))

    @strawberry.field(
        description="The values before (amounts in minor units: cents for EUR, units for JPY)."
    )
    def before(self) -> JSON | None:
        return cast("JSON | None", self.row.before)

    @strawberry.field(description="The values after (amounts in minor units).")
    def after(self) -> JSON | None:
        return cast("JSON | None", self.row.after)

    @strawberry.field(description="The reason the caller gave.")
    def reason(self) -> str | None:
        return self.row.reason

    @strawberry.field(description="Request id of the change (find it in the logs).")
    def request_id(self) -> str | None:
        return self.row.request_id


@strawberry.type(description="A page of audit entries, oldest first.")
class AuditEntryConnection(relay.Connection[AuditEntry]):
    pass


async def audit_trail(
    info: Info[Context, None],
    first: int | None,
    after: str | None,
    **scope: int | None,
) -> AuditEntryConnection:
    limit = page_size(first)
    after_id = decode_int_cursor(after, "audit")
    async with info.context.db.session() as session:
        rows = await repo.audit_page(session, after_id=after_id, limit=limit + 1, **scope)
    page = rows[:limit]
    edges = [relay.Edge(node=AuditEntry(row=r), cursor=encode_cursor("audit", r.id)) for r in page]
    return AuditEntryConnection(
        edges=edges,
        page_info=page_info([e.cursor for e in edges], len(rows) > limit, after),
    )


@strawberry.type(description='One target programme, e.g. "FY2027 revenue".')
class Plan(relay.Node):
    row: strawberry.Private[models.Plan]

    @classmethod
    def resolve_id(cls, root: Self, *, info: Info[Context, None]) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await info.context.loaders.plan_by_id.load_many([int(i) for i in node_ids])
        return [cls(row=r) if r else None for r in rows]

    @strawberry.field(description="Display name.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="AMOUNT (in `currency`) or QUANTITY.")
    def measure(self) -> Measure:
        return tree.Measure(self.row.measure)

    @strawberry.field(description="ISO 4217 code of the amounts, e.g. EUR; null for quantities.")
    def currency(self) -> str | None:
        return self.row.currency

    @strawberry.field(description="Decimal digits of the amounts (2 for EUR, 0 for JPY).")
    def minor_digits(self) -> int:
        return self.row.minor_digits

    @strawberry.field(description="The fiscal year the plan targets, e.g. 2027.")
    def fiscal_year(self) -> int:
        return self.row.fiscal_year

    @strawberry.field(description="Token subject of the creator.")
    def created_by(self) -> str:
        return self.row.created_by

    @strawberry.field(description="When the plan was created.")
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(
        description="The plan's own time dimension, generated from its calendar: the fiscal "
        "year and its quarters, months or periods (and weeks)."
    )
    async def time_dimension(self, info: Info[Context, None]) -> Dimension | None:
        if self.row.time_dimension_id is None:
            return None
        row = await info.context.loaders.dimension_by_id.load(self.row.time_dimension_id)
        return Dimension(row=row) if row else None

    @strawberry.field(description="The calendar settings the time dimension came from.")
    def calendar(self) -> JSON | None:
        return cast("JSON | None", self.row.calendar)

    @strawberry.field(description="All versions, oldest first.")
    async def versions(self, info: Info[Context, None]) -> list[PlanVersion]:
        rows = await info.context.loaders.versions_by_plan_id.load(self.row.id)
        return [PlanVersion(row=r) for r in rows]


@strawberry.type(description="A numbered version of a plan. Only drafts change.")
class PlanVersion(relay.Node):
    row: strawberry.Private[models.PlanVersion]

    @classmethod
    def resolve_id(cls, root: Self, *, info: Info[Context, None]) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await info.context.loaders.version_by_id.load_many([int(i) for i in node_ids])
        return [cls(row=r) if r else None for r in rows]

    @strawberry.field(description="1, 2, 3 ... within the plan.")
    def number(self) -> int:
        return self.row.number

    @strawberry.field(description="Display name.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="Lifecycle state.")
    def state(self) -> VersionState:
        return tree.VersionState(self.row.state)

    @strawberry.field(
        description="Changes with every edit of the version. Send it back with your next "
        "edit: a stale revision is a CONFLICT, never a silent overwrite."
    )
    def revision(self) -> int:
        return self.row.revision

    @strawberry.field(description="Token subject of the creator.")
    def created_by(self) -> str:
        return self.row.created_by

    @strawberry.field(description="When the version was created.")
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(description="The version this one was copied from; null for version 1.")
    async def copied_from(self, info: Info[Context, None]) -> PlanVersion | None:
        if self.row.copied_from_id is None:
            return None
        row = await info.context.loaders.version_by_id.load(self.row.copied_from_id)
        return PlanVersion(row=row) if row else None

    @strawberry.field(description="The plan this version belongs to.")
    async def plan(self, info: Info[Context, None]) -> Plan:
        row = await info.context.loaders.plan_by_id.load(self.row.plan_id)
        assert row is not None
        return Plan(row=row)

    @strawberry.field(
        description="Nodes whose slice contains every given coordinate (e.g. region East and "
        "quarter FY2027-Q1), in tree order, paginated. With `exact` only the node whose slice "
        "is exactly those coordinates: a lookup by slice without the node's id. The root's "
        "fiscal year is implicit: leave the year out."
    )
    async def nodes(
        self,
        info: Info[Context, None],
        slice: list[SliceInput] | None = None,
        exact: bool = False,
        first: int | None = None,
        after: str | None = None,
    ) -> TargetNodeConnection:
        limit = page_size(first)
        after_sort_path = decode_cursor(after, "node") if after else None
        pairs = []
        for index, coordinate in enumerate(slice or []):
            try:
                pairs.append(
                    (
                        ids.decode(coordinate.dimension_id, "Dimension", f"slice.{index}"),
                        ids.decode(coordinate.member_id, "Member", f"slice.{index}"),
                    )
                )
            except DomainError as exc:
                raise PublicError(exc.message, code="INVALID_ID") from None
        if len(pairs) > 20:
            raise PublicError("`slice` takes at most 20 coordinates")
        async with info.context.db.session() as session:
            rows = await repo.nodes_page(
                session, self.row.id, pairs, exact, after_sort_path, limit + 1
            )
        page = rows[:limit]
        nodes = await prepare_nodes(info, page, "edges", "node")
        edges = [relay.Edge(node=n, cursor=encode_cursor("node", n.row.sort_path)) for n in nodes]
        return TargetNodeConnection(
            edges=edges,
            page_info=page_info([e.cursor for e in edges], len(rows) > limit, after),
        )

    @strawberry.field(
        description="A whole subtree in one compact, columnar payload for clients that build "
        f"the tree themselves (treemaps, pivots): at most {MAX_BULK_NODES} nodes. See "
        "NodeTable for the columns."
    )
    async def subtree(
        self,
        info: Info[Context, None],
        root_id: strawberry.ID | None = None,
        max_depth: int | None = None,
    ) -> NodeTable:
        if max_depth is not None and max_depth < 0:
            raise PublicError("`maxDepth` must be 0 or more")
        async with info.context.db.session() as session:
            if root_id is None:
                (root,) = await repo.roots_by_version_ids(session, [self.row.id])
            else:
                try:
                    version_id, key = ids.decode_node(root_id, "rootId")
                except DomainError as exc:
                    raise PublicError(exc.message, code="INVALID_ID") from None
                root = await repo.node(session, version_id, key)
                if root is not None and root.version_id != self.row.id:
                    raise PublicError("`rootId` is a node of another version")
            if root is None:
                raise PublicError("`rootId` is not a known node", code="NOT_FOUND")
            rows = await repo.subtree_rows(session, root, max_depth, MAX_BULK_NODES + 1)
        plan = await _with_plan(info, self.row.plan_id)
        return NodeTable.build(
            self.row.id, rows[:MAX_BULK_NODES], plan.minor_digits, len(rows) > MAX_BULK_NODES
        )

    @strawberry.field(
        description="Who holds what in this version: owners with their totals, and the leaves "
        "nobody owns."
    )
    async def owners(
        self, info: Info[Context, None]
    ) -> Annotated[VersionOwners, strawberry.lazy("service.api.owners")]:
        from service.api.owners import version_owners

        return await version_owners(info, self)

    @strawberry.field(description="Every recorded change of this version, oldest first.")
    async def audit_trail(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> AuditEntryConnection:
        return await audit_trail(info, first, after, version_id=self.row.id)

    @strawberry.field(description="The root node: the whole target of the version.")
    async def root(self, info: Info[Context, None]) -> TargetNode | None:
        row = await info.context.loaders.root_by_version_id.load(self.row.id)
        return TargetNode(row=row) if row else None


strawberry.enum(members.CompetitionLevel, description="Competition in a region's market.")
strawberry.enum(members.CustomerSize, description="Size class of a customer.")
strawberry.enum(members.CustomerLifecycle, description="NEW logos or EXISTING customers.")
strawberry.enum(
    members.ProductLifecycle, description="FLAGSHIP, ESTABLISHED, NEW product or a SERVICE."
)
strawberry.enum(members.ChannelType, description="DIRECT sales, PARTNER (agents), ONLINE.")


@strawberry.type(
    description="Attributes allocation and diagnostics read; each dimension kind has its own "
    "(null where not set or not applicable)."
)
class MemberAttributes:
    market_potential: str | None = strawberry.field(
        description="REGION: market capacity as a decimal string, in the currency of the "
        "plans that read it."
    )
    competition_level: members.CompetitionLevel | None = strawberry.field(
        description="REGION: how contested the market is."
    )
    tier: str | None = strawberry.field(
        description="CUSTOMER: value tier (A, B, C or the dimension's list)."
    )
    size: members.CustomerSize | None = strawberry.field(description="CUSTOMER: size class.")
    industry: str | None = strawberry.field(description="CUSTOMER: industry.")
    customer_lifecycle: members.CustomerLifecycle | None = strawberry.field(
        description="CUSTOMER: new or existing."
    )
    category: str | None = strawberry.field(description="PRODUCT: category.")
    product_lifecycle: members.ProductLifecycle | None = strawberry.field(
        description="PRODUCT: flagship, established, new or service."
    )
    launch_date: date | None = strawberry.field(description="PRODUCT: launch date.")
    sales_cycle_days: int | None = strawberry.field(
        description="PRODUCT: typical days from first contact to signed order."
    )
    channel_type: members.ChannelType | None = strawberry.field(description="CHANNEL: its type.")
    extra: JSON | None = strawberry.field(description="Free-form attributes: an object of scalars.")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MemberAttributes:
        parsed = members.MemberAttributes.from_json(data)
        return cls(
            market_potential=data.get("marketPotential"),
            competition_level=parsed.competition_level,
            tier=parsed.tier,
            size=parsed.size,
            industry=parsed.industry,
            customer_lifecycle=parsed.customer_lifecycle,
            category=parsed.category,
            product_lifecycle=parsed.product_lifecycle,
            launch_date=parsed.launch_date,
            sales_cycle_days=parsed.sales_cycle_days,
            channel_type=parsed.channel_type,
            extra=cast("JSON | None", data.get("extra")),
        )


@strawberry.type(description="An axis of decomposition with a hierarchy of members.")
class Dimension(relay.Node):
    row: strawberry.Private[models.Dimension]

    @classmethod
    def resolve_id(cls, root: Self, *, info: Info[Context, None]) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await info.context.loaders.dimension_by_id.load_many([int(i) for i in node_ids])
        return [cls(row=r) if r else None for r in rows]

    @strawberry.field(description='Display name, e.g. "Sales regions".')
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="TIME, REGION, CHANNEL, CUSTOMER, PRODUCT or CUSTOM.")
    def kind(self) -> DimensionKind:
        return tree.DimensionKind(self.row.kind)

    @strawberry.field(description="CUSTOMER dimensions: the value tiers, best first.")
    def tiers(self) -> list[str] | None:
        if self.row.kind != tree.DimensionKind.CUSTOMER.value:
            return None
        return list(self.row.config.get("tiers") or members.DEFAULT_TIERS)

    @strawberry.field(
        description="The plan whose generated calendar this is; null for the organisation's "
        "shared dimensions."
    )
    async def plan(self, info: Info[Context, None]) -> Plan | None:
        if self.row.plan_id is None:
            return None
        row = await info.context.loaders.plan_by_id.load(self.row.plan_id)
        return Plan(row=row) if row else None

    @strawberry.field(description="A page of top-level members, in sort order.")
    async def roots(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> MemberConnection:
        return await sibling_page(
            info, info.context.loaders.roots_by_dimension_id, self.row.id, first, after
        )

    @strawberry.field(
        description=f"Every member in tree order, paginated (at most {MAX_PAGE} a page)."
    )
    async def members(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> MemberConnection:
        limit = page_size(first)
        after_sort_path = decode_cursor(after, "member") if after else None
        async with info.context.db.session() as session:
            rows = await repo.members_page(session, self.row.id, after_sort_path, limit + 1)
        total = await info.context.loaders.member_count_by_dimension_id.load(self.row.id)
        page = rows[:limit]
        edges = [
            relay.Edge(node=Member(row=r), cursor=encode_cursor("member", r.sort_path))
            for r in page
        ]
        return MemberConnection(
            edges=edges,
            page_info=page_info([e.cursor for e in edges], len(rows) > limit, after),
            total_count=total,
        )

    @strawberry.field(description="A member by its code; null when there is none.")
    async def member(self, info: Info[Context, None], code: str) -> Member | None:
        row = await info.context.loaders.member_by_code.load((self.row.id, code))
        return Member(row=row) if row else None


@strawberry.type(description="A member of a dimension's hierarchy: East, East/Shanghai, Direct.")
class Member(relay.Node):
    row: strawberry.Private[models.Member]

    @classmethod
    def resolve_id(cls, root: Self, *, info: Info[Context, None]) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await info.context.loaders.member_by_id.load_many([int(i) for i in node_ids])
        return [cls(row=r) if r else None for r in rows]

    @strawberry.field(description='Code, unique within the dimension, e.g. "EAST".')
    def code(self) -> str:
        return self.row.code

    @strawberry.field(description="Display name.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="0 for a top-level member, 1 for its children, ...")
    def depth(self) -> int:
        return self.row.depth

    @strawberry.field(description="Order among its siblings.")
    def sort_order(self) -> int:
        return self.row.sort_order

    @strawberry.field(description="Typed attributes of the member's kind.")
    def attributes(self) -> MemberAttributes:
        return MemberAttributes.from_json(self.row.attributes)

    @strawberry.field(description="Retired members stay for history but take no new splits.")
    def retired(self) -> bool:
        return self.row.retired_at is not None

    @strawberry.field(description="When it was retired; null while active.")
    def retired_at(self) -> datetime | None:
        return self.row.retired_at

    @strawberry.field(description="Time members: first day of the half-open range.")
    def starts_on(self) -> date | None:
        return self.row.starts_on

    @strawberry.field(description="Time members: the day after the last day (exclusive end).")
    def ends_on(self) -> date | None:
        return self.row.ends_on

    @strawberry.field(description="The dimension.")
    async def dimension(self, info: Info[Context, None]) -> Dimension:
        row = await info.context.loaders.dimension_by_id.load(self.row.dimension_id)
        assert row is not None
        return Dimension(row=row)

    @strawberry.field(description="The parent member; null at the top level.")
    async def parent(self, info: Info[Context, None]) -> Member | None:
        if self.row.parent_id is None:
            return None
        row = await info.context.loaders.member_by_id.load(self.row.parent_id)
        return Member(row=row) if row else None

    @strawberry.field(description="A page of the direct children, in sort order.")
    async def children(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> MemberConnection:
        return await sibling_page(
            info, info.context.loaders.member_children_by_id, self.row.id, first, after
        )

    @strawberry.field(description="The ancestors, top first (the path to this member).")
    async def ancestors(self, info: Info[Context, None]) -> list[Member]:
        ids = path_ids(self.row.path)[:-1]
        rows = await info.context.loaders.member_by_id.load_many(ids)
        return [Member(row=r) for r in rows if r]

    @strawberry.field(
        description="The whole subtree below this member in tree order, in one statement; "
        "`maxDepth` 1 gives the children, 2 adds grandchildren, null everything."
    )
    async def descendants(
        self, info: Info[Context, None], max_depth: int | None = None
    ) -> list[Member]:
        if max_depth is not None and max_depth < 1:
            raise PublicError("`maxDepth` must be 1 or more")
        async with info.context.db.session() as session:
            rows = await repo.member_descendants(session, self.row, max_depth)
        return [Member(row=r) for r in rows]


@strawberry.type(description="A page of members, in tree order (parents before children).")
class MemberConnection(relay.Connection[Member]):
    total_count: int | None = strawberry.field(
        default=None,
        description="Members of the dimension in all (on Dimension.members; null on pages of "
        "roots and children).",
    )


async def sibling_page(
    info: Info[Context, None],
    loader: Any,
    scope_id: int,
    first: int | None,
    after: str | None,
) -> MemberConnection:
    """A page of siblings (roots of a dimension or children of a member), batched."""
    limit = page_size(first)
    after_key: tuple[int, str] | None = None
    if after is not None:
        raw = decode_cursor(after, "sibling")
        order, _, code = raw.partition(":")
        try:
            after_key = (int(order), code)
        except ValueError:
            raise PublicError("`after` is not a cursor of this connection") from None
    rows = await loader.load((scope_id, after_key, limit + 1))
    page = rows[:limit]
    edges = [
        relay.Edge(node=Member(row=r), cursor=encode_cursor("sibling", f"{r.sort_order}:{r.code}"))
        for r in page
    ]
    return MemberConnection(
        edges=edges,
        page_info=page_info([e.cursor for e in edges], len(rows) > limit, after),
    )


T = TypeVar("T")
MaybeAwaitable: TypeAlias = T | Awaitable[T]
"""What a hot-path resolver returns: the value when the rows it needs are already
loaded, else an awaitable. graphql-core awaits only the latter, and each awaitable
field costs an asyncio task, several times the cost of a plain field. Such fields
name their GraphQL type with ``graphql_type``."""


def _money(info: Info[Context, None], plan_id: int, value: int) -> MaybeAwaitable[Amount]:
    plan = cached(info.context.loaders.plan_by_id, plan_id)
    if plan is not None:
        return Amount(format_amount(value, plan.minor_digits))
    return _money_later(info, plan_id, value)


async def _money_later(info: Info[Context, None], plan_id: int, value: int) -> Amount:
    plan = await _with_plan(info, plan_id)
    return Amount(format_amount(value, plan.minor_digits))


def _amount(
    info: Info[Context, None], plan_id: int, value: int | None
) -> MaybeAwaitable[Amount | None]:
    return None if value is None else _money(info, plan_id, value)


def _selected(selections: Sequence[Selection], *path: str) -> set[str]:
    """Names of the fields selected at ``path`` below ``selections`` (fragments flattened)."""
    names: set[str] = set()
    for selection in selections:
        if isinstance(selection, (FragmentSpread, InlineFragment)):
            names |= _selected(selection.selections, *path)
        elif isinstance(selection, SelectedField):
            if not path:
                names.add(selection.name)
            elif selection.name == path[0]:
                names |= _selected(selection.selections, *path[1:])
    return names


async def prepare_nodes(
    info: Info[Context, None], rows: Sequence[models.TargetNode], *path: str
) -> list[TargetNode]:
    """TargetNode objects for ``rows``, with what their cheap fields read loaded first.

    The plan (amounts' digits) always; the rows themselves are primed for their
    children's ``share``; the dimensions and members of their slices when the
    query selects ``slice`` or ``coordinate`` at ``path`` below the current field.
    Those fields then resolve without a task each (see ``MaybeAwaitable``).
    """
    loaders = info.context.loaders
    waits: list[Awaitable[Any]] = [loaders.plan_by_id.load_many({r.plan_id for r in rows})]
    for row in rows:
        loaders.node_by_id.prime((row.version_id, row.key), row)
    wanted: set[str] = set()
    for field in info.selected_fields if rows else ():  # the current field (merged)
        if isinstance(field, SelectedField):
            wanted |= _selected(field.selections, *path)
    coordinates: set[tuple[int, int]] = set()
    if "slice" in wanted:
        coordinates = {(d, m) for r in rows for d, m in r.coordinates}
    elif "coordinate" in wanted:
        coordinates = {
            (r.dimension_id, r.member_id)
            for r in rows
            if r.dimension_id is not None and r.member_id is not None
        }
    if coordinates:
        waits.append(loaders.dimension_by_id.load_many({d for d, _ in coordinates}))
        waits.append(loaders.member_by_id.load_many({m for _, m in coordinates}))
    for wait in waits:
        await wait
    return [TargetNode(row=r) for r in rows]


@strawberry.type(description="KPI targets of a node (null where not set).")
class NodeKpis:
    new_customers: int | None = strawberry.field(description="New customers to win.")
    win_rate: str | None = strawberry.field(description="Win rate, a fraction as a string.")
    repeat_purchase_rate: str | None = strawberry.field(
        description="Repeat-purchase rate, a fraction as a string."
    )
    market_share: str | None = strawberry.field(description="Market share, a fraction.")
    average_order_value: Amount | None = strawberry.field(
        description="Average order value in the plan's currency."
    )


@strawberry.input(description="One coordinate of a slice: a dimension and one of its members.")
class SliceInput:
    dimension_id: strawberry.ID = strawberry.field(description="The dimension.")
    member_id: strawberry.ID = strawberry.field(description="The member.")


@strawberry.type(
    description="A subtree as columns: `columns` is a JSON object of equal-length arrays, one "
    "entry per node in tree order (parents before children): id (global TargetNode id), "
    "parentId (null for the subtree's root), depth (0 = the plan's root), target (exact "
    "decimal string), locked, dimensionId (global id of the node's own coordinate's "
    "dimension; null at the root), memberCode, memberName. Columnar JSON keeps 10,000 nodes "
    "one fast field instead of 80,000 typed ones."
)
class NodeTable:
    count: int = strawberry.field(description="Number of nodes (rows).")
    truncated: bool = strawberry.field(description="True when the subtree has more nodes.")
    columns: JSON = strawberry.field(description="The columns, see the type's description.")

    @classmethod
    def build(
        cls, version_id: int, rows: list[tuple[Any, ...]], digits: int, truncated: bool
    ) -> NodeTable:
        prefix = f"{version_id}:"
        dims: dict[int, str] = {}
        ids_, parents, depth, target, locked, dimension, code, name = [], [], [], [], [], [], [], []
        for key, parent_key, d, amount, lock, dim, member_code, member_name in rows:
            ids_.append(encode_id("TargetNode", prefix + str(key)))
            parents.append(None if parent_key is None else prefix + str(parent_key))
            depth.append(d)
            target.append(format_amount(amount, digits))
            locked.append(lock)
            if dim is not None and dim not in dims:
                dims[dim] = encode_id("Dimension", dim)
            dimension.append(dims.get(dim) if dim is not None else None)
            code.append(member_code)
            name.append(member_name)
        known = {
            raw: gid for raw, gid in zip((prefix + str(r[0]) for r in rows), ids_, strict=True)
        }
        parent_ids = [known.get(p) if p is not None else None for p in parents]
        if rows:
            parent_ids[0] = None
        return cls(
            count=len(rows),
            truncated=truncated,
            columns=cast(
                "JSON",
                {
                    "id": ids_,
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
    dimension_row: strawberry.Private[models.Dimension]
    member_row: strawberry.Private[models.Member]

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
    dimensions = loaders.dimension_by_id.load_many([d for d, _ in pairs])
    members = loaders.member_by_id.load_many([m for _, m in pairs])
    out: list[SliceCoordinate] = []
    for dimension, member in zip(await dimensions, await members, strict=True):
        if dimension is None or member is None:  # foreign keys forbid it
            raise RuntimeError("a node's slice names a dimension or member that is gone")
        out.append(SliceCoordinate(dimension_row=dimension, member_row=member))
    return out


@strawberry.type(
    description="One slice of a version's target. Its children add up exactly to its target."
)
class TargetNode(relay.Node):
    row: strawberry.Private[models.TargetNode]

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
        rows = await info.context.loaders.node_by_id.load_many(keys)
        return [cls(row=r) if r else None for r in rows]

    @strawberry.field(
        description="Stable key: the same node keeps it in every version copied from this one."
    )
    def key(self) -> BigIntID:
        return BigIntID(str(self.row.key))

    @strawberry.field(description="0 at the root.")
    def depth(self) -> int:
        return self.row.depth

    @strawberry.field(
        description="The target, exact, in the plan's currency or unit.", graphql_type=Amount
    )
    def target(self, info: Info[Context, None]) -> MaybeAwaitable[Amount]:
        return _money(info, self.row.plan_id, self.row.target)

    @strawberry.field(description="The node's owner (a person or a team); null when none.")
    async def owner(
        self, info: Info[Context, None]
    ) -> Annotated[Owner, strawberry.lazy("service.api.owners")] | None:
        from service.api.owners import Owner

        if self.row.owner_id is None:
            return None
        row = await info.context.loaders.owner_by_id.load(self.row.owner_id)
        return Owner(row=row) if row else None

    @strawberry.field(description="Locked targets are kept when siblings are rebalanced.")
    def locked(self) -> bool:
        return self.row.locked

    @strawberry.field(
        description="Lowest target rebalancing may give this node.", graphql_type=Amount | None
    )
    def floor(self, info: Info[Context, None]) -> MaybeAwaitable[Amount | None]:
        return _amount(info, self.row.plan_id, self.row.floor)

    @strawberry.field(
        description="Highest target rebalancing may give this node.", graphql_type=Amount | None
    )
    def cap(self, info: Info[Context, None]) -> MaybeAwaitable[Amount | None]:
        return _amount(info, self.row.plan_id, self.row.cap)

    @strawberry.field(description="How the target is to be reached (execution strategy).")
    def strategy(self) -> str | None:
        return self.row.strategy

    @strawberry.field(description="KPI targets besides the amount.")
    async def kpis(self, info: Info[Context, None]) -> NodeKpis:
        values = self.row.kpis or {}
        aov = values.get("averageOrderValue")
        return NodeKpis(
            new_customers=values.get("newCustomers"),
            win_rate=values.get("winRate"),
            repeat_purchase_rate=values.get("repeatPurchaseRate"),
            market_share=values.get("marketShare"),
            average_order_value=await _money_later(info, self.row.plan_id, aov)
            if aov is not None
            else None,
        )

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
            return _share(self.row.target, parent)
        return self._share_later(info, key)

    async def _share_later(self, info: Info[Context, None], key: tuple[int, int]) -> float | None:
        parent = await info.context.loaders.node_by_id.load(key)
        return None if parent is None else _share(self.row.target, parent)

    @strawberry.field(
        description="Recorded changes of this node in this version, oldest first (entries of "
        "the versions it was copied from stay with those versions)."
    )
    async def audit_trail(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> AuditEntryConnection:
        return await audit_trail(
            info, first, after, version_id=self.row.version_id, node_key=self.row.key
        )

    @strawberry.field(description="The ancestors, root first.")
    async def ancestors(self, info: Info[Context, None]) -> list[TargetNode]:
        keys = path_ids(self.row.path)[:-1]
        rows = await info.context.loaders.node_by_id.load_many(
            [(self.row.version_id, k) for k in keys]
        )
        return await prepare_nodes(info, [r for r in rows if r])

    @strawberry.field(description="The version this node belongs to.")
    async def version(self, info: Info[Context, None]) -> PlanVersion:
        row = await info.context.loaders.version_by_id.load(self.row.version_id)
        assert row is not None
        return PlanVersion(row=row)

    @strawberry.field(description="The parent node; null at the root.")
    async def parent(self, info: Info[Context, None]) -> TargetNode | None:
        if self.row.parent_key is None:
            return None
        row = await info.context.loaders.node_by_id.load((self.row.version_id, self.row.parent_key))
        return TargetNode(row=row) if row else None

    @strawberry.field(description="The children, in split order; empty on a leaf.")
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
        description="The coordinate this node adds to its parent's slice.",
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
        "adjustments), as recorded by the allocation engine; null on the root."
    )
    def explanation(self) -> JSON | None:
        return cast("JSON | None", self.row.explanation)

    @strawberry.field(description="The method and inputs of this node's split; null on a leaf.")
    def split_spec(self) -> JSON | None:
        return cast("JSON | None", self.row.split_spec)


def _share(target: int, parent: models.TargetNode) -> float | None:
    return None if parent.target == 0 else target / parent.target


async def _first(coordinates: Awaitable[list[SliceCoordinate]]) -> SliceCoordinate:
    return (await coordinates)[0]


@strawberry.type(description="A page of nodes, in tree order.")
class TargetNodeConnection(relay.Connection[TargetNode]):
    pass
