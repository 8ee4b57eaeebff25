"""Owners (people and teams), node ownership, and what each owner holds."""

from __future__ import annotations

from dataclasses import dataclass

from service.db import repositories as repo
from service.db.engine import Database
from service.db.models import Member, Owner, Plan, PlanVersion, TargetNode
from service.domain import tree
from service.domain.audit import AuditAction
from service.domain.paging import Page, PageRequest
from service.domain.quota import HeldNode, Quota, quota
from service.domain.tree import InvalidInputError
from service.plans.uow import DraftEdit, UnitOfWork
from service.plans.usecase import draft_edit, write

MAX_TEAMS_PER_PERSON = repo.MAX_TEAMS_PER_PERSON
"""Most teams listed for one person."""
MAX_UNOWNED = 1000
"""Most unowned leaves one read lists."""
MAX_HELD = 10_000
"""Most nodes one owner may hold in a version for their quota to be read (a quota is
an owner's few topmost nodes; thousands mean the owner belongs higher up)."""


@dataclass(frozen=True, slots=True)
class PersonCreate:
    name: str
    subject: str | None = None
    email: str | None = None


@write(AuditAction.OWNER_CREATE)
async def create_person(uow: UnitOfWork, command: PersonCreate) -> Owner:
    """A person; ``subject`` is the ``sub`` claim of their tokens (for ``me``)."""
    clean = tree.clean_name(command.name, "name")
    sub = tree.clean_code(command.subject, "subject") if command.subject is not None else None
    mail = tree.clean_name(command.email, "email", 320) if command.email is not None else None
    if mail is not None and "@" not in mail:
        raise InvalidInputError("INVALID_VALUE", "email is not an e-mail address", "email")
    session = uow.session
    if sub is not None and await repo.owner_by_subject(session, sub) is not None:
        raise InvalidInputError("DUPLICATE", f"an owner with subject {sub!r} exists", "subject")
    owner: Owner = await repo.add(
        session, Owner(kind="PERSON", name=clean, subject=sub, email=mail)
    )
    uow.record(owner_id=owner.id, after={"person": clean, "subject": sub})
    return owner


@dataclass(frozen=True, slots=True)
class TeamCreate:
    name: str
    lead_id: int | None = None


@write(AuditAction.TEAM_CREATE)
async def create_team(uow: UnitOfWork, command: TeamCreate) -> Owner:
    """A team; its lead (a person) becomes a member."""
    clean = tree.clean_name(command.name, "name")
    session = uow.session
    if await repo.team_by_name(session, clean) is not None:
        raise InvalidInputError("DUPLICATE", f"a team named {clean!r} exists", "name")
    if command.lead_id is not None:
        (lead,) = await repo.owners_by_ids(session, [command.lead_id])
        if lead is None or lead.kind != "PERSON":
            raise InvalidInputError("NOT_FOUND", "leadId is not a known person", "leadId")
    team: Owner = await repo.add(session, Owner(kind="TEAM", name=clean, lead_id=command.lead_id))
    if command.lead_id is not None:
        await repo.add_team_member(session, team.id, command.lead_id)
    uow.record(owner_id=team.id, after={"team": clean, "lead": command.lead_id})
    return team


@dataclass(frozen=True, slots=True)
class TeamMemberAdd:
    team_id: int
    person_id: int


@write(AuditAction.TEAM_ADD_MEMBER)
async def add_team_member(uow: UnitOfWork, command: TeamMemberAdd) -> Owner:
    """Add a person to a team (a person may be in several teams); adding twice changes
    nothing."""
    session = uow.session
    team, person = await repo.owners_by_ids(session, [command.team_id, command.person_id])
    if team is None or team.kind != "TEAM":
        raise InvalidInputError("NOT_FOUND", "teamId is not a known team", "teamId")
    if person is None or person.kind != "PERSON":
        raise InvalidInputError("NOT_FOUND", "personId is not a known person", "personId")
    if await repo.add_team_member(session, team.id, person.id):
        uow.record(owner_id=team.id, after={"member": person.id})
    return team


@dataclass(frozen=True, slots=True)
class OwnerAssign:
    version_id: int
    key: int
    revision: int
    owner_id: int | None
    """None removes the owner."""


@dataclass(frozen=True, slots=True)
class Assignment:
    node: TargetNode
    version: PlanVersion


@draft_edit(AuditAction.NODE_ASSIGN_OWNER)
async def assign_owner(edit: DraftEdit, command: OwnerAssign) -> Assignment:
    """Give a node of a draft one owner (or none); the same owner again changes nothing."""
    node = await edit.node(command.key)
    owner_id = command.owner_id
    if owner_id is not None:
        (owner,) = await repo.owners_by_ids(edit.session, [owner_id])
        if owner is None:
            raise InvalidInputError("NOT_FOUND", "ownerId is not a known owner", "ownerId")
    before = node.owner_id
    if before != owner_id:
        await repo.update_nodes(
            edit.session, [{"version_id": node.version_id, "key": node.key, "owner_id": owner_id}]
        )
        for affected in sorted({before, owner_id} - {None}):  # type: ignore[type-var]
            edit.record(
                plan_id=node.plan_id,
                version_id=node.version_id,
                node_key=node.key,
                owner_id=affected,
                before={"owner": before},
                after={"owner": owner_id},
            )
    return Assignment(node=node, version=edit.version)


# --- reads --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OwnerQuota:
    plan: Plan
    quota: Quota
    nodes: list[TargetNode]
    """The topmost held nodes, in tree order."""
    held: list[TargetNode]
    """Every held node, nested ones (inside another held node) included, in tree order."""
    members: dict[int, Member]
    """The members the breakdowns name, by id."""


async def owner_quota(db: Database, owner_id: int, version_id: int) -> OwnerQuota:
    """What an owner holds in a version: total, topmost nodes, by period and coordinate."""
    async with db.session() as session:
        (version,) = await repo.versions_by_ids(session, [version_id])
        if version is None:
            raise InvalidInputError("NOT_FOUND", "`version` is not a known version", "version")
        (plan,) = await repo.plans_by_ids(session, [version.plan_id])
        assert plan is not None
        held = await repo.owned_nodes(session, version_id, owner_id, MAX_HELD + 1)
        if len(held) > MAX_HELD:
            raise InvalidInputError(
                "TOO_MANY",
                f"this owner holds more than {MAX_HELD} nodes of the version; assign them "
                "a common parent node instead of each node",
                "version",
            )
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
        wanted = [m for m, _ in result.by_period if m is not None] + [
            m for _, m, _ in result.by_coordinate
        ]
        members = {m.id: m for m in await repo.members_by_ids(session, wanted) if m is not None}
    by_key = {n.key: n for n in held}
    return OwnerQuota(
        plan=plan,
        quota=result,
        nodes=[by_key[n.key] for n in result.nodes],
        held=held,
        members=members,
    )


@dataclass(frozen=True, slots=True)
class OwnerTotal:
    owner: Owner
    total: int
    node_count: int


@dataclass(frozen=True, slots=True)
class VersionOwners:
    plan: Plan
    unowned_leaves: list[TargetNode]


async def version_owners(db: Database, version_id: int) -> VersionOwners:
    """The leaves of a version nobody holds (at most ``MAX_UNOWNED``)."""
    async with db.session() as session:
        (version,) = await repo.versions_by_ids(session, [version_id])
        if version is None:
            raise InvalidInputError("NOT_FOUND", "the version is not known", "id")
        (plan,) = await repo.plans_by_ids(session, [version.plan_id])
        assert plan is not None
        leaves = await repo.unowned_leaves(session, version_id, MAX_UNOWNED)
    return VersionOwners(plan=plan, unowned_leaves=leaves)


async def owner_totals_page(
    db: Database, version_id: int, request: PageRequest
) -> tuple[Plan, Page[OwnerTotal]]:
    """Who holds what in a version: a page of owners (by id) with their totals, without
    double counting a node inside another node of the same owner."""
    async with db.session() as session:
        (version,) = await repo.versions_by_ids(session, [version_id])
        if version is None:
            raise InvalidInputError("NOT_FOUND", "the version is not known", "id")
        (plan,) = await repo.plans_by_ids(session, [version.plan_id])
        assert plan is not None
        page = await repo.owner_totals_page(session, version_id, request)
        owners = await repo.owners_by_ids(session, [o for o, _, _ in page.items])
    items = [
        OwnerTotal(owner=row, total=total, node_count=count)
        for (_, total, count), row in zip(page.items, owners, strict=True)
        if row is not None
    ]
    return plan, Page(items, [(t.owner.id,) for t in items], page.has_next, page.has_previous)


async def owner_count(db: Database, version_id: int) -> int:
    async with db.read_session() as session:
        return await repo.owner_count(session, version_id)
