"""Mutations on dimensions and members."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from service.api import ids
from service.api.change import change
from service.api.context import Context
from service.api.errors import UserError, user_error, user_errors
from service.api.types import Dimension, Member
from service.domain import members
from service.domain.errors import DomainError
from service.domain.hierarchy import MAX_BULK_ROWS, BulkLoadError, MemberRow
from service.domain.tree import DimensionKind
from service.plans import dimensions as usecases


@strawberry.input(description="A new organisation dimension (time comes from a plan's calendar).")
class DimensionCreateInput:
    name: str = strawberry.field(description="Unique display name, 1 to 200 characters.")
    kind: DimensionKind = strawberry.field(description="Which axis it is (not TIME).")
    tiers: list[str] | None = strawberry.field(
        default=None,
        description="CUSTOMER only: the value tiers, best first (default A, B, C).",
    )


@strawberry.type(description="Result of dimensionCreate.")
class DimensionCreatePayload:
    dimension: Dimension | None = strawberry.field(description="The new dimension.")
    user_errors: list[UserError] = strawberry.field(description="Empty on success.")


@strawberry.input(
    description="Attributes of a member; each dimension kind takes its own, others are refused. "
    "In memberUpdate a null value removes the attribute."
)
class MemberAttributesInput:
    market_potential: str | None = strawberry.field(
        default=strawberry.UNSET, description="REGION: market capacity, a decimal string."
    )
    competition_level: members.CompetitionLevel | None = strawberry.field(
        default=strawberry.UNSET, description="REGION."
    )
    tier: str | None = strawberry.field(default=strawberry.UNSET, description="CUSTOMER.")
    size: members.CustomerSize | None = strawberry.field(
        default=strawberry.UNSET, description="CUSTOMER."
    )
    industry: str | None = strawberry.field(default=strawberry.UNSET, description="CUSTOMER.")
    customer_lifecycle: members.CustomerLifecycle | None = strawberry.field(
        default=strawberry.UNSET, description="CUSTOMER."
    )
    category: str | None = strawberry.field(default=strawberry.UNSET, description="PRODUCT.")
    product_lifecycle: members.ProductLifecycle | None = strawberry.field(
        default=strawberry.UNSET, description="PRODUCT."
    )
    launch_date: date | None = strawberry.field(default=strawberry.UNSET, description="PRODUCT.")
    sales_cycle_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="PRODUCT: whole days, 0 to 3650."
    )
    channel_type: members.ChannelType | None = strawberry.field(
        default=strawberry.UNSET, description="CHANNEL."
    )
    extra: JSON | None = strawberry.field(
        default=strawberry.UNSET, description="Free-form: an object of scalars."
    )

    def to_raw(self) -> dict[str, Any]:
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


@strawberry.type(description="Result of a mutation on one member.")
class MemberPayload:
    member: Member | None = strawberry.field(description="The member, as changed.")
    user_errors: list[UserError] = strawberry.field(description="Empty on success.")


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


@strawberry.type(description="Result of membersCreate.")
class MembersCreatePayload:
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


@strawberry.input(description="Change a member; fields left out stay as they are.")
class MemberUpdateInput:
    id: strawberry.ID = strawberry.field(description="The member.")
    code: str | None = strawberry.field(default=None, description="New code.")
    name: str | None = strawberry.field(default=None, description="New name.")
    sort_order: int | None = strawberry.field(default=None, description="New order.")
    attributes: MemberAttributesInput | None = strawberry.field(
        default=None, description="Attributes to set (null values remove them)."
    )


@strawberry.input(description="Move a member and its subtree under another parent.")
class MemberMoveInput:
    id: strawberry.ID = strawberry.field(description="The member to move.")
    parent_id: strawberry.ID | None = strawberry.field(
        description="The new parent (same dimension); null moves it to the top level."
    )


@strawberry.input(description="Retire a member.")
class MemberRetireInput:
    id: strawberry.ID = strawberry.field(description="The member to retire.")


@strawberry.type
class DimensionMutations:
    @strawberry.mutation(description="Create an organisation dimension.")
    async def dimension_create(
        self, info: Info[Context, None], input: DimensionCreateInput
    ) -> DimensionCreatePayload:
        try:
            with change(None):
                row = await usecases.create_dimension(
                    info.context.db,
                    info.context.caller,
                    name=input.name,
                    kind=input.kind,
                    tiers=input.tiers,
                )
        except DomainError as exc:
            return DimensionCreatePayload(dimension=None, user_errors=[user_error(exc)])
        return DimensionCreatePayload(dimension=Dimension(row=row), user_errors=[])

    @strawberry.mutation(description="Create a member, under a parent or at the top level.")
    async def member_create(
        self, info: Info[Context, None], input: MemberCreateInput
    ) -> MemberPayload:
        try:
            with change(None):
                row = await usecases.create_member(
                    info.context.db,
                    info.context.caller,
                    dimension_id=ids.decode(input.dimension_id, "Dimension", "dimensionId"),
                    parent_id=(
                        ids.decode(input.parent_id, "Member", "parentId")
                        if input.parent_id is not None
                        else None
                    ),
                    code=input.code,
                    name=input.name,
                    sort_order=input.sort_order,
                    attributes=input.attributes.to_raw() if input.attributes else None,
                )
        except DomainError as exc:
            return MemberPayload(member=None, user_errors=[user_error(exc)])
        return MemberPayload(member=Member(row=row), user_errors=[])

    @strawberry.mutation(description="Create or update many members in one all-or-nothing step.")
    async def members_create(
        self, info: Info[Context, None], input: MembersCreateInput
    ) -> MembersCreatePayload:
        def failed(errors: list[UserError]) -> MembersCreatePayload:
            return MembersCreatePayload(
                members=None, created=None, updated=None, unchanged=None, user_errors=errors
            )

        try:
            dimension_id = ids.decode(input.dimension_id, "Dimension", "dimensionId")
            rows = [
                MemberRow(
                    row=index,
                    code=r.code,
                    name=r.name,
                    parent_code=r.parent_code,
                    sort_order=r.sort_order,
                    attributes=r.attributes.to_raw() if r.attributes else {},
                )
                for index, r in enumerate(input.members)
            ]
            with change(None):
                result = await usecases.load_members(
                    info.context.db, info.context.caller, dimension_id=dimension_id, rows=rows
                )
        except BulkLoadError as exc:
            return failed(
                user_errors(
                    [
                        (
                            e.code,
                            f"members.{e.row}.{_column(e.column)}",
                            f"row {e.row}: {e.message}",
                        )
                        for e in exc.errors
                    ]
                )
            )
        except DomainError as exc:
            return failed([user_error(exc)])
        return MembersCreatePayload(
            members=[Member(row=m) for m in result.members],
            created=result.created,
            updated=result.updated,
            unchanged=result.unchanged,
            user_errors=[],
        )

    @strawberry.mutation(description="Rename, re-code, reorder a member or change attributes.")
    async def member_update(
        self, info: Info[Context, None], input: MemberUpdateInput
    ) -> MemberPayload:
        try:
            with change(None):
                row = await usecases.update_member(
                    info.context.db,
                    info.context.caller,
                    member_id=ids.decode(input.id, "Member", "id"),
                    code=input.code,
                    name=input.name,
                    sort_order=input.sort_order,
                    attributes=input.attributes.to_raw() if input.attributes else None,
                )
        except DomainError as exc:
            return MemberPayload(member=None, user_errors=[user_error(exc)])
        return MemberPayload(member=Member(row=row), user_errors=[])

    @strawberry.mutation(
        description="Move a member with its subtree; a move under its own subtree is refused "
        "with the offending path."
    )
    async def member_move(self, info: Info[Context, None], input: MemberMoveInput) -> MemberPayload:
        try:
            with change(None):
                row = await usecases.move_member(
                    info.context.db,
                    info.context.caller,
                    member_id=ids.decode(input.id, "Member", "id"),
                    parent_id=(
                        ids.decode(input.parent_id, "Member", "parentId")
                        if input.parent_id is not None
                        else None
                    ),
                )
        except DomainError as exc:
            return MemberPayload(member=None, user_errors=[user_error(exc)])
        return MemberPayload(member=Member(row=row), user_errors=[])

    @strawberry.mutation(
        description="Retire a member: kept for history and existing targets, refused for "
        "new splits. Members are never deleted."
    )
    async def member_retire(
        self, info: Info[Context, None], input: MemberRetireInput
    ) -> MemberPayload:
        try:
            with change(None):
                row = await usecases.retire_member(
                    info.context.db,
                    info.context.caller,
                    member_id=ids.decode(input.id, "Member", "id"),
                )
        except DomainError as exc:
            return MemberPayload(member=None, user_errors=[user_error(exc)])
        return MemberPayload(member=Member(row=row), user_errors=[])


def _column(column: str) -> str:
    """Row error columns as GraphQL input names (parent -> parentCode)."""
    if column == "parent":
        return "parentCode"
    if column in {"code", "name"}:
        return column
    return f"attributes.{column}"
