"""Owners: people and teams, who holds which node, quotas, `me`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from service.api import ids
from service.api.attainment import AsOf, Attainment, owner_attainment
from service.api.audit import AuditEntryConnection, audit_trail
from service.api.context import Context
from service.api.dimensions import Member
from service.api.errors import UserError
from service.api.mutation import INPUT, Payload, errors_field, mutate
from service.api.nodes import TargetNode, prepare_nodes
from service.api.pagination import After, Before, Connection, First, Last, page_args
from service.api.scalars import Amount, describe_enum
from service.api.wrap import RowNode, wrap, wraps
from service.db.models import Owner as OwnerRow
from service.domain.money import format_amount
from service.domain.tree import OwnerKind
from service.plans import owners as usecases
from service.plans.audit import AuditScope

if TYPE_CHECKING:
    from service.api.versions import PlanVersion

describe_enum(
    OwnerKind,
    "Who can own targets.",
    {
        "PERSON": "A person, known by the `sub` claim of their tokens.",
        "TEAM": "A team of persons, with an optional lead.",
    },
)


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
    version_id: strawberry.Private[int]
    owner_id: strawberry.Private[int]
    total: Amount = strawberry.field(
        description="Sum of the topmost nodes held (a node inside another held node is not "
        "counted twice)."
    )
    nodes: list[TargetNode] = strawberry.field(description="The topmost held nodes, in tree order.")
    held_nodes: list[TargetNode] = strawberry.field(
        description="Every node the owner holds, in tree order: the topmost ones (`nodes`) "
        "and those inside another node they hold, which the total does not count twice."
    )
    by_period: list[PeriodAmount] = strawberry.field(
        description="The total by the deepest time member of each node's slice."
    )
    by_dimension: list[CoordinateAmount] = strawberry.field(
        description="The total by each member in the nodes' slices (deepest per dimension)."
    )

    @strawberry.field(
        description="The owner's attainment as of a date: target = total; actual = sales in "
        "the held nodes' slices and periods, a sale with split credit counting the owner's "
        "share when the credits name them and nothing when they name only others."
    )
    async def attainment(self, info: Info[Context, None], as_of: AsOf = None) -> Attainment:
        return await owner_attainment(info, self.version_id, self.owner_id, as_of)


@wraps(OwnerRow)
@strawberry.type(description="A person (mapped to a token subject) or a team.")
class Owner(RowNode):
    row: strawberry.Private[OwnerRow]
    loader = "owner_by_id"

    @strawberry.field(description="A person or a team.")
    def kind(self) -> OwnerKind:
        return OwnerKind(self.row.kind)

    @strawberry.field(description="Display name (unique among teams).")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="PERSON: the `sub` claim of their tokens.")
    def subject(self) -> str | None:
        return self.row.subject

    @strawberry.field(description="PERSON: e-mail address.")
    def email(self) -> str | None:
        return self.row.email

    @strawberry.field(description="TEAM: its lead; null for persons and teams without one.")
    async def lead(self, info: Info[Context, None]) -> Owner | None:
        if self.row.lead_id is None:
            return None
        row = await info.context.loaders.owner_by_id.load(self.row.lead_id)
        return Owner(row=row) if row else None

    @strawberry.field(description="TEAM: its persons, by name; empty for persons.")
    async def members(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> OwnerConnection:
        request = page_args("team", (str, int), first, after, last, before)
        loaders = info.context.loaders
        page = await loaders.members_by_team_id.load((self.row.id, request))
        return OwnerConnection.of(
            page,
            "team",
            lambda r: Owner(row=r),
            lambda: loaders.member_count_by_team_id.load(self.row.id),
        )

    @strawberry.field(
        description="PERSON: the teams they belong to, by name (at most "
        f"{usecases.MAX_TEAMS_PER_PERSON})."
    )
    async def teams(self, info: Info[Context, None]) -> list[Owner]:
        rows = await info.context.loaders.teams_by_person_id.load(self.row.id)
        return [Owner(row=r) for r in rows]

    @strawberry.field(description="What this owner holds in a version, with breakdowns.")
    async def quota(
        self,
        info: Info[Context, None],
        version: Annotated[strawberry.ID, strawberry.argument(description="The version's id.")],
    ) -> OwnerQuota:
        result = await usecases.owner_quota(
            info.context.db, self.row.id, ids.decode(version, "PlanVersion", "version")
        )
        digits = result.plan.minor_digits
        members = result.members
        return OwnerQuota(
            version_id=ids.decode(version, "PlanVersion", "version"),
            owner_id=self.row.id,
            total=Amount(format_amount(result.quota.total, digits)),
            nodes=await prepare_nodes(info, result.nodes, ("nodes",)),
            held_nodes=await prepare_nodes(info, result.held, ("heldNodes",)),
            by_period=[
                PeriodAmount(
                    period=Member(row=members[m]) if m is not None else None,
                    amount=Amount(format_amount(a, digits)),
                )
                for m, a in result.quota.by_period
            ],
            by_dimension=[
                CoordinateAmount(
                    member=Member(row=members[m]), amount=Amount(format_amount(a, digits))
                )
                for _, m, a in result.quota.by_coordinate
            ],
        )

    @strawberry.field(description="Changes of this owner's assignments, oldest first.")
    async def audit_trail(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> AuditEntryConnection:
        return await audit_trail(info, AuditScope(owner_id=self.row.id), first, after, last, before)


@strawberry.type(description="A page of owners.")
class OwnerConnection(Connection[Owner]):
    pass


@strawberry.type(description="An owner's total in a version.")
class OwnerTotal:
    owner: Owner = strawberry.field(description="The owner.")
    total: Amount = strawberry.field(description="Sum of the topmost nodes they hold.")
    node_count: int = strawberry.field(description="How many topmost nodes they hold.")


@strawberry.type(description="An owner's total in a version.")
class OwnerTotalEdge(relay.Edge[Owner]):
    total: Amount = strawberry.field(
        description="Sum of the topmost nodes they hold (a node inside another node of the "
        "same owner is not counted twice)."
    )
    node_count: int = strawberry.field(description="How many topmost nodes they hold.")


@strawberry.type(description="Owners of a version's nodes with their totals, by owner id.")
class OwnerTotalConnection(Connection[Owner]):
    edges: list[OwnerTotalEdge] = strawberry.field(  # type: ignore[assignment]
        description="The owners of the page with their totals."
    )


@strawberry.type(description="Who holds what in a version, and which leaves nobody holds.")
class VersionOwners:
    version_id: strawberry.Private[int]
    unowned_leaves: list[TargetNode] = strawberry.field(
        description=f"Leaves with no owner on themselves or above them, in tree order (at most "
        f"{usecases.MAX_UNOWNED})."
    )

    @strawberry.field(description="Every owner holding a node of the version, with totals.")
    async def owners(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> OwnerTotalConnection:
        request = page_args("owner-totals", (int,), first, after, last, before)
        db, version_id = info.context.db, self.version_id
        plan, page = await usecases.owner_totals_page(db, version_id, request)
        digits = plan.minor_digits
        connection = OwnerTotalConnection.of(
            page,
            "owner-totals",
            lambda t: Owner(row=t.owner),
            lambda: usecases.owner_count(db, version_id),
        )
        connection.edges = [
            OwnerTotalEdge(
                node=edge.node,
                cursor=edge.cursor,
                total=Amount(format_amount(item.total, digits)),
                node_count=item.node_count,
            )
            for edge, item in zip(connection.edges, page.items, strict=True)
        ]
        return connection

    @classmethod
    async def of(cls, info: Info[Context, None], version_id: int) -> VersionOwners:
        result = await usecases.version_owners(info.context.db, version_id)
        return cls(
            version_id=version_id,
            unowned_leaves=await prepare_nodes(info, result.unowned_leaves, ("unownedLeaves",)),
        )


@strawberry.type
class OwnerQueries:
    @strawberry.field(
        description="The owner whose subject is this token's `sub`: what I own (quota) and "
        "my teams; null when no owner has this subject."
    )
    async def me(self, info: Info[Context, None]) -> Owner | None:
        row = await info.context.loaders.owner_by_subject(info.context.caller.subject)
        return Owner(row=row) if row else None


# --- mutations -----------------------------------------------------------------------


@strawberry.input(description="A new person.")
class OwnerCreateInput:
    name: str = strawberry.field(description="Display name.")
    subject: str | None = strawberry.field(
        default=None, description="The `sub` claim of their tokens (unique)."
    )
    email: str | None = strawberry.field(default=None, description="E-mail address.")

    def command(self) -> usecases.PersonCreate:
        return usecases.PersonCreate(name=self.name, subject=self.subject, email=self.email)


@strawberry.input(description="A new team.")
class TeamCreateInput:
    name: str = strawberry.field(description="Unique team name.")
    lead_id: strawberry.ID | None = strawberry.field(
        default=None, description="Its lead (a person; becomes a member)."
    )

    def command(self) -> usecases.TeamCreate:
        return usecases.TeamCreate(
            name=self.name, lead_id=ids.decode_optional(self.lead_id, "Owner", "leadId")
        )


@strawberry.input(description="Add a person to a team.")
class TeamAddMemberInput:
    team_id: strawberry.ID = strawberry.field(description="The team.")
    person_id: strawberry.ID = strawberry.field(description="The person.")

    def command(self) -> usecases.TeamMemberAdd:
        return usecases.TeamMemberAdd(
            team_id=ids.decode(self.team_id, "Owner", "teamId"),
            person_id=ids.decode(self.person_id, "Owner", "personId"),
        )


@strawberry.input(description="Give a node of a draft an owner (or none).")
class NodeAssignOwnerInput:
    node_id: strawberry.ID = strawberry.field(description="The node.")
    revision: int = strawberry.field(description="The version's revision you last read.")
    owner_id: strawberry.ID | None = strawberry.field(
        description="The owner (a person or a team); null removes the owner."
    )
    reason: str | None = strawberry.field(
        default=None, description="Why, for the audit trail (up to 2000 characters)."
    )

    def command(self) -> usecases.OwnerAssign:
        version_id, key = ids.decode_node(self.node_id, "nodeId")
        return usecases.OwnerAssign(
            version_id=version_id,
            key=key,
            revision=self.revision,
            owner_id=ids.decode_optional(self.owner_id, "Owner", "ownerId"),
        )


@strawberry.type(description="Result of an owner mutation.")
class OwnerPayload(Payload[OwnerRow]):
    owner: Owner | None = strawberry.field(description="The owner (the team for teams).")
    user_errors: list[UserError] = errors_field()

    @classmethod
    def of(cls, row: OwnerRow) -> OwnerPayload:
        return cls(owner=Owner(row=row), user_errors=[])


@strawberry.type(description="Result of nodeAssignOwner.")
class NodeAssignOwnerPayload(Payload[usecases.Assignment]):
    node: TargetNode | None = strawberry.field(description="The node.")
    version: Annotated[PlanVersion, strawberry.lazy("service.api.versions")] | None = (
        strawberry.field(description="The version, with its new revision.")
    )
    user_errors: list[UserError] = errors_field()

    @classmethod
    def of(cls, done: usecases.Assignment) -> NodeAssignOwnerPayload:
        return cls(node=TargetNode(row=done.node), version=wrap(done.version), user_errors=[])


@strawberry.type
class OwnerMutations:
    @strawberry.mutation(description="Create a person who can own targets.")
    async def owner_create(
        self, info: Info[Context, None], input: Annotated[OwnerCreateInput, INPUT]
    ) -> OwnerPayload:
        return await mutate(info, usecases.create_person, input.command, OwnerPayload)

    @strawberry.mutation(description="Create a team.")
    async def team_create(
        self, info: Info[Context, None], input: Annotated[TeamCreateInput, INPUT]
    ) -> OwnerPayload:
        return await mutate(info, usecases.create_team, input.command, OwnerPayload)

    @strawberry.mutation(description="Add a person to a team; a person may be in several teams.")
    async def team_add_member(
        self, info: Info[Context, None], input: Annotated[TeamAddMemberInput, INPUT]
    ) -> OwnerPayload:
        return await mutate(info, usecases.add_team_member, input.command, OwnerPayload)

    @strawberry.mutation(description="Give a node at most one owner.")
    async def node_assign_owner(
        self, info: Info[Context, None], input: Annotated[NodeAssignOwnerInput, INPUT]
    ) -> NodeAssignOwnerPayload:
        return await mutate(
            info,
            usecases.assign_owner,
            input.command,
            NodeAssignOwnerPayload,
            reason=input.reason,
        )
