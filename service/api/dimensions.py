"""Dimensions and their members: types, queries and mutations."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from service.api import ids
from service.api.context import Context
from service.api.errors import UserError, user_error, user_errors
from service.api.mutation import INPUT, Payload, errors_field, mutate
from service.api.pagination import After, Before, Connection, First, Last, page_args
from service.api.scalars import describe_enum
from service.api.wrap import RowNode, wrap_optional, wraps
from service.db.models import Dimension as DimensionRow
from service.db.models import Member as MemberRow
from service.domain import members
from service.domain.errors import DomainError
from service.domain.hierarchy import MAX_BULK_ROWS, BulkLoadError
from service.domain.hierarchy import MemberRow as LoadRow
from service.domain.members import MAX_DEPTH
from service.domain.paths import path_ids
from service.domain.tree import DimensionKind
from service.plans import dimensions as usecases

if TYPE_CHECKING:
    from service.api.plans import Plan

describe_enum(
    DimensionKind,
    "The axes of decomposition.",
    {
        "TIME": "Fiscal year, quarters, months or retail periods, weeks (a plan's calendar).",
        "REGION": "Countries, areas, cities: markets with a potential.",
        "CHANNEL": "Direct sales, partners (agents, distributors), online.",
        "CUSTOMER": "Customers or segments by size, industry, value tier and lifecycle.",
        "PRODUCT": "Product lines and categories.",
        "CUSTOM": "Any other axis (industry, team ...).",
    },
)
describe_enum(
    members.CompetitionLevel,
    "How contested a region's market is.",
    {"LOW": "Few competitors.", "MEDIUM": "Some competition.", "HIGH": "A crowded market."},
)
describe_enum(
    members.CustomerSize,
    "Size class of a customer.",
    {
        "SMALL": "Small business.",
        "MEDIUM": "Mid-sized company.",
        "LARGE": "Large company.",
        "ENTERPRISE": "Enterprise account.",
    },
)
describe_enum(
    members.CustomerLifecycle,
    "New logos or existing customers.",
    {"NEW": "A customer still to win (new logo).", "EXISTING": "A customer already buying."},
)
describe_enum(
    members.ProductLifecycle,
    "Where a product stands in the portfolio.",
    {
        "FLAGSHIP": "The main line carrying most of the revenue.",
        "ESTABLISHED": "A proven line.",
        "NEW": "A recently launched product.",
        "SERVICE": "A service rather than a product.",
    },
)
describe_enum(
    members.ChannelType,
    "How a channel sells.",
    {
        "DIRECT": "The company's own sales team.",
        "PARTNER": "Agents, distributors and resellers.",
        "ONLINE": "Web shop and self-service.",
    },
)

SIBLINGS = (int, str)
"""Cursor keys of roots and children: (sort order, code)."""
TREE = (str,)
"""Cursor keys of tree-order lists: the member's path."""


@strawberry.type(
    description="Attributes allocation and diagnostics read; each dimension kind has its own "
    "(null where not set or not applicable)."
)
class MemberAttributes:
    market_potential: Decimal | None = strawberry.field(
        description="REGION: market capacity, in the currency of the plans that read it."
    )
    competition_level: members.CompetitionLevel | None = strawberry.field(
        description="REGION: how contested the market is."
    )
    tier: str | None = strawberry.field(
        description="CUSTOMER: value tier (A, B, C or the dimension's own list)."
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
    def of(cls, data: dict[str, Any]) -> MemberAttributes:
        parsed = members.MemberAttributes.from_json(data)
        return cls(
            market_potential=parsed.market_potential,
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
            extra=cast("JSON | None", dict(parsed.extra) if parsed.extra is not None else None),
        )


@wraps(DimensionRow)
@strawberry.type(description="An axis of decomposition with a hierarchy of members.")
class Dimension(RowNode):
    row: strawberry.Private[DimensionRow]
    loader = "dimension_by_id"

    @strawberry.field(description='Display name, e.g. "Sales regions".')
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="Which axis it is.")
    def kind(self) -> DimensionKind:
        return DimensionKind(self.row.kind)

    @strawberry.field(description="CUSTOMER dimensions: the value tiers, best first; else null.")
    def tiers(self) -> list[str] | None:
        if self.row.kind != DimensionKind.CUSTOMER.value:
            return None
        return list(self.row.config.get("tiers") or members.DEFAULT_TIERS)

    @strawberry.field(
        description="The plan whose generated calendar this is; null for the organisation's "
        "shared dimensions."
    )
    async def plan(
        self, info: Info[Context, None]
    ) -> Annotated[Plan, strawberry.lazy("service.api.plans")] | None:
        if self.row.plan_id is None:
            return None
        return cast(
            "Plan | None",
            wrap_optional(await info.context.loaders.plan_by_id.load(self.row.plan_id)),
        )

    @strawberry.field(description="The top-level members, in sort order (then code).")
    async def roots(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> MemberConnection:
        request = page_args("roots", SIBLINGS, first, after, last, before)
        loaders = info.context.loaders
        page = await loaders.roots_by_dimension_id.load((self.row.id, request))
        return MemberConnection.of(
            page,
            "roots",
            wrap_member,
            lambda: loaders.root_count_by_dimension_id.load(self.row.id),
        )

    @strawberry.field(description="Every member in tree order (parents before children).")
    async def members(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> MemberConnection:
        request = page_args("members", TREE, first, after, last, before)
        page = await info.context.loaders.members_page(self.row.id, request)
        return MemberConnection.of(
            page,
            "members",
            wrap_member,
            lambda: info.context.loaders.member_count_by_dimension_id.load(self.row.id),
        )

    @strawberry.field(description="A member by its code; null when there is none.")
    async def member(
        self,
        info: Info[Context, None],
        code: Annotated[str, strawberry.argument(description="The member's code, e.g. EAST.")],
    ) -> Member | None:
        if "\x00" in code or len(code) > 1000:
            return None  # no stored code has them
        row = await info.context.loaders.member_by_code.load((self.row.id, code))
        return Member(row=row) if row else None


@wraps(MemberRow)
@strawberry.type(description="A member of a dimension's hierarchy: East, East/Shanghai, Direct.")
class Member(RowNode):
    row: strawberry.Private[MemberRow]
    loader = "member_by_id"

    @strawberry.field(description='Code, unique within the dimension, e.g. "EAST".')
    def code(self) -> str:
        return self.row.code

    @strawberry.field(description="Display name.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="0 for a top-level member, 1 for its children, and so on.")
    def depth(self) -> int:
        return self.row.depth

    @strawberry.field(description="Order among its siblings (then by code).")
    def sort_order(self) -> int:
        return self.row.sort_order

    @strawberry.field(description="Typed attributes of the member's kind.")
    def attributes(self) -> MemberAttributes:
        return MemberAttributes.of(self.row.attributes)

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

    @strawberry.field(description="The direct children, in sort order (then code).")
    async def children(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> MemberConnection:
        request = page_args("children", SIBLINGS, first, after, last, before)
        loaders = info.context.loaders
        page = await loaders.children_by_member_id.load((self.row.id, request))
        return MemberConnection.of(
            page,
            "children",
            wrap_member,
            lambda: loaders.child_count_by_member_id.load(self.row.id),
        )

    @strawberry.field(
        description=f"The ancestors, top first (the path to this member; at most {MAX_DEPTH})."
    )
    async def ancestors(self, info: Info[Context, None]) -> list[Member]:
        keys = path_ids(self.row.path)[:-1]
        rows = await info.context.loaders.member_by_id.load_many(keys)
        return [Member(row=r) for r in rows if r]

    @strawberry.field(
        description="The whole subtree below this member in tree order; `maxDepth` 1 gives "
        "the children, 2 adds grandchildren, null everything."
    )
    async def descendants(
        self,
        info: Info[Context, None],
        max_depth: Annotated[
            int | None,
            strawberry.argument(description="Levels below this member (1 or more); null: all."),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> MemberConnection:
        request = page_args("descendants", TREE, first, after, last, before)
        db = info.context.db
        member = self.row
        page = await usecases.descendants_page(db, member, max_depth, request)
        return MemberConnection.of(
            page,
            "descendants",
            wrap_member,
            lambda: usecases.descendants_count(db, member, max_depth),
        )


def wrap_member(row: MemberRow) -> Member:
    return Member(row=row)


@strawberry.type(description="A page of members.")
class MemberConnection(Connection[Member]):
    pass


@strawberry.type(description="A page of dimensions, oldest first.")
class DimensionConnection(Connection[Dimension]):
    pass


@strawberry.type
class DimensionQueries:
    @strawberry.field(description="Dimensions, oldest first (plans' calendars included).")
    async def dimensions(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> DimensionConnection:
        request = page_args("dimensions", (int,), first, after, last, before)
        loaders = info.context.loaders
        page = await loaders.dimensions_page(request)
        return DimensionConnection.of(
            page, "dimensions", lambda r: Dimension(row=r), loaders.dimensions_count
        )

    @strawberry.field(description="One dimension by id; null when there is none.")
    async def dimension(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="The dimension's id.")],
    ) -> Dimension | None:
        row = await info.context.loaders.dimension_by_id.load(ids.decode(id, "Dimension", "id"))
        return Dimension(row=row) if row else None


# --- mutations -----------------------------------------------------------------------


@strawberry.input(description="A new organisation dimension (time comes from a plan's calendar).")
class DimensionCreateInput:
    name: str = strawberry.field(description="Unique display name, 1 to 200 characters.")
    kind: DimensionKind = strawberry.field(description="Which axis it is (not TIME).")
    tiers: list[str] | None = strawberry.field(
        default=None,
        description="CUSTOMER only: the value tiers, best first (default A, B, C; at most 26).",
    )

    def command(self) -> usecases.DimensionCreate:
        return usecases.DimensionCreate(name=self.name, kind=self.kind, tiers=self.tiers)


@strawberry.type(description="Result of dimensionCreate.")
class DimensionCreatePayload(Payload[DimensionRow]):
    dimension: Dimension | None = strawberry.field(description="The new dimension.")
    user_errors: list[UserError] = errors_field()

    @classmethod
    def of(cls, row: DimensionRow) -> DimensionCreatePayload:
        return cls(dimension=Dimension(row=row), user_errors=[])


@strawberry.input(
    description="Attributes of a member; each dimension kind takes its own, others are refused. "
    "In memberUpdate a null value removes the attribute."
)
class MemberAttributesInput:
    market_potential: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description="REGION: market capacity, zero or more."
    )
    competition_level: members.CompetitionLevel | None = strawberry.field(
        default=strawberry.UNSET, description="REGION: how contested the market is."
    )
    tier: str | None = strawberry.field(
        default=strawberry.UNSET, description="CUSTOMER: one of the dimension's tiers."
    )
    size: members.CustomerSize | None = strawberry.field(
        default=strawberry.UNSET, description="CUSTOMER: size class."
    )
    industry: str | None = strawberry.field(
        default=strawberry.UNSET, description="CUSTOMER: industry, up to 200 characters."
    )
    customer_lifecycle: members.CustomerLifecycle | None = strawberry.field(
        default=strawberry.UNSET, description="CUSTOMER: new or existing."
    )
    category: str | None = strawberry.field(
        default=strawberry.UNSET, description="PRODUCT: category, up to 200 characters."
    )
    product_lifecycle: members.ProductLifecycle | None = strawberry.field(
        default=strawberry.UNSET, description="PRODUCT: flagship, established, new or service."
    )
    launch_date: date | None = strawberry.field(
        default=strawberry.UNSET, description="PRODUCT: launch date."
    )
    sales_cycle_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="PRODUCT: whole days, 0 to 3650."
    )
    channel_type: members.ChannelType | None = strawberry.field(
        default=strawberry.UNSET, description="CHANNEL: direct, partner or online."
    )
    extra: JSON | None = strawberry.field(
        default=strawberry.UNSET, description="Free-form: an object of scalars."
    )

    def raw(self) -> dict[str, Any]:
        """camelCase keys of the fields that were given (null included)."""
        out: dict[str, Any] = {}
        for python_name, key in (
            ("market_potential", "marketPotential"),
            ("competition_level", "competitionLevel"),
            ("tier", "tier"),
            ("size", "size"),
            ("industry", "industry"),
            ("customer_lifecycle", "customerLifecycle"),
            ("category", "category"),
            ("product_lifecycle", "productLifecycle"),
            ("launch_date", "launchDate"),
            ("sales_cycle_days", "salesCycleDays"),
            ("channel_type", "channelType"),
            ("extra", "extra"),
        ):
            value = getattr(self, python_name)
            if value is strawberry.UNSET:
                continue
            out[key] = value.value if hasattr(value, "value") else value
        return out


def _attributes(given: MemberAttributesInput | None) -> dict[str, Any] | None:
    return given.raw() if given is not None else None


@strawberry.input(description="A new member of a dimension.")
class MemberCreateInput:
    dimension_id: strawberry.ID = strawberry.field(description="The dimension.")
    code: str = strawberry.field(description="Unique within the dimension, 1 to 100 characters.")
    name: str = strawberry.field(description="Display name, 1 to 200 characters.")
    parent_id: strawberry.ID | None = strawberry.field(
        default=None, description="Parent member of the same dimension; null at the top level."
    )
    sort_order: int = strawberry.field(default=0, description="Order among its siblings.")
    attributes: MemberAttributesInput | None = strawberry.field(
        default=None, description="Typed attributes of the dimension's kind."
    )

    def command(self) -> usecases.MemberCreate:
        return usecases.MemberCreate(
            dimension_id=ids.decode(self.dimension_id, "Dimension", "dimensionId"),
            parent_id=ids.decode_optional(self.parent_id, "Member", "parentId"),
            code=self.code,
            name=self.name,
            sort_order=self.sort_order,
            attributes=_attributes(self.attributes),
        )


@strawberry.type(description="Result of a mutation on one member.")
class MemberPayload(Payload[MemberRow]):
    member: Member | None = strawberry.field(description="The member, as changed.")
    user_errors: list[UserError] = errors_field()

    @classmethod
    def of(cls, row: MemberRow) -> MemberPayload:
        return cls(member=Member(row=row), user_errors=[])


@strawberry.input(description="One member of a bulk load; parents are named by code.")
class MemberRowInput:
    code: str = strawberry.field(description="Unique within the dimension.")
    name: str = strawberry.field(description="Display name.")
    parent_code: str | None = strawberry.field(
        default=None,
        description="Code of the parent: a stored member or another row of this load.",
    )
    sort_order: int | None = strawberry.field(
        default=None, description="Order among siblings (kept when null on an update)."
    )
    attributes: MemberAttributesInput | None = strawberry.field(
        default=None, description="Typed attributes of the dimension's kind."
    )


@strawberry.input(
    description=f"Create or update many members at once, all or nothing; at most "
    f"{MAX_BULK_ROWS} rows. Loading the same rows again changes nothing."
)
class MembersCreateInput:
    dimension_id: strawberry.ID = strawberry.field(description="The dimension.")
    members: list[MemberRowInput] = strawberry.field(description="The rows, in any order.")

    def command(self) -> usecases.MembersLoad:
        return usecases.MembersLoad(
            dimension_id=ids.decode(self.dimension_id, "Dimension", "dimensionId"),
            rows=[
                LoadRow(
                    row=index,
                    code=r.code,
                    name=r.name,
                    parent_code=r.parent_code,
                    sort_order=r.sort_order,
                    attributes=r.attributes.raw() if r.attributes else {},
                )
                for index, r in enumerate(self.members)
            ],
        )


@strawberry.type(description="Result of membersCreate.")
class MembersCreatePayload(Payload[usecases.LoadResult]):
    members: list[Member] | None = strawberry.field(description="The members, in row order.")
    created: int | None = strawberry.field(description="Members created.")
    updated: int | None = strawberry.field(
        description="Members whose name, attributes, order or parent changed."
    )
    unchanged: int | None = strawberry.field(description="Rows identical to what is stored.")
    user_errors: list[UserError] = strawberry.field(
        description="Every bad row (field: input, members, row index, column); nothing was "
        "written when there is one."
    )

    @classmethod
    def of(cls, result: usecases.LoadResult) -> MembersCreatePayload:
        return cls(
            members=[Member(row=m) for m in result.members],
            created=result.created,
            updated=result.updated,
            unchanged=result.unchanged,
            user_errors=[],
        )


def _row_errors(exc: DomainError) -> list[UserError]:
    if not isinstance(exc, BulkLoadError):
        return user_errors(exc)
    return [
        user_error(e.code, f"members.{e.row}.{_column(e.column)}", f"row {e.row}: {e.message}")
        for e in exc.errors
    ]


def _column(column: str) -> str:
    """Row error columns as GraphQL input names (parent -> parentCode)."""
    if column == "parent":
        return "parentCode"
    if column in {"code", "name"}:
        return column
    return f"attributes.{column}"


@strawberry.input(description="Change a member; fields left out stay as they are.")
class MemberUpdateInput:
    id: strawberry.ID = strawberry.field(description="The member.")
    code: str | None = strawberry.field(default=None, description="New code.")
    name: str | None = strawberry.field(default=None, description="New name.")
    sort_order: int | None = strawberry.field(default=None, description="New order.")
    attributes: MemberAttributesInput | None = strawberry.field(
        default=None, description="Attributes to set (null values remove them)."
    )

    def command(self) -> usecases.MemberUpdate:
        return usecases.MemberUpdate(
            member_id=ids.decode(self.id, "Member", "id"),
            code=self.code,
            name=self.name,
            sort_order=self.sort_order,
            attributes=_attributes(self.attributes),
        )


@strawberry.input(description="Move a member and its subtree under another parent.")
class MemberMoveInput:
    id: strawberry.ID = strawberry.field(description="The member to move.")
    parent_id: strawberry.ID | None = strawberry.field(
        description="The new parent (same dimension); null moves it to the top level."
    )

    def command(self) -> usecases.MemberMove:
        return usecases.MemberMove(
            member_id=ids.decode(self.id, "Member", "id"),
            parent_id=ids.decode_optional(self.parent_id, "Member", "parentId"),
        )


@strawberry.input(description="Retire a member.")
class MemberRetireInput:
    id: strawberry.ID = strawberry.field(description="The member to retire.")

    def command(self) -> usecases.MemberRetire:
        return usecases.MemberRetire(member_id=ids.decode(self.id, "Member", "id"))


@strawberry.type
class DimensionMutations:
    @strawberry.mutation(description="Create an organisation dimension.")
    async def dimension_create(
        self, info: Info[Context, None], input: Annotated[DimensionCreateInput, INPUT]
    ) -> DimensionCreatePayload:
        return await mutate(
            info,
            usecases.create_dimension,
            input.command,
            DimensionCreatePayload,
        )

    @strawberry.mutation(description="Create a member, under a parent or at the top level.")
    async def member_create(
        self, info: Info[Context, None], input: Annotated[MemberCreateInput, INPUT]
    ) -> MemberPayload:
        return await mutate(info, usecases.create_member, input.command, MemberPayload)

    @strawberry.mutation(description="Create or update many members in one all-or-nothing step.")
    async def members_create(
        self, info: Info[Context, None], input: Annotated[MembersCreateInput, INPUT]
    ) -> MembersCreatePayload:
        return await mutate(
            info,
            usecases.load_members,
            input.command,
            MembersCreatePayload,
            errors=_row_errors,
        )

    @strawberry.mutation(description="Rename, re-code, reorder a member or change attributes.")
    async def member_update(
        self, info: Info[Context, None], input: Annotated[MemberUpdateInput, INPUT]
    ) -> MemberPayload:
        return await mutate(info, usecases.update_member, input.command, MemberPayload)

    @strawberry.mutation(
        description="Move a member with its subtree; a move under its own subtree is refused "
        "with the offending path."
    )
    async def member_move(
        self, info: Info[Context, None], input: Annotated[MemberMoveInput, INPUT]
    ) -> MemberPayload:
        return await mutate(info, usecases.move_member, input.command, MemberPayload)

    @strawberry.mutation(
        description="Retire a member: kept for history and existing targets, refused for "
        "new splits. Members are never deleted."
    )
    async def member_retire(
        self, info: Info[Context, None], input: Annotated[MemberRetireInput, INPUT]
    ) -> MemberPayload:
        return await mutate(info, usecases.retire_member, input.command, MemberPayload)
