"""Owners: people and teams, who holds which node, quotas, `me`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

import strawberry
from strawberry import relay
from strawberry.types import Info

from service.api import ids
from service.api.change import change
from service.api.context import Context
from service.api.errors import PublicError, UserError, user_error
from service.api.types import (
    Amount,
    AuditEntryConnection,
    Member,
    PlanVersion,
    TargetNode,
    audit_trail,
)
from service.db import models
from service.db import repositories as repo
from service.domain.errors import DomainError
from service.domain.money import format_amount
from service.domain.quota import HeldNode, quota
from service.plans import owners as usecases

MAX_UNOWNED = 1000


@strawberry.type(description="An amount held in one time period (null: the whole year).")
class PeriodAmount:
    period: Member | None = strawberry.field(
        description="The time member (quarter, month ...); null for targets not split by time."
    )
    amount: Amount = strawberry.field(description="The amount.")


@strawberry.type(description="An amount held on one member of one dimension.")
class CoordinateAmount:
    member: Member = strawberry.field(description="The member (its dimension is member.dimension).")
    amount: Amount = strawberry.field(description="The amount.")


@strawberry.type(description="What an owner holds in one version.")
class OwnerQuota:
    total: Amount = strawberry.field(
        description="Sum of the topmost nodes held (a node inside another held node is not "
        "counted twice)."
    )
    nodes: list[TargetNode] = strawberry.field(description="The topmost held nodes.")
    by_period: list[PeriodAmount] = strawberry.field(
        description="The total by the deepest time member of each node's slice."
    )
    by_dimension: list[CoordinateAmount] = strawberry.field(
        description="The total by each member in the nodes' slices (deepest per dimension)."
    )


@strawberry.type(description="A person (mapped to a token subject) or a team.")
class Owner(relay.Node):
    row: strawberry.Private[models.Owner]

    @classmethod
    def resolve_id(cls, root: Self, *, info: Info[Context, None]) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        rows = await info.context.loaders.owner_by_id.load_many([int(i) for i in node_ids])
        return [cls(row=r) if r else None for r in rows]

    @strawberry.field(description="PERSON or TEAM.")
    def kind(self) -> str:
        return self.row.kind

    @strawberry.field(description="Display name (unique among teams).")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="PERSON: the `sub` claim of their tokens.")
    def subject(self) -> str | None:
        return self.row.subject

    @strawberry.field(description="PERSON: e-mail address.")
    def email(self) -> str | None:
        return self.row.email

    @strawberry.field(description="TEAM: its lead.")
    async def lead(self, info: Info[Context, None]) -> Owner | None:
        if self.row.lead_id is None:
            return None
        row = await info.context.loaders.owner_by_id.load(self.row.lead_id)
        return Owner(row=row) if row else None

    @strawberry.field(description="TEAM: its members.")
    async def members(self, info: Info[Context, None]) -> list[Owner]:
        rows = await info.context.loaders.team_members_by_team_id.load(self.row.id)
        return [Owner(row=r) for r in rows]

    @strawberry.field(description="PERSON: the teams they belong to.")
    async def teams(self, info: Info[Context, None]) -> list[Owner]:
        rows = await info.context.loaders.teams_by_person_id.load(self.row.id)
        return [Owner(row=r) for r in rows]

    @strawberry.field(description="What this owner holds in a version, with breakdowns.")
    async def quota(self, info: Info[Context, None], version: strawberry.ID) -> OwnerQuota:
        try:
            version_id = ids.decode(version, "PlanVersion", "version")
        except DomainError as exc:
            raise PublicError(exc.message, code="INVALID_ID") from None
        async with info.context.db.session() as session:
            (row,) = await repo.versions_by_ids(session, [version_id])
            if row is None:
                raise PublicError("`version` is not a known version", code="NOT_FOUND")
            held = await repo.owned_nodes(session, version_id, self.row.id)
        plan = await info.context.loaders.plan_by_id.load(row.plan_id)
        assert plan is not None
        result = quota(
            [
                HeldNode(
                    key=n.key,
                    sort_path=n.sort_path,
                    target=n.target,
                    coordinates=tuple((d, m) for d, m in n.coordinates),
                )
                for n in held
            ],
            plan.time_dimension_id,
        )
        digits = plan.minor_digits
        by_key = {n.key: n for n in held}
        members = await info.context.loaders.member_by_id.load_many(
            [m for m, _ in result.by_period if m is not None]
            + [m for _, m, _ in result.by_coordinate]
        )
        member_rows = {m.id: m for m in members if m is not None}
        return OwnerQuota(
            total=Amount(format_amount(result.total, digits)),
            nodes=[TargetNode(row=by_key[n.key]) for n in result.nodes],
            by_period=[
                PeriodAmount(
                    period=Member(row=member_rows[m]) if m is not None else None,
                    amount=Amount(format_amount(a, digits)),
                )
                for m, a in result.by_period
            ],
            by_dimension=[
                CoordinateAmount(
                    member=Member(row=member_rows[m]), amount=Amount(format_amount(a, digits))
                )
                for _, m, a in result.by_coordinate
            ],
        )

    @strawberry.field(description="Changes of this owner's assignments, oldest first.")
    async def audit_trail(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> AuditEntryConnection:
        return await audit_trail(info, first, after, owner_id=self.row.id)


@strawberry.type(description="An owner's total in a version.")
class OwnerTotal:
    owner: Owner = strawberry.field(description="The owner.")
    total: Amount = strawberry.field(description="Sum of the topmost nodes they hold.")
    node_count: int = strawberry.field(description="How many topmost nodes they hold.")


@strawberry.type(description="Who holds what in a version, and which leaves nobody holds.")
class VersionOwners:
    owners: list[OwnerTotal] = strawberry.field(description="Every owner holding a node.")
    unowned_leaves: list[TargetNode] = strawberry.field(
        description=f"Leaves with no owner on themselves or above them (at most {MAX_UNOWNED})."
    )


async def version_owners(info: Info[Context, None], version: PlanVersion) -> VersionOwners:
    async with info.context.db.session() as session:
        totals = await repo.owner_totals(session, version.row.id)
        leaves = await repo.unowned_leaves(session, version.row.id, MAX_UNOWNED)
    plan = await info.context.loaders.plan_by_id.load(version.row.plan_id)
    assert plan is not None
    owners = await info.context.loaders.owner_by_id.load_many([o for o, _, _ in totals])
    return VersionOwners(
        owners=[
            OwnerTotal(
                owner=Owner(row=row),
                total=Amount(format_amount(total, plan.minor_digits)),
                node_count=count,
            )
            for (_, total, count), row in zip(totals, owners, strict=True)
            if row is not None
        ],
        unowned_leaves=[TargetNode(row=n) for n in leaves],
    )


@strawberry.input(description="A new person.")
class OwnerCreateInput:
    name: str = strawberry.field(description="Display name.")
    subject: str | None = strawberry.field(
        default=None, description="The `sub` claim of their tokens (unique)."
    )
    email: str | None = strawberry.field(default=None, description="E-mail address.")


@strawberry.input(description="A new team.")
class TeamCreateInput:
    name: str = strawberry.field(description="Unique team name.")
    lead_id: strawberry.ID | None = strawberry.field(
        default=None, description="Its lead (a person; becomes a member)."
    )


@strawberry.input(description="Add a person to a team.")
class TeamAddMemberInput:
    team_id: strawberry.ID = strawberry.field(description="The team.")
    person_id: strawberry.ID = strawberry.field(description="The person.")


@strawberry.input(description="Give a node of a draft an owner (or none).")
class NodeAssignOwnerInput:
    node_id: strawberry.ID = strawberry.field(description="The node.")
    revision: int = strawberry.field(description="The version's revision you last read.")
    owner_id: strawberry.ID | None = strawberry.field(
        description="The owner (a person or a team); null removes the owner."
    )
    reason: str | None = strawberry.field(default=None, description="Why, for the audit trail.")


@strawberry.type(description="Result of an owner mutation.")
class OwnerPayload:
    owner: Owner | None = strawberry.field(description="The owner (the team for teams).")
    user_errors: list[UserError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="Result of nodeAssignOwner.")
class NodeAssignOwnerPayload:
    node: TargetNode | None = strawberry.field(description="The node.")
    version: PlanVersion | None = strawberry.field(description="The version, new revision.")
    user_errors: list[UserError] = strawberry.field(description="Empty on success.")


@strawberry.type
class OwnerMutations:
    @strawberry.mutation(description="Create a person who can own targets.")
    async def owner_create(
        self, info: Info[Context, None], input: OwnerCreateInput
    ) -> OwnerPayload:
        try:
            with change(None):
                row = await usecases.create_person(
                    info.context.db,
                    info.context.caller,
                    name=input.name,
                    subject=input.subject,
                    email=input.email,
                )
        except DomainError as exc:
            return OwnerPayload(owner=None, user_errors=[user_error(exc)])
        return OwnerPayload(owner=Owner(row=row), user_errors=[])

    @strawberry.mutation(description="Create a team.")
    async def team_create(self, info: Info[Context, None], input: TeamCreateInput) -> OwnerPayload:
        try:
            with change(None):
                row = await usecases.create_team(
                    info.context.db,
                    info.context.caller,
                    name=input.name,
                    lead_id=ids.decode(input.lead_id, "Owner", "leadId") if input.lead_id else None,
                )
        except DomainError as exc:
            return OwnerPayload(owner=None, user_errors=[user_error(exc)])
        return OwnerPayload(owner=Owner(row=row), user_errors=[])

    @strawberry.mutation(description="Add a person to a team; a person may be in several teams.")
    async def team_add_member(
        self, info: Info[Context, None], input: TeamAddMemberInput
    ) -> OwnerPayload:
        try:
            with change(None):
                row = await usecases.add_team_member(
                    info.context.db,
                    info.context.caller,
                    team_id=ids.decode(input.team_id, "Owner", "teamId"),
                    person_id=ids.decode(input.person_id, "Owner", "personId"),
                )
        except DomainError as exc:
            return OwnerPayload(owner=None, user_errors=[user_error(exc)])
        return OwnerPayload(owner=Owner(row=row), user_errors=[])

    @strawberry.mutation(description="Give a node at most one owner.")
    async def node_assign_owner(
        self, info: Info[Context, None], input: NodeAssignOwnerInput
    ) -> NodeAssignOwnerPayload:
        try:
            version_id, key = ids.decode_node(input.node_id, "nodeId")
            with change(input.reason):
                done = await usecases.assign_owner(
                    info.context.db,
                    info.context.caller,
                    version_id=version_id,
                    key=key,
                    revision=input.revision,
                    owner_id=(
                        ids.decode(input.owner_id, "Owner", "ownerId") if input.owner_id else None
                    ),
                )
        except DomainError as exc:
            return NodeAssignOwnerPayload(node=None, version=None, user_errors=[user_error(exc)])
        return NodeAssignOwnerPayload(
            node=TargetNode(row=done.node), version=PlanVersion(row=done.version), user_errors=[]
        )


async def me(info: Info[Context, None]) -> Owner | None:
    async with info.context.db.session() as session:
        row = await repo.owner_by_subject(session, info.context.caller.subject)
    return Owner(row=row) if row else None
